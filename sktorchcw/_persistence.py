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
weights and its class's names (:func:`module_record`); loading rebuilds it only from the
classes its caller passes (:func:`rebuild_module_class`) and never imports what a file
names.

Loading checks every entry against the others and against the network before the model
is built (:func:`_check_fitted_entries`, :func:`_check_network`): a file edited with its
checksum recomputed is a ValueError naming the file and the entry, never a model that
predicts NaN or swapped labels.

The container (:func:`encode_safe_file`, :func:`parse_safe_file`), the JSON coding of
values (:func:`encode_value`, :func:`decode_value`) and of the training state
(:func:`encode_training_state`, :func:`decode_training_state`,
:func:`load_optimizer_state`) are shared with the checkpoints of
:mod:`sktorchcw._checkpoint`.
"""

import contextlib
import hashlib
import importlib
import inspect
import io
import json
import math
import os
from collections.abc import Iterable

import numpy as np
import safetensors.torch
import torch
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._data import COLUMNS, SEQUENCES, check_label_types
from ._device import resolve_device, seeded_torch
from ._user_module import UserNetwork
from ._warnings import warn_at_caller
from ._weights import effective_number_weights

__all__ = ["save_model", "load_model", "FORMAT", "FORMAT_VERSION", "READ_FORMAT_VERSIONS",
           "SAVED_ESTIMATORS", "OPTIMIZER_STATE_MISSING", "encode_safe_file",
           "parse_safe_file", "encode_value", "decode_value", "encode_training_state",
           "decode_training_state", "load_optimizer_state", "module_record",
           "module_classes", "rebuild_module_class", "save_net", "SAVED_NETS"]

FORMAT = "sktorchcw-model"
# 3: the parameter ``module`` (None, 'lstm', 'gru', or a network class stored by name as
# {"module_class": module_record(...)}), and module__* of the user's network. 2: the same
# container and entries without them (sktorchcw before module=), still read: such a file
# holds the built-in LSTM, which the default module=None builds. 1: torch.save, refused.
FORMAT_VERSION = 3
READ_FORMAT_VERSIONS = (2, 3)
_MODEL_FILE = "a model file written by an sktorchcw estimator's save"
# The estimators a model file may hold, by class name; sktorchcw.load maps them to classes.
SAVED_ESTIMATORS = ("LSTMBlinkClassifier", "LSTMBlinkTagger")
# Not stored: they matter for training only (and the first four may hold code).
_TRAINING_ONLY = ("callbacks", "train_split", "iterator_train", "iterator_valid",
                  "checkpoint_dir")
_CALLABLE_PARAMS = ("criterion", "optimizer")
# Where a stored criterion or optimizer may come from, checked before anything is imported.
# A module of losses that sktorchcw adds goes into the criterion's list.
_CALLABLE_MODULES = {
    "criterion": ("torch.nn.modules.loss", "torch.nn.functional", "sktorchcw._loss"),
    "optimizer": ("torch.optim",),
}
_TENSOR_DTYPES = (torch.float32, torch.float64, torch.float16, torch.int64, torch.int32,
                  torch.int16, torch.int8, torch.uint8, torch.bool)
# numpy kinds a stored array or scalar may have: bool, integers, floats, strings.
_NUMPY_KINDS = "biufU"
# ...and classes, which may also be an object array of such values (as save writes them).
_CLASS_KINDS = _NUMPY_KINDS + "O"
_LAYOUTS = (COLUMNS, SEQUENCES)
# Set (True) on the net of a model loaded from a file without optimizer state: continuing
# it (warm_start, partial_fit) warns that the optimizer restarts. A fit replaces the net.
OPTIMIZER_STATE_MISSING = "_optimizer_state_missing"
# Tensors of a model file: the network's and the parameters'; with the training state
# (unless saved with optimizer=False) the optimizer's and the random state's, by device.
_MODEL_TENSORS = ("module.", "params.")
_RNG_TENSORS = {"rng.torch": "cpu", "rng.cuda": "cuda"}
# How an edited file is fixed, for the messages of the checks at load.
_EDITED = ("refused: the file was changed after it was saved (with its checksum recomputed), "
           "or not written by sktorchcw's save. Save the fitted model again with "
           "estimator.save(path)")
_METADATA_TYPES: dict[str, type | tuple[type, ...]] = {
    "estimator": str, "params": dict, "classes": dict, "class_weight": list,
    "training_weight": list,
    "n_features_in": int,
    "feature_names_in": (list, type(None)), "input_layout": str, "n_features": int,
    "device": str, "history": list,
}
# safetensors' header: an 8-byte little-endian length, then that many bytes of JSON.
_LENGTH_BYTES = 8
_MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit
_HEADER_KEYS = ("sktorchcw", "sha256")
_ZIP_MAGIC = b"PK\x03\x04"  # a torch.save archive
_PICKLE_PROTOCOLS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


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


def _network_state(module):
    """The network's state dict, refused (a ValueError naming the entry) where it holds
    something a model file does not store: a tensor of another type (bfloat16, complex,
    sparse...) or a value that is no tensor (a module's ``get_extra_state``)."""
    state = module.state_dict()
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or not _storable(value):
            what = (f"a {value.dtype} tensor" + ("" if value.layout == torch.strided
                                                  else f" of layout {value.layout}")
                    if isinstance(value, torch.Tensor) else f"a {type(value).__name__}")
            raise ValueError(
                f"The network's state holds {key}, {what}, which a safe model file does "
                f"not store (dense tensors of {[str(t) for t in _TENSOR_DTYPES]}). Convert "
                "it in your network (float32 weights and buffers), or use pickle/joblib "
                "(only for files you trust)."
            )
    return state


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


@contextlib.contextmanager
def _refusing(name):
    """A ValueError raised inside (the estimator's own checks of the stored parameters)
    becomes one that names the file."""
    try:
        yield
    except ValueError as error:
        raise ValueError(f"{name} holds parameters sktorchcw refuses: {error}") from None


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


def _load_stored_optimizer(name, optimizer, metadata, tensors):
    """Put the file's optimizer state into ``optimizer``; returns its random state (or
    None). A ValueError naming the file where it does not fit."""
    try:
        optimizer_state, rng_state = decode_training_state(metadata["optimizer"], tensors)
        load_optimizer_state(optimizer, optimizer_state, keep_settings=True)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        raise ValueError(
            f"{name}: its optimizer state (entry 'optimizer', tensors 'optimizer.*' and "
            f"'rng.*') does not fit the model ({error}); {_EDITED}."
        ) from None
    return rng_state


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
    }


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


