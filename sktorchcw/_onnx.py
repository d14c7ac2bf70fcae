"""ONNX export of a fitted estimator: the whole prediction (standardisation, the LSTM over
ragged sequences, the linear head, softmax or sigmoid and the prior correction) as one
graph that onnxruntime, or any ONNX runtime, runs without Python or torch.

The graph is written node by node with :mod:`onnx.helper` rather than traced by
``torch.onnx``: ONNX's own ``LSTM`` operator takes each sequence's length
(``sequence_lens``) and starts the backward direction at each sequence's last valid
frame, which is what the packed LSTM of the estimators computes and what a trace of
``pack_padded_sequence`` cannot express.
"""

import json

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._estimator import SequenceEstimator
from ._module import LSTMFrameLogits

__all__ = ["export_onnx", "DEFAULT_OPSET", "MIN_OPSET", "STATE_INPUTS", "STATE_OUTPUTS"]

#: The opset written when none is asked for: run by onnxruntime 1.12 and later.
DEFAULT_OPSET = 17
#: The oldest opset whose operators (Softmax on the last axis, Reshape...) the graph uses.
MIN_OPSET = 13
#: A stateful graph's inputs and outputs of the LSTM state, each (num_layers, N, H).
STATE_INPUTS = ("state_h", "state_c")
STATE_OUTPUTS = ("next_state_h", "next_state_c")
# PyTorch stacks an LSTM's gate weights in the order input, forget, cell, output;
# ONNX in the order input, output, forget, cell.
_ONNX_GATE_ORDER = (0, 3, 1, 2)


def export_onnx(estimator, path, *, opset=None, stateful=False):
    """Write a fitted estimator's ``predict_proba`` as an ONNX model.

    The graph takes ``x``, float32 of shape ``(N, T, F)``, and ``lengths``, int64 of
    shape ``(N,)`` (each sequence's valid frames, 1 to ``T``; ``T`` for all when the
    sequences have one length); ``N`` and ``T`` may change from call to call. Its
    output ``probabilities`` (float32) are in ``classes_`` order: ``(N, C)`` for an
    :class:`LSTMBlinkClassifier`, ``(N, T, C)`` for an :class:`LSTMBlinkTagger`.
    Standardisation, the LSTM (uni- or bidirectional, any number of layers; frames
    past a sequence's length never enter it, and the backward direction starts at each
    sequence's last valid frame), the softmax (a sigmoid for a single logit) and the
    prior correction (where ``prior_correction=True``) are all in the graph, so its
    probabilities equal ``predict_proba``'s (to float32 precision). The tagger's
    frames past a sequence's length hold the probabilities of a zero LSTM output
    (the head's bias alone): padding, to be ignored as ``predict_proba`` of a list
    leaves it out.

    With ``stateful=True`` (unidirectional models only) the graph continues from an
    LSTM state, so a live recording can be fed chunk by chunk in any ONNX runtime, as
    :meth:`LSTMBlinkTagger.stream` does in Python: the inputs ``state_h`` and
    ``state_c``, float32 ``(num_layers, N, hidden_size)`` (zeros for a new recording),
    and the outputs ``next_state_h`` and ``next_state_c``, the state after each
    sequence's last valid frame, to pass to the next call. Fed in chunks this way, the
    probabilities equal ``predict_proba`` of the whole recording. A sequence of length
    0 keeps its state, so one batch can carry several streams, some without new frames
    (``T`` must still be at least 1: pad such a batch to one frame). A classifier's row
    of length 0 gets the probabilities of the state it came with: the same as that
    row's previous call, the probabilities of everything seen so far; before any frame
    (a zero state) the head applied to zeros, i.e. the probabilities of the head's bias
    alone (prior-corrected where ``prior_correction=True``), the graph's answer for
    "nothing seen yet".

    Never send an empty batch (``N = 0``): onnxruntime's LSTM kills the process on one
    (measured with onnxruntime 1.32: a segmentation fault or an abort, nothing Python can
    catch). Nor a call without frames (``T = 0``): the tagger's graph fails on it. Skip
    the call instead; the streams keep their states.

    The model's metadata (``metadata_props``) holds ``classes`` (``classes_`` as a
    JSON list), ``estimator``, ``n_features``, ``input_layout``, ``prior_correction``,
    ``stateful``, ``num_layers``, ``hidden_size`` and ``sktorchcw_version``. A model
    fitted on 2-D X (one feature, ``input_layout`` ``'columns'``) takes ``x`` of shape
    ``(N, T, 1)``.

    Parameters
    ----------
    estimator : LSTMBlinkClassifier or LSTMBlinkTagger
        Fitted, on any device.
    path : str, path-like or binary file object
        Where to write the model (conventionally ``*.onnx``).
    opset : int, default=None
        The ONNX opset of the graph, from 13 to the newest the installed ``onnx``
        knows; None writes 17, which onnxruntime 1.12 and later run.
    stateful : bool, default=False
        Add the LSTM state as inputs and outputs, for streaming (see above).

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
        hold, or a prior correction that ``predict_proba`` refuses too.

    See Also
    --------
    LSTMBlinkClassifier.save : a model file for sktorchcw itself.
    LSTMBlinkTagger.stream : frame-by-frame probabilities in Python.

    Examples
    --------
    >>> import os, tempfile
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
    """
    onnx = _import_onnx()
    module = _fitted_module(estimator)
    _check_stateful(stateful, module)
    opset = _check_opset(opset, onnx)
    graph = _GraphBuilder(onnx)
    graph.add_input("x", np.float32, ["batch", "time", module.input_mean.shape[0]])
    graph.add_input("lengths", np.int64, ["batch"])
    state_shape = [module.lstm.num_layers, "batch", module.lstm.hidden_size]
    if stateful:
        for name in STATE_INPUTS:
            graph.add_input(name, np.float32, state_shape)
    probabilities, next_state = _probabilities(graph, module, _log_training_weight(estimator),
                                               STATE_INPUTS if stateful else None)
    graph.add_output(probabilities, "probabilities", np.float32, _output_shape(module))
    if stateful:
        for name, value in zip(STATE_OUTPUTS, next_state, strict=True):
            graph.add_output(value, name, np.float32, state_shape)
    model = graph.model(opset, _metadata(estimator, module, stateful))
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
    if module.lstm.proj_size:
        raise ValueError(
            f"module__proj_size={module.lstm.proj_size} cannot be exported: ONNX's LSTM has "
            "no projection. Fit with module__proj_size=0 (the default) to export."
        )
    return module


