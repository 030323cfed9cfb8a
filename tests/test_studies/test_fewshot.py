import numpy as np
import pandas as pd
import pytest

from ebsdlib.book.prose import curve_findings, source_findings, sources_tally
from ebsdlib.datasets.container import PatternDataset
from ebsdlib.learn.models import PretrainedSource
from ebsdlib.learn.training import TrainingConfig, TrialResult, dataset_fingerprint
from ebsdlib.studies.fewshot import (
    convergence_table,
    curve_label,
    curve_summary,
    epochs_to_reach,
    few_shot_curve,
    patterns_needed,
    source_comparison,
    subsample_training,
    training_counts,
)


@pytest.fixture(scope="module")
def pool():
    """Six space groups, two materials each (one with three), 10 training, 2 validation and 3 test
    patterns per space group."""
    rows = []
    for sg in (221, 223, 225, 227, 229, 230):
        materials = [f"a{sg}", f"b{sg}"] + ([f"c{sg}"] if sg == 225 else [])
        for i in range(10):
            rows.append({"space_group": sg, "material": materials[i % len(materials)], "split": "train"})
        rows += [{"space_group": sg, "material": materials[0], "split": "validation"}] * 2
        rows += [{"space_group": sg, "material": materials[1], "split": "test"}] * 3
    patterns = np.random.default_rng(0).integers(0, 255, (len(rows), 8, 8), dtype=np.uint8)
    return PatternDataset(patterns, pd.DataFrame(rows))


def _train_ids(dataset):
    return set(dataset.table.loc[dataset.table["split"] == "train", "pattern_id"])


class TestSubsample:
    def test_counts_balance_and_untouched_splits(self, pool):
        subset = subsample_training(pool, 4, seed=1)
        assert (training_counts(subset) == 4).all()
        train = subset.table[subset.table["split"] == "train"]
        per_material = train.groupby("material").size()
        assert per_material["a221"] == per_material["b221"] == 2
        assert sorted(train[train["space_group"] == 225].groupby("material").size()) == [1, 1, 2]
        for split in ("validation", "test"):
            pd.testing.assert_frame_equal(subset.table[subset.table["split"] == split], pool.table[pool.table["split"] == split])
        assert (subset.table["split"] == "unused").sum() == 6 * 6
        assert subset.patterns is pool.patterns

    def test_nested_for_one_seed_and_different_for_another(self, pool):
        small, large = _train_ids(subsample_training(pool, 3, seed=7)), _train_ids(subsample_training(pool, 8, seed=7))
        assert small < large
        assert _train_ids(subsample_training(pool, 4, seed=1)) != _train_ids(subsample_training(pool, 4, seed=2))
        assert _train_ids(subsample_training(pool, 4, seed=1)) == _train_ids(subsample_training(pool, 4, seed=1))

    def test_the_full_count_is_the_data_set_itself(self, pool):
        assert subsample_training(pool, 10, seed=3) is pool
        assert dataset_fingerprint(subsample_training(pool, 10)) == dataset_fingerprint(pool)
        assert dataset_fingerprint(subsample_training(pool, 9)) != dataset_fingerprint(pool)

    def test_bad_counts(self, pool):
        with pytest.raises(ValueError, match="11 training patterns.*221 has 10"):
            subsample_training(pool, 11)
        with pytest.raises(ValueError, match="positive"):
            subsample_training(pool, 0)


def _result(approach, trial, val_acc, val_loss, seconds=10.0):
    n = len(val_acc)
    history = pd.DataFrame({"epoch": range(1, n + 1), "val_accuracy": val_acc, "val_loss": val_loss, "seconds": seconds})
    return TrialResult(approach, trial, history, None, {})


def test_epochs_to_reach():
    history = pd.DataFrame({"val_accuracy": [0.2, 0.6, 0.5, 0.9], "val_loss": [2, 1, 0.8, 0.5], "seconds": [10, 20, 30, 40]})
    assert epochs_to_reach(history, "val_accuracy", 0.6) == (2.0, 30.0)
    assert epochs_to_reach(history, "val_loss", 0.8, above=False) == (3.0, 60.0)
    assert all(np.isnan(epochs_to_reach(history, "val_accuracy", 0.95)))


