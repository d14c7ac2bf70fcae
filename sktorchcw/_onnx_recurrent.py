"""The ONNX graph of the built-in LSTM and GRU networks, node by node.

The built-in networks (``module='lstm'`` and ``'gru'``) are written node by node with
:mod:`onnx.helper` rather than traced by ``torch.onnx``: ONNX's own ``LSTM`` and ``GRU``
operators take each sequence's length (``sequence_lens``) and start the backward
direction at each sequence's last valid frame, which is what the packed networks of the
estimators compute and what a trace of ``pack_padded_sequence`` cannot express.

The gates are reordered from torch's stacking to ONNX's; a stateful graph takes and
returns the recurrent state, and keeps the state of a sequence without frames.
"""

from dataclasses import dataclass, field

import numpy as np

from ._module import LSTMFrameLogits
from ._onnx_graph import (
    _GraphBuilder,
    _metadata,
    _output_shape,
    _outputs_of,
    _probabilities,
    _state_metadata,
)

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
