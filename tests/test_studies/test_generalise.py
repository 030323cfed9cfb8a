from collections import Counter
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ebsdlib.book.prose import generalisation_answer, generalisation_findings
from ebsdlib.crystal.materials import SPACE_GROUPS, training_materials
from ebsdlib.datasets.container import PatternDataset, SplitCounts
from ebsdlib.simulation.patterns import Detector, DetectorModel
from ebsdlib.studies import generalise as generalise
from ebsdlib.studies.generalise import (
    SEEN_BY_FOLD_MODELS,
    acquisition_table,
    answers_table,
    fold_datasets,
    generated_dataset,
    lomo_regimes,
    material_folds,
    merge_datasets,
    most_held_out_per_group,
    regime_summary,
    rejection_table,
)


def test_every_material_is_held_out_once_and_every_fold_trains_all_groups():
    folds = material_folds()
    held = [m.name for fold in folds for m in fold]
    assert len(held) == len(set(held)) == 18, "the paper's groups all have two or more materials"
    assert len(folds) == 5, "space group 225 has five materials"
    names = {m.name for m in training_materials()}
    for fold in folds:
        groups = [m.space_group for m in fold]
        assert len(groups) == len(set(groups)), "at most one material per group in a fold"
        rest = [m for m in training_materials() if m.name not in {f.name for f in fold}]
        assert {m.space_group for m in rest} == set(SPACE_GROUPS)
        assert {m.name for m in fold} <= names


def test_two_folds_hold_out_every_material_once_and_keep_every_group():
    folds = material_folds(n_folds=2)
    assert len(folds) == 2
    held = [m.name for fold in folds for m in fold]
    assert len(held) == len(set(held)) == 18
    by_name = {m.name: m for m in training_materials()}
    for fold in folds:
        rest = [m for m in training_materials() if m.name not in {f.name for f in fold}]
        assert {m.space_group for m in rest} == set(SPACE_GROUPS), "each fold still trains all six groups"
    # group 225 (Al, NbC, Ni, TaC, TiC by name) alternates between the folds; 229 (Fe, Ta, W) likewise
    assert sorted(m.name for m in folds[0] if m.space_group == 225) == ["Al", "Ni", "TiC"]
    assert sorted(m.name for m in folds[1] if m.space_group == 229) == ["Ta"]
    assert {by_name[n].space_group for n in ("Al", "Ni", "TiC")} == {225}
    assert most_held_out_per_group(folds) == 3 and most_held_out_per_group(material_folds()) == 1
    assert most_held_out_per_group([]) == 0
    assert material_folds(n_folds=9) == material_folds(), "more folds than the largest group: one per material"
    for bad in (1, 0, 2.5, True, "2"):
        with pytest.raises(ValueError, match="n_folds must be a whole number"):
            material_folds(n_folds=bad)


def test_held_out_subset_and_bad_names():
    (fold,) = material_folds(held_out=["Ni", "Fe"])
    assert sorted(m.name for m in fold) == ["Fe", "Ni"]
    with pytest.raises(ValueError, match="unknown material"):
        material_folds(held_out=["Nickel"])
    alone = [m for m in training_materials() if m.space_group != 225 or m.name == "Ni"]
    with pytest.raises(ValueError, match="no other material of its space group"):
        material_folds(alone, held_out=["Ni"])


def test_fold_data_keeps_the_held_out_materials_apart(tiny_geometry):
    fold = tuple(m for m in training_materials() if m.name in ("Ni", "Fe"))
    train, test = fold_datasets(fold, SplitCounts(12, 6, 4), Detector(tiny_geometry, DetectorModel.clean()), seed=1)
    assert not set(train.table["material"]) & {"Ni", "Fe"}
    counts = train.table[train.table["split"] == "train"].groupby("space_group").size()
    assert counts.to_dict() == dict.fromkeys(SPACE_GROUPS, 12), "the paper's count per group, without the fold"
    assert set(test.table["material"]) == {"Ni", "Fe"}
    assert (test.table["split"] == "test").sum() == 8


