"""ONNX export of a fitted estimator: the whole prediction (standardisation, the network
over ragged sequences, softmax or sigmoid and the prior correction) as one graph that
onnxruntime, or any ONNX runtime, runs without Python or torch.

The built-in networks (``module='lstm'`` and ``'gru'``) are written node by node with
:mod:`onnx.helper` rather than traced by ``torch.onnx``: ONNX's own ``LSTM`` and ``GRU``
operators take each sequence's length (``sequence_lens``) and start the backward
direction at each sequence's last valid frame, which is what the packed networks of the
estimators compute and what a trace of ``pack_padded_sequence`` cannot express.

A network of the user's own (``module=MyNet``) is traced by ``torch.onnx.export`` with
the TorchScript-based exporter (``dynamo=False``: the dynamo exporter needs the package
``onnxscript``, which sktorchcw does not depend on), wrapped as the estimators run it
(standardisation, missing-frame fill and zeroed padding in the graph); the same last
nodes as the built-in graphs' (prior correction, softmax or sigmoid) are then appended.
"""

import copy
import io
import json
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._estimator import SequenceEstimator
from ._module import LSTMFrameLogits
from ._stream import require_forward_with_state
from ._user_module import UserNetwork

__all__ = ["export_onnx", "DEFAULT_OPSET", "MIN_OPSET", "STATE_INPUTS", "STATE_OUTPUTS"]

#: The opset written when none is asked for: run by onnxruntime 1.12 and later.
DEFAULT_OPSET = 17
#: The oldest opset whose operators (Softmax on the last axis, Reshape...) the graph uses.
MIN_OPSET = 13
#: A stateful built-in graph's inputs and outputs of the recurrent state, each
#: (num_layers, N, H): an LSTM's h and c; a GRU's h alone (the first of each).
STATE_INPUTS = ("state_h", "state_c")
STATE_OUTPUTS = ("next_state_h", "next_state_c")


@dataclass(frozen=True)
class _RecurrentOperator:
    """How a torch recurrent layer maps onto its ONNX operator: the operator, ONNX's gate
    order as indices into torch's stacking of the gates, the states it carries (h, and
    an LSTM's c) and its further attributes."""

    op_type: str
    gate_order: tuple[int, ...]
    n_states: int
    attributes: dict = field(default_factory=dict)


_OPERATORS = {
    # PyTorch stacks an LSTM's gates as input, forget, cell, output; ONNX as input, output,
    # forget, cell.
    "LSTM": _RecurrentOperator("LSTM", (0, 3, 1, 2), 2),
    # PyTorch stacks a GRU's as reset, update, new; ONNX as update (z), reset (r), hidden
    # (h). PyTorch applies the reset gate to the recurrent layer's output, bias included:
    # ONNX's linear_before_reset=1.
    "GRU": _RecurrentOperator("GRU", (1, 0, 2), 1, {"linear_before_reset": 1}),
}

# A user module is traced on this many recordings of this many frames, and the graph is
# checked on other sizes (see _check_the_trace_generalises).
_TRACE_SHAPE = (2, 16)
_CHECK_SHAPE = (3, 23)


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
        For what ONNX's LSTM cannot compute (``module__proj_size``), ``stateful=True``
        with a bidirectional model, an opset out of range, classes that JSON cannot
        hold, or a prior correction that ``predict_proba`` refuses too. For your own
        network: what ``torch.onnx`` cannot export (an operator without an ONNX
        equivalent...), a trace that does not hold for other batch sizes, and with
        ``stateful=True`` a network without ``forward_with_state`` or a state the graph
        cannot carry; each message names the network, the cause and the fix.

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


def _outputs_of(module):
    """The network's logits per recording or frame, and whether they are per frame."""
    if isinstance(module, UserNetwork):
        return module.n_outputs, module.per_frame
    return module.head.out_features, isinstance(module, LSTMFrameLogits)


# -- the built-in networks, node by node ----------------------------------------------


