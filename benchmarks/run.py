"""Benchmark suite of sktorchcw (issue 5): does LSTMBlinkClassifier cost anything?

Run it from the repository root, with the project installed::

    python benchmarks/run.py                # full suite, about 15 minutes on a 2-core CPU
    python benchmarks/run.py --quick        # smoke mode for CI: tiny sizes, under a minute
    python benchmarks/run.py --device cuda  # the same figures on a GPU
    python benchmarks/run.py --threads 2    # torch threads (default 1)
    python benchmarks/run.py --out DIR      # default benchmarks/results/ (gitignored)
    python benchmarks/run.py --only a_overhead g_fast_path  # some sections

It prints a table and writes ``results.json`` and ``results.csv`` to the ``--out`` folder.

Sections
--------
a. overhead: LSTMBlinkClassifier epoch time / a hand-written PyTorch loop with the same
   module (``LSTMLogits``), Adam and batch size that slices pre-made tensors by a random
   permutation. Target <= 1.05. The two alternate epoch by epoch (a callback of the
   estimator runs one hand-written epoch between two of its own), so every round lasts
   under a second and a slow spell of a shared machine hits both alike.
b. class weights: ``class_weight='balanced'`` / unweighted epoch time, the two fitted
   nets training one epoch each in turn. Target <= 1.03.
c. loss: ``ClassWeightedLoss(nn.L1Loss(), w, weighting=...)`` / the blog's Python loop over
   classes (``loss += w[j] * l1(p[:, j], onehot[:, j])``), loss plus backward, for 2, 10
   and 100 classes. Target < 1 (faster) from 10 classes on.
d. memory: resident memory growth from epoch 2 to epoch 50 of a fit (and the CUDA
   allocator's on a GPU). Target <= 5 MiB.
e. inference: ``predict_proba`` latency for a single window (p50 target <= 2 ms, p99) and
   windows per second for many windows (``predict_batch_size="auto"``).
f. scaling: the log-log slope of epoch time against the number of samples (target 1 +- 0.1:
   proportional) and against the sequence length (target <= 1.1: at most linear; per-batch
   costs that do not grow with the length, such as the optimizer step, keep it below 1).
g. fast path: epoch time with the default ``SliceBatches`` iterator (after) / with
   ``torch.utils.data.DataLoader`` iterators, skorch's per-sample collate path (before).
   Epochs alternate as in b. Target < 1. On a GPU also the training data kept on the
   device (the default when it fits) / sliced on the host with every batch copied over
   (``iterator_train__device=None``).
h. prediction throughput: ``predict_proba`` on many short sequences (100,000 of 10 steps,
   2 features) with the default ``predict_batch_size='auto'`` / a ``torch.no_grad()`` loop
   over the same module that slices a pre-made tensor in batches of 4096 and applies the
   softmax. Calls alternate. Target <= 1.5.
i. tagger: ``LSTMBlinkTagger`` (bidirectional, ``class_weight='balanced'``) epoch time / a
   hand-written loop with the same bidirectional ``LSTMFrameLogits``, Adam, batch
   size and class-weighted per-frame cross-entropy over the valid frames (target <= 1.15;
   epochs interleaved as in a); ``class_weight='balanced'`` / unweighted tagger epochs
   (target <= 1.03; alternating as in b); ``predict_proba`` of one hour of frames (108,000
   at 30 fps, 2 features, bidirectional, hidden 32) in seconds (target < 1).
j. ONNX: one-window latency of the LSTMBlinkClassifier of section e exported by
   ``sktorchcw.export_onnx`` and run by onnxruntime (CPU provider, a session with
   ``intra_op_num_threads=1``), against ``predict_proba`` of the same window; calls
   alternate strictly (each follows one of the other kind: after one of its own kind a
   call finds warmer caches, so the usual reversed order would split a figure in two
   clusters). p50 and p99 in ms of both, the ratio onnxruntime / predict_proba (the
   median of the paired per-call ratios; target < 1: the graph skips skorch's and
   scikit-learn's per-call work), and the largest difference of their probabilities
   (target <= 1e-4). Skipped, with the reason printed, without the ``[onnx]`` extra.
k. streaming: ``LSTMBlinkTagger.stream()`` of a fitted unidirectional tagger (hidden 32,
   2 features): the cost of ``update(frame)`` for one frame (p50 target <= 0.5 ms, p99,
   and the p99 of this thread's CPU time), against an ``update`` of a block of 30 frames,
   per frame; the two alternate strictly call by call, as in j, each on a stream of its own.
   With the ``[onnx]`` extra, a third variant in the same rotation: one frame through the
   tagger exported with ``export_onnx(..., stateful=True)`` in onnxruntime (one thread),
   carrying the state (p50 and p99), the cost on a device without torch.
l. robust standardisation: event F1 of bidirectional taggers (hidden 16,
   ``class_weight='balanced'``) with ``standardize='standard'`` and ``'robust'``, trained on
   24 generated recordings of 20 to 40 s and tested on 12 others, both with electrode-like
   spikes: in 0.5 % of the frames one feature jumps up or down by 100 (then 1000) standard
   deviations of the clean signal. Median over 2 seeds; the gain robust - standard is the
   median of the per-seed differences (target > 0). A quality figure, not a timing.
m. fit memory: the peak resident memory one ``fit`` adds (1 epoch, ``device='cpu'``,
   hidden 8, batches of 512), as a multiple of the bytes of X plus y (int64 labels: one
   per recording for the classifier, one per frame for the tagger), for both estimators
   and three kinds of X: a 3-D float32 C-contiguous array (400,000 x 60 x 2, 183 MiB;
   target <= 0.5), a ragged list (200,000 recordings of 30 to 120 frames, log-uniform;
   target <= 1.2) and the 3-D array saved to an ``.npy`` file and opened with
   ``np.load(path, mmap_mode='r')`` (target <= 0.3). Each figure comes from a fresh
   process (``benchmarks/memory_probe.py``): the data built, one warm-up fit on 64
   recordings, then the kernel's peak RSS (``VmHWM``, reset through
   ``/proc/self/clear_refs``, so building the data never counts) minus the RSS before the
   fit. RSS counts the pages of a memory map that the process has read (a map read end to
   end adds its size, though nothing was copied), so the targeted memmap figure reads
   every page of the map before the fit and counts only what the fit adds; the "cold"
   row (pages read during the fit) is what a plain ``ru_maxrss`` shows. Also X + y in
   MiB and the fit's time. Linux only (skipped elsewhere, with the reason).
n. mixed lengths: 2000 recordings of 10 frames and one of 10,000 (2 features); both
   estimators (unidirectional, hidden 32, batches of 64) fitted 1 epoch on the short
   ones. ``predict_proba`` of all of them together / the sum of predicting the short ones
   and the long one separately (calls alternate; target <= 1.5); peak RSS added by
   ``predict_proba`` of all together (a fresh process, as in m; target <= 50 MiB) and,
   for reference, of the long one alone; the time and peak RSS added of a 1-epoch fit on
   the short ones and on all (no targets: all is 1.5 times the frames).
o. log-uniform lengths: epoch time of both estimators (unidirectional, hidden 8, batches
   of 32) on 128 recordings whose lengths are log-uniform from 10 to 3000 frames / a
   hand-written loop that sorts them by length into fixed batches, shuffles the order of
   the batches every epoch, pads each batch to its own longest recording
   (``pad_sequence``) and packs it: the same module (``LSTMLogits``,
   ``LSTMFrameLogits``), Adam and batch size, per-frame cross-entropy averaged over the
   valid frames for the tagger. Target <= 1.2 against the loop that pads each batch and
   runs the (unidirectional) LSTM over it unpacked, as the estimators now do; reported
   against the same loop packed by hand
   (the LSTM runs over each padded batch; the output at each recording's last frame
   feeds the classifier's head, the tagger's loss masks the padding): on the CPU the
   backward pass of a packed LSTM whose batch shrinks along the way costs about
   (batch's longest recording x batch's frames x 4 x hidden) (PyTorch projects the whole
   packed batch at once and slices the projection step by step; every slice's backward
   fills a zero gradient of the whole projection), so sorting into batches and packing
   can be slower than random batches, and not packing sorted batches is the fast
   hand-written loop here. Epochs interleaved as in a, the two hand-written loops
   alternating within each round. Small sizes: that quadratic cost makes an epoch of
   256 such recordings at hidden 32 take 20 to 90 s.
p. tagger overhead: ``LSTMBlinkTagger`` (unidirectional, hidden 32, batches of 64) epoch
   time on section a's 3-D equal-length data with per-frame labels / section a's
   hand-written loop with ``LSTMFrameLogits`` and per-frame cross-entropy (sliced
   tensors, nothing packed). Epochs interleaved as in a. Target <= 1.05, as in a.
q. skorch drop-in: one fit epoch (``partial_fit``, ``train_split=None``) of an MLP
   (50 -> 64 -> 64 -> 2) on 100,000 x 50 float32 tabular data (5 % positives), batches
   of 256, skorch's ``DataLoader`` iterators with ``shuffle=True``, Adam, the same module
   and criterion for every variant: skorch's own ``skorch.NeuralNetClassifier``
   (unweighted), ``sktorchcw.skorch.NeuralNetClassifier`` unweighted, the same with
   ``class_weight='balanced'`` and, no target, with ``class_weight='balanced'`` and a
   ``sample_weight``. Epochs alternate as in b; each is skorch's ``EpochTimer``
   duration (every batch and the net's epoch-end work); also the whole ``partial_fit``
   call. With ``CrossEntropyLoss`` on logits, then skorch's default ``NLLLoss`` on a
   softmax module. Targets: balanced / skorch's <= 1.05, balanced / unweighted <= 1.03.
r. user module: ``module='gru'`` (the built-in GRU) against the same computation as a
   user ``nn.Module`` (``nn.GRU`` and a linear head on what the built-in reads: for the
   classifier the last hidden state ``h_n`` on 3-D input, a ``forward(x)`` without
   lengths, and the output at ``lengths - 1`` on ragged input; for the tagger every step
   of the unpacked batch) in the same estimator
   (hidden 32, batches of 64, unidirectional), one epoch each in turn (``partial_fit``,
   skorch's ``EpochTimer``), on section a's equal-length 3-D data and on as many ragged
   recordings of 25 to 75 frames; both estimators. Target: within 1.05x of each other.
s. bidirectional tagger: ``LSTMBlinkTagger`` (hidden 16, batches of 32: the whole set in
   one padded batch) epoch time, bidirectional / unidirectional, on 6 recordings of 5,000
   to 11,000 frames (2 features, uniform lengths), one epoch each in turn as in r
   (``partial_fit``, skorch's ``EpochTimer``); also the ratio of the calls' process CPU
   time. Target <= 2.5 (issue 28; the packed bidirectional LSTM the networks ran before
   cost 400 to 600 times the unidirectional epoch here).
t. recordings like real ones: event F1 (min IoU 0.2) and frame balanced accuracy of a
   bidirectional tagger (hidden 16, batches of 32, 30 epochs) on 24 generated recordings of
   1,000 to 4,000 frames from 6 people (6-30 fps, labels 0-2 frames early, stretches
   without a face), grouped 3-fold cross-validation by person: unweighted argmax,
   'balanced' argmax, 'balanced' with the decision tuned for events, and that with
   per-recording scaling and pieces of 300 frames (issue 28). Targets: the tuned
   'balanced' tagger above both argmax ones in event F1, as on real recordings.

Method
------
Every figure is measured in this one process, except the peak memory of sections m and
n (a fresh process per figure, ``benchmarks/memory_probe.py``). Compared variants
alternate (A B, then B A, ...; epoch by epoch in sections a, b, g, i, o, p, q, r and s, call by
call or fit by fit elsewhere; strictly A B A B in j and k, whose calls are short enough
for caches to matter) and each
figure is the median over repeats; a ratio is the median of the ratios within
each round (paired, so slow drift cancels). Epoch times are wall-clock times between
the ends of consecutive epochs, so they include all of skorch's per-epoch work; the first
epoch of every fit (warm-up) is left out. torch runs single-threaded
(``torch.set_num_threads(1)``) unless ``--threads`` says otherwise. The load average before
and after the run is printed: other processes on the machine make every figure noisier.
The last column, the interquartile range of the repeats (of the per-round ratios for a
ratio), shows how noisy each figure was in this run.
The JSON keeps each figure's per-repeat samples. Timings are not tests:
``tests/test_benchmarks.py`` only checks that ``--quick`` runs and writes finite numbers.
"""

