import numpy as np
import pandas as pd
import pytest

import ebsdlib.learn.training as training
from ebsdlib.datasets.container import PatternDataset
from ebsdlib.learn.training import (
    TrainingConfig,
    fit_model,
    history_statistics,
    labels_to_onehot,
    recalibrate_batchnorm,
    train_trial,
    training_summary,
)

SIZE = 71


@pytest.fixture(scope="module")
def tiny_dataset():
    """Two patterns per space group per split, 24 × 24 px: enough to exercise the training path."""
    rng = np.random.default_rng(0)
    rows = []
    for sg in (221, 223, 225, 227, 229, 230):
        for split, n in (("train", 2), ("validation", 1)):
            rows += [{"space_group": sg, "material": f"m{sg}", "split": split}] * n
    patterns = rng.integers(0, 255, (len(rows), 24, 24), dtype=np.uint8)
    return PatternDataset(patterns, pd.DataFrame(rows))


def _tiny_model(inputs=4, bn=False):
    import keras

    x = keras.Input((inputs,))
    h = keras.layers.BatchNormalization()(x) if bn else x
    return keras.Model(x, keras.layers.Dense(2, activation="softmax")(h))


def test_onehot():
    np.testing.assert_array_equal(labels_to_onehot([225, 221]), [[0, 0, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="\\[999\\]"):
        labels_to_onehot([225, 999])


def test_a_training_step_lowers_the_loss():
    """Xception with the book's optimiser, loss and weight decay. Run eagerly: tracing Keras' train step of
    Xception takes about 20 s and is the same for every network (every chapter test traces the stand-in's)."""
    model = training.training_model("scratch", SIZE, TrainingConfig(), None, seed=0)
    model.run_eagerly = True
    x = np.random.default_rng(0).random((6, SIZE, SIZE, 1)).astype("float32")
    y = np.eye(6, dtype="float32")
    losses = model.fit(training.batches(x, y, 6), epochs=5, shuffle=False, verbose=0).history["loss"]
    assert losses[-1] < losses[0]


def test_early_stopping_counts_the_patience_epochs():
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 4)).astype("float32"), np.eye(2, dtype="float32")[rng.integers(0, 2, 32)]
    config = TrainingConfig(patience=3, min_delta=100.0, max_epochs=20, batch_size=8, bn_recalibration=False)
    history = fit_model(_tiny_model(), x, y, x, y, config)
    assert len(history) == 1 + 3  # the first epoch, then three without an improvement of min_delta
    assert history.attrs["stopped_early"]
    assert list(history["epoch"]) == [1, 2, 3, 4]


def test_batchnorm_recalibration_uses_the_data_statistics():
    model = _tiny_model(bn=True)
    x = np.random.default_rng(0).normal(5.0, 2.0, size=(512, 4)).astype("float32")
    recalibrate_batchnorm(model, x, batch_size=64)
    bn = model.layers[1]
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(axis=0), atol=0.05)
    np.testing.assert_allclose(bn.moving_variance.numpy(), x.var(axis=0), rtol=0.1)
    assert bn.momentum == 0.99  # restored


