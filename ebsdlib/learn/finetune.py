"""Few-shot fine-tuning on a sample's phases: a trained classifier continues training on patterns of the phases
a sample is known to hold, as a microscopist tells Hough indexing its phase list.

The paper's method is few-shot transfer: a network that has learnt general features needs few labelled
patterns of a new task. A phase map is such a task: its phases are known (from the alloy, EDS or the
literature) and their patterns can be simulated. :func:`fine_tune` continues training a trained model
(:class:`~ebsdlib.learn.training.TrialResult`) on the train split of a data set, with early stopping on its
validation split and a fresh Adam optimiser (the paper's loss and weight decay, a learning rate of the caller's
choice, usually ten times below the first training's); :func:`fine_tune_on_phases` simulates the data set first.
The six-way output is kept, so the fine-tuned model is read, scored and bundled like any other; trained on
two phases only, it has learnt to answer with those.

Results are cached like trials (``models/<approach>-finetuned-<key>``): the key covers the starting model's key,
the data, the configuration, the seed and this module's code.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ebsdlib import __version__
from ebsdlib.cache import atomic_folder, content_key, source_hash, verified_folder
from ebsdlib.crystal.materials import SPACE_GROUPS, Material
from ebsdlib.datasets.container import PatternDataset, SplitCounts
from ebsdlib.io.bundle import stamp_classes
from ebsdlib.learn.training import (
    APPROACH_CHANNELS,
    TrainingConfig,
    TrialResult,
    _models_dir,
    _read_trial,
    compile_for_training,
    dataset_fingerprint,
    fit_model,
    prepare_split,
)
from ebsdlib.simulation.datasets import simulate_dataset
from ebsdlib.simulation.patterns import Detector
from ebsdlib.simulation.sample import simulate_phase_boundary_patterns

__all__ = ["PhaseTuning", "phase_data", "fine_tune", "fine_tune_on_phases"]


@dataclass(frozen=True)
class PhaseTuning:
    """How a trained model is fine-tuned on a sample's phases (the profile's ``sample_*`` settings).

    Parameters
    ----------
    train_per_phase
        Simulated training patterns per phase (default 200).
    val_per_phase
        Simulated validation patterns per phase, watched by early stopping (default 50).
    max_epochs
        Most epochs of fine-tuning (default 4); early stopping (the profile's patience) may stop sooner.
    learning_rate
        Adam's learning rate while fine-tuning (default 1e-4, a tenth of the first training's).
    boundary_share
        Share of each phase's training and validation patterns that are phase-boundary patterns: the phase overlapped
        with another of the sample's at the same orientation, the other weaker
        (:func:`~ebsdlib.simulation.sample.simulate_phase_boundary_patterns`); default 0: none.

    Examples
    --------
    >>> PhaseTuning.from_settings({"sample_train_per_phase": 20, "sample_val_per_phase": 5, "sample_epochs": 2,
    ...                            "sample_learning_rate": 1e-4, "sample_boundary_share": 0.3})
    PhaseTuning(train_per_phase=20, val_per_phase=5, max_epochs=2, learning_rate=0.0001, boundary_share=0.3)
    """

    train_per_phase: int = 200
    val_per_phase: int = 50
    max_epochs: int = 4
    learning_rate: float = 1e-4
    boundary_share: float = 0.0

    def __post_init__(self):
        for name in ("train_per_phase", "val_per_phase", "max_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"PhaseTuning.{name} must be a whole number, 1 or more; got {value!r}")
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"PhaseTuning.learning_rate must lie in (0, 1]; got {self.learning_rate!r}")
        if not 0 <= self.boundary_share < 1:
            raise ValueError(f"PhaseTuning.boundary_share must lie in [0, 1); got {self.boundary_share!r}")

    def boundary_counts(self) -> tuple[int, int]:
        """Phase-boundary patterns among each phase's training and validation patterns."""
        return round(self.train_per_phase * self.boundary_share), round(self.val_per_phase * self.boundary_share)

    @classmethod
    def from_settings(cls, settings: dict) -> PhaseTuning:
        """From a profile's shared settings (``sample_train_per_phase``, ``sample_val_per_phase``,
        ``sample_epochs``, ``sample_learning_rate``, ``sample_boundary_share``)."""
        return cls(
            int(settings["sample_train_per_phase"]),
            int(settings["sample_val_per_phase"]),
            int(settings["sample_epochs"]),
            float(settings["sample_learning_rate"]),
            float(settings["sample_boundary_share"]),
        )