def test_leave_one_out_scores_each_held_out_material(monkeypatch, tiny_geometry):
    folds = material_folds(held_out=["Ni", "Fe", "Al"])  # two folds: (Al, Fe) and (Ni)
    trained = []

    def fake_train(approach, dataset, image_size, config, source, trial, seed):
        trained.append(sorted(set(dataset.table["material"])))
        return SimpleNamespace(approach=approach)

    def fake_predict(result, dataset, split, seed):
        table = dataset.subset(split).table
        # Fe is always called 225 (fcc), the others are right
        predicted = np.where(table["material"] == "Fe", 225, table["space_group"])
        return pd.DataFrame(
            {"material": table["material"], "true_space_group": table["space_group"], "predicted_space_group": predicted}
        )

    monkeypatch.setattr(generalise, "train_trial", fake_train)
    monkeypatch.setattr(generalise, "predict_trial", fake_predict)
    table = generalise.leave_one_out(
        "scratch", folds, SplitCounts(12, 6, 3), 32, None, detector=Detector(tiny_geometry, DetectorModel.clean()), progress=None
    )
    assert len(trained) == len(folds) == 2
    assert "Al" not in trained[0] and "Fe" not in trained[0] and "Ni" in trained[0]
    assert "Ni" not in trained[1] and {"Al", "Fe"} <= set(trained[1])
    rows = table[table["held_out"]].set_index("material")
    assert sorted(rows.index) == ["Al", "Fe", "Ni"]
    assert rows.loc["Fe", "accuracy"] == 0 and rows.loc["Fe", "most_predicted"] == 225
    assert rows.loc["Ni", "accuracy"] == 1 and rows.loc["Al", "patterns"] == 3
    assert set(rows["approach"]) == {"scratch"}
    # every fold model is also scored on new patterns of the materials it trained on
    seen = table[~table["held_out"]]
    assert sorted(seen.loc[seen["fold"] == 1, "material"]) == sorted(trained[1])
    assert seen.loc[(seen["fold"] == 0) & (seen["material"] == "Ni"), "accuracy"].item() == 1
    assert seen.loc[(seen["fold"] == 1) & (seen["material"] == "Fe"), "accuracy"].item() == 0
    regimes = lomo_regimes(table)
    assert regimes.groupby("regime")["material"].apply(lambda m: m.is_unique).all(), "one row per material and regime"
    assert set(regimes.loc[regimes["regime"] == "leave-one-out", "material"]) == {"Al", "Fe", "Ni"}
    assert len(regimes[regimes["regime"] == SEEN_BY_FOLD_MODELS]) == 18  # each material seen by some fold model


def test_findings_compare_left_out_materials_with_the_same_models_where_they_can():
    rows = pd.concat(
        [
            _rows(),
            pd.DataFrame(
                {
                    "regime": SEEN_BY_FOLD_MODELS,
                    "approach": "transfer",
                    "material": ["Al", "Cu"],
                    "space_group": [225, 225],
                    "accuracy": [0.3, 0.1],
                    "patterns": 10,
                }
            ),
        ],
        ignore_index=True,
    )
    text = generalisation_findings(rows)
    # left out 25 % against 20 % on the materials the same (fold) models trained on, not 75 % in training
    assert "score 25 %, against 20 % on new patterns of the materials the same models trained on" in text
    assert "gains 5 points" in text


def test_generated_training_data_holds_no_paper_material(tiny_geometry):
    data, rejected = generated_dataset(
        1, SplitCounts(12, 6, 0), Detector(tiny_geometry, DetectorModel.clean()), seed=0, master_pattern_check=False
    )
    materials = set(data.table["material"])
    assert len(materials) == 6 and all(name.startswith("gen") for name in materials)
    assert not materials & {m.name for m in training_materials()}
    assert set(data.table["split"]) == {"train", "validation"}
    table = rejection_table(rejected, 1)
    assert list(table.index) == list(SPACE_GROUPS) and (table["accepted"] == 1).all()
    assert table.drop(columns="accepted").to_numpy().sum() == sum(rejected.values())


def test_generated_plus_paper_keeps_the_papers_test_split_unseen(tiny_geometry):
    from ebsdlib.simulation.datasets import simulate_dataset

    paper = simulate_dataset(SplitCounts(12, 6, 3), Detector(tiny_geometry, DetectorModel.clean()), seed=0)
    data, _ = generated_dataset(
        1, SplitCounts(12, 6, 0), Detector(tiny_geometry, DetectorModel.clean()), seed=0, paper=paper, master_pattern_check=False
    )
    assert "test" not in set(data.table["split"])
    assert {m.name for m in training_materials()} <= set(data.table["material"])
    assert data.table["pattern_id"].is_unique and len(data) == len(data.patterns)


def test_merge_refuses_different_pattern_shapes():
    a = PatternDataset(np.zeros((2, 4, 5), np.uint8), pd.DataFrame({"space_group": [221, 225]}))
    b = PatternDataset(np.zeros((1, 4, 6), np.uint8), pd.DataFrame({"space_group": [229]}))
    with pytest.raises(ValueError, match="same detector"):
        merge_datasets(a, b)
    assert rejection_table(Counter(), 0)["accepted"].tolist() == [0] * 6


def _rows():
    return pd.DataFrame(
        {
            "regime": ["in training"] * 2 + ["leave-one-out"] * 2,
            "approach": "transfer",
            "material": ["Ni", "Fe"] * 2,
            "space_group": [225, 229] * 2,
            "accuracy": [1.0, 0.5, 0.5, 0.0],
            "patterns": [10, 30, 10, 30],
        }
    )