def _check_tensor_names(name, metadata, tensors):
    """Only the tensors save writes: the training state's with its metadata entry."""
    def written(key):
        if key.startswith(_MODEL_TENSORS):
            return True
        return "optimizer" in metadata and (key.startswith("optimizer.") or key in _RNG_TENSORS)

    unknown = sorted(key for key in tensors if not written(key))
    if unknown:
        raise ValueError(f"{name} holds tensors sktorchcw does not write {unknown[:3]}; "
                         f"{_EDITED}.")


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


def _check_history(name, history):
    if not history or not all(isinstance(row, dict) for row in history):
        raise ValueError(f"{name}: history is not a list of epochs (one dict per epoch, at "
                         f"least one); {_EDITED}.")


def _classes_from(name, data):
    """The classes stored in the entry ``classes``, checked as fit leaves them."""
    try:
        dtype = np.dtype(data["dtype"])
        classes = np.asarray(data["values"], dtype=dtype)
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"{name}: classes holds data this sktorchcw cannot use "
                         f"({type(error).__name__}: {error}); {_EDITED}.") from None
    if dtype.kind not in _CLASS_KINDS or classes.ndim != 1 or (
            dtype.kind == "O" and not all(isinstance(item, (str, bool, int, float))
                                          for item in classes.tolist())):
        raise ValueError(
            f"{name}: classes of dtype {dtype} and shape {classes.shape} are not what save "
            f"writes (a 1-D array of numbers, booleans or strings); {_EDITED}."
        )
    try:
        check_label_types(classes)
        in_order = np.unique(classes)
    except (ValueError, TypeError):
        raise ValueError(
            f"{name}: classes {classes.tolist()!r} hold None, NaN or labels of mixed types, "
            f"which fit never gives; {_EDITED}."
        ) from None
    if len(classes) < 2 or len(in_order) != len(classes) or not np.array_equal(
            in_order, classes):
        raise ValueError(
            f"{name}: classes {classes.tolist()!r} are not at least two distinct labels in "
            "sorted order (as np.unique gives them), which the estimator relies on to map "
            f"predictions to labels; {_EDITED}."
        )
    return classes


def _check_class_vector(name, key, values, classes):
    if len(values) != len(classes):
        raise ValueError(f"{name}: {key} holds {len(values)} values for {len(classes)} classes "
                         f"{classes.tolist()!r}; {_EDITED}.")
    if not all(type(value) in (int, float) for value in values):
        raise ValueError(f"{name}: {key} {values!r} is not a list of numbers; {_EDITED}.")
    vector = np.asarray(values, dtype=np.float64)
    if not (np.isfinite(vector).all() and (vector >= 0).all()):
        raise ValueError(f"{name}: {key} {values!r} must be finite and non-negative (one "
                         f"weight per class); {_EDITED}.")


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


