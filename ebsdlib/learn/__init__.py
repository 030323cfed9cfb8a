"""Learning: the networks (Keras' Xception as the paper, and a small stand-in), pretrained sources, the training
protocol and its cached trials, the source task pretrained on other space groups, few-shot fine-tuning on a sample's phases, and the distilled
student."""

from .finetune import PhaseTuning, fine_tune, fine_tune_on_phases
from .models import PretrainedSource, SourceUnavailable, classifier, resolve_source
from .sourcetask import ensure_source
from .student import StudentConfig, distil_student
from .training import TrainingConfig, TrialResult, run_trials, train_trial

__all__ = [
    "classifier",
    "PretrainedSource",
    "SourceUnavailable",
    "resolve_source",
    "TrainingConfig",
    "TrialResult",
    "train_trial",
    "run_trials",
    "ensure_source",
    "StudentConfig",
    "distil_student",
    "PhaseTuning",
    "fine_tune",
    "fine_tune_on_phases",
]
