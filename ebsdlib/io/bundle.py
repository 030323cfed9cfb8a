"""Model bundles: a trained classifier as a folder that travels to a microscopist's scan.

A bundle is a folder holding

``model.keras``
    the Keras model, loaded with Keras' safe mode (no arbitrary code runs on loading);
``bundle.json``
    what a user of the model must know: the classes (space groups, in the order of the model's outputs),
    the input size and channels, the preprocessing (resizing, normalisation, the view of the patterns
    and the pattern shape it was trained on), the pretrained source, the training data's fingerprint and
    the profile that set the protocol, the test metrics, and the ebsdlib, Keras and TensorFlow versions.

:func:`read_bundle` refuses a bundle whose class list, input size or channels differ from what the
caller asks for, and says what differs.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ebsdlib import __version__
from ebsdlib.cache import atomic_folder, folder_problem

__all__ = ["BUNDLE_FORMAT", "BundleError", "ModelBundle", "write_bundle", "read_bundle"]

BUNDLE_FORMAT = 1
MODEL_FILE = "model.keras"
INFO_FILE = "bundle.json"


class BundleError(ValueError):
    """A bundle that cannot be used as asked: the message names the folder and what differs."""


@dataclass(frozen=True)
class ModelBundle:
    """A model bundle read from its folder.

    Parameters
    ----------
    folder
        The bundle's folder (``model.keras`` and ``bundle.json``).
    classes
        Space groups in the order of the model's outputs.
    image_size
        Side of the model's square input in pixels.
    channels
        Input channels (1: the scratch model, 3: the transfer model).
    preprocessing
        How patterns become inputs: ``view`` (``"native"`` or ``"canonical"``), ``canonical_size`` (side of
        the canonical view in pixels), ``normalization`` and the ``pattern_shape`` (rows, cols) of the training
        patterns; default empty (native view, ``"minmax"`` normalisation, no check of the pattern shape).
    info
        Everything ``bundle.json`` holds (default empty).
    """

    folder: Path
    classes: tuple[int, ...]
    image_size: int
    channels: int
    preprocessing: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def model_path(self) -> Path:
        """The bundle's Keras model file."""
        return self.folder / MODEL_FILE

    @property
    def approach(self) -> str:
        """``"scratch"``, ``"transfer"`` or ``"student"``; bundles written before it was recorded: from the channels."""
        return str(self.info.get("approach", "transfer" if self.channels == 3 else "scratch"))

    def load_model(self):
        """The Keras model, loaded once per process with ``safe_mode=True``, checked against ``bundle.json``: its
        input (size and channels) and the number of its outputs must be those the bundle states.

        Raises
        ------
        BundleError
            Naming the bundle and every field the model contradicts."""
        model = _load(str(self.model_path.resolve()), self.model_path.stat().st_mtime_ns)
        differences = []
        inputs, outputs = tuple(model.input_shape[1:]), model.output_shape[-1]
        if inputs != (self.image_size, self.image_size, self.channels):
            differences.append(
                f"image_size {self.image_size} and channels {self.channels}, but the model takes inputs of "
                f"{' × '.join(str(d) for d in inputs)}"
            )
        if outputs != len(self.classes):
            differences.append(f"{len(self.classes)} classes {list(self.classes)}, but the model has {outputs} outputs")
        else:
            trained = model_classes(self.model_path)
            if trained is not None and trained != self.classes:
                differences.append(
                    f"the classes {list(self.classes)}, but the model was trained on {list(trained)}, in that order"
                )
        if differences:
            raise BundleError(
                f"the model bundle {self.folder} does not match its model: bundle.json states "
                + "; ".join(differences)
                + ". Train the bundle again with `ebsdlib train`."
            )
        return model

    def check(self, classes=None, image_size: int | None = None, channels: int | None = None) -> None:
        """Raise :class:`BundleError` naming every difference from what the caller expects."""
        differences = []
        if classes is not None and tuple(int(c) for c in classes) != self.classes:
            differences.append(f"classes {list(self.classes)} (asked for {[int(c) for c in classes]})")
        if image_size is not None and int(image_size) != self.image_size:
            differences.append(f"input size {self.image_size} px (asked for {int(image_size)} px)")
        if channels is not None and int(channels) != self.channels:
            differences.append(f"{self.channels} input channel(s) (asked for {int(channels)})")
        if differences:
            raise BundleError(
                f"the model bundle {self.folder} does not fit: it has " + "; ".join(differences) + ". "
                "Use a bundle trained for these settings, or train one with `ebsdlib train`."
            )


#: The entry of a ``.keras`` file (a zip archive) that records the classes of the model's outputs, in order.
CLASSES_ENTRY = "ebsdlib.json"


def stamp_classes(model_path: str | Path, classes) -> None:
    """Record in a saved ``.keras`` file the classes its outputs stand for, in order (an entry Keras ignores), so
    that a bundle can never pair the model with another order. Called where the labels are made: training."""
    import zipfile

    with zipfile.ZipFile(model_path, "a") as archive:
        archive.writestr(CLASSES_ENTRY, json.dumps({"classes": [int(c) for c in classes]}))


