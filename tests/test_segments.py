"""segment_frames: training on pieces of long recordings, cut afresh every epoch, as views
into the frames; validation and prediction on whole recordings."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from torch.utils.data import DataLoader, Subset

import sktorchcw
from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger
from sktorchcw._batching import SliceBatches
from sktorchcw._segments import MIN_SEGMENT_FRAMES, cut_recordings

from helpers import CtrlCAt

FAST = dict(max_epochs=2, batch_size=16, hidden_size=8, device="cpu", random_state=0)


def recordings(n=30, low=10, high=2000, seed=0, missing=0.0):
    """Recordings of ``low`` to ``high`` frames (the extremes included), 2 features, 0/1
    frame labels; a share ``missing`` of frames NaN."""
    rng = np.random.default_rng(seed)
    lengths = np.r_[low, high, rng.integers(low, high, size=n - 2)]
    X = [rng.normal(size=(length, 2)).astype(np.float32) for length in lengths]
    y = [(x[:, 0] > 1).astype(int) for x in X]
    for x in X:
        x[rng.random(len(x)) < missing] = np.nan
    return X, y


def pieces_by_recording(recording, start, length):
    pieces = {}
    for r, s, n in zip(recording.tolist(), start.tolist(), length.tolist(), strict=True):
        pieces.setdefault(r, []).append((s, n))
    return pieces


@pytest.mark.parametrize("size", [MIN_SEGMENT_FRAMES, 11, 64, 300])
def test_pieces_cover_every_frame_of_each_recording_once(size):
    lengths = torch.tensor([1, size - 1, size, size + 1, 2 * size, 2 * size + 1, 7 * size + 3,
                            5000, *range(1, 4 * size, 7)])
    generator = torch.Generator().manual_seed(0)
    shortest = (size + 1) // 2
    for _ in range(20):  # 20 passes, each cut at fresh offsets
        pieces = pieces_by_recording(*cut_recordings(lengths, size, generator))
        assert sorted(pieces) == list(range(len(lengths)))
        for r, cut in pieces.items():
            length = int(lengths[r])
            starts = [s for s, _ in cut]
            assert starts[0] == 0
            assert [s + n for s, n in cut] == starts[1:] + [length]  # consecutive, to the end
            if length <= size:
                assert cut == [(0, length)]  # stays whole
            elif len(cut) == 1:
                assert length <= 2 * size
            else:
                sizes = [n for _, n in cut]
                assert all(n == size for n in sizes[1:-1])
                assert all(shortest <= n < size + shortest for n in (sizes[0], sizes[-1]))


def test_offsets_differ_between_epochs_and_are_reproducible_from_the_seed():
    lengths = torch.full((5,), 1000)

    def passes(seed, n=4):
        generator = torch.Generator().manual_seed(seed)
        return [cut_recordings(lengths, 100, generator)[1].tolist() for _ in range(n)]

    first = passes(3)
    assert len({tuple(starts) for starts in first}) == 4  # a fresh cut every pass
    assert passes(3) == first
    assert passes(4) != first


def tagger_dataset(X, y, sample_weight=None):
    tagger = LSTMBlinkTagger(**FAST)
    sequences, _, codes = tagger._targets.check_training(tagger, X, y, None)
    if sample_weight is not None:
        sample_weight = np.concatenate(sample_weight).astype(np.float32)
    return tagger._dataset(sequences, codes, sample_weight), sequences


def pass_pieces(batches):
    """(offset, length) of every piece of one pass's batches, in the frame buffer."""
    pieces = []
    for batch in batches._batches():
        pieces.extend(zip(batches.base.offsets[batch].tolist(),
                          batches.base.lengths[batch].tolist(), strict=True))
    return pieces


def test_a_pass_reads_every_frame_of_the_training_recordings_once():
    X, y = recordings(40)
    dataset, sequences = tagger_dataset(X, y)
    training = np.arange(0, 40, 2)  # a Subset, as a ValidSplit leaves it
    batches = SliceBatches(Subset(dataset, training), 8, shuffle=True, seed=0,
                           segment_frames=100)
    for _ in range(3):
        seen = np.zeros(len(sequences.frames), dtype=int)
        for offset, length in pass_pieces(batches):
            assert length <= 200
            seen[offset:offset + length] += 1
        expected = np.zeros_like(seen)
        for row in training:
            start = sequences.frame_offsets[row]
            expected[start:start + sequences.lengths[row]] = 1
        np.testing.assert_array_equal(seen, expected)


def test_pass_cuts_are_reproducible_and_exact_on_resume():
    X, y = recordings(30)
    dataset, _ = tagger_dataset(X, y)
    first = SliceBatches(dataset, 8, shuffle=True, seed=3, segment_frames=100)
    epochs = [pass_pieces(first) for _ in range(3)]
    assert epochs[0] != epochs[1] != epochs[2]
    resumed = SliceBatches(dataset, 8, shuffle=True, seed=3, start_epoch=2, segment_frames=100)
    assert pass_pieces(resumed) == epochs[2]
    assert pass_pieces(SliceBatches(dataset, 8, shuffle=True, seed=3,
                                    segment_frames=100)) == epochs[0]


