"""Classify a user's scan with one or more model bundles, streaming: patterns are read lazily in chunks,
classified batch by batch, and the per-pattern results written as they come; the patterns of a chunk are
the only ones in memory, whatever the map size.

A scan is any file kikuchipy reads (read lazily, through its dask-backed signals), a folder of pattern
images (natural name order, with the map's shape given), or a NumPy ``.npy`` stack (memory-mapped) of
shape (n, rows, cols) or (map rows, map cols, rows, cols). Patterns are never all in memory; the results
per pattern (a few dozen bytes each: class, confidence, entropy, probabilities) are, for the map files.
The results:

``phases.csv``
    one row per pattern: ``index, row, col, space_group`` (``-1``: not indexed, the paper's "no solution",
    when the confidence is below the threshold), ``confidence`` (the largest class probability),
    ``entropy`` (of the class probabilities, in bits), ``p_<space group>`` for every class, and with
    several models each model's vote (``vote_<k>``) and the share of models that disagree with the
    ensemble (``disagreement``);
``phase_map.png``
    the map with a legend and the phase fractions;
``phase_map.h5`` and ``phase_map.ang``
    an orix ``CrystalMap`` (phase ids, the probabilities, confidence and entropy as properties, "not
    indexed" below the threshold) that MTEX, orix and kikuchipy open as any map.

Given the scan's phases, each pattern is also indexed (PyEBSDIndex's Radon/Hough indexing) for the phase of
the class it was given, in the same chunk: ``phases.csv`` adds its orientation (``qa, qb, qc, qd``, kikuchipy's
convention), Hough's ``fit``, ``nmatch`` and pattern quality ``pq`` and whether it was ``oriented``, and the
CrystalMap holds the rotations (Hough's fit, matched bands and pattern quality as properties; "not indexed"
where either step failed). Without phases a classifier gives no orientations: every rotation is the identity,
and ``classification.json`` says so.

With ``scheduler`` the chunks go to a dask.distributed cluster; each worker opens the scan and loads the
bundles once, and reads its own chunks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ebsdlib.crystal.materials import Material, parse_space_group, space_group_symbol
from ebsdlib.evaluate.plotting import phase_map_axes
from ebsdlib.io.bundle import BundleError, ModelBundle, read_bundle
from ebsdlib.io.scans import Scan, ScanError, open_scan, scan_geometry
from ebsdlib.mapping.orientations import ORIENTATION_COLUMNS
from ebsdlib.outputs import publish_folder
from ebsdlib.preprocess import canonical_view, prepare_patterns
from ebsdlib.simulation.patterns import DetectorGeometry

__all__ = ["classify_scan", "ScanResult", "Indexing", "class_entropy", "score_against_truth"]


def class_entropy(probabilities: np.ndarray) -> np.ndarray:
    """Shannon entropy in bits of each row of class probabilities (0: certain; log2(6) ≈ 2.58: uniform)."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1)
    return -(p * np.log2(p)).sum(axis=-1)


def _inputs(patterns: np.ndarray, bundle: ModelBundle) -> np.ndarray:

    view = bundle.preprocessing.get("view", "native")
    if view == "canonical":
        patterns = canonical_view(patterns, int(bundle.preprocessing.get("canonical_size") or min(patterns.shape[1:])))
    return prepare_patterns(patterns, bundle.image_size, bundle.channels, bundle.preprocessing.get("normalization", "minmax"))


def check_fit(scan: Scan, bundle: ModelBundle) -> None:
    """Refuse a scan whose patterns a bundle would squeeze: a native-view model trained on another aspect."""
    if bundle.preprocessing.get("view", "native") != "native" or "pattern_shape" not in bundle.preprocessing:
        return
    rows, cols = bundle.preprocessing["pattern_shape"]
    r, c = scan.pattern_shape
    if abs(r / c - rows / cols) > 0.02 * (rows / cols):
        raise BundleError(
            f"the scan's patterns are {r}×{c} pixels, and the model {bundle.folder} was trained on {rows}×{cols} "
            "patterns, another aspect: resizing would squeeze their bands. Train a model on patterns of this "
            "detector, or one with the canonical view (`ebsdlib train --view canonical`)."
        )


