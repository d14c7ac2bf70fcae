"""Per-epoch checkpoints in a folder, and resuming an interrupted fit from them.

A checkpoint holds tensors, strings and numbers only and is read with torch's
weights-only loader, so a checkpoint file cannot run code when it is loaded.
"""

import json
import os
from pathlib import Path

import joblib
import numpy as np
import torch
from skorch.callbacks import Callback
from skorch.history import History

__all__ = ["CHECKPOINT_NAME", "EpochCheckpoint", "training_fingerprint", "load_checkpoint",
           "restore_checkpoint", "remove_checkpoint"]

CHECKPOINT_NAME = "sktorchcw_checkpoint.pt"
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
    try:
        return joblib.hash((sorted(params.items()), data))
    except Exception:  # an unpicklable parameter, e.g. a lambda: fall back to its repr
        return joblib.hash((repr(sorted(params.items())), data))


class EpochCheckpoint(Callback):
    """After every epoch, write the weights, optimizer state, history and random state."""

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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        torch.save(state, partial)
        # A process killed mid-write leaves the previous checkpoint intact.
        os.replace(partial, self.path)


def load_checkpoint(folder, fingerprint):
    """The checkpoint in ``folder`` if there is one, checked against ``fingerprint``."""
    path = Path(folder) / CHECKPOINT_NAME
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
    if state["fingerprint"] != fingerprint:
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


def remove_checkpoint(folder):
    path = Path(folder) / CHECKPOINT_NAME
    path.unlink(missing_ok=True)


def _json_number(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} in the history cannot be saved in a checkpoint.")