def _check_shapes_and_values(name, expected, state_dict):
    """The file's weights have the keys and shapes of ``expected`` (None: not known
    before the network is built) and finite values."""
    found = {key: tuple(tensor.shape) for key, tensor in state_dict.items()}
    shapes = found if expected is None else {key: tuple(tensor.shape)
                                             for key, tensor in expected.items()}
    if shapes != found:
        differences = sorted(
            f"{key}: {found.get(key, 'missing')} where the parameters give "
            f"{shapes.get(key, 'nothing')}"
            for key in set(shapes) | set(found) if shapes.get(key) != found.get(key)
        )
        raise ValueError(f"{name} holds weights that do not fit the model its parameters "
                         f"describe: {'; '.join(differences[:3])}.")
    if not all(torch.isfinite(tensor).all() for tensor in state_dict.values()
               if tensor.is_floating_point()):
        raise ValueError(f"{name} holds NaN or infinite weights; refused, as such a model "
                         "predicts nothing useful.")


def _load_weights(name, module, state_dict):
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise ValueError(f"{name} holds weights that do not fit the model its parameters "
                         f"describe: {' '.join(lines[:3])}") from None


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


def _param_to_json(name, value, tensors):
    """JSON data of one parameter; a ValueError, with the fix, for a value a safe file
    cannot hold. The network class (``module=MyNet``) is stored by name
    (:func:`module_record`); its constructor arguments (``module__*``) as values."""
    if name == "module" and inspect.isclass(value):
        return {_CLASS_RECORD: module_record(value)}
    if name in _CALLABLE_PARAMS and not isinstance(value, torch.nn.Module):
        return {"callable": _callable_name(name, value)}
    if name == "criterion":
        return _criterion_to_json(value, tensors)
    if name == "random_state" and isinstance(value, np.random.RandomState):
        warn_at_caller("random_state, a RandomState instance, is saved as None.")
        return None
    if name == "class_weight" and isinstance(value, effective_number_weights):
        return value.to_json()  # {"effective_number_weights": beta}
    try:
        return encode_value(value, tensors, "params")
    except TypeError as error:
        network = (" It is an argument of your network's constructor, which a safe file "
                   "stores as a value, never as code: pass a plain value instead (a name "
                   "such as 'relu' that your constructor maps to a layer)."
                   if name.startswith("module__") else "")
        raise ValueError(
            f"Parameter {name}={value!r} cannot be stored in a safe model file ({error})."
            f"{network} Use plain values (numbers, strings, lists, tuples, dicts, arrays, "
            "tensors), or pickle/joblib (only for files you trust)."
        ) from None


def _callable_name(name, value):
    module = getattr(value, "__module__", "") or ""
    qualname = getattr(value, "__qualname__", "")
    if not (_from_allowed_module(name, module) and "<" not in qualname
            and _is_allowed_callable(name, value)):
        raise ValueError(
            f"save() stores {name} by name and accepts only "
            f"{_ALLOWED_DESCRIPTION[name]}; got {value!r}. Pass such a class (with its "
            f"arguments as {name}__*=...), or use pickle/joblib (only for files you trust)."
        )
    return f"{module}:{qualname}"


_ALLOWED_DESCRIPTION = {
    "criterion": "torch's own losses (a class such as nn.HuberLoss, an instance of one, or a "
                 "functional loss such as F.l1_loss) and sktorchcw's",
    "optimizer": "torch's own optimizers (classes from torch.optim)",
}


def _from_allowed_module(name, module_name):
    return any(module_name == allowed or module_name.startswith(allowed + ".")
               for allowed in _CALLABLE_MODULES[name])


def _is_allowed_callable(name, value):
    """A torch optimizer class, or a loss: a public nn.Module class named ``*Loss``, or a
    functional loss."""
    if name == "optimizer":
        return inspect.isclass(value) and issubclass(value, torch.optim.Optimizer)
    if inspect.isclass(value):
        return (issubclass(value, torch.nn.Module) and value.__name__.endswith("Loss")
                and not value.__name__.startswith("_"))
    functional = vars(torch.nn.functional)
    own_name = getattr(value, "__name__", "")
    return functional.get(own_name) is value and (
        own_name.endswith("_loss") or value in _functional_losses()
    )


def _functional_losses():
    from ._loss import _KNOWN_FORMATS

    return [known for known in _KNOWN_FORMATS if not inspect.isclass(known)]


def _criterion_to_json(criterion, tensors):
    """A loss instance as its class and the constructor arguments read back from it,
    checked to rebuild a loss of the same settings."""
    reference = _callable_name("criterion", type(criterion))
    own_tensors: dict = {}
    stored = {"instance": reference, "args": _constructor_arguments(criterion, own_tensors)}
    how_to = ("Pass the loss class with its arguments as criterion__*=..., or use "
              "pickle/joblib (only for files you trust).")
    try:
        rebuilt = _criterion_from_json("save", stored, own_tensors)
    except (TypeError, ValueError) as error:
        raise ValueError(f"criterion {criterion!r} cannot be saved: its class cannot be "
                         f"rebuilt from the arguments read back from it ({error}). {how_to}"
                         ) from None
    differences = _differences(_settings(criterion), _settings(rebuilt))
    if differences:
        raise ValueError(
            f"criterion {criterion!r} cannot be saved: rebuilt from the constructor arguments "
            f"that can be read back from it, it differs in {differences}. {how_to}"
        )
    tensors.update(own_tensors)
    return stored


