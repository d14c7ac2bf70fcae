"""Section d, memory: memory growth during a fit.

Measures: resident memory (and the CUDA allocator's, on a GPU) at every epoch end of one
fit.
Anchor: none by hand; the memory after epoch 2 of the same fit.
Figure: growth from epoch 2 to the last epoch, target <= 5 MiB.

Resident memory growth from epoch 2 to epoch 50 of a fit (and the CUDA
allocator's on a GPU). Target <= 5 MiB.
"""

import torch

from common import at_most, row
from data import blink_data
from training import fit_estimator

TITLE = "memory growth during a fit"


def measure(sizes, device):
    """d. Memory after epoch 2 against the last epoch of one fit."""
    X, y = blink_data(sizes.n_samples, sizes.seq_len)
    history = fit_estimator(X, y, device, sizes.memory_epochs).history_
    last = sizes.memory_epochs
    rss = history[:, "rss_mib"]
    rows = [
        row("d", "RSS after epoch 2", rss[1], "MiB"),
        row("d", f"RSS growth, epoch 2 -> {last}", rss[-1] - rss[1], "MiB", at_most(5), rss),
    ]
    if torch.device(device).type == "cuda":
        allocated = history[:, "cuda_mib"]
        rows.append(row("d", f"CUDA allocated growth, epoch 2 -> {last}",
                        allocated[-1] - allocated[1], "MiB", at_most(5), allocated))
    return rows
