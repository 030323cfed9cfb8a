"""Training as the paper: Adam (learning rate 1e-3), weight decay 1e-5, categorical cross-entropy, early
stopping on the validation loss (min_delta 1e-3, patience 15, best weights restored), N trials per approach.

Weight decay is an L2 penalty in the loss (``weight_decay`` × the sum of squared kernel weights of every
convolution and dense layer; biases and BatchNorm parameters are not penalised), not the decoupled
weight decay of Keras 3's ``Adam(weight_decay=...)``; both approaches alike. The paper gives "weight
decay 1e-5" without saying how it was applied (the Keras ``Adam`` of its time also had a ``decay``
argument, which decayed the learning rate); the L2 reading is this library's.

BatchNorm and few steps. Xception's BatchNorm layers normalise with moving statistics at inference. With
few training steps per epoch, those statistics lag weights that change fast, and a model that fits its
training patterns scores at chance in inference mode: the symptom the paper reports for its scratch
model's first epoch (validation loss 11.5). When ``bn_recalibration`` is on (default), the moving
statistics are recomputed on training patterns at the end of every epoch, before validation, for both
approaches alike; the history keeps the validation loss with Keras' own (lagging) statistics too
(``val_loss_keras``), so the book can show both. That second validation pass is made every epoch when
``validate_keras_statistics`` is on, else only after the first epoch (the value the paper reports).

Trained models (``.keras``), histories and timings go to a content-addressed folder of the cache; the key
covers every parameter, the data, the pretrained source and the code of the modules involved.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from ebsdlib import __version__
from ebsdlib.cache import atomic_folder, content_key, file_digest, source_hash, verified_folder
from ebsdlib.crystal.materials import SPACE_GROUPS
from ebsdlib.datasets.container import PatternDataset
from ebsdlib.io.bundle import stamp_classes
from ebsdlib.learn.models import PretrainedSource, build_scratch_model, build_transfer_model
from ebsdlib.paths import cache_dir
from ebsdlib.preprocess import prepare_patterns

__all__ = [
    "APPROACHES",
    "TrainingConfig",
    "NonFiniteLoss",
    "TrialResult",
    "labels_to_onehot",
    "apply_weight_decay",
    "prepare_split",
    "recalibrate_batchnorm",
    "fit_model",
    "batches",
    "compile_for_training",
    "training_model",
    "train_trial",
    "run_trials",
    "trial_key",
    "dataset_fingerprint",
    "history_table",
    "history_statistics",
    "training_summary",
    "training_config",
]

log = logging.getLogger(__name__)

APPROACHES = ("scratch", "transfer")
APPROACH_CHANNELS = {"scratch": 1, "transfer": 3}


@dataclass(frozen=True)
class TrainingConfig:
    """Optimiser and stopping rule. Defaults are the paper's (patience 15, min_delta 1e-3, lr 1e-3).

    Parameters
    ----------
    learning_rate
        Adam's learning rate (default 1e-3).
    weight_decay
        L2 penalty: ``weight_decay`` × the sum of the squared kernel weights of every convolution and dense
        layer, added to the training loss (default 1e-5; 0: none). See the module's note on this reading.
    batch_size
        Training patterns per optimiser step (default 16).
    patience
        Epochs without an improvement of the validation loss larger than ``min_delta`` before training stops
        (default 15); the best weights are then restored.
    min_delta
        Smallest decrease of the validation loss (categorical cross-entropy) that counts as an improvement
        (default 1e-3).
    max_epochs
        Most epochs trained (default 200).
    bn_recalibration
        Recompute the BatchNorm layers' moving statistics on training patterns at the end of every epoch,
        before validation (default ``True``; see the module's note).
    recalibration_patterns
        Training patterns the statistics are recomputed on, drawn at random with the trial's seed (default
        256).
    validate_keras_statistics
        With ``bn_recalibration``, validate every epoch also with Keras' own moving statistics (history column
        ``val_loss_keras``); ``False``: only after the first epoch (default ``True``).
    architecture
        The network: ``"xception"`` (default, the paper's) or ``"mini"``, the ``smoke`` profile's stand-in
        (:mod:`ebsdlib.learn.models`).
    """

    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    batch_size: int = 16
    patience: int = 15
    min_delta: float = 1e-3
    max_epochs: int = 200
    bn_recalibration: bool = True
    recalibration_patterns: int = 256
    validate_keras_statistics: bool = True
    architecture: str = "xception"  # or "mini", the smoke profile's stand-in (ebsdlib.learn.models)

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON and cache keys)."""
        return asdict(self)


@dataclass
class TrialResult:
    """One trained model: its approach, trial number, per-epoch history, files and provenance.

    Parameters
    ----------
    approach
        ``"scratch"`` or ``"transfer"``.
    trial
        Trial number within the approach, from 0.
    history
        One row per epoch: ``epoch``, ``loss`` and ``val_loss`` (categorical cross-entropy), ``accuracy``,
        ``val_accuracy``, ``val_loss_keras`` and ``val_accuracy_keras`` (with Keras' own BatchNorm
        statistics), ``loss_with_penalty``, ``l2_penalty``, ``train_seconds`` and ``seconds``.
    model_path
        The trained model (``.keras``) in the cache, with the weights early stopping restored.
    info
        Provenance as ``info.json`` holds it: approach, trial, seed, cache key, image size, configuration,
        pretrained source, epochs, whether training stopped early, best epoch, pattern counts and seconds.
    """

    approach: str
    trial: int
    history: pd.DataFrame
    model_path: Path
    info: dict

    @property
    def epochs(self) -> int:
        """Epochs run, the patience epochs included (the paper's "epochs to converge")."""
        return len(self.history)

    def load_model(self):
        """The trained model as a Keras model, read from its file."""
        import keras

        return keras.models.load_model(self.model_path)


def labels_to_onehot(labels, classes=SPACE_GROUPS) -> np.ndarray:
    """One-hot rows over ``classes`` (default the six space groups); unknown labels raise ValueError."""
    labels = np.asarray(labels)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(labels.tolist()) - set(index))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classes {list(classes)}")
    out = np.zeros((len(labels), len(classes)), dtype=np.float32)
    out[np.arange(len(labels)), [index[l] for l in labels]] = 1
    return out


