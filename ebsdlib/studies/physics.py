"""The physics of the training patterns: kinematical against dynamical master patterns.

Two questions, one module:

Do the dynamical master patterns carry the reflections that separate a space group? (:func:`ordering_pairs`, :func:`separating_families`, :func:`superlattice_check`)
    A cubic crystal's bands lie in the same directions whatever its cell, so the difference of the master
    patterns of two materials of different space groups with nearly the same cell (an ordered phase and its
    disordered parent: Ni3Al and Ni, FeAl and Fe) holds the bands that separate them. The families present in
    one and extinct in the other, whose great circle carries no band of the other (Ni3Al's {221} and {310};
    not its {100}, which shares its circle with Ni's {200}), are drawn where kinematical theory puts them;
    their image is correlated with the difference, and the same image turned at random says what chance gives.

Does training on dynamical patterns carry over to patterns the book's simulator did not make? (:func:`physics_datasets`, :func:`physics_comparison`, :func:`physics_summary`)
    The same protocol trained on kinematical, on dynamical and on both (equal counts drawn from the two), at
    least two trials each, every model tested on both simulators' test splits, on other pattern sources and
    on the dual-phase map simulated by each simulator.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
import pandas as pd

from ebsdlib.crystal.materials import Material, hkl_families, reflection_table, structure_factors
from ebsdlib.datasets.container import PatternDataset, SplitCounts
from ebsdlib.evaluate.metrics import predict_trial, weighted_scores
from ebsdlib.learn.training import train_trial
from ebsdlib.mapping.hough import map_scores
from ebsdlib.simulation.datasets import simulate_dataset
from ebsdlib.simulation.dynamical import DYNAMICAL_HALF_SIZE
from ebsdlib.simulation.patterns import Detector, master_pattern
from ebsdlib.studies.fewshot import subsample_training
from ebsdlib.studies.generalise import answers_table, merge_datasets

__all__ = [
    "PHYSICS",
    "PAIR_TOLERANCE",
    "MIN_DSPACING",
    "electron_wavelength",
    "family_normals",
    "band_template",
    "separating_families",
    "superlattice_check",
    "ordering_pairs",
    "nickel_against_emsoft",
    "settings_label",
    "physics_datasets",
    "physics_tests",
    "physics_comparison",
    "physics_summary",
    "physics_table",
    "dynamical_available",
]

#: The training physics compared: each simulator alone and both together.
PHYSICS = ("kinematical", "dynamical", "both")

#: Two materials of different space groups pair up when their lattice parameters differ by at most this share.
PAIR_TOLERANCE = 0.03

#: Smallest interplanar spacing of the reflectors both simulators include, in Å.
MIN_DSPACING = 0.7

_SAMPLES_PER_CIRCLE = 360


def electron_wavelength(kv: float) -> float:
    """Relativistic electron wavelength in Å at ``kv`` kilovolts (0.0859 Å at 20 kV)."""
    h, m, e, c = 6.62607015e-34, 9.1093837015e-31, 1.602176634e-19, 2.99792458e8
    volts = 1e3 * float(kv)
    return float(h / np.sqrt(2 * m * e * volts * (1 + e * volts / (2 * m * c**2))) * 1e10)


@functools.lru_cache(maxsize=4)
def _lambert_sphere(side: int) -> np.ndarray:
    """Unit vectors of the upper hemisphere at every pixel of a ``side`` × ``side`` square Lambert grid."""
    from kikuchipy.signals.util._master_pattern import _lambert2vector

    grid = np.linspace(-1, 1, side)
    cols, rows = np.meshgrid(grid, grid)
    v = _lambert2vector(cols.ravel().astype(np.float64), rows.ravel().astype(np.float64))
    return (v / np.linalg.norm(v, axis=1)[:, None]).reshape(side, side, 3)


def family_normals(hkl) -> np.ndarray:
    """The distinct plane normals of a cubic family {hkl} (every permutation and sign, ± counted once), unit
    vectors (n, 3)."""
    import itertools

    normals = set()
    for perm in set(itertools.permutations(hkl)):
        for signs in itertools.product((1, -1), repeat=3):
            v = tuple(int(s * x) for s, x in zip(signs, perm, strict=True))
            first = next((x for x in v if x != 0), 0)
            normals.add(v if first > 0 else tuple(-x for x in v))
    out = np.array(sorted(normals), dtype=np.float64)
    return out / np.linalg.norm(out, axis=1)[:, None]


def band_template(
    side: int, normals: np.ndarray, half_widths_deg: np.ndarray, hemispheres: int = 1, weights: np.ndarray | None = None
) -> np.ndarray:
    """A square-Lambert image of ``side`` px holding uniform bands of the given plane normals and half-widths,
    as kinematical theory draws them: 1 inside any band and 0 outside, or, with ``weights`` (one per band, e.g.
    its |F|), the sum of the weights of the bands a pixel lies in; (side, side), or (2, side, side) with both
    hemispheres."""
    sphere = _lambert_sphere(int(side))
    sines = np.sin(np.radians(np.asarray(half_widths_deg, dtype=np.float64)))

    def draw(vectors):
        inside = np.abs(vectors.reshape(-1, 3) @ np.asarray(normals).T) < sines
        image = inside.any(axis=1) if weights is None else inside @ np.asarray(weights, dtype=np.float64)
        return image.reshape(side, side).astype(np.float64)

    upper = draw(sphere)
    return upper if hemispheres == 1 else np.stack([upper, draw(sphere * np.array([1.0, 1.0, -1.0]))])


def _reflectors(material: Material, energy: float, max_sum_of_squares: int, extinct_below: float) -> pd.DataFrame:
    """:func:`~ebsdlib.crystal.materials.reflection_table`'s rows of ``material`` with each family's spacing (Å)
    and Bragg angle (°) at ``energy`` kV."""
    table = reflection_table([material], max_sum_of_squares, extinct_below)
    d = float(material.lattice_parameter) / np.sqrt([h * h + k * k + l * l for h, k, l in table["hkl"]])
    return pd.DataFrame(
        {
            "family": table["hkl"],
            "name": table["family"],
            "d": d,
            "bragg_angle": np.degrees(np.arcsin(electron_wavelength(energy) / (2 * d))),
            "F": table["F"],
            "present": table["present"],
        }
    )


def separating_families(
    material: Material, reference: Material, energy: float = 20.0, max_sum_of_squares: int = 20, extinct_below: float = 1e-3
) -> pd.DataFrame:
    """The {hkl} families present in ``material`` and extinct in ``reference`` (kinematical |F|), whose great
    circle carries no band of the reference within the simulations' reflectors (d ≥ 0.7 Å): Ni3Al's {221} and
    {310} against Ni, not its {100}, which shares its circle with Ni's {200}.

    Returns
    -------
    pandas.DataFrame
        One row per family: ``family`` (tuple), ``name``, ``d`` (Å), ``bragg_angle`` (°), ``F`` (relative |F|
        in ``material``).
    """
    mine = _reflectors(material, energy, max_sum_of_squares, extinct_below)
    theirs = _reflectors(reference, energy, max_sum_of_squares, extinct_below).set_index("name")
    strongest = float(np.abs(structure_factors(reference, hkl_families(max_sum_of_squares))).max())
    keep = []
    for row in mine.itertuples():
        if not row.present or theirs.loc[row.name, "present"]:
            keep.append(False)
            continue
        primitive = np.asarray(row.family) // int(np.gcd.reduce(row.family))
        shares = False
        for n in range(1, 40):
            hkl = primitive * n
            spacing = float(reference.lattice_parameter) / np.sqrt(float(hkl @ hkl))
            if spacing < MIN_DSPACING:
                break
            if float(np.abs(structure_factors(reference, [hkl])[0])) >= extinct_below * strongest:
                shares = True
                break
        keep.append(not shares)
    return mine[np.asarray(keep, dtype=bool)].drop(columns="present").reset_index(drop=True)


def _standardised(mp: np.ndarray) -> np.ndarray:
    mp = np.asarray(mp, dtype=np.float64)
    return (mp - mp.mean()) / mp.std()


def superlattice_check(
    pairs,
    materials,
    simulators: tuple[str, ...] = ("kinematical", "dynamical"),
    energy: float = 20.0,
    half_size: int | None = None,
    n_null: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Whether each simulator's master pattern of a material carries the bands that separate it from a
    reference of another space group with nearly the same cell (:func:`ordering_pairs`).

    The difference of the two standardised master patterns (material minus reference; a cubic crystal's
    bands lie in the same directions whatever its cell) is correlated with an image of the separating bands
    (:func:`separating_families`, uniform, each 2θ_B wide). The same correlation with the band image turned
    by ``n_null`` random rotations says what chance gives; the bands are *seen* when the correlation's
    magnitude exceeds the largest magnitude of those (a weak reflection may draw a dark band in dynamical
    theory, so either sign counts).

    Parameters
    ----------
    pairs
        (material, reference) name pairs.
    materials
        The materials by name, or a list of them, holding every name in ``pairs``.
    simulators
        The master patterns checked (default both).
    energy
        Beam energy in kV (default 20).
    half_size
        Half the side of the master patterns in pixels; default ``None``: the dynamical one's (100), for
        both simulators, so that the two are checked at one resolution.
    n_null
        Random rotations of the band image (default 200).
    seed
        Seed of the rotations (default 0).

    Returns
    -------
    pandas.DataFrame
        One row per pair with separating families: ``material``, ``reference``, ``families``, ``F`` (their
        largest relative |F|), and per simulator ``r <simulator>`` (the correlation), ``chance <simulator>``
        (the largest magnitude of the turned images' correlations) and ``seen <simulator>``.
    """
    from scipy.spatial.transform import Rotation

    by_name = dict(materials) if isinstance(materials, dict) else {m.name: m for m in materials}
    size = int(half_size or DYNAMICAL_HALF_SIZE)
    side = 2 * size + 1
    rotations = Rotation.random(n_null, random_state=np.random.default_rng(seed)).as_matrix() if n_null else np.empty((0, 3, 3))
    rows = []
    for name, reference in pairs:
        material, ref = by_name[name], by_name[reference]
        families = separating_families(material, ref, energy)
        if families.empty:
            continue
        normals = np.concatenate([family_normals(f) for f in families["family"]])
        widths = np.concatenate(
            [[w] * len(family_normals(f)) for f, w in zip(families["family"], families["bragg_angle"], strict=True)]
        )
        row = {"material": name, "reference": reference, "families": ", ".join(families["name"]), "F": float(families["F"].max())}
        for simulator in simulators:
            first = np.asarray(master_pattern(material, energy, size, simulator=simulator).data, dtype=np.float64)
            second = np.asarray(master_pattern(ref, energy, size, simulator=simulator).data, dtype=np.float64)
            if first.shape != second.shape:  # one hemisphere against two: compare the upper ones
                first, second = first.reshape(-1, side, side)[0], second.reshape(-1, side, side)[0]
            difference = (_standardised(first) - _standardised(second)).ravel()
            hemispheres = 1 if difference.size == side * side else 2

            def r(template, difference=difference):
                return float(np.corrcoef(template.ravel(), difference)[0, 1])

            observed = r(band_template(side, normals, widths, hemispheres))
            chance = max((abs(r(band_template(side, normals @ rot.T, widths, hemispheres))) for rot in rotations), default=np.nan)
            row[f"r {simulator}"] = observed
            row[f"chance {simulator}"] = chance
            row[f"seen {simulator}"] = bool(abs(observed) > chance)
        rows.append(row)
    return pd.DataFrame(rows)