class TestTrialCache:
    def test_second_call_reads_the_cache_and_a_changed_parameter_trains(self, tiny_dataset, monkeypatch):
        import keras

        calls = []
        real_fit = keras.Model.fit

        def counting_fit(self, *args, **kwargs):
            calls.append(1)
            return real_fit(self, *args, **kwargs)

        monkeypatch.setattr(keras.Model, "fit", counting_fit)
        config = TrainingConfig(max_epochs=1, patience=1, batch_size=6, recalibration_patterns=6, architecture="mini")
        first = train_trial("scratch", tiny_dataset, SIZE, config, trial=0)
        assert len(calls) == 1
        assert first.epochs == 1 and first.model_path.is_file()
        assert set(first.history.columns) >= {"loss", "val_loss", "val_loss_keras", "seconds"}

        again = train_trial("scratch", tiny_dataset, SIZE, config, trial=0)
        assert len(calls) == 1, "an unchanged trial must come from the cache"
        pd.testing.assert_frame_equal(again.history, first.history)
        assert again.load_model().output_shape == (None, 6)

        train_trial(
            "scratch",
            tiny_dataset,
            SIZE,
            TrainingConfig(max_epochs=1, patience=1, batch_size=4, recalibration_patterns=6, architecture="mini"),
            trial=0,
        )
        assert len(calls) == 2, "a changed parameter must train again"

        # a damaged entry (a truncated history) is reported and trained again, never read as a shorter result
        history = first.model_path.parent / "history.csv"
        history.write_text(history.read_text().splitlines()[0] + "\n")
        from ebsdlib.cache import DamagedEntry

        with pytest.warns(DamagedEntry, match="history.csv differs"):
            repaired = train_trial("scratch", tiny_dataset, SIZE, config, trial=0)
        assert len(calls) == 3 and len(repaired.history) == 1

    def test_interrupted_write_leaves_nothing_a_later_run_trusts(self, tiny_dataset, monkeypatch, tmp_path):
        import keras

        monkeypatch.setenv("EBSDLIB_CACHE", str(tmp_path))  # a cache of its own: other tests write beside it

        def failing_save(self, *args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(keras.Model, "save", failing_save)
        config = TrainingConfig(max_epochs=1, patience=1, batch_size=6, recalibration_patterns=6, architecture="mini")
        with pytest.raises(KeyboardInterrupt):
            train_trial("scratch", tiny_dataset, SIZE, config, trial=5)
        folders = list((training._models_dir()).iterdir())
        assert not any(f.name.startswith(".") for f in folders), "the temporary folder must be removed"
        key = training.trial_key("scratch", tiny_dataset, SIZE, config, None, 5)
        assert not (training._models_dir() / f"scratch-{key}").exists()

    def test_unknown_approach(self, tiny_dataset):
        with pytest.raises(ValueError, match="unknown approach"):
            train_trial("finetune", tiny_dataset, SIZE)


def test_summary_and_statistics():
    def result(approach, trial, losses):
        n = len(losses)
        history = pd.DataFrame(
            {
                "epoch": range(1, n + 1),
                "loss": losses,
                "accuracy": 0.5,
                "val_loss": losses,
                "val_accuracy": 0.5,
                "val_loss_keras": losses,
                "val_accuracy_keras": 0.5,
                "train_seconds": 1.0,
                "seconds": 2.0,
            }
        )
        return training.TrialResult(approach, trial, history, None, {"stopped_early": True})

    results = [result("scratch", 0, [3, 2, 1]), result("scratch", 1, [5, 4]), result("transfer", 0, [1.0, 0.5])]
    stats = history_statistics(results)
    row = stats[(stats["approach"] == "scratch") & (stats["epoch"] == 1)].iloc[0]
    assert row["loss_mean"] == 4 and row["loss_std"] == pytest.approx(np.std([3, 5], ddof=1)) and row["loss_count"] == 2
    assert stats[(stats["approach"] == "scratch") & (stats["epoch"] == 3)].iloc[0]["loss_count"] == 1
    summary = training_summary(
        results,
        {
            "training": {
                "epochs_to_converge": {"scratch": {"mean": 50, "std": 12}, "transfer": {"mean": 26, "std": 3}},
                "first_epoch_loss": {
                    a: {"train": {"mean": 1, "std": 0}, "validation": {"mean": 1, "std": 0}} for a in ("scratch", "transfer")
                },
                "minutes_per_epoch": 2,
            }
        },
    )
    assert summary.loc["scratch", "epochs to converge"] == "2.5 ± 0.7"
    assert summary.loc["transfer", "paper: epochs to converge"] == "26 ± 3"


def test_transfer_key_follows_the_weights_content_not_the_path(tiny_dataset, tmp_path):
    from ebsdlib.learn.models import PretrainedSource
    from ebsdlib.learn.training import trial_key

    a, b, c = tmp_path / "a.h5", tmp_path / "moved.h5", tmp_path / "other.h5"
    a.write_bytes(b"weights-1")
    b.write_bytes(b"weights-1")
    c.write_bytes(b"weights-2")
    key = lambda p: trial_key("transfer", tiny_dataset, SIZE, TrainingConfig(), PretrainedSource("x", "file", str(p), ""), 0)
    assert key(a) == key(b) != key(c)


def test_the_optimiser_has_no_decoupled_decay():
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 4)).astype("float32"), np.eye(2, dtype="float32")[rng.integers(0, 2, 16)]
    model = _tiny_model()
    history = fit_model(
        model, x, y, x, y, TrainingConfig(max_epochs=1, patience=1, batch_size=8, bn_recalibration=False, weight_decay=0.5)
    )
    assert model.optimizer.weight_decay is None
    penalty = float(sum(model.losses))
    assert penalty > 0 and history["l2_penalty"].iloc[0] == pytest.approx(penalty, rel=1e-5)
    # the loss Keras optimises is cross-entropy + penalty; the history's val_loss is the cross-entropy alone
    total = model.evaluate(x, y, verbose=0, return_dict=True)
    p = np.clip(model.predict(x, verbose=0), 1e-7, 1)
    cross_entropy = float(-np.mean(np.sum(y * np.log(p), axis=1)))
    assert total["loss"] == pytest.approx(cross_entropy + penalty, rel=1e-4)
    assert history["val_loss"].iloc[0] == pytest.approx(cross_entropy, rel=1e-4)