def prepare_split(dataset: PatternDataset, split: str, image_size: int, channels: int, classes=SPACE_GROUPS):
    """Model inputs and one-hot labels of one split."""
    part = dataset.subset(split)
    if len(part) == 0:
        raise ValueError(f"the data set has no {split!r} patterns")
    return prepare_patterns(part.patterns, image_size, channels), labels_to_onehot(part.labels, classes)


def recalibrate_batchnorm(model, x: np.ndarray, batch_size: int = 32) -> None:
    """Recompute every BatchNormalization layer's moving mean and variance on ``x`` (cumulative average
    over batches in training mode); trainable weights are not changed."""
    import keras

    layers = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    momenta = [l.momentum for l in layers]
    try:
        for k, start in enumerate(range(0, len(x), batch_size), 1):
            for layer in layers:
                layer.momentum = (k - 1) / k
            model(x[start : start + batch_size], training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=False):
            layer.momentum = momentum


def apply_weight_decay(model, coefficient: float) -> int:
    """Attach an L2 penalty ``coefficient`` × sum(w²) to the kernel of every convolution (the depthwise
    and pointwise kernels of separable ones) and dense layer of ``model``; returns how many kernels.

    The penalty enters the training loss through Keras' variable regularisers; the saved model does not
    keep it (it only matters while training)."""
    import keras

    if coefficient < 0:
        raise ValueError(f"weight_decay must be >= 0, got {coefficient}")
    if coefficient == 0:
        return 0
    penalty = keras.regularizers.L2(float(coefficient))
    kernels = 0

    def walk(layers):
        for layer in layers:
            yield layer
            yield from walk(getattr(layer, "layers", []))

    for layer in walk(model.layers):
        for name in ("kernel", "depthwise_kernel", "pointwise_kernel"):
            variable = getattr(layer, name, None)
            if isinstance(variable, keras.Variable) and variable.trainable:
                variable.regularizer = penalty
                kernels += 1
    return kernels


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle_seed: int | None = None):
    """``(x, y)`` as a ``tf.data`` pipeline of batches, reshuffled every epoch when ``shuffle_seed`` is given.

    The batch dimension is left unknown, so Keras traces its train and test step once for full and
    partial batches alike (with NumPy arrays it traces the last, partial batch a second time: about 13 s
    for Xception on this project's 2-core CPU, more than a smoke trial's training)."""
    import tensorflow as tf

    if len(x) != len(y):
        raise ValueError(f"{len(x)} patterns but {len(y)} labels")
    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        data = data.shuffle(len(x), seed=int(shuffle_seed), reshuffle_each_iteration=True)
    return data.batch(int(batch_size)).prefetch(1)


