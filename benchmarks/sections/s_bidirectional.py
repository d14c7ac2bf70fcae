"""Section s, bidirectional tagger: bidirectional vs unidirectional tagger on long ragged
recordings.

Measures: the epoch time of a bidirectional LSTMBlinkTagger on long recordings of
different lengths.
Anchor: the same tagger unidirectional, epochs alternating.
Figure: bidirectional / unidirectional epoch, target <= 2.5.

``LSTMBlinkTagger`` (hidden 16, batches of 32: the whole set in
one padded batch) epoch time, bidirectional / unidirectional, on 6 recordings of 5,000
to 11,000 frames (2 features, uniform lengths), one epoch each in turn as in r
(``partial_fit``, skorch's ``EpochTimer``); also the ratio of the calls' process CPU
time. Target <= 2.5 (issue 28; the packed bidirectional LSTM the networks ran before
cost 400 to 600 times the unidirectional epoch here).
"""

import numpy as np

from sktorchcw import LSTMBlinkTagger

from common import LR, at_most, compare, row
from data import ragged_recordings
from training import estimator_epochs

TITLE = "bidirectional vs unidirectional tagger on long ragged recordings"

BIDIRECTIONAL_HIDDEN = 16  # section s
BIDIRECTIONAL_BATCH = 32  # more than the recordings: the whole set is one padded batch


def measure(sizes, device):
    """s. A bidirectional tagger epoch against a unidirectional one on long recordings of
    different lengths, one epoch each in turn (``partial_fit``, skorch's ``EpochTimer``).

    The packed bidirectional LSTM that the built-in networks ran before issue 28 cost, on
    the CPU, 400 to 600 times the unidirectional epoch here (its backward pass grows with
    the batch's longest recording times its frames); the networks now run the forward
    direction over the padded batch and the backward direction over each recording
    reversed within its own length (``sktorchcw._bidirectional``)."""
    n, shortest, longest = sizes.bidirectional_recordings
    X, _, y = ragged_recordings(n, shortest, longest)
    common = {"hidden_size": BIDIRECTIONAL_HIDDEN, "batch_size": BIDIRECTIONAL_BATCH,
              "lr": LR, "max_epochs": 1, "device": device, "random_state": 0}
    estimators = {name: LSTMBlinkTagger(bidirectional=name == "bidirectional", **common)
                  for name in ("bidirectional", "unidirectional")}
    for estimator in estimators.values():
        estimator.fit(X, y)  # the warm-up epoch
    results, cpu = estimator_epochs(estimators, X, y, device, sizes.bidirectional_rounds)
    frames = f"{len(X)} x {min(map(len, X))}..{max(map(len, X))} frames"
    labels = {"bidirectional": f"bidirectional tagger epoch, {frames}",
              "unidirectional": "unidirectional tagger epoch, the same"}
    rows = compare("s", results, labels, "bidirectional / unidirectional epoch", "s",
                   at_most(2.5))
    per_round = np.divide(cpu["bidirectional"], cpu["unidirectional"])
    rows.append(row("s", "bidirectional / unidirectional, CPU time", np.median(per_round),
                    "ratio", samples=per_round))
    return rows
