"""What the model files of the estimators and of the skorch nets share.

A model file (see :mod:`sktorchcw._persistence` for its entries) holds an estimator
(:mod:`sktorchcw._persistence`) or a :mod:`sktorchcw.skorch` net
(:mod:`sktorchcw._net_files`). Both store the network's state dict, the classes, the
class weights, the history and the optimizer's state alike; this module holds the format
version, those entries' encoding and the checks both run at load, each a ValueError
naming the file and the entry (:func:`_check_tensor_names`, :func:`_classes_from`,
:func:`_check_class_vector`, :func:`_check_history`, :func:`_check_shapes_and_values`),
and the loading steps both take (:func:`_load_weights`, :func:`_load_stored_optimizer`).
The container and the coding of values are :mod:`sktorchcw._safe_file`'s.
"""

import contextlib

import numpy as np
import torch

from ._data import check_label_types
from ._safe_file import (
    _NUMPY_KINDS,
    _RNG_TENSORS,
    _TENSOR_DTYPES,
    _storable,
    decode_training_state,
    load_optimizer_state,
)

__all__ = ["FORMAT_VERSION", "READ_FORMAT_VERSIONS", "OPTIMIZER_STATE_MISSING"]

# 3: the parameter ``module`` (None, 'lstm', 'gru', or a network class stored by name as
# {"module_class": module_record(...)}), and module__* of the user's network. 2: the same
# container and entries without them (sktorchcw before module=), still read: such a file
# holds the built-in LSTM, which the default module=None builds. 1: torch.save, refused.
FORMAT_VERSION = 3
READ_FORMAT_VERSIONS = (2, 3)
# numpy kinds of stored classes: those of stored values (_NUMPY_KINDS), and an object
# array of such values (as save writes them).
_CLASS_KINDS = _NUMPY_KINDS + "O"
# Set (True) on the net of a model loaded from a file without optimizer state: continuing
# it (warm_start, partial_fit) warns that the optimizer restarts. A fit replaces the net.
OPTIMIZER_STATE_MISSING = "_optimizer_state_missing"
# Tensors of a model file: the network's and the parameters'; with the training state
# (unless saved with optimizer=False) the optimizer's and the random state's
# (_RNG_TENSORS), by device.
_MODEL_TENSORS = ("module.", "params.")
# How an edited file is fixed, for the messages of the checks at load.
_EDITED = ("refused: the file was changed after it was saved (with its checksum recomputed), "
           "or not written by sktorchcw's save. Save the fitted model again with "
           "estimator.save(path)")


# -- the network ----------------------------------------------------------------------------


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


@contextlib.contextmanager
def _refusing(name):
    """A ValueError raised inside (the estimator's own checks of the stored parameters)
    becomes one that names the file."""
    try:
        yield
    except ValueError as error:
        raise ValueError(f"{name} holds parameters sktorchcw refuses: {error}") from None


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


# -- the fitted entries ---------------------------------------------------------------------


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
