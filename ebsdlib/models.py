"""Xception classifiers of the paper and the resolution of the transfer model's pretrained source.

Both models are Keras' ``Xception`` without architectural changes, with the same head (global average
pooling, a softmax over the six space groups) and the same input scaling: patterns normalised to [0, 1]
are mapped to [−1, 1], which is Xception's ImageNet preprocessing. The scratch model sees one grayscale
channel and starts from random weights; the transfer model sees the pattern stacked to three channels and
starts from a pretrained source:

``imagenet``
    Keras' ImageNet weights, downloaded once into ``$KERAS_HOME/models`` and md5-checked by Keras.
a path
    A local weights file for the Xception base (for offline machines), e.g. the ImageNet file itself.
``source-task``
    A model that ebsdlib pretrains on a disjoint simulated task (:mod:`ebsdlib.sourcetask`).
``auto``
    ``imagenet`` when the weights can be had, else ``source-task``; the fallback and its reason are
    recorded in :class:`PretrainedSource` and shown by the book.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .materials import SPACE_GROUPS

__all__ = [
    "xception_classifier",
    "IMAGENET_FILE",
    "IMAGENET_MD5",
    "PretrainedSource",
    "SourceUnavailable",
    "keras_home",
    "build_scratch_model",
    "build_transfer_model",
    "resolve_source",
    "first_conv_layer",
]

IMAGENET_FILE = "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_MD5 = "b0042744bf5b25fce3cb969f33bebb97"
MIN_INPUT_SIZE = 71  # Keras' Xception requires inputs of at least 71 × 71 pixels


class SourceUnavailable(RuntimeError):
    """The requested pretrained source cannot be had; the message says what to do."""


@dataclass(frozen=True)
class PretrainedSource:
    """Where the transfer model's starting weights come from.

    Attributes
    ----------
    requested
        What the profile asked for (``auto``, ``imagenet``, ``source-task`` or a path).
    kind
        What is used: ``imagenet``, ``file`` or ``source-task``.
    weights
        Path of the weights file of the Xception base (``None`` until a source task is pretrained).
    note
        Human-readable provenance, including why a fallback happened.
    """

    requested: str
    kind: str
    weights: str | None
    note: str

    def as_dict(self) -> dict:
        return asdict(self)


def keras_home() -> Path:
    """``$KERAS_HOME`` or ``~/.keras``, where Keras keeps downloaded weights under ``models/``."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def _check_size(image_size: int) -> None:
    if image_size < MIN_INPUT_SIZE:
        raise ValueError(f"Xception needs inputs of at least {MIN_INPUT_SIZE} px; got image_size={image_size}")


def xception_classifier(image_size: int, channels: int, weights, n_classes: int, name: str):
    """Xception (no top) on ``channels`` input channels scaled to Xception's [-1, 1], ``weights`` as
    Keras takes them (``None``, ``"imagenet"`` or a file), global average pooling and an ``n_classes``
    softmax head named ``space_group``."""
    import keras
    from keras import layers

    _check_size(image_size)
    inputs = keras.Input((image_size, image_size, channels), name="pattern")
    scaled = layers.Rescaling(2.0, offset=-1.0, name="to_xception_range")(inputs)
    base = keras.applications.Xception(include_top=False, weights=weights, input_tensor=scaled, pooling="avg")
    outputs = layers.Dense(n_classes, activation="softmax", name="space_group")(base.output)
    return keras.Model(inputs, outputs, name=name)


def build_scratch_model(image_size: int, n_classes: int = len(SPACE_GROUPS)):
    """Xception from random weights on one grayscale channel, with the six-way softmax head."""
    return xception_classifier(image_size, 1, None, n_classes, "scratch_model")


def build_transfer_model(image_size: int, source: PretrainedSource, n_classes: int = len(SPACE_GROUPS)):
    """Xception on three stacked channels, starting from ``source``'s weights (all layers trainable)."""
    if source.weights is None:
        raise ValueError("the pretrained source has no weights file yet; resolve it with resolve_source()")
    _check_size(image_size)  # before loading: a too-small input is not a problem of the weights file
    weights = source.weights
    if source.kind == "imagenet":
        weights = "imagenet"  # Keras' own loading path: md5-checked file in $KERAS_HOME/models
    try:
        return xception_classifier(image_size, 3, weights, n_classes, "transfer_model")
    except (OSError, ValueError) as err:
        raise SourceUnavailable(
            f"cannot load the Xception weights {source.weights} ({err}). Give a weights file of Keras' "
            "Xception without top (for example the ImageNet file "
            f"{IMAGENET_FILE}) or use pretrained_source='source-task'."
        ) from None


def _imagenet_weights() -> str:
    """Path of Keras' ImageNet notop weights, fetched with Keras' own md5-checked ``get_file``."""
    from keras.utils import get_file

    origin = "https://storage.googleapis.com/tensorflow/keras-applications/xception/" + IMAGENET_FILE
    try:
        return get_file(IMAGENET_FILE, origin, cache_subdir="models", file_hash=IMAGENET_MD5)
    except Exception as err:  # noqa: BLE001 - URL, SSL, socket and hash errors all mean the same here
        raise SourceUnavailable(
            f"ImageNet weights for Xception could not be had ({type(err).__name__}: {err}). Without network "
            f"access, put the file {IMAGENET_FILE} into {keras_home() / 'models'} (Keras checks its md5), "
            "or give pretrained_source as the path of a weights file, or use 'source-task' or 'auto'."
        ) from None


def resolve_source(requested: str) -> PretrainedSource:
    """Resolve the ``pretrained_source`` parameter.

    ``source-task`` (and ``auto`` without ImageNet weights) returns a source whose ``weights`` is
    ``None``: :func:`ebsdlib.sourcetask.pretrain_source_task` fills it in.

    Raises
    ------
    SourceUnavailable
        For ``imagenet`` without the weights (no network, no local file), or a path that does not exist.
    """
    requested = str(requested)
    if requested == "imagenet":
        path = _imagenet_weights()
        return PretrainedSource(requested, "imagenet", path, "Keras' ImageNet weights for Xception")
    if requested == "source-task":
        return PretrainedSource(requested, "source-task", None, "pretrained by ebsdlib on a disjoint simulated task")
    if requested == "auto":
        try:
            path = _imagenet_weights()
        except SourceUnavailable as err:
            return PretrainedSource(
                requested,
                "source-task",
                None,
                "ImageNet weights could not be had, so the transfer model starts from a model pretrained "
                f"by ebsdlib on a disjoint simulated task. Reason: {err}",
            )
        return PretrainedSource(requested, "imagenet", path, "Keras' ImageNet weights for Xception")
    path = Path(requested).expanduser()
    if not path.is_file():
        raise SourceUnavailable(
            f"pretrained_source {requested!r} is neither 'auto', 'imagenet', 'source-task' nor an existing weights file"
        )
    return PretrainedSource(requested, "file", str(path.resolve()), f"weights file {path.name}")


def first_conv_layer(model):
    """The first convolution layer of an Xception classifier (``block1_conv1``)."""
    return model.get_layer("block1_conv1")
