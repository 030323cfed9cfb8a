"""The library as a user installs it: a wheel built from the sources, installed without the repository, reads its
own data (``ebsdlib/data``, through importlib.resources) and runs its command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ebsdlib.crystal.materials import load_materials
from ebsdlib.paths import REPO_ROOT


@pytest.mark.slow
def test_a_wheel_installed_apart_from_the_repository_reads_its_data_and_runs(tmp_path):
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "ebsdlib", source / "ebsdlib", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)], check=True)
    (wheel,) = (tmp_path / "dist").glob("ebsdlib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"ebsdlib/data/materials.yml", "ebsdlib/data/settings.yml", "ebsdlib/data/paper.yml"} <= names
    assert {"ebsdlib/simulation/patterns.py", "ebsdlib/learn/models.py", "ebsdlib/cli.py"} <= names
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)

    env = {**os.environ, "PYTHONPATH": str(site)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = "import ebsdlib; from ebsdlib.crystal.materials import load_materials; print(ebsdlib.__file__); print(len(load_materials()))"
    run = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    where, count = run.stdout.split()
    assert Path(where).is_relative_to(site), "the installed copy, not the repository's"
    assert int(count) == len(load_materials())
    help_ = subprocess.run(
        [sys.executable, "-m", "ebsdlib", "simulate", "--help"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert help_.returncode == 0 and "--material" in help_.stdout, help_.stderr
    # an installed copy has no book/profiles: a command that needs a profile says where to point
    no_book = subprocess.run(
        [sys.executable, "-m", "ebsdlib", "simulate", "--material", "Ni", "--n", "1", "--out", "x"],
        cwd=elsewhere,
        env={k: v for k, v in env.items() if k != "EBSDLIB_PROFILES"},
        capture_output=True,
        text=True,
    )
    assert no_book.returncode == 1 and no_book.stderr.startswith("error: no profiles at "), no_book.stderr
    assert "set EBSDLIB_PROFILES" in no_book.stderr and not (elsewhere / "x").exists()