import argparse
import csv
import dataclasses
import datetime
import gc
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import skorch
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight
from skorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader

from sktorchcw import ClassWeightedLoss, LSTMBlinkClassifier, LSTMBlinkTagger
from sktorchcw._batching import SequenceDataset
from sktorchcw._module import LSTMFrameLogits, LSTMLogits
from sktorchcw.datasets import make_blink_dataset, make_blink_recordings
from sktorchcw.events import event_f1_score

try:
    import psutil
except ImportError:  # optional: /proc/self/status is read instead
    psutil = None

HIDDEN_SIZE = 32
BATCH_SIZE = 64
LR = 0.01


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How big and how often; ``FULL`` for the real figures, ``QUICK`` for the smoke run."""

    n_samples: int
    seq_len: int
    timed_epochs: int  # per fit, after the warm-up epoch
    repeats: int
    loss_classes: tuple
    loss_calls: int
    memory_epochs: int
    latency_calls: int
    scaling_samples: tuple
    scaling_seq_lens: tuple
    scaling_repeats: int
    predict_samples: int
    tagger_recordings: int
    tagger_frames: tuple  # shortest and longest recording
    hour_frames: int
    stream_calls: int  # one-frame and 30-frame updates each, section k
    robust_recordings: tuple  # training and test recordings, section l
    robust_epochs: int
    robust_seeds: int
    spike_sizes: tuple  # in standard deviations of the clean signal
    memory_samples: int  # section m: recordings of the 3-D (and memory-mapped) X
    memory_frames: int  # and their frames
    memory_ragged: tuple  # section m: ragged recordings, their shortest and longest
    mixed_collection: tuple  # section n: short recordings, their frames, the long one's
    mixed_repeats: int
    loguniform_recordings: int  # section o
    loguniform_frames: tuple  # shortest and longest (log-uniform)
    loguniform_rounds: int
    probe_each: bool  # sections m and n: a fresh process per memory figure (else one for all)
    tabular_shape: tuple  # section q: rows and columns of the tabular X
    tabular_rounds: int  # section q: epochs of each variant, alternating
    gru_rounds: int  # section r: epochs of each variant, alternating
    bidirectional_recordings: tuple  # section s: recordings, their shortest and longest
    bidirectional_rounds: int  # section s: epochs of each variant, alternating
    real_recordings: tuple  # section t: recordings, subjects, shortest and longest
    real_epochs: int  # section t: epochs of each fit


FULL = Sizes(
    n_samples=4096, seq_len=50, timed_epochs=3, repeats=11, loss_classes=(2, 10, 100),
    loss_calls=200, memory_epochs=50, latency_calls=200,
    scaling_samples=(1024, 2048, 4096, 8192, 16384, 32768, 65536),
    scaling_seq_lens=(25, 50, 100, 200), scaling_repeats=3, predict_samples=100_000,
    tagger_recordings=32, tagger_frames=(150, 450), hour_frames=108_000, stream_calls=2000,
    robust_recordings=(24, 12), robust_epochs=12, robust_seeds=2, spike_sizes=(100, 1000),
    memory_samples=400_000, memory_frames=60, memory_ragged=(200_000, 30, 120),
    mixed_collection=(2000, 10, 10_000), mixed_repeats=7, loguniform_recordings=128,
    loguniform_frames=(10, 3000), loguniform_rounds=7, probe_each=True,
    tabular_shape=(100_000, 50), tabular_rounds=11, gru_rounds=7,
    bidirectional_recordings=(6, 5000, 11_000), bidirectional_rounds=11,
    real_recordings=(24, 6, 1000, 4000), real_epochs=30,
)
QUICK = Sizes(
    n_samples=256, seq_len=20, timed_epochs=2, repeats=2, loss_classes=(2, 10, 100),
    loss_calls=10, memory_epochs=6, latency_calls=50,
    scaling_samples=(256, 512, 1024), scaling_seq_lens=(15, 30, 60), scaling_repeats=1,
    predict_samples=5_000, tagger_recordings=8, tagger_frames=(50, 120), hour_frames=3_000,
    stream_calls=200, robust_recordings=(4, 2), robust_epochs=2, robust_seeds=1,
    spike_sizes=(1000,), memory_samples=2000, memory_frames=20, memory_ragged=(1000, 10, 40),
    mixed_collection=(200, 10, 1000), mixed_repeats=2, loguniform_recordings=24,
    loguniform_frames=(10, 300), loguniform_rounds=2, probe_each=False,
    tabular_shape=(2000, 50), tabular_rounds=2, gru_rounds=2,
    bidirectional_recordings=(4, 200, 500), bidirectional_rounds=2,
    real_recordings=(6, 3, 200, 400), real_epochs=1,
)


@dataclasses.dataclass
class Row:
    """One figure of the table."""

    section: str
    name: str
    value: float
    unit: str
    target: str = ""
    status: str = ""
    spread: str = ""  # interquartile range of the repeats, where there are at least 4
    samples: list = dataclasses.field(default_factory=list)  # per repeat; JSON only


def row(section, name, value, unit, target=None, samples=()):
    """A Row; ``target`` is ``(text, predicate)`` and gives PASS or MISS."""
    samples = [float(sample) for sample in samples]
    spread = interquartile_range(samples)
    if target is None:
        return Row(section, name, float(value), unit, spread=spread, samples=samples)
    text, predicate = target
    status = "PASS" if predicate(value) else "MISS"
    return Row(section, name, float(value), unit, text, status, spread, samples)


def interquartile_range(samples):
    """``"q25..q75"`` of the samples: how much the repeats disagreed."""
    if len(samples) < 4:
        return ""
    low, high = np.percentile(samples, [25, 75])
    return f"{format_value(low)}..{format_value(high)}"


def at_most(limit):
    return f"<= {limit:g}", lambda value: value <= limit


def above(limit):
    return f"> {limit:g}", lambda value: value > limit


def below(limit):
    return f"< {limit:g}", lambda value: value < limit


def near(center, tolerance):
    return f"{center:g} +- {tolerance:g}", lambda value: abs(value - center) <= tolerance


# -- measuring --------------------------------------------------------------------------


def now(device):
    """Wall-clock seconds, after the device has finished its queued work."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def alternate(variants, repeats):
    """Call each variant ``repeats`` times, reversing the order every round.

    Returns ``{name: [result, ...]}``; alternating spreads drift (heat, caches, other
    processes) evenly over the variants.
    """
    results = {name: [] for name in variants}
    order = list(variants)
    for _ in range(repeats):
        for name in order:
            gc.collect()
            results[name].append(variants[name]())
        order.reverse()
    return results


