"""Pattern data sets: the paper's split protocol, the simulated default, and loaders for real data.

A :class:`PatternDataset` holds the patterns (n, rows, cols) and a table with one row per pattern
(``pattern_id``, ``space_group``, ``material``, ``split`` and whatever the source knows: orientation,
pattern centre, quality flag, file name). Simulated and real data go through the same type, so every
later stage works on both.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from .cache import cached
from .materials import Material, parse_space_group, training_materials
from .preprocess import canonical_view
from .settings import check_memory
from .simulate import DetectorGeometry, DetectorModel, simulate_patterns

__all__ = [
    "PatternDataset",
    "DatasetError",
    "IMAGE_SUFFIXES",
    "divide_evenly",
    "assign_split",
    "simulate_dataset",
    "load_folder_tree",
    "load_pattern_file",
    "read_pattern_image",
    "simulated_book_dataset",
]

SPLITS = ("train", "validation", "test", "unused")
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".bmp")
VIEWS = ("native", "canonical")
UNLABELLED = -1


class DatasetError(ValueError):
    """Bad input data: the message names the file or folder and says what to do."""


@dataclass
class PatternDataset:
    """Patterns (n, rows, cols) with one table row per pattern.

    Attributes
    ----------
    patterns
        Array (n, rows, cols), uint8 or float.
    table
        DataFrame with at least ``pattern_id``, ``space_group`` (``-1`` when unlabelled), ``material``
        and ``split``.
    meta
        Where the data came from and how it was made (parameters, timings, notes such as resizing).
    map_shape
        (rows, cols) of the scan when the patterns come from a map, else ``None``.
    """

    patterns: np.ndarray
    table: pd.DataFrame
    meta: dict = field(default_factory=dict)
    map_shape: tuple[int, int] | None = None

    def __post_init__(self):
        if len(self.patterns) != len(self.table):
            raise DatasetError(f"{len(self.patterns)} patterns but {len(self.table)} table rows: they must match")
        self.table = self.table.reset_index(drop=True)
        for column, default in (("split", "unused"), ("material", ""), ("space_group", UNLABELLED)):
            if column not in self.table:
                self.table[column] = default
        if "pattern_id" not in self.table:
            self.table.insert(0, "pattern_id", np.arange(len(self.table)))

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> np.ndarray:
        """Space-group number of every pattern."""
        return self.table["space_group"].to_numpy()

    @property
    def pattern_shape(self) -> tuple[int, int]:
        return tuple(self.patterns.shape[1:])

    def subset(self, mask_or_split) -> "PatternDataset":
        """A new data set of the rows of one split (``"train"``, ...) or of a boolean mask."""
        if isinstance(mask_or_split, str):
            if mask_or_split not in SPLITS:
                raise ValueError(f"unknown split {mask_or_split!r}; choose from {SPLITS}")
            mask = (self.table["split"] == mask_or_split).to_numpy()
        else:
            mask = np.asarray(mask_or_split, dtype=bool)
        return PatternDataset(self.patterns[mask], self.table[mask].copy(), dict(self.meta))

    def examples(self, by: str = "space_group", quality: str | None = "good", seed: int = 0) -> pd.Series:
        """Index of one pattern per value of ``by`` (e.g. one per space group), drawn at random among
        patterns of the given ``quality`` flag (any quality when ``None`` or when the table has none)."""
        table = self.table
        if quality is not None and "quality" in table and (table["quality"] == quality).any():
            table = table[table["quality"] == quality]
        rng = np.random.default_rng(seed)
        picks = {key: rng.choice(group.index.to_numpy()) for key, group in table.groupby(by, sort=False)}
        return pd.Series(picks, name="index")

    def counts(self) -> pd.DataFrame:
        """Patterns per space group and material in each split (rows) — the analogue of Table S1."""
        counts = pd.crosstab([self.table["space_group"], self.table["material"]], self.table["split"])
        return counts.reindex(columns=[s for s in SPLITS if s in counts.columns], fill_value=0)


def divide_evenly(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` near-equal integers, larger ones first (400, 3 -> 134, 133, 133)."""
    if parts <= 0:
        raise ValueError("parts must be positive")
    base, extra = divmod(int(total), parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def assign_split(
    table: pd.DataFrame,
    train_per_space_group: int,
    val_per_space_group: int,
    test_per_material: int | None = None,
    seed: int = 0,
) -> pd.Series:
    """The paper's protocol: per space group, ``train_per_space_group`` training and
    ``val_per_space_group`` validation patterns divided evenly over its materials; the remaining
    patterns of each material are the test set (at most ``test_per_material`` of them; the rest are
    ``"unused"``). The same seed gives the same split.

    Raises
    ------
    DatasetError
        When a material has fewer patterns than its training and validation share.
    """
    split = pd.Series("unused", index=table.index, dtype=object)
    rng = np.random.default_rng(seed)
    labelled = table[table["space_group"] != UNLABELLED]
    for space_group, group in labelled.groupby("space_group", sort=True):
        materials = sorted(group["material"].unique())
        n_train = divide_evenly(train_per_space_group, len(materials))
        n_val = divide_evenly(val_per_space_group, len(materials))
        for material, nt, nv in zip(materials, n_train, n_val):
            index = group.index[group["material"] == material].to_numpy()
            if len(index) < nt + nv:
                raise DatasetError(
                    f"material {material!r} (space group {space_group}) has {len(index)} patterns, "
                    f"fewer than its {nt} training + {nv} validation patterns: add patterns or lower "
                    "train_per_space_group / val_per_space_group"
                )
            index = rng.permutation(np.sort(index))
            split[index[:nt]] = "train"
            split[index[nt : nt + nv]] = "validation"
            rest = index[nt + nv :]
            if test_per_material is not None:
                rest = rest[:test_per_material]
            split[rest] = "test"
    return split


def patterns_per_material(
    materials, train_per_space_group: int, val_per_space_group: int, test_per_material: int
) -> dict[str, int]:
    """Patterns to simulate per material name: its share of its space group's training and validation
    counts (divided evenly over the group's materials, by name) plus ``test_per_material``."""
    per_material = {}
    for space_group in sorted({m.space_group for m in materials}):
        group = sorted((m for m in materials if m.space_group == space_group), key=lambda m: m.name)
        n_train = divide_evenly(train_per_space_group, len(group))
        n_val = divide_evenly(val_per_space_group, len(group))
        for m, nt, nv in zip(group, n_train, n_val):
            per_material[m.name] = nt + nv + test_per_material
    return per_material


@cached(depends_on=["materials", "simulate"])
def _simulate_dataset(
    materials: tuple[Material, ...],
    train_per_space_group: int,
    val_per_space_group: int,
    test_per_material: int,
    geometry: DetectorGeometry,
    detector_model: DetectorModel,
    seed: int,
) -> PatternDataset:
    per_material = patterns_per_material(materials, train_per_space_group, val_per_space_group, test_per_material)
    patterns, tables = [], []
    start = time.perf_counter()
    for m in tqdm(materials, desc="simulating materials", unit="material", leave=False, disable=None):
        p, t = simulate_patterns(m, per_material[m.name], geometry, detector_model, seed=seed)
        patterns.append(p)
        tables.append(t)
    seconds = time.perf_counter() - start
    table = pd.concat(tables, ignore_index=True)
    table["split"] = assign_split(table, train_per_space_group, val_per_space_group, test_per_material, seed)
    meta = {
        "source": "simulated",
        "seed": seed,
        "geometry": geometry.__dict__.copy(),
        "detector_model": detector_model.as_dict(),
        "simulation_seconds": seconds,
        "patterns_per_second": len(table) / seconds,
    }
    return PatternDataset(np.concatenate(patterns), table, meta)


def simulate_dataset(
    train_per_space_group: int = 400,
    val_per_space_group: int = 100,
    test_per_material: int = 100,
    geometry: DetectorGeometry = DetectorGeometry(),
    detector_model: DetectorModel = DetectorModel(),
    seed: int = 0,
    materials: list[Material] | None = None,
) -> PatternDataset:
    """The simulated training data set, split by the paper's protocol; cached by its parameters.

    For each material, its share of ``train_per_space_group`` and ``val_per_space_group`` plus
    ``test_per_material`` patterns are simulated (defaults: the paper's 400 and 100 per space group).
    A second call with the same parameters reads the cache.
    """
    materials = tuple(training_materials() if materials is None else materials)
    return _simulate_dataset(
        materials,
        int(train_per_space_group),
        int(val_per_space_group),
        int(test_per_material),
        geometry,
        detector_model,
        int(seed),
    )


simulate_dataset.is_cached = lambda *a, **k: _simulate_dataset.is_cached(
    tuple(k.pop("materials", None) or training_materials()), *a, **k
)


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
    view
        ``"native"`` (default): the patterns as recorded. Images of the most common aspect but another
        size are resized to the most common size (said in ``meta["notes"]`` and a warning); an image of
        another aspect stops the load, since resizing it would squeeze its bands.
        ``"canonical"``: the largest centred square of every image, resized to ``size`` (default: the
        smallest square side among the images), as :func:`ebsdlib.preprocess.canonical_view` and the
        acquisition-randomised training data of :mod:`ebsdlib.randomise`. Detectors of any aspect
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
    other_aspect = [(f, im.shape) for f, im in zip(files, images) if abs(im.shape[1] / im.shape[0] / aspect - 1) > 0.01]
    if other_aspect:
        first, (odd_rows, odd_cols) = other_aspect[0]
        raise DatasetError(
            f"{len(other_aspect)} of {len(images)} images have another aspect than the most common "
            f"{target[0]}×{target[1]} pixels (first: {first.relative_to(root)}, {odd_rows}×{odd_cols}); "
            "resizing them would squeeze their bands. Export every pattern with one detector shape, or load "
            "with view='canonical' to take the centred square of each pattern."
        )
    if len(shapes) > 1:
        odd = [str(f.relative_to(root)) for f, im in zip(files, images) if im.shape != target]
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
    space_group, material
        Labels for every pattern of the file when known; unlabelled patterns get ``space_group = -1``.
    view, size
        ``"native"``: the patterns as recorded; ``"canonical"``: the centred square of each pattern,
        resized to ``size`` (default: the pattern's shorter side), as for :func:`load_folder_tree`.

    The scan's map shape is kept in ``map_shape`` (for phase maps).

    Raises
    ------
    DatasetError
        When the file is missing, cannot be read by kikuchipy, or holds no EBSD patterns.
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


def simulated_book_dataset(
    seed: int = 0,
    detector_shape=(120, 146),
    pattern_center=(0.50, 0.27, 0.60),
    train_per_space_group: int = 400,
    val_per_space_group: int = 100,
    test_per_material: int = 100,
    dose: float = 150.0,
    contrast: float = 0.2,
    blur_sigma: float = 0.7,
    pc_jitter: float = 0.004,
    degraded_fraction: float = 0.1,
) -> tuple[PatternDataset, DetectorGeometry, DetectorModel]:
    """The book's data set from a chapter's parameters: (data set, detector geometry, detector model).

    Every chapter calls this with the profile's shared parameters, so all chapters share one cached
    data set.
    """
    geometry = DetectorGeometry(shape=tuple(int(s) for s in detector_shape), pc=tuple(float(p) for p in pattern_center))
    model = DetectorModel(
        dose=float(dose),
        contrast=float(contrast),
        blur_sigma=float(blur_sigma),
        pc_jitter=float(pc_jitter),
        degraded_fraction=float(degraded_fraction),
    )
    dataset = simulate_dataset(train_per_space_group, val_per_space_group, test_per_material, geometry, model, seed)
    return dataset, geometry, model