@lru_cache(maxsize=1)
def _bundles(folders: tuple[str, ...]) -> tuple[ModelBundle, ...]:
    return tuple(read_bundle(f) for f in folders)


@dataclass(frozen=True)
class Indexing:
    """How :func:`classify_scan` indexes orientations: each pattern for the phase of the class the ensemble gave it.

    Parameters
    ----------
    phases
        The scan's phases (:class:`~ebsdlib.crystal.materials.Material`), each standing for the class of its space
        group.
    classes
        The models' classes (space groups), in output order.
    threshold
        The classification threshold: a pattern below it has no phase and no orientation.
    geometry
        The detector the scan was recorded with (:func:`ebsdlib.io.scans.scan_geometry`).
    refine
        Refine each indexed orientation against its phase's master pattern
        (:func:`ebsdlib.mapping.orientations.refine_orientations`; default ``False``).
    """

    phases: tuple[Material, ...]
    classes: tuple[int, ...]
    threshold: float
    geometry: DetectorGeometry
    refine: bool = False

    def __post_init__(self):
        groups = [int(m.space_group) for m in self.phases]
        for m in self.phases:
            if int(m.space_group) not in self.classes:
                raise BundleError(
                    f"the phase {m.name} (space group {m.space_group}) is not among the model's classes "
                    f"{list(self.classes)}: the classifier never gives it; name phases of those classes"
                )
        twice = sorted({g for g in groups if groups.count(g) > 1})
        if twice:
            raise BundleError(
                f"two phases of space group {twice[0]} ({', '.join(m.name for m in self.phases if m.space_group == twice[0])}): "
                "a space-group classifier cannot tell them apart; name one phase per class"
            )

    def chosen(self, probabilities: np.ndarray) -> np.ndarray:
        """Per pattern, the index into :attr:`phases` of the phase its averaged probabilities (k, models, classes)
        give, or -1 (below the threshold, a class without a phase, or no probabilities)."""
        mean = np.nan_to_num(probabilities.mean(axis=1), nan=-1.0)
        top = np.asarray(self.classes)[mean.argmax(axis=1)]
        phase_of = {int(m.space_group): i for i, m in enumerate(self.phases)}
        chosen = np.array([phase_of.get(int(c), -1) for c in top], dtype=np.int64)
        return np.where(mean.max(axis=1) >= self.threshold, chosen, -1)


def _map_range(spec: dict, folders: tuple[str, ...], start: int, stop: int, batch_size: int, indexing: Indexing | None):
    """Class probabilities (k, models, classes) of patterns ``start`` to ``stop`` and, with ``indexing``, the
    orientation of each for the phase it was given (:func:`ebsdlib.mapping.orientations.index_chosen_phases`);
    what a worker runs. The patterns are read once for both steps."""
    scan = _scan_from_spec(spec)
    patterns = np.asarray(scan.read(start, stop))
    probabilities = _classify_patterns(patterns, folders, batch_size)
    if indexing is None:
        return probabilities, None
    from ebsdlib.mapping.orientations import index_chosen_phases

    chosen = indexing.chosen(probabilities)
    finite = np.isfinite(patterns.reshape(len(patterns), -1)).all(axis=1)
    chosen = np.where(finite, chosen, -1)
    clean = np.where(finite[:, None, None], patterns, 0)
    table = index_chosen_phases(clean, indexing.geometry, list(indexing.phases), chosen)
    if indexing.refine:
        from ebsdlib.mapping.orientations import refine_orientations

        groups = np.array([int(m.space_group) for m in indexing.phases])
        table.insert(0, "space_group", np.where(table["indexed"], groups[np.clip(chosen, 0, None)], -1))
        table = refine_orientations(clean, indexing.geometry, list(indexing.phases), table, cache=False).drop(
            columns="space_group"
        )
    return probabilities, table


