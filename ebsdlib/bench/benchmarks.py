"""Benchmarks (``make bench``, ``ebsdlib bench``): numbers that vary with the machine, so never tests.

Mapping speed (``make bench``, the book's "Speed" page; :func:`book_speed_benchmark`): on the same
simulated patterns of the dual-phase map, in one run, the patterns per second and accuracy of
PyEBSDIndex's Hough indexing, the book's Xception in float32 and with bfloat16 inference, the ensemble
of its trials and the distilled student (:mod:`ebsdlib.learn.student`); then simulated patterns per second,
and ebsdlib's training loop against a bare ``keras.Model.fit`` on the same arrays. The ratios against
Hough indexing in the same run are what counts: absolute times vary between runs.

Training throughput (``ebsdlib bench --training``) of both approaches at a profile's input size, for each contender:

* precision: float32 or Keras ``mixed_bfloat16`` (fast only where the CPU has bfloat16 instructions,
  e.g. AVX-512 BF16 or AMX; the table names the CPU's flags so a reader can tell);
* input pipeline: NumPy arrays handed to ``Model.fit`` or a ``tf.data`` pipeline (shuffled, batched,
  prefetched);
* batch size.

and the per-epoch costs around training: one validation pass, the BatchNorm recalibration of
:mod:`ebsdlib.learn.training`. From them, the patterns per second of a whole epoch of the profile
(training patterns ÷ seconds of training + validation passes + recalibration), with the validation
made twice (every epoch with Keras' statistics and after recalibration) and once (Keras' statistics
after the first epoch only). The epoch figures are estimates from the median training step (robust to
a busy machine), the validation pass and the recalibration, each timed once; "after" picks the fastest
contender that :func:`ebsdlib.learn.training.fit_model` can run (float32 through ``tf.data``, any batch size).
"""

from __future__ import annotations

import logging
import os
import platform
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ebsdlib import __version__
from ebsdlib.book.chapters import book_models
from ebsdlib.crystal.materials import SPACE_GROUPS, dual_phase_materials, load_materials
from ebsdlib.evaluate.metrics import best_trial
from ebsdlib.learn.models import build_scratch_model
from ebsdlib.learn.student import STUDENT_CHANNELS, StudentConfig, distil_student
from ebsdlib.learn.training import APPROACH_CHANNELS, apply_weight_decay, fit_model, prepare_split, recalibrate_batchnorm
from ebsdlib.mapping.hough import index_with_hough
from ebsdlib.mapping.orientations import index_chosen_phases
from ebsdlib.preprocess import prepare_patterns
from ebsdlib.quiet import quiet_tensorflow
from ebsdlib.simulation.patterns import Detector, DetectorGeometry, detector_master_pattern, simulate_patterns
from ebsdlib.simulation.sample import simulate_dual_phase_map

