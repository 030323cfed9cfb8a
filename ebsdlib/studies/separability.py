"""What the patterns can tell apart: materials of different space groups compared as an ideal observer
sees them.

A CNN that confuses two materials may lack what the patterns hold, or the patterns may not hold it. To tell
which, the ideal observer here is given what no classifier of single patterns has, the orientation and the
pattern centre's PCx and PCy of every pattern, and searches PCz about its nominal value (the detector distance
widens the bands on the detector as a smaller lattice parameter does, though it moves them too). It compares a recorded pattern with the clean
kinematical patterns of both materials, each at its best PCz, by normalised cross-correlation (as dictionary
indexing scores patterns) and names the better match. Where it fails, the two materials look the same on this
detector; where it succeeds and the CNN fails, the CNN is the limit.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd

from ebsdlib.cache import cached
from ebsdlib.crystal.materials import Material
from ebsdlib.preprocess import resize_patterns
from ebsdlib.simulation.dynamical_settings import DYNAMICAL_MODULES, SHIPPED_MANIFEST
from ebsdlib.simulation.patterns import (
    Detector,
    DetectorGeometry,
    DetectorModel,
    apply_detector_model,
    detector_master_pattern,
    material_seed,
    project_patterns,
    random_rotations,
)

__all__ = [
    "pattern_similarity",
    "alike_pairs",
    "nearest_materials",
    "ideal_observer",
    "separability_table",
    "pair_accuracy",
]


def pattern_similarity(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of two stacks of patterns, pattern by pattern (1: the same up to
    brightness and contrast).

    >>> a = np.random.default_rng(0).random((2, 8, 8))
    >>> pattern_similarity(a, 3 * a + 1).round(6).tolist(), bool(pattern_similarity(a, a[::-1])[0] < 0.5)
    ([1.0, 1.0], True)
    """
    a = np.asarray(first, dtype=np.float64)
    b = np.asarray(second, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"two stacks of patterns of one shape (n, rows, cols) are needed, got {a.shape} and {b.shape}")
    a = a - a.mean(axis=(1, 2), keepdims=True)
    b = b - b.mean(axis=(1, 2), keepdims=True)
    return (a * b).sum(axis=(1, 2)) / np.sqrt((a * a).sum(axis=(1, 2)) * (b * b).sum(axis=(1, 2)))


def _shown(patterns: np.ndarray, image_size: int | None) -> np.ndarray:
    return resize_patterns(patterns, image_size) if image_size else np.asarray(patterns, dtype=np.float32)


def _draw(geometry: DetectorGeometry, detector_model: DetectorModel, n: int, seed: int, name: str):
    rng = np.random.default_rng(material_seed(seed, f"separability {name}"))
    rotations = random_rotations(n, rng)
    pcs = np.asarray(geometry.pc, dtype=float) + rng.normal(0, detector_model.pc_jitter, size=(n, 3))
    return rng, rotations, pcs


#: Both studies are made from the materials' master patterns, kinematical or dynamical.
_cached = cached(
    depends_on=["crystal.materials", "preprocess", "simulation.patterns", *DYNAMICAL_MODULES], data_files=[SHIPPED_MANIFEST]
)


@_cached
def alike_pairs(
    materials: list[Material], geometry: DetectorGeometry, image_size: int | None, n: int = 20, seed: int = 0
) -> pd.DataFrame:
    """How alike the clean patterns of every two materials of different space groups are: the median
    :func:`pattern_similarity` of their kinematical patterns at the same ``n`` random orientations and pattern
    centre, at the CNN's input size (``None``: the detector's pixels). Most alike first."""
    _, rotations, _ = _draw(geometry, DetectorModel(), n, seed, "pairs")
    clean = {
        m.name: _shown(project_patterns(detector_master_pattern(m, geometry), rotations, geometry), image_size) for m in materials
    }
    rows = [
        {
            "first": a.name,
            "second": b.name,
            "first space group": a.space_group,
            "second space group": b.space_group,
            "similarity": float(np.median(pattern_similarity(clean[a.name], clean[b.name]))),
        }
        for a, b in itertools.combinations(materials, 2)
        if a.space_group != b.space_group
    ]
    return pd.DataFrame(rows).sort_values("similarity", ascending=False, ignore_index=True)