def medians(results):
    return {name: float(np.median(values)) for name, values in results.items()}


def compare(section, results, labels, ratio_label, unit, target):
    """Rows for two alternated variants: the median of each, then the median over rounds of
    the ratio of the first to the second within a round (paired, so drift cancels)."""
    (first, first_label), (second, second_label) = labels.items()
    times = medians(results)
    per_round = np.divide(results[first], results[second])
    return [
        row(section, first_label, times[first], unit, samples=results[first]),
        row(section, second_label, times[second], unit, samples=results[second]),
        row(section, ratio_label, np.median(per_round), "ratio", target, per_round),
    ]


def rss_mib():
    """Resident memory of this process in MiB (psutil, else /proc, else peak RSS)."""
    if psutil is not None:
        return psutil.Process().memory_info().rss / 2**20
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # not on Windows; peak RSS is the best left there

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def rss_source():
    if psutil is not None:
        return "psutil"
    return "/proc/self/status VmRSS" if Path("/proc/self/status").exists() else "peak ru_maxrss"


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


def blink_data(n_samples, seq_len):
    return make_blink_dataset(n_samples, seq_len=seq_len, prevalence=0.05, random_state=0)


# -- sections ---------------------------------------------------------------------------


def bench_overhead(sizes, device):
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


def bench_class_weight(sizes, device):
    """b. class_weight='balanced' against no class weights, epochs alternating."""
    X, y = blink_data(sizes.n_samples, sizes.seq_len)
    results = alternate_epochs(X, y, device, {"balanced": {"class_weight": "balanced"},
                                              "none": {}}, sizes.repeats * sizes.timed_epochs)
    labels = {"balanced": "class_weight='balanced' epoch", "none": "class_weight=None epoch"}
    return compare("b", results, labels, "balanced / unweighted", "s", at_most(1.03))


_L1 = nn.L1Loss()


def blog_loss(logits, y, weights):
    """The blog post's weighted L1 loss: a Python loop over the classes."""
    probabilities = torch.softmax(logits, dim=1)
    onehot = F.one_hot(y, logits.shape[1]).to(logits.dtype)
    loss = 0.0
    for j in range(logits.shape[1]):
        loss = loss + weights[j] * _L1(probabilities[:, j], onehot[:, j])
    return loss


def loss_call_microseconds(loss_fn, logits, y, calls, device):
    """Mean time of ``loss_fn(logits, y)`` plus backward, in microseconds."""
    start = now(device)
    for _ in range(calls):
        loss_fn(logits, y).backward()
        logits.grad = None
    return (now(device) - start) / calls * 1e6


def loss_inputs(n_classes, device):
    generator = torch.Generator().manual_seed(n_classes)
    logits = torch.randn(BATCH_SIZE, n_classes, generator=generator).to(device)
    y = torch.randint(n_classes, (BATCH_SIZE,), generator=generator).to(device)
    weights = torch.rand(n_classes, generator=generator) + 0.5
    return logits.requires_grad_(), y, weights


def loss_times(n_classes, sizes, device):
    """Microseconds per loss plus backward: the blog's loop and both weightings."""
    logits, y, weights = loss_inputs(n_classes, device)
    listed = weights.tolist()
    with warnings.catch_warnings():
        # With 2 classes it warns that the blog's scheme only rescales; here only its cost counts.
        warnings.filterwarnings("ignore", message="With two classes")
        output = ClassWeightedLoss(nn.L1Loss(), weights, weighting="output").to(device)
    losses = {
        "blog": lambda logits, y: blog_loss(logits, y, listed),
        "output": output,
        "sample": ClassWeightedLoss(nn.L1Loss(), weights, weighting="sample").to(device),
    }
    # The same figure: weighting='output' is the blog's scheme, vectorised.
    torch.testing.assert_close(losses["output"](logits, y), losses["blog"](logits, y))
    return alternate({
        name: (lambda fn=fn: loss_call_microseconds(fn, logits, y, sizes.loss_calls, device))
        for name, fn in losses.items()
    }, sizes.repeats)


def bench_loss(sizes, device):
    """c. ClassWeightedLoss against the blog's Python loop, loss plus backward."""
    rows = []
    for n_classes in sizes.loss_classes:
        results = loss_times(n_classes, sizes, device)
        faster = below(1.0) if n_classes >= 10 else None
        rows.append(row("c", f"{n_classes} classes: blog loop", np.median(results["blog"]),
                        "us/call", samples=results["blog"]))
        for weighting in ("output", "sample"):
            per_round = np.divide(results[weighting], results["blog"])
            rows.append(row("c", f"{n_classes} classes: weighting='{weighting}' / blog",
                            np.median(per_round), "ratio", faster, per_round))
    return rows


def bench_memory(sizes, device):
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


def single_window_latencies(clf, window, calls, device):
    """Milliseconds per ``predict_proba`` call: wall clock, and this thread's CPU time (which
    leaves out the time other processes held the CPU)."""
    for _ in range(10):
        clf.predict_proba(window)
    wall, cpu = [], []
    for _ in range(calls):
        start, start_cpu = now(device), time.thread_time()
        clf.predict_proba(window)
        wall.append((now(device) - start) * 1e3)
        cpu.append((time.thread_time() - start_cpu) * 1e3)
    return np.array(wall), np.array(cpu)


def bench_inference(sizes, device):
    """e. predict_proba latency for one window and throughput for many."""
    X, y = blink_data(sizes.n_samples, sizes.seq_len)
    clf = fit_estimator(X, y, device, 1)
    wall, cpu = single_window_latencies(clf, X[:1], sizes.latency_calls, device)
    batched = []
    for _ in range(sizes.repeats):
        start = now(device)
        clf.predict_proba(X)
        batched.append(len(X) / (now(device) - start))
    return [
        row("e", "predict_proba, 1 window: p50", np.percentile(wall, 50), "ms", at_most(2),
            wall),
        row("e", "predict_proba, 1 window: p99", np.percentile(wall, 99), "ms"),
        row("e", "predict_proba, 1 window: p99, thread CPU time", np.percentile(cpu, 99), "ms",
            samples=cpu),
        row("e", f"predict_proba, {len(X)} windows (auto batch)",
            float(np.median(batched)), "windows/s", samples=batched),
    ]


def scaling_rows(label, results, target):
    """Epoch time per size and the log-log slope of the medians."""
    times = medians(results)
    slope = np.polyfit(np.log(list(times)), np.log(list(times.values())), 1)[0]
    rows = [row("f", f"epoch, {label}={value}", times[value], "s", samples=results[value])
            for value in times]
    rows.append(row("f", f"log-log slope over {label}", slope, "slope", target))
    return rows


def bench_scaling(sizes, device):
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


