"""Scans to classify, opened without reading their patterns: any file kikuchipy reads, a folder of images or a
``.npy`` stack, read chunk by chunk."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ebsdlib.datasets.container import DatasetError
from ebsdlib.io.readers import IMAGE_SUFFIXES, read_pattern_image

__all__ = ["ScanError", "Scan", "open_scan", "scan_geometry"]


class ScanError(DatasetError):
    """A scan that cannot be classified: the message names the file and says what to do."""


@dataclass(frozen=True)
class Scan:
    """Where a scan's patterns are and how many; patterns are read only by :meth:`read`.

    Parameters
    ----------
    path
        The file or folder, as given to :func:`open_scan`.
    kind
        How the patterns are read: ``"kikuchipy"`` (a file kikuchipy reads, lazily), ``"images"`` (a folder of
        pattern images) or ``"npy"`` (a memory-mapped ``.npy`` stack).
    n
        Number of patterns.
    pattern_shape
        (rows, cols) of a pattern in pixels.
    map_shape
        (rows, cols) of the map in patterns; a scan without one is one row of ``n`` patterns, (1, ``n``).
    files
        The image files of an image folder, in map order (natural name order); empty (default) for the other
        kinds.
    """

    path: Path
    kind: str
    n: int
    pattern_shape: tuple[int, int]
    map_shape: tuple[int, int]
    files: tuple[Path, ...] = field(default=(), repr=False)

    def spec(self) -> dict:
        """What a worker needs to open the same scan (absolute paths: a worker may run elsewhere)."""
        return {"path": str(Path(self.path).resolve()), "kind": self.kind, "map_shape": list(self.map_shape)}

    def read(self, start: int, stop: int) -> np.ndarray:
        """Patterns ``start`` to ``stop`` (map order, row by row) as float32 (k, rows, cols)."""
        start, stop = int(start), min(int(stop), self.n)
        if self.kind == "images":
            return np.stack([_image(f, self.pattern_shape) for f in self.files[start:stop]])
        data = _opened(str(self.path), self.kind)
        if self.kind == "npy":
            flat = data.reshape(-1, *self.pattern_shape)
            return np.asarray(flat[start:stop], dtype=np.float32)
        if data.ndim == 3:  # read here, not through a cluster's client when a worker runs this
            return np.asarray(data[start:stop].compute(scheduler="synchronous"), dtype=np.float32)
        cols = self.map_shape[1]
        first, last = start // cols, (stop - 1) // cols + 1  # whole map rows: how kikuchipy chunks a scan
        block = data[first:last].compute(scheduler="synchronous")
        rows = np.asarray(block, dtype=np.float32).reshape(-1, *self.pattern_shape)
        return rows[start - first * cols : stop - first * cols]


def _image(path: Path, shape: tuple[int, int]) -> np.ndarray:
    image = read_pattern_image(path, allow_constant=True)
    if image.shape != tuple(shape):
        raise ScanError(
            f"{path} is {image.shape[0]}×{image.shape[1]} pixels, the scan's first pattern "
            f"{shape[0]}×{shape[1]}: a scan's patterns share one detector shape. Remove the odd file or export again."
        )
    return image


@lru_cache(maxsize=2)
def _opened(path: str, kind: str):
    """The scan's lazily read data, opened once per process (a worker opens it once for all its chunks)."""
    if kind == "npy":
        return np.load(path, mmap_mode="r")
    import kikuchipy as kp

    signal = kp.load(path, lazy=True)
    return signal.data


