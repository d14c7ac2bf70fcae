"""Model files of the skorch nets (:mod:`sktorchcw.skorch`): :func:`save_net` and loading.

A net's file is a model file as the estimators' (:mod:`sktorchcw._persistence`): the same
container, format and version, with the entry ``"estimator"`` naming one of
:data:`SAVED_NETS`, and the net's own parameters (:data:`_NET_PARAMS` and the routed
``module__*``, ``criterion__*``, ``optimizer__*``), classes, class weights, history, the
module's state dict and, unless saved with ``optimizer=False``, the optimizer's state.
:func:`sktorchcw._persistence.load_model` hands such a file to :func:`_load_net`, which
checks every entry before the net is built.
"""

import inspect
import json

import numpy as np
import torch
from skorch.history import History

from ._device import resolve_device, seeded_torch
from ._model_file import (
    _EDITED,
    FORMAT_VERSION,
    OPTIMIZER_STATE_MISSING,
    _array_to_json,
    _check_class_vector,
    _check_history,
    _check_shapes_and_values,
    _check_tensor_names,
    _classes_from,
    _load_stored_optimizer,
    _load_weights,
    _network_state,
    _plain,
    _refusing,
    _with_prefix,
)
from ._safe_file import FORMAT, _check_folder, _write, encode_safe_file, encode_training_state
from ._stored_params import _param_to_json, _params_from_json
from ._warnings import warn_at_caller
from ._weights import effective_number_weights

__all__ = ["save_net", "SAVED_NETS"]

# The drop-in skorch classifiers a model file may hold, all of sktorchcw.skorch.
SAVED_NETS = ("NeuralNetClassifier", "NeuralNetBinaryClassifier")
_NETS_MODULE = "sktorchcw.skorch"
# The parameters a net's file stores; those whose names start with these prefixes too.
_NET_PARAMS = ("module", "criterion", "optimizer", "lr", "max_epochs", "batch_size",
               "class_weight", "loss_reduction", "weighting", "sampling", "prior_correction",
               "predict_nonlinearity", "classes", "threshold", "warm_start", "verbose",
               "use_caching", "on_divergence")
_NET_ROUTED = ("module__", "criterion__", "optimizer__")
# Not stored (they matter for training only and may hold code); the loaded net has
# skorch's defaults for them.
_NET_TRAINING_ONLY = ("callbacks", "train_split", "iterator_train", "iterator_valid", "dataset")
_NET_METADATA_TYPES: dict[str, type | tuple[type, ...]] = {
    "estimator": str, "params": dict, "classes": dict, "class_weight": list,
    "training_weight": list, "history": list,
}


def save_net(net, path, *, optimizer=True):
    """Write a fitted :mod:`sktorchcw.skorch` net to ``path``; see its ``save``.

    The module class is stored by name (:func:`module_record`) with its ``module__*``
    arguments as values, criterion and optimizer by name as for the estimators; the
    class weights, classes, history, the module's state dict and (``optimizer=True``) the
    optimizer's state. Everything is checked before the file is opened.
    """
    kind = type(net)
    if kind.__name__ not in SAVED_NETS or kind.__module__ != _NETS_MODULE:
        raise TypeError(f"save() writes sktorchcw.skorch's {' and '.join(SAVED_NETS)} only; "
                        f"use pickle/joblib for {kind.__name__} (only for files you trust).")
    if not getattr(net, "initialized_", False) or not hasattr(net, "classes_fitted_"):
        raise ValueError(f"This {kind.__name__} is not fitted yet; call fit before save.")
    _check_folder(path)
    tensors = {f"module.{name}": tensor
               for name, tensor in _network_state(net.module_).items()}
    from . import __version__

    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sktorchcw_version": __version__,
        "estimator": kind.__name__,
        "params": _net_params_to_json(net, tensors),
        "classes": _array_to_json(net.classes_fitted_),
        "class_weight": [float(w) for w in net.class_weight_],
        "training_weight": [float(w) for w in net.training_weight_],
        "history": json.loads(json.dumps(net.history_.to_list(), default=_plain)),
    }
    if optimizer:
        # Set at load to the number of epochs then: trained since, the net has a state.
        if getattr(net, OPTIMIZER_STATE_MISSING, None) == len(net.history_):
            warn_at_caller(
                "This net was loaded from a file without optimizer state and not trained "
                "since, so it has none to save: the file is for prediction only, as that one "
                "was."
            )
        else:
            metadata["optimizer"] = encode_training_state(
                net.optimizer_, None, tensors,
                instead="save(path, optimizer=False) writes the net without it, for prediction",
            )
    _write(path, encode_safe_file(metadata, tensors))


