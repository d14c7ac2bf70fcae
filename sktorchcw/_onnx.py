"""ONNX export of a fitted estimator: the whole prediction (standardisation, the network
over ragged sequences, softmax or sigmoid and the prior correction) as one graph that
onnxruntime, or any ONNX runtime, runs without Python or torch.

Three modules, data flowing one way: this one holds the entry point :func:`export_onnx`
and the checks of its arguments, and picks the graph for the network;
:mod:`._onnx_recurrent` writes the built-in networks' graphs and :mod:`._onnx_user`
traces a user's own network; both end with the nodes, and carry the metadata, of
:mod:`._onnx_graph`.
"""

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._estimator import SequenceEstimator
from ._onnx_recurrent import STATE_INPUTS, STATE_OUTPUTS, _builtin_model
from ._onnx_user import _user_model
from ._recording_scaling import refuse_onnx_export
from ._stream import require_forward_with_state
from ._user_module import UserNetwork

__all__ = ["export_onnx", "DEFAULT_OPSET", "MIN_OPSET", "STATE_INPUTS", "STATE_OUTPUTS"]

#: The opset written when none is asked for: run by onnxruntime 1.12 and later.
DEFAULT_OPSET = 17
#: The oldest opset whose operators (Softmax on the last axis, Reshape...) the graph uses.
MIN_OPSET = 13