def _classify_patterns(patterns: np.ndarray, folders: tuple[str, ...], batch_size: int) -> np.ndarray:
    """Class probabilities (k, models, classes) of ``patterns``."""
    # a pattern with NaN or infinite intensities has no class: its probabilities are NaN, and it is "not indexed"
    broken = ~np.isfinite(patterns.reshape(len(patterns), -1)).all(axis=1) if patterns.dtype.kind in "fc" else None
    if broken is not None and broken.any():
        patterns = np.where(broken[:, None, None], 0, patterns)
    out = []
    for bundle in _bundles(tuple(folders)):
        model = bundle.load_model()
        out.append(model.predict(_inputs(patterns, bundle), batch_size=batch_size, verbose=0))
    probabilities = np.stack(out, axis=1).astype(np.float32)
    if broken is not None:
        probabilities[broken] = np.nan
    return probabilities


def _scan_from_spec(spec: dict) -> Scan:
    return _scan_cached(json.dumps(spec, sort_keys=True))


@lru_cache(maxsize=2)
def _scan_cached(spec_json: str) -> Scan:
    spec = json.loads(spec_json)
    return open_scan(spec["path"], tuple(spec["map_shape"]))


@dataclass
class ScanResult:
    """What :func:`classify_scan` wrote and the numbers a user reads first.

    Parameters
    ----------
    out
        The results folder.
    n
        Patterns classified.
    map_shape
        (rows, cols) of the map in patterns.
    classes
        Space groups of the models' outputs, in order.
    fractions
        Share of the patterns given each class and ``"not indexed"``, indexed by the space group as text and
        ``"not indexed"``.
    files
        The result files by kind: ``"csv"`` (``phases.csv``), ``"png"`` (``phase_map.png``), ``"h5"``
        (``phase_map.h5``) and ``"ang"`` (``phase_map.ang``; absent for a map of one pattern).
    seconds
        Wall-clock seconds spent reading and classifying the patterns (not writing the map files).
    non_finite
        Patterns with NaN or infinite intensities, left "not indexed" (default 0).
    indexed
        Patterns given an orientation; ``None`` (default) when no phases were given, so none were indexed.
    """

    out: Path
    n: int
    map_shape: tuple[int, int]
    classes: tuple[int, ...]
    fractions: pd.Series
    files: dict[str, Path]
    seconds: float
    non_finite: int = 0  # patterns with NaN or infinite intensities, "not indexed"
    indexed: int | None = None  # patterns given an orientation; None: no phases, no orientations

    @property
    def patterns_per_second(self) -> float:
        """Patterns classified per second of the run (NaN for a run of no measurable time)."""
        return self.n / self.seconds if self.seconds > 0 else float("nan")