def model_classes(model_path: str | Path) -> tuple[int, ...] | None:
    """The classes recorded by :func:`stamp_classes` in a ``.keras`` file, or ``None`` when it has no record."""
    import zipfile

    try:
        with zipfile.ZipFile(model_path) as archive:
            if CLASSES_ENTRY not in archive.namelist():
                return None
            return tuple(int(c) for c in json.loads(archive.read(CLASSES_ENTRY))["classes"])
    except (OSError, zipfile.BadZipFile, ValueError, KeyError, TypeError):
        return None


def _load(path: str, modified_ns: int):
    """A model loaded once per process and file version (every model of an ensemble stays loaded)."""
    import keras

    key = (path, modified_ns)
    with _LOCK:  # a dask worker may run several threads
        if key not in _MODELS:
            try:
                _MODELS[key] = keras.models.load_model(path, safe_mode=True)
            except Exception as err:  # noqa: BLE001 - Keras' refusals (safe mode, unknown layers) come as many types
                reason = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
                reason = re.sub(r"\x1b\[[0-9;]*m", "", reason)[:300]  # Keras colours some messages
                raise BundleError(
                    f"Keras refuses to load the model {path} ({type(err).__name__}: {reason}); a bundle's model must be "
                    "a Keras model of standard layers, as `ebsdlib train` writes it"
                ) from None
        return _MODELS[key]


_MODELS: dict = {}
_LOCK = threading.Lock()


def write_bundle(
    model_path: str | Path,
    folder: str | Path,
    *,
    classes,
    image_size: int,
    channels: int,
    preprocessing: dict,
    approach: str,
    source: dict | None,
    training: dict,
    metrics: dict,
) -> ModelBundle:
    """Write a bundle folder (atomically: an interrupted write leaves no bundle) and return it.

    Parameters
    ----------
    model_path
        The trained ``.keras`` file (copied into the bundle).
    folder
        Where the bundle goes; an existing bundle there is replaced.
    classes, image_size, channels, preprocessing
        What the model expects (see :class:`ModelBundle`).
    approach
        ``"scratch"`` or ``"transfer"``.
    source
        The pretrained source of a transfer model (:meth:`ebsdlib.learn.models.PretrainedSource.as_dict`).
    training
        Provenance of the training: data fingerprint, profile, protocol, epochs, seconds.
    metrics
        Test metrics (class-weighted precision and recall, accuracy, patterns).
    """
    from importlib.metadata import version

    model_path, folder = Path(model_path), Path(folder)
    if not model_path.is_file():
        raise BundleError(f"no trained model at {model_path}")
    trained = model_classes(model_path)
    if trained is not None and trained != tuple(int(c) for c in classes):
        raise BundleError(
            f"the model {model_path} was trained on the classes {list(trained)}, in that order; a bundle of it cannot "
            f"state {[int(c) for c in classes]}"
        )
    info = {
        "format": BUNDLE_FORMAT,
        "classes": [int(c) for c in classes],
        "image_size": int(image_size),
        "channels": int(channels),
        "preprocessing": preprocessing,
        "approach": approach,
        "pretrained_source": source,
        "training": training,
        "test_metrics": metrics,
        "versions": {"ebsdlib": __version__, "keras": version("keras"), "tensorflow": version("tensorflow")},
    }
    with atomic_folder(folder) as tmp:
        shutil.copy2(model_path, tmp / MODEL_FILE)
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2, default=str))
    return read_bundle(folder)


def read_bundle(folder: str | Path, classes=None, image_size: int | None = None, channels: int | None = None) -> ModelBundle:
    """Read a bundle folder, checked against what the caller expects.

    Parameters
    ----------
    folder
        The bundle's folder, holding ``model.keras`` and ``bundle.json`` as ``ebsdlib train`` writes them.
    classes
        The space groups the caller expects, in the order of the model's outputs; default ``None``: not
        checked.
    image_size
        The input side in pixels the caller expects; default ``None``: not checked.
    channels
        The input channels the caller expects (1: scratch, 3: transfer); default ``None``: not checked.

    Returns
    -------
    ModelBundle
        The bundle as ``bundle.json`` describes it; its model is loaded only by :meth:`ModelBundle.load_model`.

    Raises
    ------
    BundleError
        When the folder is not a complete bundle (missing or damaged files), or its classes, input size
        or channels differ from those asked for.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"the model bundle {folder} does not exist; train one with `ebsdlib train PATTERNS --out {folder}`")
    if not (folder / INFO_FILE).is_file() or not (folder / MODEL_FILE).is_file():
        raise BundleError(f"{folder} is not a model bundle: it needs {MODEL_FILE} and {INFO_FILE} (made by `ebsdlib train`)")
    problem = folder_problem(folder)
    if problem:
        raise BundleError(f"the model bundle {folder} is damaged ({problem}); copy it again or train it again")
    try:
        info = json.loads((folder / INFO_FILE).read_text())
        bundle = ModelBundle(
            folder,
            tuple(int(c) for c in info["classes"]),
            int(info["image_size"]),
            int(info["channels"]),
            dict(info.get("preprocessing", {})),
            info,
        )
    except (ValueError, KeyError, TypeError) as err:
        raise BundleError(f"{folder / INFO_FILE} is not a readable bundle description ({type(err).__name__}: {err})") from None
    bundle.check(classes, image_size, channels)
    return bundle