def _constructor_arguments(criterion, tensors):
    """The instance's attributes named like its constructor's parameters, where a safe file
    can hold their values; the others are left to their defaults (the caller compares)."""
    arguments = {}
    for parameter in inspect.signature(type(criterion)).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        try:
            value = getattr(criterion, parameter.name)
        except AttributeError:  # such as size_average and reduce, folded into reduction
            continue
        try:
            arguments[parameter.name] = encode_value(value, tensors, "params.criterion")
        except TypeError:
            continue
    return arguments


def _criterion_from_json(name, stored, tensors):
    loss_class = _resolve_callable(name, "criterion", stored["instance"])
    if not inspect.isclass(loss_class) or not isinstance(stored["args"], dict):
        raise ValueError(f"{name}: criterion {stored['instance']!r} is not a loss class; "
                         "refused.")
    return loss_class(**{key: decode_value(value, tensors)
                         for key, value in stored["args"].items()})


def _settings(module):
    """What makes a loss behave as it does: its public attributes, buffers, parameters
    and submodules (``training`` aside)."""
    settings = {key: value for key, value in vars(module).items()
                if not key.startswith("_") and key != "training"}
    settings.update({f"buffer {key}": value for key, value in module._buffers.items()})
    settings.update({f"parameter {key}": value for key, value in module._parameters.items()})
    settings.update({f"module {key}": _settings(value)
                     for key, value in module._modules.items()})
    return settings


def _differences(first, second):
    return sorted(key for key in set(first) | set(second)
                  if key not in first or key not in second
                  or not _same(first[key], second[key]))


def _same(first, second):
    if first is second:
        return True
    if isinstance(first, torch.Tensor) or isinstance(second, torch.Tensor):
        return (isinstance(first, torch.Tensor) and isinstance(second, torch.Tensor)
                and first.dtype == second.dtype and first.shape == second.shape
                and torch.equal(first.detach().cpu(), second.detach().cpu()))
    if isinstance(first, dict) and isinstance(second, dict):
        return not _differences(first, second)
    try:
        return type(first) is type(second) and bool(first == second)
    except Exception:  # a comparison that does not give one truth value
        return False


def _params_from_json(name, params, tensors, estimator_class, modules=(), known=None):
    known = set(estimator_class._get_param_names() if known is None else known)
    # Routed names (with '__') are checked by the estimator, with the constructor's rules.
    unknown = sorted(key for key in params if key not in known and "__" not in key)
    if unknown:
        raise ValueError(f"{name} names parameters {estimator_class.__name__} does not have: "
                         f"{unknown}; refused.")
    decoded = {}
    for key, value in params.items():
        if isinstance(value, dict) and _CLASS_RECORD in value:
            if key != "module" or len(value) != 1:
                raise ValueError(f"{name}: parameter {key} holds a class record, which only "
                                 "the parameter module has; refused.")
            decoded[key] = rebuild_module_class(value[_CLASS_RECORD], modules,
                                                f"{name}: parameter module")
            continue
        stored_object = isinstance(value, dict) and ("callable" in value or "instance" in value)
        if stored_object and key not in _CALLABLE_PARAMS:
            raise ValueError(f"{name}: parameter {key} cannot be a stored callable; refused.")
        if stored_object and "callable" in value:
            decoded[key] = _resolve_callable(name, key, value["callable"])
        elif stored_object and key == "criterion":
            decoded[key] = _criterion_from_json(name, value, tensors)
        elif key == "class_weight" and isinstance(value, dict) and (
                "effective_number_weights" in value):
            try:
                decoded[key] = effective_number_weights.from_json(value)
            except ValueError as error:
                raise ValueError(f"{name}: parameter class_weight holds a value this sktorchcw "
                                 f"cannot read ({error}); refused.") from None
        else:
            try:
                decoded[key] = decode_value(value, tensors)
            except (ValueError, TypeError, KeyError) as error:
                raise ValueError(f"{name}: parameter {key} holds a value this sktorchcw "
                                 f"cannot read ({error}); refused.") from None
    return decoded


def _resolve_callable(name, param, reference):
    module_name, _, qualname = str(reference).partition(":")
    kind = "loss" if param == "criterion" else "optimizer"
    if not _from_allowed_module(param, module_name):
        raise ValueError(f"{name}: {param} {reference!r} is not one of "
                         f"{_ALLOWED_DESCRIPTION[param]}; refused.")
    try:
        value = importlib.import_module(module_name)
        for part in qualname.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError):
        raise ValueError(f"{name}: {param} {reference!r} does not exist in this "
                         "installation.") from None
    # Defined where the name says (not merely imported there), and of the right kind.
    defined_there = (getattr(value, "__module__", None) == module_name
                     and getattr(value, "__qualname__", None) == qualname)
    if not defined_there or not _is_allowed_callable(param, value):
        raise ValueError(f"{name}: {param} {reference!r} is not a torch {kind}; refused.")
    return value