def compile_for_training(model, config: TrainingConfig) -> None:
    """Attach the L2 weight decay and compile ``model`` with the paper's optimiser, loss and metrics."""
    import keras

    apply_weight_decay(model, config.weight_decay)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy", keras.metrics.CategoricalCrossentropy(name="cross_entropy")],
    )


_REUSABLE: OrderedDict = OrderedDict()  # compiled models kept for reuse in this process, oldest first
_REUSABLE_SIZE = 2


def training_model(approach: str, image_size: int, config: TrainingConfig, source: PretrainedSource | None, seed: int):
    """A compiled model of ``approach`` whose weights are those a new model gets with ``seed``, ready to fit.

    Keras traces a model's train and test steps on its first ``fit``, and the traced functions belong
    to the model object: for Xception that takes about 30 s on this project's 2-core CPU, longer than a
    small trial trains. So the last two compiled models (by approach, architecture, input size, pretrained
    source, learning rate and weight decay) are kept in this process and reused: a new model is built with the
    seed as before (its random initialisation or the source's weights), its weights, BatchNorm
    statistics included, are copied into the kept model, and the optimiser's state (step count,
    moments) is reset to that of a new Adam. Training then starts from exactly the state a new model
    would, without tracing again.
    """
    import keras

    keras.utils.set_random_seed(seed)
    architecture = config.architecture
    if approach == "scratch":
        fresh = build_scratch_model(image_size, architecture=architecture)
    else:
        fresh = build_transfer_model(image_size, source, architecture=architecture)
    weights = None if approach == "scratch" or source is None else file_digest(source.weights)
    key = (approach, architecture, int(image_size), weights, float(config.learning_rate), float(config.weight_decay))
    model = _REUSABLE.pop(key, None)
    if model is None:
        model = fresh
        compile_for_training(model, config)
    else:
        model.set_weights(fresh.get_weights())
        for variable in model.optimizer.variables:
            variable.assign(np.zeros(variable.shape, dtype=variable.dtype))
        model.optimizer.learning_rate = config.learning_rate
    _REUSABLE[key] = model
    while len(_REUSABLE) > _REUSABLE_SIZE:
        _REUSABLE.popitem(last=False)
    return model


def _make_monitor(x_val, y_val, x_recal, config: TrainingConfig, label: str, records: list):
    import keras

    validation = batches(x_val, y_val, 64)

    class EpochMonitor(keras.callbacks.Callback):
        """Validation after optional BatchNorm recalibration; one compact line per epoch."""

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            train_seconds = time.perf_counter() - self._start

            def validate():
                scores = self.model.evaluate(validation, verbose=0, return_dict=True)
                return scores["cross_entropy"], scores["accuracy"]

            if config.validate_keras_statistics or not config.bn_recalibration or epoch == 0:
                keras_loss, keras_acc = validate()
            else:
                keras_loss, keras_acc = np.nan, np.nan
            if config.bn_recalibration:
                recalibrate_batchnorm(self.model, x_recal)
                val_loss, val_acc = validate()
            else:
                val_loss, val_acc = keras_loss, keras_acc
            logs.update(val_loss=val_loss, val_accuracy=val_acc)
            penalty = float(sum(float(l) for l in self.model.losses)) if self.model.losses else 0.0
            record = {
                "epoch": epoch + 1,
                "loss": float(logs.get("cross_entropy", logs["loss"])),
                "accuracy": float(logs.get("accuracy", np.nan)),
                "val_loss": float(val_loss),
                "val_accuracy": float(val_acc),
                "val_loss_keras": float(keras_loss),
                "val_accuracy_keras": float(keras_acc),
                "loss_with_penalty": float(logs["loss"]),
                "l2_penalty": penalty,
                "train_seconds": train_seconds,
                "seconds": time.perf_counter() - self._start,
            }
            records.append(record)
            log.info(
                f"{label} epoch {record['epoch']:3d}: loss {record['loss']:.3f} acc {record['accuracy']:.2f} | "
                f"val_loss {val_loss:.3f} val_acc {val_acc:.2f}"
                + (f" (Keras statistics: {keras_loss:.2f})" if np.isfinite(keras_loss) else "")
                + " | "
                f"{record['seconds']:.0f} s"
            )

    return EpochMonitor()


class NonFiniteLoss(RuntimeError):
    """Training produced a NaN or infinite loss; the message names the trial, epoch and step."""


