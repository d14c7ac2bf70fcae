"""Section p, tagger overhead: tagger on equal-length 3-D input vs a hand-written loop.

Measures: the epoch time of a unidirectional LSTMBlinkTagger on section a's 3-D
equal-length data with per-frame labels.
Anchor: ``HandLoop(per_frame=True)`` (``training.py``), section a's hand-written loop with
``LSTMFrameLogits`` and per-frame cross-entropy, one of its epochs between two of the
tagger's.
Figure: tagger / hand-written loop epoch, target <= 1.05.

``LSTMBlinkTagger`` (unidirectional, hidden 32, batches of 64) epoch
time on section a's 3-D equal-length data with per-frame labels / section a's
hand-written loop with ``LSTMFrameLogits`` and per-frame cross-entropy (sliced
tensors, nothing packed). Epochs interleaved as in a. Target <= 1.05, as in a.
"""

import numpy as np

from common import BATCH_SIZE, at_most, compare
from data import blink_data
from training import HandLoop, InterleavedHandLoop, fit_tagger

TITLE = "tagger on equal-length 3-D input vs a hand-written loop"


def measure(sizes, device):
    """p. The tagger on a 3-D array of equal-length sequences against a hand-written loop
    (section a's, with per-frame labels), epochs interleaved as in a."""
    X, _ = blink_data(sizes.n_samples, sizes.seq_len)
    y = (X[:, :, 0] > np.quantile(X[:, :, 0], 0.94)).astype(np.int64)
    epochs = sizes.repeats * sizes.timed_epochs
    interleaved = InterleavedHandLoop(HandLoop(X, y, device, per_frame=True))
    tagger = fit_tagger(X, y, device, epochs + 1, callbacks=[("hand", interleaved)],
                        bidirectional=False, batch_size=BATCH_SIZE)
    interleaved = dict(tagger.net_.callbacks_)["hand"]
    results = {"tagger": interleaved.estimator_seconds[1:],
               "hand": interleaved.hand_seconds[1:]}
    labels = {"tagger": "LSTMBlinkTagger epoch (3-D, equal lengths)",
              "hand": "hand-written per-frame loop epoch (sliced tensors)"}
    return compare("p", results, labels, "tagger / hand-written loop", "s", at_most(1.05))
