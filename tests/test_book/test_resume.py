"""An interrupted build resumes: ``kill -9`` during training, during the holdout predictions and during the
jupyter-book step, then the build again. Nothing finished is trained again, nothing half-written is
trusted, the site is built, and its pages show what a clean build of the same seed shows, cell by cell.

A book of two chapters (training, holdout metrics) with a tiny profile of its own (``$EBSDLIB_PROFILES``),
built in subprocesses with fresh caches: the same code path as ``make book``, at a cost of minutes."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ebsdlib.book.samepages import MAY_DIFFER, page_differences
from ebsdlib.paths import REPO_ROOT

pytestmark = pytest.mark.slow

PROFILE = """description: one trial of each approach on a few patterns, for the interruption test
shared:
  seed: 11
  detector_shape: [40, 49]
  image_size: 72
  train_per_space_group: 6
  val_per_space_group: 6
  test_per_material: 1
  trials: 1
  patience: 1
  max_epochs: 1
  validate_keras_statistics: false
  architecture: mini
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
    "import sys; from pathlib import Path; from ebsdlib.book.pipeline import build_book; root = Path(sys.argv[1]); "
    "from ebsdlib.logs import show_progress; show_progress(); "
    "build_book('tiny', root=root, build_dir=root / sys.argv[3], html=sys.argv[2] == 'html')"
)
CHAPTERS = ("02_training", "03_holdout")
TIMEOUT = 900  # seconds any one build may take before the test gives up on it


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


class Build:
    """``make book``'s build of the tiny book in a subprocess of its own session (its kernels and jupyter-book
    are its children: a kill reaches them all). Its output is read in a thread, so that a build that hangs
    without printing still meets the deadline."""

    def __init__(self, root: Path, env: dict, html: bool = True, build: str = "_build"):
        self.process = subprocess.Popen(
            [sys.executable, "-c", BUILD, str(root), "html" if html else "pages only", build],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        """``kill -9`` the build and every process under it. Its chapter kernels are not in its process group
        (jupyter_client starts each in a session of its own), so they are found and killed one by one: a kernel
        left running finishes what it was doing (a small model saved in the next second) before it notices that
        its parent is gone."""
        import psutil

        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        self.process.wait()
        psutil.wait_procs(children, timeout=10)

    def kill_when(self, condition, what: str) -> str:
        """``kill -9`` the build and its children as soon as ``condition(output)`` holds; its output."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            if condition(self.output):
                self.kill()
                return self.output
            time.sleep(0.1)
        self.kill()
        pytest.fail(f"the build ended or timed out before {what}; its output:\n{self.output[-3000:]}")

    def finish(self) -> str:
        """Wait for the build to end (or fail the test at the deadline); its output, after a check that it succeeded."""
        try:
            self.process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the build took longer than {TIMEOUT} s; its output:\n{self.output[-3000:]}")
        self.reader.join(timeout=30)
        assert self.process.returncode == 0, self.output[-3000:]
        return self.output


def _trained(cache: Path) -> list[str]:
    return sorted(p.name.split("-")[0] for p in (cache / "models").iterdir() if not p.name.startswith("."))


def _predictions(cache: Path) -> dict[str, int]:
    """The complete prediction files in the cache (those with their record, which is written last) and their
    modification times: a file killed between its rename and its record's is not complete, and is made again."""
    records = sorted((cache / "predictions").glob("[!.]*.csv.sha256"))
    return {r.name.removesuffix(".sha256"): r.with_suffix("").stat().st_mtime_ns for r in records}


def seed_master_patterns(*caches: Path) -> None:
    """Copy the master patterns this test run already made (the smoke models' materials, at the same energy and
    resolution, by the same code) into fresh caches. They are inputs of the builds, not what resuming is about,
    and each costs seconds to compute; an entry still being written, or none at all, is simply left out."""
    shared = Path(os.environ["EBSDLIB_TEST_CACHE"]) / "results" / "_master_pattern_array"
    if not shared.is_dir():
        return
    for cache in caches:
        for entry in shared.iterdir():
            if not entry.name.startswith("."):
                with contextlib.suppress(OSError, shutil.Error):
                    shutil.copytree(entry, cache / "results" / shared.name / entry.name)


def test_a_killed_build_resumes_and_shows_what_a_clean_build_shows(book, tmp_path, request):
    root, env = book
    cache = tmp_path / "cache"
    seed_master_patterns(cache, tmp_path / "clean-cache")
    # The clean build of the same seed, in caches of its own, runs beside the interrupted ones. Its numba cache
    # is a copy of its own too: two processes compiling the same kernels into one cache leave entries that crash
    # the next process to load them (see conftest.warm_numba_cache).
    from conftest import private_numba_cache

    numba_cache = private_numba_cache(tmp_path / "numba-cache")
    clean = Build(
        root,
        {**env, "EBSDLIB_CACHE": str(tmp_path / "clean-cache"), "NUMBA_CACHE_DIR": str(numba_cache)},
        html=False,
        build="_clean",
    )
    request.addfinalizer(clean.kill)  # when the test fails before it ends

    first = Build(root, env).kill_when(lambda out: "transfer trial 0 epoch" in out, "training the transfer trial")
    assert "source task epoch" in first and "scratch trial 0 epoch" in first
    assert _trained(cache) == ["scratch"], "only the finished trial is in the cache"

    def predicting(out):  # the holdout chapter has written a first prediction file and goes on
        return "03_holdout (tiny) ..." in out and bool(_predictions(cache))

    second = Build(root, env).kill_when(predicting, "the holdout chapter's first prediction")
    assert "03_holdout done" not in second
    assert "source task epoch" not in second and "scratch trial 0 epoch" not in second
    assert "transfer trial 0 epoch" in second
    assert _trained(cache) == ["scratch", "transfer"]
    predicted = _predictions(cache)
    assert predicted

    third = Build(root, env).kill_when(lambda out: "Running Jupyter-Book" in out, "jupyter-book")  # the site next
    assert "02_training unchanged: reused its execution" in third and "03_holdout done" in third
    assert not re.search(r"(trial \d+|source task) epoch", third), "nothing is trained again"
    assert {name: _predictions(cache)[name] for name in predicted} == predicted, "finished predictions are not made again"

    fourth = Build(root, env).finish()
    assert not re.search(r"(trial \d+|source task) epoch", fourth), "nothing is trained a fourth time"
    assert all(f"{c} unchanged: reused its execution" in fourth for c in CHAPTERS)
    assert (root / "_build" / "html" / "book" / "02_training.html").is_file()
    assert _trained(cache) == ["scratch", "transfer"]

    clean.finish()
    for chapter in CHAPTERS:
        resumed, fresh = (root / build / "staging" / "tiny" / "book" / f"{chapter}.ipynb" for build in ("_build", "_clean"))
        assert page_differences(resumed, fresh, **MAY_DIFFER.get(chapter, {})) == [], (
            f"{chapter}: the resumed build shows other values"
        )
