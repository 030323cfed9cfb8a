"""Xception's own behaviour, on one Xception built for this module.

The smoke profile (and with it every chapter test and the interruption test) trains the stand-in network
``mini``; the ``default`` and ``paper`` profiles train Keras' Xception. What is particular to Xception is
checked here, tracing it as few times as possible: SHAP's DeepExplainer through its depthwise convolutions
(``DepthwiseConv2dNative``), a model bundle round trip, the L2 weight decay on every one of its convolutions,
and the source task pretraining an Xception whose base the transfer model loads. The builders, the input
size check and the ImageNet file format are in ``test_models.py``, one training step in ``test_training.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

SIZE = 71  # the smallest input Keras' Xception takes


@pytest.fixture(scope="module")
def xception():
    """An Xception scratch model (one channel) with BatchNorm statistics of its own (not the initial 0 and 1),
    so that its outputs differ between patterns."""
    import keras

    from ebsdlib.learn.models import build_scratch_model

    keras.utils.set_random_seed(0)
    model = build_scratch_model(SIZE)
    x = np.random.default_rng(1).random((16, SIZE, SIZE, 1)).astype("float32")
    from ebsdlib.learn.training import recalibrate_batchnorm

    recalibrate_batchnorm(model, x, batch_size=16)
    return model


@pytest.fixture(scope="module")
def patterns():
    return np.random.default_rng(2).random((4, SIZE, SIZE, 1)).astype("float32")


def test_deep_shap_runs_through_xceptions_depthwise_convolutions(xception, patterns):
    from ebsdlib.evaluate.explain import explain

    e = explain(xception, patterns[:2], patterns[2:3])
    assert e.method == "DeepExplainer" and e.note == "", e.note
    assert e.values.shape == (1, SIZE, SIZE, 6)
    spread = np.abs(e.outputs - e.expected).max()
    assert spread > 1e-4, "the test needs outputs that differ from the expectation"
    assert e.additivity_error < 1e-2 * max(1.0, spread)


def test_a_bundle_of_an_xception_gives_its_predictions_back(xception, patterns, tmp_path):
    from ebsdlib.crystal.materials import SPACE_GROUPS
    from ebsdlib.io.bundle import read_bundle, write_bundle

    path = tmp_path / "xception.keras"
    xception.save(path)
    written = write_bundle(
        path,
        tmp_path / "bundle",
        classes=SPACE_GROUPS,
        image_size=SIZE,
        channels=1,
        preprocessing={"view": "native", "canonical_size": None, "normalization": "minmax", "pattern_shape": [60, 73]},
        approach="scratch",
        source=None,
        training={"data_fingerprint": "test"},
        metrics={"precision": 0.5},
    )
    bundle = read_bundle(written.folder, classes=SPACE_GROUPS, image_size=SIZE, channels=1)
    loaded = bundle.load_model()
    assert len(loaded.layers) == len(xception.layers) and loaded.get_layer("block14_sepconv2").pointwise_kernel.shape == (
        1,
        1,
        1536,
        2048,
    )
    np.testing.assert_allclose(loaded.predict(patterns, verbose=0), xception.predict(patterns, verbose=0), atol=1e-6)


def test_weight_decay_is_an_l2_penalty_on_every_xception_convolution():
    import keras

    from ebsdlib.learn.models import build_scratch_model
    from ebsdlib.learn.training import apply_weight_decay

    keras.utils.set_random_seed(0)
    model = build_scratch_model(SIZE)  # its own copy: the penalty attaches to the layers
    n = apply_weight_decay(model, 1e-3)
    kernels = [v for v in model.trainable_weights if v.regularizer is not None]
    convolutions = [
        layer
        for layer in model.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.Dense))
    ]
    separable = sum(isinstance(layer, keras.layers.SeparableConv2D) for layer in convolutions)
    # every convolution's kernel (a separable convolution has two: depthwise and pointwise) and the dense head
    assert n == len(kernels) == len(convolutions) + separable
    assert all(("kernel" in v.path) for v in kernels), "biases and BatchNorm parameters are not penalised"
    expected = 1e-3 * sum(float(np.sum(np.square(v.numpy()))) for v in kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="weight_decay"):
        apply_weight_decay(model, -1)
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert apply_weight_decay(dense, 0) == 0 and not dense.losses, "no penalty at weight decay 0"