def export_onnx(estimator, path, *, opset=None, stateful=False):
    """Write a fitted estimator's ``predict_proba`` as an ONNX model.

    The graph takes ``x``, float32 of shape ``(N, T, F)``, and ``lengths``, int64 of
    shape ``(N,)`` (each sequence's valid frames, 1 to ``T``; ``T`` for all when the
    sequences have one length); ``N`` and ``T`` may change from call to call. Its
    output ``probabilities`` (float32) are in ``classes_`` order: ``(N, C)`` for an
    :class:`LSTMBlinkClassifier`, ``(N, T, C)`` for an :class:`LSTMBlinkTagger`.
    Standardisation, the network, the softmax (a sigmoid for a single logit) and the
    prior correction (where ``prior_correction=True``) are all in the graph, so its
    probabilities equal ``predict_proba``'s (to float32 precision).

    Every network exports, with the same inputs, output and metadata:

    - ``module='lstm'`` (the default) and ``module='gru'``: ONNX's ``LSTM`` or ``GRU``
      operator (uni- or bidirectional, any number of layers; frames past a sequence's
      length never enter it, and the backward direction starts at each sequence's last
      valid frame). The tagger's frames past a sequence's length hold the
      probabilities of a zero recurrent output (the head's bias alone): padding, to be
      ignored as ``predict_proba`` of a list leaves it out.
    - ``module=MyNet``, a network of your own: traced by ``torch.onnx.export`` (the
      TorchScript-based exporter, ``dynamo=False``, which needs no further package),
      wrapped as the estimator runs it, so the standardisation, the missing-frame fill
      and the zeroing of each sequence's padding are in the graph, and ``lengths``
      reaches your ``forward`` when it takes them (as in ``fit`` and ``predict``). A
      trace records what ``forward`` did on one example batch: when ``onnxruntime``
      is installed, the graph is then run on a batch of another size and compared
      with the network, and refused where they differ (Python control flow over
      sizes or values, ``.item()``, ``int(...)``).

    With ``stateful=True`` the graph continues from a recurrent state, so a live
    recording can be fed chunk by chunk in any ONNX runtime, as
    :meth:`LSTMBlinkTagger.stream` does in Python. The state's inputs and outputs are
    named in the metadata: ``state_inputs``, ``state_outputs`` and ``state_shapes``
    (JSON lists; ``"batch"`` stands for ``N`` in a shape: start a recording from
    zeros of those shapes, and pass each call's outputs to the next call).

    - Built-in networks (unidirectional only): the inputs ``state_h`` and ``state_c``
      (a GRU: ``state_h`` alone), float32 ``(num_layers, N, hidden_size)``, and the
      outputs ``next_state_h`` and ``next_state_c`` (``next_state_h``), the state after
      each sequence's last valid frame. A sequence of length 0 keeps its state, so one
      batch can carry several streams, some without new frames (``T`` must still be at
      least 1: pad such a batch to one frame). A classifier's row of length 0 gets the
      probabilities of the state it came with: the same as that row's previous call,
      the probabilities of everything seen so far; before any frame (a zero state) the
      head applied to zeros, i.e. the probabilities of the head's bias alone
      (prior-corrected where ``prior_correction=True``), the graph's answer for
      "nothing seen yet".
    - Your own network needs ``forward_with_state(x, state) -> (logits, state)``
      (``state`` None for a new recording; a tensor or a tuple of tensors, each with
      the batch on one axis and a shape that does not depend on ``T``;
      ``forward_with_state`` from a zero state must equal it from None). The inputs are
      ``state_0``, ``state_1``... and the outputs ``next_state_0``... in the order of
      the tuple. It reads whole rows: each row's length must be ``T`` (new frames) or
      0 (no new frames: the row keeps its state, and its probabilities are NaN); a row
      of any other length gets NaN probabilities and a NaN state.

    Fed in chunks this way, the probabilities equal ``predict_proba`` of the whole
    recording.

    Never send an empty batch (``N = 0``): onnxruntime's LSTM kills the process on one
    (measured with onnxruntime 1.32: a segmentation fault or an abort, nothing Python can
    catch). Nor a call without frames (``T = 0``): the tagger's graph fails on it. Skip
    the call instead; the streams keep their states.

    The model's metadata (``metadata_props``) holds ``classes`` (``classes_`` as a
    JSON list), ``estimator``, ``n_features``, ``input_layout``, ``prior_correction``,
    ``stateful``, ``missing``, ``module`` (``'lstm'``, ``'gru'`` or ``'user'``; for
    your own network ``module_class``, its class's name; for a built-in one
    ``num_layers`` and ``hidden_size``), the state's names and shapes when stateful,
    and ``sktorchcw_version``. A model fitted on 2-D X (one feature, ``input_layout``
    ``'columns'``) takes ``x`` of shape ``(N, T, 1)``.

    Parameters
    ----------
    estimator : LSTMBlinkClassifier or LSTMBlinkTagger
        Fitted, on any device.
    path : str, path-like or binary file object
        Where to write the model (conventionally ``*.onnx``).
    opset : int, default=None
        The ONNX opset of the graph, from 13 to the newest the installed ``onnx``
        knows (for your own network, also the newest ``torch.onnx`` writes: 20 in
        torch 2.13); None writes 17, which onnxruntime 1.12 and later run.
    stateful : bool, default=False
        Add the recurrent state as inputs and outputs, for streaming (see above).

    Raises
    ------
    ImportError
        When the optional dependency ``onnx`` is missing (``pip install
        "sktorchcw[onnx]"``).
    sklearn.exceptions.NotFittedError
        For an estimator that is not fitted.
    TypeError
        For anything but an LSTMBlinkClassifier or LSTMBlinkTagger.
    ValueError
        For what ONNX's LSTM cannot compute (``module__proj_size``), a model fitted
        with ``standardize='recording'`` or ``'recording_center'`` (a recording's
        median is not in the frames a graph is fed; predict in Python, or stream with
        the recording's median), ``stateful=True`` with a bidirectional model, an
        opset out of range, classes that JSON cannot hold, or a prior correction that
        ``predict_proba`` refuses too. For your own network: what ``torch.onnx``
        cannot export (an operator without an ONNX equivalent...), a trace that does
        not hold for other batch sizes, and with ``stateful=True`` a network without
        ``forward_with_state`` or a state the graph cannot carry; each message names
        the network, the cause and the fix.

    See Also
    --------
    LSTMBlinkClassifier.save : a model file for sktorchcw itself.
    LSTMBlinkTagger.stream : frame-by-frame probabilities in Python.

    Examples
    --------
    >>> import json, os, tempfile
    >>> import numpy as np
    >>> import onnxruntime
    >>> import sktorchcw
    >>> from sktorchcw.datasets import make_blink_dataset
    >>> X, y = make_blink_dataset(60, seq_len=20, prevalence=0.2, random_state=0)
    >>> clf = sktorchcw.LSTMBlinkClassifier(max_epochs=2, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "blinks.onnx")
    >>> sktorchcw.export_onnx(clf, path)
    >>> session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    >>> lengths = np.full(len(X), X.shape[1], dtype=np.int64)
    >>> (proba,) = session.run(["probabilities"], {"x": X, "lengths": lengths})
    >>> bool(np.allclose(proba, clf.predict_proba(X), atol=1e-5))
    True
    >>> session.get_modelmeta().custom_metadata_map["classes"]
    '[0, 1]'

    A stateful graph, fed one window in two chunks:

    >>> sktorchcw.export_onnx(clf, path, stateful=True)
    >>> session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    >>> state = np.zeros((1, 1, clf.hidden_size), dtype=np.float32)  # (layers, N, hidden)
    >>> h, c = state, state
    >>> for chunk in (X[:1, :12], X[:1, 12:]):
    ...     proba, h, c = session.run(None, {"x": chunk, "lengths": np.array([len(chunk[0])]),
    ...                                      "state_h": h, "state_c": c})
    >>> bool(np.allclose(proba, clf.predict_proba(X[:1]), atol=1e-5))
    True

    The same recipe for any stateful graph, from its metadata:

    >>> meta = session.get_modelmeta().custom_metadata_map
    >>> names, shapes = json.loads(meta["state_inputs"]), json.loads(meta["state_shapes"])
    >>> names, shapes
    (['state_h', 'state_c'], [[1, 'batch', 32], [1, 'batch', 32]])
    >>> state = {name: np.zeros([1 if size == "batch" else size for size in shape],
    ...                         dtype=np.float32) for name, shape in zip(names, shapes)}
    """
    onnx = _import_onnx()
    module = _fitted_module(estimator)
    refuse_onnx_export(estimator)  # standardize='recording': no median in a graph
    _check_stateful(stateful, module)
    opset = _check_opset(opset, onnx, module)
    log_training_weight = _log_training_weight(estimator)
    if isinstance(module, UserNetwork):
        model = _user_model(onnx, estimator, module, opset, stateful, log_training_weight)
    else:
        model = _builtin_model(onnx, estimator, module, opset, stateful, log_training_weight)
    onnx.checker.check_model(model)
    onnx.save_model(model, path)