def _fine_tune_key(result: TrialResult, dataset: PatternDataset, config: TrainingConfig, seed: int) -> str:
    return content_key(
        {
            "start": result.info["key"],
            "data": dataset_fingerprint(dataset),
            "config": config.as_dict(),
            "seed": int(seed),
            "code": source_hash(["learn.finetune", "learn.training", "preprocess"]),
            "version": __version__,
        }
    )


def fine_tune(result: TrialResult, dataset: PatternDataset, config: TrainingConfig, *, seed: int = 0) -> TrialResult:
    """Continue training ``result``'s model on ``dataset``'s train split (early stopping on its validation split),
    or read the fine-tuned model from the cache.

    Parameters
    ----------
    result
        The trained model to start from (its weights, head included; its approach sets the input channels and
        its input size the pattern size).
    dataset
        The new patterns: ``"train"`` and ``"validation"`` splits whose space groups are among the six classes.
    config
        Optimiser and stopping rule of the fine-tuning (learning rate, epochs, patience, batch size, BatchNorm
        recalibration); the optimiser starts afresh.
    seed
        Seed of the batch order and of the recalibration patterns (default 0).

    Returns
    -------
    TrialResult
        The fine-tuned model: the starting model's approach and trial, its own history, and in ``info`` the key
        of the model it started from (``fine_tuned_from``) beside the usual provenance.

    Raises
    ------
    ValueError
        If the data hold a space group that is not one of the model's classes, or lack a split.
    """
    import keras

    used = dataset.table[dataset.table["split"].isin(["train", "validation"])]
    other = sorted({int(g) for g in used["space_group"]} - set(SPACE_GROUPS))
    if other:
        raise ValueError(
            f"the fine-tuning data hold space group(s) {other}, which are not among the model's classes {list(SPACE_GROUPS)}"
        )
    key = _fine_tune_key(result, dataset, config, seed)
    folder = _models_dir() / f"{result.approach}-finetuned-{key}"
    if verified_folder(folder):
        return _read_trial(folder)
    image_size = int(result.info["image_size"])
    channels = APPROACH_CHANNELS[result.approach]
    x_train, y_train = prepare_split(dataset, "train", image_size, channels)
    x_val, y_val = prepare_split(dataset, "validation", image_size, channels)
    keras.utils.set_random_seed(int(seed))
    model = keras.models.load_model(result.model_path)
    compile_for_training(model, config)  # a fresh Adam at the fine-tuning rate
    label = f"{result.approach} trial {result.trial}, fine-tuned"
    start, cpu_start = time.perf_counter(), time.process_time()
    history = fit_model(model, x_train, y_train, x_val, y_val, config, seed=int(seed), label=label)
    info = {
        **{k: result.info.get(k) for k in ("approach", "trial", "image_size", "source")},
        "seed": int(seed),
        "key": key,
        "fine_tuned_from": result.info["key"],
        "config": config.as_dict(),
        "epochs": len(history),
        "stopped_early": bool(history.attrs["stopped_early"]),
        "best_epoch": int(history["val_loss"].idxmin()) + 1,
        "train_patterns": int(len(x_train)),
        "validation_patterns": int(len(x_val)),
        "train_space_groups": sorted(int(g) for g in dataset.subset("train").table["space_group"].unique()),
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
    }
    with atomic_folder(folder) as tmp:
        model.save(tmp / "model.keras")
        stamp_classes(tmp / "model.keras", SPACE_GROUPS)
        history.to_csv(tmp / "history.csv", index=False)
        (tmp / "info.json").write_text(json.dumps(info, indent=2))
    return _read_trial(folder)