__all__ = [
    "Contender",
    "cpu_description",
    "training_throughput",
    "epoch_throughput",
    "run_training_benchmark",
    "tiled_scan",
    "streaming_benchmark",
    "machine_header",
    "bfloat16_copy",
    "Classifier",
    "mapping_benchmark",
    "simulation_throughput",
    "library_overhead",
    "SpeedReport",
    "book_speed_benchmark",
    "student_verdict",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Contender:
    """One way of training that the training benchmark times: approach, precision, input pipeline, batch size."""

    approach: str
    precision: str = "float32"
    pipeline: str = "arrays"
    batch_size: int = 16

    @property
    def label(self) -> str:
        """How the contender is named in the tables."""
        return f"{self.approach}, {self.precision}, {self.pipeline}, batch {self.batch_size}"


def cpu_description() -> str:
    """CPU model, logical cores and the vector extensions that matter for bfloat16."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass  # not Linux: the processor's name from platform, no flags
    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"]
    present = [f for f in wanted if f in flags] or ["none of " + ", ".join(wanted)]
    return f"{model}, {os.cpu_count()} logical cores, {' '.join(present)}"


def _model(approach: str, image_size: int, precision: str):
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        if approach == "scratch":
            return build_scratch_model(image_size)
        from keras import layers  # the transfer model's graph with random weights: speed does not depend on them

        inputs = keras.Input((image_size, image_size, APPROACH_CHANNELS[approach]))
        scaled = layers.Rescaling(2.0, offset=-1.0)(inputs)
        base = keras.applications.Xception(include_top=False, weights=None, input_tensor=scaled, pooling="avg")
        return keras.Model(inputs, layers.Dense(6, activation="softmax", dtype="float32")(base.output))
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _data(n: int, image_size: int, channels: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, image_size, image_size, channels), dtype=np.float32)
    y = np.eye(6, dtype=np.float32)[rng.integers(0, 6, n)]
    return x, y


def training_throughput(contender: Contender, image_size: int, patterns: int = 128, seed: int = 0) -> dict:
    """Training patterns/s of one contender: the median step time of one epoch over ``patterns``
    patterns after a warm-up epoch (graph tracing excluded), as :func:`ebsdlib.learn.training.fit_model`
    compiles the model."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = _model(contender.approach, image_size, contender.precision)
    apply_weight_decay(model, 1e-5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = _data(patterns, image_size, APPROACH_CHANNELS[contender.approach], seed)
    steps: list[float] = []

    class Steps(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self._t = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            steps.append(time.perf_counter() - self._t)

    def fit(callbacks, n):
        if contender.pipeline == "tf.data":
            data = (
                tf.data.Dataset.from_tensor_slices((x[:n], y[:n])).shuffle(n, seed=seed).batch(contender.batch_size).prefetch(2)
            )
            model.fit(data, epochs=1, shuffle=False, verbose=0, callbacks=callbacks)  # the pipeline shuffles
        elif contender.pipeline == "arrays":
            model.fit(x[:n], y[:n], batch_size=contender.batch_size, epochs=1, shuffle=True, verbose=0, callbacks=callbacks)
        else:
            raise ValueError(f"unknown pipeline {contender.pipeline!r}; choose 'arrays' or 'tf.data'")

    fit([], 2 * contender.batch_size)  # trace
    start = time.perf_counter()
    fit([Steps()], patterns)
    wall = time.perf_counter() - start
    return {
        "approach": contender.approach,
        "precision": contender.precision,
        "pipeline": contender.pipeline,
        "batch size": contender.batch_size,
        "train patterns/s (median step)": contender.batch_size / float(np.median(steps)),
        "train patterns/s (epoch wall)": patterns / wall,
    }


def epoch_costs(approach: str, image_size: int, validation_patterns: int, recalibration_patterns: int, seed: int = 0) -> dict:
    """Seconds of one validation pass (batch 64, as the training loop) and of one BatchNorm
    recalibration on ``recalibration_patterns`` patterns."""
    import keras

    keras.utils.set_random_seed(seed)
    model = _model(approach, image_size, "float32")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = _data(max(validation_patterns, recalibration_patterns), image_size, APPROACH_CHANNELS[approach], seed)
    model.evaluate(x[:64], y[:64], batch_size=64, verbose=0)
    recalibrate_batchnorm(model, x[:32])
    start = time.perf_counter()
    model.evaluate(x[:validation_patterns], y[:validation_patterns], batch_size=64, verbose=0)
    validation = time.perf_counter() - start
    start = time.perf_counter()
    recalibrate_batchnorm(model, x[:recalibration_patterns])
    return {"validation s": validation, "recalibration s": time.perf_counter() - start}


def epoch_throughput(
    train_patterns: int, train_rate: float, validation_s: float, recalibration_s: float, validations: int
) -> float:
    """Patterns per second of a whole epoch: training, ``validations`` validation passes, recalibration."""
    seconds = train_patterns / train_rate + validations * validation_s + recalibration_s
    return train_patterns / seconds


def run_training_benchmark(
    image_size: int = 96,
    train_patterns: int = 900,
    validation_patterns: int = 240,
    *,
    recalibration_patterns: int = 256,
    patterns: int = 128,
    contenders: list[Contender] | None = None,
    progress=log.info,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every contender; returns (throughput table, per-epoch table before/after per approach).

    ``train_patterns`` and ``validation_patterns`` are the profile's per-epoch counts (6 × the
    per-space-group counts); ``patterns`` the patterns timed per contender.
    """
    if contenders is None:
        contenders = [
            Contender(approach, precision, pipeline, batch)
            for approach in ("scratch", "transfer")
            for precision, pipeline, batch in (
                ("float32", "arrays", 16),
                ("float32", "tf.data", 16),
                ("float32", "arrays", 32),
                ("mixed_bfloat16", "arrays", 16),
            )
        ]
    rows = []
    for c in contenders:
        if progress:
            progress(f"timing {c.label} at {image_size} px ...")
        rows.append(training_throughput(c, image_size, patterns))
    throughput = pd.DataFrame(rows)
    epochs = []
    for approach in sorted(set(throughput["approach"])):
        if progress:
            progress(f"timing validation and BatchNorm recalibration ({approach}) ...")
        costs = epoch_costs(approach, image_size, validation_patterns, recalibration_patterns)
        part = throughput[throughput["approach"] == approach]
        rate = "train patterns/s (median step)"
        baseline = part[(part["precision"] == "float32") & (part["pipeline"] == "arrays") & (part["batch size"] == 16)]
        base_rate = float(baseline[rate].iloc[0]) if len(baseline) else float(part[rate].iloc[0])
        runnable = part[(part["precision"] == "float32") & (part["pipeline"] == "tf.data")]  # what fit_model runs
        best = runnable.loc[runnable[rate].idxmax()] if len(runnable) else part.loc[part[rate].idxmax()]
        before = epoch_throughput(train_patterns, base_rate, costs["validation s"], costs["recalibration s"], 2)
        after = epoch_throughput(train_patterns, float(best[rate]), costs["validation s"], costs["recalibration s"], 1)
        epochs.append(
            {
                "approach": approach,
                "fastest contender that ebsdlib.learn.training runs": f"{best['precision']}, {best['pipeline']}, batch {best['batch size']}",
                "fastest contender overall": (lambda b: f"{b['precision']}, {b['pipeline']}, batch {b['batch size']}")(
                    part.loc[part[rate].idxmax()]
                ),
                "validation pass (s)": costs["validation s"],
                "recalibration (s)": costs["recalibration s"],
                "epoch patterns/s (estimate), before: float32, arrays, batch 16, two validations": before,
                "epoch patterns/s (estimate), after: fastest runnable, one validation": after,
                "speed-up": after / before,
            }
        )
    return throughput, pd.DataFrame(epochs)


def tiled_scan(path, n_patterns: int, base_shape=(20, 50), detector: Detector | None = None, seed: int = 0):
    """A simulated scan file (kikuchipy h5ebsd) of ``n_patterns`` patterns for the streaming benchmark:
    the book's dual-phase map of ``base_shape`` simulated once and tiled over as many map rows as needed,
    written lazily (never whole in memory)."""
    from pathlib import Path

    import dask.array as da
    import kikuchipy as kp

    detector = detector or Detector(DetectorGeometry(shape=(60, 73)))
    _, scan = simulate_dual_phase_map(base_shape, 4, 0.2, detector, seed)
    rows, cols = base_shape
    block = da.from_array(
        np.asarray(scan.patterns, dtype=np.uint8).reshape(rows, cols, *scan.pattern_shape), chunks=(1, cols, -1, -1)
    )
    repeats = -(-int(n_patterns) // (rows * cols))
    data = da.concatenate([block] * repeats, axis=0)
    total_rows = -(-int(n_patterns) // cols)
    data = data[:total_rows]
    path = Path(path)
    if path.exists():
        path.unlink()
    kp.signals.LazyEBSD(data).save(path)
    return path, (total_rows, cols)


def streaming_benchmark(bundles, sizes=(10_000, 100_000), folder=None, chunk_size: int = 1024, progress=log.info) -> pd.DataFrame:
    """Peak memory and patterns/s of ``ebsdlib classify`` on simulated scan files of each size, each run in
    a fresh process (its peak resident memory is the process's own)."""
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    if any(int(n) < 1 for n in sizes):
        raise ValueError(f"every scan size must be at least 1 pattern, not {list(sizes)}")
    folder = Path(folder or tempfile.mkdtemp(prefix="ebsdlib-stream-"))
    rows = []
    for n in sizes:
        scan, shape = tiled_scan(folder / f"scan_{n}.h5", n)
        if progress:
            progress(f"classifying a {shape[0]} × {shape[1]} scan ({shape[0] * shape[1]} patterns) ...")
        code = (
            "import json, resource, sys, time\n"
            "from ebsdlib.mapping.classify import classify_scan\n"
            "t = time.perf_counter()\n"
            f"r = classify_scan({str(scan)!r}, {[str(b) for b in bundles]!r}, {str(folder / f'out_{n}')!r}, chunk_size={chunk_size}, progress=False)\n"
            "print(json.dumps({'patterns': r.n, 'seconds': time.perf_counter() - t, 'classify_seconds': r.seconds,\n"
            "                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
        )
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(f"classifying the {n}-pattern scan failed: {last}")
        result = json.loads(run.stdout.strip().splitlines()[-1])
        rows.append(
            {
                "patterns": result["patterns"],
                "scan file (MB)": scan.stat().st_size / 1e6,
                "patterns/s (classification)": result["patterns"] / result["classify_seconds"],
                "seconds (process)": result["seconds"],
                "peak memory (MB)": result["peak_rss_mb"],
            }
        )
    return pd.DataFrame(rows)


# --- Mapping speed: every contender on the same simulated patterns (``make bench``, the book's "Speed" page)


def machine_header() -> str:
    """The machine and the versions that decide the speeds: CPU, cores, TensorFlow, Keras, PyEBSDIndex, numba."""
    from importlib.metadata import version

    versions = ", ".join(f"{name} {version(name)}" for name in ("tensorflow", "keras", "pyebsdindex", "numba"))
    return f"{cpu_description()}; ebsdlib {__version__}, {versions}, Python {platform.python_version()}"


def bfloat16_copy(model):
    """The same model computing in Keras' ``mixed_bfloat16`` policy (bfloat16 arithmetic, float32
    weights), with the trained weights: inference in bfloat16 without retraining."""
    import keras

    config = model.get_config()
    policy = keras.dtype_policies.serialize(keras.dtype_policies.DTypePolicy("mixed_bfloat16"))
    for layer in config["layers"]:
        if layer["class_name"] != "InputLayer":
            layer["config"]["dtype"] = policy
    copy = keras.Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


CHUNK = 256  # patterns per forward pass of a classifier in the speed benchmark


@dataclass(frozen=True)
class Classifier:
    """A contender that turns raw patterns into class probabilities: a Keras model, its input size and channels."""

    name: str
    models: tuple  # several: their probabilities are averaged (an ensemble)
    image_size: int
    channels: int
    note: str = ""

    def probabilities(self, patterns: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
        """Class probabilities (n, classes) of raw patterns (n, rows, cols), ``chunk`` at a time: resized,
        normalised and classified in one forward pass per chunk (``predict_on_batch``: no per-call
        data pipeline)."""
        out = []
        for start in range(0, len(patterns), chunk):
            x = prepare_patterns(patterns[start : start + chunk], self.image_size, self.channels)
            p = [np.asarray(m.predict_on_batch(x), dtype=np.float32) for m in self.models]
            out.append(np.mean(p, axis=0))
        return np.concatenate(out)


def _timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def mapping_benchmark(
    classifiers: list[Classifier],
    map_patterns: np.ndarray,
    map_truth: np.ndarray,
    test_patterns: np.ndarray,
    test_truth: np.ndarray,
    *,
    geometry,
    phases,
    progress=log.info,
) -> pd.DataFrame:
    """Patterns per second and accuracy of Hough indexing and of every classifier on the same patterns.

    Every contender first runs on a few patterns untimed (numba compiles PyEBSDIndex's kernels, Keras
    traces its graphs; the seconds of that first call are reported); then the map's patterns are timed,
    read from the same array, preprocessing (resizing, normalisation) included. Hough indexing is given
    the map's phases (as chapter 6), so it has no test-split accuracy: the six-way test split needs a
    classifier. After the contenders alone, each classifier's complete map: its phase, then every pattern indexed
    for that phase (:func:`ebsdlib.mapping.orientations.index_chosen_phases`), both timed. Returns one row per
    contender: ``patterns/s``, ``× Hough`` (the ratio in this run, the figure that counts), ``map accuracy``,
    ``test accuracy``, ``first call (s)`` and a note.
    """
    say = progress or (lambda *_: None)
    map_patterns, map_truth = np.asarray(map_patterns), np.asarray(map_truth).ravel()
    test_truth = np.asarray(test_truth)
    if len(map_patterns) != len(map_truth) or len(test_patterns) != len(test_truth):
        raise ValueError(
            f"patterns and truth differ in length: map {len(map_patterns)} / {len(map_truth)}, "
            f"test {len(test_patterns)} / {len(test_truth)}"
        )
    if len(map_patterns) == 0:
        raise ValueError("the speed benchmark needs at least one map pattern")
    n, chunk = len(map_patterns), CHUNK
    rows = []
    say(f"Hough indexing (PyEBSDIndex, {len(phases)} phases): {n} patterns ...")
    _, first = _timed(index_with_hough, map_patterns[: min(16, n)], geometry, phases)
    hough, seconds = _timed(index_with_hough, map_patterns, geometry, phases)
    rows.append(
        {
            "contender": "Hough indexing (PyEBSDIndex)",
            "patterns/s": len(map_patterns) / seconds,
            "map accuracy": float((hough["space_group"].to_numpy() == map_truth).mean()),
            "test accuracy": np.nan,
            "first call (s)": first,
            "note": f"given the map's {len(phases)} phases; 'not indexed' counts as wrong",
        }
    )
    classes = np.asarray(SPACE_GROUPS)
    complete = []  # the complete maps, after every contender alone
    phase_of = {int(m.space_group): i for i, m in enumerate(phases)}
    for c in classifiers:
        say(f"{c.name}: {n} patterns ...")
        with quiet_tensorflow():
            _, first = _timed(c.probabilities, map_patterns[: min(chunk, n)])
            if n > chunk and n % chunk:
                c.probabilities(map_patterns[: n % chunk])  # the last chunk's shape is traced too: nothing is traced while timed
            p, seconds = _timed(c.probabilities, map_patterns)
            test = classes[c.probabilities(test_patterns).argmax(axis=1)] if len(test_patterns) else np.array([])
        rows.append(
            {
                "contender": c.name,
                "patterns/s": len(map_patterns) / seconds,
                "map accuracy": float((classes[p.argmax(axis=1)] == map_truth).mean()),
                "test accuracy": float((test == test_truth).mean()) if len(test) else np.nan,
                "first call (s)": first,
                "note": c.note,
            }
        )
        # the complete map: the classifier's phase, then each pattern indexed for it (one Hough pass), timed in this run
        labels = classes[p.argmax(axis=1)]
        chosen = np.array([phase_of.get(int(label), -1) for label in labels], dtype=np.int64)
        say(f"{c.name} + Hough orientation: {n} patterns ...")
        oriented, index_seconds = _timed(index_chosen_phases, map_patterns, geometry, list(phases), chosen)
        complete.append(
            {
                "contender": f"{c.name} + Hough orientation",
                "patterns/s": len(map_patterns) / (seconds + index_seconds),
                "map accuracy": float((np.where(oriented["indexed"], labels, -1) == map_truth).mean()),
                "test accuracy": np.nan,
                "first call (s)": np.nan,
                "note": f"the complete map: phase and orientation ({100 * oriented['indexed'].mean():.0f} % indexed)",
            }
        )
    rows.extend(complete)
    table = pd.DataFrame(rows).set_index("contender")
    table.insert(1, "× Hough", table["patterns/s"] / table["patterns/s"].iloc[0])
    return table


def simulation_throughput(material, n: int, detector: Detector, seed: int = 0) -> float:
    """Simulated patterns per second: projection from the (cached) master pattern plus the detector model."""
    detector_master_pattern(material, detector.geometry)  # computed once, cached: not what a new pattern costs
    _, seconds = _timed(simulate_patterns, material, int(n), detector, int(seed) + 99)
    return int(n) / seconds


def library_overhead(x_train, y_train, x_val, y_val, config, *, build=None, seed: int = 0) -> dict:
    """Training patterns/s of one epoch of :func:`ebsdlib.learn.training.fit_model` (tf.data batches, validation
    after the BatchNorm recalibration, the epoch monitor) against a bare ``keras.Model.fit`` of the same
    model on the same arrays (with Keras' own validation), second epochs of each (the first traces the
    graphs). ``build()`` makes the model (default: the scratch Xception at the inputs' size)."""
    from dataclasses import replace

    import keras

    if len(x_train) == 0 or len(x_val) == 0:
        raise ValueError("timing the training loop needs training and validation patterns")
    build = build or (lambda: build_scratch_model(int(x_train.shape[1]), architecture=config.architecture))
    keras.utils.set_random_seed(seed)
    config = replace(config, max_epochs=2, patience=2, validate_keras_statistics=False)
    history = fit_model(build(), x_train, y_train, x_val, y_val, config, seed=seed, label="benchmark")
    library = float(history["seconds"].iloc[-1])
    keras.utils.set_random_seed(seed)
    bare = build()
    bare.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="categorical_crossentropy", metrics=["accuracy"])
    epochs: list[float] = []

    class Epochs(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epochs.append(time.perf_counter() - self._t)

    bare.fit(
        x_train, y_train, batch_size=config.batch_size, epochs=2, validation_data=(x_val, y_val), verbose=0, callbacks=[Epochs()]
    )
    n = len(x_train)
    return {
        "ebsdlib fit_model, patterns/s": n / library,
        "bare keras.Model.fit, patterns/s": n / epochs[-1],
        "overhead (ebsdlib s / bare s)": library / epochs[-1],
    }


@dataclass
class SpeedReport:
    """What :func:`book_speed_benchmark` measured: the mapping table, the other throughputs, the machine."""

    table: pd.DataFrame
    other: pd.Series
    machine: str
    student: object  # ebsdlib.learn.student.StudentResult
    teacher_trials: int

    def write(self, stem) -> list:
        """The tables as ``<stem>_mapping.csv`` and ``<stem>_other.csv``, the machine in their first line."""
        from pathlib import Path

        written = []
        for name, frame in (("mapping", self.table), ("other", self.other.to_frame("value"))):
            path = Path(f"{stem}_{name}.csv")
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w") as f:
                f.write(f"# {self.machine}\n")
                frame.to_csv(f)
            written.append(path)
        return written


def book_speed_benchmark(settings: dict, student_config=None, train_patterns: int = 256, progress=log.info) -> SpeedReport:
    """The speed benchmark of a profile (``make bench``, the book's "Speed" page): the book's data set,
    transfer models and dual-phase map (from the cache when the book was built; trained otherwise), the
    student distilled from them (:func:`ebsdlib.learn.student.distil_student`), and every contender of
    :func:`mapping_benchmark` on the map's patterns, then simulation and training throughput
    (:func:`library_overhead` on ``train_patterns`` patterns; ``0`` leaves it out).

    Contenders: Hough indexing; the best transfer Xception in float32 and with bfloat16 inference; the
    ensemble of the transfer trials when there are several (the student's teacher); the student in
    float32 and bfloat16."""
    import keras

    say = progress or (lambda *_: None)
    trained = book_models(settings)
    teachers = [r for r in trained.results if r.approach == "transfer"]
    config = student_config or StudentConfig()
    student = distil_student(teachers, trained.dataset, trained.detector, config, settings["seed"], say)
    micro, scan = simulate_dual_phase_map(
        settings["map_shape"],
        settings["n_grains"],
        settings["precipitate_fraction"],
        trained.detector,
        settings["seed"],
    )
    test = trained.dataset.subset("test")
    best = best_trial(trained.results, "transfer")
    teacher = keras.models.load_model(best.model_path)
    size = trained.image_size
    network = "Xception" if trained.config.architecture == "xception" else trained.config.architecture  # smoke: mini
    classifiers = [
        Classifier(
            f"{network} transfer, float32 ({size} px)", (teacher,), size, APPROACH_CHANNELS["transfer"], f"trial {best.trial}"
        ),
        Classifier(f"{network} transfer, bfloat16 inference ({size} px)", (bfloat16_copy(teacher),), size, 3, "the same weights"),
    ]
    if len(teachers) > 1:
        models = tuple(keras.models.load_model(t.model_path) for t in teachers)
        classifiers.append(Classifier(f"teacher: ensemble of {len(teachers)} transfer trials", models, size, 3, "soft vote"))
    small = student.load_model()
    s = student.image_size
    classifiers += [
        Classifier(
            f"student, float32 ({s} px)", (small,), s, STUDENT_CHANNELS, f"{student.info['parameters']:,} weights, distilled"
        ),
        Classifier(f"student, bfloat16 inference ({s} px)", (bfloat16_copy(small),), s, STUDENT_CHANNELS, "the same weights"),
    ]
    table = mapping_benchmark(
        classifiers,
        np.asarray(scan.patterns),
        micro.space_group,
        np.asarray(test.patterns),
        test.labels,
        geometry=trained.detector.geometry,
        phases=dual_phase_materials(),
        progress=say,
    )
    say("simulation and training throughput ...")
    n = int(train_patterns)
    overhead = {"ebsdlib fit_model against a bare keras.Model.fit": "not timed (bench_train_patterns is 0)"}
    if n > 0:
        x, y = prepare_split(trained.dataset, "train", size, 1)
        xv, yv = prepare_split(trained.dataset, "validation", size, 1)
        n = min(n, len(x))
        order = np.random.default_rng(settings["seed"]).permutation(len(x))[:n]
        overhead = library_overhead(x[order], y[order], xv[: max(1, n // 4)], yv[: max(1, n // 4)], trained.config)
    other = pd.Series(
        {
            "simulation, patterns/s (Ni, detector model included)": simulation_throughput(
                load_materials()["Ni"], max(200, len(scan) // 4), trained.detector, settings["seed"]
            ),
            **overhead,
            "training patterns timed": n,
            "map patterns timed": len(scan),
            "pattern size (px)": " × ".join(str(v) for v in trained.detector.geometry.shape),
        }
    )
    return SpeedReport(table, other, machine_header(), student, len(teachers))


#: The student's goal: map at least as fast as Hough indexing (× Hough's patterns/s), and lose at most this
#: many percentage points of the teacher's test accuracy; its map accuracy must be no lower than the teacher's.
STUDENT_GOAL = {"speed": 1.0, "test_points": 1.0}


def student_verdict(table: pd.DataFrame) -> dict:
    """The student against its goal, from a :func:`mapping_benchmark` table: at least Hough's patterns/s,
    test accuracy within 1 percentage point of the teacher's, map accuracy no lower than the teacher's.
    The teacher is the ensemble of transfer trials when the table has one, else the float32 transfer model
    (Xception; the stand-in network in the smoke profile).

    Returns the numbers (``speed`` × Hough, ``test_gap`` in points, ``map_gap`` in points: student −
    teacher; both models' test and map accuracies), the ``goal`` and whether each part is ``met``;
    :func:`ebsdlib.book.prose.student_sentence` says it in words.
    """
    names = list(table.index)
    student = next((n for n in names if n.startswith("student, float32")), None)
    teacher = next((n for n in names if n.startswith("teacher")), None) or next(
        (n for n in names if " transfer, float32" in n), None
    )
    if student is None or teacher is None:
        raise ValueError(f"the table needs a float32 student and a teacher row; it has {names}")
    s, t = table.loc[student], table.loc[teacher]
    speed = float(s["× Hough"])
    test_gap = 100 * float(s["test accuracy"] - t["test accuracy"])
    map_gap = 100 * float(s["map accuracy"] - t["map accuracy"])
    met = {
        "speed": speed >= STUDENT_GOAL["speed"],
        "test": test_gap >= -STUDENT_GOAL["test_points"],
        "map": map_gap >= 0,
    }
    return {
        "student": student,
        "teacher": teacher,
        "speed": speed,
        "test_gap": test_gap,
        "map_gap": map_gap,
        "test_accuracy": float(s["test accuracy"]),
        "teacher_test_accuracy": float(t["test accuracy"]),
        "map_accuracy": float(s["map accuracy"]),
        "teacher_map_accuracy": float(t["map accuracy"]),
        "goal": dict(STUDENT_GOAL),
        "met": met,
    }