def _stop_on_non_finite_loss(label: str):
    import keras

    class StopOnNonFiniteLoss(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch + 1

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not np.isfinite(float(loss)):
                raise NonFiniteLoss(
                    f"{label or 'training'}: the loss became {float(loss)} at epoch {getattr(self, '_epoch', 1)}, "
                    f"step {batch + 1}; training stopped and nothing was cached. Check the patterns for extreme or "
                    "non-finite values, or lower the learning rate."
                )

    return StopOnNonFiniteLoss()


def fit_model(model, x_train, y_train, x_val, y_val, config: TrainingConfig, *, seed: int = 0, label: str = "") -> pd.DataFrame:
    """Compile and fit ``model`` with the paper's optimiser, L2 weight decay and early stopping; returns
    the history (one row per epoch). The best weights (lowest validation loss) are restored.

    ``loss`` and ``val_loss`` in the history are the categorical cross-entropy alone, the quantity the
    paper reports and the same for both approaches; the L2 penalty (which depends on each model's
    weights) is kept apart in ``l2_penalty``, the optimised training loss in ``loss_with_penalty``.
    Early stopping monitors the validation cross-entropy. A model that is already compiled (one that
    :func:`training_model` reuses) is fitted as it is; any other is compiled first
    (:func:`compile_for_training`)."""
    import keras

    if not model.compiled:
        compile_for_training(model, config)
    rng = np.random.default_rng(seed)
    recal = x_train[rng.permutation(len(x_train))[: config.recalibration_patterns]]
    records: list[dict] = []
    for name, x in (("training", x_train), ("validation", x_val)):
        if not np.isfinite(x).all():
            raise NonFiniteLoss(f"{label or 'training'}: the {name} inputs hold non-finite values; nothing was trained or cached")
    callbacks = [
        _stop_on_non_finite_loss(label),
        _make_monitor(x_val, y_val, recal, config, label, records),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", min_delta=config.min_delta, patience=config.patience, restore_best_weights=True
        ),
    ]
    model.fit(
        batches(x_train, y_train, config.batch_size, shuffle_seed=seed),
        epochs=config.max_epochs,
        shuffle=False,
        callbacks=callbacks,
        verbose=0,  # the pipeline reshuffles every epoch
    )
    history = pd.DataFrame(records)
    history.attrs["stopped_early"] = len(history) < config.max_epochs
    return history


def dataset_fingerprint(dataset: PatternDataset) -> str:
    """Content hash of a data set's patterns and labels (what a trained model or a prediction depends on)."""
    return joblib.hash((dataset.patterns, dataset.table[["space_group", "material", "split"]].to_numpy()))


def trial_key(
    approach: str, dataset: PatternDataset, image_size: int, config: TrainingConfig, source: PretrainedSource | None, seed: int
) -> str:
    """Content address of one trained model: everything that determines it."""
    payload = {
        "approach": approach,
        "data": dataset_fingerprint(dataset),
        "image_size": int(image_size),
        "config": config.as_dict(),
        "source": None
        if approach == "scratch" or source is None
        else {"kind": source.kind, "weights": file_digest(source.weights) if source.weights else None},
        "seed": int(seed),
        "code": source_hash(["learn.models", "learn.training", "preprocess"]),
        "version": __version__,
    }
    return content_key(payload)


def _models_dir() -> Path:
    path = cache_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _read_trial(folder: Path) -> TrialResult:
    info = json.loads((folder / "info.json").read_text())
    history = pd.read_csv(folder / "history.csv")
    return TrialResult(info["approach"], info["trial"], history, folder / "model.keras", info)