def _check_stateful(stateful, module):
    if not isinstance(stateful, (bool, np.bool_)):
        raise TypeError(f"stateful must be True or False, got {stateful!r}.")
    if stateful and module.lstm.bidirectional:
        raise ValueError(
            "stateful=True needs a unidirectional model, but this one is bidirectional: its "
            "backward direction reads each sequence from its end, so a chunk's outputs "
            "depend on frames not yet seen. Fit with bidirectional=False to stream, or "
            "export with stateful=False and run whole sequences."
        )


def _check_opset(opset, onnx):
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
    return int(opset)


def _log_training_weight(estimator):
    """log(training weight) per class where ``prior_correction`` is set, else None."""
    if not estimator.prior_correction:
        return None
    estimator._check_prior_correction()
    return np.log(np.asarray(estimator.training_weight_, dtype=np.float64))


def _probabilities(graph, module, log_training_weight, state=None):
    """The nodes from the graph's inputs to its probabilities; and, given the names of an
    initial state ``(h, c)``, the state after each sequence's last valid frame."""
    standardised = graph.node("Div", [graph.node("Sub", [_filled(graph, module), graph.constant(
        module.input_mean)]), graph.constant(module.input_scale)])
    steps_first = graph.node("Transpose", [standardised], perm=[1, 0, 2])  # (T, N, F)
    lengths = graph.node("Cast", ["lengths"], to=graph.onnx.TensorProto.INT32)
    outputs, last_states, next_state = _lstm(graph, module.lstm, steps_first, lengths, state)
    if isinstance(module, LSTMFrameLogits):
        features = _merge_directions(graph, outputs, perm=[2, 0, 1, 3])  # (N, T, D*H)
    else:
        if next_state is not None:
            # The last layer's next state: the output after each row's last frame, and for a
            # row of length 0 the state it came with, so that such a row answers what its
            # previous call answered (ONNX's LSTM alone would give it zeros: the head's bias).
            last_states = _layer_of(graph, next_state[0], module.lstm.num_layers - 1)
        features = _merge_directions(graph, last_states, perm=[1, 0, 2])  # (N, D*H)
    logits = graph.node("Add", [
        graph.node("MatMul", [features, graph.constant(module.head.weight.T)]),
        graph.constant(module.head.bias)])
    single_logit = module.head.out_features == 1
    if log_training_weight is not None:
        logits = _prior_corrected(graph, logits, log_training_weight, single_logit)
    return _logits_to_probabilities(graph, logits, single_logit), next_state


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


