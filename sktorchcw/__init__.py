"""sktorchcw: class weights for any PyTorch loss, with scikit-learn estimators built on skorch.

What it is for:

- :class:`ClassWeightedLoss` gives any PyTorch criterion (``nn.L1Loss``, ``nn.MSELoss``,
  a focal loss of your own...) class weights and sample weights, in any training loop;
  :func:`resolve_class_weight` and :func:`effective_number_weights` compute them.
- :class:`LSTMBlinkClassifier`: one label per sequence (a window of frames); a
  scikit-learn classifier with ``class_weight`` and ``sample_weight`` for any criterion.
- :class:`LSTMBlinkTagger`: one label per frame of whole recordings (blink detection),
  the same weighting frame by frame, a decision rule tuned for events, live streaming
  (:meth:`LSTMBlinkTagger.stream`); :mod:`sktorchcw.events` finds and scores events.
- Your own network: both estimators train a built-in LSTM or GRU or any ``nn.Module``
  you write (``module=MyNet``) with all of the weighting.
- :mod:`sktorchcw.skorch`: skorch's ``NeuralNetClassifier`` and
  ``NeuralNetBinaryClassifier`` with ``class_weight`` for any input skorch takes; change
  one import line.
- Deployment and data: safe model files (:func:`load`), :func:`export_onnx`,
  :mod:`sktorchcw.datasets` (generated blink data, per-frame tables),
  :mod:`sktorchcw.model_selection`, :mod:`sktorchcw.distributed`.
"""

from ._classifier import LSTMBlinkClassifier
from ._loss import ClassWeightedLoss, FocalLoss, criterion_formats
from ._module import GRUFrameLogits, GRULogits, LSTMFrameLogits, LSTMLogits
from ._net import DivergenceWarning, TrainingDivergedError
from ._onnx import export_onnx
from ._persistence import load_model as _load_model
from ._stream import FrameStream
from ._tagger import LSTMBlinkTagger
from ._targets import frame_balanced_accuracy_scorer
from ._warnings import warn_at_caller as _warn_at_caller
from ._weights import effective_number_weights, resolve_class_weight

__version__ = "0.1.0"


def load(path, device=None, *, modules=None):
    """Read a model written by ``save``; never runs code from the file.

    The file holds an :class:`LSTMBlinkClassifier`, an :class:`LSTMBlinkTagger`, or a
    :class:`sktorchcw.skorch.NeuralNetClassifier` or ``NeuralNetBinaryClassifier``
    (written by its ``save``), which comes back fitted, of the same class. Its tensors
    are read by safetensors and the rest is JSON: nothing calls ``torch.load`` or
    unpickles anything, on any torch version, and nothing a file names is imported.

    Parameters
    ----------
    path : str, path-like or binary file object
        The model file (or an open file, ``io.BytesIO``...).
    device : str, default=None
        Where to put the model: 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'. None uses
        the saved ``device`` parameter, falling back to the CPU (with a warning)
        when that device is not available here, e.g. a model saved on a GPU; a skorch
        net's file stores no device, and None puts it on the CPU.
    modules : list of nn.Module subclasses, default=None
        The classes of your own networks (``module=MyNet``), imported by you. A file
        names its network's class by its qualified name and module, and ``load``
        rebuilds it only from these: the class of that qualified name and module, or
        the only one of that qualified name (a class moved to another module). Not
        needed for the built-in networks (``module=None``, ``'lstm'``, ``'gru'``), whose
        files ignore it.

    Returns
    -------
    LSTMBlinkClassifier, LSTMBlinkTagger or a sktorchcw.skorch net
        Fitted: ``predict`` and ``predict_proba`` give what the saved model gave.

    Raises
    ------
    ValueError
        For a file that is not an sktorchcw model file: a pickle or ``torch.save``
        archive (refused, not run), a truncated or forged safetensors file, a file
        changed after saving, an old format 1 file, a newer format, or weights that do
        not fit its parameters; and for a file whose network class is not among
        ``modules`` (the message names the class and its module: pass
        ``modules=[ClassName]``).
    TypeError
        For ``modules`` that are not a list of ``nn.Module`` subclasses (a name, an
        instance...), checked before the file is read.

    Examples
    --------
    See :meth:`LSTMBlinkClassifier.save`. With a network of your own::

        clf = LSTMBlinkClassifier(module=MyNet, module__width=16).fit(X, y)
        clf.save("model.sktorchcw")
        clf = sktorchcw.load("model.sktorchcw", modules=[MyNet])
    """
    from .skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

    estimators = {"LSTMBlinkClassifier": LSTMBlinkClassifier, "LSTMBlinkTagger": LSTMBlinkTagger,
                  "NeuralNetClassifier": NeuralNetClassifier,
                  "NeuralNetBinaryClassifier": NeuralNetBinaryClassifier}
    return _load_model(path, estimators, device=device, modules=modules)


def __getattr__(name):
    if name == "frame_balanced_accuracy":
        _warn_at_caller(
            "sktorchcw.frame_balanced_accuracy was deprecated in version 0.1.0 and will be "
            "removed in 0.2.0. Use sktorchcw.frame_balanced_accuracy_scorer instead (a "
            "scorer (net, X, y) for skorch's EpochScoring; to score predicted labels use "
            "sktorchcw.events.frame_balanced_accuracy_score).", FutureWarning)
        return frame_balanced_accuracy_scorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ClassWeightedLoss",
    "FocalLoss",
    "FrameStream",
    "LSTMBlinkClassifier",
    "LSTMBlinkTagger",
    "GRUFrameLogits",
    "GRULogits",
    "LSTMFrameLogits",
    "LSTMLogits",
    "TrainingDivergedError",
    "DivergenceWarning",
    "criterion_formats",
    "effective_number_weights",
    "export_onnx",
    "frame_balanced_accuracy_scorer",
    "load",
    "resolve_class_weight",
    "__version__",
]