def _net_params_to_json(net, tensors):
    params = net.get_params(deep=False)
    _warn_training_only(params)
    module = params["module"]
    if not inspect.isclass(module):
        raise ValueError(
            f"module is an instance ({type(module).__name__}(...)), whose constructor "
            "arguments a safe model file cannot read back. Pass the class and its arguments "
            f"instead: module={type(module).__name__}, module__<argument>=<value>."
        )
    class_weight = params["class_weight"]
    if callable(class_weight) and not isinstance(class_weight, effective_number_weights):
        raise ValueError(
            f"class_weight={class_weight!r} is a callable, which a safe model file does not "
            "store (it would be code). Fit with class_weight='balanced', a mapping from "
            "label to weight or a list; or save with pickle/joblib (only for files you trust)."
        )
    if params["predict_nonlinearity"] not in ("auto", None):
        raise ValueError(
            f"predict_nonlinearity={params['predict_nonlinearity']!r} cannot be stored in a "
            "safe model file (it would be code); only 'auto' and None are. Set it after "
            "loading: net.set_params(predict_nonlinearity=...)."
        )
    return {name: _param_to_json(name, value, tensors) for name, value in params.items()
            if name in _NET_PARAMS or name.startswith(_NET_ROUTED)}


def _warn_training_only(params):
    from skorch.dataset import Dataset, ValidSplit
    from torch.utils.data import DataLoader

    defaults = {"callbacks": None, "dataset": Dataset, "iterator_train": DataLoader,
                "iterator_valid": DataLoader}
    for name, value in params.items():
        prefix = name.partition("__")[0]
        if prefix not in _NET_TRAINING_ONLY:
            continue
        if name == "train_split":
            # skorch's defaults: ValidSplit(5), stratified for its classifiers
            default = isinstance(value, ValidSplit) and vars(value) in (
                vars(ValidSplit(5)), vars(ValidSplit(5, stratified=True)))
        else:
            default = "__" not in name and value is defaults[name]
        if not default:
            warn_at_caller(f"{name} is not saved (it matters for training only); the loaded "
                           f"net has skorch's default{' (none)' if '__' in name else ''}.")


def _load_net(name, metadata, tensors, estimators, device, modules):
    """The fitted net a file written by :func:`save_net` holds, every entry checked."""
    wrong = sorted(key for key, kind in _NET_METADATA_TYPES.items()
                   if not isinstance(metadata.get(key, ...), kind))
    if "optimizer" in metadata and not isinstance(metadata["optimizer"], dict):
        wrong.append("optimizer")
    if wrong:
        raise ValueError(f"{name} has missing or malformed metadata entries {wrong}; {_EDITED}.")
    net_class = estimators.get(metadata["estimator"])
    if net_class is None or net_class.__module__ != _NETS_MODULE:
        raise ValueError(f"{name} holds a {metadata['estimator']!r}, which sktorchcw does not "
                         "load; refused.")
    _check_tensor_names(name, metadata, tensors)
    classes = _classes_from(name, metadata["classes"])
    for key in ("class_weight", "training_weight"):
        _check_class_vector(name, key, metadata[key], classes)
    _check_history(name, metadata["history"])
    params = metadata["params"]
    unknown = sorted(key for key in params
                     if key not in _NET_PARAMS and not key.startswith(_NET_ROUTED))
    if unknown or "module" not in params:
        raise ValueError(f"{name} names parameters a saved {net_class.__name__} does not "
                         f"hold: {unknown or ['(no module)']}; refused.")
    params = _params_from_json(name, params, tensors, net_class, modules, known=_NET_PARAMS)
    if params.get("predict_nonlinearity", "auto") not in ("auto", None):
        raise ValueError(f"{name}: predict_nonlinearity must be 'auto' or None; {_EDITED}.")
    with _refusing(name):
        net = net_class(**params, device="cpu" if device is None else resolve_device(device))
    net.classes_fitted_ = classes
    net.class_weight_ = np.asarray(metadata["class_weight"], dtype=np.float64)
    net.training_weight_ = np.asarray(metadata["training_weight"], dtype=np.float64)
    from ._weighting import class_weight_source

    net.class_weight_source_ = class_weight_source(net.class_weight)
    state_dict = _with_prefix(tensors, "module.")
    _check_net_weights(name, net, state_dict)
    with _refusing(name), seeded_torch(0, net.device):  # keep the global RNG
        net.initialize()
    _load_weights(name, net.module_, state_dict)
    net.classes_inferred_ = classes
    net.history_ = History(metadata["history"])
    if "optimizer" not in metadata:
        setattr(net, OPTIMIZER_STATE_MISSING, len(net.history_))
        return net
    _load_stored_optimizer(name, net.optimizer_, metadata, tensors)
    return net


def _check_net_weights(name, net, state_dict):
    """The file's weights against the module its parameters describe (built on the meta
    device where it can be, so that edited arguments never allocate a huge network):
    the same keys and shapes, and finite values."""
    try:
        with torch.device("meta"):
            expected = net.module(**net.get_params_for("module")).state_dict()
    except (RuntimeError, NotImplementedError):
        expected = None  # a constructor that needs real tensors: load_state_dict checks
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} holds module arguments its network class refuses "
                         f"({type(error).__name__}: {error}); {_EDITED}.") from None
    _check_shapes_and_values(name, expected, state_dict)