@pytest.mark.parametrize("every_epoch", [True, False])
def test_keras_statistics_validation_every_epoch_or_only_the_first(every_epoch):
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 4)).astype("float32"), np.eye(2, dtype="float32")[rng.integers(0, 2, 32)]
    config = TrainingConfig(
        patience=3, min_delta=100.0, max_epochs=3, batch_size=8, recalibration_patterns=16, validate_keras_statistics=every_epoch
    )
    history = fit_model(_tiny_model(bn=True), x, y, x, y, config)
    assert np.isfinite(history["val_loss_keras"].iloc[0])
    assert np.isfinite(history["val_loss_keras"].iloc[1:]).all() == every_epoch
    assert np.isfinite(history["val_loss"]).all()


def test_a_reused_model_starts_from_the_state_of_a_new_one():
    """Within a process a compiled model is reused (its traced train step kept), with the weights a new
    model of that seed gets and a new optimiser's state."""
    import keras

    from ebsdlib.learn.models import build_scratch_model

    config = TrainingConfig(learning_rate=3e-3, architecture="mini")
    first = training.training_model("scratch", SIZE, config, None, seed=1)
    assert first.compiled and first.optimizer.learning_rate.numpy() == pytest.approx(3e-3)
    # as after training: weights, statistics and optimiser state moved, a traced step kept
    first.set_weights([w + 1.0 for w in first.get_weights()])
    for variable in first.optimizer.variables:
        variable.assign(np.ones(variable.shape, dtype=variable.dtype))
    first.train_function = traced = object()

    again = training.training_model("scratch", SIZE, config, None, seed=2)
    assert again is first and again.train_function is traced, "the compiled model and its traced step are reused"
    keras.utils.set_random_seed(2)
    new = build_scratch_model(SIZE, architecture="mini")
    for mine, reference in zip(again.get_weights(), new.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, reference)
    assert int(again.optimizer.iterations.numpy()) == 0
    assert again.optimizer.learning_rate.numpy() == pytest.approx(3e-3)
    assert all(not np.any(v.numpy()) for v in again.optimizer.variables if "learning_rate" not in v.path)

    other = training.training_model("scratch", SIZE, TrainingConfig(learning_rate=1e-4, architecture="mini"), None, seed=2)
    assert other is not first, "another optimiser setting is another compiled model"
    xception = training.training_model("scratch", SIZE, TrainingConfig(learning_rate=3e-3), None, seed=2)
    assert xception is not first and len(xception.layers) > 100, "another network is another compiled model"
    other.train_function = None  # nothing traced here: leave no sentinel for later tests
    first.train_function = None


def test_batches_have_an_open_batch_size_and_reshuffle():
    x, y = np.arange(10, dtype="float32")[:, None], np.eye(2, dtype="float32")[np.arange(10) % 2]
    data = training.batches(x, y, 4, shuffle_seed=0)
    assert data.element_spec[0].shape.as_list() == [None, 1], "one traced step serves the last, partial batch"
    epochs = [np.concatenate([b[0].numpy()[:, 0] for b in data]) for _ in range(2)]
    assert [len(b[0]) for b in data] == [4, 4, 2]
    assert sorted(epochs[0]) == list(range(10)) and not np.array_equal(epochs[0], epochs[1])
    with pytest.raises(ValueError, match="10 patterns but 3 labels"):
        training.batches(x, y[:3], 4)


@pytest.mark.parametrize(
    ("edited", "retrains"),
    [
        ("io/readers.py", False),
        ("io/scans.py", False),
        ("evaluate/plotting.py", False),
        ("book/chapters.py", False),
        ("simulation/patterns.py", False),
        ("learn/training.py", True),
        ("learn/models.py", True),
        ("preprocess.py", True),
    ],
)
def test_a_trained_model_is_kept_unless_the_code_it_was_trained_by_changes(tiny_dataset, monkeypatch, edited, retrains):
    """A trial's key covers the training path's code (networks, training loop, preprocessing), not every module
    of the library: editing a reader, a figure or a chapter helper retrains nothing. (The data it was trained on
    is in the key by content: a change of the simulator that changes the patterns changes the key that way.)"""
    from pathlib import Path

    import ebsdlib
    from ebsdlib.learn.training import trial_key

    key = lambda: trial_key("scratch", tiny_dataset, SIZE, TrainingConfig(), None, 0)  # noqa: E731
    before = key()
    target = Path(ebsdlib.__file__).parent / edited
    real = Path.read_text

    def edited_text(self, *args, **kwargs):
        text = real(self, *args, **kwargs)
        return text + "\n\ndef an_edit():\n    return 1\n" if self.resolve() == target.resolve() else text

    monkeypatch.setattr(Path, "read_text", edited_text)
    assert (key() != before) == retrains