def _builtin_model(onnx, estimator, module, opset, stateful, log_training_weight):
    rnn = module.rnn
    operator = _OPERATORS[rnn.mode]
    n_outputs, _ = _outputs_of(module)
    state_shape = [rnn.num_layers, "batch", rnn.hidden_size]
    state_inputs = STATE_INPUTS[:operator.n_states] if stateful else ()
    state_outputs = STATE_OUTPUTS[:operator.n_states] if stateful else ()
    graph = _GraphBuilder(onnx)
    _add_sequence_inputs(graph, module)
    for name in state_inputs:
        graph.add_input(name, np.float32, state_shape)
    logits, next_state = _builtin_logits(graph, module, operator, state_inputs or None)
    probabilities = _probabilities(graph, logits, log_training_weight, n_outputs == 1)
    graph.add_output(probabilities, "probabilities", np.float32, _output_shape(module))
    for name, value in zip(state_outputs, next_state or (), strict=True):
        graph.add_output(value, name, np.float32, state_shape)
    metadata = {"module": rnn.mode.lower(), "num_layers": str(rnn.num_layers),
                "hidden_size": str(rnn.hidden_size)}
    metadata.update(_state_metadata(state_inputs, state_outputs,
                                    [state_shape] * len(state_inputs)))
    return graph.model(opset, _metadata(estimator, module, stateful, metadata))


def _add_sequence_inputs(graph, module):
    graph.add_input("x", np.float32, ["batch", "time", module.input_mean.shape[0]])
    graph.add_input("lengths", np.int64, ["batch"])


def _builtin_logits(graph, module, operator, state=None):
    """The nodes from the graph's inputs to the logits, classes last; and, given the
    names of an initial state, the state after each sequence's last valid frame."""
    standardised = graph.node("Div", [graph.node("Sub", [_filled(graph, module), graph.constant(
        module.input_mean)]), graph.constant(module.input_scale)])
    steps_first = graph.node("Transpose", [standardised], perm=[1, 0, 2])  # (T, N, F)
    lengths = graph.node("Cast", ["lengths"], to=graph.onnx.TensorProto.INT32)
    rnn = module.rnn
    outputs, last_states, next_state = _recurrent(graph, rnn, operator, steps_first, lengths,
                                                  state)
    if isinstance(module, LSTMFrameLogits):
        features = _merge_directions(graph, outputs, perm=[2, 0, 1, 3])  # (N, T, D*H)
    else:
        if next_state is not None:
            # The last layer's next state: the output after each row's last frame, and for a
            # row of length 0 the state it came with, so that such a row answers what its
            # previous call answered (ONNX's operator alone would give it zeros: the head's
            # bias).
            last_states = _layer_of(graph, next_state[0], rnn.num_layers - 1)
        features = _merge_directions(graph, last_states, perm=[1, 0, 2])  # (N, D*H)
    logits = graph.node("Add", [
        graph.node("MatMul", [features, graph.constant(module.head.weight.T)]),
        graph.constant(module.head.bias)])
    return logits, next_state


def _probabilities(graph, logits, log_training_weight, single_logit):
    """The nodes from logits (classes last) to the probabilities: the prior correction
    where set, then softmax (a sigmoid for a single logit), as ``predict_proba``."""
    if log_training_weight is not None:
        logits = _prior_corrected(graph, logits, log_training_weight, single_logit)
    return _logits_to_probabilities(graph, logits, single_logit)


def _filled(graph, module):
    """The input ``x``, with every frame that holds a NaN feature replaced by the fitted
    fill values when the model was fitted with ``missing='mask'`` (as the network does)."""
    if not module.fills_missing:
        return "x"
    n_features = module.input_mean.shape[0]
    nan_count = graph.node("MatMul", [  # NaN features per frame, (N, T, 1)
        graph.node("Cast", [graph.node("IsNaN", ["x"])], to=graph.onnx.TensorProto.FLOAT),
        graph.constant(np.ones((n_features, 1)))])
    missing = graph.node("Greater", [nan_count, graph.constant(np.zeros(1))])
    return graph.node("Where", [missing, graph.constant(module.missing_fill), "x"])


