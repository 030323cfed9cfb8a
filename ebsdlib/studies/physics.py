"""The physics of the training patterns: kinematical against dynamical master patterns.

Two questions, one module:

Do the dynamical master patterns carry the reflections kinematical theory puts there? (:func:`reflection_visibility`, :func:`ordering_pairs`, :func:`separating_reflections`, :func:`extinct_bands`)
    For a family {hkl} of a cubic crystal, the Kikuchi band lies along the great circle normal to
    (h, k, l), 2θ_B wide, on the same centre line as its other orders (2h 2k 2l, ...), which differ in width.
    Its contrast (:func:`band_contrast`) is its own intensity in a fit of the profile across the circle by one
    band per order, in units of the master pattern's standard deviation. The fit is not exact (kikuchipy draws
    its kinematical master pattern in the stereographic projection and resamples it), so a contrast is judged
    against a reference: the same family in a material of another space group with nearly the same cell
    (Ni3Al against Ni, FeAl against Fe: the reflections that separate the pair are the families present in
    one and extinct in the other, and the fit's error, alike for both, cancels in the difference); and a
    family extinct in kinematical theory against the largest contrast the fit gives extinct families in the
    kinematical master pattern of the same material, where no band is drawn.

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

from ebsdlib.crystal.materials import Material, hkl_families, structure_factors
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
    "SEEN_STANDARD_ERRORS",
    "electron_wavelength",
    "band_contrast",
    "reflection_visibility",
    "ordering_pairs",
    "separating_reflections",
    "extinct_bands",
    "physics_datasets",
    "physics_comparison",
    "physics_summary",
]

#: The training physics compared: each simulator alone and both together.
PHYSICS = ("kinematical", "dynamical", "both")

#: Two materials of different space groups pair up when their lattice parameters differ by at most this share.
PAIR_TOLERANCE = 0.03

#: The separating reflections of a pair are seen when their mean contrast difference exceeds this many
#: standard errors (over the separating families).
SEEN_STANDARD_ERRORS = 3.0

#: Smallest interplanar spacing of the reflectors both simulators include, in Å.
MIN_DSPACING = 0.7

_SAMPLES_PER_CIRCLE = 360


def electron_wavelength(kv: float) -> float:
    """Relativistic electron wavelength in Å at ``kv`` kilovolts (0.0859 Å at 20 kV)."""
    h, m, e, c = 6.62607015e-34, 9.1093837015e-31, 1.602176634e-19, 2.99792458e8
    volts = 1e3 * float(kv)
    return float(h / np.sqrt(2 * m * e * volts * (1 + e * volts / (2 * m * c**2))) * 1e10)


def _sample(mp: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Intensities of a square-Lambert master pattern at unit ``vectors`` (n, 3), bilinear; the upper
    hemisphere for z ≥ 0, the lower one (or, for one hemisphere, Friedel's −v) for z < 0."""
    from kikuchipy.signals.util._master_pattern import _vector2lambert
    from scipy.ndimage import map_coordinates

    v = np.asarray(vectors, dtype=np.float64)
    lower = v[:, 2] < 0
    if mp.ndim == 2:
        v = np.where(lower[:, None], -v, v)
    xy = _vector2lambert(np.ascontiguousarray(v)) / np.sqrt(np.pi / 2)  # [-1, 1]
    half = (mp.shape[-1] - 1) / 2
    rows, cols = half * (xy[:, 1] + 1), half * (xy[:, 0] + 1)
    if mp.ndim == 2:
        return map_coordinates(mp, [rows, cols], order=1, mode="nearest")
    out = np.empty(len(v))
    for index, part in ((0, ~lower), (1, lower)):
        out[part] = map_coordinates(mp[index], [rows[part], cols[part]], order=1, mode="nearest")
    return out


