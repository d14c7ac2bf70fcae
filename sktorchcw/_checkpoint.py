"""Per-epoch checkpoints in a folder, and resuming an interrupted fit from them.

A checkpoint is a safetensors file, like a model file (:mod:`sktorchcw._persistence`):
the weights, the optimizer's tensors and the random states as tensors, the rest (the
optimizer's settings and other state, the history) as JSON with a checksum. Reading it
never calls ``torch.load`` nor unpickles anything, so a checkpoint cannot run code.
"""

import json
import os
import re
import tempfile
from pathlib import Path

import joblib
import numpy as np
from skorch.callbacks import Callback
from skorch.history import History

from ._device import get_rng_state, set_rng_state
from ._safe_file import (
    decode_training_state,
    encode_safe_file,
    encode_training_state,
    load_optimizer_state,
    parse_safe_file,
)

__all__ = ["CHECKPOINT_PREFIX", "checkpoint_path", "EpochCheckpoint", "training_fingerprint",
           "load_checkpoint", "restore_checkpoint", "remove_checkpoint"]

CHECKPOINT_PREFIX = "sktorchcw_checkpoint-"
_FORMAT = "sktorchcw-checkpoint"
_FORMAT_VERSION = 2  # 1: a torch.save archive named *.pt, never read (it could run code)
_CHECKPOINT_FILE = "an sktorchcw checkpoint"
# Parameters that do not change what is learned, so a fit may resume with other values.
_NOT_FINGERPRINTED = ("callbacks", "verbose", "progress_bar", "checkpoint_dir", "max_epochs",
                      "device", "iterator_valid", "predict_batch_size", "prior_correction",
                      "warm_start")


def training_fingerprint(estimator, sequences, y_encoded, sample_weight):
    """A hash of the parameters and data that determine training."""
    params = {
        key: value
        for key, value in estimator.get_params(deep=False).items()
        if key not in _NOT_FINGERPRINTED
    }
    data = (sequences.frames, sequences.valid_lengths, y_encoded, sample_weight,
            estimator.classes_)
    return joblib.hash(([(key, _hashable(value)) for key, value in sorted(params.items())], data))


def _hashable(value):
    """The value itself, or for one that cannot be pickled (a lambda, a local function) a
    description that is the same in every process: its code, never its memory address."""
    try:
        joblib.hash(value)
        return value
    except Exception:
        code = getattr(value, "__code__", None)
        if code is not None:
            return ("function", value.__module__, value.__qualname__, code.co_code,
                    repr(code.co_consts))
        return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def checkpoint_path(folder, fingerprint):
    """The checkpoint file of one training configuration in ``folder``.

    Named after the fingerprint, so fits of other parameters or data (the folds and
    candidates of a parallel search) sharing the folder never touch each other's file.
    """
    return Path(folder) / f"{CHECKPOINT_PREFIX}{fingerprint}.safetensors"


def check_checkpoint_dir(folder):
    """A ValueError, before any training, when ``folder`` exists and is not a folder."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ValueError(
            f"checkpoint_dir={os.fspath(folder)!r} is a file, not a folder; give a folder "
            "(it is created when missing)."
        )


class EpochCheckpoint(Callback):
    """After every epoch, write the weights, optimizer state, history and random state
    (the CPU's, and the GPU's when training on CUDA)."""

    def __init__(self, path, fingerprint):
        self.path = Path(path)
        self.fingerprint = fingerprint

    def on_epoch_end(self, net, **kwargs):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.path, _checkpoint_bytes(net, self.fingerprint))


def _checkpoint_bytes(net, fingerprint):
    tensors = {f"module.{name}": value for name, value in net.module_.state_dict().items()}
    # The random state: the CPU's, and on CUDA the GPU's, from which dropout there draws.
    optimizer = encode_training_state(net.optimizer_, get_rng_state(net.device), tensors,
                                      instead="train without checkpoint_dir")
    metadata = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "fingerprint": fingerprint,
        "epochs": len(net.history),
        "optimizer": optimizer,
        "history": json.loads(json.dumps(net.history.to_list(), default=_json_number)),
    }
    return encode_safe_file(metadata, tensors)


def _write_atomically(path, data):
    # Written to a file of its own, then renamed: a process killed mid-write leaves the
    # previous checkpoint intact, and concurrent writers never share a partial file.
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".",
                                       suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def load_checkpoint(folder, fingerprint):
    """The checkpoint of this training configuration in ``folder``, if there is one.

    Returns None, or a dict of ``"epochs"``, ``"module"`` (the state dict),
    ``"optimizer"`` (its state dict), ``"history"`` (a list), ``"rng"`` (as
    :func:`sktorchcw._device.get_rng_state` returns it) and ``"path"``, for
    :func:`restore_checkpoint`.
    """
    check_checkpoint_dir(folder)
    path = checkpoint_path(folder, fingerprint)
    if not path.exists():
        return None
    try:
        metadata, tensors = parse_safe_file(path.read_bytes(), _CHECKPOINT_FILE)
    except ValueError as error:
        raise ValueError(
            f"{path} cannot be read as a checkpoint: the file {error} Delete it to start "
            "training afresh."
        ) from None
    if not isinstance(metadata, dict) or metadata.get("format") != _FORMAT or metadata.get(
            "format_version") != _FORMAT_VERSION:
        raise ValueError(f"{path} is not an sktorchcw checkpoint of this version; delete it or "
                         "use another checkpoint_dir.")
    if metadata.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{path} was written by a fit with other parameters or data, so it cannot be "
            "resumed here. Delete it to start afresh, or choose another checkpoint_dir."
        )
    try:
        return _state_from(metadata, tensors, path)
    except (ValueError, TypeError, KeyError, IndexError, RecursionError) as error:
        raise ValueError(
            f"{path} cannot be read as a checkpoint: it holds data this sktorchcw cannot use "
            f"({type(error).__name__}: {error}). Delete it to start training afresh."
        ) from None


def _state_from(metadata, tensors, path):
    epochs, history = metadata["epochs"], metadata["history"]
    if type(epochs) is not int or not isinstance(history, list) or epochs != len(history):
        raise ValueError(f"{epochs!r} epochs for a history of {len(history)}")
    optimizer, rng = decode_training_state(metadata["optimizer"], tensors)
    if rng is None:
        raise KeyError("rng.torch")
    return {
        "path": path,
        "epochs": epochs,
        "module": {name[len("module."):]: value for name, value in tensors.items()
                   if name.startswith("module.")},
        "optimizer": optimizer,
        "history": history,
        "rng": rng,
    }


def restore_checkpoint(net, state):
    """Put a checkpoint's weights, optimizer state, history and random state into ``net``."""
    try:
        net.module_.load_state_dict(state["module"])
        load_optimizer_state(net.optimizer_, state["optimizer"])
        set_rng_state(state["rng"], net.device)
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise ValueError(
            f"{state.get('path', 'The checkpoint')} does not fit the model being trained "
            f"({' '.join(lines[:3])}). Delete it to start training afresh."
        ) from None
    net.history_ = History(state["history"])


def remove_checkpoint(folder, fingerprint):
    """Delete this configuration's checkpoint, never another fit's."""
    checkpoint_path(folder, fingerprint).unlink(missing_ok=True)


def _json_number(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} in the history cannot be saved in a checkpoint.")
