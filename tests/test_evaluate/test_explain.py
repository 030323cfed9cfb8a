import numpy as np
import pandas as pd
import pytest

from ebsdlib.datasets.container import PatternDataset
from ebsdlib.evaluate.explain import (
    Explanation,
    background_indices,
    explain,
    select_correct_inputs,
    zone_axes_pixels,
    zone_axis_attribution,
)
from ebsdlib.simulation.patterns import DetectorGeometry, master_pattern, project_patterns, random_rotations


def _separable_model(channels=1):
    """A small Xception-like network: separable convolutions, batch normalisation, ReLU, softmax."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((24, 24, channels))
    x = layers.Conv2D(8, 3, strides=2, use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(16, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(6, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    # Non-trivial BatchNorm statistics, so that the network is not near-constant.
    model(np.random.default_rng(1).random((32, 24, 24, channels)).astype("float32") * 3, training=True)
    return model


class TestDeepShap:
    def test_additivity_with_separable_convolutions(self):
        model = _separable_model()
        rng = np.random.default_rng(0)
        e = explain(model, rng.random((8, 24, 24, 1)).astype("float32"), rng.random((3, 24, 24, 1)).astype("float32"))
        assert e.method == "DeepExplainer" and e.note == ""
        assert e.values.shape == (3, 24, 24, 6)
        spread = np.abs(e.outputs - e.expected).max()
        assert spread > 1e-3, "the test needs outputs that differ from the expectation"
        assert e.additivity_error < 1e-3 * max(1.0, spread)

    def test_channels_are_summed(self):
        model = _separable_model(channels=3)
        rng = np.random.default_rng(0)
        one = rng.random((2, 24, 24, 1)).astype("float32")
        e = explain(model, np.repeat(rng.random((6, 24, 24, 1)), 3, axis=-1).astype("float32"), np.repeat(one, 3, axis=-1))
        assert e.values.shape == (2, 24, 24, 6)  # three channels summed into one map per class
        assert e.additivity_error < 1e-3

    def test_fallback_restores_tensorflow_and_says_so(self, monkeypatch):
        import shap
        from tensorflow.python.eager import execute as tf_execute

        original = tf_execute.record_gradient

        class Broken(shap.DeepExplainer):
            def shap_values(self, *args, **kwargs):
                tf_execute.record_gradient = lambda *a, **k: None  # what a failing DeepExplainer leaves behind
                raise RuntimeError("unsupported op")

        monkeypatch.setattr(shap, "DeepExplainer", Broken)
        model = _separable_model()
        rng = np.random.default_rng(0)
        e = explain(model, rng.random((4, 24, 24, 1)).astype("float32"), rng.random((1, 24, 24, 1)).astype("float32"))
        assert e.method == "GradientExplainer" and "unsupported op" in e.note
        assert tf_execute.record_gradient is original
        assert e.values.shape == (1, 24, 24, 6)

    def test_unknown_method(self):
        with pytest.raises(ValueError, match="deep"):
            explain(_separable_model(), np.zeros((1, 24, 24, 1)), np.zeros((1, 24, 24, 1)), method="lime")


def test_additivity_error_arithmetic():
    values = np.zeros((1, 2, 2, 2))
    values[0, 0, 0] = [0.25, -0.25]
    e = Explanation(values, np.array([0.5, 0.5]), np.array([[0.75, 0.25]]), "DeepExplainer")
    assert e.additivity_error == pytest.approx(0.0)
    e.outputs = np.array([[0.8, 0.2]])
    assert e.additivity_error == pytest.approx(0.05)


class TestSelection:
    @pytest.fixture
    def dataset(self):
        rows = [
            {"space_group": sg, "material": str(sg), "split": split}
            for sg in (221, 223, 225, 227, 229, 230)
            for split in ["train"] * 4 + ["test"] * 3
        ]
        patterns = np.zeros((len(rows), 8, 8), dtype=np.float32)
        for i, row in enumerate(rows):
            patterns[i, 0, 0] = (221, 223, 225, 227, 229, 230).index(row["space_group"]) + 1
        return PatternDataset(patterns, pd.DataFrame(rows))

    def test_background_per_space_group(self, dataset):
        index = background_indices(dataset, 3, seed=0)
        assert len(index) == 18
        assert (dataset.table.loc[index, "split"] == "train").all()
        assert dataset.table.loc[index].groupby("space_group").size().tolist() == [3] * 6
        with pytest.raises(ValueError, match="fewer than 5"):
            background_indices(dataset, 5)

    def test_only_correctly_classified_inputs(self, dataset):
        class AlwaysFirstClass:
            """Calls every pattern 221: right only for space group 221."""

            def predict(self, x, verbose=0):
                out = np.zeros((len(x), 6))
                out[:, 0] = 1.0
                return out

        picks, correct = select_correct_inputs(AlwaysFirstClass(), dataset, 8, 1, seed=0)
        assert len(picks) == 6 and (dataset.table.loc[picks, "split"] == "test").all()
        assert dataset.table.loc[picks, "space_group"].tolist() == [221, 223, 225, 227, 229, 230]
        assert correct.tolist() == [True, False, False, False, False, False]


class TestZoneAxes:
    def test_projected_zone_axes_fall_on_bright_maxima(self, materials):
        geometry = DetectorGeometry(shape=(120, 146))
        ni = materials["Ni"]
        rng = np.random.default_rng(2)
        rotations = random_rotations(3, rng)
        clean = project_patterns(master_pattern(ni, half_size=150), rotations, geometry)
        for i in range(3):
            xy = zone_axes_pixels(ni, rotations.data[i], geometry.pc, geometry)
            assert len(xy) >= 2
            inside = zone_axis_attribution(clean[i] - clean[i].min(), xy, radius=2)
            assert inside["ratio"] > 1.3, "zone axes are intensity maxima of a kinematical pattern"

    def test_scaling_to_the_model_input(self, materials):
        geometry = DetectorGeometry(shape=(120, 146))
        q = np.array([1.0, 0, 0, 0])
        full = zone_axes_pixels(materials["Ni"], q, geometry.pc, geometry)
        small = zone_axes_pixels(materials["Ni"], q, geometry.pc, geometry, image_size=96)
        np.testing.assert_allclose(small, full * [96 / 146, 96 / 120])

    def test_attribution_shares(self):
        values = np.zeros((10, 10))
        values[5, 5] = 3.0
        values[0, 0] = -1.0
        result = zone_axis_attribution(values, np.array([[5, 5]]), radius=1)
        assert result["shap_share"] == pytest.approx(0.75)
        assert result["area_share"] == pytest.approx(5 / 100)
        assert result["ratio"] == pytest.approx(15)
