"""The class-weighted net's per-batch shortcuts keep skorch's behaviour: batch callbacks
called in skorch's order, every module in training mode for every training step."""

import numpy as np
import torch
from skorch.callbacks import Callback
from torch import nn

from sktorchcw import LSTMBlinkClassifier
from sktorchcw.skorch import NeuralNetClassifier

FAST = {"max_epochs": 2, "batch_size": 16, "device": "cpu", "random_state": 0}


def blinks(n=64, steps=6):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, steps, 2)).astype(np.float32)
    return X, (np.arange(n) % 4 == 0).astype(int)


class Calls(Callback):
    """Appends (its name, the event) to a shared log on every batch event."""

    def __init__(self, name, log):
        self.name = name
        self.log = log

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        self.log.append((self.name, "begin", training))

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        assert "loss" in kwargs and "y_pred" in kwargs  # skorch hands the step over
        self.log.append((self.name, "end", training))


class OnlyEnd(Callback):
    def __init__(self, log):
        self.log = log

    def on_batch_end(self, net, **kwargs):
        self.log.append(("only_end", "end", kwargs["training"]))


def test_batch_callbacks_are_called_in_order_every_batch():
    X, y = blinks()
    log = []
    callbacks = [("first", Calls("first", log)), ("quiet", Callback()),
                 ("end", OnlyEnd(log)), ("second", Calls("second", log))]
    clf = LSTMBlinkClassifier(**FAST, callbacks=callbacks).fit(X, y)
    log = dict(clf.net_.callbacks_)["first"].log  # the estimator fits copies of them
    batches = 2 * 4  # 2 epochs of 64 / 16
    expected = [("first", "begin", True), ("second", "begin", True),
                ("first", "end", True), ("only_end", "end", True),
                ("second", "end", True)] * batches
    assert log == expected
    assert len(clf.history_[-1]["batches"]) == 4  # the net's own on_batch_begin ran


class RecordsMode(nn.Module):
    """A small network that records whether it was in training mode at each call."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.head = nn.Linear(n_features, n_outputs)
        self.modes = []

    def forward(self, x):
        self.modes.append((self.training, self.head.training))
        return self.head(x.mean(dim=1))


class EvalModeEveryBatch(Callback):
    """Puts the network's head in evaluation mode before every batch."""

    def on_batch_begin(self, net, training=False, **kwargs):
        net.module_.network.head.eval()  # the estimator wraps the network


def test_a_module_put_in_eval_mode_by_a_callback_trains_in_training_mode():
    X, y = blinks()
    clf = LSTMBlinkClassifier(**FAST, module=RecordsMode,
                              callbacks=[("eval", EvalModeEveryBatch())]).fit(X, y)
    modes = clf.net_.module_.network.modes
    assert modes and all(mode == (True, True) for mode in modes)


def test_the_drop_in_net_calls_batch_callbacks_too():
    X = np.random.default_rng(1).normal(size=(48, 5)).astype(np.float32)
    y = np.arange(48) % 2
    log = []

    class Linear(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(5, 2)

        def forward(self, x):
            return torch.softmax(self.layer(x), dim=-1)

    net = NeuralNetClassifier(Linear, max_epochs=1, batch_size=16, train_split=None,
                              callbacks=[("calls", Calls("calls", log))], class_weight="balanced")
    net.fit(X, y)
    assert log == [("calls", "begin", True), ("calls", "end", True)] * 3
