"""Section a, overhead: estimator vs hand-written loop.

Measures: the epoch time of LSTMBlinkClassifier (hidden 32, batches of 64).
Anchor: ``HandLoop`` (``training.py``), a hand-written PyTorch loop with the same module,
Adam and batch size over pre-made tensors, one of its epochs between two of the
estimator's.
Figure: estimator / hand-written loop epoch, target <= 1.05.

LSTMBlinkClassifier epoch time / a hand-written PyTorch loop with the same
module (``LSTMLogits``), Adam and batch size that slices pre-made tensors by a random
permutation. Target <= 1.05. The two alternate epoch by epoch (a callback of the
estimator runs one hand-written epoch between two of its own), so every round lasts
under a second and a slow spell of a shared machine hits both alike.
"""

from common import at_most, compare
from data import blink_data
from training import HandLoop, InterleavedHandLoop, fit_estimator

TITLE = "estimator vs hand-written loop"


def measure(sizes, device):
    """a. The estimator against a hand-written loop, epochs interleaved one by one."""
    X, y = blink_data(sizes.n_samples, sizes.seq_len)
    epochs = sizes.repeats * sizes.timed_epochs
    interleaved = InterleavedHandLoop(HandLoop(X, y, device))
    clf = fit_estimator(X, y, device, epochs + 1, callbacks=[("hand", interleaved)])
    interleaved = dict(clf.net_.callbacks_)["hand"]  # the estimator fits a copy
    results = {"estimator": interleaved.estimator_seconds[1:],  # without the warm-up epoch
               "hand": interleaved.hand_seconds[1:]}
    labels = {"estimator": "LSTMBlinkClassifier epoch",
              "hand": "hand-written loop epoch (sliced tensors)"}
    return compare("a", results, labels, "estimator / hand-written loop", "s", at_most(1.05))
