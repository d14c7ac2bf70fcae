"""Fitting the estimators the way the sections time them, and the hand-written PyTorch
loops that are their anchors: ``fit_estimator`` and ``fit_tagger`` (every epoch end
recorded by ``EpochEnd``), epochs of several fitted estimators in turn
(``alternate_epochs``, ``estimator_epochs``), ``HandLoop`` (sections a and p) and
``InterleavedHandLoop``, which runs a hand-written epoch between two of the estimator's
(sections a, i, o and p). A loop only one section uses lives in that section's module."""

import time

import numpy as np
import torch
from skorch.callbacks import Callback
from torch import nn

from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger
from sktorchcw._batching import SequenceDataset
from sktorchcw._module import LSTMFrameLogits, LSTMLogits

from common import BATCH_SIZE, HIDDEN_SIZE, LR, alternate, now, rss_mib


class EpochEnd(Callback):
    """Record the wall clock, resident memory and CUDA memory at every epoch end in history."""

    def on_epoch_end(self, net, **kwargs):
        net.history.record("wall", now(net.device))
        net.history.record("rss_mib", rss_mib())
        if torch.device(net.device).type == "cuda":
            net.history.record("cuda_mib", torch.cuda.memory_allocated(net.device) / 2**20)


def fit_estimator(X, y, device, epochs, callbacks=(), **params):
    """Fit the benchmark's LSTMBlinkClassifier (hidden 32, batches of 64 unless ``params``
    say otherwise), recording every epoch end."""
    params = {"hidden_size": HIDDEN_SIZE, "batch_size": BATCH_SIZE, "lr": LR, **params}
    clf = LSTMBlinkClassifier(
        max_epochs=epochs, device=device, random_state=0,
        callbacks=[("epoch_end", EpochEnd()), *callbacks], **params,
    )
    return clf.fit(X, y)


def estimator_epoch_seconds(X, y, device, timed_epochs, **params):
    """Median epoch time of a fit, the warm-up epoch left out."""
    clf = fit_estimator(X, y, device, timed_epochs + 1, **params)
    return float(np.median(np.diff(clf.history_[:, "wall"])))


def fit_tagger(X, y, device, epochs, callbacks=(), bidirectional=True,
               batch_size=BATCH_SIZE // 4, **params):
    """Fit the benchmark's LSTMBlinkTagger (bidirectional, hidden 32 and batches of 16
    unless told otherwise), recording every epoch end."""
    params = {"hidden_size": HIDDEN_SIZE, "lr": LR, **params}
    tagger = LSTMBlinkTagger(
        batch_size=batch_size, max_epochs=epochs,
        bidirectional=bidirectional, device=device, random_state=0,
        callbacks=[("epoch_end", EpochEnd()), *callbacks], **params,
    )
    return tagger.fit(X, y)


class HandLoop:
    """A plain PyTorch training loop: same module, Adam, loss and batch size as the
    estimator, batches sliced from tensors already on the device by a seeded permutation.
    ``per_frame``: the tagger's ``LSTMFrameLogits`` and ``(N, T)`` labels (cross-entropy
    over every frame) instead of ``LSTMLogits`` and one label per sequence."""

    def __init__(self, X, y, device, seed=0, per_frame=False):
        torch.manual_seed(seed)
        self.device = device
        self.x = torch.as_tensor(X, device=device)
        self.target = torch.as_tensor(y, device=device)
        network = LSTMFrameLogits if per_frame else LSTMLogits
        self.module = network(X.shape[2], 2, hidden_size=HIDDEN_SIZE).to(device)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=LR)
        self.criterion = nn.CrossEntropyLoss()
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def epoch_seconds(self):
        """Train one epoch; return its wall-clock time."""
        start = now(self.device)
        self.module.train()
        order = torch.randperm(len(self.x), generator=self.generator, device=self.device)
        for batch in order.split(BATCH_SIZE):
            self.optimizer.zero_grad()
            loss = self.criterion(self.module(self.x[batch]), self.target[batch])
            loss.backward()
            self.optimizer.step()
            loss.item()  # skorch reads every batch's loss too
        return now(self.device) - start


class InterleavedHandLoop(Callback):
    """Runs one hand-written epoch between every two epochs of the estimator it is
    given to, and records both times: the finest pairing, so that a slow spell of the
    machine hits both variants of a round alike."""

    def __init__(self, loop):
        self.loop = loop
        self.mark = None
        self.estimator_seconds, self.hand_seconds = [], []

    def on_epoch_begin(self, net, **kwargs):
        self._close_round(net.device)

    def on_train_end(self, net, **kwargs):
        self._close_round(net.device)

    def _close_round(self, device):
        if self.mark is not None:
            self.estimator_seconds.append(now(device) - self.mark)
            self.hand_seconds.append(self.loop.epoch_seconds())
        self.mark = now(device)


def alternate_epochs(X, y, device, variants, rounds, fit=None, dataset=None):
    """Epoch times of fitted estimators' nets, one epoch of each variant in turn.

    Every variant is fitted for one (warm-up) epoch; then each round trains every net one
    more epoch on the same data (``net_.partial_fit(dataset, epochs=1)``), in alternating
    order. Rounds last a fraction of a second, so a slow spell of the machine hits the
    variants alike. Each epoch includes skorch's per-epoch work and the
    ``on_train_begin``/``on_train_end`` notifications of the call, the same for all.
    """
    fit = fit or fit_estimator
    dataset = dataset or SequenceDataset(X, None, y.astype(np.int64))
    nets = {name: fit(X, y, device, 1, **params).net_ for name, params in variants.items()}

    def epoch(net):
        start = now(device)
        net.partial_fit(dataset, epochs=1)
        return now(device) - start

    return alternate({name: (lambda net=net: epoch(net)) for name, net in nets.items()}, rounds)


def estimator_epochs(estimators, X, y, device, rounds):
    """Epoch times of fitted estimators, one more epoch each in turn (``partial_fit``),
    alternating as in b: skorch's ``EpochTimer`` duration of that epoch, and the process
    CPU time of the ``partial_fit`` call (as in q)."""
    cpu = {name: [] for name in estimators}

    def epoch(name):
        start_cpu = time.process_time()
        estimators[name].partial_fit(X, y)
        cpu[name].append(time.process_time() - start_cpu)
        return estimators[name].net_.history[-1, "dur"]

    epochs = alternate({name: (lambda name=name: epoch(name)) for name in estimators}, rounds)
    return epochs, cpu
