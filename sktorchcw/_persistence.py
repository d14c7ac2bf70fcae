"""Model files that cannot carry code: safetensors tensors, everything else JSON.

A model file is one safetensors file: the network's tensors (``module.*``), any
tensor a parameter holds (``params.*``), unless saved with ``optimizer=False`` the
optimizer's tensors (``optimizer.*``) and the torch random state of the fit
(``rng.torch``, and ``rng.cuda`` after training on CUDA), and in safetensors' own string
header (``__metadata__``) two entries: ``"sktorchcw"``, a JSON document (parameters,
classes, fitted class weights, history, the rest of the optimizer's state...), and
``"sha256"``, a digest of that document and of every tensor. safetensors' parser reads
only a JSON header and raw tensor bytes, and nothing here calls ``torch.load`` or
unpickles anything, so a file cannot run code on any torch version
(``torch.load(weights_only=True)`` could before torch 2.6, CVE-2025-32434, and corrupted
memory before 2.10, CVE-2026-24747). The digest detects files changed or damaged after
saving; it is not a signature (whoever can write the file can recompute it). Criterion
and optimizer are stored by name, a criterion instance by its class and constructor
arguments, and are resolved only to torch's own loss, functional and optimizer objects or
sktorchcw's. A network of the user's own class (``module=MyNet``) is stored as its
weights and its class's names (:func:`~sktorchcw._stored_params.module_record`); loading
rebuilds it only from the classes its caller passes
(:func:`~sktorchcw._stored_params.rebuild_module_class`) and never imports what a file
names.

Loading checks every entry against the others and against the network before the model
is built (:func:`_check_fitted_entries`, :func:`_check_network`): a file edited with its
checksum recomputed is a ValueError naming the file and the entry, never a model that
predicts NaN or swapped labels.

This module saves and loads the estimators (:func:`save_model`, :func:`load_model`,
which hands a skorch net's file to :mod:`sktorchcw._net_files`). The container and the
JSON coding of values and of the training state are :mod:`sktorchcw._safe_file`'s, shared
with the checkpoints of :mod:`sktorchcw._checkpoint`; the parameters' coding
(:mod:`sktorchcw._stored_params`) and the checks of entries a net's file has too
(:mod:`sktorchcw._model_file`) are shared with the skorch nets' files.
"""

