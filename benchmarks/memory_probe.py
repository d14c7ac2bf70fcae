"""Peak memory of one ``fit`` or ``predict_proba``, measured in a fresh process.

The benchmark sections m and n (``benchmarks/sections/m_fit_memory.py`` and
``n_mixed_lengths.py``, through ``run_probes`` in ``benchmarks/common.py``) start this
script once per measurement, with a JSON spec as its only argument, and read the one JSON
line it prints (a JSON list of specs runs them one after the other in this one process
and prints a list: the smoke run does that, to start one process instead of eight)::

    python benchmarks/memory_probe.py '{"task": "fit", "estimator": "tagger",
        "kind": "array", "n": 400000, "frames": 60, "hidden_size": 8, "batch_size": 256}'

Tasks
-----
``fit``: ``kind`` ``"array"`` (a 3-D float32 C-contiguous X of ``n`` x ``frames`` x 2),
``"ragged"`` (a list of ``n`` float32 ``(T_i, 2)`` arrays, ``T_i`` log-uniform in
``frames = [shortest, longest]``) or ``"memmap"`` (the 3-D X written to an ``.npy`` file
and opened with ``np.load(path, mmap_mode="r")``). y is int64: one label per recording
for the classifier, one per frame (``(n, frames)`` or one ``(T_i,)`` row per recording)
for the tagger. One epoch on the CPU. Reports the bytes of X and y, the fit's peak
resident memory above what the process held before it, and its time. A memory map is
measured twice: "cold" (none of X's pages read yet by this process, so every page the
fit reads counts in its RSS) and then "resident" (every page of X read beforehand, so
what the fit adds is its own memory: copies, padding, activations).

``mixed``: ``short`` recordings of ``short_frames`` frames and one of ``long_frames``;
the estimator is fitted on the short ones, then ``predict_proba`` of the short ones
together with the long one, of the long one alone and of the short ones alone are
measured, and last a fit on the whole collection.

How the peak is measured
------------------------
The kernel keeps each process's peak resident set (``VmHWM`` in ``/proc/self/status``,
what ``getrusage(RUSAGE_SELF).ru_maxrss`` reports on Linux). Writing ``5`` to
``/proc/self/clear_refs`` (Linux >= 4.0) resets it to the current resident set, so right
before each measured call this script collects garbage, returns the C heap's free pages
to the system (glibc's ``malloc_trim``), resets the peak and reads the current
``VmRSS``; after the call, ``VmHWM - VmRSS before`` is the peak the call added, exact
(no sampling), and the data built beforehand (and its temporaries) never count. Before
the first measurement the same estimator fits (and predicts) a few recordings of the
same kind, so that one-off costs (lazy imports, first kernels) are paid outside the
figure. A fresh process per figure keeps one figure's leftovers (caches, fragmented
heap) out of the next.

RSS counts the file-backed pages of a memory map that this process has touched (a map
read from end to end adds the file's size, even though the kernel may drop those pages
at any time and nothing was copied); anonymous memory (RssAnon) is what copies cost.
The "resident" figure reads every page of the map before the reset, so the peak it
reports is the anonymous memory the fit adds (plus the pages of libraries it loads,
which the warm-up already loaded); the "cold" figure shows what a plain ``ru_maxrss``
would say. Sampling RssAnon from a thread instead was considered and not used: the
sampler only runs when the fit releases the GIL and can miss a temporary copy made and
freed within one numpy call.

Prints ``{"unavailable": reason}`` where the peak cannot be reset (not Linux, or
``/proc/self/clear_refs`` not writable).
"""

import ctypes
import ctypes.util
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_FEATURES = 2
EVENT_RATE = 0.06  # share of frames labelled 1 (timing and memory do not depend on it)
WARM_UP = 64  # recordings of the warm-up fit
CHUNK = 50_000  # recordings generated at a time (keeps building X's temporaries small)

_libc = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform.startswith("linux") else None


def status():
    """``/proc/self/status`` memory fields in MiB (VmRSS, VmHWM, RssAnon, RssFile, ...)."""
    fields = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                fields[key] = int(value.split()[0]) / 1024
    return fields


