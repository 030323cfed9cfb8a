"""Evaluation: predictions and the paper's metrics, the first layer's filters, SHAP explanations, and the
figures."""

from .explain import explain_trial
from .filters import first_layer_kernels
from .metrics import confusion, predict, predict_trial, weighted_scores

__all__ = ["predict", "predict_trial", "weighted_scores", "confusion", "explain_trial", "first_layer_kernels"]