def classify_scan(
    scan: Scan | str | Path,
    bundles: list[ModelBundle | str | Path],
    out: str | Path,
    *,
    threshold: float = 0.5,
    chunk_size: int = 1024,
    batch_size: int = 64,
    scheduler: str | None = None,
    progress: bool = True,
    in_flight: int = 4,
    phases: list[Material] | None = None,
    geometry: DetectorGeometry | None = None,
    refine: bool = False,
) -> ScanResult:
    """Classify every pattern of ``scan`` with the ensemble of ``bundles``, index each pattern's orientation for the
    phase it was given (with ``phases``), and write the results to ``out``.

    Parameters
    ----------
    scan
        An opened scan (:func:`open_scan`) or its path.
    bundles
        One or more model bundles (or their folders) with the same classes; their class probabilities are
        averaged.
    out
        Folder of the results (``phases.csv``, ``phase_map.png``, ``phase_map.h5``, ``phase_map.ang``).
    threshold
        Patterns whose largest averaged class probability is below it are "not indexed" (default ``0.5``).
    chunk_size
        Patterns read and classified at a time (default ``1024``); memory is bounded by it.
    batch_size
        Patterns per forward pass (default ``64``).
    scheduler
        Address of a dask.distributed scheduler (``tcp://host:8786``) to classify the chunks on a cluster.
    progress
        Show a progress bar (patterns/s and the time left).
    in_flight
        Chunks submitted to a cluster at a time (bounds the client's memory).
    phases
        The scan's phases (:class:`~ebsdlib.crystal.materials.Material`, one per class it may hold): each pattern
        is indexed (PyEBSDIndex) for the phase of the class it was given, in the same chunk and worker, and the
        map holds its orientation; a pattern whose indexing fails is "not indexed". Default ``None``: phases
        only, every rotation the identity (``classification.json`` says so).
    geometry
        The detector of the scan, for indexing (default ``None``: :func:`ebsdlib.io.scans.scan_geometry`, the one
        a kikuchipy file holds).
    refine
        With ``phases``: refine each orientation against its phase's master pattern at the geometry's beam energy
        (kikuchipy; ``phases.csv`` adds the cross-correlation ``ncc``); default ``False``.

    Returns
    -------
    ScanResult
        The results folder and files, the patterns classified, the map shape, the share of each class and
        the seconds spent.

    Raises
    ------
    BundleError
        For bundles with different classes, or a native-view bundle trained on another pattern aspect.
    ScanError
        For a scan that cannot be read.

    Examples
    --------
    Train a small bundle on simulated Ni and Fe patterns (:func:`ebsdlib.mapping.usermodel.train_bundle`), then
    classify a simulated 2 × 3 scan recorded on the same detector:

    >>> import os, tempfile
    >>> from ebsdlib.io.export import find_materials, write_pattern_tree, write_scan
    >>> from ebsdlib.mapping.usermodel import train_bundle
    >>> from ebsdlib.simulation.patterns import Detector, DetectorGeometry
    >>> root = tempfile.mkdtemp()
    >>> detector = Detector(DetectorGeometry(shape=(30, 36), master_pattern_half_size=68))
    >>> _ = write_pattern_tree(find_materials(["Ni", "Fe"]), 8, os.path.join(root, "patterns"), detector, progress=False)
    >>> bundle, _ = train_bundle(
    ...     os.path.join(root, "patterns"), os.path.join(root, "model"), "scratch", profile="smoke",
    ...     settings={"train_per_space_group": 4, "val_per_space_group": 2, "test_per_material": 2, "max_epochs": 1},
    ... )
    >>> scan = write_scan(os.path.join(root, "scan.h5"), (2, 3), 1, 0.3, detector)
    >>> result = classify_scan(scan, [bundle], os.path.join(root, "map"), progress=False)
    >>> result.n, result.map_shape, sorted(result.files)
    (6, (2, 3), ['ang', 'csv', 'h5', 'png'])
    """
    import time

    from tqdm.auto import tqdm

    if not 0 <= float(threshold) <= 1:
        raise ValueError(f"threshold is a probability between 0 and 1, not {threshold}")
    for name, value in (("chunk size", chunk_size), ("batch size", batch_size), ("chunks in flight", in_flight)):
        if int(value) < 1:
            raise ValueError(f"the {name} must be at least 1, not {value}")
    scan = scan if isinstance(scan, Scan) else open_scan(scan)
    bundles = [b if isinstance(b, ModelBundle) else read_bundle(b) for b in bundles]
    if not bundles:
        raise BundleError("no model bundle given; pass at least one --model folder")
    classes = bundles[0].classes
    for b in bundles[1:]:
        b.check(classes=classes)
    for b in bundles:
        check_fit(scan, b)
        b.load_model()  # its model agrees with bundle.json (input, outputs), checked before any work
    if scan.n < 1:
        raise ScanError(f"{scan.path} holds no patterns")
    indexing = None
    if phases is not None:
        indexing = Indexing(
            tuple(phases), tuple(int(c) for c in classes), float(threshold), geometry or scan_geometry(scan), bool(refine)
        )
    elif refine:
        raise BundleError("refining orientations needs the scan's phases: name them (--phases)")
    # the results are written beside ``out`` and take its place when complete: a run that fails leaves an earlier
    # result as it was, and a folder holding anything but an earlier result of this command is refused (first)
    final = Path(out)
    with publish_folder(final, "classify") as out:
        folders = tuple(str(b.folder.resolve()) for b in bundles)
        spec = scan.spec()
        ranges = [(s, min(s + chunk_size, scan.n)) for s in range(0, scan.n, chunk_size)]
        csv = out / "phases.csv"
        predicted = np.empty(scan.n, dtype=np.int32)
        confidence = np.empty(scan.n, dtype=np.float32)
        entropy = np.empty(scan.n, dtype=np.float32)
        mean_probabilities = np.empty((scan.n, len(classes)), dtype=np.float32)
        orientations = [] if indexing is not None else None
        start_time = time.perf_counter()
        non_finite = 0
        what = "classifying and indexing" if indexing is not None else "classifying"
        bar = tqdm(total=scan.n, unit="pattern", desc=f"{what} {scan.path.name}", disable=not progress or None)
        with open(csv, "w", newline="") as handle:
            for k, (start, stop), (probabilities, oriented) in _chunks(
                spec, folders, ranges, batch_size, scheduler, in_flight, indexing
            ):
                table = _chunk_table(start, stop, probabilities, classes, scan.map_shape, threshold)
                if oriented is not None:
                    table = pd.concat([table, oriented.reset_index(drop=True).rename(columns={"indexed": "oriented"})], axis=1)
                    orientations.append(oriented)
                table.to_csv(handle, header=k == 0, index=False)
                predicted[start:stop] = table["space_group"].to_numpy()
                confidence[start:stop] = table["confidence"].to_numpy()
                entropy[start:stop] = table["entropy"].to_numpy()
                mean_probabilities[start:stop] = probabilities.mean(axis=1)
                non_finite += int(np.isnan(probabilities).any(axis=(1, 2)).sum())
                bar.update(stop - start)
        bar.close()
        seconds = time.perf_counter() - start_time
        labels = predicted.reshape(scan.map_shape)
        fractions = pd.Series(predicted).value_counts(normalize=True).reindex([*classes, -1], fill_value=0.0)
        fractions.index = [str(c) if c != -1 else "not indexed" for c in fractions.index]
        files = {"csv": csv, "png": out / "phase_map.png"}
        _phase_map_png(labels, fractions, files["png"], scan.path.name)
        oriented = pd.concat(orientations, ignore_index=True) if orientations is not None else None
        files.update(
            _crystal_map(labels, mean_probabilities, confidence, entropy, classes, out, oriented, indexing and indexing.phases)
        )
        (out / "classification.json").write_text(
            json.dumps(
                {
                    "scan": str(scan.path),
                    "patterns": scan.n,
                    "map_shape": list(scan.map_shape),
                    "models": list(folders),
                    "threshold": float(threshold),
                    "non_finite_patterns": non_finite,
                    "files": sorted([*(Path(p).name for p in files.values()), "classification.json"]),
                    "fractions": fractions.round(6).to_dict(),
                    "seconds": seconds,
                    "orientations": _orientation_note(indexing, oriented),
                },
                indent=2,
            )
        )
    files = {name: final / Path(path).relative_to(out) for name, path in files.items()}
    indexed = int(oriented["indexed"].sum()) if oriented is not None else None
    return ScanResult(final, scan.n, scan.map_shape, classes, fractions, files, seconds, non_finite, indexed)


