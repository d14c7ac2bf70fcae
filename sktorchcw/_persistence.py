"""Model files that cannot carry code: tensors for torch's weights-only loader, the rest JSON.

A file is one ``torch.save`` archive holding a dict of three entries: ``"metadata"``, a
JSON string (parameters, classes, fitted class weights, history...), ``"state_dict"``,
the network's tensors, and ``"sha256"``, a digest of both. Loading uses
``torch.load(weights_only=True)``, which refuses anything but tensors and plain data, so
a file cannot run code; the digest detects files changed or damaged after saving (it is
not a signature: whoever can write the file can recompute it). Criterion and optimizer
are stored by name and resolved only to torch's own loss, functional and optimizer
objects or sktorchcw's.
"""

import hashlib
import importlib
import inspect
import json
import os
import pickle
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._device import resolve_device, seeded_torch

__all__ = ["save_model", "load_model", "FORMAT", "FORMAT_VERSION"]

FORMAT = "sktorchcw-model"
FORMAT_VERSION = 1
# Not stored: they matter for training only (and the first four may hold code).
_TRAINING_ONLY = ("callbacks", "train_split", "iterator_train", "iterator_valid",
                  "checkpoint_dir")
_CALLABLE_PARAMS = ("criterion", "optimizer")
# Where a stored criterion or optimizer may come from, checked before anything is imported.
_CALLABLE_MODULES = {
    "criterion": ("torch.nn.modules.loss", "torch.nn.functional", "sktorchcw._loss"),
    "optimizer": ("torch.optim",),
}
_TENSOR_DTYPES = (torch.float32, torch.float64, torch.float16, torch.int64, torch.int32,
                  torch.int16, torch.int8, torch.uint8, torch.bool)
_METADATA_TYPES: dict[str, type | tuple[type, ...]] = {
    "params": dict, "classes": dict, "class_weight": list, "n_features_in": int,
    "feature_names_in": (list, type(None)), "input_layout": str, "n_features": int,
    "device": str, "history": list,
}


def save_model(estimator, path):
    """Write a fitted LSTMBlinkClassifier to ``path`` (see the module docstring)."""
    check_is_fitted(estimator)
    metadata = json.dumps(_metadata(estimator), sort_keys=True)
    state_dict = {
        name: tensor.detach().cpu().contiguous()
        for name, tensor in estimator.module_.state_dict().items()
    }
    payload = {"metadata": metadata, "state_dict": state_dict,
               "sha256": _digest(metadata, state_dict)}
    torch.save(payload, os.fspath(path))


def load_model(path, device=None):
    """Read a file written by :func:`save_model`; see :func:`sktorchcw.load`."""
    payload = _read_payload(path)
    metadata = _check_metadata(path, payload["metadata"])
    try:
        return _estimator_from(path, metadata, payload["state_dict"], device)
    except (KeyError, TypeError, AttributeError, IndexError, OverflowError,
            RuntimeError) as error:
        # The checksum held, so the file was written this way: by another program, or
        # edited with the checksum recomputed. Say so instead of failing somewhere inside.
        raise ValueError(
            f"{path} holds metadata this sktorchcw cannot use ({type(error).__name__}: "
            f"{error}); it was not written by LSTMBlinkClassifier.save, or was edited."
        ) from None


def _estimator_from(path, metadata, state_dict, device):
    from ._classifier import LSTMBlinkClassifier

    estimator = LSTMBlinkClassifier(**_params_from_json(path, metadata["params"]))
    estimator._validate_params()
    estimator._check_routed_params()
    estimator.classes_ = _array_from_json(metadata["classes"])
    estimator.class_weight_ = np.asarray(metadata["class_weight"], dtype=np.float64)
    estimator.n_features_in_ = metadata["n_features_in"]
    if metadata["feature_names_in"] is not None:
        estimator.feature_names_in_ = np.asarray(metadata["feature_names_in"], dtype=object)
    estimator.input_layout_ = metadata["input_layout"]
    estimator.device_ = _target_device(estimator.device, device, metadata["device"])
    net = estimator._build_net(
        estimator._build_criterion(), metadata["n_features"], (None, None), seed=0
    )
    # Compared on the meta device (no memory) first, so that parameters describing a
    # huge network never allocate it.
    _check_weight_shapes(path, net, state_dict)
    with seeded_torch(0, estimator.device_):  # the weights are replaced; keep global RNG
        net.initialize()
    _load_weights(path, net.module_, state_dict)
    net.history_ = History(metadata["history"])
    estimator.net_ = net
    return estimator


