"""Phase mapping a dual-phase Ni90Al10 sample (the paper's Fig. 5 and Table 2), with ground truth.

The simulated sample: grains of the Ni(Al) solid-solution matrix (space group 225, a phase the models
never saw in training) with Ni3Al precipitates (221) inside them in the cube-on-cube orientation
relationship of γ/γ′ (the precipitate shares its host grain's orientation). Every pixel's pattern comes
from the detector model; pixels on grain and phase boundaries record an overlap with their neighbour's
pattern. Companion maps as a microscope gives them — a backscattered-electron-like image, an aluminium
EDS-like map and an inverse pole figure map — and the Hough/Radon baseline (PyEBSDIndex, given both
phases, as the commercial software in the paper) stand beside the CNN maps. The same classification
functions map a real scan loaded with :func:`ebsdlib.io.readers.load_pattern_file`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ebsdlib.cache import cached
from ebsdlib.crystal.materials import SPACE_GROUPS, Material, dual_phase_materials
from ebsdlib.datasets.container import PatternDataset
from ebsdlib.evaluate.metrics import PROBABILITY_COLUMNS, predict_trial
from ebsdlib.simulation.patterns import (
    DetectorGeometry,
)

__all__ = [
    "ipf_colors",
    "hough_phase_map",
    "index_with_hough",
    "pyebsdindex_modules",
    "counts_table",
    "map_scores",
    "region_scores",
    "ensemble",
    "rejection_curve",
    "map_probabilities",
]


def ipf_colors(quaternions: np.ndarray, shape, direction: str = "y") -> np.ndarray:
    """Inverse pole figure colours (orix, TSL key, point group m-3m) along a sample direction: (rows, cols, 3)."""
    from orix.plot import IPFColorKeyTSL
    from orix.quaternion import Orientation
    from orix.quaternion.symmetry import Oh
    from orix.vector import Vector3d

    vector = {"x": Vector3d.xvector(), "y": Vector3d.yvector(), "z": Vector3d.zvector()}[direction]
    key = IPFColorKeyTSL(Oh, direction=vector)
    return key.orientation2color(Orientation(quaternions, symmetry=Oh)).reshape(*shape, 3)


def hough_phase_map(
    dataset: PatternDataset,
    geometry: DetectorGeometry,
    phases: list[Material] | None = None,
    *,
    n_bands: int = 12,
    max_fit: float = 2.0,
    min_bands: int = 6,
    tie_tolerance: float = 0.05,
) -> pd.DataFrame:
    """Hough/Radon indexing with PyEBSDIndex given both phases, as commercial software does.

    Every phase is tried on every pattern (no early exit). Returns per pattern: ``space_group`` (the
    phase listed first among the best; ``-1`` when not indexed: fewer than ``min_bands`` matched bands or
    a fit worse than ``max_fit`` degrees), ``fit``, ``nmatch``, and ``tie`` — the phases matched the same
    number of bands with fits within ``tie_tolerance`` degrees, so that only the order of the phase list
    decides, as the paper found for Ni and Ni3Al. Results are cached (see :func:`_hough_index`).

    Parameters
    ----------
    dataset
        The patterns to index (rows of a map, in map order).
    geometry
        The detector geometry they were recorded with (pattern centre, tilts, shape).
    phases
        The candidate phases (default: the dual-phase sample's Ni(Al) and Ni3Al, in that order).
    n_bands
        Bands detected per pattern (default ``12``).
    max_fit
        Largest mean angular deviation in degrees accepted as a solution (default ``2.0``).
    min_bands
        Fewest matched bands accepted as a solution (default ``6``).
    tie_tolerance
        Fits within this many degrees count as equal between phases (default ``0.05``).

    Returns
    -------
    pandas.DataFrame
        One row per pattern: ``space_group`` (``-1``: not indexed), ``fit``, ``nmatch``, ``tie`` and the
        orientation ``qa, qb, qc, qd`` (NaN where not indexed).

    Examples
    --------
    >>> from ebsdlib.simulation.patterns import Detector, DetectorGeometry
    >>> from ebsdlib.simulation.sample import simulate_dual_phase_map
    >>> geometry = DetectorGeometry(shape=(60, 73))
    >>> micro, scan = simulate_dual_phase_map((2, 3), 1, 0.3, Detector(geometry), seed=0)
    >>> hough = hough_phase_map(scan, geometry)
    >>> len(hough), list(hough.columns)
    (6, ['space_group', 'fit', 'nmatch', 'tie', 'qa', 'qb', 'qc', 'qd'])
    >>> set(hough["space_group"]) <= {-1, 221, 225}
    True
    """
    from importlib.metadata import version

    phases = tuple(dual_phase_materials() if phases is None else phases)
    return _hough_index(
        np.asarray(dataset.patterns),
        geometry,
        phases,
        int(n_bands),
        float(max_fit),
        int(min_bands),
        float(tie_tolerance),
        version("pyebsdindex"),
    )


@cached(depends_on=["crystal.materials", "simulation.patterns", "simulation.dynamical"])
def _hough_index(patterns, geometry, phases, n_bands, max_fit, min_bands, tie_tolerance, _pyebsdindex_version) -> pd.DataFrame:
    """Hough indexing of ``patterns``, cached by their content, the geometry, the phases and settings,
    and the PyEBSDIndex version: a rebuild with nothing changed indexes nothing."""
    return index_with_hough(
        patterns, geometry, phases, n_bands=n_bands, max_fit=max_fit, min_bands=min_bands, tie_tolerance=tie_tolerance
    )


def pyebsdindex_modules():
    """PyEBSDIndex's ``ebsd_index`` and ``tripletvote`` modules, imported without moving the process's numba cache.

    Importing them sets ``NUMBA_CACHE_DIR`` to ``~/.pyebsdindex/numbacache`` for the whole process (PyEBSDIndex
    does so in three of its modules), and with it for every numba kernel compiled afterwards (kikuchipy's,
    orix's) and every process started afterwards (chapter kernels, builds): all of them would share one folder
    on the machine, and two processes compiling into one folder can leave entries that crash the next reader.
    The caller's setting (or its absence) is restored right after the import; PyEBSDIndex's own kernels stay
    where PyEBSDIndex keeps them."""
    import os

    before = os.environ.get("NUMBA_CACHE_DIR")
    from pyebsdindex import ebsd_index, tripletvote

    if before is None:
        os.environ.pop("NUMBA_CACHE_DIR", None)
    else:
        os.environ["NUMBA_CACHE_DIR"] = before
    from numba.core import config

    config.reload_config()
    return ebsd_index, tripletvote


def index_with_hough(
    patterns: np.ndarray,
    geometry: DetectorGeometry,
    phases,
    *,
    n_bands: int = 12,
    max_fit: float = 2.0,
    min_bands: int = 6,
    tie_tolerance: float = 0.05,
) -> pd.DataFrame:
    """PyEBSDIndex's Radon/Hough indexing of ``patterns`` (n, rows, cols) against ``phases``, never cached
    (what :func:`hough_phase_map` caches, and what the speed benchmark times); the columns as there.

    Parameters
    ----------
    patterns
        The patterns to index, (n, rows, cols) with (rows, cols) the detector's shape.
    geometry
        The detector geometry they were recorded with: PyEBSDIndex takes its pattern centre (Bruker's
        convention), sample tilt, detector tilt and shape.
    phases
        The candidate phases (:class:`~ebsdlib.crystal.materials.Material`), each indexed as a cubic cell of its
        ``lattice_parameter``; between phases that fit equally well, the one listed first is taken.
    n_bands
        Bands detected per pattern (default ``12``).
    max_fit
        Largest mean angular deviation in degrees accepted as a solution (default ``2.0``).
    min_bands
        Fewest matched bands accepted as a solution (default ``6``).
    tie_tolerance
        Fits within this many degrees count as equal between phases (default ``0.05``).

    Returns
    -------
    pandas.DataFrame
        One row per pattern: ``space_group`` (``-1``: not indexed), ``fit`` (mean angular deviation in
        degrees), ``nmatch`` (matched bands), ``tie`` (an indexed pattern the phases matched equally) and the
        orientation ``qa, qb, qc, qd`` (kikuchipy's convention; NaN where not indexed).
    """
    ebsd_index, tripletvote = pyebsdindex_modules()

    library = [
        tripletvote.addphase(
            phasename=m.name, spacegroup=m.space_group, latticeparameter=[m.lattice_parameter] * 3 + [90] * 3, nband_earlyexit=100
        )
        for m in phases
    ]
    indexer = ebsd_index.EBSDIndexer(
        phaselist=library,
        vendor="KIKUCHIPY",  # the pattern centre as kikuchipy holds it (Bruker's); quaternions in kikuchipy's frame
        PC=geometry.pc,
        sampleTilt=geometry.sample_tilt,
        camElev=geometry.tilt,
        patDim=geometry.shape,
        nBands=int(n_bands),
    )
    data, *_ = indexer.index_pats(patsin=np.asarray(patterns, dtype=np.float32), verbose=0)
    best = data[-1]
    per_phase_fit = np.stack([data[i]["fit"] for i in range(len(phases))])
    per_phase_nmatch = np.stack([data[i]["nmatch"] for i in range(len(phases))])
    tie = (np.ptp(per_phase_nmatch, axis=0) == 0) & (np.ptp(per_phase_fit, axis=0) <= tie_tolerance)
    indexed = (best["nmatch"] >= min_bands) & (best["fit"] <= max_fit)
    space_group = np.where(indexed, np.asarray([m.space_group for m in phases])[np.clip(best["phase"], 0, None)], -1)
    quaternions = np.where(indexed[:, None], np.asarray(best["quat"], dtype=np.float64), np.nan)
    return pd.DataFrame(
        {
            "space_group": space_group,
            "fit": best["fit"],
            "nmatch": best["nmatch"],
            "tie": tie & indexed,
            **{c: quaternions[:, i] for i, c in enumerate(("qa", "qb", "qc", "qd"))},
        }
    )


def counts_table(predicted: dict[str, np.ndarray], paper: dict | None = None) -> pd.DataFrame:
    """Table 2: patterns per predicted space group for each model, the difference (second − first), and
    the paper's counts beside them."""
    rows = {name: pd.Series(p).value_counts().reindex(SPACE_GROUPS, fill_value=0) for name, p in predicted.items()}
    table = pd.DataFrame(rows).T
    names = list(predicted)
    if len(names) == 2:
        table.loc["difference"] = table.loc[names[1]] - table.loc[names[0]]
    if paper is not None:
        for name in names:
            if name in paper["dual_phase"]["counts"]:
                table.loc[f"paper: {name}"] = [paper["dual_phase"]["counts"][name][sg] for sg in SPACE_GROUPS]
    table.columns.name = "space group"
    return table


def map_scores(true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy against the ground truth; the recall of each phase (share of its pixels called its space group)
    and their mean, the balanced accuracy, which a map of one phase everywhere scores 0.5 on a two-phase sample
    however large that phase's share (accuracy rewards the majority phase); the predicted and true Ni3Al (221) fractions, and the
    share of pixels called one of the four space groups absent from the sample, or given no answer (-1).

    Parameters
    ----------
    true
        True space group of every pixel (225: Ni(Al), 221: Ni3Al), one dimension (a map flattened).
    predicted
        Predicted space group of the same pixels, in the same order; ``-1``: no answer.

    Returns
    -------
    dict[str, float]
        Shares from 0 to 1 by name: ``"accuracy"``, ``"balanced accuracy"``, ``"Ni(Al) recall"``,
        ``"Ni3Al recall"``, ``"Ni3Al fraction (true)"``, ``"Ni3Al fraction (predicted)"``,
        ``"absent space groups"`` and ``"no answer"``.
    """
    from sklearn.metrics import recall_score

    true, predicted = np.asarray(true), np.asarray(predicted)
    answered = predicted != -1
    recall = recall_score(true, predicted, labels=[225, 221], average=None, zero_division=0)
    return {
        "accuracy": float((predicted == true).mean()),
        "balanced accuracy": float(recall.mean()),
        "Ni(Al) recall": float(recall[0]),
        "Ni3Al recall": float(recall[1]),
        "Ni3Al fraction (true)": float((true == 221).mean()),
        "Ni3Al fraction (predicted)": float((predicted == 221).mean()),
        "absent space groups": float((answered & ~np.isin(predicted, [221, 225])).mean()),
        "no answer": float((~answered).mean()),
    }


def region_scores(true: np.ndarray, predicted: np.ndarray, boundary: np.ndarray) -> pd.DataFrame:
    """:func:`map_scores` on all pixels, on the interior pixels and on the boundary pixels of a map apart.

    A pattern recorded on a grain or phase boundary overlaps with its neighbour's (the simulated detector mixes
    them), so on a phase boundary no classifier can be sure of the phase: scoring interior and boundary pixels
    apart says which errors are the classifier's and which the sample's.

    Parameters
    ----------
    true, predicted
        As :func:`map_scores` takes them (one dimension, pixel order).
    boundary
        True where a pixel lies on a grain or phase boundary (the microstructure's ``boundary``), any shape with
        as many elements as pixels.

    Returns
    -------
    pandas.DataFrame
        One row per region (``"all pixels"``, ``"interior"``, ``"boundary"``) with ``pixels`` and the scores of
        :func:`map_scores` (NaN where the region is empty).

    Examples
    --------
    >>> import numpy as np
    >>> true = np.array([225, 225, 221, 221]); predicted = np.array([225, 225, 221, 225])
    >>> region_scores(true, predicted, np.array([False, True, False, True]))["accuracy"].tolist()
    [0.75, 1.0, 0.5]
    """
    true, predicted = np.asarray(true).ravel(), np.asarray(predicted).ravel()
    boundary = np.asarray(boundary, dtype=bool).ravel()
    if not len(true) == len(predicted) == len(boundary):
        raise ValueError(f"region_scores: {len(true)} true labels, {len(predicted)} predicted and {len(boundary)} boundary flags")
    rows = {}
    for name, keep in (("all pixels", np.ones_like(boundary)), ("interior", ~boundary), ("boundary", boundary)):
        scores = (
            map_scores(true[keep], predicted[keep])
            if keep.any()
            else dict.fromkeys(map_scores(np.array([225]), np.array([225])), np.nan)
        )
        rows[name] = {"pixels": int(keep.sum()), **scores}
    return pd.DataFrame(rows).T


def ensemble(probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """Soft voting over trained models: ``probabilities`` (models, pixels, classes) → the mean
    probabilities, the ensemble's class, its confidence (largest mean probability), the normalised
    predictive entropy (0: certain, 1: uniform) and the vote disagreement (share of models whose own
    answer differs from the ensemble's)."""
    p = np.asarray(probabilities, dtype=float)
    mean = p.mean(axis=0)
    label = mean.argmax(axis=1)
    entropy = -(mean * np.log(np.clip(mean, 1e-12, 1))).sum(axis=1) / np.log(p.shape[-1])
    disagreement = (p.argmax(axis=2) != label[None, :]).mean(axis=0)
    return {
        "mean": mean,
        "label": np.asarray(SPACE_GROUPS)[label],
        "confidence": mean.max(axis=1),
        "entropy": entropy,
        "disagreement": disagreement,
    }


def ensemble_note(n_models: int) -> str:
    """One sentence for the page on what the ensemble of ``n_models`` trained models per approach is."""
    if n_models < 1:
        raise ValueError("ensemble_note: no trained models; train at least one trial per approach")
    if n_models > 1:
        return f"The ensembles are soft votes over {n_models} trained models per approach."
    return (
        'This build trained one model per approach, so each "ensemble" is that one model: the entropy is '
        "its own uncertainty and the disagreement map is zero by construction (a profile with several "
        "trials fills it)."
    )


def rejection_curve(true: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, thresholds=None) -> pd.DataFrame:
    """Accuracy of the accepted pixels as a "no solution" threshold on the confidence rejects more."""
    thresholds = np.linspace(0, 1, 21) if thresholds is None else np.asarray(thresholds)
    true, predicted, confidence = map(np.asarray, (true, predicted, confidence))
    rows = []
    for t in thresholds:
        accepted = confidence >= t
        rows.append(
            {
                "threshold": float(t),
                "rejected": float(1 - accepted.mean()),
                "accuracy of accepted": float((predicted[accepted] == true[accepted]).mean()) if accepted.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


def map_probabilities(results, scan: PatternDataset, seed: int = 0) -> dict[str, np.ndarray]:
    """Class probabilities of every pattern of a map for every trained model: per approach an array
    (trials, pixels, classes) in pixel order (predictions are cached)."""
    out: dict[str, list[np.ndarray]] = {}
    for result in results:
        predictions = predict_trial(result, scan, split=None, seed=seed).sort_values("pattern_id")
        out.setdefault(result.approach, []).append(predictions[PROBABILITY_COLUMNS].to_numpy())
    return {approach: np.stack(p) for approach, p in out.items()}
