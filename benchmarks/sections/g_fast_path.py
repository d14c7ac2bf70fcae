"""Section g, fast path: fast path: SliceBatches vs DataLoader.

Measures: the epoch time of LSTMBlinkClassifier with its default ``SliceBatches``
iterator (and, on a GPU, with the training data kept on the device).
Anchor: skorch's ``DataLoader`` iterators, the per-sample collate path (on a GPU also
batches sliced on the host and copied over).
Figures: after / before, target < 1; on a GPU on device / on host, target < 1.

Epoch time with the default ``SliceBatches`` iterator (after) / with
``torch.utils.data.DataLoader`` iterators, skorch's per-sample collate path (before).
Epochs alternate as in b. Target < 1. On a GPU also the training data kept on the
device (the default when it fits) / sliced on the host with every batch copied over
(``iterator_train__device=None``).
"""

import torch
from torch.utils.data import DataLoader

from common import below, compare
from data import blink_data
from training import alternate_epochs

TITLE = "fast path: SliceBatches vs DataLoader"


def measure(sizes, device):
    """g. The slicing iterator against skorch's DataLoader path, epochs alternating; on a
    GPU also data kept on the device against batches sliced on the host and copied."""
    X, y = blink_data(sizes.n_samples, sizes.seq_len)
    variants = {"slice": {},
                "dataloader": {"iterator_train": DataLoader, "iterator_valid": DataLoader}}
    on_accelerator = torch.device(device).type != "cpu"
    if on_accelerator:
        variants["host"] = {"iterator_train__device": None}
    results = alternate_epochs(X, y, device, variants, sizes.repeats * sizes.timed_epochs)
    labels = {"slice": "after: SliceBatches epoch (default)",
              "dataloader": "before: DataLoader iterators epoch"}
    rows = compare("g", {key: results[key] for key in labels}, labels, "after / before",
                   "s", below(1.0))
    if on_accelerator:
        labels = {"slice": "data on the device (default)",
                  "host": "data on the host, batches copied"}
        rows += compare("g", {key: results[key] for key in labels}, labels,
                        "on device / on host", "s", below(1.0))
    return rows
