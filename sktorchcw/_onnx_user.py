"""The ONNX graph of a user's own network, traced by ``torch.onnx``.

A network of the user's own (``module=MyNet``) is traced by ``torch.onnx.export`` with
the TorchScript-based exporter (``dynamo=False``: the dynamo exporter needs the package
``onnxscript``, which sktorchcw does not depend on), wrapped as the estimators run it
(standardisation, missing-frame fill and zeroed padding in the graph); the same last
nodes as the built-in graphs' (prior correction, softmax or sigmoid) are then appended.

A trace holds for the example batch alone: the graph is run in onnxruntime on a batch of
another size (and, stateful, from a state the network left) and compared with the network.
"""

import copy
import io
import os
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._onnx_graph import (
    _GraphBuilder,
    _metadata,
    _output_shape,
    _probabilities,
    _state_metadata,
)

# A user module is traced on this many recordings of this many frames, and the graph is
# checked on other sizes (see _check_the_trace_generalises).
_TRACE_SHAPE = (2, 16)
_CHECK_SHAPE = (3, 23)


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
