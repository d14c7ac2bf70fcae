"""Section k, streaming: streaming frame by frame.

Measures: ``update(frame)`` of ``LSTMBlinkTagger.stream()``, one frame per call.
Anchor: ``update`` of a block of 30 frames, per frame (and, with the ``[onnx]`` extra, one
frame through the stateful ONNX graph in onnxruntime).
Figures: p50 of one frame, target <= 0.5 ms; p99 and its thread CPU time; one frame /
per frame of a block.

``LSTMBlinkTagger.stream()`` of a fitted unidirectional tagger (hidden 32,
2 features): the cost of ``update(frame)`` for one frame (p50 target <= 0.5 ms, p99,
and the p99 of this thread's CPU time), against an ``update`` of a block of 30 frames,
per frame; the two alternate strictly call by call, as in j, each on a stream of its own.
With the ``[onnx]`` extra, a third variant in the same rotation: one frame through the
tagger exported with ``export_onnx(..., stateful=True)`` in onnxruntime (one thread),
carrying the state (p50 and p99), the cost on a device without torch.
"""

import tempfile
import time

import numpy as np

from common import SectionSkipped, at_most, import_onnxruntime, now, onnx_session, row
from data import recordings
from training import fit_tagger

TITLE = "streaming frame by frame"

STREAM_BLOCK = 30


def measure(sizes, device):
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
