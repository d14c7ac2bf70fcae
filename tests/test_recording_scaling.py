"""standardize='recording' and 'recording_center' (issue 28, point 3): each recording's
features divided by (reduced by) their own median over its observed frames, then the
global standardisation learned at fit; the same at predict, in streams given the median,
refused by export_onnx and segment_frames; data held as given, the medians applied per
batch."""

import pickle
import tracemalloc

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

import sktorchcw
from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger, _recording_scaling
from sktorchcw._data import check_predict_input, check_sequences
from sktorchcw._recording_scaling import (
    RecordingScaledBatches,
    RecordingScaledDataset,
    RecordingValues,
    recording_medians,
)
from sktorchcw._stream import FrameStream

FAST = dict(max_epochs=2, batch_size=8, hidden_size=8, lr=0.02, device="cpu", random_state=0)
ESTIMATORS = {"classifier": LSTMBlinkClassifier, "tagger": LSTMBlinkTagger}


def _observed(x):
    return ~np.isnan(x).any(axis=1)


def reference_median(x):
    """np.median of a recording's observed frames ``(L, F)``."""
    return np.median(x[_observed(x)], axis=0)


def _recording(rng, length, level):
    """A positive EAR-like recording of 2 features at its own open-eye level, with blinks
    (dips of the first feature) and a few missing frames."""
    x = np.empty((length, 2), dtype=np.float32)
    x[:, 0] = level * (1 + 0.05 * rng.normal(size=length))
    x[:, 1] = 2 * level + 0.1 * rng.normal(size=length)
    blinks = rng.random(length) < 0.15
    x[blinks, 0] *= 0.4
    x[rng.random(length) < 0.05] = np.nan
    x[0] = x[0] if not np.isnan(x[0]).any() else level
    return x, blinks.astype(int)


@pytest.fixture(scope="module")
def ragged():
    rng = np.random.default_rng(0)
    X, y = [], []
    for length in rng.integers(20, 45, size=16):
        x, labels = _recording(rng, int(length), rng.uniform(0.2, 0.4))
        X.append(x)
        y.append(labels)
    return X, y


@pytest.fixture(scope="module")
def array():
    rng = np.random.default_rng(1)
    pairs = [_recording(rng, 30, rng.uniform(0.2, 0.4)) for _ in range(16)]
    return np.stack([x for x, _ in pairs]), np.stack([labels for _, labels in pairs])


