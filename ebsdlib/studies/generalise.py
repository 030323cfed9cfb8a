"""Generalisation beyond the training materials: phase-disjoint tests and training on generated phases.

The paper tests on new patterns of the materials it trained on. A user with a new alloy needs the
accuracy on a material the classifier never saw; this module measures it two ways.

Leave-one-material-out (:func:`material_folds`, :func:`leave_one_out`)
    The materials of every space group that has two or more are dealt by name to the folds in turn, so
    every fold still trains all six groups and every such material is held out exactly once (with five
    folds, one material of each group per fold; with fewer, more of a group at once). The
    fold's training set is simulated from the remaining materials with the same patterns per space
    group as the paper's protocol; the held-out materials are tested on patterns of their own.

Generated phases (:func:`generated_materials`, :func:`generated_dataset`)
    Training on phases made by :mod:`ebsdlib.simulation.phases` (none of the paper's materials), tested on the
    paper's 18 materials: a split where no phase is in both training and test.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace

import numpy as np
import pandas as pd

from ebsdlib.crystal.materials import SPACE_GROUPS, Material, materials_by_space_group, training_materials
from ebsdlib.datasets.container import PatternDataset, SplitCounts
from ebsdlib.evaluate.metrics import per_material_accuracy, predict_trial
from ebsdlib.learn.training import TrainingConfig, train_trial
from ebsdlib.mapping.hough import map_scores
from ebsdlib.simulation.datasets import simulate_dataset
from ebsdlib.simulation.patterns import Detector, detector_master_pattern, simulate_patterns
from ebsdlib.simulation.phases import generate_phases
from ebsdlib.simulation.randomise import as_canonical
from ebsdlib.studies.fewshot import subsample_training

__all__ = [
    "material_folds",
    "most_held_out_per_group",
    "fold_datasets",
    "leave_one_out",
    "generated_materials",
    "generated_dataset",
    "merge_datasets",
    "rejection_table",
    "accuracy_by_material",
    "regime_summary",
    "answers_table",
    "phase_disjoint_datasets",
    "SEEN_BY_FOLD_MODELS",
    "lomo_regimes",
    "left_out_against_seen",
    "phase_examples",
    "acquisition_table",
    "map_comparison",
]

log = logging.getLogger(__name__)


def material_folds(
    materials: list[Material] | None = None, held_out: list[str] | None = None, n_folds: int | None = None
) -> list[tuple[Material, ...]]:
    """Folds of held-out materials, each fold keeping at least one material of every space group.

    The materials of every space group with two or more materials are sorted by name; the ``i``-th goes
    to fold ``i mod n_folds``. With ``n_folds`` unset (or at least the largest group's size) fold ``k``
    holds out the ``k``-th material of every such group: leave one material of each group out. With
    fewer folds each fold holds out more materials of a group at once, so fewer models test every
    material while it is unseen, each trained on fewer materials (the harder test).

    ``held_out`` restricts the folds to those material names (a smaller budget; the ``i``-th named
    material of a group goes to fold ``i``); each named material must belong to a group with another
    material to train on.

    Examples
    --------
    >>> [sorted(m.name for m in fold) for fold in material_folds(held_out=["Ni", "Al", "Fe"])]
    [['Al', 'Fe'], ['Ni']]
    >>> len(material_folds()), len(material_folds(n_folds=2))
    (5, 2)
    """
    materials = training_materials() if materials is None else list(materials)
    groups = {sg: sorted(ms, key=lambda m: m.name) for sg, ms in materials_by_space_group(materials).items()}
    eligible = {sg: ms for sg, ms in groups.items() if len(ms) >= 2}
    if n_folds is not None and (isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 2):
        raise ValueError(
            f"n_folds must be a whole number of at least 2 (or unset for one fold per material "
            f"of the largest group), not {n_folds!r}."
        )
    if held_out is not None:
        names = {m.name: m for m in materials}
        unknown = [n for n in held_out if n not in names]
        if unknown:
            raise ValueError(f"unknown material(s) {unknown}; choose from {sorted(names)}.")
        alone = [n for n in held_out if names[n].space_group not in eligible]
        if alone:
            raise ValueError(f"{alone} cannot be held out: no other material of its space group would be left to train on.")
        eligible = {sg: [m for m in ms if m.name in held_out] for sg, ms in eligible.items()}
        eligible = {sg: ms for sg, ms in eligible.items() if ms}
    if not eligible:
        return []
    largest = max(len(ms) for ms in eligible.values())
    n = largest if n_folds is None else min(n_folds, largest)
    return [tuple(m for ms in eligible.values() for i, m in enumerate(ms) if i % n == k) for k in range(n)]


def most_held_out_per_group(folds: list[tuple[Material, ...]]) -> int:
    """The most materials of one space group that any fold holds out at once (0 without folds)."""
    return max((max(Counter(m.space_group for m in fold).values()) for fold in folds if fold), default=0)


def fold_datasets(
    fold: tuple[Material, ...],
    counts: SplitCounts,
    detector: Detector = Detector(),
    seed: int = 0,
    materials: list[Material] | None = None,
) -> tuple[PatternDataset, PatternDataset]:
    """(training data without the fold's materials, test patterns of the fold's materials), both
    simulated and cached like chapter 1's data set; ``counts`` gives the training and validation patterns
    per space group of the first and the test patterns per material of the second."""
    materials = training_materials() if materials is None else list(materials)
    held = {m.name for m in fold}
    rest = [m for m in materials if m.name not in held]
    missing = set(SPACE_GROUPS) - {m.space_group for m in rest}
    if missing:
        raise ValueError(f"holding out {sorted(held)} leaves no material of space group(s) {sorted(missing)}.")
    train = simulate_dataset(replace(counts, test_per_material=0), detector, seed, materials=rest)
    test = simulate_dataset(SplitCounts(0, 0, counts.test_per_material), detector, seed, materials=list(fold))
    return train, test


def leave_one_out(
    approach: str,
    folds: list[tuple[Material, ...]],
    counts: SplitCounts,
    image_size: int,
    config: TrainingConfig,
    source=None,
    *,
    detector: Detector = Detector(),
    seed: int = 0,
    progress=log.info,
) -> pd.DataFrame:
    """Accuracy of each fold's model (trained without the fold's materials; one model per fold, cached) on
    the materials it never saw and on new test patterns of the materials it trained on.

    Comparing the two within the same models is the fair test of what leaving a material out costs:
    another model (trained on every material) would differ in more than the held-out material.

    Parameters
    ----------
    approach
        ``"scratch"`` or ``"transfer"``.
    folds
        The folds of held-out materials (:func:`material_folds`); one model is trained per fold, on the
        paper's training materials without the fold's.
    counts
        Training and validation patterns per space group of each fold's training set, divided evenly over the
        materials left in the group, and test patterns per material, both of the fold's materials and (new
        patterns, simulated with ``seed + 1``) of the materials the fold's model trained on
        (:class:`~ebsdlib.datasets.container.SplitCounts`).
    image_size
        Side in pixels of the models' input (at least 71).
    config
        The optimiser and stopping rule (:class:`~ebsdlib.learn.training.TrainingConfig`).
    source
        The transfer model's pretrained source with its weights file; needed for ``"transfer"``, unused for
        ``"scratch"`` (default ``None``).
    detector
        The simulated detector, geometry and detector model (:class:`~ebsdlib.simulation.patterns.Detector`);
        default ``Detector()``, the book's.
    seed
        Seed of the simulated patterns and splits, of the models (trial 0 of this seed) and of the order of
        classification (default 0).
    progress
        Called with one line before each fold is trained (default ``print``; ``None``: quiet).

    Returns
    -------
    pandas.DataFrame
        One row per fold and material: ``material``, ``space_group``, ``accuracy``, ``patterns``, the space
        group it answered most often (``most_predicted``), ``fold`` (from 0), ``approach`` and ``held_out``
        (``True`` for the fold's own materials, ``False`` for those its model trained on).
    """
    rows = []
    everything = training_materials()
    for k, fold in enumerate(folds):
        if progress:
            progress(f"leave-one-material-out: {approach}, fold {k + 1}/{len(folds)} without {', '.join(m.name for m in fold)}")
        train, test = fold_datasets(fold, counts, detector, seed)
        held = {m.name for m in fold}
        seen = simulate_dataset(
            SplitCounts(0, 0, counts.test_per_material),
            detector,
            seed + 1,
            materials=[m for m in everything if m.name not in held],
        )
        result = train_trial(approach, train, image_size, config, source, trial=0, seed=seed)
        for patterns, held_out in ((test, True), (seen, False)):
            predictions = predict_trial(result, patterns, "test", seed)
            table = per_material_accuracy(predictions)
            common = predictions.groupby("material")["predicted_space_group"].agg(lambda p: int(p.mode().iloc[0]))
            table["most_predicted"] = table["material"].map(common)
            table["fold"] = k
            table["approach"] = approach
            table["held_out"] = held_out
            rows.append(table)
    return (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(
            columns=["material", "space_group", "accuracy", "patterns", "most_predicted", "fold", "approach", "held_out"]
        )
    )


def lomo_regimes(lomo: pd.DataFrame) -> pd.DataFrame:
    """:func:`leave_one_out`'s rows as two regimes of the chapter, one row per approach and material:
    ``leave-one-out`` (the fold model that held the material out) and ``leave-out models, seen`` (the
    fold models that trained on it, pooled over their test patterns). Columns ``regime, approach, material,
    space_group, accuracy, patterns, most_predicted``."""
    columns = ["regime", "approach", "material", "space_group", "accuracy", "patterns", "most_predicted"]
    left = lomo[lomo["held_out"].astype(bool)].assign(regime="leave-one-out")[columns]
    seen = lomo[~lomo["held_out"].astype(bool)].assign(correct=lambda t: t["accuracy"] * t["patterns"])
    if not len(seen):
        return left.reset_index(drop=True)
    pooled = (
        seen.groupby(["approach", "material", "space_group"], sort=False)
        .agg(
            correct=("correct", "sum"),
            patterns=("patterns", "sum"),
            most_predicted=("most_predicted", lambda p: int(p.mode().iloc[0])),
        )
        .reset_index()
    )
    pooled["accuracy"] = pooled["correct"] / pooled["patterns"]
    pooled["regime"] = SEEN_BY_FOLD_MODELS
    return pd.concat([left, pooled[columns]], ignore_index=True)


def generated_materials(per_space_group: int, seed: int = 0, master_pattern_check: bool = True) -> tuple[list[Material], Counter]:
    """``per_space_group`` generated phases for each of the six space groups, and the rejection counts
    summed over the groups (keys ``(space group, reason)``)."""
    materials, rejected = [], Counter()
    for space_group in SPACE_GROUPS:
        phases, reasons = generate_phases(space_group, per_space_group, seed, master_pattern_check)
        materials += phases
        rejected.update({(space_group, reason): n for reason, n in reasons.items()})
    return materials, rejected


def rejection_table(rejected: Counter, accepted: int) -> pd.DataFrame:
    """Rejected candidates per space group (rows) and reason (columns), with the accepted count."""
    if not rejected:
        table = pd.DataFrame(index=pd.Index(SPACE_GROUPS, name="space group"))
    else:
        table = pd.Series(rejected).unstack(fill_value=0)
        table.index.name = "space group"
        table = table.reindex(SPACE_GROUPS, fill_value=0)
    table = table.fillna(0).astype(int)
    table.insert(0, "accepted", accepted)
    return table


def merge_datasets(first: PatternDataset, second: PatternDataset) -> PatternDataset:
    """One data set of the patterns and rows of two (same pattern shape), pattern ids renumbered."""
    if first.pattern_shape != second.pattern_shape:
        raise ValueError(
            f"cannot merge data sets of pattern shapes {first.pattern_shape} and {second.pattern_shape}: "
            "simulate both with the same detector."
        )
    table = pd.concat([first.table, second.table], ignore_index=True).drop(columns="pattern_id")
    patterns = np.concatenate([first.patterns, second.patterns.astype(first.patterns.dtype, copy=False)])
    return PatternDataset(patterns, table, {"merged": [first.meta, second.meta]})


def generated_dataset(
    per_space_group: int,
    counts: SplitCounts,
    detector: Detector = Detector(),
    seed: int = 0,
    paper: PatternDataset | None = None,
    master_pattern_check: bool = True,
) -> tuple[PatternDataset, Counter]:
    """Training and validation data from generated phases; no test split (test on the paper's materials).

    Parameters
    ----------
    per_space_group
        Generated phases per space group (:func:`ebsdlib.simulation.phases.generate_phases`), for each of the
        six.
    counts
        Training and validation patterns per space group of the generated phases, divided evenly over its
        phases (:class:`~ebsdlib.datasets.container.SplitCounts`; its test count is not used: no test split).
    detector
        The simulated detector, geometry and detector model (:class:`~ebsdlib.simulation.patterns.Detector`);
        default ``Detector()``, the book's.
    seed
        Seed of the phases drawn (with each space group), of their patterns (with each phase's name) and of
        the split (default 0).
    paper
        Chapter 1's data set, of the same pattern shape: its training and validation patterns are added as
        they are and its test patterns left out, so the paper's test split stays unseen. Default ``None``:
        generated phases only.
    master_pattern_check
        Also reject phases whose kinematical master pattern has weak band contrast, at the cost of a master
        pattern per candidate (default ``True``).

    Returns
    -------
    dataset
        The :class:`~ebsdlib.datasets.container.PatternDataset` of training and validation patterns (pattern
        ids renumbered when ``paper``'s are added).
    rejected
        The rejected candidate phases counted by (space group, reason), a :class:`collections.Counter`.
    """
    phases, rejected = generated_materials(per_space_group, seed, master_pattern_check)
    data = simulate_dataset(replace(counts, test_per_material=0), detector, seed, materials=phases)
    if paper is not None:
        known = paper.table["split"].isin(["train", "validation"]).to_numpy()
        data = merge_datasets(data, paper.subset(known))
    return data, rejected


def accuracy_by_material(result, test: PatternDataset, regime: str, split: str | None = "test", seed: int = 0) -> pd.DataFrame:
    """Per-material accuracy of one trained model on ``test`` (its ``split``), with the space group it
    answered most often: columns ``regime, approach, material, space_group, accuracy, patterns, most_predicted``."""
    predictions = predict_trial(result, test, split, seed)
    table = per_material_accuracy(predictions)
    common = predictions.groupby("material")["predicted_space_group"].agg(lambda p: int(p.mode().iloc[0]))
    table["most_predicted"] = table["material"].map(common)
    table.insert(0, "approach", result.approach)
    table.insert(0, "regime", regime)
    return table


def regime_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Per regime and approach: the mean of the per-material accuracies (every material counts once),
    the accuracy over all patterns and the number of materials."""
    weighted = rows.assign(correct=rows["accuracy"] * rows["patterns"])
    out = weighted.groupby(["regime", "approach"], sort=False).agg(
        materials=("material", "size"),
        mean_over_materials=("accuracy", "mean"),
        correct=("correct", "sum"),
        patterns=("patterns", "sum"),
    )
    out["accuracy"] = out["correct"] / out["patterns"]
    return out.drop(columns="correct").reset_index()


def answers_table(predictions: pd.DataFrame) -> pd.Series:
    """Share of the patterns given each space group (all six, in order)."""
    counts = predictions["predicted_space_group"].value_counts(normalize=True)
    return counts.reindex(SPACE_GROUPS, fill_value=0.0)


def phase_disjoint_datasets(
    generated_per_space_group: int,
    counts: SplitCounts,
    book: PatternDataset,
    detector: Detector,
    seed: int = 0,
    master_pattern_check: bool = True,
) -> tuple[PatternDataset, PatternDataset, list[Material], Counter]:
    """(generated phases only, generated phases plus the book's materials at the same count per space
    group, the generated phases, the rejection counts). The generated phases get ``counts``' training and
    validation patterns per space group; the book's training patterns are the nested subset chapter 7 uses
    at ``counts.train_per_space_group``; its test split is never added."""
    phases, rejected = generated_materials(generated_per_space_group, seed, master_pattern_check)
    generated = simulate_dataset(replace(counts, test_per_material=0), detector, seed, materials=phases)
    paper = subsample_training(book, counts.train_per_space_group, seed * 1000)
    known = paper.table["split"].isin(["train", "validation"]).to_numpy()
    both = merge_datasets(generated, paper.subset(known))
    return generated, both, phases, rejected


def phase_examples(
    phases: list[Material],
    per_space_group: int = 1,
    detector: Detector = Detector(),
    seed: int = 0,
) -> pd.DataFrame:
    """``per_space_group`` generated phases of each space group: one row per phase with its name, formula,
    lattice parameter, decorated sites, the upper hemisphere of its master pattern (Lambert, as fine as
    ``detector`` needs) and one simulated pattern (uint8) on ``detector``."""
    rows = []
    for group in materials_by_space_group(phases).values():
        for material in sorted(group, key=lambda m: m.name)[:per_space_group]:
            mp = np.asarray(detector_master_pattern(material, detector.geometry).data, dtype=np.float32)
            pattern, _ = simulate_patterns(material, 1, detector, seed)
            rows.append(
                {
                    "name": material.name,
                    "space_group": material.space_group,
                    "formula": material.formula,
                    "lattice parameter (Å)": material.lattice_parameter,
                    "sites": ", ".join(f"{site.element} {site.wyckoff}" for site in material.sites),
                    "master_pattern": mp[0] if mp.ndim == 3 else mp,
                    "pattern": pattern[0],
                }
            )
    return pd.DataFrame(rows)


def acquisition_table(models: dict, tests: dict[str, PatternDataset], seed: int = 0, column: str = "condition") -> pd.DataFrame:
    """Accuracy of each model on each test set: ``models`` maps a label to ``(trained model, view)``,
    where ``view`` is ``None`` (the patterns as recorded, resized whole to the input, as the book's models
    were trained) or the side of the canonical view (:func:`ebsdlib.simulation.randomise.as_canonical`). One row per
    test and model: ``column``, ``model``, ``accuracy``, ``most_predicted`` (space group and share),
    ``patterns``."""
    rows = []
    for name, test in tests.items():
        views: dict = {}
        for label, (result, view) in models.items():
            if view not in views:
                views[view] = test if view is None else as_canonical(test, view)
            predictions = predict_trial(result, views[view], "test", seed)
            answers = answers_table(predictions)
            rows.append(
                {
                    column: name,
                    "model": label,
                    "accuracy": float((predictions["true_space_group"] == predictions["predicted_space_group"]).mean()),
                    "most_predicted": f"{int(answers.idxmax())} ({100 * answers.max():.0f} %)",
                    "patterns": len(predictions),
                }
            )
    return pd.DataFrame(rows)


SEEN_BY_FOLD_MODELS = "leave-out models, seen"


def left_out_against_seen(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """(leave-one-out rows, the rows to compare them with, whether those come from the same models).

    The comparison is the fold models' own accuracy on the materials they trained on (regime
    ``leave-out models, seen``, from :func:`leave_one_out`) where the rows have it; else the held-out
    materials' accuracy in the ``in training`` regime, a model trained on all materials."""
    left_out = rows[rows["regime"] == "leave-one-out"]
    same = rows[(rows["regime"] == SEEN_BY_FOLD_MODELS) & rows["approach"].isin(left_out["approach"])]
    if len(same):
        return left_out, same, True
    seen = rows[
        (rows["regime"] == "in training")
        & rows["material"].isin(left_out["material"])
        & rows["approach"].isin(left_out["approach"])
    ]
    return left_out, seen, False


def map_comparison(truth: np.ndarray, maps: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per phase map (Hough, a CNN, ...) scored against the dual-phase map's ground truth
    (:func:`ebsdlib.mapping.hough.map_scores`: accuracy, balanced accuracy and each phase's recall, true and predicted Ni3Al fraction,
    absent space groups, no answer), in the order given.

    Raises
    ------
    ValueError
        When a map does not have one label per pixel of ``truth``.

    Examples
    --------
    >>> truth = np.array([225, 225, 221, 221])
    >>> table = map_comparison(truth, {"Hough": np.array([225, 225, 225, 225]), "CNN": np.array([225, 221, 221, 221])})
    >>> table["accuracy"].tolist()
    [0.5, 0.75]
    """
    truth = np.asarray(truth).ravel()
    wrong = {name: np.size(labels) for name, labels in maps.items() if np.size(labels) != truth.size}
    if wrong:
        raise ValueError(f"maps {wrong} do not have one label per pixel of the {truth.size}-pixel ground truth")
    return pd.DataFrame({name: map_scores(truth, np.asarray(labels).ravel()) for name, labels in maps.items()}).T