def test_convergence_table_ignores_patience():
    results = [
        _result("scratch", 0, [0.3, 0.5, 0.7, 0.8, 0.79, 0.78], [2.0, 1.5, 1.0, 0.6, 0.7, 0.8]),
        _result("transfer", 0, [0.6, 0.85, 0.9], [0.9, 0.4, 0.3]),
    ]
    table = convergence_table(results, 0.8).set_index("approach")
    assert table.loc["scratch", "epochs to val. accuracy 0.80"] == 4
    assert table.loc["transfer", "epochs to val. accuracy 0.80"] == 2
    assert table.loc["scratch", "epochs run (early stopping)"] == 6
    # transfer's best loss 0.3 is never reached by scratch; scratch's best 0.6 is reached by transfer at epoch 2
    assert np.isnan(table.loc["scratch", "epochs to the other approach's best val. loss"])
    assert table.loc["transfer", "epochs to the other approach's best val. loss"] == 2
    assert table.loc["transfer", "seconds to the other approach's best val. loss"] == 20


def _summary(values: dict[str, dict[int, float]], trials=2):
    rows = [
        {
            "approach": approach,
            "patterns_per_space_group": n,
            "trial": t,
            "precision": v + d,
            "recall": v,
            "f1": v,
            "accuracy": v,
            "epochs": 5,
            "cpu_seconds": 60.0,
            "train_seconds": 30.0,
        }
        for approach, curve in values.items()
        for n, v in curve.items()
        for t, d in ((0, -0.01), (1, 0.01))[:trials]
    ]
    return curve_summary(pd.DataFrame(rows))


def test_summary_and_extrapolation_of_a_power_law():
    # error = 2 n^-0.5: 0.2 at 100, 0.1 at 400 -> precision 0.97 (error 0.03) at n = (2/0.03)^2 = 4444
    curve = {n: 1 - 2 * n**-0.5 for n in (25, 100, 400)}
    summary = _summary({"transfer": curve, "scratch": {25: 0.5, 100: 0.5}})
    row = summary[(summary["approach"] == "transfer") & (summary["patterns_per_space_group"] == 100)].iloc[0]
    assert row["precision_mean"] == pytest.approx(0.8) and row["precision_std"] == pytest.approx(np.std([-0.01, 0.01], ddof=1))
    assert row["trials"] == 2 and row["cpu_seconds"] == 120
    needed = patterns_needed(summary, 0.97, metric="recall")
    assert needed.loc["transfer", "exponent"] == pytest.approx(-0.5)
    assert needed.loc["transfer", "extrapolated count"] == pytest.approx((2 / 0.03) ** 2, rel=1e-6)
    assert np.isnan(needed.loc["scratch", "extrapolated count"]), "a flat curve gives no extrapolation"
    assert patterns_needed(summary, 0.85, metric="recall").loc["transfer", "reached at"] == 400
    text = curve_findings(summary, None, needed, 0.97, "recall", build=(100, 96), paper=(400, 299))
    assert "transfer" in text and "0.80" in text and "4,444" in text and "extrapolation" in text
    assert "not monotonic" not in text


def test_findings_name_a_dip_in_the_curve_and_the_missing_spread():
    summary = _summary({"transfer": {25: 0.47, 100: 0.29, 400: 0.69}})
    needed = patterns_needed(summary, 0.97, metric="recall")
    text = curve_findings(summary, None, needed, 0.97, "recall", build=(400, 72), paper=(400, 299))
    assert "rises from 0.47 at 25 to 0.69 at 400" in text and "not monotonic: 0.47 at 25 but 0.29 at 100" in text
    assert "one trial per point" not in text  # _summary makes two trials per point
    one = summary.assign(trials=1)
    assert "one trial per point" in curve_findings(one, None, needed, 0.97, "recall", build=(400, 72), paper=(400, 299))


def test_few_shot_figure_shows_cpu_and_wall_minutes_per_model():
    import matplotlib

    matplotlib.use("Agg")
    from ebsdlib.evaluate.plotting import few_shot_figure

    summary = _summary({"transfer": {25: 0.6, 100: 0.7}, "scratch": {25: 0.5, 100: 0.6}})
    fig = few_shot_figure(summary, mark=100)
    lines = {line.get_label(): line for line in fig.axes[1].get_lines()}
    assert set(lines) == {"transfer, CPU", "transfer, wall", "scratch, CPU", "scratch, wall"}
    # two trials per point, 60 CPU s and 30 wall s each: 1 and 0.5 minutes per trained model
    np.testing.assert_allclose(lines["transfer, CPU"].get_ydata(), [1.0, 1.0])
    np.testing.assert_allclose(lines["scratch, wall"].get_ydata(), [0.5, 0.5])
    assert lines["transfer, wall"].get_linestyle() == "--"