def _recurrent(graph, rnn, operator, inputs, lengths, state=None):
    """ONNX LSTM or GRU nodes for every layer of ``rnn``: the last layer's outputs
    ``(T, D, N, H)`` and final hidden states ``(D, N, H)``; and, from an initial state
    (the names of h, and an LSTM's c, each ``(num_layers, N, H)``), the next one."""
    directions = ["", "_reverse"] if rnn.bidirectional else [""]
    outputs = last_states = ""
    finals: list[list[str]] = [[] for _ in range(operator.n_states)]
    for layer in range(rnn.num_layers):
        if layer:
            inputs = _merge_directions(graph, outputs, perm=[0, 2, 1, 3])  # (T, N, D*H)
        suffixes = [f"_l{layer}{direction}" for direction in directions]
        weights = [graph.constant(_stacked(rnn, operator, name, suffixes))
                   for name in ("weight_ih", "weight_hh")]
        bias = graph.constant(_stacked_bias(rnn, operator, suffixes)) if rnn.bias else ""
        initial = [] if state is None else [_layer_of(graph, name, layer) for name in state]
        outputs, *layer_states = graph.node(
            operator.op_type, [inputs, *weights, bias, lengths, *initial],
            outputs=1 + operator.n_states, hidden_size=rnn.hidden_size,
            direction="bidirectional" if rnn.bidirectional else "forward",
            **operator.attributes)
        last_states = layer_states[0]
        for final, value in zip(finals, layer_states, strict=True):
            final.append(value)
    if state is None:
        return outputs, last_states, None
    # ONNX's LSTM and GRU zero the state of a sequence with no frames; keep it as it came
    # instead, so that a batch of live streams can skip the ones without new frames.
    no_frames = graph.node("Reshape", [
        graph.node("Equal", [lengths, graph.constant(np.array(0), dtype=np.int32)]),
        graph.constant(np.array([1, -1, 1]), dtype=np.int64)])
    next_state = tuple(
        graph.node("Where", [no_frames, initial_state, graph.node("Concat", layers, axis=0)])
        for initial_state, layers in zip(state, finals, strict=True))
    return outputs, last_states, next_state


def _layer_of(graph, state, layer):
    """One layer's slice ``(1, N, H)`` of a state ``(num_layers, N, H)``."""
    return graph.node("Slice", [state, *(graph.constant(np.array([index]), dtype=np.int64)
                                         for index in (layer, layer + 1, 0))])


def _onnx_gates(tensor, operator):
    """A torch LSTM or GRU weight or bias (gates stacked on the first axis) in ONNX's gate
    order."""
    order = operator.gate_order
    gates = tensor.detach().cpu().double().numpy().reshape(len(order), -1, *tensor.shape[1:])
    return gates[list(order)].reshape(tensor.shape)


def _stacked(rnn, operator, name, suffixes):
    return np.stack([_onnx_gates(getattr(rnn, name + suffix), operator) for suffix in suffixes])


def _stacked_bias(rnn, operator, suffixes):
    """ONNX's ``B``: per direction, the input biases then the recurrent ones."""
    return np.stack([np.concatenate([_onnx_gates(getattr(rnn, "bias_ih" + suffix), operator),
                                     _onnx_gates(getattr(rnn, "bias_hh" + suffix), operator)])
                     for suffix in suffixes])


def _merge_directions(graph, tensor, perm):
    """Move the directions axis next to the hidden units and join them, forward first
    (as torch concatenates them)."""
    moved = graph.node("Transpose", [tensor], perm=perm)
    keep = [0] * (len(perm) - 2)
    return graph.node("Reshape", [moved, graph.constant(np.array([*keep, -1]),
                                                        dtype=np.int64)])


def _prior_corrected(graph, logits, log_training_weight, single_logit):
    """Logits whose softmax (or sigmoid) is the probabilities divided by the training
    weights and renormalised: each class's log weight subtracted from its logit (for a
    single logit, the positive class's log weight relative to the negative's)."""
    if single_logit:
        shift = log_training_weight[1:] - log_training_weight[:1]
    else:
        shift = log_training_weight
    return graph.node("Sub", [logits, graph.constant(shift)])


def _logits_to_probabilities(graph, logits, single_logit):
    if not single_logit:
        return graph.node("Softmax", [logits], axis=-1)
    positive = graph.node("Sigmoid", [logits])
    negative = graph.node("Sub", [graph.constant(np.ones(1)), positive])
    return graph.node("Concat", [negative, positive], axis=-1)


