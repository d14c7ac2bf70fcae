"""Section e, inference: inference.

Measures: ``predict_proba`` latency for one window (wall clock and this thread's CPU
time) and windows per second for many.
Anchor: none; absolute figures.
Figures: p50 of one window, target <= 2 ms; p99; windows per second.

``predict_proba`` latency for a single window (p50 target <= 2 ms, p99) and
windows per second for many windows (``predict_batch_size="auto"``).
"""

import time

import numpy as np

from common import at_most, now, row
from data import blink_data
from training import fit_estimator

TITLE = "inference"


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


def measure(sizes, device):
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