def test_curve_points_at_the_full_count_are_the_training_chapters_trials(pool, monkeypatch):
    import ebsdlib.studies.fewshot as fewshot

    calls = []

    def fake_train(approach, dataset, image_size, config, source, trial, seed):
        calls.append((approach, dataset_fingerprint(dataset), trial, seed))
        history = pd.DataFrame({"epoch": [1], "val_accuracy": [0.5], "val_loss": [1.0], "seconds": [1.0]})
        return TrialResult(approach, trial, history, None, {"epochs": 1, "best_epoch": 1, "seconds": 1.0, "cpu_seconds": 2.0})

    def fake_predict(result, dataset, split, seed):
        test = dataset.subset(split).table
        return pd.DataFrame({"true_space_group": test["space_group"], "predicted_space_group": test["space_group"]})

    monkeypatch.setattr(fewshot, "train_trial", fake_train)
    monkeypatch.setattr(fewshot, "predict_trial", fake_predict)
    curve = few_shot_curve(pool, [10, 4], 71, TrainingConfig(), None, trials=2, seed=3, approaches=("scratch",), progress=None)
    assert list(curve["patterns_per_space_group"]) == [4, 4, 10, 10]
    assert (curve["precision"] == 1).all() and (curve["cpu_seconds"] == 2).all()
    full = [c for c in calls if c[1] == dataset_fingerprint(pool)]
    assert [(c[2], c[3]) for c in full] == [(0, 3), (1, 3)], "the full count trains as the chapter's trials 0 and 1"


def test_the_full_count_gives_the_same_trial_key_as_run_trials(pool, monkeypatch):
    import ebsdlib.learn.training as training
    import ebsdlib.studies.fewshot as fewshot

    keys = {}

    def recorder(name):
        def fake_train(approach, dataset, image_size, config=TrainingConfig(), source=None, trial=0, seed=0):
            keys.setdefault(name, []).append(
                training.trial_key(approach, dataset, image_size, config, source, seed * 1000 + trial)
            )
            history = pd.DataFrame({"epoch": [1], "val_accuracy": [0.5], "val_loss": [1.0], "seconds": [1.0]})
            return TrialResult(approach, trial, history, None, {"epochs": 1, "best_epoch": 1, "seconds": 1.0, "key": "k"})

        return fake_train

    config = TrainingConfig(max_epochs=3)
    monkeypatch.setattr(training, "train_trial", recorder("chapter"))
    training.run_trials(pool, 71, 2, config, None, seed=4, approaches=("scratch",))
    monkeypatch.setattr(fewshot, "train_trial", recorder("curve"))
    monkeypatch.setattr(
        fewshot, "predict_trial", lambda r, d, s, seed: pd.DataFrame({"true_space_group": [221], "predicted_space_group": [221]})
    )
    few_shot_curve(pool, [5, 10], 71, config, None, trials=2, seed=4, approaches=("scratch",), progress=None)
    assert keys["curve"][2:] == keys["chapter"], "the full count must be the training chapter's trials"
    assert not set(keys["curve"][:2]) & set(keys["chapter"])


def _fake_training(monkeypatch):
    import ebsdlib.studies.fewshot as fewshot

    def fake_train(approach, dataset, image_size, config, source, trial, seed):
        history = pd.DataFrame({"epoch": [1], "val_accuracy": [0.5], "val_loss": [1.0], "seconds": [1.0]})
        return TrialResult(approach, trial, history, None, {"epochs": 1, "best_epoch": 1, "seconds": 1.0, "cpu_seconds": 2.0})

    def fake_predict(result, dataset, split, seed):
        test = dataset.subset(split).table
        right = 0.9 if result.approach == "scratch" else 1.0  # scratch misses every tenth pattern
        predicted = test["space_group"].where(np.arange(len(test)) % 10 < 10 * right, 0)
        return pd.DataFrame({"true_space_group": test["space_group"], "predicted_space_group": predicted})

    monkeypatch.setattr(fewshot, "train_trial", fake_train)
    monkeypatch.setattr(fewshot, "predict_trial", fake_predict)


