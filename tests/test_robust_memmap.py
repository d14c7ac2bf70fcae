"""standardize='robust' reads X a chunk at a time (issue 27): the median and interquartile
range are np.percentile's, exactly, over the valid, observed frames, and finding them on a
memory map takes a few chunks of memory, not a copy of a feature's column."""


import numpy as np
import pytest

from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger, _data
from sktorchcw._data import Sequences, frame_percentiles, median_and_iqr, missing_frames
from sktorchcw._estimator import _feature_scaling

from helpers import traced_peak

FAST = dict(max_epochs=1, hidden_size=4, batch_size=16, device="cpu", random_state=0)
QUARTILES = [25, 50, 75]
HISTOGRAM_BYTES = 8 * 2**16  # one histogram of one feature: 65,536 int64 counts


def write_memmap(path, shape, *, missing_every=7, seed=0):
    """A float32 ``.npy`` memory map of normal values, written a block of recordings at a
    time, with frames 3 to 8 of every ``missing_every``-th recording missing (NaN in one
    feature only: a lost frame all the same)."""
    rng = np.random.default_rng(seed)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
    for start in range(0, shape[0], 4096):
        block = X[start:start + 4096]
        block[...] = rng.standard_normal(block.shape, dtype=np.float32)
    X[::missing_every, 3:9, 0] = np.nan
    X.flush()
    del X
    return np.load(path, mmap_mode="r")


def awkward_values(rng, n_frames):
    """Three features: normal values; a few integers (ties across chunk boundaries), with
    signed zeros; magnitudes from 1e-30 to 1e30 of both signs."""
    ties = rng.integers(-3, 4, n_frames).astype(np.float32)
    ties[ties == 0] = np.where(rng.random(int((ties == 0).sum())) < 0.5, -0.0, 0.0)
    spread = rng.standard_normal(n_frames) * 10.0 ** rng.integers(-30, 31, n_frames)
    return np.column_stack([rng.standard_normal(n_frames), ties, spread]).astype(np.float32)


# -- correctness ----------------------------------------------------------------------------


def assert_as_np_percentile(got, kept, q):
    """``got`` is np.percentile's of ``kept`` (float32 rows): exactly for the rows as
    float64; on the float32 rows, within 2**-24 of the widest gap between neighbouring
    order statistics (numpy rounds that gap to float32 before it interpolates)."""
    np.testing.assert_array_equal(got, np.percentile(kept.astype(np.float64), q, axis=0))
    gaps = np.diff(np.sort(kept, axis=0).astype(np.float64), axis=0)
    bound = 2.0**-24 * (gaps.max(axis=0) if len(gaps) else np.zeros(kept.shape[1]))
    with np.errstate(over="ignore", invalid="ignore"):  # a float32 gap may overflow
        single = np.percentile(kept, q, axis=0)
    finite = np.isfinite(single)
    assert np.all((np.abs(got - single) <= bound)[finite])


@pytest.mark.parametrize(("n_frames", "chunk"), [(1, 1), (2, 1), (5, 2), (40, 7), (1000, 64),
                                                 (1000, _data.CHUNK_FRAMES)])
def test_percentiles_are_those_of_np_percentile(monkeypatch, n_frames, chunk):
    monkeypatch.setattr(_data, "CHUNK_FRAMES", chunk)
    frames = awkward_values(np.random.default_rng(n_frames), n_frames)
    q = [0, 25, 50, 75, 100, 33.3, 99.9]
    assert_as_np_percentile(frame_percentiles(frames, q), frames, q)


@pytest.mark.parametrize(("n_frames", "chunk"), [(2, 1), (5, 2), (40, 7), (1000, 64),
                                                 (1000, _data.CHUNK_FRAMES)])
