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
_TRAINING_ONLY = ("callbacks", "train_split", "iterator_train", "iterator_valid")
_CALLABLE_PARAMS = ("criterion", "optimizer")
_SAFE_MODULE_PREFIXES = ("torch.", "sktorchcw.")


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
    from ._classifier import LSTMBlinkClassifier

    estimator = LSTMBlinkClassifier(**_params_from_json(path, metadata["params"]))
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
    with seeded_torch(0, estimator.device_):  # the weights are replaced; keep global RNG
        net.initialize()
    _load_weights(path, net.module_, payload["state_dict"])
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
        if name in _TRAINING_ONLY:
            if value is not None:
                warnings.warn(
                    f"{name} is not saved (it matters for training only and may hold code); "
                    f"the loaded model has {name}=None.",
                    UserWarning,
                    stacklevel=3,
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
    if name == "checkpoint_dir" and value is not None:
        return os.fspath(value)
    if name == "random_state" and isinstance(value, np.random.RandomState):
        warnings.warn("random_state, a RandomState instance, is saved as None.", UserWarning,
                      stacklevel=4)
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
    allowed = inspect.isclass(value) or inspect.isfunction(value) or inspect.isbuiltin(value)
    if not allowed or not module.startswith(_SAFE_MODULE_PREFIXES) or "<" in qualname:
        raise ValueError(
            f"save() stores {name} by name and accepts only classes or functions from torch "
            f"or sktorchcw; got {value!r}. Pass the class with its arguments as "
            f"{name}__*=..., or use pickle/joblib (only for files you trust)."
        )
    return f"{module}:{qualname}"


def _params_from_json(path, params):
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
    module_name, _, qualname = str(reference).partition(":")
    if not module_name.startswith(_SAFE_MODULE_PREFIXES):
        raise ValueError(f"{path}: {name} {reference!r} is not from torch or sktorchcw; refused.")
    try:
        value = importlib.import_module(module_name)
        for part in qualname.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError):
        raise ValueError(f"{path}: {name} {reference!r} does not exist in this "
                         "installation.") from None
    expected = {"criterion": (torch.nn.Module,), "optimizer": (torch.optim.Optimizer,)}[name]
    is_loss_class = inspect.isclass(value) and issubclass(value, expected)
    is_functional = name == "criterion" and value in vars(torch.nn.functional).values()
    if not (is_loss_class or is_functional):
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
    ):
        raise ValueError(f"{path} is not a model file written by LSTMBlinkClassifier.save.")
    if _digest(payload["metadata"], payload["state_dict"]) != payload["sha256"]:
        raise ValueError(f"{path} was changed or damaged after it was saved (its checksum "
                         "does not match); refused.")
    return payload


def _check_metadata(path, text):
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"{path} has unreadable metadata.") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a model file written by LSTMBlinkClassifier.save.")
    version = metadata.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} uses model file format {version!r}, newer than this sktorchcw "
            f"(format {FORMAT_VERSION}) reads; upgrade sktorchcw."
        )
    return metadata


def _load_weights(path, module, state_dict):
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path} holds weights that do not fit the model its parameters "
                         f"describe: {str(error).splitlines()[0]}") from None


def _target_device(device_param, requested, saved):
    if requested is not None:
        return resolve_device(requested)
    try:
        return resolve_device(device_param)
    except ValueError:
        warnings.warn(f"The model was saved on {saved}, which is not available here; it is "
                      "loaded on the CPU.", UserWarning, stacklevel=3)
        return "cpu"


def _digest(metadata, state_dict):
    digest = hashlib.sha256(metadata.encode())
    for name in sorted(state_dict):
        tensor = state_dict[name]
        if not isinstance(tensor, torch.Tensor):
            return ""
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