def ordering_pairs(materials, tolerance: float = PAIR_TOLERANCE) -> list[tuple[str, str]]:
    """Pairs (material, reference) of materials of different space groups whose lattice parameters differ by
    at most ``tolerance`` (relative): each material with its nearest such reference, where it has one. An
    ordered phase and its disordered parent pair up this way (Ni3Al and Ni, FeAl and Fe).

    Examples
    --------
    >>> from ebsdlib.crystal.materials import load_materials
    >>> m = load_materials()
    >>> ordering_pairs([m["Ni3Al"], m["Ni"], m["FeAl"], m["Fe"], m["Si"], m["Ge"]])
    [('Ni3Al', 'Ni'), ('Ni', 'Ni3Al'), ('FeAl', 'Fe'), ('Fe', 'FeAl')]
    """
    materials = list(materials)
    pairs = []
    for m in materials:
        others = [o for o in materials if o.space_group != m.space_group]
        if not others:
            continue
        nearest = min(others, key=lambda o: abs(o.lattice_parameter - m.lattice_parameter))
        if abs(nearest.lattice_parameter - m.lattice_parameter) <= tolerance * m.lattice_parameter:
            pairs.append((m.name, nearest.name))
    return pairs


def physics_datasets(counts: SplitCounts, detector: Detector, seed: int = 0, materials=None) -> dict[str, PatternDataset]:
    """The book's data set simulated with each physics, patterns paired: the same orientations, pattern
    centres and noise (the same seed), kinematical or dynamical master patterns.

    Parameters
    ----------
    counts
        Patterns per split (:class:`~ebsdlib.datasets.container.SplitCounts`), of both simulators.
    detector
        The detector; its geometry's simulator is replaced, and its master-pattern size kept where set, else
        each simulator's own (:attr:`~ebsdlib.simulation.patterns.DetectorGeometry.half_size`).
    seed
        Seed of the patterns and split (default 0).
    materials
        The materials (default ``None``: the 18 training materials).

    Returns
    -------
    dict[str, PatternDataset]
        ``"kinematical"`` and ``"dynamical"`` (every split), and ``"both"``: the training and validation
        patterns of the two together, with the kinematical test split (a model trained on both is tested on
        every test set anyway).
    """
    if materials is not None and len({m.space_group for m in materials}) < 2:
        raise ValueError(
            f"physics_datasets: the materials {[m.name for m in materials]} span fewer than two space groups, nothing to "
            "classify; `make master-patterns` writes the dynamical master patterns of all 20 materials"
        )
    out = {}
    for simulator in ("kinematical", "dynamical"):
        geometry = replace(detector.geometry, simulator=simulator)
        out[simulator] = simulate_dataset(counts, replace(detector, geometry=geometry), seed, materials)
    dynamical_fit = out["dynamical"].table["split"].isin(["train", "validation"]).to_numpy()
    out["both"] = merge_datasets(out["kinematical"], out["dynamical"].subset(dynamical_fit))
    return out


