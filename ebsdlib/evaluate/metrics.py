"""Classification of held-out patterns and the paper's metrics (scikit-learn).

Every test pattern is classified in random order, as the paper, and the predictions are written as a
CSV (pattern id, material, true and predicted space group, the six probabilities). From them: the
class-weighted precision and recall of Table 1, per-space-group precision, recall, F1 and support
(Supplementary Tables S1/S2), per-material accuracy and the confusion matrix. Predictions are cached
like models, keyed by the trained model and the data.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, precision_score, recall_score

from ebsdlib.cache import atomic_write, cache_file, content_key, source_hash, verified_file
from ebsdlib.crystal.materials import SPACE_GROUPS
from ebsdlib.datasets.container import PatternDataset
from ebsdlib.learn.training import APPROACH_CHANNELS, TrialResult, dataset_fingerprint
from ebsdlib.preprocess import prepare_patterns

__all__ = [
    "PROBABILITY_COLUMNS",
    "predict",
    "predict_trial",
    "weighted_scores",
    "per_space_group_report",
    "per_material_accuracy",
    "confusion",
    "best_trial",
    "best_trial_index",
    "restored_epoch",
    "holdout_table",
    "trial_spread",
    "trial_scores",
]

PROBABILITY_COLUMNS = [f"p_{sg}" for sg in SPACE_GROUPS]


def predict(model, dataset: PatternDataset, image_size: int, channels: int, seed: int = 0, batch_size: int = 64) -> pd.DataFrame:
    """Classify every pattern of ``dataset`` in a random order (seeded), as the paper wrote its predictions.

    Parameters
    ----------
    model
        A Keras classifier with six softmax outputs in the order of ``SPACE_GROUPS`` (221 ... 230).
    dataset
        The patterns and their labels; every pattern is classified, whatever its split.
    image_size
        The model's input side in pixels; patterns are resized to it (:func:`ebsdlib.preprocess.prepare_patterns`).
    channels
        The model's input channels (1 for the scratch model, 3 for the transfer model).
    seed
        Seed of the random order (default ``0``).
    batch_size
        Patterns per forward pass (default ``64``).

    Returns
    -------
    pandas.DataFrame
        One row per pattern, in the order classified: ``pattern_id, material, true_space_group,
        predicted_space_group, p_221 ... p_230``.

    Examples
    --------
    >>> import keras
    >>> from ebsdlib.simulation.datasets import simulate_dataset
    >>> from ebsdlib.datasets.container import SplitCounts
    >>> from ebsdlib.simulation.patterns import Detector, DetectorGeometry
    >>> geometry = DetectorGeometry(shape=(30, 36), master_pattern_half_size=68)  # a small detector, coarse master patterns
    >>> data = simulate_dataset(SplitCounts(0, 0, 1), Detector(geometry), seed=0)  # one test pattern per material
    >>> model = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(), keras.layers.Dense(6, activation="softmax")])
    >>> table = predict(model, data, image_size=32, channels=1)
    >>> len(table), list(table.columns[:4])
    (18, ['pattern_id', 'material', 'true_space_group', 'predicted_space_group'])
    >>> bool(np.allclose(table.filter(like="p_").sum(axis=1), 1, atol=1e-5))
    True
    """
    order = np.random.default_rng(seed).permutation(len(dataset))
    probabilities = np.empty((len(dataset), len(SPACE_GROUPS)), dtype=np.float32)
    for start in range(0, len(order), 256):
        index = order[start : start + 256]
        x = prepare_patterns(dataset.patterns[index], image_size, channels)
        probabilities[start : start + len(index)] = model.predict(x, batch_size=batch_size, verbose=0)
    table = dataset.table.iloc[order]
    out = pd.DataFrame(
        {
            "pattern_id": table["pattern_id"].to_numpy(),
            "material": table["material"].to_numpy(),
            "true_space_group": table["space_group"].to_numpy(),
            "predicted_space_group": np.asarray(SPACE_GROUPS)[probabilities.argmax(axis=1)],
        }
    )
    for i, column in enumerate(PROBABILITY_COLUMNS):
        out[column] = probabilities[:, i]
    return out


@functools.lru_cache(maxsize=4)
def _loaded_model(path: str, modified_ns: int):
    """A trained model loaded once per process (and again only when its file changes): a chapter that
    classifies many test sets with the same models does not reload and retrace them for each."""
    import keras

    return keras.models.load_model(path)


def predict_trial(result: TrialResult, dataset: PatternDataset, split: str | None = "test", seed: int = 0) -> pd.DataFrame:
    """Predictions of one trained model on one split (``None``: every pattern, e.g. of a map), read from
    the cache when made before. The last few models used stay loaded in memory.

    Parameters
    ----------
    result
        A trained model (:class:`~ebsdlib.learn.training.TrialResult`); its approach and input size set how
        the patterns are prepared.
    dataset
        The patterns and their labels.
    split
        The split to classify: ``"test"`` (default), ``"train"``, ``"validation"`` or ``"unused"``; ``None``:
        every pattern.
    seed
        Seed of the random order the patterns are classified in (default 0).

    Returns
    -------
    pandas.DataFrame
        As :func:`predict`: one row per pattern, in the order classified: ``pattern_id, material,
        true_space_group, predicted_space_group, p_221 ... p_230``.
    """
    part = dataset if split is None else dataset.subset(split)
    key = content_key(
        {
            "model": result.info["key"],
            "approach": result.approach,
            "data": dataset_fingerprint(part),
            "seed": seed,
            "code": source_hash(["evaluate.metrics", "preprocess"]),
        }
    )
    path = cache_file("predictions", f"{result.approach}-{key}.csv")
    if verified_file(path):
        return pd.read_csv(path)
    model_file = Path(result.model_path)
    model = _loaded_model(str(model_file.resolve()), model_file.stat().st_mtime_ns)
    predictions = predict(model, part, result.info["image_size"], APPROACH_CHANNELS[result.approach], seed)
    atomic_write(path, lambda tmp: predictions.to_csv(tmp, index=False))
    return predictions


def _scorable(predictions: pd.DataFrame) -> pd.DataFrame:
    """``predictions`` when every true space group is one of the classes; otherwise a ValueError naming the
    others and their materials (the scores and the confusion matrix must count the same patterns)."""
    other = predictions[~predictions["true_space_group"].isin(SPACE_GROUPS)]
    if len(other):
        groups = sorted({int(g) for g in other["true_space_group"]})
        materials = sorted({str(m) for m in other.get("material", pd.Series(dtype=str))})[:5]
        raise ValueError(
            f"{len(other)} prediction(s) have true space group(s) {groups} (materials: {', '.join(materials) or '?'}), "
            f"which are not among the classes {list(SPACE_GROUPS)} (-1: unlabelled); score only patterns of the classes"
        )
    return predictions


def weighted_scores(predictions: pd.DataFrame) -> dict[str, float]:
    """Class-weighted precision and recall (Table 1 of the paper), and accuracy.

    Parameters
    ----------
    predictions
        Predictions as :func:`predict` and :func:`predict_trial` write them, with ``true_space_group`` and
        ``predicted_space_group`` columns; every true space group must be one of the six classes.

    Returns
    -------
    dict[str, float]
        ``precision`` and ``recall`` (scikit-learn's, averaged over the space groups weighted by their
        patterns; 0 for a space group never predicted) and ``accuracy``.

    Raises
    ------
    ValueError
        When a true space group is not one of the six classes (or is unlabelled), naming it.
    """
    predictions = _scorable(predictions)
    y, p = predictions["true_space_group"], predictions["predicted_space_group"]
    return {
        "precision": float(precision_score(y, p, average="weighted", zero_division=0)),
        "recall": float(recall_score(y, p, average="weighted", zero_division=0)),
        "accuracy": float((y == p).mean()),
    }


def per_space_group_report(predictions: pd.DataFrame) -> pd.DataFrame:
    """Precision, recall, F1 and support per space group (Supplementary Tables S1/S2)."""
    predictions = _scorable(predictions)
    precision, recall, f1, support = precision_recall_fscore_support(
        predictions["true_space_group"], predictions["predicted_space_group"], labels=list(SPACE_GROUPS), zero_division=0
    )
    return pd.DataFrame(
        {"precision": precision, "recall": recall, "F1": f1, "support": support},
        index=pd.Index(SPACE_GROUPS, name="space_group"),
    )


def per_material_accuracy(predictions: pd.DataFrame) -> pd.DataFrame:
    """Accuracy and pattern count per material, hardest first."""
    correct = predictions["true_space_group"] == predictions["predicted_space_group"]
    table = (
        predictions.assign(correct=correct)
        .groupby(["material", "true_space_group"])["correct"]
        .agg(accuracy="mean", patterns="size")
        .reset_index()
        .rename(columns={"true_space_group": "space_group"})
    )
    return table.sort_values(["accuracy", "material"]).reset_index(drop=True)


def confusion(predictions: pd.DataFrame, normalize: str | None = None) -> pd.DataFrame:
    """Confusion matrix (rows: true space group, columns: predicted), optionally normalised per row.

    Parameters
    ----------
    predictions
        Predictions as :func:`predict` and :func:`predict_trial` write them, with ``true_space_group`` and
        ``predicted_space_group`` columns; every true space group must be one of the six classes.
    normalize
        ``None`` (default): pattern counts; ``"true"``: each row divided by its sum (the shares of a true space
        group); ``"pred"``: each column; ``"all"``: the whole matrix (scikit-learn's ``confusion_matrix``).

    Returns
    -------
    pandas.DataFrame
        6 × 6, rows (``true``) and columns (``predicted``) the six space groups in order.
    """
    predictions = _scorable(predictions)
    matrix = confusion_matrix(
        predictions["true_space_group"], predictions["predicted_space_group"], labels=list(SPACE_GROUPS), normalize=normalize
    )
    return pd.DataFrame(matrix, index=pd.Index(SPACE_GROUPS, name="true"), columns=pd.Index(SPACE_GROUPS, name="predicted"))


def restored_epoch(history: pd.DataFrame, min_delta: float) -> int:
    """The epoch whose weights early stopping restored: the last one that improved the validation loss
    by more than ``min_delta`` (Keras' rule), counted from 1."""
    best, epoch = np.inf, 0
    for i, value in enumerate(history["val_loss"]):
        if value + min_delta < best:
            best, epoch = value, i
    return epoch + 1


def restored_val_loss(result: TrialResult) -> float:
    """Validation loss of the weights a trial's model holds (those early stopping restored)."""
    min_delta = float(result.info.get("config", {}).get("min_delta", 0.0))
    return float(result.history["val_loss"].iloc[restored_epoch(result.history, min_delta) - 1])


def best_trial(results: list[TrialResult], approach: str) -> TrialResult:
    """The paper's "best performing model" of an approach: the trial whose saved model has the lowest
    validation loss."""
    candidates = [r for r in results if r.approach == approach]
    if not candidates:
        raise ValueError(f"no trials of the approach {approach!r}")
    return min(candidates, key=restored_val_loss)


def best_trial_index(results: list[TrialResult], approach: str) -> int:
    """Position of :func:`best_trial` among the trials of ``approach`` (in trial order)."""
    trials = [r.trial for r in results if r.approach == approach]
    return trials.index(best_trial(results, approach).trial)


def trial_spread(values) -> tuple[float, float]:
    """Mean and spread of one score over trials: the spread is the largest distance of a trial from the mean
    (half the range for two trials; 0 for one), so that every trial lies within mean ± spread.

    Examples
    --------
    >>> trial_spread([0.80, 0.90])
    (0.85, 0.05)
    >>> trial_spread([0.7, 0.9, 0.95])
    (0.85, 0.15)
    """
    values = np.asarray(list(values), dtype=np.float64)
    if values.size == 0:
        raise ValueError("trial_spread: no trials")
    mean = float(values.mean())
    return round(mean, 12), round(float(np.abs(values - mean).max()), 12)


def trial_scores(predictions: dict[str, list[pd.DataFrame]]) -> pd.DataFrame:
    """Class-weighted precision, recall and accuracy over the trials of each approach: one row per approach with
    ``trials``, and per score ``<score> mean`` and ``<score> ±`` (the spread, :func:`trial_spread`)."""
    rows = []
    for approach, per_trial in predictions.items():
        scores = pd.DataFrame([weighted_scores(p) for p in per_trial])
        row = {"approach": approach, "trials": len(scores)}
        for score in ("precision", "recall", "accuracy"):
            row[f"{score} mean"], row[f"{score} ±"] = trial_spread(scores[score])
        rows.append(row)
    return pd.DataFrame(rows).set_index("approach")


def holdout_table(predictions: dict[str, list[pd.DataFrame]], best: dict[str, int], paper: dict | None = None) -> pd.DataFrame:
    """Table 1: class-weighted precision and recall of the best model per approach, beside the paper's,
    plus mean ± spread over all trials (which the paper did not report; :func:`trial_spread`).

    Parameters
    ----------
    predictions
        Per approach, the test predictions of every trial, in trial order.
    best
        Per approach, the index of the best trial.
    """
    spread = trial_scores(predictions)
    rows = []
    for approach, per_trial in predictions.items():
        top = weighted_scores(per_trial[best[approach]])
        row = {
            "approach": approach,
            "precision (best model)": round(top["precision"], 3),
            "recall (best model)": round(top["recall"], 3),
        }
        if paper is not None:
            row["paper: precision"] = paper["holdout"][approach]["precision"]
            row["paper: recall"] = paper["holdout"][approach]["recall"]
        for score in ("precision", "recall", "accuracy"):
            row[f"{score} (all trials)"] = (
                f"{spread.loc[approach, f'{score} mean']:.3f} ± {spread.loc[approach, f'{score} ±']:.3f}"
            )
        row["trials"] = int(spread.loc[approach, "trials"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("approach")


def trial_spread_note(trials_per_approach: int) -> str:
    """What the "all trials" columns of Table 1 can say with ``trials_per_approach`` trained models per approach."""
    if trials_per_approach < 1:
        raise ValueError("trial_spread_note: no trained models; train at least one trial per approach")
    if trials_per_approach == 1:
        return (
            "This build trained one model per approach, so the columns over all trials repeat the best model "
            "and give no spread (± 0): whether the difference between the approaches exceeds the spread "
            "between trials needs a profile with several trials."
        )
    return (
        f"The columns over all {trials_per_approach} trials give the mean ± the spread (the largest distance of a "
        "trial from the mean), which shows whether the difference between the approaches exceeds the spread between "
        "trials; the claims page judges Table 1 against it."
    )
