"""Section l, robust standardisation: robust standardisation on spiky recordings (event F1).

Measures: the event F1 of taggers with ``standardize='robust'`` on recordings with
injected spikes.
Anchor: the same taggers with ``standardize='standard'``.
Figure: robust - standard event F1 (median of the per-seed differences), target > 0.

Event F1 of bidirectional taggers (hidden 16,
``class_weight='balanced'``) with ``standardize='standard'`` and ``'robust'``, trained on
24 generated recordings of 20 to 40 s and tested on 12 others, both with electrode-like
spikes: in 0.5 % of the frames one feature jumps up or down by 100 (then 1000) standard
deviations of the clean signal. Median over 2 seeds; the gain robust - standard is the
median of the per-seed differences (target > 0). A quality figure, not a timing.
"""

import numpy as np

from sktorchcw import LSTMBlinkTagger
from sktorchcw.datasets import make_blink_recordings
from sktorchcw.events import event_f1_score

from common import above, row

TITLE = "robust standardisation on spiky recordings (event F1)"

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


def measure(sizes, device):
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