def test_frames_labels_and_weights_follow_the_pieces_without_a_copy():
    X, y = recordings(12)
    frame_number = 0
    for x, labels in zip(X, y, strict=True):  # every frame holds its place in the buffer
        x[:, 0] = np.arange(frame_number, frame_number + len(x))
        labels[:] = np.arange(frame_number, frame_number + len(x)) % 2
        frame_number += len(x)
    weights = [np.arange(len(x), dtype=np.float32) + 1 for x in X]
    flat_weights = np.concatenate(weights)
    dataset, _ = tagger_dataset(X, y, weights)
    batches = SliceBatches(dataset, 8, shuffle=True, seed=0, segment_frames=50)
    for inputs, labels in batches:
        assert batches.base.x.data_ptr() == dataset.x.data_ptr()  # the same frame buffer
        assert batches.base.y.data_ptr() == dataset.y.data_ptr()
        for x, length, frame_labels, frame_weights in zip(
                inputs["x"], inputs["lengths"], labels, inputs["sample_weight"], strict=True):
            positions = x[:length, 0].numpy().astype(int)
            assert (np.diff(positions) == 1).all()  # consecutive frames of one recording
            np.testing.assert_array_equal(frame_labels[:length].numpy(), positions % 2)
            np.testing.assert_array_equal(frame_weights[:length].numpy(),
                                          flat_weights[positions])
            assert (frame_weights[length:] == 0).all()


def test_array_input_is_cut_in_its_flat_view():
    X = np.random.default_rng(0).normal(size=(6, 250, 2)).astype(np.float32)
    tagger = LSTMBlinkTagger(**FAST)
    sequences, _, codes = tagger._targets.check_training(tagger, X, (X[:, :, 0] > 1), None)
    dataset = tagger._dataset(sequences, codes)
    batches = SliceBatches(dataset, 8, shuffle=True, seed=0, segment_frames=100)
    pieces = pass_pieces(batches)
    assert batches.base.x.data_ptr() == dataset.x.data_ptr()
    assert sorted(offset for offset, _ in pieces)[0] == 0
    assert sum(length for _, length in pieces) == 6 * 250
    assert all(50 <= length < 150 or length == 250 for _, length in pieces)


def test_balanced_sampling_draws_pieces_by_their_recordings_class():
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(n, 2)).astype(np.float32) for n in [2000] * 4 + [300] * 36]
    labels = np.array([1] * 4 + [0] * 36)  # class 1: few recordings, many pieces
    weights = np.linspace(0.5, 2.0, len(X)).astype(np.float32)
    clf = LSTMBlinkClassifier(**FAST)
    sequences, _, codes = clf._targets.check_training(clf, X, labels, None)
    batches = SliceBatches(clf._dataset(sequences, codes, weights), 16, seed=0,
                           sampling="balanced", segment_frames=100)
    drawn = torch.cat([batches.base.y[b] for _ in range(20) for b in batches._batches()])
    assert 0.45 < drawn.float().mean() < 0.55  # about 80 pieces of 1 and 108 of 0, balanced
    for b in batches._batches():  # each piece keeps its recording's label and weight
        recording = np.searchsorted(sequences.frame_offsets, batches.base.offsets[b].numpy(),
                                    side="right") - 1
        np.testing.assert_array_equal(batches.base.y[b].numpy(), labels[recording])
        np.testing.assert_array_equal(batches.base.sample_weight[b].numpy(),
                                      weights[recording])


class BatchSteps(Callback):
    """The padded length of every training and validation batch."""

    def initialize(self):
        self.steps = {True: [], False: []}
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        self.steps[training].append(batch[0]["x"].shape[1])


def test_the_tagger_trains_on_pieces_and_validates_and_predicts_whole_recordings():
    X, y = recordings(14, missing=0.05)
    rng = np.random.default_rng(1)
    weights = [rng.uniform(0.5, 2.0, len(x)) for x in X]
    tagger = LSTMBlinkTagger(**FAST, segment_frames=100, missing="mask",
                             class_weight="balanced", callbacks=[("steps", BatchSteps())])
    tagger.fit(X, y, sample_weight=weights, validation_data=(X[:3], y[:3]))
    steps = dict(tagger.net_.callbacks_)["steps"].steps
    assert max(steps[True]) <= 200  # pieces
    assert max(steps[False]) == 2000  # the longest validation recording, whole
    assert np.isfinite(tagger.history_[:, "train_loss"]).all()
    proba = tagger.predict_proba(X)
    assert [len(p) for p in proba] == [len(x) for x in X]
    assert all(np.isfinite(p).all() for p in proba)


