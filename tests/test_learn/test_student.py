"""The distilled student and the mapping-speed benchmark, with tiny Keras models (the Xception path is the
speed chapter's test)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ebsdlib.bench.benchmarks import Classifier, bfloat16_copy, library_overhead, mapping_benchmark, student_verdict
from ebsdlib.book.prose import student_sentence
from ebsdlib.learn.student import StudentConfig, build_student, distil_student, distillation_loss, soft_targets
from ebsdlib.learn.training import TrainingConfig, TrialResult


def _entropy(p):
    return -(p * np.log(p)).sum(axis=1)


class TestSoftTargets:
    def test_temperature_one_of_one_teacher_is_its_probabilities(self):
        p = np.array([[0.6, 0.3, 0.05, 0.05, 0.0, 0.0], [0.1, 0.1, 0.1, 0.1, 0.1, 0.5]])
        assert np.allclose(soft_targets(p, 1.0), p / p.sum(axis=1, keepdims=True), atol=1e-6)

    def test_an_ensemble_of_equal_teachers_is_one_teacher(self):
        p = np.random.default_rng(0).dirichlet(np.ones(6), size=5)
        assert np.allclose(soft_targets(np.stack([p, p, p]), 3.0), soft_targets(p, 3.0), atol=1e-6)

    def test_two_teachers_give_the_normalised_geometric_mean(self):
        a, b = np.array([[0.8, 0.2]]), np.array([[0.2, 0.8]])
        assert np.allclose(soft_targets(np.stack([a, b]), 1.0), [[0.5, 0.5]])

    def test_a_higher_temperature_softens_but_keeps_the_order(self):
        p = np.random.default_rng(1).dirichlet(np.ones(6) * 0.5, size=20)
        cold, warm = soft_targets(p, 1.0), soft_targets(p, 5.0)
        assert (_entropy(warm) > _entropy(cold)).all()
        assert (np.argsort(warm, axis=1)[:, -1] == np.argsort(cold, axis=1)[:, -1]).all()
        assert np.allclose(warm.sum(axis=1), 1, atol=1e-6)

    def test_a_temperature_that_is_not_positive_is_refused(self):
        with pytest.raises(ValueError, match="temperature must be positive"):
            soft_targets(np.ones((1, 6)) / 6, 0)


class TestDistillationLoss:
    def test_without_the_soft_term_it_is_the_cross_entropy_with_the_true_labels(self):
        logits = np.array([[2.0, 0.5, 0.1, 0.0, -1.0, 0.3]], dtype=np.float32)
        hard = np.eye(6, dtype=np.float32)[[1]]
        soft = np.full((1, 6), 1 / 6, dtype=np.float32)
        loss = float(np.asarray(distillation_loss(4.0, 0.0)(np.concatenate([soft, hard], axis=1), logits))[0])
        expected = -np.log(np.exp(logits[0, 1]) / np.exp(logits[0]).sum())
        assert loss == pytest.approx(expected, rel=1e-5)

    def test_a_student_that_matches_the_teacher_has_no_soft_loss(self):
        logits = np.random.default_rng(2).normal(size=(4, 6)).astype(np.float32)
        t = 3.0
        soft = np.exp(logits / t) / np.exp(logits / t).sum(axis=1, keepdims=True)
        y = np.concatenate([soft, np.eye(6, dtype=np.float32)[[0, 1, 2, 3]]], axis=1).astype(np.float32)
        assert np.allclose(np.asarray(distillation_loss(t, 1.0)(y, logits)), 0, atol=1e-5)
        assert (np.asarray(distillation_loss(t, 1.0)(y, logits + np.array([5.0, 0, 0, 0, 0, 0], dtype=np.float32))) > 0.1).all()


class TestStudentModel:
    def test_shapes_probabilities_and_logits_layer(self):
        model = build_student(32, width=8)
        x = np.random.default_rng(0).random((3, 32, 32, 1)).astype(np.float32)
        p = model.predict(x, verbose=0)
        assert p.shape == (3, 6) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
        assert model.get_layer("logits").output.shape[-1] == 6
        assert model.count_params() < 50_000

    def test_too_small_an_input_is_refused(self):
        with pytest.raises(ValueError, match="at least 16 px"):
            build_student(8)

    @pytest.mark.parametrize(
        ("bad", "name"), [({"temperature": 0}, "temperature"), ({"soft_weight": 1.5}, "soft_weight"), ({"width": 2}, "width")]
    )
    def test_settings_out_of_range_are_named(self, bad, name):
        with pytest.raises(ValueError, match=name):
            StudentConfig(**bad)

    def test_settings_from_the_chapter_parameters(self):
        config = StudentConfig.from_parameters({"student_image_size": 40, "temperature": 2.0, "profile": "smoke"})
        assert config.image_size == 40 and config.temperature == 2.0 and config.width == StudentConfig().width


@pytest.fixture
def tiny_teacher(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(4, 5, strides=4),
            keras.layers.Flatten(),
            keras.layers.Dense(6, activation="softmax"),
        ]
    )
    path = tmp_path / "teacher.keras"
    model.save(path)
    return TrialResult("transfer", 0, pd.DataFrame(), Path(path), {"key": "tiny-teacher", "image_size": 32})


@pytest.fixture
def tiny_book(tiny_geometry):
    from ebsdlib.datasets.container import SplitCounts
    from ebsdlib.simulation.datasets import simulate_dataset
    from ebsdlib.simulation.patterns import Detector

    detector = Detector(tiny_geometry)
    return simulate_dataset(SplitCounts(12, 6, 2), detector, seed=0), detector


class TestDistillation:
    CONFIG = StudentConfig(image_size=32, width=8, patterns_per_space_group=24, max_epochs=2, patience=2)

    def test_a_student_is_trained_once_then_read_from_the_cache(self, tiny_teacher, tiny_book, tiny_geometry, monkeypatch):
        dataset, detector = tiny_book
        lines = []
        student = distil_student([tiny_teacher], dataset, detector, self.CONFIG, 0, lines.append)
        assert student.model_path.is_file() and student.image_size == 32
        assert list(student.history.columns[:5]) == ["epoch", "loss", "val_loss", "val_accuracy", "teacher_agreement"]
        assert 1 <= student.epochs <= 2 and student.info["distillation_patterns"] == 6 * 24
        assert any("student epoch" in line for line in lines)
        p = student.load_model().predict(np.zeros((1, 32, 32, 1), dtype=np.float32), verbose=0)
        assert p.shape == (1, 6)

        import ebsdlib.learn.student as module

        monkeypatch.setattr(module, "build_student", lambda *a, **k: pytest.fail("a cached student was trained again"))
        again = distil_student([tiny_teacher], dataset, detector, self.CONFIG, 0, None)
        assert again.model_path == student.model_path

    def test_the_distillation_patterns_are_not_the_books(self, tiny_teacher, tiny_book, tiny_geometry):
        from ebsdlib.datasets.container import SplitCounts
        from ebsdlib.learn.student import DISTILLATION_SEED
        from ebsdlib.simulation.datasets import simulate_dataset

        dataset, detector = tiny_book
        new = simulate_dataset(SplitCounts(24, 0, 0), detector, DISTILLATION_SEED)
        book = {tuple(np.round(q, 6)) for q in dataset.table[["qa", "qb", "qc", "qd"]].to_numpy()}
        assert not book & {tuple(np.round(q, 6)) for q in new.table[["qa", "qb", "qc", "qd"]].to_numpy()}

    def test_no_teacher_or_no_validation_split_is_refused(self, tiny_teacher, tiny_book, tiny_geometry):
        dataset, detector = tiny_book
        with pytest.raises(ValueError, match="at least one trained teacher"):
            distil_student([], dataset, detector, self.CONFIG)
        no_validation = dataset.subset("train")
        with pytest.raises(ValueError, match="no validation patterns"):
            distil_student([tiny_teacher], no_validation, detector, self.CONFIG)


class TestSpeedBenchmark:
    def _classifier(self, name="tiny"):
        import keras

        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(), keras.layers.Dense(6, activation="softmax")])
        return Classifier(name, (model,), 32, 1, "a tiny model")

    def test_every_contender_on_the_same_patterns_with_ratios_to_hough(self):
        from ebsdlib.crystal.materials import dual_phase_materials
        from ebsdlib.simulation.patterns import Detector, DetectorGeometry
        from ebsdlib.simulation.sample import simulate_dual_phase_map

        geometry = DetectorGeometry(shape=(60, 73))
        micro, scan = simulate_dual_phase_map((3, 4), 1, 0.3, Detector(geometry), seed=0)
        test = np.asarray(scan.patterns[:5])
        table = mapping_benchmark(
            [self._classifier("a"), self._classifier("b")],
            np.asarray(scan.patterns),
            micro.space_group,
            test,
            np.full(5, 225),
            geometry=geometry,
            phases=dual_phase_materials(),
            progress=None,
        )
        assert list(table.index) == ["Hough indexing (PyEBSDIndex)", "a", "b", "a + Hough orientation", "b + Hough orientation"]
        # the complete map costs the classifier's time and one Hough pass, and loses what indexing leaves out
        for name in ("a", "b"):
            assert table.loc[f"{name} + Hough orientation", "patterns/s"] < table.loc[name, "patterns/s"]
            assert table.loc[f"{name} + Hough orientation", "map accuracy"] <= table.loc[name, "map accuracy"]
        assert table["× Hough"].iloc[0] == 1.0 and (table["patterns/s"] > 0).all()
        assert np.allclose(table["× Hough"], table["patterns/s"] / table["patterns/s"].iloc[0])
        assert np.isnan(table.loc["Hough indexing (PyEBSDIndex)", "test accuracy"])
        assert table[["map accuracy"]].apply(lambda c: c.between(0, 1)).all().all()
        assert table.loc["a", "map accuracy"] == table.loc["b", "map accuracy"]  # the same model on the same patterns

    def test_patterns_and_truth_of_different_lengths_are_refused(self, tiny_geometry):
        with pytest.raises(ValueError, match="differ in length"):
            mapping_benchmark(
                [], np.zeros((4, 30, 36)), np.zeros(3), np.zeros((0, 30, 36)), np.zeros(0), geometry=tiny_geometry, phases=[]
            )

    def test_bfloat16_inference_keeps_the_weights_and_nearly_the_answers(self):
        model = build_student(32, width=8)
        copy = bfloat16_copy(model)
        assert copy.get_layer("stem_conv").dtype_policy.name == "mixed_bfloat16"
        x = np.random.default_rng(0).random((8, 32, 32, 1)).astype(np.float32)
        a = model.predict(x, verbose=0)
        b = np.asarray(copy.predict(x, verbose=0), dtype=np.float32)
        assert np.abs(a - b).max() < 0.05
        assert all(np.array_equal(u, v) for u, v in zip(model.get_weights(), copy.get_weights(), strict=False))

    def test_the_training_loop_is_timed_against_a_bare_fit(self, monkeypatch):
        import keras

        def build():
            return keras.Sequential(
                [
                    keras.Input((16, 16, 1)),
                    keras.layers.Conv2D(4, 3),
                    keras.layers.BatchNormalization(),
                    keras.layers.Flatten(),
                    keras.layers.Dense(6, activation="softmax"),
                ]
            )

        rng = np.random.default_rng(0)
        x, xv = rng.random((32, 16, 16, 1), dtype=np.float32), rng.random((8, 16, 16, 1), dtype=np.float32)
        y, yv = np.eye(6, dtype=np.float32)[rng.integers(0, 6, 32)], np.eye(6, dtype=np.float32)[rng.integers(0, 6, 8)]
        # the second epoch of each loop is timed (the first traces the steps): ebsdlib's from its history, the bare
        # fit's with the benchmark's clock, which here advances 4 s a reading
        import itertools

        import ebsdlib.bench.benchmarks as bench
        import ebsdlib.learn.training as training

        real_fit_model = training.fit_model

        def fit_model(*args, **kwargs):
            history = real_fit_model(*args, **kwargs)
            history["seconds"] = [5.0, 2.0]
            return history

        clock = itertools.count(0, 4)
        monkeypatch.setattr(bench, "fit_model", fit_model)
        monkeypatch.setattr(bench.time, "perf_counter", lambda: float(next(clock)))
        timing = library_overhead(x, y, xv, yv, TrainingConfig(batch_size=8), build=build)
        assert timing["ebsdlib fit_model, patterns/s"] == 32 / 2.0
        assert timing["bare keras.Model.fit, patterns/s"] == 32 / 4.0
        assert timing["overhead (ebsdlib s / bare s)"] == 0.5
        with pytest.raises(ValueError, match="training and validation patterns"):
            library_overhead(x[:0], y[:0], xv, yv, TrainingConfig(), build=build)


def _table(student_speed, student_test, student_map, teacher_test=0.8, teacher_map=0.5, ensemble=False):
    rows = {
        "Hough indexing (PyEBSDIndex)": (1.0, np.nan, 0.78),
        "Xception transfer, float32 (72 px)": (0.5, 0.70, 0.40),
        "student, float32 (48 px)": (student_speed, student_test, student_map),
    }
    if ensemble:
        rows["teacher: ensemble of 2 transfer trials"] = (0.25, teacher_test, teacher_map)
    else:
        rows["Xception transfer, float32 (72 px)"] = (0.5, teacher_test, teacher_map)
    return pd.DataFrame(rows, index=["× Hough", "test accuracy", "map accuracy"]).T


class TestStudentVerdict:
    def test_met_when_fast_enough_and_as_right(self):
        verdict = student_verdict(_table(3.0, 0.795, 0.5))
        assert all(verdict["met"].values()) and "meets its goal" in student_sentence(verdict)
        assert verdict["test_gap"] == pytest.approx(-0.5) and verdict["speed"] == 3.0

    @pytest.mark.parametrize(
        ("speed", "test", "map_", "failed"), [(0.9, 0.8, 0.5, "speed"), (2.0, 0.78, 0.5, "test"), (2.0, 0.8, 0.49, "map")]
    )
    def test_each_part_of_the_goal_can_fail(self, speed, test, map_, failed):
        verdict = student_verdict(_table(speed, test, map_))
        assert not verdict["met"][failed] and sum(verdict["met"].values()) == 2
        assert "falls short" in student_sentence(verdict)

    def test_the_teacher_is_the_ensemble_when_there_is_one(self):
        verdict = student_verdict(_table(2.0, 0.75, 0.5, teacher_test=0.76, ensemble=True))
        assert verdict["teacher"].startswith("teacher: ensemble") and verdict["test_gap"] == pytest.approx(-1.0)

    def test_a_table_without_a_student_is_refused(self):
        with pytest.raises(ValueError, match="float32 student"):
            student_verdict(_table(1, 1, 1).drop("student, float32 (48 px)"))
