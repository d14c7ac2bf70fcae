"""sktorchcw: class weights for any PyTorch loss, and an LSTM classifier for scikit-learn."""

from ._classifier import LSTMBlinkClassifier
from ._loss import ClassWeightedLoss, criterion_formats
from ._net import TrainingDivergedError
from ._weights import resolve_class_weight

__version__ = "0.1.0"

__all__ = [
    "ClassWeightedLoss",
    "LSTMBlinkClassifier",
    "TrainingDivergedError",
    "criterion_formats",
    "resolve_class_weight",
    "__version__",
]
