"""sktorchcw: class weights for any PyTorch loss, and an LSTM classifier for scikit-learn."""

from ._classifier import LSTMBlinkClassifier
from ._loss import ClassWeightedLoss, criterion_formats
from ._module import LSTMFrameLogits, LSTMLogits
from ._net import TrainingDivergedError
from ._persistence import load_model as _load_model
from ._tagger import LSTMBlinkTagger, frame_balanced_accuracy
from ._weights import resolve_class_weight

__version__ = "0.1.0"


def load(path, device=None):
    """Read a model written by :meth:`LSTMBlinkClassifier.save`; never runs code from the file.

    Parameters
    ----------
    path : str or path-like
        The model file.
    device : str, default=None
        Where to put the model: 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'. None uses
        the saved ``device`` parameter, falling back to the CPU (with a warning)
        when that device is not available here, e.g. a model saved on a GPU.

    Returns
    -------
    LSTMBlinkClassifier
        Fitted: ``predict`` and ``predict_proba`` give what the saved model gave.

    Raises
    ------
    ValueError
        For a file that is not an sktorchcw model file, holds anything but tensors
        and plain data (e.g. a pickle payload, which is refused, not run), was
        changed after saving, comes from a newer format, or whose weights do not
        fit its parameters.

    Examples
    --------
    See :meth:`LSTMBlinkClassifier.save`.
    """
    return _load_model(path, device=device)

__all__ = [
    "ClassWeightedLoss",
    "LSTMBlinkClassifier",
    "LSTMBlinkTagger",
    "LSTMFrameLogits",
    "LSTMLogits",
    "TrainingDivergedError",
    "criterion_formats",
    "frame_balanced_accuracy",
    "load",
    "resolve_class_weight",
    "__version__",
]
