"""An interrupted build resumes: ``kill -9`` during training, during the holdout predictions and during the
jupyter-book step, then the build again. Nothing finished is trained again, nothing half-written is
trusted, the site is built, and its pages show what a clean build of the same seed shows, cell by cell.

A book of two chapters (training, holdout metrics) with a tiny profile of its own (``$EBSDLIB_PROFILES``),
built in subprocesses with fresh caches: the same code path as ``make book``, at a cost of minutes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ebsdlib.paths import REPO_ROOT
from ebsdlib.pipeline import page_differences

pytestmark = pytest.mark.slow

PROFILE = """description: two trials of each approach on a few patterns, for the interruption test
shared:
  seed: 11
  detector_shape: [40, 49]
  image_size: 72
  train_per_space_group: 6
  val_per_space_group: 6
  test_per_material: 1
  trials: 2
  patience: 1
  max_epochs: 1
  validate_keras_statistics: false
  pretrained_source: source-task
  source_patterns_per_class: 4
  source_epochs: 1
  map_shape: [2, 3]
  n_grains: 1
chapters:
  02_training: {}
  03_holdout: {}
"""

BUILD = (
    "import sys; from pathlib import Path; from ebsdlib.pipeline import build_book; root = Path(sys.argv[1]); "
    "build_book('tiny', root=root, build_dir=root / sys.argv[3], html=sys.argv[2] == 'html')"
)
CHAPTERS = ("02_training", "03_holdout")
#: What two builds of the same seed may show differently, and why.
MAY_DIFFER = {"s per epoch": "wall time of an epoch (a row of the training summary)"}


@pytest.fixture
def book(tmp_path):
    root = tmp_path / "book_root"
    (root / "book" / "profiles").mkdir(parents=True)
    for name in (*(f"{c}.ipynb" for c in CHAPTERS), "references.bib"):
        shutil.copy2(REPO_ROOT / "book" / name, root / "book" / name)
    (root / "book" / "intro.md").write_text("# A book of two chapters\n\nTraining and holdout, interrupted and resumed.\n")
    shutil.copy2(REPO_ROOT / "_config.yml", root / "_config.yml")
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n" + "".join(f"  - file: book/{c}\n" for c in CHAPTERS)
    )
    (root / "book" / "profiles" / "tiny.yml").write_text(PROFILE)
    env = {**os.environ, "EBSDLIB_PROFILES": str(root / "book" / "profiles"), "EBSDLIB_CACHE": str(tmp_path / "cache")}
    return root, env


def _start(root, env, what, build="_build"):
    return subprocess.Popen(
        [sys.executable, "-c", BUILD, str(root), what, build],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the chapter's kernel and jupyter-book are children: kill the whole group
    )


def _kill_when(process, says: str, timeout: float = 900) -> str:
    """Read the build's output until a line contains ``says``, then ``kill -9`` it and its children."""
    seen, deadline = [], time.monotonic() + timeout
    for line in process.stdout:
        seen.append(line)
        if says in line:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return "".join(seen)
        if time.monotonic() > deadline:
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    pytest.fail(f"the build never printed {says!r}; its output:\n" + "".join(seen)[-3000:])


def _trained(cache: Path) -> list[str]:
    return sorted(p.name.split("-")[0] for p in (cache / "models").iterdir() if not p.name.startswith("."))


def test_a_killed_build_resumes_and_shows_what_a_clean_build_shows(book, tmp_path, request):
    root, env = book
    cache = tmp_path / "cache"
    # the clean build of the same seed, in a cache of its own, runs beside the interrupted ones; with a numba
    # cache of its own too (two processes compiling the same kernels into one cache leave entries that crash
    # the next process to load them, see conftest)
    with open(tmp_path / "clean.log", "w") as log:
        clean = subprocess.Popen(
            [sys.executable, "-c", BUILD, str(root), "pages only", "_clean"],
            env={**env, "EBSDLIB_CACHE": str(tmp_path / "clean-cache"), "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    request.addfinalizer(clean.kill)  # when the test fails before it ends

    first = _kill_when(_start(root, env, "html"), "scratch trial 1 epoch")  # trial 0 is saved, trial 1 trains
    assert "source task epoch" in first and "scratch trial 0 epoch" in first
    assert _trained(cache) == ["scratch"], "only the finished trial is in the cache"

    second = _kill_when(_start(root, env, "html"), "03_holdout (tiny) ...")  # training done; the predictions start
    assert "source task epoch" not in second and "scratch trial 0 epoch" not in second
    assert "scratch trial 1 epoch" in second and "transfer trial 1 epoch" in second
    assert _trained(cache) == ["scratch", "scratch", "transfer", "transfer"]

    third = _kill_when(_start(root, env, "html"), "Running Jupyter-Book")  # every chapter ran; now the site
    assert "02_training unchanged: reused its execution" in third
    assert not re.search(r"(trial \d+|source task) epoch", third), "nothing is trained again"

    fourth = subprocess.run([sys.executable, "-c", BUILD, str(root), "html", "_build"], env=env, capture_output=True, text=True)
    assert fourth.returncode == 0, fourth.stdout[-3000:] + fourth.stderr[-3000:]
    assert not re.search(r"(trial \d+|source task) epoch", fourth.stdout), "nothing is trained a fourth time"
    assert all(f"{c} unchanged: reused its execution" in fourth.stdout for c in CHAPTERS)
    assert (root / "_build" / "html" / "book" / "02_training.html").is_file()
    assert _trained(cache) == ["scratch", "scratch", "transfer", "transfer"]

    assert clean.wait(timeout=900) == 0, (tmp_path / "clean.log").read_text()[-3000:]
    for chapter in CHAPTERS:
        resumed, fresh = (root / build / "staging" / "tiny" / "book" / f"{chapter}.ipynb" for build in ("_build", "_clean"))
        assert page_differences(resumed, fresh, MAY_DIFFER) == [], f"{chapter}: the resumed build shows other values"