def _output_shape(module):
    n_outputs, per_frame = _outputs_of(module)
    classes = max(n_outputs, 2)
    if per_frame:
        return ["batch", "time", classes]
    return ["batch", classes]


# -- a user's own network, traced by torch.onnx -----------------------------------------


def _user_model(onnx, estimator, module, opset, stateful, log_training_weight):
    network = copy.deepcopy(module).to("cpu").eval().requires_grad_(False)
    name = type(network.network).__name__
    n_features = int(network.input_mean.shape[0])
    probe = _Probe(network, n_features)
    layout = _state_layout(network, name, probe) if stateful else None
    wrapper = _StatefulLogits(network, layout) if layout else _Logits(network)
    traced, exporter_warnings = _traced(onnx, wrapper, probe, opset, name, layout)
    _check_the_trace_generalises(traced, wrapper, probe, name, exporter_warnings, layout)
    graph = _GraphBuilder(onnx, prefix="sktorchcw_", base=traced.graph)
    probabilities = _probabilities(graph, "logits", log_training_weight,
                                   network.n_outputs == 1)
    graph.add_output(probabilities, "probabilities", np.float32, _output_shape(network))
    graph.outputs.extend(output for output in traced.graph.output if output.name != "logits")
    metadata = {"module": "user", "module_class": name}
    if layout:
        metadata.update(_state_metadata(layout.inputs, layout.outputs, layout.shapes))
    return graph.model(opset, _metadata(estimator, network, stateful, metadata))


def _classes_last(logits, per_frame):
    """Logits in the estimators' loss layout -> classes last: ``(N, C)``, ``(N, T, C)``."""
    if not per_frame:
        return logits.float()
    if logits.dim() == 2:  # one logit per frame
        return logits.unsqueeze(-1).float()
    return logits.transpose(1, 2).float()


class _Logits(nn.Module):
    """The user's network as the estimators run it (missing frames filled, standardised,
    padding zeroed, ``lengths`` passed where its forward takes them), logits with the
    classes last."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, x, lengths):
        return _classes_last(self.network(x, lengths), self.network.per_frame)


@dataclass(frozen=True)
class _StateLayout:
    """A user network's state: whether a tuple (else one tensor), and per tensor its
    batch axis and shape (``"batch"`` at that axis)."""

    is_tuple: bool
    axes: tuple[int, ...]
    shapes: list

    @property
    def inputs(self):
        """The graph's names of the state's tensors."""
        return [f"state_{index}" for index in range(len(self.axes))]

    @property
    def outputs(self):
        return [f"next_{name}" for name in self.inputs]


def _input_names(layout):
    """The traced graph's inputs: ``x``, ``lengths``, and a stateful graph's state."""
    return ["x", "lengths", *(layout.inputs if layout else ())]


class _StatefulLogits(nn.Module):
    """The user's ``forward_with_state`` over whole rows: a row of length ``T`` moves on,
    a row of length 0 keeps its state; any other length gives NaN (the network cannot
    stop a row early). Logits with the classes last, then the next state's tensors."""

    def __init__(self, network, layout):
        super().__init__()
        self.network = network
        self.layout = layout

    def forward(self, x, lengths, *state):
        given = tuple(state) if self.layout.is_tuple else state[0]
        logits, new_state = self.network.forward_with_state(x, given)
        new_state = tuple(new_state) if self.layout.is_tuple else (new_state,)
        moves_on = lengths == x.shape[1]
        keeps = lengths == 0
        nan = torch.tensor(float("nan"))
        logits = _classes_last(logits, self.network.per_frame)
        logits = torch.where(_along(moves_on, logits.dim(), 0), logits, nan)
        next_state = tuple(
            torch.where(_along(keeps, old.dim(), axis), old,
                        torch.where(_along(moves_on, new.dim(), axis), new, nan))
            for old, new, axis in zip(state, new_state, self.layout.axes, strict=True))
        return (logits, *next_state)


def _along(mask, ndim, axis):
    """A per-row mask ``(N,)`` shaped to broadcast along ``axis`` of an ``ndim`` tensor."""
    return mask.reshape([-1 if dim == axis else 1 for dim in range(ndim)])


