"""Generalisation beyond the training materials: phase-disjoint tests and training on generated phases.

The paper tests on new patterns of the materials it trained on. A user with a new alloy needs the
accuracy on a material the classifier never saw; this module measures it two ways.

Leave-one-material-out (:func:`material_folds`, :func:`leave_one_out`)
    Fold ``k`` holds out the ``k``-th material (by name) of every space group that has two or more, so
    every fold still trains all six groups and every such material is held out exactly once. The
    fold's training set is simulated from the remaining materials with the same patterns per space
    group as the paper's protocol; the held-out materials are tested on patterns of their own.

Generated phases (:func:`generated_materials`, :func:`generated_dataset`)
    Training on phases made by :mod:`ebsdlib.phases` (none of the paper's materials), tested on the
    paper's 18 materials: a split where no phase is in both training and test.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from .datasets import PatternDataset, simulate_dataset
from .evaluation import per_material_accuracy, predict_trial
from .materials import SPACE_GROUPS, Material, materials_by_space_group, training_materials
from .phases import generate_phases
from .simulate import DetectorGeometry, DetectorModel
from .training import TrainingConfig, train_trial

__all__ = [
    "material_folds",
    "fold_datasets",
    "leave_one_out",
    "generated_materials",
    "generated_dataset",
    "merge_datasets",
    "rejection_table",
]


def material_folds(materials: list[Material] | None = None, held_out: list[str] | None = None) -> list[tuple[Material, ...]]:
    """Folds of held-out materials: fold ``k`` holds out the ``k``-th material (by name) of every space
    group with two or more materials, so each training set keeps all six groups.

    ``held_out`` restricts the folds to those material names (a smaller budget); each named material
    must belong to a group with another material to train on.
    """
    materials = training_materials() if materials is None else list(materials)
    groups = {sg: sorted(ms, key=lambda m: m.name) for sg, ms in materials_by_space_group(materials).items()}
    eligible = {sg: ms for sg, ms in groups.items() if len(ms) >= 2}
    if held_out is not None:
        names = {m.name: m for m in materials}
        unknown = [n for n in held_out if n not in names]
        if unknown:
            raise ValueError(f"unknown material(s) {unknown}; choose from {sorted(names)}.")
        alone = [n for n in held_out if names[n].space_group not in eligible]
        if alone:
            raise ValueError(
                f"{alone} cannot be held out: no other material of its space group would be left to train on."
            )
        eligible = {sg: [m for m in ms if m.name in held_out] for sg, ms in eligible.items()}
        eligible = {sg: ms for sg, ms in eligible.items() if ms}
    if not eligible:
        return []
    n = max(len(ms) for ms in eligible.values())
    return [tuple(ms[k] for ms in eligible.values() if k < len(ms)) for k in range(n)]


def fold_datasets(
    fold: tuple[Material, ...],
    train_per_space_group: int,
    val_per_space_group: int,
    test_per_material: int,
    geometry: DetectorGeometry = DetectorGeometry(),
    detector_model: DetectorModel = DetectorModel(),
    seed: int = 0,
    materials: list[Material] | None = None,
) -> tuple[PatternDataset, PatternDataset]:
    """(training data without the fold's materials, test patterns of the fold's materials), both
    simulated and cached like chapter 1's data set."""
    materials = training_materials() if materials is None else list(materials)
    held = {m.name for m in fold}
    rest = [m for m in materials if m.name not in held]
    missing = set(SPACE_GROUPS) - {m.space_group for m in rest}
    if missing:
        raise ValueError(f"holding out {sorted(held)} leaves no material of space group(s) {sorted(missing)}.")
    train = simulate_dataset(train_per_space_group, val_per_space_group, 0, geometry, detector_model, seed, materials=rest)
    test = simulate_dataset(0, 0, test_per_material, geometry, detector_model, seed, materials=list(fold))
    return train, test


def leave_one_out(
    arm: str,
    folds: list[tuple[Material, ...]],
    train_per_space_group: int,
    val_per_space_group: int,
    test_per_material: int,
    image_size: int,
    config: TrainingConfig,
    source=None,
    geometry: DetectorGeometry = DetectorGeometry(),
    detector_model: DetectorModel = DetectorModel(),
    seed: int = 0,
    progress=print,
) -> pd.DataFrame:
    """Accuracy on each held-out material of a model trained without it (one model per fold, cached).

    Returns one row per held-out material: ``material``, ``space_group``, ``accuracy``, ``patterns``,
    ``fold``, ``arm`` and the predicted space group most often given (``most_predicted``).
    """
    rows = []
    for k, fold in enumerate(folds):
        if progress:
            progress(f"leave-one-material-out: {arm}, fold {k + 1}/{len(folds)} without {', '.join(m.name for m in fold)}")
        train, test = fold_datasets(fold, train_per_space_group, val_per_space_group, test_per_material,
                                    geometry, detector_model, seed)
        result = train_trial(arm, train, image_size, config, source, trial=0, seed=seed)
        predictions = predict_trial(result, test, "test", seed)
        table = per_material_accuracy(predictions)
        common = predictions.groupby("material")["predicted_space_group"].agg(lambda p: int(p.mode().iloc[0]))
        table["most_predicted"] = table["material"].map(common)
        table["fold"] = k
        table["arm"] = arm
        rows.append(table)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["material", "space_group", "accuracy", "patterns", "most_predicted", "fold", "arm"]
    )


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
    train_per_space_group: int,
    val_per_space_group: int,
    geometry: DetectorGeometry = DetectorGeometry(),
    detector_model: DetectorModel = DetectorModel(),
    seed: int = 0,
    paper: PatternDataset | None = None,
    master_pattern_check: bool = True,
) -> tuple[PatternDataset, Counter]:
    """Training and validation data from generated phases; no test split (test on the paper's materials).

    With ``paper`` (chapter 1's data set), its training and validation patterns are added as they are
    and its test patterns left out, so the paper's test split stays unseen.
    """
    phases, rejected = generated_materials(per_space_group, seed, master_pattern_check)
    data = simulate_dataset(train_per_space_group, val_per_space_group, 0, geometry, detector_model, seed, materials=phases)
    if paper is not None:
        known = paper.table["split"].isin(["train", "validation"]).to_numpy()
        data = merge_datasets(data, paper.subset(known))
    return data, rejected