def bench_fast_path(sizes, device):
    """g. The slicing iterator against skorch's DataLoader path, epochs alternating; on a
    GPU also data kept on the device against batches sliced on the host and copied."""
    X, y = blink_data(sizes.n_samples, sizes.seq_len)
    variants = {"slice": {},
                "dataloader": {"iterator_train": DataLoader, "iterator_valid": DataLoader}}
    on_accelerator = torch.device(device).type != "cpu"
    if on_accelerator:
        variants["host"] = {"iterator_train__device": None}
    results = alternate_epochs(X, y, device, variants, sizes.repeats * sizes.timed_epochs)
    labels = {"slice": "after: SliceBatches epoch (default)",
              "dataloader": "before: DataLoader iterators epoch"}
    rows = compare("g", {key: results[key] for key in labels}, labels, "after / before",
                   "s", below(1.0))
    if on_accelerator:
        labels = {"slice": "data on the device (default)",
                  "host": "data on the host, batches copied"}
        rows += compare("g", {key: results[key] for key in labels}, labels,
                        "on device / on host", "s", below(1.0))
    return rows


PREDICT_SEQ_LEN = 10
HAND_PREDICT_BATCH = 4096


def no_grad_probabilities(module, x, device):
    """The hand-written prediction loop: batches of 4096 sliced from a tensor, softmax."""
    module.eval()
    with torch.no_grad():
        batches = [torch.softmax(module(x[start:start + HAND_PREDICT_BATCH]), dim=1)
                   for start in range(0, len(x), HAND_PREDICT_BATCH)]
    return torch.cat(batches).cpu().numpy()


def bench_prediction(sizes, device):
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