# -- network classes, by name --------------------------------------------------------------

# The one-key object under which a parameter holding a network class is stored.
_CLASS_RECORD = "module_class"


def module_record(module_class):
    """How a file names the class of a network: ``{"module": ..., "qualname": ...}``, the
    names of the class's module and the class in it, as strings.

    A reader rebuilds the class from these only with :func:`rebuild_module_class`, among
    classes its caller passes; nothing is stored that a reader would import. Any net
    whose ``module`` parameter is a class can store it so (its constructor arguments go
    with the other parameters, as values).

    Examples
    --------
    >>> from torch import nn
    >>> from sktorchcw._persistence import (
    ...     module_classes, module_record, rebuild_module_class)
    >>> record = module_record(nn.GRU)
    >>> record
    {'module': 'torch.nn.modules.rnn', 'qualname': 'GRU'}
    >>> rebuild_module_class(record, module_classes([nn.LSTM, nn.GRU]), "model.sktorchcw")
    <class 'torch.nn.modules.rnn.GRU'>
    """
    if not (inspect.isclass(module_class) and issubclass(module_class, torch.nn.Module)):
        raise TypeError(f"module_record names nn.Module subclasses; got {module_class!r}.")
    return {"module": module_class.__module__, "qualname": module_class.__qualname__}


def module_classes(modules):
    """The classes given to ``load(path, modules=...)`` as a tuple, checked to be
    ``nn.Module`` subclasses (a TypeError, with the fix, for anything else: a name, an
    instance, a single class not in a list)."""
    if modules is None:
        return ()
    if inspect.isclass(modules) or isinstance(modules, (str, bytes, torch.nn.Module)) or (
            not isinstance(modules, Iterable)):
        raise TypeError(f"modules= takes a list of your network classes, such as "
                        f"modules=[MyNet]; got {modules!r}.")
    modules = tuple(modules)
    for item in modules:
        if inspect.isclass(item) and issubclass(item, torch.nn.Module):
            continue
        if isinstance(item, torch.nn.Module):
            fix = f"the class itself (modules=[{type(item).__name__}]), not an instance"
        elif isinstance(item, str):
            fix = ("the class itself, imported by you: load never imports a name, neither "
                   "one a file holds nor one passed to it")
        else:
            fix = "subclasses of torch.nn.Module"
        raise TypeError(f"modules= holds {item!r}, which is not a torch.nn.Module subclass; "
                        f"pass {fix}.")
    return modules


def rebuild_module_class(record, modules, where):
    """The class among ``modules`` (checked by :func:`module_classes`) that ``record``
    (from :func:`module_record`, read from a file) names: the one of that qualified name
    and module, or else the only one of that qualified name (a class moved to another
    module since). Nothing is imported and no attribute looked up by the file's names.

    A ValueError starting with ``where`` (the file and the entry) for a malformed record,
    a class not among ``modules`` (saying to pass ``modules=[ClassName]``, with the
    class's module), or several candidates.
    """
    if not isinstance(record, dict) or sorted(record) != ["module", "qualname"] or not all(
            isinstance(record[key], str) for key in record):
        raise ValueError(f"{where} does not name a network class as save writes it (a module "
                         f"and a qualified name); {_EDITED}.")
    module_name, qualname = record["module"], record["qualname"]
    if not (_is_dotted_name(module_name) and _is_dotted_name(qualname, nested=True)):
        raise ValueError(f"{where} names a network class by strings that are not Python "
                         f"names ({module_name[:80]!r}, {qualname[:80]!r}); {_EDITED}.")
    same_name = list(dict.fromkeys(item for item in modules if item.__qualname__ == qualname))
    exact = [item for item in same_name if item.__module__ == module_name]
    if len(exact) == 1 or (not exact and len(same_name) == 1):
        return (exact or same_name)[0]
    passed = [f"{item.__qualname__} (module {item.__module__})" for item in modules]
    if len(exact) > 1 or len(same_name) > 1:
        raise ValueError(f"{where} names the network class {qualname} of module {module_name}, "
                         f"and several classes passed in modules= have that name: {passed}. "
                         "Pass only the one the model was saved with.")
    raise ValueError(
        f"{where} names the network class {qualname} of module {module_name}, which is not "
        f"among the classes passed ({passed or 'none'}): pass modules=[{qualname}], the "
        f"class itself, which you import (from {module_name}, or wherever it lives now) and "
        "trust. load rebuilds a network of your own class only from the classes you pass, "
        "and never imports anything a file names."
    )


def _is_dotted_name(text, nested=False):
    """Identifiers joined by dots (a module's name), or for a class's qualified name also
    ``<locals>`` after the first (a class defined in a function)."""
    parts = text.split(".")
    return all(part.isidentifier() or (nested and index and part == "<locals>")
               for index, part in enumerate(parts))


# -- values as JSON -------------------------------------------------------------------------


