import warnings

import numpy as np
import pytest

from ebsdlib.learn.models import PretrainedSource, SourceUnavailable, build_transfer_model, classifier, first_conv_layer
from ebsdlib.learn.sourcetask import ensure_source, pretrain_source_task
from ebsdlib.learn.training import TrainingConfig
from ebsdlib.simulation.patterns import Detector, DetectorGeometry


def test_pretraining_is_cached_and_feeds_the_transfer_model(monkeypatch, tmp_path):
    """On the stand-in network (Xception's loading of a base saved this way is test_models' donor test)."""
    import keras

    calls = []
    real_fit = keras.Model.fit
    monkeypatch.setattr(keras.Model, "fit", lambda self, *a, **k: calls.append(1) or real_fit(self, *a, **k))
    requested = PretrainedSource("source-task", "source-task", None, "pretrained by ebsdlib")
    kwargs = {
        "patterns_per_class": 6,
        "epochs": 1,
        "detector": Detector(DetectorGeometry(shape=(20, 24), master_pattern_half_size=68)),
        "seed": 3,
        "config": TrainingConfig(architecture="mini"),
    }
    source = pretrain_source_task(requested, 72, **kwargs)
    assert len(calls) == 1
    assert source.weights.endswith("mini_base.weights.h5") and "139, 141, 194, 205, 216, 224" in source.note
    assert "stand-in network mini" in source.note

    again = ensure_source(requested, 72, **kwargs)
    assert len(calls) == 1 and again.weights == source.weights

    model = build_transfer_model(72, source, architecture="mini")
    fresh = classifier("mini", 72, 3, None, 6, "fresh")
    assert not np.array_equal(first_conv_layer(model).get_weights()[0], first_conv_layer(fresh).get_weights()[0])
    base = keras.Model(fresh.input, fresh.get_layer("avg_pool").output)
    base.load_weights(source.weights)
    for layer in ("block1_conv1", "block2_sepconv2", "exit_sepconv_bn"):
        for mine, pretrained in zip(model.get_layer(layer).get_weights(), fresh.get_layer(layer).get_weights(), strict=True):
            np.testing.assert_array_equal(mine, pretrained)
    # an Xception base is not a base of the stand-in network
    xception = classifier("xception", 72, 3, None, 6, "xception")
    keras.Model(xception.input, xception.layers[-2].output).save_weights(tmp_path / "x.weights.h5")
    other = PretrainedSource("file", "file", str(tmp_path / "x.weights.h5"), "")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # one clear error, not after Keras' warnings of skipped parts
        with pytest.raises(SourceUnavailable, match="cannot load the stand-in network mini weights"):
            build_transfer_model(72, other, architecture="mini")


def test_a_source_with_weights_is_left_alone():
    source = PretrainedSource("x.h5", "file", "/some/x.h5", "file")
    assert ensure_source(source, 71) is source
