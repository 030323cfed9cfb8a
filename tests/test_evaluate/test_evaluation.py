import os

import numpy as np
import pandas as pd
import pytest

from ebsdlib.datasets.container import PatternDataset
from ebsdlib.evaluate.metrics import (
    PROBABILITY_COLUMNS,
    best_trial,
    confusion,
    holdout_table,
    per_material_accuracy,
    per_space_group_report,
    predict,
    trial_spread_note,
    weighted_scores,
)
from ebsdlib.learn.training import TrialResult


@pytest.fixture
def predictions():
    """A fixed example: 221 (4 patterns, 1 wrong as 225), 225 (4, 2 wrong as 221), 229 (2, right)."""
    true = [221, 221, 221, 221, 225, 225, 225, 225, 229, 229]
    pred = [221, 221, 221, 225, 225, 225, 221, 221, 229, 229]
    material = ["NiAl", "NiAl", "Ni3Al", "Ni3Al", "Ni", "Ni", "Al", "Al", "W", "W"]
    return pd.DataFrame({"pattern_id": range(10), "material": material, "true_space_group": true, "predicted_space_group": pred})


def test_weighted_scores_by_hand(predictions):
    # 221: TP 3, FP 2, FN 1 -> P 3/5, R 3/4; 225: TP 2, FP 1, FN 2 -> P 2/3, R 1/2; 229: P 1, R 1.
    precision = (4 * 3 / 5 + 4 * 2 / 3 + 2 * 1) / 10
    recall = (4 * 3 / 4 + 4 * 1 / 2 + 2 * 1) / 10
    scores = weighted_scores(predictions)
    assert scores["precision"] == pytest.approx(precision)
    assert scores["recall"] == pytest.approx(recall)
    assert scores["accuracy"] == pytest.approx(0.7)


def test_per_space_group_report(predictions):
    report = per_space_group_report(predictions)
    assert list(report.index) == [221, 223, 225, 227, 229, 230]
    assert report.loc[221, "precision"] == pytest.approx(0.6) and report.loc[225, "recall"] == pytest.approx(0.5)
    assert report.loc[221, "F1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert report["support"].tolist() == [4, 0, 4, 0, 2, 0]


def test_per_material_accuracy(predictions):
    table = per_material_accuracy(predictions)
    assert table.iloc[0]["material"] == "Al" and table.iloc[0]["accuracy"] == 0
    assert table.set_index("material").loc["Ni3Al", "accuracy"] == 0.5
    assert table["patterns"].sum() == 10


def test_confusion(predictions):
    matrix = confusion(predictions)
    assert matrix.loc[225, 221] == 2 and matrix.loc[221, 225] == 1 and matrix.to_numpy().sum() == 10
    assert confusion(predictions, normalize="true").loc[225, 221] == pytest.approx(0.5)


def test_best_trial_and_table(predictions):
    def result(approach, trial, val_losses, min_delta=0.0):
        history = pd.DataFrame({"val_loss": val_losses})
        return TrialResult(approach, trial, history, None, {"config": {"min_delta": min_delta}})

    results = [result("scratch", 0, [2.0, 1.5]), result("scratch", 1, [1.2, 1.4]), result("transfer", 0, [0.5])]
    assert best_trial(results, "scratch").trial == 1
    # Early stopping keeps the weights of the last improvement larger than min_delta: trial 3's model holds
    # epoch 1 (1.20), not epoch 2 (1.1995, an improvement below min_delta), so trial 2 (1.199) is better.
    tricky = [result("scratch", 2, [1.199], 0.001), result("scratch", 3, [1.20, 1.1995], 0.001)]
    assert best_trial(tricky, "scratch").trial == 2
    from ebsdlib.evaluate.metrics import best_trial_index, restored_epoch

    assert restored_epoch(pd.DataFrame({"val_loss": [1.0, 0.5, 0.4995, 0.6]}), 0.001) == 2
    assert best_trial_index(tricky, "scratch") == 0
    with pytest.raises(ValueError, match="no trials"):
        best_trial(results[:2], "transfer")
    perfect = predictions.assign(predicted_space_group=predictions["true_space_group"])
    paper = {"holdout": {"scratch": {"precision": 0.93, "recall": 0.92}}}
    table = holdout_table({"scratch": [predictions, perfect]}, {"scratch": 1}, paper)
    assert table.loc["scratch", "precision (best model)"] == 1.0
    assert table.loc["scratch", "paper: precision"] == 0.93
    # mean ± spread: every trial within it (0.70 and 1.00)
    assert table.loc["scratch", "accuracy (all trials)"] == "0.850 ± 0.150"
    assert table.loc["scratch", "trials"] == 2


def test_predict_writes_one_row_per_pattern_in_random_order():
    import keras

    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(6, activation="softmax")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    table = pd.DataFrame({"space_group": [221, 225, 229, 230, 223], "material": list("abcde")})
    dataset = PatternDataset(np.random.default_rng(0).integers(0, 255, (5, 12, 12), dtype=np.uint8), table)
    out = predict(model, dataset, image_size=8, channels=1, seed=1)
    assert list(out.columns) == ["pattern_id", "material", "true_space_group", "predicted_space_group", *PROBABILITY_COLUMNS]
    assert sorted(out["pattern_id"]) == [0, 1, 2, 3, 4] and list(out["pattern_id"]) != [0, 1, 2, 3, 4]
    np.testing.assert_allclose(out[PROBABILITY_COLUMNS].sum(axis=1), 1, atol=1e-5)
    assert (out.set_index("pattern_id").loc[[0, 1], "true_space_group"] == [221, 225]).all()


def test_trial_spread_note_says_when_there_is_no_spread():
    assert "no spread" in trial_spread_note(1) and "several trials" in trial_spread_note(1)
    assert "all 5 trials" in trial_spread_note(5)
    with pytest.raises(ValueError, match="at least one trial"):
        trial_spread_note(0)


def test_a_model_is_loaded_once_for_many_test_sets(tmp_path, monkeypatch):
    import keras

    from ebsdlib.evaluate import metrics as evaluation
    from ebsdlib.learn.training import TrialResult

    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Dense(6, activation="softmax")(keras.layers.Flatten()(inputs)))
    model.save(tmp_path / "model.keras")
    result = TrialResult("scratch", 0, pd.DataFrame(), tmp_path / "model.keras", {"key": "tiny", "image_size": 8})
    loads = []
    real_load = keras.models.load_model
    monkeypatch.setattr(keras.models, "load_model", lambda path: loads.append(path) or real_load(path))
    evaluation._loaded_model.cache_clear()
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"space_group": [221, 225, 229], "material": list("abc"), "split": "test"})
    first = PatternDataset(rng.integers(0, 255, (3, 12, 12), dtype=np.uint8), table)
    second = PatternDataset(rng.integers(0, 255, (3, 12, 12), dtype=np.uint8), table)
    a = evaluation.predict_trial(result, first)
    b = evaluation.predict_trial(result, second)
    assert len(loads) == 1, "a second test set must reuse the loaded model"
    assert not np.allclose(a.sort_values("pattern_id")[PROBABILITY_COLUMNS], b.sort_values("pattern_id")[PROBABILITY_COLUMNS])
    model.save(tmp_path / "model.keras")  # a rewritten file is loaded again
    stat = (tmp_path / "model.keras").stat()
    os.utime(tmp_path / "model.keras", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # coarse clocks
    evaluation.predict_trial(result, PatternDataset(rng.integers(0, 255, (3, 12, 12), dtype=np.uint8), table))
    assert len(loads) == 2