def open_scan(path: str | Path, map_shape: tuple[int, int] | None = None) -> Scan:
    """Open a scan for streaming classification without reading its patterns.

    Parameters
    ----------
    path
        A file kikuchipy reads (h5ebsd, h5oina, up1/up2, ebsp, NORDIF .dat, ...), a folder of pattern
        images (``.tif``, ``.tiff``, ``.png``, ``.bmp``; sorted by name, in map order), or a ``.npy`` stack.
    map_shape
        (rows, cols) of the map, for a folder of images or a flat stack (a file that knows its own map
        shape keeps it; giving another one is an error).

    Raises
    ------
    ScanError
        For a missing path, a file kikuchipy cannot read, a folder without pattern images, an array of
        the wrong dimensions, or a map shape that does not hold the scan's patterns.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "scan.npy")
    >>> np.save(path, np.zeros((2, 3, 60, 73), dtype=np.uint8))
    >>> scan = open_scan(path)
    >>> scan.n, scan.map_shape, scan.pattern_shape, scan.read(4, 6).shape
    (6, (2, 3), (60, 73), (2, 60, 73))
    """
    path = Path(path)
    if map_shape is not None and (len(map_shape) != 2 or min(map_shape) < 1):
        raise ScanError(f"--map-shape must be at least 1 × 1 patterns, not {' × '.join(str(n) for n in map_shape)}")
    if not path.exists():
        raise ScanError(f"the scan {path} does not exist")
    files: tuple[Path, ...] = ()
    own_map = None
    if path.is_dir():
        files = image_files(path)
        if not files:
            raise ScanError(
                f"{path} holds no pattern images ({', '.join(IMAGE_SUFFIXES)}); give a folder of patterns, "
                "a file kikuchipy reads or a .npy stack"
            )
        if map_shape is None:
            raise ScanError(
                f"{path} is a folder of {len(files)} images: give the map's shape with --map-shape ROWS COLS "
                f"(images in natural name order fill it row by row; --map-shape 1 {len(files)} for a list of patterns)"
            )
        kind, n, pattern_shape = "images", len(files), read_pattern_image(files[0], allow_constant=True).shape
    elif path.suffix.lower() == ".npy":
        try:
            data = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as err:
            raise ScanError(f"cannot read {path} as a NumPy array ({err}); save it with numpy.save") from None
        if data.ndim not in (3, 4):
            raise ScanError(
                f"{path} holds an array of shape {data.shape}; a scan is (n, rows, cols) or (map rows, map cols, rows, cols)"
            )
        if data.dtype.kind not in "uif":
            raise ScanError(
                f"{path} holds {data.dtype} values; pattern intensities are real numbers (integers or floats), "
                "so save the intensities themselves (for complex values, numpy.abs of them, if that is what you mean)"
            )
        if 0 in data.shape:
            raise ScanError(f"{path} holds an empty array of shape {data.shape}")
        kind, n, pattern_shape = "npy", int(np.prod(data.shape[:-2])), tuple(data.shape[-2:])
        own_map = tuple(data.shape[:2]) if data.ndim == 4 else None
    else:
        kind = "kikuchipy"
        try:
            data = _opened(str(path), kind)
        except Exception as err:  # noqa: BLE001 - reader errors vary by format
            raise ScanError(
                f"kikuchipy cannot read {path} ({type(err).__name__}: {err}). Give a complete file in a format "
                "kikuchipy reads (h5ebsd, h5oina, up1/up2, ebsp, NORDIF .dat), a folder of images or a .npy stack."
            ) from None
        if isinstance(data, list) or getattr(data, "ndim", 0) not in (3, 4):
            raise ScanError(f"{path} holds no scan of 2-D patterns (one scan per file)")
        n, pattern_shape = int(np.prod(data.shape[:-2])), tuple(data.shape[-2:])
        own_map = tuple(data.shape[:2]) if data.ndim == 4 else None
    if map_shape is not None:
        map_shape = tuple(int(s) for s in map_shape)
        if own_map is not None and map_shape != own_map:
            raise ScanError(f"{path} is a {own_map[0]} × {own_map[1]} map; --map-shape {map_shape[0]} {map_shape[1]} differs")
        if map_shape[0] * map_shape[1] != n:
            raise ScanError(f"a {map_shape[0]} × {map_shape[1]} map holds {map_shape[0] * map_shape[1]} patterns; {path} has {n}")
    shape = map_shape or own_map or (1, n)
    return Scan(path, kind, n, tuple(int(s) for s in pattern_shape), tuple(int(s) for s in shape), files)


def scan_geometry(scan: Scan, pc=None, sample_tilt: float | None = None, tilt: float | None = None, energy: float = 20.0):
    """The detector a scan was recorded with, for indexing its orientations: a
    :class:`~ebsdlib.simulation.patterns.DetectorGeometry` of the scan's pattern shape.

    A file kikuchipy reads carries its detector (kikuchipy's ``EBSD.detector``: the average pattern centre in
    Bruker's convention, sample and detector tilt); ``pc``, ``sample_tilt`` and ``tilt`` replace what it holds. A
    folder of images or a ``.npy`` stack carries none, so ``pc`` is needed (tilts default to 70° and 0°).
    ``energy`` is the beam energy in kV (default 20), which refinement's master patterns are simulated at.

    Raises
    ------
    ScanError
        For a scan without a detector and no ``pc``, or a pattern centre that is not three numbers.
    """
    from ebsdlib.simulation.patterns import DetectorGeometry

    stored = None
    if scan.kind == "kikuchipy":
        import kikuchipy as kp

        stored = kp.load(str(scan.path), lazy=True).detector
    if pc is None and stored is None:
        raise ScanError(
            f"{scan.path} holds no detector geometry: give its pattern centre with --pc PCX PCY PCZ (Bruker's convention) "
            "and, where they differ from 70° and 0°, --sample-tilt and --detector-tilt"
        )
    pc = tuple(float(v) for v in (stored.pc_average if pc is None else pc))
    if len(pc) != 3 or not all(np.isfinite(pc)):
        raise ScanError(f"a pattern centre is three finite numbers (PCX PCY PCZ), not {pc}")
    sample_tilt = float(sample_tilt if sample_tilt is not None else (stored.sample_tilt if stored is not None else 70.0))
    tilt = float(tilt if tilt is not None else (stored.tilt if stored is not None else 0.0))
    if not 1 <= float(energy) <= 40:
        raise ScanError(f"the beam energy is given in kV, 1 to 40 (EBSD: 5–30), not {energy}")
    return DetectorGeometry(shape=tuple(scan.pattern_shape), pc=pc, sample_tilt=sample_tilt, tilt=tilt, energy=float(energy))


def image_files(folder: Path) -> tuple[Path, ...]:
    """The pattern images of a folder in natural name order (``p_2`` before ``p_10``), the map order; two names
    that sort alike (``p1.tif``, ``p01.tif``) are refused with :class:`ScanError`."""
    import re

    def natural(p: Path):
        return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]

    images = sorted((p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=natural)
    for first, second in zip(images, images[1:], strict=False):
        if natural(first) == natural(second):  # p1.tif and p01.tif: no order to tell which comes first
            raise ScanError(
                f"{first.name} and {second.name} in {folder} take the same place in the map order (names are sorted "
                "by their numbers); rename one"
            )
    return tuple(images)