def test_the_classifier_trains_on_pieces_that_keep_their_recordings_label():
    X, _ = recordings(14, missing=0.05)
    labels = np.array([len(x) > 1500 for x in X]).astype(int)
    weights = np.linspace(0.5, 2.0, len(X))
    clf = LSTMBlinkClassifier(**FAST, segment_frames=100, missing="mask", sampling="balanced",
                              callbacks=[("steps", BatchSteps())])
    clf.fit(X, labels, sample_weight=weights)
    assert max(dict(clf.net_.callbacks_)["steps"].steps[True]) <= 200
    proba = clf.predict_proba(X)
    assert proba.shape == (14, 2) and np.isfinite(proba).all()


def test_the_same_random_state_gives_the_same_model():
    X, y = recordings(12, high=400)
    fits = [LSTMBlinkTagger(**{**FAST, "random_state": seed}, segment_frames=64).fit(X, y)
            for seed in (0, 0, 1)]
    probas = [np.concatenate(list(fit.predict_proba(X[:3]))) for fit in fits]
    np.testing.assert_array_equal(probas[0], probas[1])
    assert not np.allclose(probas[0], probas[2])


def test_segments_change_training_from_whole_recordings():
    X, y = recordings(8, high=400)
    whole = LSTMBlinkTagger(**FAST).fit(X, y).predict_proba(X[:1])[0]
    pieces = LSTMBlinkTagger(**FAST, segment_frames=64).fit(X, y).predict_proba(X[:1])[0]
    assert not np.allclose(whole, pieces)


def test_a_saved_model_keeps_segment_frames_and_continues(tmp_path):
    X, y = recordings(6, high=400)
    tagger = LSTMBlinkTagger(**FAST, segment_frames=40).fit(X, y)
    tagger.save(tmp_path / "tagger.sktorchcw")
    loaded = sktorchcw.load(tmp_path / "tagger.sktorchcw")
    assert loaded.segment_frames == 40
    loaded.set_params(warm_start=True).fit(X, y)
    assert len(loaded.history_) == 4


def test_resume_from_a_checkpoint_equals_an_uninterrupted_fit(tmp_path):
    X, y = recordings(10, high=400)
    params = dict(FAST, max_epochs=4, dropout=0.2, segment_frames=64, checkpoint_dir=tmp_path)
    reference = LSTMBlinkTagger(**params).fit(X, y)
    with pytest.raises(KeyboardInterrupt):
        LSTMBlinkTagger(callbacks=[CtrlCAt(2)], **params).fit(X, y)
    resumed = LSTMBlinkTagger(**params).fit(X, y)
    assert len(resumed.history_) == 4
    for mine, theirs in zip(resumed.predict_proba(X[:3]), reference.predict_proba(X[:3]),
                            strict=True):
        np.testing.assert_allclose(mine, theirs, atol=1e-6)


def test_warm_start_continues_with_fresh_cuts_as_one_longer_fit_would():
    X, y = recordings(10, high=400)
    once = LSTMBlinkClassifier(**{**FAST, "max_epochs": 4}, segment_frames=64)
    twice = LSTMBlinkClassifier(**FAST, segment_frames=64, warm_start=True)
    labels = np.array([len(x) > 200 for x in X]).astype(int)
    twice.fit(X, labels).fit(X, labels)
    assert len(twice.history_) == len(once.fit(X, labels).history_) == 4
    np.testing.assert_allclose(twice.predict_proba(X), once.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("value, error", [
    (0, ValueError), (-5, ValueError), (MIN_SEGMENT_FRAMES - 1, ValueError),
    (300.0, TypeError), (True, TypeError), ("300", TypeError),
])
def test_bad_segment_frames_is_a_clear_error_before_training(value, error):
    X, y = recordings(4)
    tagger = LSTMBlinkTagger(**FAST, segment_frames=value)
    with pytest.raises(error, match="segment_frames"):
        tagger.fit(X, y)
    assert not hasattr(tagger, "net_")


@pytest.mark.parametrize("value, error", [
    (0, ValueError), (MIN_SEGMENT_FRAMES - 1, ValueError), (300.0, TypeError),
    (True, TypeError), (np.int64(5), ValueError),
])
def test_the_iterator_checks_segment_frames_too(value, error):
    X, y = recordings(4)
    dataset, _ = tagger_dataset(X, y)
    with pytest.raises(error, match="segment_frames"):
        SliceBatches(dataset, 8, segment_frames=value)


def test_segments_need_the_default_training_iterator():
    X, y = recordings(4)
    with pytest.raises(ValueError, match="leave iterator_train=None"):
        LSTMBlinkTagger(**FAST, segment_frames=64, iterator_train=DataLoader).fit(X, y)


def test_the_iterator_refuses_balanced_sampling_of_frame_labelled_pieces():
    X, y = recordings(4)
    dataset, _ = tagger_dataset(X, y)
    with pytest.raises(ValueError, match="one label per recording"):
        SliceBatches(dataset, 8, sampling="balanced", segment_frames=64)