import json

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._data import COLUMNS, SEQUENCES
from ._device import resolve_device, seeded_torch
from ._model_file import (
    _EDITED,
    FORMAT_VERSION,
    OPTIMIZER_STATE_MISSING,
    READ_FORMAT_VERSIONS,
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
from ._net_files import SAVED_NETS, _load_net
from ._safe_file import (
    FORMAT,
    _check_folder,
    _name,
    _read,
    _write,
    encode_safe_file,
    encode_training_state,
    parse_safe_file,
)
from ._stored_params import _param_to_json, _params_from_json, module_classes
from ._user_module import UserNetwork
from ._warnings import warn_at_caller

__all__ = ["save_model", "load_model", "SAVED_ESTIMATORS"]

_MODEL_FILE = "a model file written by an sktorchcw estimator's save"
# The estimators a model file may hold, by class name; sktorchcw.load maps them to classes.
SAVED_ESTIMATORS = ("LSTMBlinkClassifier", "LSTMBlinkTagger")
# Not stored: they matter for training only (and the first four may hold code).
_TRAINING_ONLY = ("callbacks", "train_split", "iterator_train", "iterator_valid",
                  "checkpoint_dir")
_LAYOUTS = (COLUMNS, SEQUENCES)
_METADATA_TYPES: dict[str, type | tuple[type, ...]] = {
    "estimator": str, "params": dict, "classes": dict, "class_weight": list,
    "training_weight": list,
    "n_features_in": int,
    "feature_names_in": (list, type(None)), "input_layout": str, "n_features": int,
    "device": str, "history": list,
}


# -- the model file -------------------------------------------------------------------------


def save_model(estimator, path, *, optimizer=True):
    """Write a fitted sktorchcw estimator to ``path``, a path or a binary file object.

    See the module docstring for the format. ``optimizer=False`` leaves out the optimizer's
    state and the random state of the fit: a smaller file, for prediction. Everything is
    checked and encoded before the file is opened, so a refused model leaves no file behind:
    a parameter a safe file cannot hold (see :func:`_param_to_json`) or a network tensor of
    a type it does not hold is a ValueError.
    """
    kind = type(estimator)
    if kind.__name__ not in SAVED_ESTIMATORS or not kind.__module__.startswith("sktorchcw."):
        # load() rebuilds the class by its name: a subclass would come back as its parent.
        raise TypeError(f"save() writes {' and '.join(SAVED_ESTIMATORS)} models only; use "
                        f"pickle/joblib for {kind.__name__} (only for files you trust).")
    check_is_fitted(estimator)
    _check_folder(path)
    tensors = {
        f"module.{name}": tensor for name, tensor in _network_state(estimator.module_).items()
    }
    metadata = _metadata(estimator, tensors)
    if optimizer:
        _add_training_state(estimator, metadata, tensors)
    _write(path, encode_safe_file(metadata, tensors))


def _add_training_state(estimator, metadata, tensors):
    """The optimizer's state (``metadata["optimizer"]`` and its tensors) and the random state
    of the fit, with which warm_start and partial_fit continue as the saved model would."""
    net = estimator.net_
    if getattr(net, OPTIMIZER_STATE_MISSING, False):
        warn_at_caller(
            "This model was loaded from a file without optimizer state and not trained "
            "since, so it has none to save: the file is for prediction only, as that one was."
        )
        return
    metadata["optimizer"] = encode_training_state(
        net.optimizer_, getattr(estimator, "_torch_rng_state", None), tensors,
        instead="save(path, optimizer=False) writes the model without it, for prediction",
    )


def load_model(path, estimators, device=None, modules=None):
    """Read a file written by :func:`save_model`; see :func:`sktorchcw.load`.

    ``estimators`` maps the names of :data:`SAVED_ESTIMATORS` to their classes;
    ``modules`` (checked by :func:`module_classes` before the file is read) are the
    classes from which a network of the user's own class is rebuilt.
    """
    modules = module_classes(modules)
    name = _name(path)
    try:
        metadata, tensors = parse_safe_file(_read(path), _MODEL_FILE)
    except ValueError as error:
        raise ValueError(f"{name} {error}") from None
    try:
        if isinstance(metadata, dict) and metadata.get("format") == FORMAT and metadata.get(
                "format_version") == FORMAT_VERSION and metadata.get("estimator") in SAVED_NETS:
            return _load_net(name, metadata, tensors, estimators, device, modules)
        classes = _check_metadata(name, metadata, tensors)
        return _estimator_from(name, metadata, classes, tensors, device, estimators, modules)
    except (KeyError, TypeError, AttributeError, IndexError, OverflowError, RecursionError,
            RuntimeError) as error:
        # The checksum held, so the file was written this way: by another program, or
        # edited with the checksum recomputed. Say so instead of failing somewhere inside.
        raise ValueError(
            f"{name} holds metadata this sktorchcw cannot use ({type(error).__name__}: "
            f"{error}); it was not written by an sktorchcw estimator's save, or was edited."
        ) from None


def _estimator_from(name, metadata, classes, tensors, device, estimators, modules):
    if metadata["estimator"] not in SAVED_ESTIMATORS:
        raise ValueError(f"{name} holds a {metadata['estimator']!r}, which sktorchcw does not "
                         "load; refused.")
    estimator_class = estimators[metadata["estimator"]]
    params = _params_from_json(name, metadata["params"], tensors, estimator_class, modules)
    with _refusing(name):
        estimator = estimator_class(**params)
        estimator._validate_params()
        estimator._check_routed_params()
    estimator.classes_ = classes
    estimator.class_weight_ = np.asarray(metadata["class_weight"], dtype=np.float64)
    estimator.training_weight_ = np.asarray(metadata["training_weight"], dtype=np.float64)
    estimator.n_features_in_ = metadata["n_features_in"]
    if metadata["feature_names_in"] is not None:
        estimator.feature_names_in_ = np.asarray(metadata["feature_names_in"], dtype=object)
    estimator.input_layout_ = metadata["input_layout"]
    _restore_decision(name, estimator, metadata, classes)
    estimator.device_ = _target_device(estimator.device, device, metadata["device"])
    with _refusing(name):
        net = estimator._build_net(
            estimator._build_criterion(), metadata["n_features"], (None, None, None), seed=0
        )
        expected = _expected_state(net)
    state_dict = _with_prefix(tensors, "module.")
    _check_network(name, metadata, classes, expected, state_dict)
    with _refusing(name), seeded_torch(0, estimator.device_):  # keep the global RNG
        net.initialize()
    _load_weights(name, net.module_, state_dict)
    net.history_ = History(metadata["history"])
    _restore_training_state(name, estimator, net, metadata, tensors)
    estimator.net_ = net
    # As fit records it: a class_weight changed after loading is resolved again when
    # training continues; an unchanged one keeps the saved class_weight_.
    from ._weighting import class_weight_source

    estimator._class_weight_source = class_weight_source(estimator.class_weight)
    return estimator


def _expected_state(net):
    """The state dict of the network the parameters describe, built on the meta device (no
    memory) to be compared with the file first, so that parameters describing a huge
    network never allocate it. A user's network whose constructor needs real tensors (it
    reads a value with ``.item()``...) is built on the CPU instead."""
    arguments = net.get_params_for("module")
    try:
        with torch.device("meta"):
            return net.module(**arguments).state_dict()
    except (RuntimeError, NotImplementedError):
        if net.module is not UserNetwork:
            raise
    with torch.device("cpu"), seeded_torch(0, "cpu"):  # keep the global RNG
        return net.module(**arguments).state_dict()


def _restore_training_state(name, estimator, net, metadata, tensors):
    if "optimizer" not in metadata:  # saved with optimizer=False, or by an earlier version
        setattr(net, OPTIMIZER_STATE_MISSING, True)
        return
    rng_state = _load_stored_optimizer(name, net.optimizer_, metadata, tensors)
    if rng_state is not None:
        estimator._torch_rng_state = rng_state


def _metadata(estimator, tensors):
    from . import __version__

    names = getattr(estimator, "feature_names_in_", None)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sktorchcw_version": __version__,
        "estimator": type(estimator).__name__,
        "params": _params_to_json(estimator, tensors),
        "classes": _array_to_json(estimator.classes_),
        "class_weight": [float(w) for w in estimator.class_weight_],
        "training_weight": [float(w) for w in estimator.training_weight_],
        "n_features_in": int(estimator.n_features_in_),
        "feature_names_in": None if names is None else [str(name) for name in names],
        "input_layout": estimator.input_layout_,
        "n_features": int(estimator.module_.input_mean.shape[0]),
        "device": estimator.device_,
        "history": json.loads(json.dumps(estimator.history_.to_list(), default=_plain)),
        **_decision_metadata(estimator),
    }


