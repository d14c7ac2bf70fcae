"""Section f, scaling: scaling with samples and sequence length.

Measures: the epoch time of LSTMBlinkClassifier for several numbers of samples and
sequence lengths.
Anchor: proportional growth (a log-log slope of 1).
Figures: the slope over samples, target 1 +- 0.1; over the length, target <= 1.1.

The log-log slope of epoch time against the number of samples (target 1 +- 0.1:
proportional) and against the sequence length (target <= 1.1: at most linear; per-batch
costs that do not grow with the length, such as the optimizer step, keep it below 1).
"""

import numpy as np

from common import alternate, at_most, medians, near, row
from data import blink_data
from training import estimator_epoch_seconds

TITLE = "scaling with samples and sequence length"


def scaling_rows(label, results, target):
    """Epoch time per size and the log-log slope of the medians."""
    times = medians(results)
    slope = np.polyfit(np.log(list(times)), np.log(list(times.values())), 1)[0]
    rows = [row("f", f"epoch, {label}={value}", times[value], "s", samples=results[value])
            for value in times]
    rows.append(row("f", f"log-log slope over {label}", slope, "slope", target))
    return rows


def measure(sizes, device):
    """f. Epoch time against samples (target: proportional) and against sequence length
    (target: at most linear; fixed per-batch costs such as the optimizer step do not grow
    with the length, so the slope there lies below 1)."""
    X, y = blink_data(max(sizes.scaling_samples), sizes.seq_len)
    by_samples = alternate({
        n: (lambda n=n: estimator_epoch_seconds(X[:n], y[:n], device, 1))
        for n in sizes.scaling_samples
    }, sizes.scaling_repeats)
    data = {seq_len: blink_data(sizes.n_samples, seq_len) for seq_len in sizes.scaling_seq_lens}
    by_length = alternate({
        seq_len: (lambda Xy=Xy: estimator_epoch_seconds(*Xy, device, 1))
        for seq_len, Xy in data.items()
    }, sizes.scaling_repeats)
    return (scaling_rows("n_samples", by_samples, near(1.0, 0.1))
            + scaling_rows("seq_len", by_length, at_most(1.1)))