def _orientation_note(indexing: Indexing | None, oriented: pd.DataFrame | None):
    """What ``classification.json`` says of the orientations."""
    if indexing is None:
        return "none: no phases were given, so every rotation is the identity (ebsdlib classify --phases indexes them)"
    g = indexing.geometry
    return {
        "method": "PyEBSDIndex Radon/Hough indexing of each pattern for the phase of its class",
        "phases": {str(m.space_group): m.name for m in indexing.phases},
        "pattern_centre": list(g.pc),
        "sample_tilt": g.sample_tilt,
        "detector_tilt": g.tilt,
        "indexed": int(oriented["indexed"].sum()),
        "refined": f"against each phase's {g.simulator} master pattern at {g.energy:g} kV (kikuchipy)"
        if indexing.refine
        else "no",
    }


def _chunks(spec, folders, ranges, batch_size, scheduler, in_flight, indexing=None):
    """(chunk number, (start, stop), (probabilities, orientations or None)) in map order, computed here or on a
    cluster."""
    if scheduler is None:
        for k, (start, stop) in enumerate(ranges):
            yield k, (start, stop), _map_range(spec, folders, start, stop, batch_size, indexing)
        return
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is in the lock
        raise ScanError("--scheduler needs dask.distributed: pip install distributed") from None
    try:
        client = Client(scheduler, timeout="20s")
    except OSError as err:
        raise ScanError(f"cannot reach the dask scheduler at {scheduler} ({err}); start one or leave out --scheduler") from None
    try:
        pending, done, next_k = {}, {}, 0
        queue = list(enumerate(ranges))
        while queue or pending:
            while queue and len(pending) < max(1, int(in_flight)):
                k, (start, stop) = queue.pop(0)
                pending[k] = client.submit(_map_range, spec, folders, start, stop, batch_size, indexing, pure=False)
            k = min(pending)  # results are written in map order; later chunks keep computing meanwhile
            done[k] = pending.pop(k).result()
            while next_k in done:
                yield next_k, ranges[next_k], done.pop(next_k)
                next_k += 1
    finally:
        client.close()