def _decision_metadata(estimator):
    """The tagger's fitted decision rule (the positive class by its index in classes_)."""
    if not hasattr(estimator, "threshold_"):
        return {}
    positive = int(np.flatnonzero(estimator.classes_ == estimator.positive_)[0])
    score = getattr(estimator, "decision_score_", None)
    return {"decision": {
        "positive": positive,
        "threshold": None if estimator.threshold_ is None else float(estimator.threshold_),
        "min_event_frames": int(estimator.min_event_frames_),
        "max_gap_frames": int(estimator.max_gap_frames_),
        "score": None if score is None else float(score),
    }}


def _restore_decision(name, estimator, metadata, classes):
    """The tagger's decision rule as saved; files written before it had one predict the
    most probable class, which the rule then is."""
    if not hasattr(estimator, "min_event_frames"):
        return
    stored = metadata.get("decision", {"positive": len(classes) - 1, "threshold": None,
                                       "min_event_frames": 1, "max_gap_frames": 0,
                                       "score": None})
    try:
        positive = stored["positive"]
        threshold = stored["threshold"]
        if (type(positive) is not int or not 0 <= positive < len(classes)
                or not (threshold is None or isinstance(threshold, float) and 0 <= threshold < 1)
                or type(stored["min_event_frames"]) is not int or stored["min_event_frames"] < 1
                or type(stored["max_gap_frames"]) is not int or stored["max_gap_frames"] < 0):
            raise TypeError
    except (TypeError, KeyError):
        raise ValueError(f"{name} has a malformed decision entry; it was not written by an "
                         "sktorchcw estimator's save, or was edited.") from None
    estimator.positive_ = classes[positive]
    estimator.threshold_ = threshold
    estimator.min_event_frames_ = stored["min_event_frames"]
    estimator.max_gap_frames_ = stored["max_gap_frames"]
    estimator.decision_score_ = stored.get("score")


def _check_metadata(name, metadata, tensors):
    """The format, the type of every entry and the fitted entries against each other;
    returns the classes."""
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{name} is not {_MODEL_FILE}.")
    version = metadata.get("format_version")
    if type(version) is int and version > FORMAT_VERSION:
        raise ValueError(
            f"{name} uses model file format {version}, newer than this sktorchcw "
            f"(format {FORMAT_VERSION}) reads; upgrade sktorchcw."
        )
    if type(version) is not int or version not in READ_FORMAT_VERSIONS:
        raise ValueError(f"{name} has an unknown model file format version {version!r}.")
    wrong = sorted(key for key, kind in _METADATA_TYPES.items()
                   if not isinstance(metadata.get(key, ...), kind)
                   or isinstance(metadata.get(key), bool))
    if "optimizer" in metadata and not isinstance(metadata["optimizer"], dict):
        wrong.append("optimizer")
    if wrong:
        raise ValueError(f"{name} has missing or malformed metadata entries {wrong}; it was "
                         "not written by an sktorchcw estimator's save, or was edited.")
    if metadata["n_features"] < 1 or metadata["n_features_in"] < 1:
        raise ValueError(f"{name} describes a model with no input features; refused.")
    _check_tensor_names(name, metadata, tensors)
    return _check_fitted_entries(name, metadata)


