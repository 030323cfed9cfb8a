"""Shared fixtures of the tests and the doctests: an isolated cache folder and tiny detector settings."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """Every test session writes its cache to a fresh temporary folder, never to the project's.

    ``EBSDLIB_TEST_CACHE`` names that folder instead (it must be empty), so that CI can build the smoke
    book afterwards from what the chapter tests simulated and trained (``.ci/run``)."""
    named = os.environ.get("EBSDLIB_TEST_CACHE")
    if named:
        path = Path(named)
        path.mkdir(parents=True, exist_ok=True)
        if any(path.iterdir()):
            raise pytest.UsageError(
                f"EBSDLIB_TEST_CACHE={named} is not empty; tests need a fresh cache. Empty the folder or name a new one."
            )
    else:
        path = tmp_path_factory.mktemp("ebsdlib-cache")
    old = os.environ.get("EBSDLIB_CACHE")
    os.environ["EBSDLIB_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("EBSDLIB_CACHE", None)
    else:
        os.environ["EBSDLIB_CACHE"] = old


@pytest.fixture
def tiny_geometry():
    from ebsdlib.simulate import DetectorGeometry

    return DetectorGeometry(shape=(30, 36))


@pytest.fixture(scope="session")
def materials():
    from ebsdlib.materials import load_materials

    return load_materials()


def tiny_bundle(tmp_path, name="bundle", seed=0, view="native", pattern_shape=(30, 36), channels=1, classes=None):
    """A model bundle of a tiny Keras classifier (32 px, six classes): fast stand-in for Xception."""
    import keras

    from ebsdlib.bundle import write_bundle
    from ebsdlib.materials import SPACE_GROUPS

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((32, 32, channels)),
            keras.layers.Conv2D(4, 5, strides=4, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(6, activation="softmax"),
        ]
    )
    path = tmp_path / f"{name}.keras"
    model.save(path)
    return write_bundle(
        path,
        tmp_path / name,
        classes=SPACE_GROUPS if classes is None else classes,
        image_size=32,
        channels=channels,
        preprocessing={"view": view, "canonical_size": None, "normalization": "minmax", "pattern_shape": list(pattern_shape)},
        approach="scratch",
        source=None,
        training={"data_fingerprint": "test"},
        metrics={"precision": 0.5},
    )


@pytest.fixture
def make_bundle():
    """``make_bundle(tmp_path, name=..., seed=..., view=..., pattern_shape=..., classes=...)``: a tiny model bundle."""
    return tiny_bundle
