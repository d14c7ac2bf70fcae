"""Shared test helpers: fast estimator parameters, a Ctrl-C press, a mapping that is not a
dict, the peak memory of a call."""

import os
import signal
import tracemalloc
from collections.abc import Mapping

from skorch.callbacks import Callback

from sktorchcw import LSTMBlinkClassifier

# Small and fast: enough to learn the generated blinks, quick enough for many fits.
FAST = dict(max_epochs=8, batch_size=32, hidden_size=12, lr=0.02, device="cpu", random_state=0)


def fast_classifier(**params):
    return LSTMBlinkClassifier(**{**FAST, **params})


class CtrlCAt(Callback):
    """Presses Ctrl-C (a real SIGINT) at the end of the given epoch, before that epoch's
    checkpoint is written (the checkpoint callback comes last), or inside one of its
    training batches."""

    def __init__(self, epoch, batch=None):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, net, training=False, **kwargs):
        if (self.batch is not None and training and len(net.history) == self.epoch
                and len(net.history[-1]["batches"]) == self.batch):
            os.kill(os.getpid(), signal.SIGINT)

    def on_epoch_end(self, net, **kwargs):
        if self.batch is None and len(net.history) == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)


class LabelWeights(Mapping):
    """A read-only mapping that is not a dict."""

    def __init__(self, weights):
        self._weights = dict(weights)

    def __getitem__(self, key):
        return self._weights[key]

    def __iter__(self):
        return iter(self._weights)

    def __len__(self):
        return len(self._weights)


def traced_peak(call):
    """Peak bytes that numpy and Python allocate during ``call()``, and its result."""
    tracemalloc.start()
    try:
        result = call()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()
