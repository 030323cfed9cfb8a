"""Shapley-value explanations (SHAP) of the classifiers, and where on a pattern the attributions sit.

The paper used DeepSHAP (``shap.DeepExplainer``). On Keras 3 Xception it needs one addition: the
separable convolutions run TensorFlow's ``DepthwiseConv2dNative`` op, which shap's TensorFlow op table
does not list; it is linear in its input, so it is registered with shap's own ``linearity_1d`` handler
(:func:`register_xception_ops`; tested against the additivity of the values). Should DeepExplainer fail
anyway, TensorFlow's ``record_gradient`` — which DeepExplainer swaps out while it runs and does not put
back after an error — is restored, and ``shap.GradientExplainer`` (expected gradients) is used instead;
the :class:`Explanation` says which explainer produced it, and the book shows it.

Beyond the paper, :func:`zone_axis_attribution` measures its claim that the attributions sit on zone
axes: the simulation knows each pattern's orientation and pattern centre, so kikuchipy projects the main
zone axes onto the pattern, and the share of |SHAP| within a few pixels of them is compared with the
share of the pattern's area those pixels cover.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from dataclasses import dataclass

import joblib
import numpy as np

from ebsdlib.cache import atomic_write, cache_file, content_key, source_hash, verified_file
from ebsdlib.crystal.materials import SPACE_GROUPS, Material, load_materials
from ebsdlib.datasets.container import PatternDataset
from ebsdlib.learn.training import APPROACH_CHANNELS
from ebsdlib.preprocess import prepare_patterns
from ebsdlib.simulation.patterns import DetectorGeometry

__all__ = [
    "Explanation",
    "register_xception_ops",
    "restore_record_gradient",
    "explain",
    "explain_cached",
    "background_indices",
    "select_correct_inputs",
    "zone_axes_pixels",
    "zone_axis_attribution",
    "ModelExplanation",
    "explain_trial",
    "zone_axis_table",
]


def register_xception_ops() -> None:
    """Register the ops of Keras 3 Xception that shap's DeepExplainer lacks (``DepthwiseConv2dNative``)."""
    from shap.explainers._deep import deep_tf

    deep_tf.op_handlers.setdefault("DepthwiseConv2dNative", deep_tf.linearity_1d(0))


def restore_record_gradient() -> None:
    """Put TensorFlow's own ``record_gradient`` back (DeepExplainer leaves its override after an error)."""
    from tensorflow.python.eager import backprop as tf_backprop
    from tensorflow.python.eager import execute as tf_execute

    tf_execute.record_gradient = getattr(tf_backprop, "_record_gradient", None) or tf_backprop.record_gradient


@dataclass
class Explanation:
    """SHAP values of some inputs for every class.

    Attributes
    ----------
    values
        (n, rows, cols, classes): per-pixel values, summed over input channels (the transfer model's
        three stacked channels carry the same pattern).
    expected
        (classes,): the expected model output over the background.
    outputs
        (n, classes): the model's outputs (softmax probabilities) for the inputs.
    method
        ``"DeepExplainer"`` or ``"GradientExplainer"``.
    note
        Why a fallback happened, if it did.
    """

    values: np.ndarray
    expected: np.ndarray
    outputs: np.ndarray
    method: str
    note: str = ""

    @property
    def additivity_error(self) -> float:
        """Largest |sum of a pattern's values − (output − expected output)| over inputs and classes."""
        total = self.values.sum(axis=(1, 2))
        return float(np.abs(total - (self.outputs - self.expected[None, :])).max())


def _as_array(values, n_classes: int) -> np.ndarray:
    """Shap returns a list per class (old) or one array with classes last (new): (n, r, c, ch, classes)."""
    if isinstance(values, list):
        values = np.stack(values, axis=-1)
    values = np.asarray(values)
    if values.shape[-1] != n_classes:
        raise ValueError(f"unexpected SHAP value shape {values.shape}")
    return values