def _data(kind, ragged, array, estimator):
    """X and the labels ``estimator`` takes: per frame for the tagger, one per recording
    (whether it holds a blink in its first half) for the classifier."""
    X, y = ragged if kind == "ragged" else array
    if estimator is LSTMBlinkClassifier:
        y = np.array([int(labels[:len(labels) // 2].any()) for labels in y])
        y[:2] = [0, 1]
    return X, y


def _scaled(X, factors):
    """Every recording of X times its own factor (NaN stays NaN)."""
    if isinstance(X, np.ndarray):
        return (X * np.asarray(factors, dtype=np.float32)[:, None, None]).astype(np.float32)
    return [(x * np.float32(f)).astype(np.float32) for x, f in zip(X, factors, strict=True)]


def _shifted(X, shifts):
    if isinstance(X, np.ndarray):
        return (X + np.asarray(shifts, dtype=np.float32)[:, None, None]).astype(np.float32)
    return [(x + np.float32(s)).astype(np.float32) for x, s in zip(X, shifts, strict=True)]


def _flat(proba):
    """Probabilities of a ragged tagger (one array per recording) as one array."""
    if proba.dtype == object:
        return np.concatenate(list(proba))
    return proba


def _divided(X):
    """Every recording divided by np.median of its observed frames."""
    if isinstance(X, np.ndarray):
        return np.stack([x / reference_median(x) for x in X]).astype(np.float32)
    return [(x / reference_median(x)).astype(np.float32) for x in X]


@pytest.mark.parametrize("kind", ["array", "ragged"])
@pytest.mark.parametrize("name", ESTIMATORS)
def test_a_recording_times_a_factor_gets_the_same_predictions(name, kind, ragged, array):
    """The level of each recording is removed: scaling recordings (each by its own factor,
    or all by 1.7), at predict or at fit, changes nothing the model gives."""
    estimator = ESTIMATORS[name]
    X, y = _data(kind, ragged, array, estimator)
    fitted = estimator(**FAST, standardize="recording", missing="mask").fit(X, y)
    proba = _flat(fitted.predict_proba(X))
    factors = np.random.default_rng(2).uniform(0.3, 3.0, size=len(X))
    for other in (_scaled(X, [1.7] * len(X)), _scaled(X, factors)):
        np.testing.assert_allclose(_flat(fitted.predict_proba(other)), proba, atol=1e-5)
    refitted = estimator(**FAST, standardize="recording", missing="mask").fit(
        _scaled(X, factors), y)
    np.testing.assert_allclose(_flat(refitted.predict_proba(X)), proba, atol=1e-5)
    # Without it the level matters: the invariance is the option's doing.
    plain = estimator(**FAST, missing="mask").fit(X, y)
    assert not np.allclose(_flat(plain.predict_proba(_scaled(X, factors))),
                           _flat(plain.predict_proba(X)), atol=1e-3)


@pytest.mark.parametrize("kind", ["array", "ragged"])
@pytest.mark.parametrize("name", ESTIMATORS)
def test_the_model_sees_the_ratios_at_fit_and_at_predict(name, kind, ragged, array):
    """standardize='recording' on X is standardize=True on X divided by each recording's
    median: the same statistics, the same training, the same predictions, also on
    recordings never seen at fit (divided by their own medians)."""
    estimator = ESTIMATORS[name]
    X, y = _data(kind, ragged, array, estimator)
    recording = estimator(**FAST, standardize="recording", missing="mask").fit(X, y)
    reference = estimator(**FAST, standardize=True, missing="mask").fit(_divided(X), y)
    for key in ("input_mean", "input_scale", "missing_fill"):
        torch.testing.assert_close(getattr(recording.module_, key),
                                   getattr(reference.module_, key), rtol=1e-5, atol=1e-6)
    new = _scaled(X, np.random.default_rng(3).uniform(0.5, 2.0, size=len(X)))
    np.testing.assert_allclose(_flat(recording.predict_proba(new)),
                               _flat(reference.predict_proba(_divided(new))), atol=1e-5)


@pytest.mark.parametrize("kind", ["array", "ragged"])
def test_recording_center_subtracts_each_recordings_median(kind, ragged, array):
    X, y = _data(kind, ragged, array, LSTMBlinkTagger)
    X = _shifted(X, np.random.default_rng(4).uniform(-1, 1, size=len(X)))  # signed
    fitted = LSTMBlinkTagger(**FAST, standardize="recording_center", missing="mask").fit(X, y)
    proba = _flat(fitted.predict_proba(X))
    shifts = np.random.default_rng(5).uniform(-2, 2, size=len(X))
    np.testing.assert_allclose(_flat(fitted.predict_proba(_shifted(X, shifts))), proba,
                               atol=1e-4)
    centred = ([x - reference_median(x) for x in X] if kind == "ragged"
               else np.stack([x - reference_median(x) for x in X]).astype(np.float32))
    reference = LSTMBlinkTagger(**FAST, standardize=True, missing="mask").fit(centred, y)
    np.testing.assert_allclose(_flat(reference.predict_proba(centred)), proba, atol=1e-5)


@pytest.mark.parametrize("standardize", ["recording", "recording_center"])
def test_the_medians_are_those_of_the_observed_frames_whatever_the_chunking(
        standardize, ragged, array, monkeypatch):
    """Runs of recordings, one recording at a time and a recording longer than a chunk
    (found in two passes) all give np.median over the observed frames."""
    for chunk in (2**18, 64, 25):  # 25: every array recording (30 frames) is a long one
        monkeypatch.setattr(_recording_scaling, "CHUNK_FRAMES", chunk)
        complete = [np.where(np.isnan(x), 0.3, x).astype(np.float32) for x in ragged[0]]
        for X, missing in ((ragged[0], "mask"), (array[0], "mask"), (complete, "raise"),
                           (np.stack([x[:20] for x in complete[:4]]), "raise")):
            sequences = check_sequences(LSTMBlinkTagger(missing=missing), X)
            medians = recording_medians(sequences, standardize)
            expected = np.stack([reference_median(x) for x in X])
            np.testing.assert_allclose(medians, expected, rtol=1e-6)


def test_a_recording_with_no_observed_frame_is_scaled_by_nothing():
    """Prediction accepts a recording whose every frame is missing (fit refuses it)."""
    X = [np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), np.full((3, 2), np.nan, np.float32)]
    fitted = LSTMBlinkTagger(**FAST, standardize="recording", missing="mask").fit(
        [X[0], X[0] * 2], [[0, 1], [1, 0]])
    sequences = check_predict_input(fitted, X, fitted.input_layout_)
    assert recording_medians(sequences, "recording")[1].tolist() == [1.0, 1.0]
    assert recording_medians(sequences, "recording_center")[1].tolist() == [0.0, 0.0]
    assert recording_medians(sequences, "recording")[0].tolist() == [2.0, 3.0]
    assert np.isfinite(_flat(fitted.predict_proba(X))).all()


@pytest.mark.parametrize("kind", ["array", "ragged"])
def test_batches_hold_each_recording_divided_by_its_median(kind, ragged, array):
    """What reaches the network, batch by batch and item by item (a DataLoader's path),
    while the dataset holds X's own frames."""
    X = ragged[0] if kind == "ragged" else array[0]
    tagger = LSTMBlinkTagger(standardize="recording", missing="mask")
    sequences = check_sequences(tagger, X)
    dataset = tagger._dataset(sequences)
    assert isinstance(dataset, RecordingScaledDataset)
    assert np.shares_memory(dataset.x.numpy(), sequences.frames)  # X as given, no copy
    rows = torch.tensor([3, 0, 7])
    inputs, _ = dataset.batch(rows)
    for position, row in enumerate(rows.tolist()):
        x = X[row]
        got = inputs["x"][position, :len(x)].numpy()
        np.testing.assert_allclose(got, x / reference_median(x), rtol=1e-6)
        item, _ = dataset[row]
        np.testing.assert_allclose(item["x"][:len(x)].numpy(), x / reference_median(x),
                                   rtol=1e-6)
    assert dataset.on_device("cpu") is dataset


def test_fit_with_a_dataloader_iterator_scales_items(ragged):
    X, y = ragged
    fitted = LSTMBlinkTagger(**{**FAST, "batch_size": 1}, standardize="recording",
                             missing="mask", iterator_train=torch.utils.data.DataLoader,
                             iterator_valid=torch.utils.data.DataLoader).fit(X, y)
    factors = np.random.default_rng(6).uniform(0.5, 2, size=len(X))
    np.testing.assert_allclose(_flat(fitted.predict_proba(_scaled(X, factors))),
                               _flat(fitted.predict_proba(X)), atol=1e-5)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_a_median_not_positive_is_refused_naming_feature_and_recording(name, ragged):
    estimator = ESTIMATORS[name]
    X, y = _data("ragged", ragged, None, estimator)
    bad = [x.copy() for x in X]
    bad[5][:, 1] = -bad[5][:, 1]
    with pytest.raises(ValueError, match=r"feature 1 of recording 5 has median -"):
        estimator(**FAST, standardize="recording", missing="mask").fit(bad, y)
    zero = [x.copy() for x in X]
    zero[3][:, 0] = 0.0
    with pytest.raises(ValueError, match=r"feature 0 of recording 3 has median 0\b.*"
                                         r"recording_center"):
        estimator(**FAST, standardize="recording", missing="mask").fit(zero, y)
    fitted = estimator(**FAST, standardize="recording", missing="mask").fit(X, y)
    with pytest.raises(ValueError, match="feature 1 of recording 5"):
        fitted.predict_proba(bad)
    # Subtracting a median takes any sign.
    estimator(**FAST, standardize="recording_center", missing="mask").fit(bad, y)


def test_a_bad_median_is_refused_before_training(ragged, monkeypatch):
    X, y = ragged
    bad = [x.copy() for x in X]
    bad[2][:, 0] = -1.0
    trained = []
    monkeypatch.setattr(sktorchcw._net.SequenceNet, "partial_fit",
                        lambda *args, **kwargs: trained.append(1))
    with pytest.raises(ValueError, match="recording 2"):
        LSTMBlinkTagger(**FAST, standardize="recording", missing="mask").fit(bad, y)
    assert not trained


@pytest.mark.parametrize("standardize", ["recording", "recording_center"])
def test_save_load_pickle_and_clone_keep_it(standardize, ragged, tmp_path):
    X, y = ragged
    fitted = LSTMBlinkTagger(**FAST, standardize=standardize, missing="mask").fit(X, y)
    new = _scaled(X, np.linspace(0.5, 2, len(X)))
    expected = _flat(fitted.predict_proba(new))
    fitted.save(tmp_path / "model")
    loaded = sktorchcw.load(tmp_path / "model")
    assert loaded.standardize == standardize
    np.testing.assert_allclose(_flat(loaded.predict_proba(new)), expected, atol=1e-6)
    unpickled = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(_flat(unpickled.predict_proba(new)), expected, atol=1e-6)
    assert clone(fitted).get_params()["standardize"] == standardize


def test_grid_search_over_standardize(array):
    X, y = _data("array", None, array, LSTMBlinkClassifier)
    search = GridSearchCV(
        LSTMBlinkClassifier(**FAST, missing="mask"),
        {"standardize": [True, "robust", "recording", "recording_center", False]},
        cv=KFold(2), error_score="raise").fit(X, y)
    assert len(search.cv_results_["params"]) == 5
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_an_unknown_value_is_refused_by_the_parameter_check(ragged):
    with pytest.raises(ValueError, match="standardize"):
        LSTMBlinkTagger(**FAST, standardize="recordings").fit(*ragged)


def test_validation_data_is_scaled_by_its_own_medians(ragged):
    X, y = ragged
    fitted = LSTMBlinkTagger(**FAST, standardize="recording", missing="mask").fit(
        X[:12], y[:12], validation_data=(X[12:], y[12:]))
    assert np.isfinite(fitted.history_[-1, "valid_loss"])
    bad = [x.copy() for x in X[12:]]
    bad[1][:, 0] = -1
    with pytest.raises(ValueError, match="feature 0 of recording 1"):
        LSTMBlinkTagger(**FAST, standardize="recording", missing="mask").fit(
            X[:12], y[:12], validation_data=(bad, y[12:]))


@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("kind", ["array", "ragged"])
def test_pieces_are_scaled_by_their_whole_recordings_median(kind, center, ragged, array):
    """segment_frames: every frame is in one piece each pass, and each piece holds its
    frames scaled by the median of the whole recording it was cut from."""
    X = ragged[0] if kind == "ragged" else array[0]
    tagger = LSTMBlinkTagger(standardize="recording_center" if center else "recording",
                             missing="mask")
    dataset = tagger._dataset(check_sequences(tagger, X))
    batches = RecordingScaledBatches(dataset, batch_size=4, shuffle=True, seed=0,
                                     segment_frames=10)
    for _ in range(2):  # fresh cuts every pass
        seen = []
        for inputs, _ in batches:
            for x, length in zip(inputs["x"], inputs["lengths"], strict=True):
                seen.append(x[:int(length)].numpy())
        assert len(seen) > len(X)  # the recordings were cut
        expected = [x - reference_median(x) if center else x / reference_median(x)
                    for x in X]
        got, want = np.concatenate(seen), np.concatenate(expected)
        order = np.lexsort(want.T)
        np.testing.assert_allclose(got[np.lexsort(got.T)], want[order], rtol=1e-6,
                                   atol=1e-7)


@pytest.mark.parametrize("kind", ["array", "ragged"])
def test_training_on_pieces_keeps_the_level_removed(kind, ragged, array):
    X, y = _data(kind, ragged, array, LSTMBlinkTagger)
    params = {**FAST, "standardize": "recording", "missing": "mask", "segment_frames": 10}
    fitted = LSTMBlinkTagger(**params).fit(X, y)
    factors = np.random.default_rng(9).uniform(0.3, 3, size=len(X))
    refitted = LSTMBlinkTagger(**params).fit(_scaled(X, factors), y)
    np.testing.assert_allclose(_flat(refitted.predict_proba(X)),
                               _flat(fitted.predict_proba(X)), atol=1e-5)


@pytest.mark.parametrize("standardize", ["recording", "recording_center"])
def test_a_stream_given_the_recordings_median_gives_predict_proba(standardize, ragged):
    X, y = ragged
    tagger = LSTMBlinkTagger(**FAST, standardize=standardize, missing="mask").fit(X, y)
    recording = X[4] * np.float32(1.3)
    stream = tagger.stream()
    with pytest.raises(ValueError, match=r"reset\(recording_median=median\)"):
        stream.update(recording[:3])
    assert stream.n_frames_ == 0
    stream.reset(recording_median=reference_median(recording))
    chunks = [stream.update(recording[:1]), stream.update(recording[1:17]),
              stream.update(recording[17:])]
    np.testing.assert_allclose(np.vstack(chunks), tagger.predict_proba([recording])[0],
                               atol=1e-5)
    other = X[7]
    stream.reset(recording_median=reference_median(other))  # the next recording's own
    np.testing.assert_allclose(stream.update(other), tagger.predict_proba([other])[0],
                               atol=1e-5)
    made = FrameStream(tagger, recording_median=reference_median(other))
    np.testing.assert_allclose(made.update(other), tagger.predict_proba([other])[0],
                               atol=1e-5)
    stream.reset()  # a new recording without its median: refused again
    with pytest.raises(ValueError, match="recording_median"):
        stream.update(other[:1])


def test_a_stream_refuses_a_bad_or_needless_median(ragged):
    X, y = ragged
    tagger = LSTMBlinkTagger(**FAST, standardize="recording", missing="mask").fit(X, y)
    stream = tagger.stream()
    with pytest.raises(ValueError, match=r"recording_median\[1\] = 0 is not positive"):
        stream.reset(recording_median=[0.3, 0.0])
    with pytest.raises(ValueError, match="one value per feature"):
        stream.reset(recording_median=[0.3])
    with pytest.raises(ValueError, match="finite"):
        stream.reset(recording_median=[0.3, np.nan])
    plain = LSTMBlinkTagger(**FAST, missing="mask").fit(X, y)
    with pytest.raises(ValueError, match="Leave recording_median=None"):
        FrameStream(plain, recording_median=[0.3, 0.6])


def test_export_onnx_refuses_naming_the_alternatives(ragged, tmp_path):
    pytest.importorskip("onnx")
    X, y = ragged
    tagger = LSTMBlinkTagger(**FAST, standardize="recording", missing="mask").fit(X, y)
    with pytest.raises(ValueError, match="standardize=True or 'robust' to export"):
        sktorchcw.export_onnx(tagger, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def _traced_peak(call):
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_statistics_read_x_a_chunk_at_a_time(tmp_path, monkeypatch):
    """The medians and the global statistics of the ratios add a small fraction of a
    memory-mapped X (no scaled copy, no copy of a column)."""
    rng = np.random.default_rng(7)
    n, steps = 4000, 500  # 2 million frames of 2 features: 16 MB
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float32,
                                  shape=(n, steps, 2))
    for start in range(0, n, 500):
        X[start:start + 500] = rng.uniform(0.1, 0.5, size=(500, steps, 2))
    X.flush()
    X = np.load(tmp_path / "X.npy", mmap_mode="r")
    # Chunks of 2**14 frames (0.3 MB of ratios and their temporaries) read 16 MB.
    monkeypatch.setattr(_recording_scaling, "CHUNK_FRAMES", 2**14)
    monkeypatch.setattr(sktorchcw._estimator, "CHUNK_FRAMES", 2**14)
    tagger = LSTMBlinkTagger(standardize="recording")
    sequences = check_sequences(tagger, X)
    medians = []
    peak = _traced_peak(lambda: medians.append(recording_medians(sequences, "recording")))
    assert peak < X.nbytes / 16
    peak = _traced_peak(lambda: sktorchcw._estimator._feature_scaling(
        sequences, "recording", "raise", medians[0]))
    assert peak < X.nbytes / 16
    ratios = RecordingValues(sequences, medians[0], center=False)
    np.testing.assert_allclose(ratios[steps:2 * steps], X[1] / medians[0][1], rtol=1e-6)


@pytest.mark.parametrize("chunk", [1, 7, 40, 10_000])
def test_ratios_read_in_any_slices_are_each_frame_over_its_recordings_median(chunk, ragged):
    X = ragged[0]
    sequences = check_sequences(LSTMBlinkTagger(missing="mask"), X)
    medians = recording_medians(sequences, "recording")
    for center, expected in ((False, [x / reference_median(x) for x in X]),
                             (True, [x - reference_median(x) for x in X])):
        values = RecordingValues(sequences, medians, center=center)
        read = np.concatenate([values[start:start + chunk]
                               for start in range(0, len(values), chunk)])
        np.testing.assert_allclose(read, np.concatenate(expected), rtol=1e-6, atol=1e-7)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", ["array", "ragged"])
def test_on_a_gpu_the_medians_travel_with_the_data(kind, ragged, array):
    X, y = _data(kind, ragged, array, LSTMBlinkTagger)
    params = {**FAST, "device": "cuda", "standardize": "recording", "missing": "mask"}
    fitted = LSTMBlinkTagger(**params).fit(X, y)
    tagger_sequences = check_sequences(LSTMBlinkTagger(missing="mask"), X)
    on_gpu = fitted._dataset(tagger_sequences).on_device("cuda")
    assert isinstance(on_gpu, RecordingScaledDataset)
    assert on_gpu.recording_median.device.type == "cuda"
    factors = np.random.default_rng(8).uniform(0.5, 2, size=len(X))
    np.testing.assert_allclose(_flat(fitted.predict_proba(_scaled(X, factors))),
                               _flat(fitted.predict_proba(X)), atol=1e-4)
    on_cpu = LSTMBlinkTagger(**{**params, "device": "cpu"}).fit(X, y)
    np.testing.assert_allclose(_flat(fitted.predict_proba(X)),
                               _flat(on_cpu.predict_proba(X)), atol=1e-3)