def encode_value(value, tensors, prefix):
    """JSON data from which :func:`decode_value` rebuilds ``value`` of the same types.

    None, booleans, integers, floats, strings and lists stay as they are; tuples, dicts
    (any hashable keys), numpy arrays and scalars, and torch devices become one-key
    objects naming their kind; a tensor is put into ``tensors`` under ``prefix.N`` and
    named. Anything else is a TypeError.

    Examples
    --------
    >>> from sktorchcw._persistence import decode_value, encode_value
    >>> stored = encode_value({1: (0.9, "a")}, {}, "x")
    >>> stored
    {'dict': [[1, {'tuple': [0.9, 'a']}]]}
    >>> decode_value(stored, {})
    {1: (0.9, 'a')}
    """
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [encode_value(item, tensors, prefix) for item in value]
    if type(value) is tuple:
        return {"tuple": [encode_value(item, tensors, prefix) for item in value]}
    if type(value) is dict:
        return {"dict": [[encode_value(key, tensors, prefix), encode_value(item, tensors, prefix)]
                         for key, item in value.items()]}
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in _NUMPY_KINDS:
        kind = "array" if isinstance(value, np.ndarray) else "numpy"
        return {kind: [value.dtype.str, list(value.shape), value.tolist()]}
    if isinstance(value, torch.device):
        return {"device": str(value)}
    if isinstance(value, torch.Tensor) and _storable(value):
        name = f"{prefix}.{len(tensors)}"
        tensors[name] = value
        return {"tensor": name}
    raise TypeError(f"{type(value).__name__} is not a plain value")


def decode_value(data, tensors):
    """The value :func:`encode_value` stored as ``data``; ValueError for anything else."""
    if isinstance(data, list):
        return [decode_value(item, tensors) for item in data]
    if not isinstance(data, dict):
        return data
    if len(data) != 1:
        raise ValueError(f"an object with keys {sorted(data)} is no stored value")
    [(kind, content)] = data.items()
    if kind == "tuple":
        return tuple(decode_value(item, tensors) for item in content)
    if kind == "dict":
        return {decode_value(key, tensors): decode_value(item, tensors) for key, item in content}
    if kind in ("array", "numpy"):
        dtype_text, shape, values = content
        dtype = np.dtype(dtype_text)
        if dtype.kind not in _NUMPY_KINDS:
            raise ValueError(f"numpy dtype {dtype} is not stored by sktorchcw")
        array = np.asarray(values, dtype=dtype).reshape(shape)
        return array if kind == "array" else array[()]
    if kind == "device":
        return torch.device(content)
    if kind == "tensor":
        return tensors[content]
    raise ValueError(f"{kind!r} is no kind of stored value")


# -- the training state (optimizer and random state), in model files and checkpoints -------


def encode_training_state(optimizer, rng_state, tensors, *, instead):
    """JSON data of ``optimizer``'s state dict; its tensors go into ``tensors`` as
    ``optimizer.N``, and the random state ``rng_state`` (what
    :func:`sktorchcw._device.get_rng_state` returns, or None) as ``rng.torch`` and
    ``rng.cuda``.

    A value a safe file cannot hold is a ValueError suggesting ``instead``.
    """
    own: dict = {}
    try:
        data = encode_value(optimizer.state_dict(), own, "optimizer")
    except TypeError as error:
        raise ValueError(
            f"The state of optimizer {type(optimizer).__name__} holds a value a safe file "
            f"cannot store ({error}); {instead}."
        ) from None
    for tensor_name, device in _RNG_TENSORS.items():
        if rng_state is not None and device in rng_state:
            own[tensor_name] = rng_state[device]
    tensors.update(own)
    return data


def decode_training_state(data, tensors):
    """``(optimizer_state_dict, rng_state)`` from what :func:`encode_training_state`
    stored; ``rng_state`` is None where none was stored (or a dict as
    :func:`sktorchcw._device.get_rng_state` returns it). A ValueError (or KeyError, for a
    missing tensor) says what does not fit."""
    state = decode_value(data, tensors)
    if not isinstance(state, dict) or sorted(state) != ["param_groups", "state"]:
        raise ValueError("it is not an optimizer's state dict")
    rng_state = {device: tensors[key] for key, device in _RNG_TENSORS.items() if key in tensors}
    if not rng_state:
        return state, None
    reference = torch.get_rng_state()
    cpu = rng_state.get("cpu")
    if cpu is None or cpu.dtype != reference.dtype or cpu.shape != reference.shape:
        raise ValueError(f"rng.torch is not a torch random state ({reference.dtype}, shape "
                         f"{tuple(reference.shape)})")
    try:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(cpu)
    except RuntimeError as error:
        raise ValueError(f"rng.torch is not a torch random state ({error})") from None
    cuda = rng_state.get("cuda")
    if cuda is not None and (cuda.dtype != torch.uint8 or cuda.ndim != 1):
        raise ValueError("rng.cuda is not a CUDA random state (uint8, one dimension)")
    return state, rng_state


