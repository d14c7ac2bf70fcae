"""Data kept as given: arrays without a copy, ragged collections as one frame buffer, labels
in the smallest integer type, batches padded to their own longest recording, batches of
similar lengths, memory-mapped X."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from skorch.dataset import ValidSplit

from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger
from sktorchcw._batching import BUCKET_BATCHES, SliceBatches, padding_bounded_batches
from sktorchcw._data import check_sequences

FAST = dict(max_epochs=2, batch_size=8, hidden_size=8, device="cpu", random_state=0)


def mixed_lengths(n=200, seed=0):
    """Recordings of log-uniform lengths 2..400 frames, 2 features, 0/1 frame labels."""
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(np.log(2), np.log(400), size=n)).astype(int)
    X = [rng.normal(size=(length, 2)).astype(np.float32) for length in lengths]
    y = [(x[:, 0] > 1).astype(int) for x in X]
    return X, y


class BatchShapes(Callback):
    """Records (x shape, lengths) of every training batch."""

    def initialize(self):
        self.batches = []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            inputs, _ = batch
            lengths = inputs.get("lengths")
            self.batches.append((tuple(inputs["x"].shape),
                                 None if lengths is None else lengths.tolist()))


def test_a_float32_array_is_used_without_a_copy():
    X = np.random.default_rng(0).normal(size=(40, 12, 2)).astype(np.float32)
    y = (X[:, :, 0] > 1).astype(int)
    tagger = LSTMBlinkTagger(**FAST).fit(X, y)
    sequences = check_sequences(tagger, X, fitted_layout=tagger.input_layout_)
    assert np.shares_memory(tagger._dataset(sequences).x.numpy(), X)


def test_a_ragged_collection_is_held_once_as_frames_not_padded():
    X, y = mixed_lengths()
    tagger = LSTMBlinkTagger(**FAST)
    sequences, _, codes = tagger._targets.check_training(tagger, X, y, None)
    dataset = tagger._dataset(sequences, codes)
    n_frames = sum(len(x) for x in X)
    assert dataset.x.shape == (n_frames, 2)
    assert dataset.nbytes <= n_frames * (2 * 4 + 1) + len(X) * 16  # frames, labels, offsets
    assert codes.dtype == np.uint8 and codes.shape == (n_frames,)


def test_labels_take_the_smallest_integer_type():
    X, y = mixed_lengths(30)
    many = [np.arange(len(x)) % 300 for x in X]  # 300 classes
    tagger = LSTMBlinkTagger(**FAST)
    _, _, codes = tagger._targets.check_training(tagger, X, many, None)
    assert codes.dtype == np.uint16


def test_training_batches_are_padded_to_their_own_longest_recording():
    X, y = mixed_lengths()
    tagger = LSTMBlinkTagger(**FAST, callbacks=[("shapes", BatchShapes())]).fit(X, y)
    recorded = dict(tagger.net_.callbacks_)["shapes"].batches  # callbacks are copied
    assert len(recorded) == 2 * 25
    for (n, steps, _), lengths in recorded:
        assert steps == max(lengths) and n == len(lengths)


def test_batches_hold_recordings_of_similar_lengths_in_a_random_order():
    X, y = mixed_lengths(800)
    tagger = LSTMBlinkTagger(**FAST)
    sequences, _, codes = tagger._targets.check_training(tagger, X, y, None)
    dataset = tagger._dataset(sequences, codes)
    lengths = torch.as_tensor(sequences.lengths)

    def padding(batches):
        return sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in batches)

    bucketed = SliceBatches(dataset, 8, shuffle=True, seed=0)._batches()
    drawn = SliceBatches(dataset, 8, shuffle=True, seed=0, bucket_by_length=False)._batches()
    assert sorted(torch.cat(bucketed).tolist()) == list(range(800))  # every one once
    assert padding(bucketed) < 0.1 * padding(drawn)
    firsts = [int(lengths[b].min()) for b in bucketed]
    assert firsts != sorted(firsts)  # the batches are not served shortest first
    assert len(bucketed) > BUCKET_BATCHES  # several runs were sorted separately


def test_length_batching_is_reproducible_and_exact_on_resume():
    X, y = mixed_lengths(300)
    tagger = LSTMBlinkTagger(**FAST)
    sequences, _, codes = tagger._targets.check_training(tagger, X, y, None)
    dataset = tagger._dataset(sequences, codes)
    first = SliceBatches(dataset, 8, shuffle=True, seed=3)
    epochs = [[b.tolist() for b in first._batches()] for _ in range(3)]
    resumed = SliceBatches(dataset, 8, shuffle=True, seed=3, start_epoch=2)
    assert [b.tolist() for b in resumed._batches()] == epochs[2]
    again = SliceBatches(dataset, 8, shuffle=True, seed=3)
    assert [b.tolist() for b in again._batches()] == epochs[0]


def test_balanced_sampling_with_length_batching_on_ragged_sequences():
    X, _ = mixed_lengths(300)
    labels = np.array([int(len(x) > 150) for x in X])
    weights = np.linspace(0.5, 2.0, len(X))
    clf = LSTMBlinkClassifier(**FAST, sampling="balanced").fit(X, labels, sample_weight=weights)
    assert np.isfinite(clf.predict_proba(X)).all()


def test_length_batching_leaves_array_input_as_it_was():
    X = np.random.default_rng(0).normal(size=(60, 15, 2)).astype(np.float32)
    y = (X[:, :, 0] > 1).astype(int)
    on = LSTMBlinkTagger(**FAST).fit(X, y).predict_proba(X)
    off = LSTMBlinkTagger(**FAST, bucket_by_length=False).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(on, off)


def greedy_batches(lengths, batch_size):
    """The rule of padding_bounded_batches, one recording at a time: a recording joins the
    batch unless the batch is full or would then be more than half padding."""
    batches, current = [], []
    for row in np.argsort(lengths, kind="stable").tolist():
        grown = [int(lengths[i]) for i in current + [row]]
        if current and (len(grown) > batch_size or len(grown) * max(grown) > 2 * sum(grown)):
            batches.append(current)
            current = []
        current = current + [row]
    return batches + [current]


@pytest.mark.parametrize("seed", range(40))
def test_padding_bounded_batches_follow_the_rule_one_recording_at_a_time(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 60, size=int(rng.integers(1, 80)))
    if seed % 2:
        lengths[rng.integers(len(lengths))] = 5000  # a long recording among short ones
    batch_size = int(rng.integers(1, 12))
    rows = torch.argsort(torch.as_tensor(lengths), stable=True)
    got = padding_bounded_batches(rows, torch.as_tensor(lengths), batch_size)
    assert [b.tolist() for b in got] == greedy_batches(lengths, batch_size)


def test_similar_lengths_keep_full_batches():
    lengths = torch.arange(100, 300)
    rows = torch.arange(len(lengths))
    got = padding_bounded_batches(rows, lengths, 16)
    assert [b.tolist() for b in got] == [b.tolist() for b in rows.split(16)]


@pytest.mark.parametrize("estimator", [LSTMBlinkClassifier, LSTMBlinkTagger])
def test_a_long_recording_is_not_padded_out_with_short_ones(estimator):
    # 300 recordings of 10 frames and three of 2000 to 3000: in batches of 64 a long one
    # used to be padded out with 63 short ones (64 x 3000 frames for 3630 real ones).
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(10, 2)).astype(np.float32) for _ in range(300)]
    for position, length in [(30, 2000), (150, 3000), (250, 2500)]:
        X.insert(position, rng.normal(size=(length, 2)).astype(np.float32))
    if estimator is LSTMBlinkTagger:
        y = [(x[:, 0] > 1).astype(int) for x in X]
    else:
        y = np.arange(len(X)) % 2
    shapes = BatchShapes()
    fitted = estimator(**{**FAST, "batch_size": 64, "max_epochs": 1},
                       train_split=ValidSplit(0.2, stratified=False, random_state=0),
                       callbacks=[("shapes", shapes)]).fit(X, y)
    recorded = dict(fitted.net_.callbacks_)["shapes"].batches
    assert sum(len(lengths) for _, lengths in recorded) == 242  # 303 less 61 held out
    assert any(steps >= 2000 for (_, steps, _), _ in recorded)  # a long one trained
    for (n, steps, _), lengths in recorded:
        assert n * steps <= 2 * sum(lengths)


def test_validation_batches_are_bounded_too():
    rng = np.random.default_rng(1)
    X = [rng.normal(size=(int(n), 2)).astype(np.float32)
         for n in np.r_[np.full(100, 10), [4000]]]
    y = [(x[:, 0] > 1).astype(int) for x in X]
    tagger = LSTMBlinkTagger(**FAST)
    sequences, _, codes = tagger._targets.check_training(tagger, X, y, None)
    dataset = tagger._dataset(sequences, codes)
    batches = SliceBatches(dataset, 32)._batches()  # a fixed order, as validation reads
    lengths = torch.as_tensor(sequences.lengths)
    assert sorted(torch.cat(batches).tolist()) == list(range(101))
    assert [b.tolist() for b in batches if 100 in b.tolist()] == [[100]]
    unbounded = SliceBatches(dataset, 32, bucket_by_length=False)._batches()
    assert [b.tolist() for b in unbounded] == [b.tolist() for b in torch.arange(101).split(32)]
    assert all(len(b) * int(lengths[b].max()) <= 2 * int(lengths[b].sum()) for b in batches)


def test_predictions_of_a_mixed_collection_come_in_input_order():
    X, y = mixed_lengths(60)
    X.append(np.random.default_rng(1).normal(size=(2000, 2)).astype(np.float32))
    y.append((X[-1][:, 0] > 1).astype(int))
    tagger = LSTMBlinkTagger(**FAST, bidirectional=True).fit(X, y)
    together = tagger.predict_proba(X)
    for index in (0, 7, 59, 60):
        np.testing.assert_allclose(together[index], tagger.predict_proba([X[index]])[0],
                                   atol=1e-6)
    assert [len(p) for p in together] == [len(x) for x in X]


def test_a_memory_mapped_array_trains_and_predicts_in_place(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 20, 2)).astype(np.float32)
    y = (X[:, :, 0] > 1).astype(int)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    tagger = LSTMBlinkTagger(**FAST).fit(mapped, y)
    sequences = check_sequences(tagger, mapped, fitted_layout=tagger.input_layout_)
    assert np.shares_memory(tagger._dataset(sequences).x.numpy(), mapped)
    in_memory = LSTMBlinkTagger(**FAST).fit(X, y)
    np.testing.assert_array_equal(tagger.predict_proba(mapped), in_memory.predict_proba(X))


@pytest.mark.parametrize("estimator", [LSTMBlinkClassifier, LSTMBlinkTagger])
def test_standardisation_statistics_are_read_a_chunk_at_a_time(estimator, monkeypatch):
    import sktorchcw._data as data_module
    import sktorchcw._estimator as estimator_module

    X = np.random.default_rng(0).normal(3.0, 2.0, size=(50, 30, 2)).astype(np.float32)
    y = (X[:, :, 0] > 4).astype(int) if estimator is LSTMBlinkTagger else np.arange(50) % 2
    whole = estimator(**FAST).fit(X, y).module_
    monkeypatch.setattr(data_module, "CHUNK_FRAMES", 7)
    monkeypatch.setattr(estimator_module, "CHUNK_FRAMES", 7)
    chunked = estimator(**FAST).fit(X, y).module_
    frames = X.reshape(-1, 2).astype(np.float64)
    np.testing.assert_allclose(chunked.input_mean.numpy(), frames.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(chunked.input_scale.numpy(), frames.std(axis=0), rtol=1e-6)
    np.testing.assert_allclose(chunked.input_scale.numpy(), whole.input_scale.numpy(),
                               rtol=1e-6)


def test_balanced_weights_refuse_absent_classes_by_their_labels():
    X = np.random.default_rng(0).normal(size=(10, 5, 1)).astype(np.float32)
    with pytest.raises(ValueError, match=r"absent from y: \['b', 'c'\]"):
        LSTMBlinkClassifier(**FAST, class_weight="balanced").partial_fit(
            X[:5], np.array(["a"] * 5), classes=["a", "b", "c"])


@pytest.mark.parametrize("estimator", [LSTMBlinkClassifier, LSTMBlinkTagger])
def test_a_value_too_large_for_float32_is_refused_beside_missing_frames(estimator):
    X = np.random.default_rng(0).normal(size=(20, 5, 2))
    X[0, 0, 0] = np.nan  # a missing frame: NaN must not hide the value below
    X[1, 1, 1] = -1e300
    y = np.arange(20) % 2 if estimator is LSTMBlinkClassifier else (X[:, :, 1] > 0).astype(int)
    with pytest.raises(ValueError, match="too large for float32"):
        estimator(**FAST, missing="mask").fit(X, y)


def test_float64_x_is_converted_without_a_temporary_of_its_size():
    import tracemalloc

    from sktorchcw._data import as_float32

    X = np.random.default_rng(0).normal(size=(500_000, 2))
    tracemalloc.start()
    try:
        converted = as_float32(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert converted.dtype == np.float32
    assert peak < 1.1 * converted.nbytes  # the float32 copy only (|X| took X's size)