def _check_fitted_entries(name, metadata):
    """Each fitted entry against the others: the classes (unique, sorted as ``np.unique``
    gives them, of a type ``save`` writes), one finite non-negative class weight and
    training weight per class, a known input layout, and numbers of features and feature
    names that agree with it. Returns the classes."""
    classes = _classes_from(name, metadata["classes"])
    for key in ("class_weight", "training_weight"):
        _check_class_vector(name, key, metadata[key], classes)
    layout, n_features = metadata["input_layout"], metadata["n_features"]
    n_features_in, names = metadata["n_features_in"], metadata["feature_names_in"]
    if layout not in _LAYOUTS:
        raise ValueError(f"{name}: input_layout {layout!r} is not one of {list(_LAYOUTS)} "
                         f"(2-D X, or 3-D and ragged X); {_EDITED}.")
    if layout == COLUMNS and n_features != 1:
        raise ValueError(
            f"{name}: input_layout 'columns' (2-D X, one column per time step) reads one "
            f"feature per time step, but n_features is {n_features}; {_EDITED}."
        )
    if layout == SEQUENCES and n_features_in != n_features:
        raise ValueError(
            f"{name}: n_features_in is {n_features_in}, but the network reads {n_features} "
            f"features per time step (n_features); for input_layout 'sequences' they are the "
            f"same. {_EDITED[0].upper()}{_EDITED[1:]}."
        )
    if names is not None:
        if layout != COLUMNS or not all(isinstance(item, str) for item in names):
            raise ValueError(
                f"{name}: feature_names_in holds names, but only a model fitted on a DataFrame "
                f"(input_layout 'columns') has them, as strings; {_EDITED}."
            )
        if len(names) != n_features_in:
            raise ValueError(
                f"{name}: feature_names_in lists {len(names)} names for n_features_in "
                f"{n_features_in} columns; {_EDITED}."
            )
    _check_history(name, metadata["history"])
    return classes


def _check_network(name, metadata, classes, expected, state_dict):
    """The file's weights against the entries and the network the parameters describe
    (``expected``, a state dict on the meta device): their shapes, and finite weights and
    positive input scales."""
    n_features = metadata["n_features"]
    # The standardisation (every network of the estimators has it, a user's network in
    # the wrapper that gives it its input) and the built-in LSTM's or GRU's input weights.
    for key in ("input_mean", "input_scale", "missing_fill"):
        if key in state_dict and tuple(state_dict[key].shape) != (n_features,):
            raise ValueError(
                f"{name}: n_features is {n_features}, but the network's {key} has shape "
                f"{tuple(state_dict[key].shape)}; {_EDITED}."
            )
    for layer in ("lstm", "gru"):
        weights = state_dict.get(f"{layer}.weight_ih_l0")
        if weights is not None and weights.ndim == 2 and weights.shape[1] != n_features:
            raise ValueError(
                f"{name}: n_features is {n_features}, but the {layer.upper()}'s input weights "
                f"({layer}.weight_ih_l0) take {weights.shape[1]} features per time step; "
                f"{_EDITED}."
            )
    # The output layer's weights and bias agree on a number of outputs other than the
    # classes (and the criterion) give: the classes were edited, or the weights.
    outputs = {state_dict[key].shape[0] for key in ("head.weight", "head.bias")
               if key in state_dict and state_dict[key].ndim}
    wanted = expected["head.weight"].shape[0] if "head.weight" in expected else None
    if len(outputs) == 1 and wanted is not None and outputs != {wanted}:
        raise ValueError(
            f"{name}: classes {classes.tolist()!r} need {wanted} output(s) with these "
            f"parameters, but the network's output layer (head) has {outputs.pop()}; "
            f"{_EDITED}."
        )
    _check_shapes_and_values(name, expected, state_dict)
    scale = state_dict.get("input_scale")
    if scale is not None and not bool((scale > 0).all()):
        raise ValueError(
            f"{name}: input_scale (the standardisation's divisor per feature) has values "
            f"that are not positive, which would give NaN probabilities; {_EDITED}."
        )


def _target_device(device_param, requested, saved):
    if requested is not None:
        return resolve_device(requested)
    try:
        return resolve_device(device_param)
    except ValueError:
        warn_at_caller(f"The model was saved on {saved}, which is not available here; it is "
                       "loaded on the CPU.")
        return "cpu"


# -- parameters -----------------------------------------------------------------------------


def _params_to_json(estimator, tensors):
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if name.partition("__")[0] in _TRAINING_ONLY:
            if value is not None:
                warn_at_caller(
                    f"{name} is not saved (it matters for training only); the loaded model "
                    f"has {'no ' + name if '__' in name else name + '=None'}."
                )
            continue
        params[name] = _param_to_json(name, value, tensors)
    return params
