"""Section j, ONNX: one window in onnxruntime vs predict_proba.

Measures: the one-window latency of LSTMBlinkClassifier exported by
``sktorchcw.export_onnx`` and run by onnxruntime (one thread).
Anchor: ``predict_proba`` of the same window, calls alternating strictly.
Figures: onnxruntime / predict_proba, target < 1; the largest difference of their
probabilities, target <= 1e-4. Needs the ``[onnx]`` extra.

One-window latency of the LSTMBlinkClassifier of section e exported by
``sktorchcw.export_onnx`` and run by onnxruntime (CPU provider, a session with
``intra_op_num_threads=1``), against ``predict_proba`` of the same window; calls
alternate strictly (each follows one of the other kind: after one of its own kind a
call finds warmer caches, so the usual reversed order would split a figure in two
clusters). p50 and p99 in ms of both, the ratio onnxruntime / predict_proba (the
median of the paired per-call ratios; target < 1: the graph skips skorch's and
scikit-learn's per-call work), and the largest difference of their probabilities
(target <= 1e-4). Skipped, with the reason printed, without the ``[onnx]`` extra.
"""

import tempfile
import time

import numpy as np

from common import at_most, below, import_onnxruntime, now, onnx_session, row
from data import blink_data
from training import fit_estimator

TITLE = "one window in onnxruntime vs predict_proba"


def measure(sizes, device):
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
