"""The disjoint source task: pretraining the transfer model's starting weights without ImageNet.

Where Keras' ImageNet weights cannot be had (no network, no local file), the transfer model starts from
an Xception that ebsdlib trains on a different simulated classification task: patterns of crystal
structures in space groups outside the six target groups (zinc blende 216, pyrite 205, cuprite 224,
hcp metals 194, indium 139, β-tin 141; ``source_task`` in ``ebsdlib/data/materials.yml``). No target material or
space group is seen. The pretrained base (everything but the classification head) is saved as a weights
file in the cache and loaded by :func:`ebsdlib.learn.models.build_transfer_model` exactly as the ImageNet file
would be.
"""

from __future__ import annotations

import json
from dataclasses import replace

from ebsdlib import __version__
from ebsdlib.cache import atomic_folder, content_key, source_hash, verified_folder
from ebsdlib.crystal.materials import source_task_materials
from ebsdlib.datasets.container import SplitCounts
from ebsdlib.learn.models import NETWORK_NAMES, PretrainedSource, classifier
from ebsdlib.learn.training import TrainingConfig, fit_model, prepare_split
from ebsdlib.paths import cache_dir
from ebsdlib.simulation.datasets import simulate_dataset
from ebsdlib.simulation.dynamical_settings import DYNAMICAL_MODULES, SHIPPED_MANIFEST
from ebsdlib.simulation.patterns import Detector

__all__ = ["pretrain_source_task", "ensure_source"]


def pretrain_source_task(
    source: PretrainedSource,
    image_size: int,
    patterns_per_class: int = 200,
    epochs: int = 10,
    *,
    detector: Detector = Detector(),
    seed: int = 0,
    config: TrainingConfig = TrainingConfig(),
) -> PretrainedSource:
    """Pretrain the network of ``config.architecture`` (Xception by default; 3 channels) on the source task
    and return ``source`` with its weights file.

    Cached by all parameters and the code: a second call returns at once.

    Parameters
    ----------
    source
        The pretrained source to give weights (:func:`ebsdlib.learn.models.resolve_source`'s ``source-task``).
    image_size
        Side in pixels of the network's input (at least 71 for Xception).
    patterns_per_class
        Training patterns per source-task space group (default 200); a quarter as many (at least one per
        class) validate.
    epochs
        Epochs trained, all of them: the stopping rule's patience is set to ``epochs`` (default 10).
    detector
        The simulated detector of the source-task patterns (:class:`~ebsdlib.simulation.patterns.Detector`;
        default ``Detector()``, the book's).
    seed
        Seed of the patterns, the split and the network's initialisation (default 0).
    config
        The optimiser and network (:class:`~ebsdlib.learn.training.TrainingConfig`; its ``max_epochs`` and
        ``patience`` are replaced by ``epochs``).

    Returns
    -------
    PretrainedSource
        ``source`` with ``weights``, the cached base's weights file, and a ``note`` that says how it was
        pretrained.
    """
    architecture = config.architecture
    geometry, detector_model = detector.geometry, detector.detector_model
    materials = source_task_materials()
    classes = tuple(sorted({m.space_group for m in materials}))
    val = max(len(classes), patterns_per_class // 4)
    config = replace(config, max_epochs=int(epochs), patience=int(epochs))
    payload = {
        "image_size": int(image_size),
        "patterns_per_class": int(patterns_per_class),
        "epochs": int(epochs),
        "geometry": geometry.__dict__,
        "detector_model": detector_model.as_dict(),
        "seed": int(seed),
        "config": config.as_dict(),
        "code": source_hash(
            [
                "learn.sourcetask",
                "learn.models",
                "learn.training",
                "preprocess",
                "simulation.patterns",
                *DYNAMICAL_MODULES,
                "simulation.datasets",
                "datasets.container",
                "crystal.materials",
            ],
            ["materials.yml", SHIPPED_MANIFEST],
        ),
        "version": __version__,
    }
    key = content_key(payload)
    folder = cache_dir() / "source_task" / key
    weights = folder / f"{architecture}_base.weights.h5"
    network = "" if architecture == "xception" else f"{NETWORK_NAMES[architecture]}, "
    note = (
        f"{source.note} (source task: {network}{len(classes)} space groups {', '.join(map(str, classes))}; "
        f"{patterns_per_class} patterns per class, {epochs} epochs at {image_size} px)"
    )
    if not verified_folder(folder):
        import keras

        data = simulate_dataset(SplitCounts(patterns_per_class, val, 0), detector, seed, materials=materials)
        x_train, y_train = prepare_split(data, "train", image_size, 3, classes)
        x_val, y_val = prepare_split(data, "validation", image_size, 3, classes)
        keras.utils.set_random_seed(seed)
        model = classifier(architecture, image_size, 3, None, len(classes), "source_task_model")
        history = fit_model(model, x_train, y_train, x_val, y_val, config, seed=seed, label="source task")
        base = keras.Model(model.input, model.layers[-2].output, name=f"{architecture}_base")
        with atomic_folder(folder) as tmp:
            base.save_weights(tmp / weights.name)
            history.to_csv(tmp / "history.csv", index=False)
            (tmp / "info.json").write_text(json.dumps({**payload, "classes": classes}, indent=2, default=str))
    return replace(source, weights=str(weights), note=note)


def ensure_source(source: PretrainedSource, image_size: int, **pretrain_kwargs) -> PretrainedSource:
    """``source`` unchanged when it has weights; a source task is pretrained (or read from cache) otherwise.

    Parameters
    ----------
    source
        A resolved pretrained source (:func:`ebsdlib.learn.models.resolve_source`).
    image_size
        Side in pixels of the source task's input, the transfer model's input size.
    **pretrain_kwargs
        Passed on to :func:`pretrain_source_task`: ``patterns_per_class`` (default 200), ``epochs`` (10),
        ``detector``, ``seed`` and ``config`` (whose ``architecture`` picks the network; give the transfer
        model's).

    Returns
    -------
    PretrainedSource
        ``source`` itself when its ``weights`` is set; otherwise ``source`` with the weights file of the
        pretrained base and a note on the source task.
    """
    if source.weights is not None:
        return source
    return pretrain_source_task(source, image_size, **pretrain_kwargs)