def _circle_profile(mp: np.ndarray, normal: np.ndarray, offsets_deg: np.ndarray) -> np.ndarray:
    """Mean intensity along the small circles at ``offsets_deg`` from the great circle normal to ``normal``."""
    n = np.asarray(normal, dtype=np.float64) / np.linalg.norm(normal)
    helper = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(n, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    t = np.linspace(0, 2 * np.pi, _SAMPLES_PER_CIRCLE, endpoint=False)
    circle = np.cos(t)[:, None] * e1 + np.sin(t)[:, None] * e2
    phi = np.radians(np.asarray(offsets_deg, dtype=np.float64))
    points = np.cos(phi)[:, None, None] * circle[None] + np.sin(phi)[:, None, None] * n[None, None]
    return _sample(mp, points.reshape(-1, 3)).reshape(len(phi), -1).mean(axis=1)


@functools.lru_cache(maxsize=4)
def _lambert_sphere(side: int) -> np.ndarray:
    """Unit vectors of the upper hemisphere at every pixel of a ``side`` × ``side`` square Lambert grid."""
    from kikuchipy.signals.util._master_pattern import _lambert2vector

    grid = np.linspace(-1, 1, side)
    cols, rows = np.meshgrid(grid, grid)
    v = _lambert2vector(cols.ravel().astype(np.float64), rows.ravel().astype(np.float64))
    return (v / np.linalg.norm(v, axis=1)[:, None]).reshape(side, side, 3)


def _band_image(mp: np.ndarray, normal: np.ndarray, half_width_deg: float) -> np.ndarray:
    """A master pattern of ``mp``'s shape holding one uniform band (1 within ``half_width_deg`` of the great
    circle normal to ``normal``, 0 elsewhere), drawn on the same pixels."""
    sphere = _lambert_sphere(mp.shape[-1])
    n = np.asarray(normal, dtype=np.float64) / np.linalg.norm(normal)
    limit = np.sin(np.radians(half_width_deg))
    upper = (np.abs(sphere @ n) < limit).astype(np.float64)
    if mp.ndim == 2:
        return upper
    lower = (np.abs(sphere * np.array([1.0, 1.0, -1.0]) @ n) < limit).astype(np.float64)
    return np.stack([upper, lower])


def band_contrast(mp: np.ndarray, normal, bragg_angle_deg: float, other_orders=()) -> float:
    """Intensity of one band in master pattern ``mp``, told apart from the other orders on its great circle.

    The bands of (h k l) and of its orders (2h 2k 2l, ...; and (h k l)/n where whole) share one centre line
    and differ in width (their Bragg angles). The mean intensity across the great circle normal to
    ``normal`` (averaged along the whole circle, so that crossing bands add about a constant) is fitted by
    least squares with a constant and one uniform band per order, as kinematical theory draws them, each
    drawn on ``mp``'s own pixels and read back the same way (so that the fit knows the pixels' blur); the
    band's own coefficient is returned.

    Parameters
    ----------
    mp
        A master pattern in the square Lambert projection: (n, n), one hemisphere of a centrosymmetric
        crystal, or (2, n, n), upper and lower.
    normal
        The band's plane normal in the crystal's Cartesian frame, (h k l) for a cubic crystal.
    bragg_angle_deg
        The band's Bragg angle θ_B in degrees: the band is 2θ_B wide.
    other_orders
        Bragg angles in degrees of the other orders on the same great circle that the simulation includes.

    Returns
    -------
    float
        The band's intensity above its surroundings in units of the master pattern's standard deviation:
        positive for a bright band.
    """
    normal = np.asarray(normal, dtype=np.float64)
    widths = [float(bragg_angle_deg), *map(float, other_orders)]
    reach = max(widths) + 2.5
    offsets = np.linspace(-reach, reach, int(np.ceil(2 * reach / 0.2)) + 1)
    profile = _circle_profile(mp, normal, offsets)
    design = np.stack(
        [np.ones_like(offsets)] + [_circle_profile(_band_image(mp, normal, w), normal, offsets) for w in widths], axis=1
    )
    coefficients, *_ = np.linalg.lstsq(design, profile, rcond=None)
    return float(coefficients[1] / np.std(mp))


def reflection_visibility(
    material: Material,
    energy: float = 20.0,
    max_sum_of_squares: int = 12,
    extinct_below: float = 1e-3,
    simulators: tuple[str, ...] = ("kinematical", "dynamical"),
    half_size: int | None = None,
) -> pd.DataFrame:
    """For every {hkl} family of ``material`` up to h²+k²+l² = ``max_sum_of_squares``: its kinematical |F|
    and its band's contrast (:func:`band_contrast`) in each simulator's master pattern.

    Parameters
    ----------
    material
        A cubic crystal (every material of ``materials.yml`` is).
    energy
        Beam energy in kV of the master patterns and the Bragg angles (default 20).
    max_sum_of_squares
        Largest h²+k²+l² of the families checked (default 12: {100} to {222}).
    extinct_below
        A family with |F| below this share of the strongest listed family's is extinct (default 1e-3).
    simulators
        The master patterns compared (default both); each is the book's (cached, or the shipped dynamical one).
    half_size
        Half the side of the master patterns in pixels; default ``None``: the dynamical one's (100), for
        both, so that the two are compared at one resolution.

    Returns
    -------
    pandas.DataFrame
        One row per family: ``material``, ``space_group``, ``family``, ``d`` (Å), ``bragg_angle`` (°), ``F``
        (relative |F|), ``present`` (kinematical theory), and ``contrast_<simulator>`` per simulator.
    """
    families = hkl_families(max_sum_of_squares)
    F = structure_factors(material, families)
    F = F / F.max()
    a = float(material.lattice_parameter)
    wavelength = electron_wavelength(energy)
    d = a / np.sqrt([h * h + k * k + l * l for h, k, l in families])
    theta = np.degrees(np.arcsin(wavelength / (2 * d)))
    table = pd.DataFrame(
        {
            "material": material.name,
            "space_group": material.space_group,
            "family": ["{" + "".join(map(str, f)) + "}" for f in families],
            "d": d,
            "bragg_angle": theta,
            "F": F,
            "present": extinct_below <= F,
        }
    )
    # the other orders on each family's great circle, lower and higher, that both simulators include (d ≥ 0.7 Å)
    orders = []
    for family, spacing in zip(families, d, strict=True):
        step = int(np.gcd.reduce(family))  # the family is order `step` of (h k l)/step
        first = spacing * step
        orders.append(
            [
                float(np.degrees(np.arcsin(wavelength * n / (2 * first))))
                for n in range(1, 40)
                if n != step and first / n >= MIN_DSPACING
            ]
        )
    size = int(half_size or DYNAMICAL_HALF_SIZE)
    for simulator in simulators:
        mp = np.asarray(master_pattern(material, energy=energy, half_size=size, simulator=simulator).data, dtype=np.float64)
        table[f"contrast_{simulator}"] = [
            band_contrast(mp, family, angle, higher) for family, angle, higher in zip(families, theta, orders, strict=True)
        ]
    return table


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


def separating_reflections(table: pd.DataFrame, pairs, simulators=("kinematical", "dynamical")) -> pd.DataFrame:
    """For each pair (material, reference), the families present in the material and extinct in the reference
    (by kinematical |F|), and per simulator the mean difference of their contrasts (material minus reference),
    its standard error over the families and whether the bands are seen (mean above
    :data:`SEEN_STANDARD_ERRORS` standard errors; two families at least).

    Parameters
    ----------
    table
        :func:`reflection_visibility`'s rows of every material named in ``pairs``.
    pairs
        (material, reference) name pairs (:func:`ordering_pairs`).

    Returns
    -------
    pandas.DataFrame
        One row per pair with separating families: ``material``, ``reference``, ``families``, ``F`` (their
        largest relative |F| in the material) and per simulator ``<simulator>`` (mean difference),
        ``<simulator> ±`` (standard error) and ``<simulator> seen``.
    """
    by_material = {name: rows.set_index("family") for name, rows in table.groupby("material")}
    out = []
    for name, reference in pairs:
        mine, theirs = by_material[name], by_material[reference]
        common = mine.index.intersection(theirs.index)
        separating = [f for f in common if mine.loc[f, "present"] and not theirs.loc[f, "present"]]
        if not separating:
            continue
        row = {
            "material": name,
            "reference": reference,
            "families": ", ".join(separating),
            "F": float(mine.loc[separating, "F"].max()),
        }
        for simulator in simulators:
            difference = (
                mine.loc[separating, f"contrast_{simulator}"] - theirs.loc[separating, f"contrast_{simulator}"]
            ).to_numpy()
            mean = float(difference.mean())
            error = float(difference.std(ddof=1) / np.sqrt(len(difference))) if len(difference) > 1 else np.nan
            row[simulator] = mean
            row[f"{simulator} ±"] = error
            row[f"{simulator} seen"] = bool(len(difference) > 1 and mean > SEEN_STANDARD_ERRORS * error)
        out.append(row)
    return pd.DataFrame(out)


def extinct_bands(table: pd.DataFrame, simulator: str = "dynamical") -> pd.DataFrame:
    """The families kinematical theory calls extinct, per material, with ``simulator``'s contrast beside the
    level the fit reaches on extinct families where no band is drawn (the largest kinematical contrast of the
    material's extinct families); a band above that level is one the other simulator shows and kinematical
    theory does not (Si's {200} by double diffraction, for example).

    Returns
    -------
    pandas.DataFrame
        One row per extinct family: ``material``, ``space_group``, ``family``, ``kinematical``, ``<simulator>``,
        ``level`` and ``band`` (``<simulator>`` above ``level``).
    """
    rows = table[~table["present"]].copy()
    level = rows.groupby("material")["contrast_kinematical"].transform(lambda c: c.abs().max())
    out = rows[["material", "space_group", "family"]].copy()
    out["kinematical"] = rows["contrast_kinematical"]
    out[simulator] = rows[f"contrast_{simulator}"]
    out["level"] = level
    out["band"] = out[simulator] > out["level"]
    return out.reset_index(drop=True)


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
    out = {}
    for simulator in ("kinematical", "dynamical"):
        geometry = replace(detector.geometry, simulator=simulator)
        out[simulator] = simulate_dataset(counts, replace(detector, geometry=geometry), seed, materials)
    dynamical_fit = out["dynamical"].table["split"].isin(["train", "validation"]).to_numpy()
    out["both"] = merge_datasets(out["kinematical"], out["dynamical"].subset(dynamical_fit))
    return out


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
