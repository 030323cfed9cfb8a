"""Shared fixtures of the tests and the doctests: an isolated cache folder and tiny detector settings."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", category=DeprecationWarning)


#: The thread pools each pytest-xdist worker keeps to one thread (see :func:`pytest_configure`).
from ebsdlib.samepages import ONE_THREAD as WORKER_THREADS  # noqa: E402


def pytest_configure(config):
    """One cache folder for the whole test run, made before any test (and before pytest-xdist starts its
    workers, which inherit it through the environment and share it): a fresh temporary folder, or the
    one ``EBSDLIB_TEST_CACHE`` names (it must be empty), so that CI can build the smoke book afterwards
    from what the chapter tests simulated, trained and executed there (``.ci/run``)."""
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the controller made the folder
        # numba's on-disk cache is not safe for two processes compiling the same function at once (a worker
        # reading the other's half-written file crashes): each worker, and the chapter kernels it starts,
        # keeps its own, beside the environment, so that it persists from one run to the next
        worker = config.workerinput["workerid"]
        os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(sys.prefix) / "numba-cache" / worker))
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
    from ebsdlib.book import book_models, book_parameters
    from ebsdlib.settings import shared_settings

    with run_lock("smoke-models"):
        return book_models(**book_parameters(shared_settings("smoke")))


CHAPTER_TEST_PREFIX = "test_chapter_"


def is_chapter_test(item) -> bool:
    """Whether a collected test is one of ``tests/test_chapters.py``'s, which execute a chapter."""
    return item.path.name == "test_chapters.py" and item.name.startswith(CHAPTER_TEST_PREFIX)


def chapter_test_marker(stem: str) -> Path:
    """The file a failed chapter test leaves in the run's cache folder (the site test stops waiting for it)."""
    folder = Path(os.environ["EBSDLIB_TEST_CACHE"]) / "chapter-tests"
    folder.mkdir(exist_ok=True)
    return folder / f"{stem}.failed"


#: Seconds of the long tests in one two-worker ``make test`` (clean clone, otherwise idle machine, one TensorFlow
#: thread per worker; only their ratios matter), for
#: :func:`pytest_collection_modifyitems` to balance the workers: the interruption test, the smoke models, the
#: chapters by name and the longest unit tests by function name.
LONG_TEST_SECONDS = {
    "resume": 760,
    "smoke models": 780,
    "01_data": 27,
    "02_training": 19,
    "03_holdout": 75,
    "04_filters": 30,
    "05_shap": 260,
    "06_dual_phase": 311,
    "07_few_shot": 180,
    "08_generalisation": 530,
    "09_speed": 158,
    "test_the_readme_walkthrough_runs_as_written": 133,
    "test_bench_times_every_contender_and_writes_the_tables": 96,
    "test_second_call_reads_the_cache_and_a_changed_parameter_trains": 88,
    "test_pretraining_is_cached_and_feeds_the_transfer_model": 80,
    "test_a_training_step_lowers_the_loss": 61,
}

#: A chapter that reads what another trains runs right after it, on the same worker: chapter 8's model trained
#: in the book's own setting is a point of chapter 7's few-shot curve (a cache hit after it; beside it, on the
#: other worker, both trained it).
RUN_AFTER = {"08_generalisation": "07_few_shot"}


def _test_seconds(item) -> int | None:
    name = item.name[len(CHAPTER_TEST_PREFIX) :] if is_chapter_test(item) else getattr(item, "originalname", item.name)
    return LONG_TEST_SECONDS.get(name)


@pytest.hookimpl(trylast=True)  # after -m, -k and --deselect have removed what does not run
def pytest_collection_modifyitems(session, config, items):
    """Order the tests for ``make test``'s two pytest-xdist workers (``--dist worksteal`` gives the first half
    of the list to one worker and the second half to the other; an idle worker later takes the second half
    of the other's queue). The long chain is the smoke models (made once, under :func:`run_lock`), then
    the chapters, then the site test, which waits for the chapters. So one worker starts with the
    interruption test, which needs none of that, the other with a chapter, so that it makes the smoke
    models meanwhile; the chapters (a chapter of :data:`RUN_AFTER` right after the one it reads) and then
    the long unit tests are shared out so that both workers' long tests take about as long
    (:data:`LONG_TEST_SECONDS`, longest first, each to the worker with less); the other unit tests fill both
    halves; the site test comes last."""
    resume = [i for i in items if i.path.name == "test_resume.py"]
    site = [i for i in items if i.path.name == "test_site.py"]
    chapters = {i.name[len(CHAPTER_TEST_PREFIX) :]: i for i in items if is_chapter_test(i)}
    unmeasured = max(LONG_TEST_SECONDS.values())  # a chapter not measured yet counts as the longest
    units = []  # (seconds, tests that run one after the other)
    for name, item in chapters.items():
        if RUN_AFTER.get(name) in chapters:
            continue  # it runs with the chapter it reads
        chain = [item] + [chapters[later] for later, first in RUN_AFTER.items() if first == name and later in chapters]
        units.append((sum(_test_seconds(i) or unmeasured for i in chain), chain))
    placed = {id(i) for i in resume + site + list(chapters.values())}
    long_units = [i for i in items if id(i) not in placed and _test_seconds(i)]
    placed |= {id(i) for i in long_units}
    rest = [i for i in items if id(i) not in placed]

    halves = ([], [])
    load = [LONG_TEST_SECONDS["resume"] if resume else 0, LONG_TEST_SECONDS["smoke models"]]
    for group in (
        sorted(units, key=lambda u: u[0], reverse=True),
        sorted(((_test_seconds(i), [i]) for i in long_units), key=lambda u: u[0], reverse=True),
    ):
        for seconds, chain in group:
            lighter = 0 if load[0] < load[1] else 1
            halves[lighter].extend(chain)
            load[lighter] += seconds
    fill = max(0, len(items) // 2 - len(resume) - len(halves[0]))
    items[:] = resume + halves[0] + rest[:fill] + halves[1] + rest[fill:] + site


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and is_chapter_test(item) and "EBSDLIB_TEST_CACHE" in os.environ:
        chapter_test_marker(item.name[len(CHAPTER_TEST_PREFIX) :]).write_text(report.when)


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
