"""LSTMBlinkTagger.stream: a recording fed in any chunks gets the probabilities of
predict_proba on the whole recording; snapshots, resets and the checks of update."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from torch import nn

from sktorchcw import GRUFrameLogits, LSTMBlinkTagger, LSTMFrameLogits

# module__proj_size: torch's note that oneDNN has no LSTM projections is no concern here.
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")

FAST = dict(max_epochs=2, batch_size=8, hidden_size=8, lr=0.02, device="cpu", random_state=0)


def fast_tagger(**params):
    return LSTMBlinkTagger(**{**FAST, **params})


@pytest.fixture(scope="module")
def recordings():
    """16 ragged recordings of 2 features; frames with a high first feature are events."""
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(length, 2)) for length in rng.integers(20, 45, size=16)]
    y = [(x[:, 0] > 1.0).astype(int) for x in X]
    return X, y


def _three_string_labels(x):
    return np.where(x[:, 0] > 0.7, "high", np.where(x[:, 0] < -0.7, "low", "mid"))


CONFIGS = {
    "plain": dict(class_weight="balanced"),
    "prior_correction": dict(class_weight={1: 5.0}, prior_correction=True),
    "single_logit": dict(criterion=nn.BCEWithLogitsLoss, class_weight="balanced",
                         prior_correction=True),
    "two_layers_dropout": dict(num_layers=2, dropout=0.3, module__proj_size=4),
    "three_string_classes": dict(class_weight="balanced", prior_correction=True),
    # The built-in GRU: its state is one tensor, h.
    "gru_two_layers_prior_correction": dict(module="gru", num_layers=2,
                                            class_weight={1: 5.0}, prior_correction=True),
    "gru_single_logit": dict(module="gru", criterion=nn.BCEWithLogitsLoss),
}


@pytest.fixture(scope="module")
def taggers(recordings):
    X, y = recordings
    fitted = {}
    for name, params in CONFIGS.items():
        labels = [_three_string_labels(x) for x in X] if "string" in name else y
        fitted[name] = fast_tagger(**params).fit(X, labels)
    return fitted


@pytest.fixture(scope="module")
def recording():
    """A held-out recording of 37 frames."""
    return np.random.default_rng(1).normal(size=(37, 2))


def _chunks(n_frames, sizes):
    """(start, stop) of consecutive blocks of the given sizes (cut at the end), then of the
    frames left."""
    start = 0
    for size in sizes:
        stop = min(start + int(size), n_frames)
        yield start, stop
        start = stop
    if start < n_frames:
        yield start, n_frames


def _random_sizes(seed, low, high, n_frames):
    rng = np.random.default_rng(seed)
    return list(rng.integers(low, high + 1, size=n_frames))


CHUNKINGS = {
    "whole": [37],
    "single_frames": [1] * 37,
    "blocks_of_3": [3] * 12,
    "blocks_of_7": [7] * 5,
    "random_0_to_5": _random_sizes(0, 0, 5, 30),
    "random_1_to_5": _random_sizes(1, 1, 5, 20),
    "empty_first_and_uneven": [0, 0, 5, 1, 0, 11, 2, 17, 0],
}


def _stream_in_chunks(stream, recording, sizes, *, one_d_single_frames=True):
    parts = []
    for start, stop in _chunks(len(recording), sizes):
        if stop - start == 1 and one_d_single_frames:
            proba = stream.update(recording[start])  # one frame, (F,)
            assert proba.shape == (1, len(stream.classes_))
        else:
            proba = stream.update(recording[start:stop])
            assert proba.shape == (stop - start, len(stream.classes_))
        assert proba.dtype == np.float64
        parts.append(proba)
    return np.concatenate(parts)


def test_the_configurations_are_what_they_claim(taggers):
    assert taggers["single_logit"].module_.head.out_features == 1
    assert taggers["two_layers_dropout"].module_.lstm.num_layers == 2
    assert taggers["two_layers_dropout"].module_.lstm.proj_size == 4
    assert taggers["three_string_classes"].module_.head.out_features == 3
    assert taggers["gru_two_layers_prior_correction"].module_.rnn.mode == "GRU"
    assert taggers["gru_single_logit"].module_.head.out_features == 1
    for name in ("prior_correction", "single_logit", "three_string_classes"):
        assert taggers[name].prior_correction
        assert not np.allclose(taggers[name].training_weight_, 1.0)


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("config", CONFIGS)
def test_any_chunking_gives_predict_proba(taggers, recording, config, chunking):
    tagger = taggers[config]
    stream = tagger.stream()
    live = _stream_in_chunks(stream, recording, CHUNKINGS[chunking])
    assert stream.n_frames_ == len(recording)
    np.testing.assert_allclose(live, tagger.predict_proba(recording[None])[0], atol=1e-5)
    np.testing.assert_allclose(live, tagger.predict_proba([recording])[0], atol=1e-5)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(sizes=st.lists(st.integers(0, 9), max_size=20), as_rows=st.booleans())
def test_hypothesis_chunkings_give_predict_proba(taggers, recording, sizes, as_rows):
    tagger = taggers["single_logit"]
    live = _stream_in_chunks(tagger.stream(), recording, sizes,
                             one_d_single_frames=not as_rows)
    np.testing.assert_allclose(live, tagger.predict_proba([recording])[0], atol=1e-5)


def test_probabilities_are_in_classes_order(taggers, recording):
    tagger = taggers["three_string_classes"]
    stream = tagger.stream()
    assert stream.classes_.tolist() == ["high", "low", "mid"]
    proba = stream.update(recording)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert (tagger.classes_[proba.argmax(axis=1)] == tagger.predict([recording])[0]).all()


def test_reset_starts_a_new_recording(taggers, recording):
    tagger = taggers["plain"]
    stream = tagger.stream()
    stream.update(recording[:20])
    stream.update(recording[20])
    stream.reset()
    assert stream.n_frames_ == 0
    again = np.concatenate([stream.update(recording[:9]), stream.update(recording[9:])])
    fresh = tagger.stream()
    np.testing.assert_array_equal(
        again, np.concatenate([fresh.update(recording[:9]), fresh.update(recording[9:])]))


def test_two_streams_of_one_tagger_are_independent(taggers, recording):
    tagger = taggers["plain"]
    first, second = tagger.stream(), tagger.stream()
    first.update(recording[::-1])
    np.testing.assert_allclose(second.update(recording), tagger.predict_proba([recording])[0],
                               atol=1e-5)


def test_a_stream_keeps_its_snapshot_through_refit_and_set_params(recordings, recording):
    X, y = recordings
    tagger = fast_tagger(class_weight={1: 4.0}).fit(X, y)
    expected = tagger.predict_proba([recording])[0]
    stream = tagger.stream()
    head = stream.update(recording[:10])
    tagger.set_params(prior_correction=True, random_state=3, class_weight=None).fit(X, y)
    with torch.no_grad():
        tagger.module_.head.bias += 1.0  # changing the refitted network in place
    tail = stream.update(recording[10:])
    np.testing.assert_allclose(np.concatenate([head, tail]), expected, atol=1e-5)
    assert not np.allclose(tagger.predict_proba([recording])[0], expected, atol=1e-3)


def test_the_snapshot_is_in_eval_mode_and_leaves_the_tagger_alone(taggers, recording):
    tagger = taggers["two_layers_dropout"]
    tagger.module_.train()  # as fit leaves it: dropout on
    stream = tagger.stream()
    assert not stream._module.training and tagger.module_.training
    np.testing.assert_allclose(stream.update(recording), tagger.predict_proba([recording])[0],
                               atol=1e-5)
    assert stream._module is not tagger.module_
    assert stream.classes_ is not tagger.classes_
    np.testing.assert_array_equal(stream.classes_, tagger.classes_)
    with pytest.raises(AttributeError):
        stream.classes_ = np.array([1, 2])
    with pytest.raises(AttributeError):
        stream.n_frames_ = 3
    with pytest.raises(ValueError):  # read-only: the tagger's classes cannot change through it
        stream.classes_[0] = 7
    assert repr(stream) == "FrameStream(n_features=2, classes=[0, 1], n_frames_=37)"


def test_an_unfitted_tagger_cannot_stream():
    with pytest.raises(NotFittedError, match="call fit before stream"):
        LSTMBlinkTagger().stream()


def test_a_bidirectional_tagger_cannot_stream(recordings):
    X, y = recordings
    tagger = fast_tagger(bidirectional=True, max_epochs=1).fit(X[:4], y[:4])
    with pytest.raises(ValueError, match=r"backward direction.*bidirectional=False.*predict_proba"):
        tagger.stream()


def test_prior_correction_with_a_class_of_weight_zero_is_refused(recordings):
    X, y = recordings
    tagger = fast_tagger(class_weight={1: 0.0}, max_epochs=1).fit(X[:4], y[:4])
    tagger.set_params(prior_correction=True)
    with pytest.raises(ValueError, match="weight 0"):
        tagger.stream()


@pytest.mark.parametrize("frames, error, match", [
    (np.zeros(3), ValueError, "one frame of 3 features, but the tagger expects 2"),
    (np.zeros((4, 3)), ValueError, "frames have 3 features, but the tagger expects 2"),
    (np.zeros((4, 1)), ValueError, r"expects 2: pass one frame of shape \(2,\)"),
    (np.zeros((2, 3, 2)), ValueError, "3 dimension"),
    (np.float64(1.0), ValueError, "0 dimension"),
    ([[0.0, 1.0], [2.0]], ValueError, "equal length"),
    (np.array([["a", "b"]]), TypeError, "must be numbers"),
    (np.array([[1 + 2j, 0]]), TypeError, "must be numbers"),
    (np.array([[object(), 1.0]], dtype=object), TypeError, "must be numbers"),
    (np.array([[0.0, np.nan]]), ValueError, "missing value \\(NaN\\)"),
    (np.array([[np.inf, 0.0]], dtype=np.float32), ValueError, "infinity"),
    (np.array([0.0, 1e39]), ValueError, "too large for float32"),
])
def test_bad_frames_are_refused_and_leave_the_stream_as_it_was(taggers, recording, frames,
                                                               error, match):
    tagger = taggers["plain"]
    stream = tagger.stream()
    head = stream.update(recording[:5])
    with pytest.raises(error, match=match):
        stream.update(frames)
    assert stream.n_frames_ == 5
    tail = stream.update(recording[5:])
    np.testing.assert_allclose(np.concatenate([head, tail]),
                               tagger.predict_proba([recording])[0], atol=1e-5)


@pytest.fixture(scope="module")
def univariate_tagger(recordings):
    """A tagger fitted on 2-D X: 20 columns (time steps) of one feature each."""
    X, y = recordings
    table = np.stack([x[:20, 0] for x in X])
    return fast_tagger(class_weight="balanced").fit(table, np.stack([t[:20] for t in y])), table


def test_a_tagger_fitted_on_columns_streams_one_feature_per_frame(univariate_tagger):
    tagger, table = univariate_tagger
    assert tagger.input_layout_ == "columns" and tagger.n_features_in_ == 20
    stream = tagger.stream()
    assert stream.n_features == 1
    row = table[3]
    live = np.concatenate([stream.update(row[:1]),           # 1-D of length 1: one frame
                           stream.update(row[1:8, None]),     # (k, 1)
                           stream.update([[row[8]]]),
                           stream.update(row[9:, None])])
    np.testing.assert_allclose(live, tagger.predict_proba(row[None])[0], atol=1e-5)
    np.testing.assert_allclose(live, tagger.predict_proba([row])[0], atol=1e-5)


def test_one_feature_frames_as_a_long_1d_array_are_ambiguous(univariate_tagger):
    stream = univariate_tagger[0].stream()
    with pytest.raises(ValueError, match=r"1-D of length 5.*shape \(5, 1\)"):
        stream.update(np.zeros(5))
    assert stream.n_frames_ == 0


def _containers(recording):
    """The recording split in blocks, each given in another container or dtype."""
    frame = recording[4]
    return [
        ("list", recording[:2].tolist()),
        ("tuple of floats", tuple(recording[2])),
        ("list frame", list(recording[3])),
        ("Series frame", pd.Series(frame, index=["ear_left", "ear_right"])),
        ("DataFrame", pd.DataFrame(recording[5:9], columns=["ear_left", "ear_right"])),
        ("float16", recording[9:13].astype(np.float16)),
        ("float32 Fortran order", np.asfortranarray(recording[13:17].astype(np.float32))),
        ("float32 every other row", np.repeat(recording[17:21].astype(np.float32), 2,
                                              axis=0)[::2]),
        ("float32 negative strides", recording[21:25].astype(np.float32)[::-1].copy()[::-1]),
        ("int", np.round(recording[25:29] * 3).astype(np.int64)),
        ("bool", recording[29:31] > 0),
        ("read-only", np.frombuffer(recording[31:].astype(np.float32).tobytes(),
                                    dtype=np.float32).reshape(-1, 2)),
    ]


def test_odd_containers_and_dtypes_read_as_predict_reads_them(taggers, recording):
    tagger = taggers["prior_correction"]
    blocks = _containers(recording)
    stream = tagger.stream()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. torch's warning about read-only arrays
        live = np.concatenate([stream.update(block) for _, block in blocks])
    as_predict_reads = np.concatenate(
        [np.asarray(block, dtype=np.float64).reshape(-1, 2) for _, block in blocks])
    assert as_predict_reads.shape == recording.shape
    np.testing.assert_allclose(live, tagger.predict_proba([as_predict_reads])[0], atol=1e-5)


def test_float16_frames_match_predict_proba_of_float16_input(taggers, recording):
    tagger = taggers["plain"]
    half = recording.astype(np.float16)
    stream = tagger.stream()
    live = np.concatenate([stream.update(half[i:i + 4]) for i in range(0, 37, 4)])
    np.testing.assert_allclose(live, tagger.predict_proba(half[None])[0], atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32])
def test_the_callers_array_is_left_unchanged(taggers, recording, dtype):
    frames = (recording[:6] * 4).astype(dtype)
    before = frames.copy()
    stream = taggers["plain"].stream()
    stream.update(frames)
    stream.update(frames[0])
    np.testing.assert_array_equal(frames, before)
    assert frames.dtype == dtype and frames.flags.writeable


def test_an_empty_block_returns_no_rows(taggers):
    stream = taggers["three_string_classes"].stream()
    empty = stream.update(np.empty((0, 2)))
    assert empty.shape == (0, 3) and empty.dtype == np.float64
    with pytest.raises(ValueError, match="one frame of 0 features"):
        stream.update([])
    assert stream.n_frames_ == 0


def test_forward_with_state_continues_and_forward_is_unchanged():
    torch.manual_seed(0)
    module = LSTMFrameLogits(n_features=2, n_outputs=3, hidden_size=8, num_layers=2).eval()
    x = torch.randn(3, 12, 2)
    first, state = module.forward_with_state(x[:, :5])
    rest, state = module.forward_with_state(x[:, 5:], state)
    assert state[0].shape == (2, 3, 8) and state[1].shape == (2, 3, 8)
    whole = module(x)
    torch.testing.assert_close(torch.cat([first, rest], dim=2), whole, atol=1e-6, rtol=0)
    output, _ = module.lstm((x - module.input_mean) / module.input_scale)
    torch.testing.assert_close(whole, module.head(output).transpose(1, 2))
    single = LSTMFrameLogits(n_features=2, n_outputs=1, hidden_size=8).eval()
    logits, _ = single.forward_with_state(x[:, :4])
    assert logits.shape == (3, 4)


@pytest.mark.parametrize("network, name", [(LSTMFrameLogits, "LSTM"), (GRUFrameLogits, "GRU")])
def test_a_bidirectional_module_cannot_continue_from_a_state(network, name):
    module = network(n_features=2, n_outputs=2, hidden_size=8, bidirectional=True)
    x = torch.zeros(1, 4, 2)
    logits, state = module.forward_with_state(x)
    torch.testing.assert_close(logits, module(x))
    with pytest.raises(ValueError, match=f"A bidirectional {name} cannot continue"):
        module.forward_with_state(x, state)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_tagger_fitted_on_a_gpu_streams_on_it(recordings, recording):
    X, y = recordings
    tagger = fast_tagger(device="cuda", class_weight="balanced", prior_correction=True,
                         num_layers=2).fit(X, y)
    stream = tagger.stream()
    assert next(stream._module.parameters()).device.type == "cuda"
    live = _stream_in_chunks(stream, recording, CHUNKINGS["random_0_to_5"])
    np.testing.assert_allclose(live, tagger.predict_proba([recording])[0], atol=1e-5)
