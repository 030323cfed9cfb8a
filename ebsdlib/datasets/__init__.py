"""Pattern data sets: the container every stage passes on (:class:`PatternDataset`, patterns with one table
row each) and the paper's split protocol."""

from .container import DatasetError, PatternDataset, SplitCounts, assign_split, divide_evenly

__all__ = ["PatternDataset", "DatasetError", "SplitCounts", "assign_split", "divide_evenly"]