def physics_tests(
    data: dict[str, PatternDataset], sources: dict[str, PatternDataset], detector: Detector, map_settings: dict, seed: int = 0
) -> tuple[dict[str, tuple[str, PatternDataset]], list[Material]]:
    """What every training physics is tested on: both simulators' test splits, the other pattern sources, and the
    dual-phase map simulated dynamically where its phases' dynamical master patterns are at hand
    (:func:`dynamical_available`: a build never starts computing one).

    Parameters
    ----------
    data
        :func:`physics_datasets`' data sets (``"kinematical"`` and ``"dynamical"`` hold the test splits).
    sources
        The other pattern sources by name (:func:`ebsdlib.simulation.pattern_sources.other_pattern_sources`).
    detector
        The book's detector; the map is recorded through it with dynamical master patterns.
    map_settings
        ``map_shape``, ``n_grains`` and ``precipitate_fraction`` of the map (a profile's shared settings).
    seed
        Seed of the map (default 0).

    Returns
    -------
    tests, missing
        :func:`physics_comparison`'s tests (name → (kind, data)), and the map's phases without a dynamical
        master pattern at hand (empty when the map is among the tests).
    """
    from ebsdlib.crystal.materials import dual_phase_materials
    from ebsdlib.simulation.sample import simulate_dual_phase_map

    tests = {
        "kinematical test split": ("test split", data["kinematical"]),
        "dynamical test split": ("test split", data["dynamical"]),
        **{name: ("other source", source) for name, source in sources.items()},
    }
    missing = dynamical_available(dual_phase_materials())[1]
    if not missing:
        dynamical = replace(detector, geometry=replace(detector.geometry, simulator="dynamical"))
        shape, grains, fraction = (map_settings[k] for k in ("map_shape", "n_grains", "precipitate_fraction"))
        _, scan = simulate_dual_phase_map(shape, grains, fraction, dynamical, seed)
        tests["dual-phase map (dynamical)"] = ("map", scan)
    return tests, missing


