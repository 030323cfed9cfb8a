"""Benchmarks (``make bench``, ``ebsdlib bench``): numbers that vary with the machine, so never tests.

Training throughput of both approaches at a profile's input size, for each contender:

* precision: float32 or Keras ``mixed_bfloat16`` (fast only where the CPU has bfloat16 instructions,
  e.g. AVX-512 BF16 or AMX; the table names the CPU's flags so a reader can tell);
* input pipeline: NumPy arrays handed to ``Model.fit`` or a ``tf.data`` pipeline (shuffled, batched,
  prefetched);
* batch size.

and the per-epoch costs around training: one validation pass, the BatchNorm recalibration of
:mod:`ebsdlib.training`. From them, the patterns per second of a whole epoch of the profile
(training patterns ÷ seconds of training + validation passes + recalibration), with the validation
made twice (every epoch with Keras' statistics and after recalibration) and once (Keras' statistics
after the first epoch only). The epoch figures are estimates from the median training step (robust to
a busy machine), the validation pass and the recalibration, each timed once; "after" picks the fastest
contender that :func:`ebsdlib.training.fit_model` can run (float32 through ``tf.data``, any batch size).
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Contender",
    "cpu_description",
    "training_throughput",
    "epoch_throughput",
    "run_training_benchmark",
    "tiled_scan",
    "streaming_benchmark",
]


@dataclass(frozen=True)
class Contender:
    arm: str
    precision: str = "float32"
    pipeline: str = "arrays"
    batch_size: int = 16

    @property
    def label(self) -> str:
        return f"{self.arm}, {self.precision}, {self.pipeline}, batch {self.batch_size}"


def cpu_description() -> str:
    """CPU model, logical cores and the vector extensions that matter for bfloat16."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"]
    present = [f for f in wanted if f in flags] or ["none of " + ", ".join(wanted)]
    return f"{model}, {os.cpu_count()} logical cores, {' '.join(present)}"


def _model(arm: str, image_size: int, precision: str):
    import keras

    from .models import build_scratch_model
    from .training import ARM_CHANNELS

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        if arm == "scratch":
            return build_scratch_model(image_size)
        from keras import layers  # the transfer model's graph with random weights: speed does not depend on them

        inputs = keras.Input((image_size, image_size, ARM_CHANNELS[arm]))
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
    patterns after a warm-up epoch (graph tracing excluded), as :func:`ebsdlib.training.fit_model`
    compiles the model."""
    import keras
    import tensorflow as tf

    from .training import ARM_CHANNELS, apply_weight_decay

    keras.utils.set_random_seed(seed)
    model = _model(contender.arm, image_size, contender.precision)
    apply_weight_decay(model, 1e-5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = _data(patterns, image_size, ARM_CHANNELS[contender.arm], seed)
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
        "arm": contender.arm,
        "precision": contender.precision,
        "pipeline": contender.pipeline,
        "batch size": contender.batch_size,
        "train patterns/s (median step)": contender.batch_size / float(np.median(steps)),
        "train patterns/s (epoch wall)": patterns / wall,
    }


def epoch_costs(arm: str, image_size: int, validation_patterns: int, recalibration_patterns: int, seed: int = 0) -> dict:
    """Seconds of one validation pass (batch 64, as the training loop) and of one BatchNorm
    recalibration on ``recalibration_patterns`` patterns."""
    import keras

    from .training import ARM_CHANNELS, recalibrate_batchnorm

    keras.utils.set_random_seed(seed)
    model = _model(arm, image_size, "float32")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = _data(max(validation_patterns, recalibration_patterns), image_size, ARM_CHANNELS[arm], seed)
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
    recalibration_patterns: int = 256,
    patterns: int = 128,
    contenders: list[Contender] | None = None,
    progress=print,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every contender; returns (throughput table, per-epoch table before/after per arm).

    ``train_patterns`` and ``validation_patterns`` are the profile's per-epoch counts (6 × the
    per-space-group counts); ``patterns`` the patterns timed per contender.
    """
    if contenders is None:
        contenders = [
            Contender(arm, precision, pipeline, batch)
            for arm in ("scratch", "transfer")
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
    for arm in sorted(set(throughput["arm"])):
        if progress:
            progress(f"timing validation and BatchNorm recalibration ({arm}) ...")
        costs = epoch_costs(arm, image_size, validation_patterns, recalibration_patterns)
        part = throughput[throughput["arm"] == arm]
        rate = "train patterns/s (median step)"
        baseline = part[(part["precision"] == "float32") & (part["pipeline"] == "arrays") & (part["batch size"] == 16)]
        base_rate = float(baseline[rate].iloc[0]) if len(baseline) else float(part[rate].iloc[0])
        runnable = part[(part["precision"] == "float32") & (part["pipeline"] == "tf.data")]  # what fit_model runs
        best = runnable.loc[runnable[rate].idxmax()] if len(runnable) else part.loc[part[rate].idxmax()]
        before = epoch_throughput(train_patterns, base_rate, costs["validation s"], costs["recalibration s"], 2)
        after = epoch_throughput(train_patterns, float(best[rate]), costs["validation s"], costs["recalibration s"], 1)
        epochs.append(
            {
                "arm": arm,
                "fastest contender that ebsdlib.training runs": f"{best['precision']}, {best['pipeline']}, batch {best['batch size']}",
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


def tiled_scan(path, n_patterns: int, base_shape=(20, 50), geometry=None, detector_model=None, seed: int = 0):
    """A simulated scan file (kikuchipy h5ebsd) of ``n_patterns`` patterns for the streaming benchmark:
    the book's dual-phase map of ``base_shape`` simulated once and tiled over as many map rows as needed,
    written lazily (never whole in memory)."""
    from pathlib import Path

    import dask.array as da
    import kikuchipy as kp

    from .phasemap import simulate_dual_phase_map
    from .simulate import DetectorGeometry, DetectorModel

    geometry = geometry or DetectorGeometry(shape=(60, 73))
    _, scan = simulate_dual_phase_map(base_shape, 4, 0.2, geometry, detector_model or DetectorModel(), seed)
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


def streaming_benchmark(bundles, sizes=(10_000, 100_000), folder=None, chunk_size: int = 1024, progress=print) -> pd.DataFrame:
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
            "from ebsdlib.classify import classify_scan\n"
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