def nearest_materials(
    material: Material,
    candidates: list[Material],
    geometry: DetectorGeometry,
    image_size: int | None,
    k: int,
    *,
    n: int = 20,
    seed: int = 0,
) -> list[Material]:
    """The ``k`` materials of ``candidates`` from other space groups whose clean patterns are most alike
    ``material``'s (:func:`alike_pairs`), most alike first."""
    pairs = alike_pairs([material, *candidates], geometry, image_size, n=n, seed=seed)
    pairs = pairs[(pairs["first"] == material.name) | (pairs["second"] == material.name)].head(k)
    by_name = {m.name: m for m in candidates}
    return [by_name[b if a == material.name else a] for a, b in zip(pairs["first"], pairs["second"], strict=False)]


@_cached
def ideal_observer(
    first: Material,
    second: Material,
    detector: Detector,
    image_size: int | None,
    *,
    n: int = 40,
    seed: int = 0,
    pcz_range: float = 0.03,
    pcz_steps: int = 13,
) -> dict:
    """Share of recorded patterns of ``first`` and ``second`` (``n`` each, good quality, the detector model's
    noise, blur and pattern-centre jitter) that an observer who knows each pattern's orientation, PCx and PCy
    assigns to the right material (a tie counts half); it searches PCz over the nominal PCz ``± pcz_range`` in
    ``pcz_steps`` steps (each pattern's own PCz, jittered, is not known) for each
    material and names the one whose clean pattern correlates best (:func:`pattern_similarity`) at
    ``image_size`` (``None``: the detector's pixels).

    Parameters
    ----------
    first, second
        The two materials to tell apart.
    detector
        The simulated detector (:class:`~ebsdlib.simulation.patterns.Detector`): its geometry's PCz is the
        nominal one the search is about; its detector model's noise, blur and jitter record the patterns, its
        degraded patterns left out.
    image_size
        Side in pixels the recorded and clean patterns are resized to before they are compared (the CNN's
        input); ``None``: the detector's pixels.
    n
        Recorded patterns of each material (default 40), at the same random orientations and pattern centres
        for both.
    seed
        Seed of the orientations, pattern centres and noise, combined with the two materials' names (default 0).
    pcz_range
        Half-width of the PCz search about the nominal PCz, in PC units (default 0.03).
    pcz_steps
        PCz values tried, evenly spaced over the nominal PCz ± ``pcz_range`` (default 13).

    Returns
    -------
    dict
        ``accuracy`` (both materials), ``first accuracy``, ``second accuracy`` and ``similarity`` (median
        similarity of the two materials' clean patterns at the true pattern centres).
    """
    if n < 1 or pcz_steps < 1 or pcz_range < 0:
        raise ValueError("n and pcz_steps must be at least 1 and pcz_range not negative")
    geometry = detector.geometry
    good = replace(detector.detector_model, degraded_fraction=0.0)
    rng, rotations, pcs = _draw(geometry, good, n, seed, f"{first.name}|{second.name}")
    masters = {m.name: detector_master_pattern(m, geometry) for m in (first, second)}
    clean = {name: project_patterns(mp, rotations, geometry, pcs) for name, mp in masters.items()}
    recorded = {
        name: _shown(apply_detector_model(c, geometry, good, rng).astype(np.float32), image_size) for name, c in clean.items()
    }
    best = {}  # (true, hypothesis) -> best similarity over PCz, per pattern
    for hypothesis, mp in masters.items():
        scores = {true: [] for true in recorded}
        for shift in np.linspace(-pcz_range, pcz_range, pcz_steps):
            shifted = pcs.copy()
            shifted[:, 2] = geometry.pc[2] + shift  # about the nominal PCz: the pattern's own is not known
            template = _shown(project_patterns(mp, rotations, geometry, shifted), image_size)
            for true, patterns in recorded.items():
                scores[true].append(pattern_similarity(patterns, template))
        for true in recorded:
            best[(true, hypothesis)] = np.max(scores[true], axis=0)
    a, b = first.name, second.name
    # a tie (the same clean pattern for both) counts as a coin toss
    right = {t: np.where(best[(t, t)] == best[(t, o)], 0.5, best[(t, t)] > best[(t, o)]) for t, o in ((a, b), (b, a))}
    return {
        "accuracy": float(np.mean(np.concatenate([right[a], right[b]]))),
        "first accuracy": float(right[a].mean()),
        "second accuracy": float(right[b].mean()),
        "similarity": float(np.median(pattern_similarity(_shown(clean[a], image_size), _shown(clean[b], image_size)))),
    }


