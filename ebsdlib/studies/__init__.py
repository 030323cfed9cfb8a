"""The studies beyond the paper: the few-shot and input-size curves, generalisation to materials and
acquisitions the models never saw, and how separable the materials' patterns are."""

from .fewshot import few_shot_curve, input_size_curve
from .generalise import generated_dataset, leave_one_out
from .separability import ideal_observer, separability_table

__all__ = ["few_shot_curve", "input_size_curve", "leave_one_out", "generated_dataset", "separability_table", "ideal_observer"]
