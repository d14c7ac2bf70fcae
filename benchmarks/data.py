"""Generated data that several sections share (data only one section uses is made in its
module)."""

import numpy as np

from sktorchcw.datasets import make_blink_dataset


def blink_data(n_samples, seq_len):
    return make_blink_dataset(n_samples, seq_len=seq_len, prevalence=0.05, random_state=0)


def recordings(sizes, seed=0):
    """Ragged recordings of 2 features with about 6 % event frames (timing does not depend
    on what they hold)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(*sizes.tagger_frames, size=sizes.tagger_recordings)
    X = [rng.normal(size=(length, 2)).astype(np.float32) for length in lengths]
    y = [(x[:, 0] > 1.55).astype(np.int64) for x in X]
    return X, y


def ragged_recordings(n, shortest, longest, seed=0):
    """``n`` recordings of 2 features, lengths uniform from ``shortest`` to ``longest``,
    labels per recording (about 5 % positive) and per frame (about 6 %)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(shortest, longest + 1, size=n)
    X = [rng.normal(size=(length, 2)).astype(np.float32) for length in lengths]
    means = np.array([x[:, 0].mean() for x in X]) * np.sqrt(lengths)
    y = (means > np.quantile(means, 0.95)).astype(np.int64)
    return X, y, [(x[:, 0] > 1.55).astype(np.int64) for x in X]