def phase_data(phases: list[Material], detector: Detector, tuning: PhaseTuning, *, seed: int = 0) -> PatternDataset:
    """The fine-tuning data of a sample's ``phases``: per phase ``tuning.train_per_phase`` training and
    ``tuning.val_per_phase`` validation patterns, of which the share ``tuning.boundary_share`` are phase-boundary
    patterns (:func:`~ebsdlib.simulation.sample.simulate_phase_boundary_patterns`) and the rest the phase's own,
    degraded as the detector model degrades a share of every data set
    (:func:`~ebsdlib.simulation.datasets.simulate_dataset`); both cached.

    Examples
    --------
    >>> from ebsdlib.crystal.materials import dual_phase_materials
    >>> from ebsdlib.simulation.patterns import DetectorGeometry
    >>> detector = Detector(DetectorGeometry(shape=(20, 24), master_pattern_half_size=30))
    >>> data = phase_data(dual_phase_materials(), detector, PhaseTuning(8, 4, boundary_share=0.25))
    >>> data.table.groupby(["space_group", "split", "quality"]).size().unstack(fill_value=0)["phase overlap"].tolist()
    [2, 1, 2, 1]
    """
    n_train, n_val = tuning.boundary_counts()
    counts = SplitCounts(tuning.train_per_phase - n_train, tuning.val_per_phase - n_val, 0)
    own = simulate_dataset(counts, detector, seed=int(seed), materials=list(phases))
    if n_train + n_val == 0:
        return own
    boundary = simulate_phase_boundary_patterns(list(phases), n_train + n_val, detector, seed=int(seed))
    table = boundary.table.copy()
    table["split"] = np.where(table.groupby("material").cumcount() < n_train, "train", "validation")
    table = pd.concat([own.table, table], ignore_index=True)
    table["pattern_id"] = np.arange(len(table))
    return PatternDataset(
        np.concatenate([own.patterns, boundary.patterns]), table, {**own.meta, "boundary_share": tuning.boundary_share}
    )


def fine_tune_on_phases(
    result: TrialResult,
    phases: list[Material],
    detector: Detector,
    tuning: PhaseTuning,
    config: TrainingConfig,
    *,
    seed: int = 0,
) -> TrialResult:
    """Fine-tune ``result``'s model on simulated patterns of a sample's ``phases`` (cached).

    ``tuning.train_per_phase`` training and ``tuning.val_per_phase`` validation patterns of every phase are
    simulated on ``detector`` at random orientations, a share of them phase-boundary patterns (:func:`phase_data`),
    then :func:`fine_tune` trains on them with ``config``'s protocol at ``tuning.learning_rate`` for at
    most ``tuning.max_epochs`` epochs.

    Parameters
    ----------
    result
        The trained model to start from.
    phases
        The sample's phases, each of its own space group among the six classes (e.g.
        :func:`~ebsdlib.crystal.materials.dual_phase_materials`).
    detector
        The detector the sample is recorded with (geometry and detector model).
    tuning
        Pattern counts, epochs and learning rate (:class:`PhaseTuning`).
    config
        The rest of the protocol (batch size, patience, weight decay, BatchNorm recalibration, network).
    seed
        Seed of the simulated patterns and of the training (default 0). Use another seed than the scan's, so
        that no pattern of the scan is a training pattern.

    Returns
    -------
    TrialResult
        The fine-tuned model (:func:`fine_tune`).

    Raises
    ------
    ValueError
        If two phases share a space group (the classifier could not tell them apart by its classes) or one is
        not among the six classes.
    """
    groups = [m.space_group for m in phases]
    if len(set(groups)) != len(groups):
        raise ValueError(f"the phases {[m.name for m in phases]} share a space group ({groups}); each needs its own class")
    outside = [m.name for m in phases if m.space_group not in SPACE_GROUPS]
    if outside:
        raise ValueError(f"the phases {outside} are not of the model's space groups {list(SPACE_GROUPS)}")
    data = phase_data(phases, detector, tuning, seed=int(seed))
    tuned = replace(config, learning_rate=tuning.learning_rate, max_epochs=tuning.max_epochs)
    return fine_tune(result, data, tuned, seed=int(seed))
