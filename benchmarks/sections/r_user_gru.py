"""Section r, user module: built-in GRU vs the same GRU as a user module.

Measures: the epoch time of both estimators with ``module='gru'``, on equal-length 3-D
and on ragged data.
Anchor: the same computation written as a user ``nn.Module`` (``UserGRULast``,
``UserGRUAtLengths``, ``UserGRUFrames``) in the same estimator, epochs alternating.
Figure: built-in / user module, target within 1.05x either way.

``module='gru'`` (the built-in GRU) against the same computation as a
user ``nn.Module`` (``nn.GRU`` and a linear head on what the built-in reads: for the
classifier the last hidden state ``h_n`` on 3-D input, a ``forward(x)`` without
lengths, and the output at ``lengths - 1`` on ragged input; for the tagger every step
of the unpacked batch) in the same estimator
(hidden 32, batches of 64, unidirectional), one epoch each in turn (``partial_fit``,
skorch's ``EpochTimer``), on section a's equal-length 3-D data and on as many ragged
recordings of 25 to 75 frames; both estimators. Target: within 1.05x of each other.
"""

import numpy as np
import torch
from torch import nn

from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger

from common import BATCH_SIZE, HIDDEN_SIZE, LR, compare, row, within_factor
from data import blink_data, ragged_recordings
from training import estimator_epochs

TITLE = "built-in GRU vs the same GRU as a user module"


class UserGRU(nn.Module):
    """A unidirectional ``nn.GRU`` and a linear head, as a user writes them: the shared part
    of section r's user modules, which differ only in what the head reads (as the built-in
    networks do for each kind of input)."""

    def __init__(self, n_features, n_outputs, hidden_size=HIDDEN_SIZE):
        super().__init__()
        self.gru = nn.GRU(n_features, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, n_outputs)


class UserGRULast(UserGRU):
    """Classifier, equal-length 3-D input: ``forward(x)`` (no lengths, so ``UserNetwork``
    passes none) and the head on the GRU's last hidden state ``h_n``, as ``GRULogits`` reads
    it when the estimator gives no lengths."""

    def forward(self, x):
        _, h_n = self.gru(x)
        return self.head(h_n[-1])


class UserGRUAtLengths(UserGRU):
    """Classifier, ragged input: ``forward(x, lengths)``, the GRU over the unpacked batch and
    the head on each recording's output at ``lengths - 1``, as ``GRULogits`` reads a
    unidirectional batch with lengths."""

    def forward(self, x, lengths):
        output, _ = self.gru(x)
        return self.head(output[torch.arange(len(x), device=x.device), lengths - 1])


class UserGRUFrames(UserGRU):
    """Tagger, both kinds of input: ``forward(x)`` and the head on every step of the
    unpacked batch, logits ``(N, T, C)``, as the unidirectional ``GRUFrameLogits`` reads a
    batch with or without lengths (the frames past a recording's end are left out by the
    loss)."""

    def forward(self, x):
        output, _ = self.gru(x)
        return self.head(output)


def measure(sizes, device):
    """r. module='gru' against the same GRU as a user module, both estimators, equal-length
    3-D and ragged data.

    The user module does what the built-in does for each kind of input: the classifier's
    reads the GRU's last hidden state ``h_n`` on 3-D input (``UserGRULast``, whose
    ``forward(x)`` takes no lengths, so the estimator passes none, as it passes the
    built-in none) and gathers the output at ``lengths - 1`` on ragged input
    (``UserGRUAtLengths``); the tagger's puts the head on every step of the unpacked batch
    for both (``UserGRUFrames``). The figures of commit 018f80e came from one module that
    gathered at ``lengths - 1`` on 3-D input too, with the full lengths ``UserNetwork``
    makes up: the gather's backward hands the GRU a gradient at every step, a different
    and costlier computation than the built-in's ``h_n``, so that ratio measured the
    formulation rather than the wrapper. ``UserGRULast`` is for equal lengths only: on
    padded input ``h_n`` would have read past each recording's end."""
    X3, y3 = blink_data(sizes.n_samples, sizes.seq_len)
    y3_frames = (X3[:, :, 0] > np.quantile(X3[:, :, 0], 0.94)).astype(np.int64)
    ragged, y_ragged, y_ragged_frames = ragged_recordings(
        sizes.n_samples, sizes.seq_len // 2, sizes.seq_len * 3 // 2)
    data = {"3-D": (X3, y3, y3_frames), "ragged": (ragged, y_ragged, y_ragged_frames)}
    common = {"hidden_size": HIDDEN_SIZE, "batch_size": BATCH_SIZE, "lr": LR,
              "max_epochs": 1, "device": device, "random_state": 0}
    rows = []
    for name, estimator_class in [("classifier", LSTMBlinkClassifier),
                                  ("tagger", LSTMBlinkTagger)]:
        per_frame = estimator_class is LSTMBlinkTagger
        extra = {"bidirectional": False} if per_frame else {}
        for kind, (X, y, y_frames) in data.items():
            target = y_frames if per_frame else y
            user_module = (UserGRUFrames if per_frame
                           else UserGRULast if kind == "3-D" else UserGRUAtLengths)
            estimators = {
                "builtin": estimator_class(module="gru", **extra, **common),
                "user": estimator_class(module=user_module,
                                        **{key: value for key, value in common.items()
                                           if key != "hidden_size"}),
            }
            for estimator in estimators.values():
                estimator.fit(X, target)
            results, cpu = estimator_epochs(estimators, X, target, device, sizes.gru_rounds)
            labels = {"builtin": f"{name}, module='gru' epoch ({kind})",
                      "user": f"{name}, user-module GRU epoch ({kind})"}
            rows += compare("r", results, labels, f"{name} built-in / user GRU ({kind})", "s",
                            within_factor(1.05))
            per_round = np.divide(cpu["builtin"], cpu["user"])
            rows.append(row("r", f"{name} built-in / user, CPU time ({kind})",
                            np.median(per_round), "ratio", samples=per_round))
    return rows
