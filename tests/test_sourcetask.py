import numpy as np
import pytest

from ebsdlib.models import PretrainedSource, build_transfer_model, first_conv_layer
from ebsdlib.simulate import DetectorGeometry
from ebsdlib.sourcetask import ensure_source, pretrain_source_task


@pytest.mark.slow
def test_pretraining_is_cached_and_feeds_the_transfer_model(monkeypatch):
    import keras

    calls = []
    real_fit = keras.Model.fit
    monkeypatch.setattr(keras.Model, "fit", lambda self, *a, **k: calls.append(1) or real_fit(self, *a, **k))
    requested = PretrainedSource("source-task", "source-task", None, "pretrained by ebsdlib")
    kwargs = dict(patterns_per_class=6, epochs=1, geometry=DetectorGeometry(shape=(20, 24)), seed=3)
    source = pretrain_source_task(requested, 71, **kwargs)
    assert len(calls) == 1
    assert source.weights.endswith(".weights.h5") and "139, 141, 194, 205, 216, 224" in source.note

    again = ensure_source(requested, 71, **kwargs)
    assert len(calls) == 1 and again.weights == source.weights

    model = build_transfer_model(71, source)
    base = keras.applications.Xception(
        include_top=False,
        weights=None,
        input_tensor=keras.layers.Rescaling(2.0, offset=-1.0)(keras.Input((71, 71, 3))),
        pooling="avg",
    )
    base.load_weights(source.weights)
    np.testing.assert_array_equal(first_conv_layer(model).get_weights()[0], base.get_layer("block1_conv1").get_weights()[0])


def test_a_source_with_weights_is_left_alone():
    source = PretrainedSource("x.h5", "file", "/some/x.h5", "file")
    assert ensure_source(source, 71) is source
