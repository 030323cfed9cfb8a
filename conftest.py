"""Shared fixtures of the tests and the doctests: an isolated cache folder and tiny detector settings."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


#: The thread pools each pytest-xdist worker keeps to one thread (see :func:`pytest_configure`).
from ebsdlib.book.samepages import ONE_THREAD as WORKER_THREADS  # noqa: E402

#: numba's caches of the test run live beside the environment (numba keys its entries by the path and time of
#: the installed package sources, so they serve one environment only): ``warm`` holds the kernels compiled once
#: by :func:`warm_numba_cache`, and each worker works in a copy of its own.
NUMBA_CACHE_ROOT = Path(sys.prefix) / "numba-cache"
COMPLETE = ".complete"  # the file that marks a finished ``warm`` folder

#: What :func:`warm_numba_cache` runs, in two processes at once: kikuchipy's kernels (master patterns of a
#: centrosymmetric and a non-centrosymmetric material, both hemispheres, projected onto a detector and recorded),
#: with orix's that they call; and PyEBSDIndex's (Hough indexing of kikuchipy's recorded nickel patterns), which
#: PyEBSDIndex keeps in a folder of its own, ``~/.pyebsdindex/numbacache`` (see
#: :func:`ebsdlib.mapping.hough.pyebsdindex_modules`).
NUMBA_WARMUP = {
    "kikuchipy": (
        "from ebsdlib.crystal.materials import load_materials\n"
        "from ebsdlib.simulation.patterns import Detector, DetectorGeometry, simulate_patterns\n"
        "for name in ('Ni', 'ZnS'):\n"
        "    simulate_patterns(load_materials()[name], 2, Detector(DetectorGeometry(shape=(30, 36))), master_pattern_kwargs={'half_size': 25})\n"
    ),
    "pyebsdindex": (
        "import kikuchipy as kp\n"
        "from ebsdlib.crystal.materials import load_materials\n"
        "from ebsdlib.mapping.hough import index_with_hough\n"
        "from ebsdlib.simulation.patterns import DetectorGeometry\n"
        "patterns = kp.data.nickel_ebsd_small().data.reshape(-1, 60, 60)\n"
        "index_with_hough(patterns, DetectorGeometry(shape=(60, 60)), [load_materials()[n] for n in ('Ni', 'Ni3Al')])\n"
    ),
}


def warm_numba_cache(root: Path = NUMBA_CACHE_ROOT) -> Path:
    """Compile kikuchipy's and PyEBSDIndex's numba kernels once per environment, before the workers start;
    return the folder of kikuchipy's, ``root / "warm"``.

    numba's on-disk cache is safe for one process at a time only: two processes compiling into one folder can
    leave the index of one beside the code of the other, which crashes the next process that loads it (numba
    issues 4807 and 10128; an earlier seed of this kind, joined file by file from two processes' caches, did
    that here). So no two processes ever compile into one folder: the two warm-ups write to folders of their
    own (kikuchipy's a fresh one, published by a rename; PyEBSDIndex's its own, which no other process of the run
    compiles into once it is warm), under a lock that a second test run on the same environment waits for, and
    every worker then works in a copy of kikuchipy's (:func:`private_numba_cache`). A finished folder is kept:
    later runs compile nothing."""
    import fcntl
    import subprocess

    warm = root / "warm"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (warm / COMPLETE).exists():
            return warm
        print("compiling kikuchipy's and PyEBSDIndex's numba kernels once for this environment ...", file=sys.stderr, flush=True)
        scratch = Path(tempfile.mkdtemp(prefix=".compiling-", dir=root))
        try:
            runs = {}
            for package, code in NUMBA_WARMUP.items():
                env = {**os.environ, "NUMBA_CACHE_DIR": str(scratch / package), "EBSDLIB_CACHE": str(scratch / f"{package}-data")}
                runs[package] = subprocess.Popen(
                    [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                )
            for package, run in runs.items():
                output, _ = run.communicate()
                if run.returncode:
                    raise pytest.UsageError(f"compiling {package}'s numba kernels for the tests failed:\n{output[-3000:]}")
            (scratch / "kikuchipy" / COMPLETE).write_text("compiled by one process\n")
            shutil.rmtree(warm, ignore_errors=True)  # an unfinished folder of an interrupted run
            (scratch / "kikuchipy").rename(warm)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return warm


def private_numba_cache(folder: Path, root: Path = NUMBA_CACHE_ROOT) -> Path:
    """``folder`` (new) as a numba cache for one process and its children: a copy of the warm kernels when
    there are, else empty."""
    warm = root / "warm"
    shutil.rmtree(folder, ignore_errors=True)
    if (warm / COMPLETE).exists():
        shutil.copytree(warm, folder)
    else:
        folder.mkdir(parents=True)
    return folder


def pytest_configure(config):
    """One cache folder for the whole test run, made before any test (and before pytest-xdist starts its
    workers, which inherit it through the environment and share it): a fresh temporary folder, or the
    one ``EBSDLIB_TEST_CACHE`` names (it must be empty), so that CI can build the smoke book afterwards
    from what the chapter tests simulated, trained and executed there (``.ci/run``). Before the workers
    start, numba's kernels are compiled once (:func:`warm_numba_cache`)."""
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the controller made the folders
        # a copy of the warm numba kernels of its own, which the chapter kernels it starts (one at a time) inherit
        worker = config.workerinput["workerid"]
        if "NUMBA_CACHE_DIR" not in os.environ:
            folder = Path(os.environ["EBSDLIB_TEST_CACHE"]) / ".numba" / worker
            os.environ["NUMBA_CACHE_DIR"] = str(private_numba_cache(folder))
        # one TensorFlow and OpenMP thread per worker (and its chapter kernels, which inherit it): TensorFlow's
        # pools spin while they wait, so two workers with a pool of two threads each on two cores train at half
        # speed, while one thread each trains as fast as two did alone (measured: an Xception epoch at 72 px
        # took 20.5 s alone with two threads, 41 s beside another; 18.7 s with one, 20.6 s beside another)
        for name in WORKER_THREADS:
            os.environ[name] = "1"
        return
    named = os.environ.get("EBSDLIB_TEST_CACHE")
    if named:
        path = Path(named)
        path.mkdir(parents=True, exist_ok=True)
        if any(path.iterdir()):
            raise pytest.UsageError(
                f"EBSDLIB_TEST_CACHE={named} is not empty; tests need a fresh cache. Empty the folder or name a new one."
            )
    else:
        path = Path(tempfile.mkdtemp(prefix="ebsdlib-test-cache-"))
        config._ebsdlib_temporary_cache = path
        os.environ["EBSDLIB_TEST_CACHE"] = str(path)
    if "NUMBA_CACHE_DIR" not in os.environ:
        warm_numba_cache()
        if not getattr(config.option, "numprocesses", None):  # no workers: this process tests
            os.environ["NUMBA_CACHE_DIR"] = str(private_numba_cache(path / ".numba" / "main"))