def recordings(sizes, seed=0):
    """Ragged recordings of 2 features with about 6 % event frames (timing does not depend
    on what they hold)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(*sizes.tagger_frames, size=sizes.tagger_recordings)
    X = [rng.normal(size=(length, 2)).astype(np.float32) for length in lengths]
    y = [(x[:, 0] > 1.55).astype(np.int64) for x in X]
    return X, y


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


class HandTaggerLoop:
    """A plain PyTorch per-frame loop: the bidirectional LSTMFrameLogits, Adam, and
    class-weighted cross-entropy summed over the valid frames and divided by their number,
    batches sliced from padded tensors by a seeded permutation."""

    def __init__(self, X, y, device, class_weight, seed=0):
        torch.manual_seed(seed)
        self.device = device
        lengths = torch.tensor([len(x) for x in X])
        self.x = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(x) for x in X],
                                                 batch_first=True).to(device)
        self.target = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(t) for t in y],
                                                      batch_first=True).to(device)
        self.lengths = lengths.to(device)
        self.mask = (torch.arange(self.x.shape[1])[None, :] < lengths[:, None]).to(device)
        self.module = LSTMFrameLogits(2, 2, hidden_size=HIDDEN_SIZE, bidirectional=True).to(
            device)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=LR)
        self.weight = torch.as_tensor(class_weight, dtype=torch.float32, device=device)
        self.generator = torch.Generator().manual_seed(seed)

    def epoch_seconds(self):
        start = now(self.device)
        self.module.train()
        order = torch.randperm(len(self.x), generator=self.generator).to(self.device)
        for batch in order.split(BATCH_SIZE // 4):
            self.optimizer.zero_grad()
            logits = self.module(self.x[batch], self.lengths[batch])
            target, mask = self.target[batch], self.mask[batch]
            per_frame = F.cross_entropy(logits, target, reduction="none")
            loss = (self.weight[target] * per_frame)[mask].sum() / mask.sum()
            loss.backward()
            self.optimizer.step()
            loss.item()
        return now(self.device) - start


def bench_tagger(sizes, device):
    """i. The tagger against a hand-written per-frame loop, weighted against unweighted,
    and predicting an hour of frames."""
    X, y = recordings(sizes)
    weights = compute_class_weight("balanced", classes=np.array([0, 1]), y=np.concatenate(y))
    epochs = sizes.repeats  # a tagger epoch takes about a second: one round per repeat
    interleaved = InterleavedHandLoop(HandTaggerLoop(X, y, device, weights))
    tagger = fit_tagger(X, y, device, epochs + 1, callbacks=[("hand", interleaved)],
                        class_weight="balanced")
    interleaved = dict(tagger.net_.callbacks_)["hand"]
    results = {"tagger": interleaved.estimator_seconds[1:],
               "hand": interleaved.hand_seconds[1:]}
    labels = {"tagger": "LSTMBlinkTagger epoch (bidirectional, balanced)",
              "hand": "hand-written per-frame loop epoch"}
    rows = compare("i", results, labels, "tagger / hand-written loop", "s", at_most(1.15))

    values = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(x) for x in X], batch_first=True)
    lengths = np.array([len(x) for x in X])
    padded_y = torch.nn.utils.rnn.pad_sequence([torch.as_tensor(t) for t in y],
                                               batch_first=True)
    dataset = SequenceDataset(values.numpy(), lengths, padded_y.numpy())
    weighted = alternate_epochs(X, y, device, {"balanced": {"class_weight": "balanced"},
                                               "none": {}}, epochs, fit=fit_tagger,
                                dataset=dataset)
    labels = {"balanced": "tagger, class_weight='balanced' epoch",
              "none": "tagger, class_weight=None epoch"}
    rows += compare("i", weighted, labels, "tagger balanced / unweighted", "s", at_most(1.03))

    hour = np.random.default_rng(1).normal(size=(1, sizes.hour_frames, 2)).astype(np.float32)
    tagger.predict_proba(hour[:, :1000])  # warm-up
    seconds = []
    for _ in range(sizes.repeats):
        start = now(device)
        tagger.predict_proba(hour)
        seconds.append(now(device) - start)
    rows.append(row("i", f"predict_proba, one recording of {sizes.hour_frames} frames",
                    np.median(seconds), "s", below(1.0), seconds))
    return rows


SPIKE_RATE = 0.005  # share of frames with a spike, section l


def with_spikes(X, size, std, rng):
    """Copies of the recordings with electrode-like spikes: in ``SPIKE_RATE`` of the frames
    (at least one a recording) one feature jumps by ``size`` standard deviations ``std`` of
    the clean signal, up or down."""
    spiky = []
    for x in X:
        x = x.copy()
        count = max(1, int(SPIKE_RATE * len(x)))
        frames = rng.choice(len(x), count, replace=False)
        features = rng.integers(0, x.shape[1], count)
        x[frames, features] += rng.choice([-1.0, 1.0], count) * size * std[features]
        spiky.append(x)
    return spiky


def bench_robust(sizes, device):
    """l. Event F1 of taggers with standardize='standard' and 'robust' on generated
    recordings with injected spikes, trained and tested on spiky recordings."""
    n_train, n_test = sizes.robust_recordings
    X, y = make_blink_recordings(n_train, duration_s=(20, 40), random_state=0)
    X_test, y_test = make_blink_recordings(n_test, duration_s=(20, 40), random_state=1)
    std = np.concatenate(X).std(axis=0)
    rows = []
    for size in sizes.spike_sizes:
        rng = np.random.default_rng(size)
        spiky, spiky_test = with_spikes(X, size, std, rng), with_spikes(X_test, size, std, rng)
        scores = {"standard": [], "robust": []}
        for seed in range(sizes.robust_seeds):
            for mode in (("standard", "robust") if seed % 2 == 0 else ("robust", "standard")):
                tagger = LSTMBlinkTagger(
                    standardize=mode, class_weight="balanced", hidden_size=16,
                    bidirectional=True, max_epochs=sizes.robust_epochs, device=device,
                    random_state=seed).fit(spiky, y)
                scores[mode].append(event_f1_score(y_test, tagger.predict(spiky_test)))
        for mode, values in scores.items():
            rows.append(row("l", f"event F1, standardize='{mode}', spikes x{size:g} std",
                            np.median(values), "F1", samples=values))
        gain = [robust - standard for robust, standard
                in zip(scores["robust"], scores["standard"], strict=True)]
        rows.append(row("l", f"robust - standard event F1, spikes x{size:g} std",
                        np.median(gain), "F1", above(0.0), gain))
    return rows


class SectionSkipped(Exception):
    """A section that cannot run here; its message says why."""


def import_onnxruntime():
    """onnxruntime, or SectionSkipped without the ``[onnx]`` extra (onnx and onnxruntime)."""
    try:
        import onnx  # noqa: F401 - export_onnx needs it
        import onnxruntime
    except ImportError as error:
        raise SectionSkipped(f"{error.name or error} is not installed (the optional extra: "
                             "pip install 'sktorchcw[onnx]')") from None
    return onnxruntime


def onnx_session(onnxruntime, estimator, folder, stateful=False):
    """An onnxruntime session (CPU provider, one intra-op thread) on ``estimator`` exported
    by ``sktorchcw.export_onnx``."""
    from sktorchcw import export_onnx

    path = Path(folder) / "model.onnx"
    export_onnx(estimator, path, stateful=stateful)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def bench_onnx(sizes, device):
    """j. One window through onnxruntime against predict_proba, calls alternating."""
    onnxruntime = import_onnxruntime()
    X, y = blink_data(sizes.n_samples, sizes.seq_len)
    clf = fit_estimator(X, y, device, 1)
    window = np.ascontiguousarray(X[:1], dtype=np.float32)
    inputs = {"x": window, "lengths": np.array([window.shape[1]], dtype=np.int64)}
    with tempfile.TemporaryDirectory() as folder:
        session = onnx_session(onnxruntime, clf, folder)

    def onnx_ms():
        start = time.perf_counter()
        session.run(["probabilities"], inputs)
        return (time.perf_counter() - start) * 1e3

    def predict_ms():
        start = now(device)
        clf.predict_proba(window)
        return (now(device) - start) * 1e3

    (proba,) = session.run(["probabilities"], inputs)
    difference = float(np.abs(proba - clf.predict_proba(window)).max())
    for _ in range(10):  # warm-up
        onnx_ms(), predict_ms()
    # Strictly alternating, each call after one of the other kind: reversing the order every
    # round would run half the calls right after one of their own, on warmer caches (twice
    # as fast for onnxruntime here), and split each figure into two clusters.
    onnx, predict = np.array([(onnx_ms(), predict_ms()) for _ in range(sizes.latency_calls)]).T
    per_call = onnx / predict
    return [
        row("j", "onnxruntime, 1 window: p50", np.percentile(onnx, 50), "ms", samples=onnx),
        row("j", "onnxruntime, 1 window: p99", np.percentile(onnx, 99), "ms"),
        row("j", "predict_proba, 1 window: p50", np.percentile(predict, 50), "ms",
            samples=predict),
        row("j", "predict_proba, 1 window: p99", np.percentile(predict, 99), "ms"),
        row("j", "onnxruntime / predict_proba", np.median(per_call), "ratio", below(1.0),
            per_call),
        row("j", "max abs difference of the probabilities", difference, "abs",
            at_most(1e-4)),
    ]


STREAM_BLOCK = 30


def bench_stream(sizes, device):
    """k. One-frame stream updates against 30-frame block updates (and, with the [onnx]
    extra, one frame through a stateful ONNX graph), calls alternating."""
    X, y = recordings(sizes)
    tagger = fit_tagger(X, y, device, 1, bidirectional=False)
    calls = sizes.stream_calls + 10  # the first 10 of each are a warm-up
    frames = np.random.default_rng(2).normal(
        size=(calls * (1 + STREAM_BLOCK), 2)).astype(np.float32)
    single_frames = iter(frames[:calls])
    blocks = iter(frames[calls:].reshape(calls, STREAM_BLOCK, 2))
    single_stream, block_stream = tagger.stream(), tagger.stream()

    def timed(stream, frames):
        start, start_cpu = now(device), time.thread_time()
        stream.update(frames)
        return (now(device) - start) * 1e3, (time.thread_time() - start_cpu) * 1e3

    variants = [lambda: timed(single_stream, next(single_frames)),
                lambda: timed(block_stream, next(blocks))]
    onnx_stream = stateful_onnx_stream(tagger, frames[:calls])
    if onnx_stream is not None:
        variants.append(onnx_stream)
    # Strictly alternating, as in j.
    results = [[variant() for variant in variants] for _ in range(calls)][10:]
    single = np.array([row[0] for row in results])  # columns: wall, thread CPU time
    per_frame = np.array([row[1] for row in results]) / STREAM_BLOCK
    ratio = single[:, 0] / per_frame[:, 0]
    rows = [
        row("k", "stream.update, 1 frame: p50", np.percentile(single[:, 0], 50), "ms",
            at_most(0.5), single[:, 0]),
        row("k", "stream.update, 1 frame: p99", np.percentile(single[:, 0], 99), "ms"),
        row("k", "stream.update, 1 frame: p99, thread CPU time",
            np.percentile(single[:, 1], 99), "ms", samples=single[:, 1]),
        row("k", f"stream.update, {STREAM_BLOCK}-frame block: p50 per frame",
            np.percentile(per_frame[:, 0], 50), "ms", samples=per_frame[:, 0]),
        row("k", f"1 frame / per frame of a {STREAM_BLOCK}-frame block",
            np.median(ratio), "ratio", samples=ratio),
    ]
    if onnx_stream is not None:
        onnx_ms = np.array([row[2][0] for row in results])
        rows += [
            row("k", "onnxruntime stateful graph, 1 frame: p50", np.percentile(onnx_ms, 50),
                "ms", samples=onnx_ms),
            row("k", "onnxruntime stateful graph, 1 frame: p99", np.percentile(onnx_ms, 99),
                "ms"),
        ]
    return rows


def stateful_onnx_stream(tagger, frames):
    """A callable timing one frame through ``tagger`` exported with ``stateful=True`` and
    run by onnxruntime (one thread), carrying the state; None without the [onnx] extra."""
    try:
        onnxruntime = import_onnxruntime()
    except SectionSkipped as reason:
        print(f"k: no onnxruntime row ({reason})", flush=True)
        return None
    with tempfile.TemporaryDirectory() as folder:
        session = onnx_session(onnxruntime, tagger, folder, stateful=True)
    lstm = tagger.module_.lstm
    state = [np.zeros((lstm.num_layers, 1, lstm.hidden_size), dtype=np.float32)] * 2
    lengths = np.ones(1, dtype=np.int64)
    next_frame = iter(frames[:, None, None, :])  # each (1, 1, F)

    def timed():
        feed = {"x": next(next_frame), "lengths": lengths, "state_h": state[0],
                "state_c": state[1]}
        start, start_cpu = time.perf_counter(), time.thread_time()
        _, state[0], state[1] = session.run(None, feed)
        return (time.perf_counter() - start) * 1e3, (time.thread_time() - start_cpu) * 1e3

    return timed


# -- memory and ragged lengths (sections m to p) ----------------------------------------

PROBE = Path(__file__).with_name("memory_probe.py")
MEMORY_HIDDEN = 8  # section m: a small network, so that the data dominates the memory
MEMORY_BATCH = 512
ESTIMATOR_NAMES = ("classifier", "tagger")


def run_probes(specs, each):
    """What ``memory_probe.py`` measures for every spec: a fresh process per spec
    (``each``), or one process for all of them (the smoke run, to start one process
    instead of eight). SectionSkipped where the peak RSS cannot be reset (not Linux)."""
    threads = torch.get_num_threads()
    specs = [{**spec, "threads": threads} for spec in specs]
    results = []
    for group in ([spec] for spec in specs) if each else [specs]:
        done = subprocess.run([sys.executable, str(PROBE), json.dumps(group)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{PROBE.name} failed on {group}:\n{done.stderr[-3000:]}")
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        if isinstance(answer, dict) and "unavailable" in answer:
            raise SectionSkipped(answer["unavailable"])
        results += answer
    return results


MEMORY_KINDS = {  # kind: (label, target of peak RSS added / (X + y))
    "array": ("3-D array", 0.5),
    "ragged": ("ragged list", 1.2),
    "memmap": ("memmap, resident", 0.3),
}


def bench_fit_memory(sizes, device):
    """m. Peak RSS one fit adds, per byte of its training data, in a fresh process."""
    n_ragged, shortest, longest = sizes.memory_ragged
    data = {"array": {"n": sizes.memory_samples, "frames": sizes.memory_frames},
            "ragged": {"n": n_ragged, "frames": [shortest, longest]},
            "memmap": {"n": sizes.memory_samples, "frames": sizes.memory_frames}}
    specs = [{"task": "fit", "estimator": name, "kind": kind, "hidden_size": MEMORY_HIDDEN,
              "batch_size": MEMORY_BATCH, **data[kind]}
             for name in ESTIMATOR_NAMES for kind in MEMORY_KINDS]
    rows = []
    for spec, result in zip(specs, run_probes(specs, sizes.probe_each), strict=True):
        kind = spec["kind"]
        label, target = MEMORY_KINDS[kind]
        label = f"{spec['estimator']}, {label}"
        data_bytes = result["x_bytes"] + result["y_bytes"]
        if kind != "memmap":  # the memory map holds the 3-D array's data
            rows.append(row("m", f"{label}: X + y", data_bytes / 2**20, "MiB"))
        rows.append(row("m", f"{label}: fit peak RSS added/(X+y)",
                        result["fit"]["added_mib"] * 2**20 / data_bytes, "ratio",
                        at_most(target)))
        if kind == "memmap":
            rows.append(row("m", f"{spec['estimator']}, memmap, cold: fit peak RSS added/(X+y)",
                            result["cold"]["added_mib"] * 2**20 / data_bytes, "ratio"))
        rows.append(row("m", f"{label}: fit time (1 epoch)", result["fit"]["seconds"], "s"))
    return rows


def short_and_long(n_short, short_frames, long_frames, seed=0):
    """Many short recordings and one long one (2 features), with labels per recording
    and per frame (both classes among the short ones)."""
    rng = np.random.default_rng(seed)
    short = [rng.standard_normal((short_frames, 2), dtype=np.float32) for _ in range(n_short)]
    long = [rng.standard_normal((long_frames, 2), dtype=np.float32)]
    y = rng.integers(0, 2, n_short)
    y[:2] = 0, 1
    y_frames = [(rng.random(short_frames) < 0.06).astype(np.int64) for _ in short]
    y_frames[0][:2] = 0, 1
    return short, long, y, y_frames


def bench_mixed(sizes, device):
    """n. predict_proba of many short recordings with one long one, against the two parts
    predicted separately (calls alternating); peak RSS and fits from fresh processes."""
    n_short, short_frames, long_frames = sizes.mixed_collection
    short, long, y, y_frames = short_and_long(*sizes.mixed_collection)
    mixed = short + long
    estimators = {
        "classifier": fit_estimator(short, y, device, 1),
        "tagger": fit_tagger(short, y_frames, device, 1, bidirectional=False,
                             batch_size=BATCH_SIZE),
    }
    probes = run_probes([{"task": "mixed", "estimator": name, "short": n_short,
                          "short_frames": short_frames, "long_frames": long_frames,
                          "hidden_size": HIDDEN_SIZE, "batch_size": BATCH_SIZE}
                         for name in estimators], sizes.probe_each)
    rows = []
    for (name, estimator), probe in zip(estimators.items(), probes, strict=True):
        def seconds(X, estimator=estimator):
            start = now(device)
            estimator.predict_proba(X)
            return now(device) - start

        estimator.predict_proba(short[:8] + [long[0][:100]])  # warm-up
        results = alternate({"short": lambda: seconds(short), "long": lambda: seconds(long),
                             "mixed": lambda: seconds(mixed)}, sizes.mixed_repeats)
        per_round = np.divide(results["mixed"], np.add(results["short"], results["long"]))
        parts = (f"{n_short} x {short_frames} frames", f"1 x {long_frames} frames")
        rows += [
            row("n", f"{name}: predict_proba, {parts[0]}", np.median(results["short"]), "s",
                samples=results["short"]),
            row("n", f"{name}: predict_proba, {parts[1]}", np.median(results["long"]), "s",
                samples=results["long"]),
            row("n", f"{name}: predict_proba, both together", np.median(results["mixed"]), "s",
                samples=results["mixed"]),
            row("n", f"{name}: together / sum of the parts", np.median(per_round), "ratio",
                at_most(1.5), per_round),
            row("n", f"{name}: predict_proba together, peak RSS added",
                probe["predict_mixed"]["added_mib"], "MiB", at_most(50)),
            row("n", f"{name}: predict_proba, long one, peak RSS added",
                probe["predict_long"]["added_mib"], "MiB"),
            row("n", f"{name}: fit (1 epoch), short ones", probe["fit_short"]["seconds"], "s"),
            row("n", f"{name}: fit (1 epoch), all", probe["fit_mixed"]["seconds"], "s"),
            row("n", f"{name}: fit, short ones, peak RSS added",
                probe["fit_short"]["added_mib"], "MiB"),
            row("n", f"{name}: fit, all, peak RSS added", probe["fit_mixed"]["added_mib"],
                "MiB"),
        ]
    return rows


def loguniform_recordings(n, shortest, longest, seed=0):
    """``n`` recordings of 2 features whose lengths are log-uniform between ``shortest``
    and ``longest`` (both present), with labels per recording and per frame."""
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(np.log(shortest), np.log(longest + 1), n)).astype(np.int64)
    lengths = np.clip(lengths, shortest, longest)
    lengths[:2] = longest, shortest
    X = [rng.standard_normal((length, 2), dtype=np.float32) for length in lengths]
    y = np.array([int(x[:, 0].mean() > 0) for x in X])
    y[:2] = 0, 1
    y_frames = [(x[:, 0] > 1.55).astype(np.int64) for x in X]
    y_frames[0][:2] = 0, 1
    return X, y, y_frames


LOGUNIFORM_HIDDEN = 8  # section o: the packed LSTM's backward on the CPU costs about
LOGUNIFORM_BATCH = 32  # (longest x frames) per batch; small sizes keep epochs to seconds


class HandBucketLoop:
    """A plain PyTorch loop over ragged recordings, as one writes it by hand: sorted by
    length into fixed batches (the shortest ``batch_size`` first, and so on), the order of
    the batches shuffled every epoch, each batch padded to its own longest recording
    (``pad_sequence``); ``LSTMLogits`` and cross-entropy per recording, or
    ``LSTMFrameLogits`` and cross-entropy averaged over the valid frames (``per_frame``);
    Adam. ``packed``: the module packs each batch (``lengths``), so no padding enters the
    LSTM. Not packed: the (unidirectional) LSTM runs over the padded batch, and the output
    at each recording's last valid frame feeds the head (per frame: the padding's logits
    are masked out of the loss); outputs at valid frames are the same, the padding's
    steps are computed and thrown away."""

    def __init__(self, X, y, device, per_frame, packed=True, batch_size=LOGUNIFORM_BATCH,
                 hidden_size=LOGUNIFORM_HIDDEN, seed=0):
        torch.manual_seed(seed)
        self.device = device
        self.per_frame = per_frame
        self.packed = packed
        x = [torch.as_tensor(item) for item in X]
        targets = [torch.as_tensor(item) for item in y] if per_frame else torch.as_tensor(y)
        order = np.argsort([len(item) for item in X], kind="stable")
        self.batches = []
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size].tolist()
            lengths = torch.tensor([len(x[i]) for i in rows])
            batch_targets = ([targets[i] for i in rows] if per_frame
                             else targets[rows].to(device))
            self.batches.append(([x[i] for i in rows], lengths, batch_targets))
        network = LSTMFrameLogits if per_frame else LSTMLogits
        self.module = network(X[0].shape[1], 2, hidden_size=hidden_size).to(device)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=LR)
        self.generator = torch.Generator().manual_seed(seed)

    def logits(self, x, lengths):
        module = self.module
        if self.packed:  # packed by hand (the module itself reads unidirectional unpacked)
            packed = module._packed_input(x, lengths)
            if self.per_frame:
                output, _ = module.lstm(packed)
                output, _ = torch.nn.utils.rnn.pad_packed_sequence(
                    output, batch_first=True, total_length=x.shape[1])
                return module._frame_logits(output)
            _, (h_n, _) = module.lstm(packed)
            return module.head(module.dropout(h_n[-1]))
        if self.per_frame:
            return module(x)
        output, _ = module.lstm(module._packed_input(x, None))
        last = output[torch.arange(len(x), device=x.device), lengths - 1]
        return module.head(module.dropout(last))

    def epoch_seconds(self):
        """Train one epoch; return its wall-clock time."""
        start = now(self.device)
        self.module.train()
        pad = torch.nn.utils.rnn.pad_sequence
        for index in torch.randperm(len(self.batches), generator=self.generator).tolist():
            x, lengths, targets = self.batches[index]
            self.optimizer.zero_grad()
            lengths_on_device = lengths.to(self.device)
            logits = self.logits(pad(x, batch_first=True).to(self.device), lengths_on_device)
            if self.per_frame:
                target = pad(targets, batch_first=True).to(self.device)
                mask = (torch.arange(target.shape[1], device=self.device)[None, :]
                        < lengths_on_device[:, None])
                loss = F.cross_entropy(logits, target, reduction="none")[mask].mean()
            else:
                loss = F.cross_entropy(logits, targets)
            loss.backward()
            self.optimizer.step()
            loss.item()  # skorch reads every batch's loss too
        return now(self.device) - start


class AlternatingLoops:
    """Several hand-written loops as one for :class:`InterleavedHandLoop`: each call trains
    one epoch of each, in an order reversed every call; returns their times in the order
    given."""

    def __init__(self, *loops):
        self.loops = loops
        self.calls = 0

    def epoch_seconds(self):
        order = list(range(len(self.loops)))
        if self.calls % 2:
            order.reverse()
        self.calls += 1
        seconds = {index: self.loops[index].epoch_seconds() for index in order}
        return tuple(seconds[index] for index in range(len(self.loops)))


def bench_loguniform(sizes, device):
    """o. Epochs on recordings of log-uniform lengths against hand-written loops that
    sort them by length into batches (packed, and not packed), epochs interleaved as in
    a."""
    X, y, y_frames = loguniform_recordings(sizes.loguniform_recordings,
                                           *sizes.loguniform_frames)
    shortest, longest = sizes.loguniform_frames
    rows = []
    for name in ESTIMATOR_NAMES:
        per_frame = name == "tagger"
        targets = y_frames if per_frame else y
        loops = AlternatingLoops(*(HandBucketLoop(X, targets, device, per_frame, packed=packed)
                                   for packed in (True, False)))
        interleaved = InterleavedHandLoop(loops)
        params = {"callbacks": [("hand", interleaved)], "hidden_size": LOGUNIFORM_HIDDEN}
        epochs = sizes.loguniform_rounds + 1
        if per_frame:
            estimator = fit_tagger(X, targets, device, epochs, bidirectional=False,
                                   batch_size=LOGUNIFORM_BATCH, **params)
        else:
            estimator = fit_estimator(X, targets, device, epochs, batch_size=LOGUNIFORM_BATCH,
                                      **params)
        interleaved = dict(estimator.net_.callbacks_)["hand"]
        hand = np.array(interleaved.hand_seconds[1:])  # rounds x (packed, not packed)
        results = {"estimator": interleaved.estimator_seconds[1:], "packed": hand[:, 0],
                   "padded": hand[:, 1]}
        labels = {"estimator": f"{name} epoch, {len(X)} x {shortest}..{longest} frames",
                  "padded": f"{name}: hand-written loop, sorted, padded per batch"}
        rows += compare("o", {key: results[key] for key in labels}, labels,
                        f"{name} / hand-written loop (padded per batch)", "s",
                        at_most(1.2))
        per_round = np.divide(results["estimator"], results["packed"])
        rows += [
            row("o", f"{name}: hand-written loop, sorted, packed",
                np.median(results["packed"]), "s", samples=results["packed"]),
            row("o", f"{name} / hand-written loop (packed)", np.median(per_round),
                "ratio", samples=per_round),
        ]
    return rows


def bench_tagger_overhead(sizes, device):
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


TABULAR_BATCH = 256  # section q


# -- section q: skorch's classifier and sktorchcw.skorch's on tabular data ------------------


class TabularMLP(nn.Module):
    """Section q's MLP: 50 -> 64 -> 64 -> 2, logits (or probabilities with ``softmax``, for
    skorch's default NLLLoss)."""

    def __init__(self, n_in=50, hidden=64, n_out=2, softmax=False):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(),
                                    nn.Linear(hidden, hidden), nn.ReLU(),
                                    nn.Linear(hidden, n_out))
        self.softmax = softmax

    def forward(self, X):
        out = self.layers(X)
        return torch.softmax(out, dim=-1) if self.softmax else out