def load_optimizer_state(optimizer, state, *, keep_settings=False):
    """Put ``state``, an optimizer state dict read from a file, into ``optimizer`` after
    checking that it fits its parameters.

    Every tensor of a parameter's state must be finite and a scalar, of the parameter's
    shape, or flat over all parameters (as ``torch.optim.LBFGS`` keeps its state); the
    parameter groups must list the optimizer's parameters. ``keep_settings=True`` keeps
    the optimizer's own settings (lr, betas...) rather than the stored ones. A ValueError
    says what does not fit.
    """
    parameters = [parameter for group in optimizer.param_groups
                  for parameter in group["params"]]
    groups, per_parameter = state["param_groups"], state["state"]
    if not isinstance(groups, list) or not all(
            isinstance(group, dict) and isinstance(group.get("params"), list)
            for group in groups):
        raise ValueError("its param_groups are not a list of groups with their params")
    indices = sorted(index for group in groups for index in group["params"])
    if indices != list(range(len(parameters))) or not isinstance(per_parameter, dict) or (
            not set(per_parameter) <= set(indices)):
        raise ValueError(f"it describes other parameters than the network's "
                         f"{len(parameters)}")
    flat = (sum(parameter.numel() for parameter in parameters),)
    for index, values in per_parameter.items():
        if not isinstance(values, dict):
            raise ValueError(f"the state of parameter {index} is not a dict")
        shape = tuple(parameters[index].shape)
        for key, value in values.items():
            for item in _items(value):
                if isinstance(item, float) and not math.isfinite(item) or (
                        isinstance(item, torch.Tensor) and item.is_floating_point()
                        and not bool(torch.isfinite(item).all())):
                    raise ValueError(f"{key} of parameter {index} is NaN or infinite")
                if isinstance(item, torch.Tensor) and item.ndim and (
                        tuple(item.shape) not in (shape, flat)):
                    raise ValueError(f"{key} of parameter {index} has shape "
                                     f"{tuple(item.shape)}, the parameter {shape}")
    settings = [{key: value for key, value in group.items() if key != "params"}
                for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    if keep_settings:
        for group, current in zip(optimizer.param_groups, settings, strict=True):
            group.update(current)


def _items(value):
    """``value`` and, for lists, tuples and dicts, everything inside."""
    yield value
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _items(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _items(item)


# -- the container --------------------------------------------------------------------------


def encode_safe_file(metadata, tensors):
    """The bytes of a safetensors file of ``tensors`` with the JSON ``metadata`` and its
    checksum in the header."""
    text = json.dumps(metadata, sort_keys=True)
    # Copies on the CPU: safetensors refuses tensors that share memory, as the LSTM's
    # weights do on a GPU.
    tensors = {name: tensor.detach().to("cpu", copy=True).contiguous()
               for name, tensor in tensors.items()}
    header = {"sktorchcw": text, "sha256": _digest(text, tensors)}
    return safetensors.torch.save(tensors, metadata=header)


def parse_safe_file(data, what):
    """``(metadata, tensors)`` of bytes written by :func:`encode_safe_file`.

    Raises ValueError with the reason (to follow the file's name) for anything else;
    ``what`` names the expected kind of file. Nothing here runs code from ``data``: it is
    checked to be a safetensors file before safetensors parses its JSON header and tensor
    bytes, and a pickle or torch.save archive is named and refused, never read.
    """
    _check_container(data, what)
    try:
        tensors = safetensors.torch.load(data)
    except Exception as error:  # safetensors' own error, or a dtype torch lacks
        raise ValueError(f"is not {what}: its safetensors data is malformed ({error}).") from None
    header_size = int.from_bytes(data[:_LENGTH_BYTES], "little")
    header = json.loads(data[_LENGTH_BYTES:_LENGTH_BYTES + header_size])  # safetensors read it
    ours = header.get("__metadata__")
    if not isinstance(ours, dict) or sorted(ours) != sorted(_HEADER_KEYS):
        raise ValueError(f"is not {what}: it is a safetensors file without sktorchcw's "
                         "metadata.")
    if not all(_storable(tensor) for tensor in tensors.values()):
        raise ValueError(f"is not {what}: it holds tensors of a type sktorchcw does not write.")
    if _digest(ours["sktorchcw"], tensors) != ours["sha256"]:
        raise ValueError("was changed or damaged after it was saved (its checksum does not "
                         "match); refused.")
    try:
        metadata = json.loads(ours["sktorchcw"])
    except (ValueError, RecursionError):
        raise ValueError("has unreadable metadata.") from None
    return metadata, tensors


def _check_container(data, what):
    """A ValueError unless ``data`` starts like a safetensors file (a header length that
    fits, then a JSON object); a pickle or torch.save archive gets a message of its own."""
    if not data:
        raise ValueError(f"is not {what}: it is empty.")
    header_size = int.from_bytes(data[:_LENGTH_BYTES], "little")
    available = len(data) - _LENGTH_BYTES
    if len(data) > _LENGTH_BYTES and header_size <= min(available, _MAX_HEADER_BYTES) and (
            data[_LENGTH_BYTES:_LENGTH_BYTES + 1] == b"{"):
        return
    if data.startswith(_ZIP_MAGIC) and FORMAT.encode() in data:
        raise ValueError(
            "was refused: it is a model file of model file format 1, written by a development "
            "version of sktorchcw 0.1.0 with torch.save. That format is read through pickle, "
            "which can run code on older torch versions, so it is no longer read. To convert "
            "a file you trust: with that sktorchcw version on torch>=2.10, "
            "joblib.dump(sktorchcw.load(path), 'model.joblib'); then, with this version, "
            "joblib.load('model.joblib').save(path)."
        )
    if data.startswith(_ZIP_MAGIC) or data[:2] in _PICKLE_PROTOCOLS:
        raise ValueError(
            f"was refused: it is a pickle or torch.save archive, not {what}. Such files can "
            "run code when read, so sktorchcw never reads them; nothing in it was executed."
        )
    if len(data) < _LENGTH_BYTES:
        raise ValueError(f"is not {what}: it is truncated ({len(data)} bytes).")
    if header_size > available or header_size > _MAX_HEADER_BYTES:
        raise ValueError(f"is not {what}: it declares a header of {header_size} bytes, but "
                         f"{available} bytes follow (a truncated file, or not a safetensors "
                         "file).")
    raise ValueError(f"is not {what}: its header is not a safetensors header.")


def _storable(tensor):
    """A dense tensor of the dtypes sktorchcw writes: nothing else is read or hashed."""
    return tensor.layout == torch.strided and tensor.dtype in _TENSOR_DTYPES


def _digest(metadata, tensors):
    digest = hashlib.sha256(metadata.encode())
    for name in sorted(tensors):
        tensor = tensors[name]
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _check_folder(target):
    """A FileNotFoundError naming the folder when a path's folder does not exist."""
    if hasattr(target, "write"):
        return
    folder = os.path.dirname(os.path.abspath(os.fspath(target)))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {os.fspath(target)}: the folder {folder} "
                                "does not exist. Create it first (os.makedirs).")


def _write(target, data):
    if hasattr(target, "write"):
        if isinstance(target, io.TextIOBase):
            raise _text_mode(target, "wb")
        target.write(data)
        return
    with open(target, "wb") as file:
        file.write(data)


def _read(source):
    if not hasattr(source, "read"):
        with open(source, "rb") as file:
            return file.read()
    if isinstance(source, io.TextIOBase):
        raise _text_mode(source, "rb")
    try:
        data = source.read()
    except UnicodeDecodeError:  # a text-mode file object that is no io.TextIOBase
        raise _text_mode(source, "rb") from None
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"{_name(source)} gave {type(data).__name__}, not bytes; open the "
                        "file in binary mode ('rb').")
    return bytes(data)