def train_trial(
    approach: str,
    dataset: PatternDataset,
    image_size: int,
    config: TrainingConfig = TrainingConfig(),
    source: PretrainedSource | None = None,
    *,
    trial: int = 0,
    seed: int = 0,
) -> TrialResult:
    """Train one model of ``approach`` (``"scratch"`` or ``"transfer"``), or read it from the cache.

    The result folder is written under a temporary name and renamed into place when complete, so an
    interrupted run never leaves a model that a later run trusts.

    Parameters
    ----------
    approach
        ``"scratch"`` (one grayscale channel, random starting weights) or ``"transfer"`` (the pattern stacked
        to three channels, starting from ``source``'s weights).
    dataset
        The data: the model trains on its ``"train"`` split and early stopping watches its ``"validation"``
        split; their space groups must be among the six classes.
    image_size
        Side in pixels the patterns are resized to, the model's input (at least 71).
    config
        The optimiser and stopping rule (default ``TrainingConfig()``, the paper's).
    source
        The transfer model's pretrained source with its weights file (:func:`ebsdlib.learn.models.resolve_source`,
        then :func:`ebsdlib.learn.sourcetask.ensure_source`); needed for ``"transfer"``, unused for
        ``"scratch"`` (default ``None``).
    trial
        Trial number (default 0). With ``seed`` it makes the trial's seed, ``seed`` × 1000 + ``trial``, which
        initialises the model, shuffles the batches and draws the recalibration patterns.
    seed
        The run's seed (default 0); see ``trial``.

    Returns
    -------
    TrialResult
        The trained model, its history and provenance.

    Examples
    --------
    One epoch of the smoke profile's small network on a few simulated patterns of Ni (225) and Fe (229):

    >>> from ebsdlib.crystal.materials import load_materials
    >>> from ebsdlib.datasets.container import SplitCounts
    >>> from ebsdlib.simulation.datasets import simulate_dataset
    >>> from ebsdlib.simulation.patterns import Detector, DetectorGeometry
    >>> detector = Detector(DetectorGeometry(shape=(30, 36), master_pattern_half_size=68))
    >>> materials = [load_materials()[name] for name in ("Ni", "Fe")]
    >>> data = simulate_dataset(SplitCounts(6, 3, 1), detector, seed=0, materials=materials)
    >>> result = train_trial("scratch", data, 72, TrainingConfig(architecture="mini", max_epochs=1), seed=0)
    >>> result.approach, len(result.history), result.model_path.suffix
    ('scratch', 1, '.keras')
    """
    if approach not in APPROACHES:
        raise ValueError(f"unknown approach {approach!r}; choose from {APPROACHES}")
    if approach == "transfer" and (source is None or source.weights is None):
        raise ValueError("the transfer model needs a resolved pretrained source with a weights file")
    used = dataset.table[dataset.table["split"].isin(["train", "validation"])]
    other = used[~used["space_group"].isin(SPACE_GROUPS)]
    if len(other):
        groups = sorted({int(g) for g in other["space_group"]})
        where = sorted({str(v) for v in other.get("file", other["material"])})[:3]
        raise ValueError(
            f"the training data hold space group(s) {groups} (first: {', '.join(where)}), which are not among the "
            f"model's classes {list(SPACE_GROUPS)}; remove those folders or patterns before training"
        )
    trial_seed = int(seed) * 1000 + int(trial)
    key = trial_key(approach, dataset, image_size, config, source, trial_seed)
    folder = _models_dir() / f"{approach}-{key}"
    if verified_folder(folder):
        return _read_trial(folder)

    channels = APPROACH_CHANNELS[approach]
    x_train, y_train = prepare_split(dataset, "train", image_size, channels)
    x_val, y_val = prepare_split(dataset, "validation", image_size, channels)
    model = training_model(approach, image_size, config, source, trial_seed)
    start, cpu_start = time.perf_counter(), time.process_time()
    history = fit_model(model, x_train, y_train, x_val, y_val, config, seed=trial_seed, label=f"{approach} trial {trial}")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    info = {
        "approach": approach,
        "trial": int(trial),
        "seed": trial_seed,
        "key": key,
        "image_size": int(image_size),
        "config": config.as_dict(),
        "source": None if approach == "scratch" else source.as_dict(),
        "epochs": len(history),
        "stopped_early": bool(history.attrs["stopped_early"]),
        "best_epoch": int(history["val_loss"].idxmin()) + 1,
        "train_patterns": int(len(x_train)),
        "validation_patterns": int(len(x_val)),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
    }
    with atomic_folder(folder) as tmp:
        model.save(tmp / "model.keras")
        stamp_classes(tmp / "model.keras", SPACE_GROUPS)  # the order of labels_to_onehot's columns
        history.to_csv(tmp / "history.csv", index=False)
        (tmp / "info.json").write_text(json.dumps(info, indent=2))
    return _read_trial(folder)


def run_trials(
    dataset: PatternDataset,
    image_size: int,
    trials: int,
    config: TrainingConfig = TrainingConfig(),
    source: PretrainedSource | None = None,
    *,
    seed: int = 0,
    approaches: tuple[str, ...] = APPROACHES,
) -> list[TrialResult]:
    """``trials`` models per approach on the same split (as the paper held it constant).

    Parameters
    ----------
    dataset
        The data, as :func:`train_trial` takes it.
    image_size
        Side in pixels of the models' input (at least 71).
    trials
        Models per approach, trial numbers 0 to ``trials`` − 1.
    config
        The optimiser and stopping rule (default ``TrainingConfig()``, the paper's).
    source
        The transfer model's pretrained source with its weights file; needed when ``approaches`` holds
        ``"transfer"`` (default ``None``).
    seed
        The run's seed (default 0), as :func:`train_trial` takes it.
    approaches
        The approaches to train, in order (default ``("scratch", "transfer")``).

    Returns
    -------
    list[TrialResult]
        Approach by approach, in trial order.
    """
    results = []
    for approach in approaches:
        for trial in range(trials):
            results.append(train_trial(approach, dataset, image_size, config, source, trial=trial, seed=seed))
    return results


