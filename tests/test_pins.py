"""pyproject.toml (ranges), requirements.lock (exact pins) and environment.yml (the same pins) agree."""

import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ebsdlib.paths import REPO_ROOT


def _lock():
    pins = {}
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def _dependencies():
    """The library's requirements and its extras' (book, test, dev): the lock pins them all."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = [d for group in project.get("optional-dependencies", {}).values() for d in group]
    return [Requirement(d) for d in [*project["dependencies"], *extras]]


def _environment():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = {}
    for entry in pip:
        if entry.startswith("-"):
            continue
        name, version = entry.split("==")
        pins[canonicalize_name(name)] = version
    return env, pins


@pytest.mark.parametrize("requirement", _dependencies(), ids=str)
def test_lock_pins_satisfy_the_declared_ranges(requirement):
    lock = _lock()
    name = canonicalize_name(requirement.name)
    assert name in lock, f"{requirement.name} is declared in pyproject.toml but not pinned in requirements.lock"
    assert requirement.specifier.contains(lock[name], prereleases=True), (
        f"requirements.lock pins {requirement.name}=={lock[name]}, outside pyproject's {requirement.specifier}"
    )


def test_environment_names_the_same_pins():
    env, pins = _environment()
    lock = _lock()
    declared = {canonicalize_name(r.name) for r in _dependencies()}
    assert declared <= set(pins), f"missing from environment.yml: {sorted(declared - set(pins))}"
    mismatched = {n: (v, lock.get(n)) for n, v in pins.items() if lock.get(n) != v}
    assert not mismatched, f"environment.yml pins differ from requirements.lock: {mismatched}"
    assert "python=3.12" in env["dependencies"]


def test_jupyter_book_is_1x():
    assert _lock()["jupyter-book"].startswith("1.")