def _chunk_table(start, stop, probabilities, classes, map_shape, threshold) -> pd.DataFrame:
    index = np.arange(start, stop)
    rows, cols = np.unravel_index(index, map_shape)
    mean = probabilities.mean(axis=1)
    top = mean.argmax(axis=1)
    confidence = mean.max(axis=1)
    space_group = np.where(confidence >= threshold, np.asarray(classes)[top], -1)
    table = pd.DataFrame(
        {
            "index": index,
            "row": rows,
            "col": cols,
            "space_group": space_group,
            "confidence": confidence,
            "entropy": class_entropy(mean),
        }
    )
    for i, c in enumerate(classes):
        table[f"p_{c}"] = mean[:, i]
    if probabilities.shape[1] > 1:
        votes = np.asarray(classes)[probabilities.argmax(axis=2)]
        for m in range(votes.shape[1]):
            table[f"vote_{m}"] = votes[:, m]
        table["disagreement"] = (votes != np.asarray(classes)[top][:, None]).mean(axis=1)
    return table


def _phase_map_png(labels: np.ndarray, fractions: pd.Series, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("agg", force=False)
    import matplotlib.pyplot as plt

    rows, cols = labels.shape
    fig, ax = plt.subplots(figsize=(max(4.0, min(12.0, cols / 8)), max(3.0, min(12.0, rows / 8)) + 0.8))
    phase_map_axes(ax, labels, title, tie_label="tie", none_label="not indexed")
    shares = ", ".join(f"{name}: {100 * share:.1f} %" for name, share in fractions.items() if share > 0)
    ax.set_xlabel(f"phase fractions: {shares}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def _crystal_map(
    labels, probabilities, confidence, entropy, classes, out: Path, oriented=None, materials=None
) -> dict[str, Path]:
    """The map as an orix CrystalMap, saved as orix HDF5 and as an .ang file: the phase of every pattern and, with
    ``oriented`` (:func:`ebsdlib.mapping.orientations.index_chosen_phases`' table), its orientation, Hough's fit,
    matched bands and pattern quality; a pattern whose indexing failed is "not indexed"."""
    from orix import io
    from orix.crystal_map import CrystalMap, Phase, PhaseList
    from orix.quaternion import Rotation

    rows, cols = labels.shape
    flat = labels.ravel()
    phase_id = np.full(flat.shape, -1, dtype=np.int32)
    for i, c in enumerate(classes):
        phase_id[flat == c] = i
    named = {int(m.space_group): m for m in materials or ()}
    phases = PhaseList(
        [
            Phase(name=named[c].name, space_group=int(c), structure=named[c].structure())
            if c in named
            else Phase(name=space_group_symbol(c), space_group=int(c))
            for c in classes
        ],
        ids=list(range(len(classes))),
    )
    y, x = np.mgrid[:rows, :cols].astype(np.float32)
    prop = {"confidence": confidence, "entropy": entropy}
    for i, c in enumerate(classes):
        prop[f"p_{c}"] = probabilities[:, i]
    rotations = Rotation.identity((rows * cols,))
    if oriented is not None:
        quaternions = oriented[list(ORIENTATION_COLUMNS)].to_numpy()
        indexed = oriented["indexed"].to_numpy()
        phase_id[~indexed] = -1  # not indexed where either step failed
        rotations = Rotation(np.where(indexed[:, None], quaternions, [1.0, 0.0, 0.0, 0.0]))
        prop.update(
            {
                "fit": np.nan_to_num(oriented["fit"].to_numpy(np.float32), nan=-1.0),
                "nmatch": oriented["nmatch"].to_numpy(np.int32),
                "pq": np.nan_to_num(oriented["pq"].to_numpy(np.float32), nan=0.0),
            }
        )
    xmap = CrystalMap(
        rotations=rotations,
        phase_id=phase_id,
        x=x.ravel(),
        y=y.ravel(),
        phase_list=phases,
        prop=prop,
        scan_unit="px",
    )
    files = {"h5": out / "phase_map.h5", "ang": out / "phase_map.ang"}
    io.save(files["h5"], xmap)
    if rows * cols == 1:  # orix writes no .ang of a single point; the .h5 and phases.csv hold it
        del files["ang"]
        return files
    io.save(files["ang"], xmap, confidence_index_prop="confidence")
    return files


def score_against_truth(phases_csv: str | Path, truth_csv: str | Path) -> dict[str, float]:
    """Share of patterns whose space group matches a ground truth (``row, col, space_group``), counting
    "not indexed" as wrong, and the share not indexed.

    Parameters
    ----------
    phases_csv
        The ``phases.csv`` of :func:`classify_scan` (columns ``row``, ``col`` and ``space_group``, ``-1``: not
        indexed).
    truth_csv
        The ground truth: a CSV file with the columns ``row``, ``col`` and ``space_group`` for every map
        position (as :func:`ebsdlib.io.export.write_scan` writes ``<stem>_truth.csv``). Its space groups are
        numbers (``225``) or Hermann–Mauguin symbols (``Fm-3m``).

    Returns
    -------
    dict[str, float]
        ``accuracy`` (share of patterns given their true space group) and ``not_indexed`` (share not
        indexed); where both files hold orientations (``qa, qb, qc, qd``), also ``median_misorientation`` (degrees,
        cubic symmetry, over the patterns given one) and ``within_2`` (share of all patterns within 2° of the
        truth).

    Raises
    ------
    ScanError
        When the truth file is missing, lacks those columns, names a map position twice or a space group that is
        none, or does not cover the same map positions.
    """
    truth_csv = Path(truth_csv)
    if not truth_csv.is_file():
        raise ScanError(f"the ground truth {truth_csv} does not exist")

    try:
        truth = pd.read_csv(truth_csv)
    except (ValueError, UnicodeDecodeError) as err:
        raise ScanError(f"the ground truth {truth_csv} is not a CSV file ({err})") from None
    missing = {"row", "col", "space_group"} - set(truth.columns)
    if missing:
        raise ScanError(f"{truth_csv} lacks the column(s) {sorted(missing)}; it needs row, col and space_group")
    twice = truth[truth.duplicated(["row", "col"], keep=False)]
    if len(twice):
        first = twice.iloc[0]
        raise ScanError(f"{truth_csv} gives map position (row {first['row']}, col {first['col']}) more than once; keep one")
    numbers = {}
    for value in truth["space_group"].unique():  # numbers or Hermann–Mauguin symbols (Fm-3m), as the folder names
        try:
            numbers[value] = parse_space_group(value)
        except ValueError as err:
            raise ScanError(f"{truth_csv}: {err}") from None
    truth = truth.assign(space_group=truth["space_group"].map(numbers))
    phases = pd.read_csv(phases_csv)
    keep = ["row", "col", "space_group", *[c for c in ORIENTATION_COLUMNS if c in phases.columns]]
    both = phases[keep].merge(truth, on=["row", "col"], suffixes=("", "_true"), how="left")
    if both["space_group_true"].isna().any():
        raise ScanError(f"{truth_csv} does not give the true space group of every map position of the scan")
    scores = {
        "accuracy": float((both["space_group"] == both["space_group_true"]).mean()),
        "not_indexed": float((both["space_group"] == -1).mean()),
    }
    if all(c in phases.columns and c in truth.columns for c in ORIENTATION_COLUMNS):
        from ebsdlib.mapping.orientations import misorientation_degrees

        columns = list(ORIENTATION_COLUMNS)
        error = misorientation_degrees(both[[f"{c}_true" for c in columns]].to_numpy(), both[columns].to_numpy())
        found = np.isfinite(error)
        scores["median_misorientation"] = float(np.median(error[found])) if found.any() else float("nan")
        scores["within_2"] = float((found & (np.nan_to_num(error, nan=180.0) <= 2.0)).mean())
    return scores
