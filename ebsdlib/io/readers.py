"""Readers of real patterns: a labelled folder tree of images, or any pattern file kikuchipy reads, as a
:class:`~ebsdlib.datasets.container.PatternDataset`."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ebsdlib.crystal.materials import parse_space_group
from ebsdlib.datasets.container import UNLABELLED, VIEWS, DatasetError, PatternDataset
from ebsdlib.preprocess import canonical_view
from ebsdlib.settings import check_memory

__all__ = ["IMAGE_SUFFIXES", "load_folder_tree", "load_pattern_file", "read_pattern_image"]
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".bmp")


def read_pattern_image(path: Path, kinds: Counter | None = None, allow_constant: bool = False) -> np.ndarray:
    """One pattern image (TIFF, PNG, BMP) as float32 (rows, cols).

    Accepted on purpose: 8- and 16-bit and float grayscale, and RGB (turned to gray); ``kinds`` (when
    given) counts what each file was, so a loader can say so in its notes.

    Raises
    ------
    DatasetError
        Naming the file, for an empty or unreadable file, a multi-page TIFF (a stack is no single
        pattern), transparent pixels (a pattern has no transparency), non-finite values (NaN or inf), a
        constant image (no bands; allowed with ``allow_constant``, as a scan may hold a blank pattern), or
        anything but one 2-D image.
    """
    from skimage import io
    from skimage.color import rgb2gray

    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise DatasetError(f"the image {path} is empty (0 bytes). Replace or remove the file.")
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                pages = len(tif.pages)
                first = tif.pages[0]
                planes = int(first.samplesperpixel) if int(first.planarconfig) == 2 else 1
        except Exception as err:  # noqa: BLE001 - every reader error means the same to the user
            raise DatasetError(
                f"cannot read the TIFF {path} ({type(err).__name__}: {err}). Replace or remove the file."
            ) from None
        if pages > 1 or planes > 1:
            what = f"{pages} pages" if pages > 1 else f"{planes} separate planes (planar storage, as a stack is written)"
            raise DatasetError(
                f"the TIFF {path} holds {what}, a stack rather than one pattern. Export one pattern per "
                "file, or classify the stack as a scan (save it as .npy or a format kikuchipy reads)."
            )
    try:
        image = io.imread(path)
    except Exception as err:  # noqa: BLE001 - every reader error means the same to the user
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise DatasetError(f"cannot read the image {path} ({type(err).__name__}: {first}). Replace or remove the file.") from None
    kind = f"{image.dtype.itemsize * 8}-bit" if image.dtype.kind in "ui" else "float"
    if image.ndim == 3 and image.shape[-1] == 4:
        alpha = image[..., 3]
        opaque = np.iinfo(image.dtype).max if image.dtype.kind in "ui" else 1.0
        if (alpha < opaque).any():
            raise DatasetError(
                f"{path} has transparent pixels ({100 * float((alpha < opaque).mean()):.0f} % of them): a pattern "
                "has no transparency, and blending would change its intensities. Export it without an alpha channel."
            )
        image = image[..., :3]
    if image.ndim == 3 and image.shape[-1] == 3:
        image, kind = rgb2gray(image), f"RGB {kind}"
    if image.ndim != 2:
        raise DatasetError(f"{path} is not a single grayscale or RGB image (shape {image.shape})")
    image = image.astype(np.float32)
    bad = ~np.isfinite(image)
    if bad.any():
        raise DatasetError(
            f"{path} holds {int(bad.sum())} non-finite pixel(s) (NaN or inf); a pattern needs finite intensities. "
            "Export it again or remove the file."
        )
    if not allow_constant and float(image.max()) == float(image.min()):
        raise DatasetError(f"{path} is constant (every pixel {float(image.min()):g}): no bands to classify. Remove the file.")
    if kinds is not None:
        kinds[kind] += 1
    return image


def _check_view(view: str, size: int | None) -> None:
    if view not in VIEWS:
        raise DatasetError(f"view must be one of {VIEWS}, not {view!r}")
    if size is not None and (view != "canonical" or int(size) < 16):
        raise DatasetError("size applies to view='canonical' only and must be at least 16 pixels")


def _canonical(patterns: np.ndarray, size: int) -> np.ndarray:
    return canonical_view(patterns, size)


def load_folder_tree(
    root: str | Path, space_groups: list[int] | None = None, view: str = "native", size: int | None = None
) -> PatternDataset:
    """Load a folder tree ``<root>/<space group>/<material>/*.tif|tiff|png|bmp`` as a labelled data set.

    The space-group folders are named by number (``225``) or Hermann–Mauguin symbol (``Fm-3m``).
    Files of other types are skipped; ``meta["notes"]`` says so (a warning too). Patterns keep their
    intensities as float32.

    Parameters
    ----------
    root
        The tree's root folder.
    space_groups
        Load only these space groups' folders (numbers); default: every space-group folder.
    view
        ``"native"`` (default): the patterns as recorded. Images of the most common aspect but another
        size are resized to the most common size (said in ``meta["notes"]`` and a warning); an image of
        another aspect stops the load, since resizing it would squeeze its bands.
        ``"canonical"``: the largest centred square of every image, resized to ``size`` (default: the
        smallest square side among the images), as :func:`ebsdlib.preprocess.canonical_view` and the
        acquisition-randomised training data of :mod:`ebsdlib.simulation.randomise`. Detectors of any aspect
        (square binned, 4:3, 1244:1024) then meet in one view and no pattern is squeezed.
    size
        Side of the canonical view in pixels.

    Raises
    ------
    DatasetError
        For a missing root, a folder name that is not a space group, an empty material folder, an
        unreadable image, or (native view) images of different aspects — naming the folder or file.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> rng = np.random.default_rng(0)
    >>> for space_group, material in (("225", "Ni"), ("Im-3m", "Fe")):
    ...     folder = root / space_group / material
    ...     folder.mkdir(parents=True)
    ...     for i in range(2):
    ...         Image.fromarray(rng.integers(0, 255, (60, 73), dtype=np.uint8)).save(folder / f"{i}.tif")
    >>> data = load_folder_tree(root)
    >>> data.patterns.shape, sorted(set(data.table["space_group"]))
    ((4, 60, 73), [225, 229])
    """
    from skimage.transform import resize

    _check_view(view, size)
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"the data folder {root} does not exist. Expected <root>/<space group>/<material>/*.tif")
    files, rows, skipped = [], [], []
    for sg_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            space_group = parse_space_group(sg_dir.name)
        except ValueError:
            raise DatasetError(
                f"the folder {sg_dir} is not named after a space group. Name it by number (225) or "
                "Hermann–Mauguin symbol (Fm-3m)."
            ) from None
        if space_groups is not None and space_group not in space_groups:
            continue
        material_dirs = sorted(p for p in sg_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not material_dirs:
            raise DatasetError(f"the space-group folder {sg_dir} holds no material folders")
        for mat_dir in material_dirs:
            images = sorted(p for p in mat_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            others = sorted(p.name for p in mat_dir.iterdir() if p.is_file() and not p.name.startswith(".") and p not in images)
            if others:
                skipped.append(
                    f"{len(others)} file(s) in {mat_dir} are not {'/'.join(IMAGE_SUFFIXES)} images and were skipped (first: {others[0]})"
                )
            if not images:
                raise DatasetError(f"the material folder {mat_dir} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            for path in images:
                files.append(path)
                rows.append({"space_group": space_group, "material": mat_dir.name, "file": str(path.relative_to(root))})
    if not files:
        raise DatasetError(f"{root} holds no space-group folders with images")
    if size is not None:  # float32 canonical views of every image, and a concatenated copy
        check_memory(
            8 * len(files) * int(size) ** 2,
            f"{len(files)} canonical views of {size} × {size} px",
            "ask for a smaller canonical size",
        )
    kinds: Counter = Counter()
    images = [read_pattern_image(p, kinds) for p in tqdm(files, desc="reading images", unit="image", leave=False, disable=None)]
    shapes = Counter(im.shape for im in images)
    target = shapes.most_common(1)[0][0]
    notes = list(skipped)
    described = {"8-bit": "8-bit grayscale", "16-bit": "16-bit grayscale (intensities kept)", "float": "float grayscale"}
    notes.append(
        "images read: "
        + ", ".join(
            f"{n} {described.get(k, k + ' turned to gray' if k.startswith('RGB') else k)}" for k, n in sorted(kinds.items())
        )
    )
    for note in skipped:
        warnings.warn(note, stacklevel=2)
    table = pd.DataFrame(rows)
    if view == "canonical":
        side = int(size) if size is not None else min(min(shape) for shape in shapes)
        patterns = np.concatenate([_canonical(im[None], side) for im in images])
        note = (
            f"canonical view: the centred square of each pattern ({', '.join(f'{r}×{c}' for r, c in sorted(shapes))}) "
            f"resized to {side}×{side}"
        )
        meta = {"source": "folder", "root": str(root), "notes": [*notes, note], "view": "canonical", "canonical_view": side}
        return PatternDataset(patterns.astype(np.float32), table, meta)
    aspect = target[1] / target[0]
    other_aspect = [
        (f, im.shape) for f, im in zip(files, images, strict=False) if abs(im.shape[1] / im.shape[0] / aspect - 1) > 0.01
    ]
    if other_aspect:
        first, (odd_rows, odd_cols) = other_aspect[0]
        raise DatasetError(
            f"{len(other_aspect)} of {len(images)} images have another aspect than the most common "
            f"{target[0]}×{target[1]} pixels (first: {first.relative_to(root)}, {odd_rows}×{odd_cols}); "
            "resizing them would squeeze their bands. Export every pattern with one detector shape, or load "
            "with view='canonical' to take the centred square of each pattern."
        )
    if len(shapes) > 1:
        odd = [str(f.relative_to(root)) for f, im in zip(files, images, strict=False) if im.shape != target]
        note = (
            f"{len(odd)} of {len(images)} images were not {target[0]}×{target[1]} pixels and were resized to it (first: {odd[0]})"
        )
        warnings.warn(note, stacklevel=2)
        notes.append(note)
        images = [im if im.shape == target else resize(im, target, anti_aliasing=True, preserve_range=True) for im in images]
    meta = {"source": "folder", "root": str(root), "notes": notes, "view": "native"}
    return PatternDataset(np.stack(images).astype(np.float32), table, meta)


def load_pattern_file(
    path: str | Path,
    space_group: int | str | None = None,
    material: str | None = None,
    view: str = "native",
    size: int | None = None,
) -> PatternDataset:
    """Load any pattern file kikuchipy reads (h5oina, up1/up2, ebsp, NORDIF .dat, h5ebsd, ...).

    Parameters
    ----------
    path
        The pattern file.
    space_group, material
        Labels for every pattern of the file when known; unlabelled patterns get ``space_group = -1``.
    view, size
        ``"native"``: the patterns as recorded; ``"canonical"``: the centred square of each pattern,
        resized to ``size`` (default: the pattern's shorter side), as for :func:`load_folder_tree`.

    Returns
    -------
    PatternDataset
        The patterns (float32 for the canonical view) with one table row each (``space_group``, ``material``,
        ``file``, and ``row``, ``col`` for a map); the scan's map shape is kept in ``map_shape`` (for phase maps).

    Raises
    ------
    DatasetError
        When the file is missing, cannot be read by kikuchipy, or holds no EBSD patterns.

    Examples
    --------
    >>> import os, tempfile
    >>> from ebsdlib.io.export import write_scan
    >>> from ebsdlib.simulation.patterns import Detector, DetectorGeometry
    >>> path = write_scan(os.path.join(tempfile.mkdtemp(), "scan.h5"), (2, 3), 1, 0.3, Detector(DetectorGeometry(shape=(30, 36))))
    >>> scan = load_pattern_file(path)
    >>> len(scan), scan.map_shape, scan.pattern_shape, sorted(set(scan.table["space_group"]))
    (6, (2, 3), (30, 36), [-1])
    """
    import kikuchipy as kp

    _check_view(view, size)
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"the pattern file {path} does not exist")
    try:
        signal = kp.load(path)
    except Exception as err:  # noqa: BLE001 - reader errors vary by format
        raise DatasetError(
            f"kikuchipy cannot read {path} ({type(err).__name__}: {err}). Check that the file is complete "
            "and in a format kikuchipy supports (h5oina, up1/up2, ebsp, NORDIF .dat, h5ebsd)."
        ) from None
    if isinstance(signal, list):
        raise DatasetError(f"{path} holds {len(signal)} data sets; export one scan per file")
    if not isinstance(signal, kp.signals.EBSD) and signal.axes_manager.signal_dimension != 2:
        raise DatasetError(f"{path} holds no 2-D EBSD patterns")
    nav_shape = signal.axes_manager.navigation_shape[::-1]
    data = np.asarray(signal.data).reshape(-1, *signal.axes_manager.signal_shape[::-1])
    sg = UNLABELLED if space_group is None else parse_space_group(space_group)
    table = pd.DataFrame({"space_group": sg, "material": material or "", "file": path.name}, index=range(len(data)))
    if len(nav_shape) == 2:
        rows, cols = np.unravel_index(np.arange(len(data)), nav_shape)
        table["row"], table["col"] = rows, cols
    meta = {"source": "file", "path": str(path), "notes": [], "view": view}
    if view == "canonical":
        side = int(size) if size is not None else min(data.shape[1:])
        meta["notes"].append(
            f"canonical view: the centred square of each {data.shape[1]}×{data.shape[2]} pattern resized to {side}×{side}"
        )
        meta["canonical_view"] = side
        data = _canonical(data, side)
    map_shape = tuple(int(s) for s in nav_shape) if len(nav_shape) == 2 else None
    return PatternDataset(data, table, meta, map_shape=map_shape)