def _metadata(estimator):
    from . import __version__

    names = getattr(estimator, "feature_names_in_", None)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sktorchcw_version": __version__,
        "params": _params_to_json(estimator),
        "classes": _array_to_json(estimator.classes_),
        "class_weight": [float(w) for w in estimator.class_weight_],
        "n_features_in": int(estimator.n_features_in_),
        "feature_names_in": None if names is None else [str(name) for name in names],
        "input_layout": estimator.input_layout_,
        "n_features": int(estimator.module_.lstm.input_size),
        "device": estimator.device_,
        "history": json.loads(json.dumps(estimator.history_.to_list(), default=_plain)),
    }


def _params_to_json(estimator):
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if name.partition("__")[0] in _TRAINING_ONLY:
            if value is not None:
                warnings.warn(
                    f"{name} is not saved (it matters for training only); the loaded model "
                    f"has {'no ' + name if '__' in name else name + '=None'}.",
                    UserWarning,
                    stacklevel=5,  # the caller of LSTMBlinkClassifier.save
                )
            continue
        params[name] = _param_to_json(name, value)
    return params


def _param_to_json(name, value):
    if name in _CALLABLE_PARAMS:
        return {"callable": _callable_name(name, value)}
    if name == "class_weight" and isinstance(value, dict):
        return {"dict": [[_plain(key), float(weight)] for key, weight in value.items()]}
    if name == "class_weight" and value is not None and not isinstance(value, str):
        return {"array": [float(weight) for weight in np.asarray(value)]}
    if name == "device" and isinstance(value, torch.device):
        return str(value)
    if name == "random_state" and isinstance(value, np.random.RandomState):
        warnings.warn("random_state, a RandomState instance, is saved as None.", UserWarning,
                      stacklevel=6)  # the caller of LSTMBlinkClassifier.save
        return None
    try:
        return json.loads(json.dumps(value, default=_plain))
    except TypeError:
        raise ValueError(
            f"Parameter {name}={value!r} cannot be stored in a safe model file. Use a plain "
            "value, or pickle/joblib (only for files you trust)."
        ) from None


def _callable_name(name, value):
    module = getattr(value, "__module__", "") or ""
    qualname = getattr(value, "__qualname__", "")
    if not (_from_allowed_module(name, module) and "<" not in qualname
            and _is_allowed_callable(name, value)):
        raise ValueError(
            f"save() stores {name} by name and accepts only torch's own "
            f"{'losses (classes or functions)' if name == 'criterion' else 'optimizers'}; "
            f"got {value!r}. Pass the class with its arguments as {name}__*=..., or use "
            "pickle/joblib (only for files you trust)."
        )
    return f"{module}:{qualname}"


def _from_allowed_module(name, module_name):
    return any(module_name == allowed or module_name.startswith(allowed + ".")
               for allowed in _CALLABLE_MODULES[name])


def _is_allowed_callable(name, value):
    """A torch optimizer class, or a loss: an nn.Module class or a functional loss."""
    if name == "optimizer":
        return inspect.isclass(value) and issubclass(value, torch.optim.Optimizer)
    if inspect.isclass(value):
        return issubclass(value, torch.nn.Module)
    functional = vars(torch.nn.functional)
    own_name = getattr(value, "__name__", "")
    return functional.get(own_name) is value and (
        own_name.endswith("_loss") or value in _functional_losses()
    )


def _functional_losses():
    from ._loss import _KNOWN_FORMATS

    return [known for known in _KNOWN_FORMATS if not inspect.isclass(known)]


def _params_from_json(path, params):
    from ._classifier import LSTMBlinkClassifier, _is_routed

    known = set(LSTMBlinkClassifier._get_param_names())
    unknown = sorted(name for name in params if name not in known and not _is_routed(name))
    if unknown:
        raise ValueError(f"{path} names parameters LSTMBlinkClassifier does not have: "
                         f"{unknown}; refused.")
    decoded = {}
    for name, value in params.items():
        if isinstance(value, dict) and "callable" in value:
            value = _resolve_callable(path, name, value["callable"])
        elif isinstance(value, dict) and "dict" in value:
            value = {_label(key): weight for key, weight in value["dict"]}
        elif isinstance(value, dict) and "array" in value:
            value = np.asarray(value["array"], dtype=np.float64)
        decoded[name] = value
    return decoded


def _resolve_callable(path, name, reference):
    if name not in _CALLABLE_PARAMS:
        raise ValueError(f"{path}: parameter {name} cannot be a stored callable; refused.")
    module_name, _, qualname = str(reference).partition(":")
    if not _from_allowed_module(name, module_name):
        raise ValueError(f"{path}: {name} {reference!r} is not one of torch's own "
                         f"{'losses' if name == 'criterion' else 'optimizers'}; refused.")
    try:
        value = importlib.import_module(module_name)
        for part in qualname.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError):
        raise ValueError(f"{path}: {name} {reference!r} does not exist in this "
                         "installation.") from None
    if not _is_allowed_callable(name, value):
        raise ValueError(f"{path}: {name} {reference!r} is not a torch "
                         f"{'loss' if name == 'criterion' else 'optimizer'}; refused.")
    return value


