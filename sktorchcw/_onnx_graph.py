"""What every exported graph shares, the built-in networks' and a user's own: the
builder that collects its nodes (:class:`_GraphBuilder`), its last nodes (the prior
correction, then softmax or sigmoid, to the output ``probabilities``), the output's
shape, and the model's metadata.
"""

import json

import numpy as np

from ._module import LSTMFrameLogits
from ._user_module import UserNetwork


def _outputs_of(module):
    """The network's logits per recording or frame, and whether they are per frame."""
    if isinstance(module, UserNetwork):
        return module.n_outputs, module.per_frame
    return module.head.out_features, isinstance(module, LSTMFrameLogits)


def _probabilities(graph, logits, log_training_weight, single_logit):
    """The nodes from logits (classes last) to the probabilities: the prior correction
    where set, then softmax (a sigmoid for a single logit), as ``predict_proba``."""
    if log_training_weight is not None:
        logits = _prior_corrected(graph, logits, log_training_weight, single_logit)
    return _logits_to_probabilities(graph, logits, single_logit)


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
