"""Shared fixtures: an isolated cache folder and tiny detector settings."""

from __future__ import annotations

import os
import warnings

import matplotlib
import pytest

matplotlib.use("agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """Every test session writes its cache to a fresh temporary folder, never to the project's."""
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
