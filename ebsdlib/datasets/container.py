"""Pattern data sets: the paper's split protocol, the simulated default, and loaders for real data.

A :class:`PatternDataset` holds the patterns (n, rows, cols) and a table with one row per pattern
(``pattern_id``, ``space_group``, ``material``, ``split`` and whatever the source knows: orientation,
pattern centre, quality flag, file name). Simulated and real data go through the same type, so every
later stage works on both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["PatternDataset", "DatasetError", "SplitCounts", "divide_evenly", "assign_split"]

SPLITS = ("train", "validation", "test", "unused")
VIEWS = ("native", "canonical")
UNLABELLED = -1


class DatasetError(ValueError):
    """Bad input data: the message names the file or folder and says what to do."""


@dataclass(frozen=True)
class SplitCounts:
    """How many patterns each split gets, by the paper's protocol (Methods: 400 training and 100 validation
    patterns per space group, divided evenly over its materials; the rest of each material is its test set).

    Parameters
    ----------
    train_per_space_group
        Training patterns per space group, divided over its materials (sorted by name) with
        :func:`divide_evenly` (default 400, the paper's).
    val_per_space_group
        Validation patterns per space group, divided in the same way (default 100, the paper's).
    test_per_material
        The most test patterns of each material (default 100); ``None``: all its remaining patterns.

    Examples
    --------
    >>> SplitCounts.from_settings({"train_per_space_group": 40, "val_per_space_group": 10, "test_per_material": 5})
    SplitCounts(train_per_space_group=40, val_per_space_group=10, test_per_material=5)
    """

    train_per_space_group: int = 400
    val_per_space_group: int = 100
    test_per_material: int | None = 100

    def __post_init__(self):
        for name in ("train_per_space_group", "val_per_space_group", "test_per_material"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or int(value) != value or value < 0:
                raise ValueError(f"{name} must be a whole number of patterns, 0 or more; got {value!r}")
            object.__setattr__(self, name, int(value))  # 2.0 or numpy's 2 count as 2, and key the cache as 2

    @classmethod
    def from_settings(cls, settings: dict) -> SplitCounts:
        """The counts of a profile's shared settings (``train_per_space_group``, ``val_per_space_group``,
        ``test_per_material``)."""
        return cls(
            int(settings["train_per_space_group"]), int(settings["val_per_space_group"]), int(settings["test_per_material"])
        )


@dataclass
class PatternDataset:
    """Patterns (n, rows, cols) with one table row per pattern.

    Parameters
    ----------
    patterns
        Array (n, rows, cols), uint8 or float.
    table
        DataFrame with one row per pattern, in the order of ``patterns`` (its index is reset). It has at least
        ``pattern_id``, ``space_group`` (``-1`` when unlabelled), ``material`` and ``split``; missing ones are
        added: ``split`` ``"unused"``, ``material`` ``""``, ``space_group`` ``-1`` and ``pattern_id`` 0 to n − 1.
    meta
        Where the data came from and how it was made (parameters, timings, notes such as resizing); default
        empty.
    map_shape
        (rows, cols) of the scan when the patterns come from a map, in map order row by row; default ``None``.

    Raises
    ------
    DatasetError
        When ``patterns`` and ``table`` differ in length.
    """

    patterns: np.ndarray
    table: pd.DataFrame
    meta: dict = field(default_factory=dict)
    map_shape: tuple[int, int] | None = None

    def __post_init__(self):
        if len(self.patterns) != len(self.table):
            raise DatasetError(f"{len(self.patterns)} patterns but {len(self.table)} table rows: they must match")
        self.table = self.table.reset_index(drop=True)
        for column, default in (("split", "unused"), ("material", ""), ("space_group", UNLABELLED)):
            if column not in self.table:
                self.table[column] = default
        if "pattern_id" not in self.table:
            self.table.insert(0, "pattern_id", np.arange(len(self.table)))

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> np.ndarray:
        """Space-group number of every pattern."""
        return self.table["space_group"].to_numpy()

    @property
    def pattern_shape(self) -> tuple[int, int]:
        """(rows, cols) of one pattern in pixels."""
        return tuple(self.patterns.shape[1:])

    def subset(self, mask_or_split) -> PatternDataset:
        """A new data set of the rows of one split (``"train"``, ...) or of a boolean mask."""
        if isinstance(mask_or_split, str):
            if mask_or_split not in SPLITS:
                raise ValueError(f"unknown split {mask_or_split!r}; choose from {SPLITS}")
            mask = (self.table["split"] == mask_or_split).to_numpy()
        else:
            mask = np.asarray(mask_or_split, dtype=bool)
        return PatternDataset(self.patterns[mask], self.table[mask].copy(), dict(self.meta))

    def examples(self, by: str = "space_group", quality: str | None = "good", seed: int = 0) -> pd.Series:
        """Index of one pattern per value of ``by`` (e.g. one per space group), drawn at random among
        patterns of the given ``quality`` flag (any quality when ``None`` or when the table has none)."""
        table = self.table
        if quality is not None and "quality" in table and (table["quality"] == quality).any():
            table = table[table["quality"] == quality]
        rng = np.random.default_rng(seed)
        picks = {key: rng.choice(group.index.to_numpy()) for key, group in table.groupby(by, sort=False)}
        return pd.Series(picks, name="index")

    def counts(self) -> pd.DataFrame:
        """Patterns per space group and material in each split (rows) — the analogue of Table S1."""
        counts = pd.crosstab([self.table["space_group"], self.table["material"]], self.table["split"])
        return counts.reindex(columns=[s for s in SPLITS if s in counts.columns], fill_value=0)


def divide_evenly(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` near-equal integers, larger ones first (400, 3 -> 134, 133, 133).

    Parameters
    ----------
    total
        The count to divide, e.g. the training patterns of a space group.
    parts
        How many shares, e.g. the materials of the space group; at least 1.

    Returns
    -------
    list[int]
        ``parts`` integers that sum to ``total`` and differ by at most one, the larger first.
    """
    if parts <= 0:
        raise ValueError("parts must be positive")
    base, extra = divmod(int(total), parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def assign_split(table: pd.DataFrame, counts: SplitCounts, seed: int = 0) -> pd.Series:
    """The paper's protocol: per space group, ``counts.train_per_space_group`` training and
    ``counts.val_per_space_group`` validation patterns divided evenly over its materials; the remaining
    patterns of each material are the test set (at most ``counts.test_per_material`` of them; the rest are
    ``"unused"``). The same seed gives the same split.

    Parameters
    ----------
    table
        One row per pattern with ``space_group`` and ``material`` columns (a :class:`PatternDataset`'s table).
        Rows with ``space_group`` ``-1`` (unlabelled) stay ``"unused"``.
    counts
        Patterns per split (:class:`SplitCounts`); ``test_per_material`` ``None`` makes every remaining
        pattern a test pattern.
    seed
        Seed of the random permutation that assigns each material's patterns to the splits (default 0).

    Returns
    -------
    pandas.Series
        The split of every row of ``table`` (``"train"``, ``"validation"``, ``"test"`` or ``"unused"``), on its
        index.

    Raises
    ------
    DatasetError
        When a material has fewer patterns than its training and validation share.
    """
    split = pd.Series("unused", index=table.index, dtype=object)
    rng = np.random.default_rng(seed)
    labelled = table[table["space_group"] != UNLABELLED]
    for space_group, group in labelled.groupby("space_group", sort=True):
        materials = sorted(group["material"].unique())
        n_train = divide_evenly(counts.train_per_space_group, len(materials))
        n_val = divide_evenly(counts.val_per_space_group, len(materials))
        for material, nt, nv in zip(materials, n_train, n_val, strict=False):
            index = group.index[group["material"] == material].to_numpy()
            if len(index) < nt + nv:
                raise DatasetError(
                    f"material {material!r} (space group {space_group}) has {len(index)} patterns, "
                    f"fewer than its {nt} training + {nv} validation patterns: add patterns or lower "
                    "train_per_space_group / val_per_space_group"
                )
            index = rng.permutation(np.sort(index))
            split[index[:nt]] = "train"
            split[index[nt : nt + nv]] = "validation"
            rest = index[nt + nv :]
            if counts.test_per_material is not None:
                rest = rest[: counts.test_per_material]
            split[rest] = "test"
    return split


def patterns_per_material(materials, counts: SplitCounts) -> dict[str, int]:
    """Patterns to simulate per material name: its share of its space group's training and validation
    counts (divided evenly over the group's materials, by name) plus ``counts.test_per_material``."""
    if counts.test_per_material is None:
        raise ValueError("simulating needs a number of test patterns per material (test_per_material), not None")
    per_material = {}
    for space_group in sorted({m.space_group for m in materials}):
        group = sorted((m for m in materials if m.space_group == space_group), key=lambda m: m.name)
        n_train = divide_evenly(counts.train_per_space_group, len(group))
        n_val = divide_evenly(counts.val_per_space_group, len(group))
        for m, nt, nv in zip(group, n_train, n_val, strict=False):
            per_material[m.name] = nt + nv + counts.test_per_material
    return per_material