def _read_payload(path):
    try:
        payload = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError:
        raise ValueError(
            f"{path} was refused: it is not a model file written by LSTMBlinkClassifier.save. "
            "torch's weights-only loader found something other than a torch archive of "
            "tensors and plain data (such as a pickle payload, which could run code); nothing "
            "in it was executed."
        ) from None
    except Exception as error:
        raise ValueError(
            f"{path} is not a model file written by LSTMBlinkClassifier.save "
            f"({type(error).__name__})."
        ) from None
    expected = {"metadata": str, "state_dict": dict, "sha256": str}
    if not isinstance(payload, dict) or set(payload) != set(expected) or not all(
        isinstance(payload[key], kind) for key, kind in expected.items()
    ) or not _plain_tensors(payload["state_dict"]):
        raise ValueError(f"{path} is not a model file written by LSTMBlinkClassifier.save.")
    if _digest(payload["metadata"], payload["state_dict"]) != payload["sha256"]:
        raise ValueError(f"{path} was changed or damaged after it was saved (its checksum "
                         "does not match); refused.")
    return payload


def _plain_tensors(state_dict):
    """Only named, dense tensors of the dtypes a model has: nothing else is hashed."""
    return all(
        isinstance(name, str) and isinstance(tensor, torch.Tensor)
        and tensor.layout == torch.strided and tensor.dtype in _TENSOR_DTYPES
        for name, tensor in state_dict.items()
    )


def _check_metadata(path, text):
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"{path} has unreadable metadata.") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a model file written by LSTMBlinkClassifier.save.")
    version = metadata.get("format_version")
    if type(version) is int and version > FORMAT_VERSION:
        raise ValueError(
            f"{path} uses model file format {version}, newer than this sktorchcw "
            f"(format {FORMAT_VERSION}) reads; upgrade sktorchcw."
        )
    if type(version) is not int or version != FORMAT_VERSION:
        raise ValueError(f"{path} has an unknown model file format version {version!r}.")
    wrong = sorted(key for key, kind in _METADATA_TYPES.items()
                   if not isinstance(metadata.get(key, ...), kind)
                   or isinstance(metadata.get(key), bool))
    if wrong:
        raise ValueError(f"{path} has missing or malformed metadata entries {wrong}; it was "
                         "not written by LSTMBlinkClassifier.save, or was edited.")
    if metadata["n_features"] < 1 or metadata["n_features_in"] < 1:
        raise ValueError(f"{path} describes a model with no input features; refused.")
    return metadata


def _check_weight_shapes(path, net, state_dict):
    with torch.device("meta"):
        module = net.module(**net.get_params_for("module"))
    expected = {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}
    found = {name: tuple(tensor.shape) for name, tensor in state_dict.items()}
    if expected != found:
        differences = sorted(
            f"{name}: {found.get(name, 'missing')} where the parameters give "
            f"{expected.get(name, 'nothing')}"
            for name in set(expected) | set(found) if expected.get(name) != found.get(name)
        )
        raise ValueError(f"{path} holds weights that do not fit the model its parameters "
                         f"describe: {'; '.join(differences[:3])}.")
    if not all(torch.isfinite(tensor).all() for tensor in state_dict.values()
               if tensor.is_floating_point()):
        raise ValueError(f"{path} holds NaN or infinite weights; refused, as such a model "
                         "predicts nothing useful.")


def _load_weights(path, module, state_dict):
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise ValueError(f"{path} holds weights that do not fit the model its parameters "
                         f"describe: {' '.join(lines[:3])}") from None


def _target_device(device_param, requested, saved):
    if requested is not None:
        return resolve_device(requested)
    try:
        return resolve_device(device_param)
    except ValueError:
        warnings.warn(f"The model was saved on {saved}, which is not available here; it is "
                      "loaded on the CPU.", UserWarning, stacklevel=5)  # sktorchcw.load's caller
        return "cpu"


def _digest(metadata, state_dict):
    digest = hashlib.sha256(metadata.encode())
    for name in sorted(state_dict):
        tensor = state_dict[name]
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


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


def _array_from_json(data):
    return np.asarray(data["values"], dtype=np.dtype(data["dtype"]))


def _label(key):
    return tuple(key) if isinstance(key, list) else key


def _plain(value):
    """A numpy scalar as the Python value it holds; plain values pass through."""
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON data")