def _text_mode(file, mode):
    return TypeError(f"{_name(file)} is open in text mode, but a model file is binary (text "
                     f"mode would decode or encode its bytes); open it in binary mode "
                     f"({mode!r}).")


def _name(source):
    """How messages name a path or a file object."""
    if isinstance(source, (str, bytes, os.PathLike)):
        return str(os.fspath(source))
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else f"the {type(source).__name__} file object"


# -- small helpers --------------------------------------------------------------------------


def _with_prefix(tensors, prefix):
    return {name[len(prefix):]: tensor for name, tensor in tensors.items()
            if name.startswith(prefix)}


def _array_to_json(array):
    array = np.asarray(array)
    plain_objects = array.dtype.kind == "O" and all(
        isinstance(item, (str, bool, int, float, np.generic)) for item in array
    )
    if array.dtype.kind not in "biufU" and not plain_objects:
        raise ValueError(
            f"classes_ of dtype {array.dtype} cannot be stored in a safe model file; use labels "
            "that are numbers, booleans or strings."
        )
    values = [_plain(item) if isinstance(item, np.generic) else item for item in array.tolist()]
    return {"dtype": array.dtype.str, "values": values}


def _plain(value):
    """A numpy scalar as the Python value it holds; plain values pass through."""
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON data")


# -- skorch nets (sktorchcw.skorch) ---------------------------------------------------------

# The drop-in skorch classifiers a model file may hold, all of sktorchcw.skorch.
SAVED_NETS = ("NeuralNetClassifier", "NeuralNetBinaryClassifier")
_NETS_MODULE = "sktorchcw.skorch"
# The parameters a net's file stores; those whose names start with these prefixes too.
_NET_PARAMS = ("module", "criterion", "optimizer", "lr", "max_epochs", "batch_size",
               "class_weight", "loss_reduction", "weighting", "sampling", "prior_correction",
               "predict_nonlinearity", "classes", "threshold")
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
