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