def test_transfer_curves_of_two_sources_stay_apart_in_the_summary(pool, monkeypatch):
    _fake_training(monkeypatch)
    imagenet = PretrainedSource("auto", "imagenet", "imagenet.weights.h5", "ImageNet")
    task = PretrainedSource("source-task", "source-task", "task.weights.h5", "source task")
    curve = pd.concat(
        [
            few_shot_curve(pool, [4, 10], 71, TrainingConfig(), imagenet, progress=None),
            few_shot_curve(pool, [4, 10], 71, TrainingConfig(), task, approaches=("transfer",), progress=None),
        ],
        ignore_index=True,
    )
    assert list(curve["curve"].unique()) == ["scratch", "transfer (ImageNet)", "transfer (source task)"]
    assert list(curve["pretrained_source"].unique()) == ["", "imagenet", "source-task"]
    summary = curve_summary(curve)
    assert len(summary) == 6 and (summary.groupby("curve").size() == 2).all()
    assert set(summary.loc[summary["curve"] != "scratch", "approach"]) == {"transfer"}
    needed = patterns_needed(summary, 0.5, metric="precision")
    assert list(needed.index) == ["scratch", "transfer (ImageNet)", "transfer (source task)"]


def test_source_comparison_and_its_findings_per_count():
    summary = _summary(
        {"transfer (ImageNet)": {25: 0.60, 100: 0.80, 400: 0.90}, "transfer (source task)": {25: 0.70, 100: 0.79, 400: 0.80}}
    )
    summary = summary.assign(curve=summary["approach"])
    table = source_comparison(summary, "recall")
    assert list(table.index) == [25, 100, 400]
    np.testing.assert_allclose(table["difference"], [-0.10, 0.01, 0.10], atol=1e-12)
    assert (table["CPU minutes per model transfer (ImageNet)"] == 1.0).all()  # 2 trials of 60 CPU s
    text = source_findings(table, "recall")
    assert (
        "**25 patterns per space group**: recall 0.60 (transfer (ImageNet)) against 0.70 (transfer (source task)): transfer (source task) ahead by 0.10"
        in text
    )
    assert "level (difference +0.01, within 0.02)" in text and "transfer (ImageNet) ahead by 0.10" in text
    assert "ahead at 1 of 3 counts, level at 1, behind at 1" in text and "One trial per point" not in text
    one = source_comparison(
        _summary({"transfer (ImageNet)": {25: 0.6}, "transfer (source task)": {25: 0.5}}, trials=1).pipe(
            lambda s: s.assign(curve=s["approach"])
        ),
        "recall",
    )
    # one trial per point: 0.10 is within the single-trial margin, so level, and the text says why
    single = source_findings(one, "recall")
    assert "level (difference +0.10, within 0.12)" in single and "One trial per point" in single
    assert sources_tally(one) == {"compared": 1, "ahead": 0, "level": 1, "behind": 0, "margin": 0.12}
    assert sources_tally(table) == {"compared": 3, "ahead": 1, "level": 1, "behind": 1, "margin": 0.02}
    assert source_comparison(summary[summary["curve"] != "transfer (source task)"], "recall").empty
    assert "not compared" in source_findings(pd.DataFrame(), "recall")


def test_curve_labels_name_the_pretrained_source():
    assert curve_label("scratch", "imagenet") == "scratch"
    assert curve_label("transfer", "imagenet") == "transfer (ImageNet)"
    assert curve_label("transfer", "file") == "transfer (weights file)"


def test_few_shot_figure_draws_one_coloured_curve_per_source():
    import matplotlib

    matplotlib.use("Agg")
    from ebsdlib.evaluate.plotting import few_shot_figure

    summary = _summary(
        {
            "scratch": {25: 0.5, 100: 0.6},
            "transfer (ImageNet)": {25: 0.6, 100: 0.7},
            "transfer (source task)": {25: 0.55, 100: 0.65},
        }
    )
    summary = summary.assign(curve=summary["approach"])
    fig = few_shot_figure(summary, paper={"transfer (ImageNet)": (400, 0.97)})
    labels = {text.get_text() for text in fig.axes[0].get_legend().get_texts()}
    assert labels == {
        "scratch (this build)",
        "transfer (ImageNet) (this build)",
        "transfer (ImageNet) (the paper)",
        "transfer (source task) (this build)",
    }
    colours = {line.get_label(): line.get_color() for line in fig.axes[1].get_lines()}
    assert len({colours[f"{c}, CPU"] for c in ("scratch", "transfer (ImageNet)", "transfer (source task)")}) == 3