def _lstm(graph, lstm, inputs, lengths, state=None):
    """ONNX LSTM nodes for every layer of ``lstm``: the last layer's outputs
    ``(T, D, N, H)`` and final states ``(D, N, H)``; and, from an initial state ``(h, c)``
    of shape ``(num_layers, N, H)`` each, the next one."""
    directions = ["", "_reverse"] if lstm.bidirectional else [""]
    outputs = last_states = ""
    final_states, final_cells = [], []
    for layer in range(lstm.num_layers):
        if layer:
            inputs = _merge_directions(graph, outputs, perm=[0, 2, 1, 3])  # (T, N, D*H)
        suffixes = [f"_l{layer}{direction}" for direction in directions]
        weights = [graph.constant(_stacked(lstm, name, suffixes)) for name in ("weight_ih",
                                                                                 "weight_hh")]
        bias = graph.constant(_stacked_bias(lstm, suffixes)) if lstm.bias else ""
        initial = [] if state is None else [_layer_of(graph, name, layer) for name in state]
        outputs, last_states, last_cells = graph.node(
            "LSTM", [inputs, *weights, bias, lengths, *initial], outputs=3,
            hidden_size=lstm.hidden_size,
            direction="bidirectional" if lstm.bidirectional else "forward")
        final_states.append(last_states)
        final_cells.append(last_cells)
    if state is None:
        return outputs, last_states, None
    # ONNX's LSTM zeroes the state of a sequence with no frames; keep it as it came instead,
    # so that a batch of live streams can skip the ones without new frames.
    no_frames = graph.node("Reshape", [
        graph.node("Equal", [lengths, graph.constant(np.array(0), dtype=np.int32)]),
        graph.constant(np.array([1, -1, 1]), dtype=np.int64)])
    next_state = tuple(
        graph.node("Where", [no_frames, initial_state, graph.node("Concat", layers, axis=0)])
        for initial_state, layers in zip(state, (final_states, final_cells), strict=True))
    return outputs, last_states, next_state


def _layer_of(graph, state, layer):
    """One layer's slice ``(1, N, H)`` of a state ``(num_layers, N, H)``."""
    return graph.node("Slice", [state, *(graph.constant(np.array([index]), dtype=np.int64)
                                         for index in (layer, layer + 1, 0))])


def _onnx_gates(tensor):
    """A torch LSTM weight or bias (gates stacked on the first axis) in ONNX's gate order."""
    gates = tensor.detach().cpu().double().numpy().reshape(4, -1, *tensor.shape[1:])
    return gates[list(_ONNX_GATE_ORDER)].reshape(tensor.shape)


def _stacked(lstm, name, suffixes):
    return np.stack([_onnx_gates(getattr(lstm, name + suffix)) for suffix in suffixes])


def _stacked_bias(lstm, suffixes):
    """ONNX's ``B``: per direction, the input biases then the recurrent ones."""
    return np.stack([np.concatenate([_onnx_gates(getattr(lstm, "bias_ih" + suffix)),
                                     _onnx_gates(getattr(lstm, "bias_hh" + suffix))])
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
    classes = max(module.head.out_features, 2)
    if isinstance(module, LSTMFrameLogits):
        return ["batch", "time", classes]
    return ["batch", classes]


def _metadata(estimator, module, stateful):
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
        "num_layers": str(module.lstm.num_layers),
        "hidden_size": str(module.lstm.hidden_size),
        "sktorchcw_version": __version__,
    }


class _GraphBuilder:
    """Collects inputs, nodes, constants and outputs under unique names and makes the
    model."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.inputs, self.nodes, self.initializers, self.outputs = [], [], [], []

    def add_input(self, name, dtype, shape):
        self.inputs.append(self._value_info(name, dtype, shape))

    def add_output(self, value, name, dtype, shape):
        """Expose the graph value ``value`` as the output ``name``."""
        self.nodes.append(self.onnx.helper.make_node("Identity", [value], [name],
                                                     name=f"output_{name}"))
        self.outputs.append(self._value_info(name, dtype, shape))

    def _value_info(self, name, dtype, shape):
        element_type = self.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        return self.onnx.helper.make_tensor_value_info(name, element_type, shape)

    def constant(self, values, dtype=np.float32):
        name = f"const_{len(self.initializers)}"
        if hasattr(values, "detach"):
            values = values.detach().cpu().double().numpy()
        array = np.asarray(values, dtype=dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name=name))
        return name

    def node(self, op_type, inputs, outputs=1, **attributes):
        node_name = f"{op_type}_{len(self.nodes)}"
        names = [f"{node_name}_out{i}" for i in range(outputs)]
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, names, name=node_name,
                                                     **attributes))
        return names[0] if outputs == 1 else names

    def model(self, opset, metadata):
        helper = self.onnx.helper
        graph = helper.make_graph(self.nodes, "sktorchcw_predict_proba", self.inputs,
                                  self.outputs, initializer=self.initializers)
        opsets = [helper.make_opsetid("", opset)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="sktorchcw",
                                  ir_version=helper.find_min_ir_version_for(opsets))
        helper.set_model_props(model, metadata)
        return model
