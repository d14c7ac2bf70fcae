"""Section h, prediction throughput: prediction throughput vs a no_grad loop.

Measures: ``predict_proba`` throughput on many short sequences
(``predict_batch_size='auto'``).
Anchor: ``no_grad_probabilities``, a hand-written ``torch.no_grad()`` loop over the same
module in batches of 4096 with the softmax.
Figure: estimator time / loop time, target <= 1.5.

``predict_proba`` on many short sequences (100,000 of 10 steps,
2 features) with the default ``predict_batch_size='auto'`` / a ``torch.no_grad()`` loop
over the same module that slices a pre-made tensor in batches of 4096 and applies the
softmax. Calls alternate. Target <= 1.5.
"""

import numpy as np
import torch

from common import alternate, at_most, now, row
from data import blink_data
from training import fit_estimator

TITLE = "prediction throughput vs a no_grad loop"

PREDICT_SEQ_LEN = 10
HAND_PREDICT_BATCH = 4096


def no_grad_probabilities(module, x, device):
    """The hand-written prediction loop: batches of 4096 sliced from a tensor, softmax."""
    module.eval()
    with torch.no_grad():
        batches = [torch.softmax(module(x[start:start + HAND_PREDICT_BATCH]), dim=1)
                   for start in range(0, len(x), HAND_PREDICT_BATCH)]
    return torch.cat(batches).cpu().numpy()


def measure(sizes, device):
    """h. predict_proba throughput against a no_grad loop in batches of 4096."""
    X, y = blink_data(sizes.predict_samples, 20)
    X = np.ascontiguousarray(X[:, :PREDICT_SEQ_LEN])  # 10 steps: short windows, many of them
    clf = fit_estimator(X[:512], y[:512], device, 1)
    x = torch.as_tensor(X, device=device)

    def timed(predict):
        start = now(device)
        predict()
        return len(X) / (now(device) - start)

    results = alternate({
        "estimator": lambda: timed(lambda: clf.predict_proba(X)),
        "loop": lambda: timed(lambda: no_grad_probabilities(clf.module_, x, device)),
    }, sizes.repeats)
    per_round = [loop / estimator
                 for estimator, loop in zip(results["estimator"], results["loop"], strict=True)]
    return [
        row("h", f"predict_proba, {len(X)} sequences of {PREDICT_SEQ_LEN} steps (auto batch)",
            np.median(results["estimator"]), "seq/s", samples=results["estimator"]),
        row("h", f"no_grad loop, batches of {HAND_PREDICT_BATCH}",
            np.median(results["loop"]), "seq/s", samples=results["loop"]),
        row("h", "estimator time / loop time", np.median(per_round), "ratio", at_most(1.5),
            per_round),
    ]
