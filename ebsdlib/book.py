"""What the chapters share: the data set and the trained models of a profile, from a chapter's parameters.

Every chapter after the first calls :func:`book_models` with its parameters; the data set, the pretrained
source and the trials come from the cache when an earlier chapter (or build) made them, so any chapter
runs alone and none repeats another's work.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from .datasets import PatternDataset, simulated_book_dataset
from .models import PretrainedSource, resolve_source
from .simulate import DetectorGeometry, DetectorModel
from .sourcetask import ensure_source
from .training import TrainingConfig, TrialResult, run_trials

__all__ = ["BookModels", "book_models", "book_parameters", "source_admonition"]


@dataclass
class BookModels:
    """The data set, its detector, the training protocol, the pretrained source and the trials."""

    dataset: PatternDataset
    geometry: DetectorGeometry
    detector_model: DetectorModel
    config: TrainingConfig
    source: PretrainedSource
    results: list[TrialResult]
    image_size: int


def book_models(
    seed: int, detector_shape, pattern_center, train_per_space_group: int, val_per_space_group: int,
    test_per_material: int, dose: float, contrast: float, blur_sigma: float, pc_jitter: float,
    degraded_fraction: float, image_size: int, trials: int, patience: int, max_epochs: int, min_delta: float,
    learning_rate: float, weight_decay: float, batch_size: int, bn_recalibration: bool,
    validate_keras_statistics: bool, pretrained_source: str, source_patterns_per_class: int, source_epochs: int,
) -> BookModels:
    """Simulate (or read) the data set, resolve the pretrained source and train (or read) the trials."""
    dataset, geometry, detector_model = simulated_book_dataset(
        seed, detector_shape, pattern_center, train_per_space_group, val_per_space_group, test_per_material,
        dose, contrast, blur_sigma, pc_jitter, degraded_fraction,
    )
    config = TrainingConfig(
        learning_rate=learning_rate, weight_decay=weight_decay, batch_size=batch_size, patience=patience,
        min_delta=min_delta, max_epochs=max_epochs, bn_recalibration=bn_recalibration,
        validate_keras_statistics=validate_keras_statistics,
    )
    source = ensure_source(
        resolve_source(pretrained_source), image_size, patterns_per_class=source_patterns_per_class,
        epochs=source_epochs, geometry=geometry, detector_model=detector_model, seed=seed,
    )
    results = run_trials(dataset, image_size, trials, config, source, seed)
    return BookModels(dataset, geometry, detector_model, config, source, results, image_size)


def book_parameters(namespace: dict) -> dict:
    """The arguments of :func:`book_models` picked from a chapter's namespace (its parameters)."""
    names = inspect.signature(book_models).parameters
    missing = [n for n in names if n not in namespace]
    if missing:
        raise KeyError(f"the chapter's parameters cell lacks {missing}")
    return {n: namespace[n] for n in names}


def source_admonition(source: PretrainedSource):
    """A visible box for the page saying which pretrained source the transfer model used."""
    from IPython.display import Markdown

    kind = "note" if source.kind == "imagenet" else "warning"
    return Markdown(f":::{{{kind}}} Pretrained source of the transfer model: {source.kind}\n{source.note}\n:::")