def tabular_data(n_samples, n_features, seed=0):
    """Float32 tabular X and imbalanced binary y (about 5 % positives) with some signal."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)).astype(np.float32)
    score = X[:, :5].sum(axis=1) + rng.normal(scale=2.0, size=n_samples)
    y = (score > np.quantile(score, 0.95)).astype(np.int64)
    return X, y


def skorch_epochs(X, y, device, variants, rounds):
    """Epoch times of skorch nets, one epoch of each variant in turn (as in b).

    ``variants``: ``{name: (net class, params, fit_params)}``. Each net is fitted one
    (warm-up) epoch, then every round trains each one more epoch with ``partial_fit``, in
    alternating order. Returns ``{name: [seconds of the epoch, ...]}`` (skorch's
    ``EpochTimer``: from ``on_epoch_begin`` to ``on_epoch_end``, every batch and the
    net's own epoch-end work) and ``{name: [seconds of the partial_fit call, ...]}``
    (also the call's data checks and dataset building), and the process CPU time of the
    call (less disturbed than the wall clock by other processes on a shared machine).
    """
    nets = {}
    for name, (net_class, params, fit_params) in variants.items():
        torch.manual_seed(0)
        nets[name] = net_class(max_epochs=1, device=device, train_split=None, verbose=0,
                               **params).fit(X, y, **fit_params)
    calls = {name: [] for name in variants}
    cpu = {name: [] for name in variants}

    def epoch(name):
        net, fit_params = nets[name], variants[name][2]
        start, start_cpu = now(device), time.process_time()
        net.partial_fit(X, y, **fit_params)
        calls[name].append(now(device) - start)
        cpu[name].append(time.process_time() - start_cpu)
        return net.history[-1, "dur"]

    epochs = alternate({name: (lambda name=name: epoch(name)) for name in nets}, rounds)
    return epochs, calls, cpu


def bench_skorch_dropin(sizes, device):
    """q. sktorchcw.skorch.NeuralNetClassifier against skorch's own, an MLP on tabular data."""
    from sktorchcw.skorch import NeuralNetClassifier as WeightedClassifier

    n_samples, n_features = sizes.tabular_shape
    X, y = tabular_data(n_samples, n_features)
    weights = np.random.default_rng(1).uniform(0.5, 1.5, size=n_samples)
    rows = []
    for criterion, softmax, suffix in [(nn.CrossEntropyLoss, False, ""),
                                       (nn.NLLLoss, True, ", NLLLoss")]:
        common = {"module": TabularMLP, "module__n_in": n_features,
                  "module__softmax": softmax, "criterion": criterion, "lr": 0.01,
                  "optimizer": torch.optim.Adam, "batch_size": TABULAR_BATCH,
                  "iterator_train__shuffle": True}
        variants = {
            "skorch": (skorch.NeuralNetClassifier, common, {}),
            "ours": (WeightedClassifier, common, {}),
            "balanced": (WeightedClassifier, {**common, "class_weight": "balanced"}, {}),
        }
        if not softmax:
            variants["weighted"] = (WeightedClassifier, {**common, "class_weight": "balanced"},
                                    {"sample_weight": weights})
        epochs, calls, cpu = skorch_epochs(X, y, device, variants, sizes.tabular_rounds)
        times = medians(epochs)

        def ratio(first, second, results=epochs):
            per_round = np.divide(results[first], results[second])
            return float(np.median(per_round)), per_round

        labels = {"skorch": "skorch.NeuralNetClassifier epoch",
                  "ours": "sktorchcw.skorch, unweighted epoch",
                  "balanced": "sktorchcw.skorch, 'balanced' epoch",
                  "weighted": "sktorchcw.skorch, 'balanced' + sample_weight"}
        for name in variants:
            rows.append(row("q", labels[name] + suffix, times[name], "s", samples=epochs[name]))
        for (first, second, text, target) in [
                ("balanced", "skorch", "balanced / skorch's", at_most(1.05)),
                ("balanced", "ours", "balanced / unweighted", at_most(1.03)),
                ("ours", "skorch", "unweighted / skorch's", None),
                ("weighted", "balanced", "+ sample_weight / balanced", None)]:
            if first not in variants:
                continue
            value, per_round = ratio(first, second)
            rows.append(row("q", text + suffix, value, "ratio", target, per_round))
        for results, what in [(calls, "partial_fit call"), (cpu, "CPU time")]:
            for first, second, text in [("balanced", "skorch", "balanced / skorch's"),
                                        ("balanced", "ours", "balanced / unweighted")]:
                value, per_round = ratio(first, second, results)
                rows.append(row("q", f"{text}, {what}{suffix}", value, "ratio",
                                samples=per_round))
    return rows


# -- section r: the built-in GRU and the same GRU as the user's module -------------------


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


def ragged_recordings(n, shortest, longest, seed=0):
    """``n`` recordings of 2 features, lengths uniform from ``shortest`` to ``longest``,
    labels per recording (about 5 % positive) and per frame (about 6 %)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(shortest, longest + 1, size=n)
    X = [rng.normal(size=(length, 2)).astype(np.float32) for length in lengths]
    means = np.array([x[:, 0].mean() for x in X]) * np.sqrt(lengths)
    y = (means > np.quantile(means, 0.95)).astype(np.int64)
    return X, y, [(x[:, 0] > 1.55).astype(np.int64) for x in X]


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


def bench_user_gru(sizes, device):
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


def within_factor(factor):
    return (f"{1 / factor:.3g}..{factor:g}",
            lambda value: 1 / factor <= value <= factor)


# -- section s: a bidirectional tagger on long recordings of different lengths ------------

BIDIRECTIONAL_HIDDEN = 16  # section s
BIDIRECTIONAL_BATCH = 32  # more than the recordings: the whole set is one padded batch


def bench_bidirectional(sizes, device):
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


# -- section t: event F1 on recordings like real ones -------------------------------------

REAL_RECIPE = {"bidirectional": True, "hidden_size": 16, "batch_size": 32, "lr": 0.01,
               "missing": "mask", "random_state": 0}
TUNED = {"threshold": "auto", "min_event_frames": "auto", "max_gap_frames": "auto"}
REAL_VARIANTS = {
    "unweighted, argmax": {},
    "'balanced', argmax": {"class_weight": "balanced"},
    "'balanced', tuned decision": {"class_weight": "balanced", **TUNED},
    "'balanced', tuned decision, per-recording scaling, pieces of 300": {
        "class_weight": "balanced", "standardize": "recording", "segment_frames": 300,
        **TUNED},
}


def bench_real_recordings(sizes, device):
    """t. Event F1 (min IoU 0.2) and frame balanced accuracy of a bidirectional tagger on
    generated recordings like real ones (``make_blink_recordings`` with people of their
    own, 6-30 fps, labels 0-2 frames early, stretches without a face), grouped 3-fold
    cross-validation by person, for the choices of issue 28: class weights, the decision
    tuned for events, per-recording scaling and training on pieces. On real recordings
    the tuned decision turned 'balanced' from the worse into the better model."""
    from sklearn.model_selection import GroupKFold

    n, subjects, shortest, longest = sizes.real_recordings
    X, y, groups = make_blink_recordings(
        n, subjects=subjects, fps=(6, 30), n_frames=(shortest, longest), label_lead=(0, 2),
        missing_runs=(1, 3), blink_rate=9, random_state=0)  # 4-6 % blink frames
    rows, f1 = [], {}
    for name, params in REAL_VARIANTS.items():
        scores, accuracies = [], []
        for train, test in GroupKFold(3).split(X, y, groups):
            tagger = LSTMBlinkTagger(**REAL_RECIPE, **params, max_epochs=sizes.real_epochs,
                                     device=device)
            tagger.fit([X[i] for i in train], [y[i] for i in train])
            truth = [y[i] for i in test]
            scores.append(event_f1_score(truth, tagger.predict([X[i] for i in test]),
                                         zero_division=0.0))
            accuracies.append(tagger.score([X[i] for i in test], truth))
        f1[name] = float(np.mean(scores))
        rows.append(row("t", f"event F1, {name}", f1[name], "F1", samples=scores))
        rows.append(row("t", f"frame balanced accuracy, {name}", float(np.mean(accuracies)),
                        "bacc", samples=accuracies))
    tuned = f1["'balanced', tuned decision"]
    rows.append(row("t", "tuned 'balanced' - unweighted argmax, event F1",
                    tuned - f1["unweighted, argmax"], "F1", above(0.0)))
    rows.append(row("t", "tuned 'balanced' - 'balanced' argmax, event F1",
                    tuned - f1["'balanced', argmax"], "F1", above(0.0)))
    return rows


SECTIONS = {
    "a_overhead": ("estimator vs hand-written loop", bench_overhead),
    "b_class_weight": ("class-weighted vs unweighted", bench_class_weight),
    "c_loss": ("ClassWeightedLoss vs the blog's loop over classes", bench_loss),
    "d_memory": ("memory growth during a fit", bench_memory),
    "e_inference": ("inference", bench_inference),
    "f_scaling": ("scaling with samples and sequence length", bench_scaling),
    "g_fast_path": ("fast path: SliceBatches vs DataLoader", bench_fast_path),
    "h_prediction": ("prediction throughput vs a no_grad loop", bench_prediction),
    "i_tagger": ("per-frame tagger", bench_tagger),
    "j_onnx": ("one window in onnxruntime vs predict_proba", bench_onnx),
    "k_stream": ("streaming frame by frame", bench_stream),
    "l_robust": ("robust standardisation on spiky recordings (event F1)", bench_robust),
    "m_fit_memory": ("fit peak memory per byte of training data", bench_fit_memory),
    "n_mixed_lengths": ("one long recording among many short ones", bench_mixed),
    "o_loguniform": ("log-uniform lengths vs a length-sorted hand-written loop",
                     bench_loguniform),
    "p_tagger_overhead": ("tagger on equal-length 3-D input vs a hand-written loop",
                          bench_tagger_overhead),
    "q_skorch_dropin": ("sktorchcw.skorch.NeuralNetClassifier vs skorch's, tabular MLP",
                        bench_skorch_dropin),
    "r_user_gru": ("built-in GRU vs the same GRU as a user module", bench_user_gru),
    "s_bidirectional": ("bidirectional vs unidirectional tagger on long ragged recordings",
                        bench_bidirectional),
    "t_real_recordings": ("event F1 on generated recordings like real ones, by person",
                          bench_real_recordings),
}


# -- reporting --------------------------------------------------------------------------


def cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(args, sizes):
    device = torch.device(args.device)
    return {
        "command": " ".join(["python", *sys.argv]),
        "mode": "quick" if args.quick else "full",
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "device": args.device,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "scikit-learn": sklearn.__version__,
        "rss_source": rss_source(),
        "load_average_start": load_average(),
        "sizes": dataclasses.asdict(sizes),
    }


def load_average():
    """1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def format_value(value):
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"


def print_table(meta, results):
    print(f"sktorchcw benchmarks, {meta['mode']} mode: device {meta['device']}, "
          f"torch {meta['torch']} with {meta['torch_threads']} thread(s) "
          f"(torch.set_num_threads), {meta['cpu']} ({meta['cpu_count']} CPUs)")
    print("Each figure: one process, variants alternating, median of repeats; epoch times "
          "leave out each fit's warm-up epoch.")
    print(f"Load average (1, 5, 15 min) before: {meta['load_average_start']}, after: "
          f"{meta['load_average_end']} (this run adds about 1).")
    if meta["mode"] == "quick":
        print("Quick mode: sizes are tiny, so PASS/MISS mean nothing here.")
    header = (f"{'':2} {'figure':48} {'value':>10} {'unit':9} {'target':12} {'status':6} "
              "IQR of repeats")
    print(header)
    print("-" * len(header))
    for key, section in results.items():
        print(f"{key[0]}  {section['title']}")
        if section.get("skipped"):
            print(f"{'':2} skipped: {section['skipped']}")
        for item in section["rows"]:
            print(f"{'':2} {item['name']:48} {format_value(item['value']):>10} "
                  f"{item['unit']:9} {item['target']:12} {item['status']:6} {item['spread']}")


def write_results(out, meta, results):
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.json", "w") as handle:
        json.dump({"meta": meta, "sections": results}, handle, indent=2)
    fields = [field.name for field in dataclasses.fields(Row) if field.name != "samples"]
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for section in results.values():
            writer.writerows(section["rows"])
    return out / "results.json", out / "results.csv"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and one or two repeats: a smoke run for CI")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads (default 1: single-threaded)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="folder for results.json and results.csv")
    parser.add_argument("--only", nargs="+", choices=sorted(SECTIONS), metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)})")
    return parser.parse_args(argv)