def pytest_unconfigure(config):
    path = getattr(config, "_ebsdlib_temporary_cache", None)
    if path is not None:
        os.environ.pop("EBSDLIB_TEST_CACHE", None)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True, scope="session")
def isolated_cache():
    """Every test writes its cache to the run's folder (:func:`pytest_configure`), never to the project's."""
    path = Path(os.environ["EBSDLIB_TEST_CACHE"])
    old = os.environ.get("EBSDLIB_CACHE")
    os.environ["EBSDLIB_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("EBSDLIB_CACHE", None)
    else:
        os.environ["EBSDLIB_CACHE"] = old


@contextlib.contextmanager
def run_lock(name: str):
    """An exclusive lock shared by every worker of the run (a file in the run's cache folder): the first
    to take it does the work, the others wait and then find the result in the cache."""
    import fcntl

    path = Path(os.environ["EBSDLIB_TEST_CACHE"]) / f".{name}.lock"
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def smoke_models(isolated_cache):
    """The smoke profile's data set, pretrained source and trials, made once for the run (under
    :func:`run_lock`): every chapter needs them, and with pytest-xdist the chapters run in several
    workers at once, which would otherwise each train them."""
    from ebsdlib.book.chapters import book_models
    from ebsdlib.settings import shared_settings

    with run_lock("smoke-models"):
        return book_models(shared_settings("smoke"))


CHAPTER_TEST_PREFIX = "test_chapter_"


def is_chapter_test(item) -> bool:
    """Whether a collected test is one of ``tests/test_book/test_chapters.py``'s, which execute a chapter."""
    return item.path.name == "test_chapters.py" and item.name.startswith(CHAPTER_TEST_PREFIX)


def chapter_test_marker(stem: str) -> Path:
    """The file a failed chapter test leaves in the run's cache folder (the site test stops waiting for it)."""
    folder = Path(os.environ["EBSDLIB_TEST_CACHE"]) / "chapter-tests"
    folder.mkdir(exist_ok=True)
    return folder / f"{stem}.failed"


@pytest.hookimpl(trylast=True)  # after -m, -k and --deselect have removed what does not run
def pytest_collection_modifyitems(session, config, items):
    """The order for ``make test``'s two workers: ``--dist worksteal`` gives each worker half of the list and lets
    an idle one take from the other's. The chapter tests open the second half (the first of them makes the smoke
    models they share); the interruption test comes two thirds into the first, by when those models, and the
    master patterns it copies from them, are made (``tests/test_book/test_resume.py``); the site test, which waits for
    the chapters, comes last."""
    resume = [i for i in items if i.path.name == "test_resume.py"]
    chapters = [i for i in items if is_chapter_test(i)]
    site = [i for i in items if i.path.name == "test_site.py"]
    placed = {id(i) for i in resume + chapters + site}
    rest = [i for i in items if id(i) not in placed]
    half = max(0, len(items) // 2 - len(resume))
    items[:] = rest[: 2 * half // 3] + resume + rest[2 * half // 3 : half] + chapters + rest[half:] + site


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and is_chapter_test(item) and "EBSDLIB_TEST_CACHE" in os.environ:
        chapter_test_marker(item.name[len(CHAPTER_TEST_PREFIX) :]).write_text(report.when)


@pytest.fixture
def tiny_geometry():
    """A 30 × 36 px detector whose patterns come from master patterns of 137 × 137 px (0.2 s each, not 2 s)."""
    from ebsdlib.simulation.patterns import DetectorGeometry

    return DetectorGeometry(shape=(30, 36), master_pattern_half_size=68)


@pytest.fixture(scope="session")
def materials():
    from ebsdlib.crystal.materials import load_materials

    return load_materials()


def tiny_bundle(tmp_path, name="bundle", seed=0, view="native", pattern_shape=(30, 36), channels=1, classes=None):
    """A model bundle of a tiny Keras classifier (32 px, six classes): fast stand-in for Xception."""
    import keras

    from ebsdlib.crystal.materials import SPACE_GROUPS
    from ebsdlib.io.bundle import write_bundle

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
