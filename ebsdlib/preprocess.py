"""Preprocessing as the paper: anti-aliased resize (scikit-image), intensity normalisation, channels; and the
canonical view, the largest centred square of a pattern, in which patterns of any detector aspect meet."""

from __future__ import annotations

import numpy as np
from skimage.transform import resize

__all__ = ["resize_patterns", "normalize_patterns", "to_channels", "prepare_patterns", "canonical_view"]

NORMALIZATIONS = ("minmax", "standard", "uint8")


def resize_patterns(patterns: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize (n, rows, cols) patterns to ``size`` (square int or (rows, cols)) with anti-aliasing.

    This is scikit-image's ``resize`` as used by the paper (which resized 1244 × 1024 TIFFs to 299 × 299).
    Intensities keep their range; the result is float32.
    """
    patterns = np.asarray(patterns)
    if patterns.ndim != 3:
        raise ValueError(f"expected patterns of shape (n, rows, cols), got {patterns.shape}")
    shape = (size, size) if np.isscalar(size) else tuple(size)
    if patterns.shape[1:] == shape:
        return patterns.astype(np.float32)
    out = np.empty((len(patterns), *shape), dtype=np.float32)
    for i, p in enumerate(patterns):
        out[i] = resize(p.astype(np.float32), shape, anti_aliasing=True, preserve_range=True)
    return out


def normalize_patterns(patterns: np.ndarray, method: str = "minmax") -> np.ndarray:
    """Normalise intensities per pattern.

    Parameters
    ----------
    method
        ``"minmax"``: each pattern to [0, 1] (default); ``"standard"``: zero mean, unit standard
        deviation; ``"uint8"``: divide by 255 (8-bit exports such as the paper's TIFFs).
    """
    x = np.asarray(patterns, dtype=np.float32)
    if method == "minmax":
        lo = x.min(axis=(-2, -1), keepdims=True)
        hi = x.max(axis=(-2, -1), keepdims=True)
        return (x - lo) / np.where(hi > lo, hi - lo, 1)
    if method == "standard":
        mean = x.mean(axis=(-2, -1), keepdims=True)
        std = x.std(axis=(-2, -1), keepdims=True)
        return (x - mean) / np.where(std > 0, std, 1)
    if method == "uint8":
        return x / 255.0
    raise ValueError(f"unknown normalisation {method!r}; choose from {NORMALIZATIONS}")


def to_channels(patterns: np.ndarray, channels: int) -> np.ndarray:
    """(n, rows, cols) -> (n, rows, cols, channels); 3 channels stack the grayscale pattern (pseudo-RGB)."""
    if channels not in (1, 3):
        raise ValueError("channels must be 1 (grayscale, scratch model) or 3 (stacked, transfer model)")
    x = np.asarray(patterns, dtype=np.float32)[..., None]
    return np.repeat(x, channels, axis=-1) if channels == 3 else x


def prepare_patterns(patterns: np.ndarray, size: int, channels: int = 1, normalization: str = "minmax") -> np.ndarray:
    """Resize, normalise and stack: the model input (n, size, size, channels), float32."""
    return to_channels(normalize_patterns(resize_patterns(patterns, size), normalization), channels)


def canonical_view(patterns: np.ndarray, size: int) -> np.ndarray:
    """The largest centred square of each pattern, resized (anti-aliased) to ``size`` × ``size``:
    patterns of any detector aspect in one view, none squeezed. Returns float32 (n, size, size)."""
    patterns = np.asarray(patterns)
    if patterns.ndim != 3:
        raise ValueError(f"expected patterns of shape (n, rows, cols), got {patterns.shape}")
    rows, cols = patterns.shape[1:]
    side = min(rows, cols)
    top, left = (rows - side) // 2, (cols - side) // 2
    return resize_patterns(patterns[:, top : top + side, left : left + side], int(size))