def test_regime_summary_counts_every_material_once_and_every_pattern_once():
    summary = regime_summary(_rows()).set_index("regime")
    assert summary.loc["in training", "mean_over_materials"] == pytest.approx(0.75)
    assert summary.loc["in training", "accuracy"] == pytest.approx((10 + 15) / 40)
    assert summary.loc["leave-one-out", "accuracy"] == pytest.approx(5 / 40)
    assert (summary["materials"] == 2).all()


def test_findings_compare_left_out_materials_with_the_same_materials_in_training():
    rows = _rows()
    text = generalisation_findings(rows)
    assert "loses 50 points" in text and "in training 75 %" in text and "leave-one-out 25 %" in text
    # only Fe left out: compared with Fe in training (0.5), not with the mean over all materials (0.75)
    only_fe = rows[(rows["regime"] == "in training") | (rows["material"] == "Fe")]
    text = generalisation_findings(only_fe)
    assert "1 material(s) left out of training score 0 %, against 50 %" in text and "loses 50 points" in text


def test_answers_and_acquisition_table(monkeypatch):
    seen = []

    def fake_predict(result, dataset, split, seed):
        seen.append((result, dataset.pattern_shape))
        n = len(dataset)
        return pd.DataFrame({"true_space_group": 225, "predicted_space_group": [225] * (n - 1) + [229]})

    monkeypatch.setattr(generalise, "predict_trial", fake_predict)
    test = PatternDataset(np.zeros((4, 20, 30), np.uint8), pd.DataFrame({"space_group": 225, "split": "test"}, index=range(4)))
    table = acquisition_table({"book": ("m1", None), "canonical": ("m2", 8)}, {"wide": test}, column="source")
    assert seen == [("m1", (20, 30)), ("m2", (8, 8))]  # the canonical model sees the centred square, resized
    assert table["accuracy"].tolist() == [0.75, 0.75] and table["most_predicted"].iloc[0] == "225 (75 %)"
    shares = answers_table(fake_predict(None, test, None, 0))
    assert list(shares.index) == list(SPACE_GROUPS) and shares.sum() == pytest.approx(1) and shares[229] == 0.25


def test_the_answer_follows_the_numbers():
    def rows(generated):
        return pd.DataFrame(
            {
                "regime": ["in training"] * 2 + ["leave-one-out"] * 2 + ["generated only"] * 2,
                "approach": "transfer",
                "material": ["Ni", "Fe"] * 3,
                "space_group": [225, 229] * 3,
                "accuracy": [0.6, 0.4, 0.55, 0.35, generated, generated],
                "patterns": 10,
            }
        )

    sources = pd.DataFrame(
        {
            "source": ["recorded Ni", "dynamical Ni"],
            "model": "m",
            "accuracy": [0.0, 0.12],
            "most_predicted": ["223 (67 %)", "229 (78 %)"],
            "patterns": [9, 60],
        }
    )
    text = generalisation_answer(rows(0.2), sources)
    assert "knows the materials and the simulator it was trained on, not the space groups" in text
    assert (
        "scores 20 % on the paper's materials" in text
        and "recorded Ni 0 % of 9 patterns, dynamical Ni 12 % of 60 patterns" in text
        and "50 % on the materials it trained on" in text
    )
    assert "scores within 5 points of its own accuracy when it was in training" in text
    assert "some of the symmetry" in generalisation_answer(rows(0.5), sources)
    learnt = generalisation_answer(rows(0.9), sources.assign(accuracy=[0.85, 0.9]))
    assert "it has learnt their symmetry" in learnt
    one_small_source = generalisation_answer(rows(0.9), sources.assign(accuracy=[1.0, 0.0]))
    assert "it has learnt their symmetry" not in one_small_source, "one favourable source must not decide"
    assert generalisation_answer(rows(0.2).query("regime != 'generated only'")) == ""
    assert generalisation_findings(rows(0.2), sources=sources).endswith(text)


def test_map_comparison_scores_every_map_against_the_truth():
    from ebsdlib.studies.generalise import map_comparison

    truth = np.array([[225, 225, 221, 221]])
    table = map_comparison(
        truth,
        {"Hough": np.array([225, 225, 225, 225]), "CNN": np.array([225, 221, 221, 227]), "none": np.array([-1, -1, 221, 221])},
    )
    assert list(table.index) == ["Hough", "CNN", "none"]
    assert table.loc["Hough", "accuracy"] == 0.5 and table.loc["CNN", "accuracy"] == 0.5
    assert table.loc["CNN", "absent space groups"] == 0.25 and table.loc["none", "no answer"] == 0.5
    assert table.loc["none", "accuracy"] == 0.5 and table.loc["Hough", "Ni3Al fraction (predicted)"] == 0.0
    with pytest.raises(ValueError, match="one label per pixel"):
        map_comparison(truth, {"short": np.array([225, 221])})
