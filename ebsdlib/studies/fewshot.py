"""What the classifier needs: accuracy against training patterns per space group, against input size, and
convergence measured independently of the patience of early stopping (beyond the paper).

The paper reports one training-set size (400 patterns per space group at 299 px). Here the same protocol
is run on nested subsets of one data set's training split: the validation and test splits stay fixed,
and every smaller training set is contained in every larger one drawn with the same seed, so that a
point of the curve differs from the next only by the patterns added. The subset at the data set's full
training count is the data set itself, so that point is the training chapter's trial (a cache hit).

Every point is a :func:`ebsdlib.learn.training.train_trial` (cached like any trial) followed by
:func:`ebsdlib.evaluate.metrics.predict_trial` (cached predictions); the tables here only read them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from ebsdlib.datasets.container import PatternDataset, divide_evenly
from ebsdlib.evaluate.metrics import predict_trial, weighted_scores
from ebsdlib.learn.models import PretrainedSource
from ebsdlib.learn.training import APPROACHES, TrainingConfig, TrialResult, train_trial

__all__ = [
    "CurvePoint",
    "curve_label",
    "SOURCE_NAMES",
    "training_counts",
    "subsample_training",
    "few_shot_curve",
    "few_shot_point",
    "input_size_curve",
    "curve_summary",
    "epochs_to_reach",
    "convergence_table",
    "patterns_needed",
    "source_comparison",
]

log = logging.getLogger(__name__)

#: How a curve names each kind of pretrained source.
SOURCE_NAMES = {"imagenet": "ImageNet", "source-task": "source task", "file": "weights file"}


def curve_label(approach: str, source_kind: str | None = None) -> str:
    """The name of one curve: ``"scratch"``, or ``"transfer"`` with its pretrained source, as in
    ``"transfer (ImageNet)"`` and ``"transfer (source task)"``.

    Examples
    --------
    >>> curve_label("scratch")
    'scratch'
    >>> curve_label("transfer", "source-task")
    'transfer (source task)'
    """
    if approach != "transfer" or not source_kind:
        return approach
    return f"transfer ({SOURCE_NAMES.get(source_kind, source_kind)})"


@dataclass
class CurvePoint:
    """One trained model of a curve and its test scores."""

    approach: str
    patterns_per_space_group: int
    image_size: int
    trial: int
    result: TrialResult
    scores: dict
    source_kind: str | None = None

    def as_row(self) -> dict:
        """The point as one row of the curve's table: its curve (approach and pretrained source), count, trial,
        metrics, epochs and seconds."""
        info = self.result.info
        return {
            "curve": curve_label(self.approach, self.source_kind),
            "approach": self.approach,
            "pretrained_source": self.source_kind if self.approach == "transfer" else "",
            "patterns_per_space_group": self.patterns_per_space_group,
            "image_size": self.image_size,
            "trial": self.trial,
            **self.scores,
            "epochs": int(info["epochs"]),
            "best_epoch": int(info["best_epoch"]),
            "best_val_accuracy": float(self.result.history["val_accuracy"].max()),
            "train_seconds": float(info["seconds"]),
            "cpu_seconds": float(info.get("cpu_seconds", np.nan)),
        }


def training_counts(dataset: PatternDataset) -> pd.Series:
    """Training patterns per space group of ``dataset``."""
    train = dataset.table[dataset.table["split"] == "train"]
    return train.groupby("space_group").size()


def subsample_training(dataset: PatternDataset, per_space_group: int, seed: int = 0) -> PatternDataset:
    """The data set with only ``per_space_group`` training patterns per space group, divided evenly over
    each group's materials as the paper's protocol; the other training patterns become ``"unused"``.
    Validation and test are unchanged.

    Subsets are nested: with the same seed, the subset of n patterns is contained in the subset of any
    larger count. At the full count the data set itself is returned (same content, same cache keys).

    Raises
    ------
    ValueError
        When a space group has fewer training patterns than asked, or the count is not positive.
    """
    per_space_group = int(per_space_group)
    if per_space_group <= 0:
        raise ValueError(f"patterns per space group must be positive, got {per_space_group}")
    available = training_counts(dataset)
    if available.empty:
        raise ValueError("the data set has no training patterns to subsample")
    short = available[available < per_space_group]
    if len(short):
        raise ValueError(
            f"asked for {per_space_group} training patterns per space group, but space group(s) "
            f"{', '.join(f'{sg} has {n}' for sg, n in short.items())}: lower the count or simulate more "
            "(train_per_space_group)"
        )
    if (available == per_space_group).all():
        return dataset
    table = dataset.table
    keep = np.zeros(len(table), dtype=bool)
    rng = np.random.default_rng(seed)
    train = table[table["split"] == "train"]
    for _, group in train.groupby("space_group", sort=True):
        materials = sorted(group["material"].unique())
        for material, n in zip(materials, divide_evenly(per_space_group, len(materials)), strict=False):
            index = np.sort(group.index[group["material"] == material].to_numpy())
            if n > len(index):
                raise ValueError(
                    f"material {material!r} has {len(index)} training patterns, fewer than its share {n} of {per_space_group}"
                )
            keep[rng.permutation(index)[:n]] = True  # a prefix of one permutation per material: nested
    split = table["split"].where(~((table["split"] == "train") & ~keep), "unused")
    subset = PatternDataset(dataset.patterns, table.assign(split=split), dict(dataset.meta), dataset.map_shape)
    subset.meta["training_subset"] = {"per_space_group": per_space_group, "seed": int(seed)}
    return subset


def few_shot_point(approach, dataset, n, image_size, config, source, *, trial: int = 0, seed: int = 0) -> CurvePoint:
    """One point of the few-shot curve: the model trained on the nested subset of ``n`` training patterns
    per space group (cached; chapter 7 and chapter 8 share it), scored on the test split."""
    return _point(approach, dataset, n, image_size, config, source, trial, seed)


def _point(approach, dataset, n, image_size, config, source, trial, seed) -> CurvePoint:
    subset = subsample_training(dataset, n, seed * 1000 + trial)
    result = train_trial(approach, subset, image_size, config, source, trial=trial, seed=seed)
    predictions = predict_trial(result, subset, "test", seed)
    scores = weighted_scores(predictions)
    scores["f1"] = float(
        f1_score(predictions["true_space_group"], predictions["predicted_space_group"], average="weighted", zero_division=0)
    )
    kind = source.kind if approach == "transfer" and source is not None else None
    return CurvePoint(approach, n, image_size, trial, result, scores, kind)


def few_shot_curve(
    dataset: PatternDataset,
    counts,
    image_size: int,
    config: TrainingConfig,
    source: PretrainedSource | None,
    *,
    trials: int = 1,
    seed: int = 0,
    approaches=APPROACHES,
    progress=log.info,
) -> pd.DataFrame:
    """Test scores against training patterns per space group: ``trials`` trained models per approach and count.

    Parameters
    ----------
    dataset
        The data set whose training split is subsampled; its validation and test splits are used as they are.
    counts
        Training patterns per space group at each point (whole numbers, in any order), divided evenly over
        each group's materials (:func:`subsample_training`: nested subsets); none may exceed the data set's
        training patterns of any space group.
    image_size
        Side in pixels of the models' input, the same at every point (at least 71).
    config
        The optimiser and stopping rule (:class:`~ebsdlib.learn.training.TrainingConfig`).
    source
        The transfer model's pretrained source with its weights file; needed when ``approaches`` holds
        ``"transfer"``, else ``None``.
    trials
        Models per approach and count (default 1). Trial ``t`` draws its own subset and initialises the model
        as trial ``t`` of the training chapter (same ``seed``), so the point at the data set's full count is
        that chapter's trials, read from the cache.
    seed
        The run's seed, as :func:`~ebsdlib.learn.training.train_trial` takes it (default 0); trial ``t``'s
        subset is drawn with ``seed`` × 1000 + ``t``, and the test patterns are classified in an order seeded
        with ``seed``.
    approaches
        The approaches to train, in order (default ``("scratch", "transfer")``).
    progress
        Called with one line before each point is trained (default ``print``; ``None``: quiet).

    Returns
    -------
    pandas.DataFrame
        One row per approach, count and trial: ``curve`` (:func:`curve_label`), ``approach``,
        ``pretrained_source`` (its kind for transfer, else empty), ``patterns_per_space_group``, ``image_size``,
        ``trial``, the test scores ``precision``, ``recall``, ``accuracy`` (:func:`~ebsdlib.evaluate.metrics.weighted_scores`)
        and ``f1`` (class-weighted), ``epochs``, ``best_epoch``, ``best_val_accuracy``, ``train_seconds`` and
        ``cpu_seconds``.
    """
    rows = []
    for approach in approaches:
        for n in sorted(int(c) for c in counts):
            for trial in range(int(trials)):
                if progress:
                    progress(f"few-shot curve: {approach}, {n} patterns per space group, trial {trial}")
                rows.append(_point(approach, dataset, n, image_size, config, source, trial, int(seed)).as_row())
    return pd.DataFrame(rows)


def input_size_curve(
    dataset: PatternDataset,
    sizes,
    per_space_group: int,
    config: TrainingConfig,
    source: PretrainedSource | None,
    *,
    trials: int = 1,
    seed: int = 0,
    approaches=APPROACHES,
    progress=log.info,
) -> pd.DataFrame:
    """Test scores against the CNN input size at a fixed training count. The transfer model starts from
    the same ``source`` at every size (Xception's weights do not depend on the input size, as ImageNet's
    weights serve any size).

    Parameters
    ----------
    dataset
        The data set whose training split is subsampled; its validation and test splits are used as they are.
    sizes
        Input sides in pixels, one point each (whole numbers, in any order; each at least 71).
    per_space_group
        Training patterns per space group at every point, divided evenly over each group's materials
        (:func:`subsample_training`); at the data set's full training count, the data set as it is.
    config
        The optimiser and stopping rule (:class:`~ebsdlib.learn.training.TrainingConfig`).
    source
        The transfer model's pretrained source with its weights file; needed when ``approaches`` holds
        ``"transfer"``, else ``None``.
    trials
        Models per approach and size (default 1); trial ``t`` draws its own subset and initialises the model as
        trial ``t`` of the training chapter.
    seed
        The run's seed, as :func:`~ebsdlib.learn.training.train_trial` takes it (default 0); trial ``t``'s
        subset is drawn with ``seed`` × 1000 + ``t``.
    approaches
        The approaches to train, in order (default ``("scratch", "transfer")``).
    progress
        Called with one line before each point is trained (default ``print``; ``None``: quiet).

    Returns
    -------
    pandas.DataFrame
        One row per approach, size and trial: ``curve``, ``approach``, ``pretrained_source``,
        ``patterns_per_space_group``, ``image_size``,
        ``trial``, the test scores ``precision``, ``recall``, ``accuracy`` (:func:`~ebsdlib.evaluate.metrics.weighted_scores`)
        and ``f1`` (class-weighted), ``epochs``, ``best_epoch``, ``best_val_accuracy``, ``train_seconds`` and
        ``cpu_seconds``.
    """
    rows = []
    for approach in approaches:
        for size in sorted(int(s) for s in sizes):
            for trial in range(int(trials)):
                if progress:
                    progress(f"input-size curve: {approach}, {size} px, trial {trial}")
                rows.append(_point(approach, dataset, per_space_group, size, config, source, trial, int(seed)).as_row())
    return pd.DataFrame(rows)


def curve_summary(
    curve: pd.DataFrame, by: str = "patterns_per_space_group", metrics=("precision", "recall", "f1", "accuracy")
) -> pd.DataFrame:
    """Mean and standard deviation over trials per curve and ``by``, with the summed CPU time of the point.

    Curves are told apart by their ``curve`` column (approach and pretrained source, :func:`curve_label`);
    rows without one are grouped by ``approach``. Curves of several calls (for example transfer from two
    pretrained sources) can be concatenated before summarising.
    """
    metrics = [m for m in metrics if m in curve]
    if "curve" not in curve:
        curve = curve.assign(curve=curve["approach"])
    grouped = curve.groupby(["curve", by], sort=False)
    out = grouped[metrics].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    for other in ("approach", "pretrained_source", "patterns_per_space_group", "image_size"):
        if other != by and other in curve:
            out[other] = grouped[other].first()
    out["trials"] = grouped.size()
    out["epochs_mean"] = grouped["epochs"].mean()
    out["cpu_seconds"] = grouped["cpu_seconds"].sum()
    out["train_seconds"] = grouped["train_seconds"].sum()
    return out.reset_index()


def epochs_to_reach(history: pd.DataFrame, column: str, target: float, above: bool = True) -> tuple[float, float]:
    """(epochs, seconds) until ``column`` first reaches ``target`` (``>=`` when ``above``, else ``<=``);
    (nan, nan) when it never does. Seconds are summed over the epochs up to and including that one."""
    values = history[column].to_numpy(dtype=float)
    hit = values >= target if above else values <= target
    if not hit.any():
        return np.nan, np.nan
    epoch = int(np.argmax(hit))
    return float(epoch + 1), float(history["seconds"].to_numpy(dtype=float)[: epoch + 1].sum())


def convergence_table(results: list[TrialResult], target_accuracy: float) -> pd.DataFrame:
    """Convergence that patience does not decide, per trial: epochs and seconds until the validation
    accuracy first reaches ``target_accuracy``, and until the validation loss first reaches the best
    validation loss of the *other* approach (mean over its trials); beside the epochs run under early
    stopping."""
    best_loss = {
        approach: np.mean([r.history["val_loss"].min() for r in results if r.approach == approach]) for approach in APPROACHES
    }
    rows = []
    for r in results:
        other = "transfer" if r.approach == "scratch" else "scratch"
        acc_epochs, acc_seconds = epochs_to_reach(r.history, "val_accuracy", target_accuracy)
        row = {
            "approach": r.approach,
            "trial": r.trial,
            "epochs run (early stopping)": len(r.history),
            "best val. accuracy": float(r.history["val_accuracy"].max()),
            f"epochs to val. accuracy {target_accuracy:.2f}": acc_epochs,
            f"seconds to val. accuracy {target_accuracy:.2f}": acc_seconds,
        }
        if not np.isnan(best_loss.get(other, np.nan)):
            loss_epochs, loss_seconds = epochs_to_reach(r.history, "val_loss", best_loss[other], above=False)
            row["epochs to the other approach's best val. loss"] = loss_epochs
            row["seconds to the other approach's best val. loss"] = loss_seconds
        rows.append(row)
    return pd.DataFrame(rows)


def patterns_needed(
    summary: pd.DataFrame, target: float, metric: str = "f1", by: str = "patterns_per_space_group"
) -> pd.DataFrame:
    """Per curve, a power law fitted to the error (1 − ``metric``) against ``by`` (least squares in
    log–log) and the count at which it would reach ``target``.

    Returns one row per curve (indexed by :func:`curve_label`): exponent, the extrapolated count (``nan`` when the error does not fall with
    the count (exponent above −0.01) or fewer than two points exist), whether the target is already reached on the curve, and
    the largest count measured. An extrapolation past the measured range is a rough guide only.
    """
    rows = []
    for approach, part in summary.groupby("curve", sort=False):
        part = part.sort_values(by)
        x = part[by].to_numpy(dtype=float)
        error = np.clip(1 - part[f"{metric}_mean"].to_numpy(dtype=float), 1e-6, None)
        reached = part.loc[part[f"{metric}_mean"] >= target, by]
        row = {
            "curve": approach,
            "largest measured": int(x.max()),
            "reached at": int(reached.min()) if len(reached) else np.nan,
            "exponent": np.nan,
            "extrapolated count": np.nan,
        }
        if len(x) >= 2 and len(np.unique(x)) >= 2:
            slope, intercept = np.polyfit(np.log(x), np.log(error), 1)
            row["exponent"] = float(slope)
            if slope < -0.01:  # the error must fall with the count; a flat curve extrapolates to nothing
                with np.errstate(over="ignore"):
                    count = float(np.exp((np.log(1 - target) - intercept) / slope))
                row["extrapolated count"] = count if np.isfinite(count) else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("curve")


def source_comparison(
    summary: pd.DataFrame, metric: str = "precision", reference: str = "imagenet", other: str = "source-task"
) -> pd.DataFrame:
    """Transfer from two pretrained sources side by side, per training count: natural-image features
    (ImageNet) against in-domain pretraining (the source task) by default.

    Parameters
    ----------
    summary
        A few-shot curve's summary (:func:`curve_summary`) holding transfer curves of both sources.
    metric
        The score compared (``"precision"``, ``"recall"``, ``"f1"`` or ``"accuracy"``).
    reference, other
        The kinds of the two pretrained sources (``"imagenet"``, ``"source-task"``, ``"file"``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``patterns_per_space_group`` (the counts both curves have): the mean ``metric`` of each
        curve, named by :func:`curve_label`, their ``difference`` (reference − other), the trials of each, and the CPU
        minutes per trained model of each. Empty when either curve is missing.
    """
    if "curve" not in summary:
        return pd.DataFrame()
    names = {kind: curve_label("transfer", kind) for kind in (reference, other)}
    parts = {kind: summary[summary["curve"] == name].set_index("patterns_per_space_group") for kind, name in names.items()}
    if any(part.empty for part in parts.values()):
        return pd.DataFrame()
    counts = sorted(set(parts[reference].index) & set(parts[other].index))
    table = pd.DataFrame(index=pd.Index(counts, name="patterns_per_space_group"))
    for kind, name in names.items():
        table[f"{metric} {name}"] = parts[kind].loc[counts, f"{metric}_mean"]
    table["difference"] = table[f"{metric} {names[reference]}"] - table[f"{metric} {names[other]}"]
    for kind, name in names.items():
        part = parts[kind].loc[counts]
        table[f"trials {name}"] = part["trials"].astype(int)
        table[f"CPU minutes per model {name}"] = part["cpu_seconds"] / 60 / part["trials"]
    return table