class _Probe:
    """Example inputs for a user network: frames drawn around the training statistics,
    the same on every export (a generator of its own; the global random state is left
    alone)."""

    def __init__(self, network, n_features):
        self.mean, self.scale = network.input_mean, network.input_scale
        self.n_features = n_features
        self.generator = torch.Generator().manual_seed(0)

    def frames(self, n, t):
        noise = torch.randn(n, t, self.n_features, generator=self.generator)
        return self.mean + self.scale * noise

    def lengths(self, n, t, ragged):
        if not ragged or n < 2:
            return torch.full((n,), t, dtype=torch.int64)
        return torch.linspace(t, max(1, t // 3), n).round().to(torch.int64)


def _flat_state(state, name):
    """A state as a list of tensors, and whether it was a tuple (or list)."""
    if isinstance(state, torch.Tensor):
        return [state], False
    if isinstance(state, (tuple, list)) and state and all(
            isinstance(item, torch.Tensor) for item in state):
        return list(state), True
    raise ValueError(
        f"{name} cannot be exported with stateful=True: its forward_with_state returned a "
        f"state of type {type(state).__name__}; the graph carries a tensor or a tuple of "
        "tensors. Return the state as one, or export with stateful=False."
    )


def _state_layout(network, name, probe):
    """How ``network.forward_with_state`` lays out its state, found by calling it on
    batches of 2 and 3 recordings, and of two lengths; a ValueError, with the cause and
    the fix, for a state that a graph cannot carry."""
    def refuse(cause):
        return f"{name} cannot be exported with stateful=True: {cause}"

    with torch.no_grad():
        x = probe.frames(2, 5)
        logits, state = network.forward_with_state(x, None)
        pairs, is_tuple = _flat_state(state, name)
        more = _flat_state(network.forward_with_state(probe.frames(3, 5), None)[1], name)[0]
        longer = _flat_state(network.forward_with_state(probe.frames(2, 7), None)[1], name)[0]
        if not len(pairs) == len(more) == len(longer):
            raise ValueError(refuse("its state holds a different number of tensors for "
                                    "other batches."))
        axes, shapes = [], []
        for index, (two, three, seven) in enumerate(zip(pairs, more, longer, strict=True)):
            if two.dtype != torch.float32:
                raise ValueError(refuse(f"state tensor {index} is {two.dtype}; the graph's "
                                        "state inputs are float32. Keep the state in float32."))
            if two.shape != seven.shape:
                raise ValueError(refuse(
                    f"the shape of state tensor {index} depends on the chunk's length "
                    f"({tuple(two.shape)} after 5 frames, {tuple(seven.shape)} after 7). "
                    "Keep a state of fixed size (such as an RNN's hidden state, or the last "
                    "frames a causal convolution needs)."))
            changed = [axis for axis, (a, b) in enumerate(zip(two.shape, three.shape,
                                                                strict=True)) if a != b]
            if len(changed) != 1 or two.shape[changed[0]] != 2:
                raise ValueError(refuse(
                    f"state tensor {index} does not hold the batch on one axis (shapes "
                    f"{tuple(two.shape)} and {tuple(three.shape)} for 2 and 3 recordings). "
                    "Keep one row of state per recording."))
            axes.append(changed[0])
            shapes.append(["batch" if axis == changed[0] else int(size)
                           for axis, size in enumerate(two.shape)])
        zeros = [torch.zeros_like(tensor) for tensor in pairs]
        from_zeros = network.forward_with_state(x, tuple(zeros) if is_tuple else zeros[0])
        same = torch.allclose(from_zeros[0], logits, atol=1e-6) and all(
            torch.allclose(a, b, atol=1e-6)
            for a, b in zip(_flat_state(from_zeros[1], name)[0], pairs, strict=True))
        if not same:
            raise ValueError(refuse(
                "forward_with_state(x, state) from a zero state gives other logits or states "
                "than from None, and the graph starts each recording from zeros (it has no "
                "None). Make a zero state mean 'a new recording', or export with "
                "stateful=False."))
    return _StateLayout(is_tuple, tuple(axes), shapes)


def _example(probe, layout, n, t, state=None):
    """Inputs for the wrapper: ``x``, ``lengths`` (ragged unless stateful) and, when
    stateful (given the state's layout), the state (zeros unless given)."""
    x = probe.frames(n, t)
    lengths = probe.lengths(n, t, ragged=layout is None)
    if layout is None:
        return (x, lengths)
    if state is None:
        state = [torch.zeros([n if size == "batch" else size for size in shape])
                 for shape in layout.shapes]
    return (x, lengths, *state)


def _traced(onnx, wrapper, probe, opset, name, layout):
    """The wrapper as an ONNX model traced by torch.onnx (outputs ``logits`` and the next
    state), with the messages of the tracer's warnings; a ValueError naming the network
    and the cause when torch.onnx cannot export it."""
    inputs = _example(probe, layout, *_TRACE_SHAPE)
    dynamic_axes = {"x": {0: "batch", 1: "time"}, "lengths": {0: "batch"}}
    dynamic_axes["logits"] = {0: "batch", 1: "time"} if wrapper.network.per_frame else {
        0: "batch"}
    if layout:
        for names in (layout.inputs, layout.outputs):
            for state, axis in zip(names, layout.axes, strict=True):
                dynamic_axes[state] = {axis: "batch"}
    buffer = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # The TorchScript-based exporter writes to a file object too, which its type
            # hints (those of the dynamo exporter) do not say.
            torch.onnx.export(wrapper, inputs, buffer,  # type: ignore[arg-type]
                              dynamo=False, opset_version=opset,
                              input_names=_input_names(layout),
                              output_names=["logits", *(layout.outputs if layout else ())],
                              dynamic_axes=dynamic_axes)
        except Exception as error:
            cause = (str(error).strip().splitlines() or [""])[0].rstrip(".")
            raise ValueError(
                f"{name} cannot be exported to ONNX: torch.onnx.export (the TorchScript-based "
                f"exporter) failed with {type(error).__name__}: {cause}. Use operators that "
                "ONNX has (the message names the one missing), or deploy with "
                "sktorchcw.load and predict_proba in Python."
            ) from error
    exporter_warnings = []
    for warning in caught:
        if _is_the_deprecation_notice(warning):
            continue
        if _from_the_exporter(warning):
            exporter_warnings.append(warning)
        else:  # the user's own, or torch's about the network itself
            _warn_again(warning)
    return onnx.load_model_from_string(buffer.getvalue()), exporter_warnings


def _is_the_deprecation_notice(warning):
    """torch.onnx's notice that its TorchScript-based exporter is deprecated, said on
    every export (the choice is documented in the module's docstring)."""
    return (issubclass(warning.category, (DeprecationWarning, FutureWarning))
            and _from_the_exporter(warning))


def _from_the_exporter(warning):
    """A warning of the tracer or of torch.onnx: about the trace, which the comparison
    with the network checks."""
    if issubclass(warning.category, torch.jit.TracerWarning):
        return True
    return (os.path.dirname(torch.onnx.__file__) in os.path.abspath(warning.filename)
            or "TorchScript-based ONNX export" in str(warning.message))


def _warn_again(warning):
    warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _check_the_trace_generalises(traced, wrapper, probe, name, exporter_warnings, layout):
    """Run the traced graph on batches of other sizes (and, stateful, from a state the
    network left) and compare its logits and states with the network's; a ValueError
    when they differ, quoting the tracer's and torch.onnx's warnings, which are dropped
    when they agree. Without onnxruntime the warnings are passed on instead."""
    try:
        import onnxruntime
    except ImportError:
        for warning in exporter_warnings:
            _warn_again(warning)
        return
    session = onnxruntime.InferenceSession(traced.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    names = {item.name for item in session.get_inputs()}
    n, t = _CHECK_SHAPE
    with torch.no_grad():
        inputs = _example(probe, layout, n, t)
        checks = [inputs]
        if layout:
            left = wrapper(*inputs)[1:]
            checks.append(_example(probe, layout, n, t - 9, state=list(left)))
        for inputs in checks:
            expected = [value.numpy() for value in _as_tuple(wrapper(*inputs))]
            feeds = {item: value.numpy() for item, value in zip(_input_names(layout), inputs,
                                                                 strict=True) if item in names}
            got = session.run(None, feeds)
            if all(a.shape == b.shape and np.allclose(a, b, atol=1e-4, rtol=1e-4)
                   for a, b in zip(got, expected, strict=True)):
                continue
            seen = "; ".join(dict.fromkeys(str(warning.message).strip()
                                           for warning in exporter_warnings)) or "none"
            raise ValueError(
                f"{name} cannot be exported to ONNX: the graph traced from it on "
                f"{_TRACE_SHAPE[0]} recordings of {_TRACE_SHAPE[1]} frames gives other "
                f"results than {name} itself on {n} recordings of {inputs[0].shape[1]} "
                "frames. A trace keeps the operations of one call, so Python that depends "
                "on sizes or values (int(...), .item(), an if or a loop over them) is "
                "frozen at the example's. Write forward with tensor operations only "
                "(torch.where, masks from lengths), or deploy with sktorchcw.load and "
                f"predict_proba in Python. The exporter's warnings: {seen}"
            )


def _as_tuple(values):
    return values if isinstance(values, tuple) else (values,)


# -- what every graph shares -------------------------------------------------------------


def _state_metadata(inputs, outputs, shapes):
    if not inputs:
        return {}
    return {"state_inputs": json.dumps(list(inputs)), "state_outputs": json.dumps(list(outputs)),
            "state_shapes": json.dumps([list(shape) for shape in shapes])}


def _metadata(estimator, module, stateful, network_metadata):
    from . import __version__

    classes = estimator.classes_.tolist()
    try:
        classes_json = json.dumps(classes)
    except TypeError:
        raise ValueError(
            f"classes_ {classes!r} cannot be stored as JSON in the model's metadata; fit with "
            "labels that are numbers, strings or booleans."
        ) from None
    return {
        "classes": classes_json,
        "estimator": type(estimator).__name__,
        "n_features": str(module.input_mean.shape[0]),
        "input_layout": estimator.input_layout_,
        "prior_correction": json.dumps(bool(estimator.prior_correction)),
        "stateful": json.dumps(bool(stateful)),
        "missing": estimator.missing,
        **network_metadata,
        "sktorchcw_version": __version__,
    }


class _GraphBuilder:
    """Collects inputs, nodes, constants and outputs under unique names and makes the
    model; from an empty graph, or continuing ``base`` (a graph traced by torch.onnx,
    whose inputs, nodes and weights it keeps; ``prefix`` keeps the names apart)."""

    def __init__(self, onnx, prefix="", base=None):
        self.onnx = onnx
        self.prefix = prefix
        self.inputs, self.nodes, self.initializers, self.outputs = [], [], [], []
        self.value_info = []
        if base is not None:
            self.inputs.extend(base.input)
            self.nodes.extend(base.node)
            self.initializers.extend(base.initializer)
            self.value_info.extend(base.value_info)

    def add_input(self, name, dtype, shape):
        self.inputs.append(self._value_info(name, dtype, shape))

    def add_output(self, value, name, dtype, shape):
        """Expose the graph value ``value`` as the output ``name``."""
        self.nodes.append(self.onnx.helper.make_node("Identity", [value], [name],
                                                     name=f"{self.prefix}output_{name}"))
        self.outputs.append(self._value_info(name, dtype, shape))

    def _value_info(self, name, dtype, shape):
        element_type = self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        return self.onnx.helper.make_tensor_value_info(name, element_type, shape)

    def constant(self, values, dtype=np.float32):
        name = f"{self.prefix}const_{len(self.initializers)}"
        if hasattr(values, "detach"):
            values = values.detach().cpu().double().numpy()
        array = np.asarray(values, dtype=dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name=name))
        return name

    def node(self, op_type, inputs, outputs=1, **attributes):
        node_name = f"{self.prefix}{op_type}_{len(self.nodes)}"
        names = [f"{node_name}_out{i}" for i in range(outputs)]
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, names, name=node_name,
                                                     **attributes))
        return names[0] if outputs == 1 else names

    def model(self, opset, metadata):
        helper = self.onnx.helper
        graph = helper.make_graph(self.nodes, "sktorchcw_predict_proba", self.inputs,
                                  self.outputs, initializer=self.initializers,
                                  value_info=self.value_info)
        opsets = [helper.make_opsetid("", opset)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="sktorchcw",
                                  ir_version=helper.find_min_ir_version_for(opsets))
        helper.set_model_props(model, metadata)
        return model