def _scores(predictions: pd.DataFrame, kind: str, truth: np.ndarray | None = None) -> dict:
    answers = answers_table(predictions)
    row = {
        "patterns": len(predictions),
        "accuracy": float((predictions["true_space_group"] == predictions["predicted_space_group"]).mean()),
        "most_predicted": f"{int(answers.idxmax())} ({100 * answers.max():.0f} %)",
    }
    if kind == "test split":
        row.update({k: v for k, v in weighted_scores(predictions).items() if k != "accuracy"})
    if kind == "map":
        ordered = predictions.sort_values("pattern_id")["predicted_space_group"].to_numpy()
        scores = map_scores(np.asarray(truth).ravel(), ordered)
        row.update({k: scores[k] for k in ("accuracy", "balanced accuracy", "Ni(Al) recall", "Ni3Al recall")})
    return row


def physics_comparison(
    datasets: dict[str, PatternDataset],
    per_space_group: int,
    image_size: int,
    config,
    source,
    tests: dict[str, tuple[str, PatternDataset]],
    *,
    approach: str = "transfer",
    trials: int = 2,
    seed: int = 0,
    progress=None,
) -> pd.DataFrame:
    """Train ``approach`` on each physics' data (``per_space_group`` training patterns per space group, drawn
    as :func:`~ebsdlib.studies.fewshot.subsample_training` does, so "both" mixes the simulators about half and
    half) for ``trials`` trials, and score every model on every test.

    Parameters
    ----------
    datasets
        :func:`physics_datasets`' data sets by physics.
    per_space_group, image_size, config, source
        The protocol (training patterns per space group, input side, :class:`~ebsdlib.learn.training.TrainingConfig`,
        pretrained source of the transfer model).
    tests
        By name: ``(kind, data set)``, ``kind`` one of ``"test split"`` (its ``test`` split; class-weighted
        precision and recall as Table 1), ``"other source"`` (its ``test`` split; accuracy and the most
        frequent answer) or ``"map"`` (every pattern, in map order, scored against its ``space_group``
        column with :func:`~ebsdlib.mapping.hough.map_scores`).
    approach
        ``"transfer"`` (default) or ``"scratch"``.
    trials
        Trials per physics (default 2; at least 2, so that a spread is measured).
    seed
        Seed of the subsets, the models and the predictions (default 0).
    progress
        Called with a line per trained model, or ``None``.

    Returns
    -------
    pandas.DataFrame
        One row per physics, trial and test: ``physics``, ``trial``, ``epochs``, ``test``, ``kind``,
        ``patterns``, ``accuracy``, ``most_predicted``, and where they apply ``precision``, ``recall``,
        ``balanced accuracy``, ``Ni(Al) recall``, ``Ni3Al recall``.
    """
    if trials < 2:
        raise ValueError(f"physics_comparison: trials must be at least 2 to measure a spread, got {trials}")
    unknown = {name: kind for name, (kind, _) in tests.items() if kind not in ("test split", "other source", "map")}
    if unknown:
        raise ValueError(f"physics_comparison: unknown test kinds {unknown}; use 'test split', 'other source' or 'map'")
    rows = []
    for physics in PHYSICS:
        if physics not in datasets:
            raise ValueError(f"physics_comparison: no data set for {physics!r}; give physics_datasets' three")
        for trial in range(trials):
            subset = subsample_training(datasets[physics], per_space_group, seed * 1000 + trial)
            result = train_trial(approach, subset, image_size, config, source, trial=trial, seed=seed)
            if progress:
                progress(f"{physics}, trial {trial}: {len(result.history)} epochs")
            for name, (kind, test) in tests.items():
                predictions = predict_trial(result, test, None if kind == "map" else "test", seed)
                truth = test.table["space_group"].to_numpy() if kind == "map" else None
                rows.append(
                    {
                        "physics": physics,
                        "trial": trial,
                        "epochs": len(result.history),
                        "test": name,
                        "kind": kind,
                        **_scores(predictions, kind, truth),
                    }
                )
    return pd.DataFrame(rows)