def _import_onnx():
    try:
        import onnx
    except ImportError as error:
        raise ImportError(
            "export_onnx needs the optional dependency onnx: pip install \"sktorchcw[onnx]\" "
            "(which also installs onnxruntime to run the exported model)."
        ) from error
    return onnx


def _fitted_module(estimator):
    if not isinstance(estimator, SequenceEstimator):
        raise TypeError(
            f"export_onnx exports an LSTMBlinkClassifier or LSTMBlinkTagger, not "
            f"{type(estimator).__name__}. For a search such as GridSearchCV, export its "
            "best_estimator_; for a Pipeline, its last step (and apply the steps before it "
            "yourself)."
        )
    check_is_fitted(estimator)
    module = estimator.module_
    if isinstance(module, UserNetwork):
        return module
    proj_size = getattr(module.rnn, "proj_size", 0)
    if proj_size:
        raise ValueError(
            f"module__proj_size={proj_size} cannot be exported: ONNX's LSTM has "
            "no projection. Fit with module__proj_size=0 (the default) to export."
        )
    return module


def _check_stateful(stateful, module):
    if not isinstance(stateful, (bool, np.bool_)):
        raise TypeError(f"stateful must be True or False, got {stateful!r}.")
    if not stateful:
        return
    if isinstance(module, UserNetwork):
        require_forward_with_state(module, "export_onnx(..., stateful=True)",
                                   otherwise="export with stateful=False and run whole "
                                             "sequences")
    elif module.rnn.bidirectional:
        raise ValueError(
            "stateful=True needs a unidirectional model, but this one is bidirectional: its "
            "backward direction reads each sequence from its end, so a chunk's outputs "
            "depend on frames not yet seen. Fit with bidirectional=False to stream, or "
            "export with stateful=False and run whole sequences."
        )


def _check_opset(opset, onnx, module):
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        return min(DEFAULT_OPSET, newest)
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset must be an int, got {type(opset).__name__}.")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"opset={opset} is out of range: the graph needs opset {MIN_OPSET} or newer, and "
            f"the installed onnx {onnx.__version__} knows opsets up to {newest}. Leave "
            f"opset=None for {DEFAULT_OPSET}."
        )
    traced_newest = _torch_onnx_newest_opset()
    if isinstance(module, UserNetwork) and traced_newest is not None and opset > traced_newest:
        raise ValueError(
            f"opset={opset} is out of range for your own network: torch.onnx's TorchScript "
            f"exporter, which traces it, writes opsets up to {traced_newest} in torch "
            f"{torch.__version__}. Leave opset=None for {DEFAULT_OPSET}."
        )
    return int(opset)


def _torch_onnx_newest_opset():
    from torch.onnx import _constants  # private: read with care

    return getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", None)


def _log_training_weight(estimator):
    """log(training weight) per class where ``prior_correction`` is set, else None."""
    if not estimator.prior_correction:
        return None
    estimator._check_prior_correction()
    return np.log(np.asarray(estimator.training_weight_, dtype=np.float64))