@contextlib.contextmanager
def _quiet():
    """Silence what shap and Keras print on the way that says nothing to a reader (the functional model's
    input-structure warning, tqdm's missing-widget notice)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        warnings.filterwarnings("ignore", message="IProgress not found")
        yield


def explain(model, background: np.ndarray, inputs: np.ndarray, method: str = "deep") -> Explanation:
    """SHAP values of ``inputs`` (n, size, size, channels) against ``background``.

    Parameters
    ----------
    method
        ``"deep"`` (DeepExplainer, the paper's; falls back to GradientExplainer if it fails, and says so)
        or ``"gradient"`` (GradientExplainer only).
    """
    with _quiet():
        return _explain(model, background, inputs, method)


def _explain(model, background: np.ndarray, inputs: np.ndarray, method: str) -> Explanation:
    import shap

    outputs = np.asarray(model.predict(inputs, verbose=0))
    n_classes = outputs.shape[-1]
    note = ""
    if method == "deep":
        register_xception_ops()
        try:
            explainer = shap.DeepExplainer(model, background)
            values = _as_array(explainer.shap_values(inputs, check_additivity=False), n_classes)
            expected = np.asarray(explainer.expected_value, dtype=float).reshape(-1)
            return Explanation(values.sum(axis=3), expected, outputs, "DeepExplainer")
        except Exception as err:  # noqa: BLE001 - any failure: restore TF, fall back, and say why
            restore_record_gradient()
            note = f"DeepExplainer failed ({type(err).__name__}: {err}); GradientExplainer was used instead."
    elif method != "gradient":
        raise ValueError(f"unknown SHAP method {method!r}; choose 'deep' or 'gradient'")
    explainer = shap.GradientExplainer(model, background)
    values = _as_array(explainer.shap_values(inputs), n_classes)
    expected = np.asarray(model.predict(background, verbose=0)).mean(axis=0)
    return Explanation(values.sum(axis=3), expected, outputs, "GradientExplainer", note)


def explain_cached(model_key: str, model_loader, background: np.ndarray, inputs: np.ndarray, method: str = "deep") -> Explanation:
    """:func:`explain`, cached by the model's key, the background, the inputs and the method."""
    from importlib.metadata import version

    key = content_key(
        {
            "model": model_key,
            "background": joblib.hash(background),
            "inputs": joblib.hash(inputs),
            "method": method,
            "shap": version("shap"),
            "code": source_hash(["evaluate.explain"]),
        }
    )
    path = cache_file("shap", f"{key}.npz")
    if verified_file(path):
        with np.load(path) as data:
            return Explanation(data["values"], data["expected"], data["outputs"], str(data["method"]), str(data["note"]))
    e = explain(model_loader(), background, inputs, method)
    atomic_write(
        path, lambda tmp: np.savez(tmp, values=e.values, expected=e.expected, outputs=e.outputs, method=e.method, note=e.note)
    )
    return e


def background_indices(dataset: PatternDataset, per_space_group: int, seed: int = 0) -> np.ndarray:
    """Row indices of ``per_space_group`` training patterns of every space group (the paper: 100)."""
    rng = np.random.default_rng(seed)
    train = dataset.table[dataset.table["split"] == "train"]
    picks = []
    for _, group in train.groupby("space_group", sort=True):
        if len(group) < per_space_group:
            raise ValueError(
                f"space group {group['space_group'].iloc[0]} has {len(group)} training patterns, fewer than {per_space_group}"
            )
        picks.append(rng.choice(group.index.to_numpy(), per_space_group, replace=False))
    return np.concatenate(picks)


def select_correct_inputs(
    model,
    dataset: PatternDataset,
    image_size: int,
    channels: int,
    *,
    seed: int = 0,
    attempts: int = 50,
    quality: str | None = "good",
):
    """The paper's "pseudo-random selection": per space group, test patterns drawn at random until the
    model classifies one correctly. Returns (row indices, correct flags); where none of ``attempts``
    patterns is classified correctly, the one with the highest probability of the true class is taken and
    flagged ``False``. Only patterns of the given ``quality`` flag are drawn when the data set has one
    (default ``"good"``: a partial or overlapping pattern has no single set of zone axes to measure)."""
    rng = np.random.default_rng(seed)
    test = dataset.table[dataset.table["split"] == "test"]
    if quality is not None and "quality" in test:
        test = test[test["quality"] == quality]
    picks, flags = [], []
    for sg, group in test.groupby("space_group", sort=True):
        candidates = rng.permutation(group.index.to_numpy())[:attempts]
        x = prepare_patterns(dataset.patterns[candidates], image_size, channels)
        probabilities = np.asarray(model.predict(x, verbose=0))
        column = SPACE_GROUPS.index(sg)
        correct = np.flatnonzero(probabilities.argmax(axis=1) == column)
        if len(correct):
            picks.append(candidates[correct[0]])
            flags.append(True)
        else:
            picks.append(candidates[probabilities[:, column].argmax()])
            flags.append(False)
    return np.asarray(picks), np.asarray(flags)


@functools.lru_cache(maxsize=64)
def _main_band_simulator(material: Material, families: int, energy: float):
    """Kikuchipy's simulator of the bands of ``material``'s ``families`` {hkl} families with the largest spacings
    (structure factor at least 5 % of the strongest), at ``energy`` kV: the same for every orientation, so made
    once per material (the reflector list and its structure factors took seconds for a large cell)."""
    import kikuchipy as kp
    from diffsims.crystallography import ReciprocalLatticeVector

    ref = ReciprocalLatticeVector.from_min_dspacing(material.phase(), min_dspacing=0.5)
    ref.calculate_structure_factor()
    F = np.abs(ref.structure_factor)
    ref = ref[0.05 * F.max() <= F]
    spacings = np.unique(np.round(ref.dspacing, 4))[::-1]
    ref = ref[np.round(ref.dspacing, 4) >= spacings[min(families, len(spacings)) - 1]]
    ref.calculate_theta(energy * 1e3)
    return kp.simulations.KikuchiPatternSimulator(ref)


def zone_axes_pixels(
    material: Material, quaternion, pc, geometry: DetectorGeometry, image_size: int | None = None, families: int = 4
) -> np.ndarray:
    """Pixel coordinates (x, y) of the main zone axes of ``material`` at one orientation on the detector,
    scaled to the model input (``image_size``) when given. The main zone axes are the intersections of
    the bands of the ``families`` {hkl} families with the largest interplanar spacings among those with a
    structure factor of at least 5 % of the strongest."""
    from orix.quaternion import Rotation

    simulator = _main_band_simulator(material, families, float(geometry.energy))
    detector = geometry.detector(pc=tuple(float(p) for p in pc))
    with contextlib.redirect_stdout(io.StringIO()):  # kikuchipy's dask progress bars
        sim = simulator.on_detector(detector, Rotation(np.asarray(quaternion, dtype=float).reshape(1, 4)))
    xy = sim.zone_axes_coordinates(index=0, coordinates="pixel")
    if image_size is not None:
        rows, cols = geometry.shape
        xy = xy * np.array([image_size / cols, image_size / rows])
    return xy


def zone_axis_attribution(values: np.ndarray, zone_xy: np.ndarray, radius: float = 3.0) -> dict[str, float]:
    """Share of the total |values| (rows, cols) within ``radius`` pixels of any zone axis, the share of
    the area those pixels cover, and their ratio (> 1: attributions concentrate on zone axes)."""
    rows, cols = values.shape
    y, x = np.mgrid[0:rows, 0:cols]
    mask = np.zeros((rows, cols), dtype=bool)
    for zx, zy in np.asarray(zone_xy).reshape(-1, 2):
        mask |= (x - zx) ** 2 + (y - zy) ** 2 <= radius**2
    magnitude = np.abs(values)
    total = magnitude.sum()
    shap_share = float(magnitude[mask].sum() / total) if total > 0 else 0.0
    area_share = float(mask.mean())
    return {"shap_share": shap_share, "area_share": area_share, "ratio": shap_share / area_share if area_share > 0 else np.nan}


@dataclass
class ModelExplanation:
    """The explanation of one trained model on one input per space group."""

    approach: str
    explanation: Explanation
    rows: np.ndarray
    correct: np.ndarray
    inputs: np.ndarray
    labels: list[int]


def explain_trial(
    result, dataset: PatternDataset, background_per_space_group: int, seed: int = 0, method: str = "deep"
) -> ModelExplanation:
    """Explain a trained model (a :class:`~ebsdlib.learn.training.TrialResult`) as the paper: a background of
    training patterns per space group, one correctly classified test pattern per space group; cached.

    Parameters
    ----------
    result
        A trained model (:class:`~ebsdlib.learn.training.TrialResult`); its approach and input size set how
        the patterns are prepared, and its cache key keys the SHAP values.
    dataset
        The data set the model was trained on: the background comes from its ``"train"`` split, the explained
        patterns from its ``"test"`` split (only ``"good"`` patterns when the table has a ``quality`` column).
    background_per_space_group
        Training patterns per space group in the SHAP background (the paper: 100); every space group must have
        that many.
    seed
        Seed of the background's draw and of the random draw of test patterns (default 0).
    method
        ``"deep"`` (default; DeepExplainer, the paper's, falling back to GradientExplainer if it fails, and
        saying so) or ``"gradient"`` (GradientExplainer only).

    Returns
    -------
    ModelExplanation
        One explained test pattern per space group, in order: its row in ``dataset``, whether the model
        classified it correctly (``False`` where none of 50 draws was), the model input (one channel), its true
        space group and the :class:`Explanation`.
    """
    image_size, channels = result.info["image_size"], APPROACH_CHANNELS[result.approach]
    model = result.load_model()
    rows, correct = select_correct_inputs(model, dataset, image_size, channels, seed=seed)
    background = prepare_patterns(
        dataset.patterns[background_indices(dataset, background_per_space_group, seed)], image_size, channels
    )
    inputs = prepare_patterns(dataset.patterns[rows], image_size, channels)
    explanation = explain_cached(result.info["key"], lambda: model, background, inputs, method)
    labels = [int(sg) for sg in dataset.table.loc[rows, "space_group"]]
    return ModelExplanation(result.approach, explanation, rows, correct, inputs[..., 0], labels)


def zone_axis_table(me: ModelExplanation, dataset: PatternDataset, geometry: DetectorGeometry, radius: float = 3.0):
    """Per explained input: the share of |SHAP| (correct class) within ``radius`` input pixels of the
    projected zone axes, the share of area they cover, and the ratio."""
    import pandas as pd

    materials = load_materials()
    image_size = me.inputs.shape[1]
    out = []
    for j, row in enumerate(me.rows):
        info = dataset.table.loc[row]
        q = info[["qa", "qb", "qc", "qd"]].to_numpy(dtype=float)
        pc = info[["pcx", "pcy", "pcz"]].to_numpy(dtype=float)
        xy = zone_axes_pixels(materials[info["material"]], q, pc, geometry, image_size)
        column = SPACE_GROUPS.index(int(info["space_group"]))
        shares = zone_axis_attribution(me.explanation.values[j, :, :, column], xy, radius)
        out.append({"space_group": int(info["space_group"]), "material": info["material"], "zone_axes": len(xy), **shares})
    return pd.DataFrame(out)
