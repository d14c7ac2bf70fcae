"""Per-epoch checkpoints in a folder, and resuming an interrupted fit from them.

A checkpoint holds tensors, strings and numbers only and is read with torch's
weights-only loader, so a checkpoint file cannot run code when it is loaded.
"""

import json
import os
import re
import tempfile
from pathlib import Path

import joblib
import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.history import History

__all__ = ["CHECKPOINT_PREFIX", "checkpoint_path", "EpochCheckpoint", "training_fingerprint",
           "load_checkpoint", "restore_checkpoint", "remove_checkpoint"]

CHECKPOINT_PREFIX = "sktorchcw_checkpoint-"
_FORMAT = "sktorchcw-checkpoint"
# Parameters that do not change what is learned, so a fit may resume with other values.
_NOT_FINGERPRINTED = ("callbacks", "verbose", "progress_bar", "checkpoint_dir", "max_epochs",
                      "device", "iterator_valid")


def training_fingerprint(estimator, sequences, y_encoded, sample_weight):
    """A hash of the parameters and data that determine training."""
    params = {
        key: value
        for key, value in estimator.get_params(deep=False).items()
        if key not in _NOT_FINGERPRINTED
    }
    data = (sequences.values, sequences.lengths, y_encoded, sample_weight, estimator.classes_)
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
    return Path(folder) / f"{CHECKPOINT_PREFIX}{fingerprint}.pt"


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
        state = {
            "format": _FORMAT,
            "fingerprint": self.fingerprint,
            "epochs": len(net.history),
            "module": net.module_.state_dict(),
            "optimizer": net.optimizer_.state_dict(),
            "history": json.dumps(net.history.to_list(), default=_json_number),
            "torch_rng": torch.get_rng_state(),
        }
        if torch.device(net.device).type == "cuda":  # dropout on a GPU draws from its own
            state["cuda_rng"] = torch.cuda.get_rng_state(net.device)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Written to a file of its own, then renamed: a process killed mid-write leaves the
        # previous checkpoint intact, and concurrent writers never share a partial file.
        handle, partial = tempfile.mkstemp(
            dir=self.path.parent, prefix=self.path.name + ".", suffix=".partial"
        )
        try:
            with os.fdopen(handle, "wb") as file:
                torch.save(state, file)
            os.replace(partial, self.path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise


def load_checkpoint(folder, fingerprint):
    """The checkpoint of this training configuration in ``folder``, if there is one."""
    check_checkpoint_dir(folder)
    path = checkpoint_path(folder, fingerprint)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"{path} cannot be read as a checkpoint ({type(error).__name__}: {error}). Delete it "
            "to start training afresh."
        ) from None
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise ValueError(f"{path} is not an sktorchcw checkpoint; delete it or use another "
                         "checkpoint_dir.")
    if state.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{path} was written by a fit with other parameters or data, so it cannot be "
            "resumed here. Delete it to start afresh, or choose another checkpoint_dir."
        )
    return state


def restore_checkpoint(net, state):
    """Put a checkpoint's weights, optimizer state, history and random state into ``net``."""
    net.module_.load_state_dict(state["module"])
    net.optimizer_.load_state_dict(state["optimizer"])
    net.history_ = History(json.loads(state["history"]))
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and torch.device(net.device).type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], net.device)


def remove_checkpoint(folder, fingerprint):
    """Delete this configuration's checkpoint, never another fit's."""
    checkpoint_path(folder, fingerprint).unlink(missing_ok=True)


def _json_number(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} in the history cannot be saved in a checkpoint.")