def test_percentiles_leave_missing_frames_out(monkeypatch, n_frames, chunk):
    monkeypatch.setattr(_data, "CHUNK_FRAMES", chunk)
    rng = np.random.default_rng(n_frames)
    frames = awkward_values(rng, n_frames)
    lost = rng.random(n_frames) < 0.3
    lost[0], lost[-1] = False, True
    frames[lost, rng.integers(0, 3, int(lost.sum()))] = np.nan  # one feature lost a frame
    q = [0, 25, 50, 75, 100, 33.3, 99.9]
    assert_as_np_percentile(frame_percentiles(frames, q, missing_frames(frames)),
                            frames[~lost], q)


def test_median_and_iqr_leave_missing_frames_out():
    rng = np.random.default_rng(1)
    frames = rng.standard_normal((500, 2)).astype(np.float32)
    frames[::4, 1] = np.nan
    missing = missing_frames(frames)
    center, scale = median_and_iqr(frames, missing)
    low, median, high = np.percentile(frames[~missing].astype(np.float64), QUARTILES, axis=0)
    np.testing.assert_array_equal(center, median)
    np.testing.assert_array_equal(scale, high - low)


def test_no_observed_frame_is_a_clear_error():
    frames = np.full((4, 2), np.nan, dtype=np.float32)
    with pytest.raises(ValueError, match="no frame without a missing value"):
        median_and_iqr(frames, np.ones(4, dtype=bool))


@pytest.mark.parametrize("estimator", [LSTMBlinkClassifier, LSTMBlinkTagger])
def test_a_robust_fit_on_a_memory_map_uses_the_observed_frames_percentiles(tmp_path,
                                                                          estimator):
    X = write_memmap(tmp_path / "X.npy", (48, 20, 2))
    per_frame = estimator is LSTMBlinkTagger
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (48, 20) if per_frame else 48)
    fitted = estimator(**FAST, standardize="robust", missing="mask").fit(X, y)
    frames = np.asarray(X).reshape(-1, 2)
    observed = frames[~np.isnan(frames).any(axis=1)]
    assert len(observed) < len(frames)
    low, median, high = np.percentile(observed.astype(np.float64), QUARTILES, axis=0)
    module = fitted.module_
    np.testing.assert_array_equal(module.input_mean.numpy(), median.astype(np.float32))
    np.testing.assert_array_equal(module.input_scale.numpy(), (high - low).astype(np.float32))
    np.testing.assert_array_equal(module.missing_fill.numpy(), median.astype(np.float32))
    # np.percentile on the float32 frames, within the documented bound.
    low, median, high = np.percentile(observed, QUARTILES, axis=0)
    np.testing.assert_allclose(module.input_mean.numpy(), median, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(module.input_scale.numpy(), high - low, rtol=1e-6)


# -- memory ---------------------------------------------------------------------------------


def robust_scaling_peak(X):
    """Peak bytes allocated while the robust statistics of memory map X are found, as fit
    finds them (missing frames found beforehand, as X's checks find them)."""
    sequences = Sequences(X, None, "sequences")
    sequences = Sequences(X, None, "sequences", missing=missing_frames(sequences.frames))
    peak, _ = traced_peak(lambda: _feature_scaling(sequences, "robust", "mask"))
    return peak


def test_robust_statistics_of_a_memory_map_take_a_few_chunks_not_a_column(tmp_path):
    n_features = 2
    X = write_memmap(tmp_path / "X.npy", (64_000, 125, n_features))  # 8e6 frames, 64 MB
    column_bytes = X.shape[0] * X.shape[1] * 4
    chunk_bytes = _data.CHUNK_FRAMES * n_features * 4
    peak = robust_scaling_peak(X)
    # The temporaries of a chunk, plus the histograms: one per feature, then at most two
    # per percentile (three percentiles) and feature.
    histograms = n_features * (1 + 2 * len(QUARTILES)) * HISTOGRAM_BYTES
    assert peak <= 4 * chunk_bytes + histograms, (peak, chunk_bytes)
    assert peak < column_bytes / 2
    # And it does not grow with the data: a quarter of the frames takes as much.
    smaller = robust_scaling_peak(X[:16_000])
    assert abs(peak - smaller) < chunk_bytes / 4, (peak, smaller)