def history_table(results: list[TrialResult]) -> pd.DataFrame:
    """All histories in one long table with ``approach`` and ``trial`` columns."""
    return pd.concat([r.history.assign(approach=r.approach, trial=r.trial) for r in results], ignore_index=True)


def history_statistics(results: list[TrialResult], columns=("loss", "val_loss")) -> pd.DataFrame:
    """Mean and standard deviation over trials per approach and epoch (trials still running at that
    epoch), as the error bars of the paper's Fig. 1."""
    table = history_table(results)
    stats = table.groupby(["approach", "epoch"])[list(columns)].agg(["mean", "std", "count"])
    stats.columns = [f"{c}_{s}" for c, s in stats.columns]
    return stats.reset_index()


def _mean_std(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def training_summary(results: list[TrialResult], paper: dict | None = None) -> pd.DataFrame:
    """Per approach: epochs to converge, time per epoch, first-epoch losses (mean ± std over trials),
    best validation accuracy, how many trials stopped early — beside the paper's values when given
    (``paper_values()["training"]``)."""
    rows = []
    for approach in APPROACHES:
        approach_results = [r for r in results if r.approach == approach]
        if not approach_results:
            continue
        epochs = _mean_std([r.epochs for r in approach_results])
        first_train = _mean_std([r.history["loss"].iloc[0] for r in approach_results])
        first_val = _mean_std([r.history["val_loss"].iloc[0] for r in approach_results])
        first_val_keras = _mean_std([r.history["val_loss_keras"].iloc[0] for r in approach_results])
        seconds = _mean_std(
            [
                r.history["seconds"].iloc[1:].mean() if len(r.history) > 1 else r.history["seconds"].iloc[0]
                for r in approach_results
            ]
        )
        best_acc = _mean_std([r.history.loc[r.history["val_loss"].idxmin(), "val_accuracy"] for r in approach_results])
        row = {
            "approach": approach,
            "trials": len(approach_results),
            "epochs to converge": f"{epochs[0]:.1f} ± {epochs[1]:.1f}",
            "stopped early": f"{sum(r.info['stopped_early'] for r in approach_results)}/{len(approach_results)}",
            "s per epoch": f"{seconds[0]:.0f} ± {seconds[1]:.0f}",
            "first-epoch loss": f"{first_train[0]:.2f} ± {first_train[1]:.2f}",
            "first-epoch val. loss": f"{first_val[0]:.2f} ± {first_val[1]:.2f}",
            "first-epoch val. loss (Keras statistics)": f"{first_val_keras[0]:.2f} ± {first_val_keras[1]:.2f}",
            "val. accuracy at best epoch": f"{best_acc[0]:.2f} ± {best_acc[1]:.2f}",
        }
        if paper is not None:
            p = paper["training"]
            e = p["epochs_to_converge"][approach]
            f = p["first_epoch_loss"][approach]
            row.update(
                {
                    "paper: epochs to converge": f"{e['mean']} ± {e['std']}",
                    "paper: first-epoch loss": f"{f['train']['mean']} ± {f['train']['std']}",
                    "paper: first-epoch val. loss": f"{f['validation']['mean']} ± {f['validation']['std']}",
                    "paper: s per epoch": f"{60 * p['minutes_per_epoch']} (2400 patterns, GPU)",
                }
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("approach")


def training_config(settings: dict) -> TrainingConfig:
    """The training protocol of a profile's shared settings (:func:`ebsdlib.settings.shared_settings`)."""
    return TrainingConfig(
        learning_rate=float(settings["learning_rate"]),
        weight_decay=float(settings["weight_decay"]),
        batch_size=int(settings["batch_size"]),
        patience=int(settings["patience"]),
        min_delta=float(settings["min_delta"]),
        max_epochs=int(settings["max_epochs"]),
        bn_recalibration=bool(settings["bn_recalibration"]),
        validate_keras_statistics=bool(settings["validate_keras_statistics"]),
        architecture=str(settings["architecture"]),
    )
