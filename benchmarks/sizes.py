"""How big and how often each section measures: ``FULL`` for the real figures, ``QUICK``
for the smoke run (``run.py --quick``). A new section that needs sizes of its own adds its
fields to ``Sizes`` and a value to both (``results.json`` keeps them under
``meta.sizes``)."""

import dataclasses


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
    memory_samples: tuple  # section m: the two numbers of recordings of the slope
    memory_frames: int  # section m: frames of the 3-D (and memory-mapped) X
    memory_ragged_samples: tuple  # section m: the two numbers of recordings of the list
    memory_repeats: int  # section m: fresh processes per size and input (the median peak)
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
    threads_windows: int  # section u: the classifier's windows (60 frames)
    threads_recordings: tuple  # section u: the tagger's recordings and their frames
    threads_batches: tuple  # section u: batch sizes
    threads_epochs: int  # section u: epochs of each fit
    threads_repeats: int  # section u: fresh processes per variant (best of)
    threads_estimators: tuple  # section u: 'classifier', 'tagger'
    threads_loads: tuple  # section u: False (idle), True (beside a busy process)


FULL = Sizes(
    n_samples=4096, seq_len=50, timed_epochs=3, repeats=11, loss_classes=(2, 10, 100),
    loss_calls=200, memory_epochs=50, latency_calls=200,
    scaling_samples=(1024, 2048, 4096, 8192, 16384, 32768, 65536),
    scaling_seq_lens=(25, 50, 100, 200), scaling_repeats=3, predict_samples=100_000,
    tagger_recordings=32, tagger_frames=(150, 450), hour_frames=108_000, stream_calls=2000,
    robust_recordings=(24, 12), robust_epochs=12, robust_seeds=2, spike_sizes=(100, 1000),
    memory_samples=(100_000, 200_000), memory_frames=60,
    memory_ragged_samples=(400_000, 1_600_000), memory_repeats=3,
    mixed_collection=(2000, 10, 10_000), mixed_repeats=7, loguniform_recordings=128,
    loguniform_frames=(10, 3000), loguniform_rounds=7, probe_each=True,
    tabular_shape=(100_000, 50), tabular_rounds=11, gru_rounds=7,
    bidirectional_recordings=(6, 5000, 11_000), bidirectional_rounds=11,
    real_recordings=(24, 6, 1000, 4000), real_epochs=30,
    threads_windows=2000, threads_recordings=(40, 600), threads_batches=(64, 512),
    threads_epochs=5, threads_repeats=3, threads_estimators=("classifier", "tagger"),
    threads_loads=(False, True),
)
QUICK = Sizes(
    n_samples=256, seq_len=20, timed_epochs=2, repeats=2, loss_classes=(2, 10, 100),
    loss_calls=10, memory_epochs=6, latency_calls=50,
    scaling_samples=(256, 512, 1024), scaling_seq_lens=(15, 30, 60), scaling_repeats=1,
    predict_samples=5_000, tagger_recordings=8, tagger_frames=(50, 120), hour_frames=3_000,
    stream_calls=200, robust_recordings=(4, 2), robust_epochs=2, robust_seeds=1,
    spike_sizes=(1000,), memory_samples=(1000, 2000), memory_frames=20,
    memory_ragged_samples=(2000, 4000), memory_repeats=1,
    mixed_collection=(200, 10, 1000), mixed_repeats=2, loguniform_recordings=24,
    loguniform_frames=(10, 300), loguniform_rounds=2, probe_each=False,
    tabular_shape=(2000, 50), tabular_rounds=2, gru_rounds=2,
    bidirectional_recordings=(4, 200, 500), bidirectional_rounds=2,
    real_recordings=(6, 3, 200, 400), real_epochs=1,
    threads_windows=200, threads_recordings=(4, 200), threads_batches=(64,),
    threads_epochs=1, threads_repeats=1, threads_estimators=("classifier",),
    threads_loads=(True,),
)