def separability_table(
    pairs: list[tuple[Material, Material]],
    detector: Detector,
    image_sizes: tuple[int | None, ...],
    n: int = 40,
    seed: int = 0,
    progress=None,
) -> pd.DataFrame:
    """:func:`ideal_observer` for every pair and input size: one row per pair, the clean patterns' similarity
    at the first size and the observer's accuracy at each size (``"ideal observer, 72 px"``, ``"…, detector"``
    for ``None``). ``progress`` (e.g. ``tqdm``) wraps the pairs.

    Parameters
    ----------
    pairs
        The pairs of materials (first, second) to compare.
    detector
        The simulated detector, geometry and detector model (:class:`~ebsdlib.simulation.patterns.Detector`);
        its degraded patterns are left out.
    image_sizes
        Sides in pixels at which the observer compares the patterns; ``None`` among them: the detector's
        pixels. The similarity column is that of the first.
    n
        Recorded patterns of each material per pair and size (default 40).
    seed
        Seed of the orientations, pattern centres and noise (default 0), as :func:`ideal_observer` takes it.
    progress
        A wrapper of the list of pairs that shows progress, e.g. ``tqdm``; default ``None``: none.

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``first`` and ``second`` (the materials as a reader sees them,
        :attr:`~ebsdlib.crystal.materials.Material.shown`), ``space groups`` (``"221 / 225"``), ``a (Å)`` (both
        lattice parameters), ``similarity`` and one column per size, ``ideal observer, <size> px`` or
        ``ideal observer, detector``.
    """
    rows = []
    for a, b in progress(pairs) if progress else pairs:
        row = {"first": a.shown, "second": b.shown, "space groups": f"{a.space_group} / {b.space_group}"}
        row["a (Å)"] = f"{a.lattice_parameter:.3f} / {b.lattice_parameter:.3f}"
        for size in image_sizes:
            seen = ideal_observer(a, b, detector, size, n=n, seed=seed)
            if "similarity" not in row:
                row["similarity"] = seen["similarity"]
            row[f"ideal observer, {f'{size} px' if size else 'detector'}"] = seen["accuracy"]
        rows.append(row)
    return pd.DataFrame(rows)


def pair_accuracy(predictions: pd.DataFrame, first: str, second: str) -> float:
    """Share of the test patterns of two materials (``predictions`` as :func:`ebsdlib.evaluate.metrics.predict_trial`
    writes them) that a classifier gives their own space group; NaN when neither material is in the test.

    >>> table = pd.DataFrame({"material": ["Ni", "Ni", "Fe3Ni", "Al"], "true_space_group": [225, 225, 221, 225],
    ...                       "predicted_space_group": [225, 221, 221, 221]})
    >>> pair_accuracy(table, "Ni", "Fe3Ni")
    0.6666666666666666
    """
    both = predictions[predictions["material"].isin([first, second])]
    if both.empty:
        return float("nan")
    return float((both["true_space_group"] == both["predicted_space_group"]).mean())
