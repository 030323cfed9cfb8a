"""An interrupted build resumes: ``kill -9`` during training and during the jupyter-book step, then the
build again. Nothing finished is trained again, nothing half-written is trusted, and the site is built.

A book of one chapter (training) with a tiny profile of its own (``$EBSDLIB_PROFILES``), built in
subprocesses with a fresh cache: the same code path as ``make book``, at a cost of minutes."""

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
"""

BUILD = (
    "import sys; from pathlib import Path; from ebsdlib.pipeline import build_book; root = Path(sys.argv[1]); "
    "build_book('tiny', root=root, build_dir=root / '_build', html=sys.argv[2] == 'html')"
)


@pytest.fixture
def book(tmp_path):
    root = tmp_path / "book_root"
    (root / "book" / "profiles").mkdir(parents=True)
    for name in ("02_training.ipynb", "references.bib"):
        shutil.copy2(REPO_ROOT / "book" / name, root / "book" / name)
    (root / "book" / "intro.md").write_text("# A book of one chapter\n\nThe training chapter, interrupted and resumed.\n")
    shutil.copy2(REPO_ROOT / "_config.yml", root / "_config.yml")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/02_training\n")
    (root / "book" / "profiles" / "tiny.yml").write_text(PROFILE)
    env = {**os.environ, "EBSDLIB_PROFILES": str(root / "book" / "profiles"), "EBSDLIB_CACHE": str(tmp_path / "cache")}
    return root, env


def _start(root, env, what):
    return subprocess.Popen(
        [sys.executable, "-c", BUILD, str(root), what],
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


def test_a_killed_build_resumes_without_training_again_what_was_finished(book, tmp_path):
    root, env = book
    cache = tmp_path / "cache"
    first = _kill_when(_start(root, env, "html"), "scratch trial 1 epoch")  # trial 0 is saved, trial 1 trains
    assert "source task epoch" in first and "scratch trial 0 epoch" in first
    assert _trained(cache) == ["scratch"], "only the finished trial is in the cache"

    second = _kill_when(_start(root, env, "html"), "Running Jupyter-Book")  # every chapter ran; now the site
    assert "source task epoch" not in second and "scratch trial 0 epoch" not in second
    assert "scratch trial 1 epoch" in second and "transfer trial 1 epoch" in second
    assert _trained(cache) == ["scratch", "scratch", "transfer", "transfer"]

    third = subprocess.run([sys.executable, "-c", BUILD, str(root), "html"], env=env, capture_output=True, text=True)
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert not re.search(r"(trial \d+|source task) epoch", third.stdout), "nothing is trained a third time"
    assert "02_training unchanged: reused its execution" in third.stdout
    assert (root / "_build" / "html" / "book" / "02_training.html").is_file()
    assert _trained(cache) == ["scratch", "scratch", "transfer", "transfer"]
