"""A distilled student: a small CNN that maps a scan at the speed of Hough indexing.

The book's transfer models are Xceptions: on a 2-core CPU they classify a few hundred patterns a second
at most, while PyEBSDIndex's Hough indexing of the same patterns runs faster still, and a real scan holds
10⁵–10⁶ patterns. The paper proposes ensembles and, for their cost, knowledge distillation (its ref. 86;
Hinton, Vinyals & Dean 2015): a small network trained to reproduce a large one's outputs.

The teacher is the ensemble of the book's transfer trials: their log-probabilities averaged (a softmax
is unchanged by a constant, so ``log p`` are the teacher's logits up to one), divided by a temperature
``T`` and passed through a softmax, which softens the targets so that the teacher's second and third
choices carry information. The student learns from new simulated patterns of the 18 training materials
(another seed than the book's data set, so no pattern of the test split is among them), which cost about a
millisecond each to make, with the loss

    α T² KL(softmax(z_teacher / T) ‖ softmax(z_student / T)) + (1 − α) CE(y, softmax(z_student))

where ``y`` is the true space group the simulation knows. Validation and early stopping use the book's
validation split (the teacher's), scored against the true labels, best weights restored; the moving
statistics of the student's BatchNorm layers are recomputed on training patterns before every
validation, as :mod:`ebsdlib.learn.training` does for both approaches.

The student sees one grayscale channel at a smaller input size than the teacher and is a stack of
separable convolutions (MobileNet-like, about 10⁵ weights against Xception's 2 × 10⁷).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ebsdlib import __version__
from ebsdlib.cache import atomic_folder, content_key, source_hash, verified_folder
from ebsdlib.crystal.materials import SPACE_GROUPS
from ebsdlib.datasets.container import PatternDataset, SplitCounts
from ebsdlib.io.bundle import stamp_classes
from ebsdlib.learn.training import (
    APPROACH_CHANNELS,
    TrialResult,
    batches,
    dataset_fingerprint,
    labels_to_onehot,
    recalibrate_batchnorm,
)
from ebsdlib.paths import cache_dir
from ebsdlib.preprocess import prepare_patterns
from ebsdlib.quiet import quiet_tensorflow
from ebsdlib.simulation.datasets import simulate_dataset
from ebsdlib.simulation.patterns import Detector

__all__ = [
    "StudentConfig",
    "StudentResult",
    "build_student",
    "teacher_probabilities",
    "soft_targets",
    "distillation_loss",
    "distil_student",
    "DISTILLATION_SEED",
]

log = logging.getLogger(__name__)

STUDENT_CHANNELS = 1
DISTILLATION_SEED = 1_000_003  # added to the book's seed: the distillation patterns are not the book's


@dataclass(frozen=True)
class StudentConfig:
    """The student's size and how it is distilled.

    Parameters
    ----------
    image_size
        Side of the student's square input in pixels (at least 16; default 48).
    width
        Filters of its first convolution (the later blocks have 2, 4 and 8 times as many; at least 4; default
        32).
    patterns_per_space_group
        New simulated patterns per space group the student learns from (divided evenly over the
        group's materials; default 1000).
    temperature
        Softening of the teacher's and student's outputs in the distillation term (positive; default 4).
    soft_weight
        α: the weight of the distillation term; ``1 − α`` weighs the cross-entropy with the true labels
        (0 to 1; default 0.7).
    learning_rate
        Adam's learning rate (default 2e-3).
    batch_size
        Patterns per optimiser step (default 64).
    max_epochs
        Most epochs trained (default 30).
    patience
        Epochs without an improvement of the validation cross-entropy larger than ``min_delta`` before
        training stops (default 4); the best weights are then restored.
    min_delta
        Smallest decrease of the validation cross-entropy that counts as an improvement (default 1e-3).

    Notes
    -----
    The speed chapter's defaults differ from these (64 px, 2000 patterns per space group, α = 0.9): on the
    default profile, 48 px with α = 0.7 came within 0.8 points of the teacher's test accuracy but lost 16
    points on the dual-phase map; 64 px with α = 0.9 lost 5.
    """

    image_size: int = 48
    width: int = 32
    patterns_per_space_group: int = 1000
    temperature: float = 4.0
    soft_weight: float = 0.7
    learning_rate: float = 2e-3
    batch_size: int = 64
    max_epochs: int = 30
    patience: int = 4
    min_delta: float = 1e-3

    def __post_init__(self):
        checks = {
            "image_size": self.image_size >= 16,
            "width": self.width >= 4,
            "patterns_per_space_group": self.patterns_per_space_group >= 1,
            "temperature": self.temperature > 0,
            "soft_weight": 0 <= self.soft_weight <= 1,
            "learning_rate": self.learning_rate > 0,
            "batch_size": self.batch_size >= 1,
            "max_epochs": self.max_epochs >= 1,
            "patience": self.patience >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                "student settings out of range: "
                + ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
                + " (image_size >= 16, width >= 4, temperature > 0, 0 <= soft_weight <= 1, counts >= 1)"
            )

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON and cache keys)."""
        return asdict(self)

    @classmethod
    def from_parameters(cls, parameters: dict) -> StudentConfig:
        """The settings of the speed chapter's parameters (``student_image_size``, ``student_width``,
        ``student_patterns_per_space_group``, ``student_max_epochs``, ``temperature``, ``soft_weight``);
        a missing one keeps its default."""
        names = {
            "student_image_size": "image_size",
            "student_width": "width",
            "student_patterns_per_space_group": "patterns_per_space_group",
            "student_max_epochs": "max_epochs",
            "temperature": "temperature",
            "soft_weight": "soft_weight",
        }
        return cls(**{field: parameters[name] for name, field in names.items() if name in parameters})


def build_student(image_size: int = 48, width: int = 32, n_classes: int = len(SPACE_GROUPS)):
    """The student CNN: a strided convolution, three blocks of two separable convolutions (2, 4 and 8 ×
    ``width`` filters, BatchNorm and ReLU after each) each followed by 2 × 2 max pooling, global average
    pooling, dropout and the ``n_classes`` head. The head's logits are the layer ``logits``; the output
    ``space_group`` is their softmax, as the Xception classifiers'. One grayscale channel in [0, 1],
    scaled to [−1, 1] inside the model.

    Examples
    --------
    >>> model = build_student(32, width=8)
    >>> model.input_shape, model.output_shape
    ((None, 32, 32, 1), (None, 6))
    """
    import keras
    from keras import layers

    if int(image_size) < 16:
        raise ValueError(f"the student needs inputs of at least 16 px; got image_size={image_size}")
    inputs = keras.Input((int(image_size), int(image_size), STUDENT_CHANNELS), name="pattern")
    x = layers.Rescaling(2.0, offset=-1.0, name="to_signed_range")(inputs)
    x = layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for block, factor in enumerate((2, 4, 8), 1):
        for k in (1, 2):
            x = layers.SeparableConv2D(width * factor, 3, padding="same", use_bias=False, name=f"block{block}_sepconv{k}")(x)
            x = layers.BatchNormalization(name=f"block{block}_bn{k}")(x)
            x = layers.ReLU(name=f"block{block}_relu{k}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"block{block}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    logits = layers.Dense(n_classes, name="logits")(x)
    outputs = layers.Activation("softmax", name="space_group", dtype="float32")(logits)
    return keras.Model(inputs, outputs, name="student_model")


def teacher_probabilities(teachers: list[TrialResult], patterns: np.ndarray, chunk: int = 256, progress=None) -> np.ndarray:
    """Class probabilities of every teacher on ``patterns`` (n, rows, cols): an array (teachers, n, classes).

    Each teacher sees the patterns as it was trained on them (its input size and channels)."""
    import keras

    if not teachers:
        raise ValueError("distillation needs at least one trained teacher model")
    out = np.empty((len(teachers), len(patterns), len(SPACE_GROUPS)), dtype=np.float32)
    for t, teacher in enumerate(teachers):
        model = keras.models.load_model(teacher.model_path)
        size, channels = int(teacher.info["image_size"]), APPROACH_CHANNELS[teacher.approach]
        for start in range(0, len(patterns), chunk):
            x = prepare_patterns(patterns[start : start + chunk], size, channels)
            out[t, start : start + len(x)] = model.predict(x, batch_size=64, verbose=0)
            if progress:
                progress(len(x))
    return out


def soft_targets(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """The ensemble's softened targets: softmax(mean over teachers of log p / T), rows summing to 1.

    ``probabilities`` is (teachers, n, classes) or (n, classes). ``T = 1`` gives the normalised
    geometric mean of the teachers' probabilities; a larger ``T`` flattens it towards uniform, keeping
    the order of the classes.

    Examples
    --------
    >>> p = np.array([[0.7, 0.2, 0.1]])
    >>> np.round(soft_targets(p, 1.0).astype(float), 3).tolist()
    [[0.7, 0.2, 0.1]]
    >>> bool(soft_targets(p, 4.0).max() < 0.7)
    True
    """
    if temperature <= 0:
        raise ValueError(f"the temperature must be positive, not {temperature}")
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim == 2:
        p = p[None]
    logits = np.log(np.clip(p, 1e-12, 1.0)).mean(axis=0) / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def distillation_loss(temperature: float, soft_weight: float, n_classes: int = len(SPACE_GROUPS)):
    """The distillation loss on the student's logits; ``y_true`` holds the softened teacher targets
    (first ``n_classes`` columns) beside the one-hot true labels (the next ``n_classes``)."""
    from keras import ops

    t, alpha = float(temperature), float(soft_weight)

    def loss(y_true, logits):
        soft, hard = y_true[:, :n_classes], y_true[:, n_classes:]
        log_student_soft = ops.log_softmax(logits / t, axis=-1)
        kl = ops.sum(soft * (ops.log(ops.clip(soft, 1e-12, 1.0)) - log_student_soft), axis=-1)
        ce = -ops.sum(hard * ops.log_softmax(logits, axis=-1), axis=-1)
        return alpha * t * t * kl + (1.0 - alpha) * ce

    return loss


@dataclass
class StudentResult:
    """A distilled student: its model file, per-epoch history and provenance."""

    model_path: Path
    history: pd.DataFrame
    info: dict

    @property
    def image_size(self) -> int:
        """Side in pixels of the student's input."""
        return int(self.info["config"]["image_size"])

    @property
    def epochs(self) -> int:
        """Epochs the student trained."""
        return len(self.history)

    def load_model(self):
        """The student as a Keras model, read from its file."""
        import keras

        return keras.models.load_model(self.model_path)


def _students_dir() -> Path:
    path = cache_dir() / "students"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _read_student(folder: Path) -> StudentResult:
    return StudentResult(
        folder / "model.keras", pd.read_csv(folder / "history.csv"), json.loads((folder / "info.json").read_text())
    )


def distil_student(
    teachers: list[TrialResult],
    dataset: PatternDataset,
    detector: Detector,
    config: StudentConfig = StudentConfig(),
    seed: int = 0,
    progress=log.info,
) -> StudentResult:
    """Distil the ensemble of ``teachers`` into a student (:func:`build_student`), or read it from the cache.

    Parameters
    ----------
    teachers
        The trained models to distil (the book's transfer trials).
    dataset
        The book's data set: its validation split selects the student's best epoch, as it did the
        teachers'.
    detector
        The simulated detector, geometry and detector model, of the new patterns the student learns from (the
        book's; :class:`~ebsdlib.simulation.patterns.Detector`).
    config
        The student's size and the distillation settings.
    seed
        The book's seed; the new patterns use ``seed + DISTILLATION_SEED``.
    progress
        Called with one line per epoch (``None``: quiet).

    Returns
    -------
    StudentResult
        The model file, the history (``loss``, ``val_loss``, ``val_accuracy``, ``teacher_agreement`` per
        epoch) and ``info`` (settings, teachers, counts, seconds).
    """
    import keras

    if not teachers:
        raise ValueError("distillation needs at least one trained teacher model")
    validation = dataset.subset("validation")
    if len(validation) == 0:
        raise ValueError("the data set has no validation patterns to select the student's epoch with")
    payload = {
        "teachers": sorted(t.info["key"] for t in teachers),
        "validation": dataset_fingerprint(validation),
        "geometry": detector.geometry.__dict__,
        "detector_model": detector.detector_model.as_dict(),
        "config": config.as_dict(),
        "seed": int(seed),
        "code": source_hash(
            [
                "learn.student",
                "preprocess",
                "learn.training",
                "simulation.patterns",
                "simulation.datasets",
                "datasets.container",
                "crystal.materials",
            ],
            ["materials.yml"],
        ),
        "version": __version__,
    }
    key = content_key(payload)
    folder = _students_dir() / f"student-{key}"
    if verified_folder(folder):
        return _read_student(folder)

    say = progress or (lambda *_: None)
    start = time.perf_counter()
    transfer = simulate_dataset(SplitCounts(config.patterns_per_space_group, 0, 0), detector, int(seed) + DISTILLATION_SEED)
    simulated = time.perf_counter()
    say(f"teachers labelling {len(transfer)} new simulated patterns ...")
    with quiet_tensorflow():  # a last, smaller chunk is traced again: no reader's business
        teacher_p = teacher_probabilities(teachers, transfer.patterns)
    labelled = time.perf_counter()
    soft = soft_targets(teacher_p, config.temperature)
    teacher_label = soft.argmax(axis=1)
    hard = labels_to_onehot(transfer.labels)
    x = prepare_patterns(transfer.patterns, config.image_size, STUDENT_CHANNELS)
    x_val = prepare_patterns(validation.patterns, config.image_size, STUDENT_CHANNELS)
    y_val = labels_to_onehot(validation.labels)
    watched = np.random.default_rng(seed).permutation(len(x))[:512]  # BatchNorm recalibration and agreement
    recal = x[watched]

    keras.utils.set_random_seed(int(seed))
    student = build_student(config.image_size, config.width)
    trainer = keras.Model(student.input, student.get_layer("logits").output, name="student_logits")
    trainer.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate), loss=distillation_loss(config.temperature, config.soft_weight)
    )
    data = batches(x, np.concatenate([soft, hard], axis=1), config.batch_size, shuffle_seed=int(seed))
    records, best, best_weights, waited = [], np.inf, None, 0
    for epoch in range(1, config.max_epochs + 1):
        t0 = time.perf_counter()
        fit = trainer.fit(data, epochs=1, shuffle=False, verbose=0)  # the pipeline reshuffles every epoch
        loss = float(fit.history["loss"][-1])
        if not np.isfinite(loss):
            raise RuntimeError(f"student distillation: the loss became {loss} at epoch {epoch}; nothing was cached")
        recalibrate_batchnorm(student, recal)
        p_val = student.predict(x_val, batch_size=256, verbose=0)
        val_loss = float(-(y_val * np.log(np.clip(p_val, 1e-12, 1))).sum(axis=1).mean())
        val_acc = float((p_val.argmax(axis=1) == y_val.argmax(axis=1)).mean())
        agreement = float((student.predict(recal, batch_size=256, verbose=0).argmax(axis=1) == teacher_label[watched]).mean())
        records.append(
            {
                "epoch": epoch,
                "loss": loss,
                "val_loss": val_loss,
                "val_accuracy": val_acc,
                "teacher_agreement": agreement,
                "seconds": time.perf_counter() - t0,
            }
        )
        say(
            f"student epoch {epoch:3d}: distillation loss {loss:.3f} | val_loss {val_loss:.3f} val_acc {val_acc:.2f} | "
            f"{records[-1]['seconds']:.0f} s"
        )
        if val_loss < best - config.min_delta:
            best, best_weights, waited = val_loss, student.get_weights(), 0
        else:
            waited += 1
            if waited >= config.patience:
                break
    student.set_weights(best_weights)
    history = pd.DataFrame(records)
    info = {
        **payload,
        "key": key,
        "epochs": len(history),
        "best_epoch": int(history["val_loss"].idxmin()) + 1,
        "distillation_patterns": int(len(transfer)),
        "distillation_seed": int(seed) + DISTILLATION_SEED,
        "teacher_count": len(teachers),
        "parameters": int(student.count_params()),
        "seconds": {
            "simulation": simulated - start,
            "teacher labelling": labelled - simulated,
            "training": time.perf_counter() - labelled,
        },
    }
    with atomic_folder(folder) as tmp:
        student.save(tmp / "model.keras")
        stamp_classes(tmp / "model.keras", SPACE_GROUPS)
        history.to_csv(tmp / "history.csv", index=False)
        (tmp / "info.json").write_text(json.dumps(info, indent=2, default=str))
    return _read_student(folder)