def warm_up(device):
    """Pay the one-off costs (lazy imports, first kernels) before anything is timed."""
    X, y = blink_data(128, 20)
    fit_estimator(X, y, device, 2).predict_proba(X)
    HandLoop(X, y, device).epoch_seconds()


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = QUICK if args.quick else FULL
    meta = describe(args, sizes)
    started = time.perf_counter()
    warm_up(args.device)
    results = {}
    for key, (title, bench) in SECTIONS.items():
        if args.only and key not in args.only:
            continue
        section_start = time.perf_counter()
        try:
            rows = bench(sizes, args.device)
        except SectionSkipped as reason:
            print(f"{key} skipped: {reason}", flush=True)
            rows, skipped = [], {"skipped": str(reason)}
        else:
            skipped = {}
        results[key] = {
            "title": title,
            "seconds": round(time.perf_counter() - section_start, 2),
            "rows": [dataclasses.asdict(item) for item in rows],
            **skipped,
        }
    meta["seconds"] = round(time.perf_counter() - started, 1)
    meta["load_average_end"] = load_average()
    print_table(meta, results)
    json_path, csv_path = write_results(args.out, meta, results)
    print(f"\n{meta['seconds']} s in all; wrote {json_path} and {csv_path}")
    misses = [item["name"] for section in results.values() for item in section["rows"]
              if item["status"] == "MISS"]
    if misses and not args.quick:
        print(f"Targets missed: {'; '.join(misses)}")
    return 0 if all(math.isfinite(item["value"]) for section in results.values()
                    for item in section["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