def reset_peak():
    """Reset this process's peak RSS (VmHWM) to its current RSS."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def unavailable():
    """Why the peak cannot be reset here, or None."""
    if not sys.platform.startswith("linux"):
        return f"needs Linux's /proc/self/clear_refs to reset the peak RSS (this is {sys.platform})"
    try:
        reset_peak()
    except OSError as error:
        return f"cannot reset the peak RSS through /proc/self/clear_refs: {error}"
    return None


def measure(call):
    """Run ``call()``; return its result, the peak RSS it added and its time."""
    gc.collect()
    if _libc is not None and hasattr(_libc, "malloc_trim"):
        _libc.malloc_trim(0)
    reset_peak()
    before = status()
    start = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - start
    after = status()
    figures = {
        "added_mib": after["VmHWM"] - before["VmRSS"],
        "seconds": seconds,
        "rss_before_mib": before["VmRSS"],
        "anon_before_mib": before.get("RssAnon"),
        "file_before_mib": before.get("RssFile"),
        "anon_after_mib": after.get("RssAnon"),
        "file_after_mib": after.get("RssFile"),
    }
    return result, figures


def estimator_class(name):
    from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger

    return {"classifier": LSTMBlinkClassifier, "tagger": LSTMBlinkTagger}[name]


def make_estimator(spec):
    return estimator_class(spec["estimator"])(
        hidden_size=spec["hidden_size"], batch_size=spec["batch_size"], max_epochs=1,
        device="cpu", random_state=0, progress_bar=False,
        class_weight=spec.get("class_weight"),
    )


def nbytes(values):
    if isinstance(values, list):
        return sum(item.nbytes for item in values)
    return values.nbytes


def fill_array(X, rng):
    """Fill a (possibly memory-mapped) ``(n, T, F)`` float32 array with normal values, in
    chunks of recordings."""
    for start in range(0, len(X), CHUNK):
        stop = min(start + CHUNK, len(X))
        X[start:stop] = rng.standard_normal((stop - start, *X.shape[1:]), dtype=np.float32)


def array_labels(per_frame, n, frames, rng):
    """int64 labels: ``(n,)`` per recording, ``(n, frames)`` per frame; both classes."""
    if not per_frame:
        y = rng.integers(0, 2, n).astype(np.int64)
    else:
        y = np.empty((n, frames), dtype=np.int64)
        for start in range(0, n, CHUNK):
            stop = min(start + CHUNK, n)
            y[start:stop] = rng.random((stop - start, frames)) < EVENT_RATE
    y[:2] = 0
    y[1, ...] = 1
    return y


def ragged_data(per_frame, n, shortest, longest, rng):
    """``n`` float32 recordings of log-uniform lengths (the shortest and the longest both
    present) and their int64 labels."""
    lengths = np.exp(rng.uniform(np.log(shortest), np.log(longest + 1), n)).astype(np.int64)
    lengths = np.clip(lengths, shortest, longest)
    lengths[:2] = longest, shortest
    X = [rng.standard_normal((length, N_FEATURES), dtype=np.float32) for length in lengths]
    if per_frame:
        y = [(rng.random(length) < EVENT_RATE).astype(np.int64) for length in lengths]
        y[0][0], y[0][1] = 0, 1
    else:
        y = rng.integers(0, 2, n).astype(np.int64)
        y[:2] = 0, 1
    return X, y


def warm_up(spec, X, y):
    """Fit the estimator on a few recordings of the same kind: pays one-off costs."""
    make_estimator(spec).fit(X[:WARM_UP], y[:WARM_UP])


def fit_task(spec, folder):
    per_frame = spec["estimator"] == "tagger"
    rng = np.random.default_rng(0)
    kind = spec["kind"]
    if kind == "ragged":
        X, y = ragged_data(per_frame, spec["n"], *spec["frames"], rng)
    else:
        shape = (spec["n"], spec["frames"], N_FEATURES)
        if kind == "memmap":
            path = Path(folder) / "X.npy"
            written = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
            fill_array(written, rng)
            written.flush()
            del written
            X = np.load(path, mmap_mode="r")
        else:
            X = np.empty(shape, dtype=np.float32)
            fill_array(X, rng)
        y = array_labels(per_frame, spec["n"], spec["frames"], rng)
    result = {"x_bytes": nbytes(X), "y_bytes": nbytes(y)}
    warm_up(spec, X, y)
    _, result["fit"] = measure(lambda: make_estimator(spec).fit(X, y))
    if kind == "memmap":
        result["cold"] = result.pop("fit")
        for start in range(0, len(X), CHUNK):  # every page of X read, so resident
            float(X[start:start + CHUNK].sum())
        _, result["fit"] = measure(lambda: make_estimator(spec).fit(X, y))
    return result


def mixed_task(spec):
    per_frame = spec["estimator"] == "tagger"
    rng = np.random.default_rng(0)
    n_short, short_frames, long_frames = spec["short"], spec["short_frames"], spec["long_frames"]
    short = [rng.standard_normal((short_frames, N_FEATURES), dtype=np.float32)
             for _ in range(n_short)]
    long = [rng.standard_normal((long_frames, N_FEATURES), dtype=np.float32)]
    if per_frame:
        y_short = [(rng.random(short_frames) < EVENT_RATE).astype(np.int64) for _ in short]
        y_short[0][:2] = 0, 1
        y_long = [(rng.random(long_frames) < EVENT_RATE).astype(np.int64)]
    else:
        y_short = list(rng.integers(0, 2, n_short))
        y_short[:2] = 0, 1
        y_long = [1]
    y_short = y_short if per_frame else np.asarray(y_short, dtype=np.int64)
    y_all = y_short + y_long if per_frame else np.append(y_short, y_long)
    mixed = short + long
    # Warm-up: a small fit and a prediction of short and (part of the) long recordings.
    make_estimator(spec).fit(short[:WARM_UP], y_short[:WARM_UP]).predict_proba(
        short[:8] + [long[0][: max(1, long_frames // 10)]])
    result = {"x_bytes_short": nbytes(short), "x_bytes_long": nbytes(long)}
    estimator, result["fit_short"] = measure(
        lambda: make_estimator(spec).fit(short, y_short))
    _, result["predict_mixed"] = measure(lambda: estimator.predict_proba(mixed))
    _, result["predict_long"] = measure(lambda: estimator.predict_proba(long))
    _, result["predict_short"] = measure(lambda: estimator.predict_proba(short))
    estimator = None  # the model of the short ones, freed before the next fit
    _, result["fit_mixed"] = measure(lambda: make_estimator(spec).fit(mixed, y_all))
    return result


def run_task(spec):
    if spec["task"] == "fit":
        with tempfile.TemporaryDirectory() as folder:
            return fit_task(spec, folder)
    if spec["task"] == "mixed":
        return mixed_task(spec)
    raise ValueError(f"unknown task {spec['task']!r}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    specs = json.loads(argv[0])
    import torch

    many = isinstance(specs, list)  # several measurements in this one process (smoke runs)
    specs = specs if many else [specs]
    torch.set_num_threads(specs[0].get("threads", 1) if specs else 1)
    reason = unavailable()
    if reason is not None:
        print(json.dumps({"unavailable": reason}))
        return 0
    results = [run_task(spec) for spec in specs]
    print(json.dumps(results if many else results[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