def physics_summary(rows: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Mean and spread over trials of ``metric`` per test (rows) and training physics (columns).

    The spread is the largest distance of a trial from the mean (half the range for two trials), so that
    every trial lies within mean ± spread.

    Returns
    -------
    pandas.DataFrame
        Indexed by test, with ``patterns`` and, per physics, ``<physics>`` (mean), ``<physics> ±`` (spread)
        and ``<physics> trials``; tests without ``metric`` are left out.
    """
    rows = rows.dropna(subset=[metric])
    grouped = rows.groupby(["test", "physics"], sort=False)[metric]
    mean, count = grouped.mean(), grouped.size()
    spread = (
        rows.assign(_distance=(rows[metric] - grouped.transform("mean")).abs())
        .groupby(["test", "physics"], sort=False)["_distance"]
        .max()
    )
    table = pd.DataFrame(index=pd.Index(list(dict.fromkeys(rows["test"])), name="test"))
    table["patterns"] = rows.groupby("test")["patterns"].first()
    for physics in [p for p in PHYSICS if p in set(rows["physics"])]:
        table[physics] = mean.xs(physics, level="physics")
        table[f"{physics} ±"] = spread.xs(physics, level="physics")
        table[f"{physics} trials"] = count.xs(physics, level="physics")
    return table


def listed(names) -> str:
    """``names`` sorted and listed as prose: ``"Al4CoNi2"``, ``"Al4CoNi2 and Al4Ni3"``, ``"A, B and C"``."""
    names = sorted(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def settings_label(names: list[str]) -> str:
    """The name :func:`nickel_against_emsoft` gives Ni computed at the dynamical settings of the materials ``names``:
    ``"ebsdsim at Al4CoNi2 and Al4Ni3's settings"`` (names sorted, whatever their order)."""
    return f"ebsdsim at {listed(names)}'s settings"


def nickel_against_emsoft(half_size: int = DYNAMICAL_HALF_SIZE, energy: float = 20.0) -> tuple[dict[str, np.ndarray], pd.Series]:
    """Ni's master patterns from both simulators beside EMsoft's dynamical one (kikuchipy's
    ``nickel_ebsd_master_pattern_small``, 20 kV, offline), on one grid of ``half_size``, and the Pearson
    correlation of each with EMsoft's. Ni is also computed at every other setting some material's master pattern
    is computed with (:data:`~ebsdlib.simulation.dynamical_settings.MATERIAL_SETTINGS`), so that what those settings cost
    is measured against EMsoft too (seconds on a CPU, cached; left out where ebsdsim finds no WebGPU adapter).

    Returns
    -------
    images
        ``"EMsoft (dynamical)"``, ``"ebsdsim (dynamical)"``, ``settings_label(materials)`` (one per
        other setting) and ``"kikuchipy (kinematical)"``: upper hemispheres, (2·half_size + 1)², EMsoft's
        resampled (bilinear) onto that grid.
    correlations
        Pearson r of each simulator's pattern with EMsoft's, by the same names.
    """
    from ebsdlib.crystal.materials import load_materials
    from ebsdlib.simulation.dynamical import (
        MATERIAL_SETTINGS,
        DynamicalUnavailable,
        _computed_with,
        dynamical_master_pattern_array,
    )
    from ebsdlib.simulation.pattern_sources import _kikuchipy

    kp = _kikuchipy()
    emsoft = np.asarray(kp.data.nickel_ebsd_master_pattern_small(projection="lambert", hemisphere="upper").data, dtype=np.float64)
    side = 2 * int(half_size) + 1
    grid = np.linspace(0, emsoft.shape[-1] - 1, side)
    rows, cols = np.meshgrid(grid, grid, indexing="ij")
    from scipy.ndimage import map_coordinates

    ni = load_materials()["Ni"]
    images = {
        "EMsoft (dynamical)": map_coordinates(emsoft, [rows, cols], order=1),
        "ebsdsim (dynamical)": np.asarray(
            master_pattern(ni, energy, int(half_size), simulator="dynamical").data, dtype=np.float64
        ),
    }
    others: dict = {}
    for name, settings in MATERIAL_SETTINGS.items():
        others.setdefault(settings, []).append(name)
    for settings, names in others.items():
        args, kwargs = _computed_with(ni, energy, half_size, settings)
        try:
            computed = dynamical_master_pattern_array(*args, **kwargs)
        except DynamicalUnavailable:
            continue  # no WebGPU adapter here: not measured, which the chapter's sentence says
        images[settings_label(names)] = np.asarray(computed, dtype=np.float64)
    images["kikuchipy (kinematical)"] = np.asarray(master_pattern(ni, energy, int(half_size)).data, dtype=np.float64)
    reference = images["EMsoft (dynamical)"].ravel()
    correlations = pd.Series(
        {
            name: float(np.corrcoef(image.ravel(), reference)[0, 1])
            for name, image in images.items()
            if not name.startswith("EMsoft")
        },
        name="Pearson r with EMsoft",
    )
    return images, correlations


def physics_table(rows: pd.DataFrame) -> pd.DataFrame:
    """:func:`physics_comparison`'s rows as the chapter shows them: per test the score that suits its kind
    (class-weighted precision and recall on a test split, accuracy on another source, accuracy and balanced
    accuracy on a map), "mean ± spread" per training physics over its trials (:func:`physics_summary`).

    Returns
    -------
    pandas.DataFrame
        Indexed by (test, score), with ``patterns`` and one column of strings per physics.
    """
    metrics = {"test split": ["precision", "recall"], "other source": ["accuracy"], "map": ["accuracy", "balanced accuracy"]}
    parts = []
    for kind, names in metrics.items():
        kind_rows = rows[rows["kind"] == kind]
        if kind_rows.empty:
            continue
        for metric in names:
            summary = physics_summary(kind_rows, metric)
            shown = pd.DataFrame(index=summary.index)
            shown["patterns"] = summary["patterns"].astype(int)
            for physics in [p for p in PHYSICS if p in summary.columns]:
                shown[physics] = [f"{m:.3f} ± {s:.3f}" for m, s in zip(summary[physics], summary[f"{physics} ±"], strict=True)]
            shown.insert(0, "score", metric)
            parts.append(shown.reset_index())
    table = pd.concat(parts, ignore_index=True)
    order = list(dict.fromkeys(rows["test"]))
    table["_order"] = table["test"].map(order.index)
    return table.sort_values(["_order"], kind="stable").drop(columns="_order").set_index(["test", "score"])


def dynamical_available(materials, energy: float = 20.0, half_size: int = DYNAMICAL_HALF_SIZE) -> tuple[list, list]:
    """The materials whose dynamical master pattern is at hand (shipped with the package, or in the cache) and
    those whose would be computed (hours on a CPU for a large cell): a chapter runs on the first and names the
    second, so that a build never starts an unplanned ebsdsim run.

    Returns
    -------
    available, missing
        Two lists of the given materials, in their order.
    """
    from ebsdlib.simulation.dynamical import dynamical_at_hand

    available, missing = [], []
    for m in materials:  # a damaged shipped file raises, naming the command that writes it again
        (available if dynamical_at_hand(m, float(energy), int(half_size)) else missing).append(m)
    return available, missing
