"""Benchmark suite of sktorchcw (issue 5): does LSTMBlinkClassifier cost anything?

Run it from the repository root, with the project installed::

    python benchmarks/run.py                # full suite, about 3 minutes on a 2-core CPU
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
   permutation. Target <= 1.10. The two alternate epoch by epoch (a callback of the
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
   hand-written loop with the same packed bidirectional ``LSTMFrameLogits``, Adam, batch
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

Method
------
Every figure is measured in this one process. Compared variants alternate (A B, then B A,
...; epoch by epoch in sections a, b and g, call by call or fit by fit elsewhere; strictly
A B A B in j and k, whose calls are short enough for caches to matter) and each
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
from sktorchcw.datasets import make_blink_dataset

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


FULL = Sizes(
    n_samples=4096, seq_len=50, timed_epochs=3, repeats=11, loss_classes=(2, 10, 100),
    loss_calls=200, memory_epochs=50, latency_calls=200,
    scaling_samples=(1024, 2048, 4096, 8192, 16384, 32768, 65536),
    scaling_seq_lens=(25, 50, 100, 200), scaling_repeats=3, predict_samples=100_000,
    tagger_recordings=32, tagger_frames=(150, 450), hour_frames=108_000, stream_calls=2000,
)
QUICK = Sizes(
    n_samples=256, seq_len=20, timed_epochs=2, repeats=2, loss_classes=(2, 10, 100),
    loss_calls=10, memory_epochs=6, latency_calls=50,
    scaling_samples=(256, 512, 1024), scaling_seq_lens=(15, 30, 60), scaling_repeats=1,
    predict_samples=5_000, tagger_recordings=8, tagger_frames=(50, 120), hour_frames=3_000,
    stream_calls=200,
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
    """Fit the benchmark's LSTMBlinkClassifier, recording every epoch end."""
    clf = LSTMBlinkClassifier(
        hidden_size=HIDDEN_SIZE, batch_size=BATCH_SIZE, lr=LR, max_epochs=epochs,
        device=device, random_state=0, callbacks=[("epoch_end", EpochEnd()), *callbacks],
        **params,
    )
    return clf.fit(X, y)


def estimator_epoch_seconds(X, y, device, timed_epochs, **params):
    """Median epoch time of a fit, the warm-up epoch left out."""
    clf = fit_estimator(X, y, device, timed_epochs + 1, **params)
    return float(np.median(np.diff(clf.history_[:, "wall"])))


class HandLoop:
    """A plain PyTorch training loop: same module, Adam, loss and batch size as the
    estimator, batches sliced from tensors already on the device by a seeded permutation."""

    def __init__(self, X, y, device, seed=0):
        torch.manual_seed(seed)
        self.device = device
        self.x = torch.as_tensor(X, device=device)
        self.target = torch.as_tensor(y, device=device)
        self.module = LSTMLogits(X.shape[2], 2, hidden_size=HIDDEN_SIZE).to(device)
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
    return compare("a", results, labels, "estimator / hand-written loop", "s", at_most(1.10))


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


def fit_tagger(X, y, device, epochs, callbacks=(), bidirectional=True, **params):
    """Fit the benchmark's LSTMBlinkTagger (bidirectional unless told otherwise), recording
    every epoch end."""
    tagger = LSTMBlinkTagger(
        hidden_size=HIDDEN_SIZE, batch_size=BATCH_SIZE // 4, lr=LR, max_epochs=epochs,
        bidirectional=bidirectional, device=device, random_state=0,
        callbacks=[("epoch_end", EpochEnd()), *callbacks], **params,
    )
    return tagger.fit(X, y)


class HandTaggerLoop:
    """A plain PyTorch per-frame loop: the packed bidirectional LSTMFrameLogits, Adam, and
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
