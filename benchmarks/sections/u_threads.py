"""Section u, threads: fit time with the default ``n_threads`` against the best setting,
on an idle machine and beside one busy process.

Measures: the seconds of one ``fit`` (the classifier on windows, the tagger on
recordings; small and large batches) in a fresh process each, best of the repeats,
variants alternating: ``n_threads='auto'`` (the default), ``1`` and ``None`` (torch's
own setting, one thread per core), first with nothing else running, then beside one
process that keeps a core busy (``while True: pass``). A fifth variant runs torch's
setting with ``OMP_WAIT_POLICY=PASSIVE`` beside the busy process, which tells whether
the slowdown is threads spinning while they wait (passive helps) or waiting for a
descheduled thread (it does not). Last, a ``GridSearchCV(n_jobs=2)`` over the
classifier reports the most threads any of its fits computed with.
Anchor: the fastest of the settings, in the same conditions.
Figures: default / best, target <= 1.15, idle and busy; torch's setting / best (the
problem the default solves, no target); threads per grid-search fit, target <= cores // 2.
"""

import json
import os
import subprocess
import sys
import time

from common import at_most, row

TITLE = "fit time with the default threads, idle and beside a busy process"

CHILD = r"""
import json, sys, time
spec = json.loads(sys.argv[1])
import torch
from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger
from sktorchcw.datasets import make_blink_dataset, make_blink_recordings
if spec["estimator"] == "classifier":
    X, y = make_blink_dataset(n_samples=spec["n"], seq_len=60, random_state=0)
    cls = LSTMBlinkClassifier
else:
    X, y = make_blink_recordings(spec["n"], n_frames=spec["frames"], random_state=0)
    cls = LSTMBlinkTagger
estimator = cls(max_epochs=spec["epochs"], batch_size=spec["batch_size"], device="cpu",
                n_threads=spec["n_threads"])
start = time.perf_counter()
estimator.fit(X, y)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

GRID_CHILD = r"""
import json, sys, torch
from skorch.callbacks import Callback
from sklearn.model_selection import GridSearchCV
from sktorchcw import LSTMBlinkClassifier
from sktorchcw.datasets import make_blink_dataset

class Threads(Callback):
    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            net.history.record_batch("threads", torch.get_num_threads())

def most_threads(estimator, X, y):
    return max(b["threads"] for e in estimator.net_.history for b in e["batches"])

X, y = make_blink_dataset(n_samples=200, seq_len=30, random_state=0)
search = GridSearchCV(
    LSTMBlinkClassifier(max_epochs=2, device="cpu", callbacks=[("t", Threads())]),
    {"class_weight": [None, "balanced"]}, cv=2, n_jobs=2, scoring=most_threads, refit=False)
search.fit(X, y)
print(json.dumps({"threads": float(search.cv_results_["mean_test_score"].max())}))
"""

VARIANTS = {  # label: (n_threads, extra environment)
    "default ('auto')": ("auto", {}),
    "n_threads=1": (1, {}),
    "None (torch's setting)": (None, {}),
}
PASSIVE = ("None, OMP_WAIT_POLICY=PASSIVE", (None, {"OMP_WAIT_POLICY": "PASSIVE"}))


def measure(sizes, device):
    """u. Default threads against the best setting, idle and beside a busy process."""
    rows = []
    data = {"classifier": (sizes.threads_windows, None), "tagger": sizes.threads_recordings}
    for estimator in sizes.threads_estimators:
        n, frames = data[estimator]
        for batch_size in sizes.threads_batches:
            for busy in sizes.threads_loads:
                spec = {"estimator": estimator, "n": n, "frames": frames,
                        "epochs": sizes.threads_epochs, "batch_size": batch_size}
                variants = dict(VARIANTS)
                if busy and estimator == "classifier":
                    variants[PASSIVE[0]] = PASSIVE[1]
                rows += _compare(spec, variants, busy, sizes.threads_repeats)
    rows.append(row("u", "GridSearchCV(n_jobs=2): most threads in a fit",
                    _grid_search_threads(), "threads",
                    at_most(max(1, (os.cpu_count() or 1) // 2))))
    return rows


def _compare(spec, variants, busy, repeats):
    """Rows of one condition: each variant's best time and the ratios to the best."""
    seconds = {label: [] for label in variants}
    with _busy_process(busy):
        for _ in range(repeats):
            for label, (n_threads, env) in variants.items():
                seconds[label].append(_fit_seconds({**spec, "n_threads": n_threads}, env))
    best = {label: min(values) for label, values in seconds.items()}
    fastest = min(best[label] for label in VARIANTS)
    where = f"{spec['estimator']}, batch {spec['batch_size']}, {'busy' if busy else 'idle'}"
    rows = [row("u", f"{where}: {label}", value, "s", samples=seconds[label])
            for label, value in best.items()]
    rows.append(row("u", f"{where}: default / best", best["default ('auto')"] / fastest,
                    "x", at_most(1.15)))
    rows.append(row("u", f"{where}: None / best", best["None (torch's setting)"] / fastest,
                    "x"))
    return rows


def _fit_seconds(spec, env):
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, **env})
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def _grid_search_threads():
    done = subprocess.run([sys.executable, "-c", GRID_CHILD], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["threads"]


class _busy_process:
    """A process keeping one core busy inside the block (nothing when ``busy`` is false)."""

    def __init__(self, busy):
        self.busy = busy
        self.process = None

    def __enter__(self):
        if self.busy:
            self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
