"""First-layer kernels and feature maps (the paper's Figs. 2 and 3).

Xception's first layer (``block1_conv1``) holds 32 kernels of 3 × 3 pixels. The scratch model's kernels
see one grayscale channel; the transfer model's see three channels fed with identical copies of the
pattern, so their effect on a pattern equals one 3 × 3 kernel: the sum over the input channels
(:func:`effective_kernels`). Those effective kernels are what is compared with the scratch kernels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ebsdlib.learn.models import first_conv_layer

__all__ = [
    "first_layer_kernels",
    "effective_kernels",
    "kernel_distances",
    "ranked_pairs",
    "classical_operators",
    "operator_similarity",
    "match_operators",
    "feature_maps",
    "kernel_movement",
]


def first_layer_kernels(model) -> np.ndarray:
    """The first convolution's kernels, shape (3, 3, input channels, 32).

    Parameters
    ----------
    model
        A classifier of :mod:`ebsdlib.learn.models` (Xception or ``mini``), whose first convolution is
        ``block1_conv1``.

    Returns
    -------
    numpy.ndarray
        The kernel weights, (3, 3, 1, 32) for the scratch model and (3, 3, 3, 32) for the transfer model.
    """
    return np.asarray(first_conv_layer(model).get_weights()[0])


def effective_kernels(kernels: np.ndarray) -> np.ndarray:
    """Kernels as they act on a grayscale pattern, (n, 3, 3): summed over identical input channels."""
    kernels = np.asarray(kernels)
    if kernels.ndim != 4:
        raise ValueError(f"expected kernels of shape (rows, cols, channels, n), got {kernels.shape}")
    return np.moveaxis(kernels.sum(axis=2), -1, 0)


def kernel_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean (L2) distance between every kernel of ``a`` (n, 3, 3) and of ``b`` (m, 3, 3): (n, m)."""
    a = np.asarray(a).reshape(len(a), -1)
    b = np.asarray(b).reshape(len(b), -1)
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)


def ranked_pairs(distances: np.ndarray, one_to_one: bool = True) -> pd.DataFrame:
    """Kernel pairs from most to least similar: columns ``scratch``, ``transfer``, ``distance``.

    With ``one_to_one`` (default) each kernel appears in at most one pair (greedy, closest first), so
    that the figure's columns show different kernels.
    """
    order = np.dstack(np.unravel_index(np.argsort(distances, axis=None), distances.shape))[0]
    rows, used_a, used_b = [], set(), set()
    for i, j in order:
        if one_to_one and (i in used_a or j in used_b):
            continue
        used_a.add(i)
        used_b.add(j)
        rows.append({"scratch": int(i), "transfer": int(j), "distance": float(distances[i, j])})
    return pd.DataFrame(rows)


def _gabor3(theta_deg: float, frequency: float = 0.5) -> np.ndarray:
    """Real part of scikit-image's Gabor kernel at 3 × 3 pixels (σ = 1 px), zero mean. ``theta_deg`` is
    scikit-image's orientation: 0° puts the harmonic along x (vertical stripes: a vertical-line detector)."""
    from skimage.filters import gabor_kernel

    kernel = np.real(gabor_kernel(frequency, theta=np.deg2rad(theta_deg), sigma_x=1.0, sigma_y=1.0, n_stds=1))
    if kernel.shape != (3, 3):
        raise RuntimeError(f"expected a 3 × 3 Gabor kernel, got {kernel.shape}")
    return kernel - kernel.mean()


def classical_operators() -> dict[str, np.ndarray]:
    """Sobel x and y and 3 × 3 Gabor kernels at 0°, 45°, 90° and 135° (scikit-image's orientation)."""
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
    ops = {"Sobel x": sobel_x, "Sobel y": sobel_x.T}
    for angle in (0, 45, 90, 135):
        ops[f"Gabor {angle}°"] = _gabor3(angle)
    return ops


def operator_similarity(kernel: np.ndarray, operator: np.ndarray) -> float:
    """Sign- and scale-invariant similarity of two kernels: |cosine| of the flattened, zero-mean kernels
    (1: identical up to sign and scale, 0: orthogonal)."""
    a = np.asarray(kernel, dtype=float).ravel()
    b = np.asarray(operator, dtype=float).ravel()
    a, b = a - a.mean(), b - b.mean()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 0.0
    return float(abs(a @ b) / (na * nb))


def match_operators(kernels: np.ndarray, operators: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """For every kernel (n, 3, 3): the closest classical operator and its similarity, best first."""
    operators = classical_operators() if operators is None else operators
    rows = []
    for i, k in enumerate(kernels):
        scores = {name: operator_similarity(k, op) for name, op in operators.items()}
        best = max(scores, key=scores.get)
        rows.append({"kernel": i, "operator": best, "similarity": scores[best]})
    return pd.DataFrame(rows).sort_values("similarity", ascending=False).reset_index(drop=True)


def feature_maps(model, inputs: np.ndarray, kernels: list[int] | None = None) -> np.ndarray:
    """Outputs of the first convolution for ``inputs`` (n, size, size, channels): (n, rows, cols, k),
    only the chosen ``kernels`` when given."""
    import keras

    layer = first_conv_layer(model)
    sub = keras.Model(model.inputs, layer.output)
    maps = np.asarray(sub.predict(inputs, verbose=0))
    return maps if kernels is None else maps[..., list(kernels)]


def kernel_movement(before: np.ndarray, after: np.ndarray) -> pd.DataFrame:
    """How far fine-tuning moved each effective kernel: L2 distance and distance relative to the
    pretrained kernel's norm, and the similarity (|cosine|) between before and after."""
    before, after = np.asarray(before), np.asarray(after)
    distance = np.linalg.norm((after - before).reshape(len(before), -1), axis=1)
    norm = np.linalg.norm(before.reshape(len(before), -1), axis=1)
    similarity = [operator_similarity(a, b) for a, b in zip(after, before, strict=False)]
    return pd.DataFrame(
        {
            "kernel": np.arange(len(before)),
            "distance": distance,
            "relative change": distance / np.where(norm > 0, norm, 1),
            "similarity": similarity,
        }
    )
