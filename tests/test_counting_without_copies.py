"""Counting classes and bounding padding without copies of the data (issue 29: memory
per byte of data): the lean paths give exactly what the plain ones give."""

import numpy as np
import pytest
import torch
from sklearn.utils.class_weight import compute_class_weight

from sktorchcw import _batching, resolve_class_weight
from sktorchcw._batching import SequenceDataset, SliceBatches, padding_bounded_batches


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64])
def test_balanced_on_codes_is_scikit_learns(dtype):
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=50_001, p=[0.9, 0.07, 0.03]).astype(dtype)
    ours = resolve_class_weight("balanced", classes=np.arange(3), y=y)
    np.testing.assert_array_equal(ours, compute_class_weight("balanced",
                                                             classes=np.arange(3), y=y))


def test_balanced_on_codes_still_names_an_absent_class():
    with pytest.raises(ValueError, match=r"absent from y: \[2\]"):
        resolve_class_weight("balanced", classes=np.arange(3), y=np.array([0, 1, 1]))


def test_padding_check_in_pieces_agrees_with_the_rule(monkeypatch):
    rng = np.random.default_rng(1)
    lengths = torch.as_tensor(np.sort(rng.integers(1, 60, 5000)))
    rows = torch.arange(len(lengths))
    whole = padding_bounded_batches(rows, lengths, 16)
    monkeypatch.setattr(_batching, "PREFIX_CHECK_ROWS", 40)
    pieces = padding_bounded_batches(rows, lengths, 16)
    assert [b.tolist() for b in whole] == [b.tolist() for b in pieces]
    # A run whose only long recording sits in a later piece still ends its batch early.
    lengths = torch.ones(200, dtype=torch.int64)
    lengths[-1] = 100
    batches = padding_bounded_batches(torch.arange(200), lengths, 16)
    assert batches[-1].tolist() == [199]


@pytest.mark.parametrize("how", [{"shuffle": True}, {"sampling": "balanced"}, {}])
def test_batches_of_every_row_are_those_of_a_subset_of_every_row(how):
    # A plain dataset keeps no array of its rows; a Subset of all of them indexes one.
    lengths = np.arange(1, 41)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    dataset = SequenceDataset(np.zeros((lengths.sum(), 1), np.float32), lengths,
                              np.arange(40) % 3, offsets=offsets)
    every = torch.utils.data.Subset(dataset, list(range(40)))
    plain = SliceBatches(dataset, 8, seed=3, **how)
    assert plain.indices is None and len(plain) == 5
    subset = SliceBatches(every, 8, seed=3, **how)
    for _ in range(2):
        assert ([b.tolist() for b in plain._batches()]
                == [b.tolist() for b in subset._batches()])


def _short_recordings(n, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 30, n)
    X = [rng.standard_normal((length, 2)).astype(np.float32) for length in lengths]
    y = rng.choice(["blink", "open"], size=n, p=[0.2, 0.8])
    return X, y


@pytest.mark.filterwarnings("ignore:The number of unique classes")
def test_a_list_is_held_with_narrow_lengths_offsets_and_codes():
    from sktorchcw import LSTMBlinkClassifier
    from sktorchcw._data import check_fit_input

    X, y = _short_recordings(50)
    sequences, classes, codes = check_fit_input(LSTMBlinkClassifier(), X, y)
    assert sequences.lengths.dtype == np.int32 and sequences.offsets.dtype == np.int32
    assert codes.dtype == np.uint8
    np.testing.assert_array_equal(classes[codes], y)  # the codes name the right labels
    np.testing.assert_array_equal(sequences.lengths, [len(x) for x in X])
    X, _ = _short_recordings(600)
    many = np.arange(600) % 275  # 275 classes need two bytes
    _, classes, codes = check_fit_input(LSTMBlinkClassifier(), X, many)
    assert codes.dtype == np.uint16 and len(classes) == 275
    np.testing.assert_array_equal(classes[codes], many)


def test_labels_encoded_in_chunks_are_those_encoded_at_once(monkeypatch):
    from sktorchcw import _data

    rng = np.random.default_rng(2)
    y = rng.choice(np.array(["a", "b", "c", "d"]), size=10_001)
    whole_classes, whole = np.unique(y, return_inverse=True)
    monkeypatch.setattr(_data, "CHUNK_FRAMES", 97)
    classes = _data.unique_labels_in_chunks(y)
    np.testing.assert_array_equal(classes, whole_classes)
    np.testing.assert_array_equal(_data.encode_labels(y, classes), whole)
    with pytest.raises(ValueError, match=r"labels \['e'\] that are not among"):
        _data.encode_labels(np.append(y, "e"), classes)


def test_int64_lengths_and_offsets_where_int32_would_not_hold_them(monkeypatch):
    # int32 holds any real collection, so the int64 path is reached by lowering the bound:
    # both paths must train the same model.
    from sktorchcw import LSTMBlinkClassifier, _data

    X, y = _short_recordings(120, seed=3)
    X[7] = np.random.default_rng(4).standard_normal((45, 2)).astype(np.float32)
    params = {"hidden_size": 4, "max_epochs": 2, "batch_size": 16, "random_state": 0,
              "class_weight": "balanced"}
    narrow = LSTMBlinkClassifier(**params).fit(X, y)
    monkeypatch.setattr(_data, "_INT32_LIMIT", 40)  # below one recording and the total
    sequences, _, _ = _data.check_fit_input(LSTMBlinkClassifier(), X, y)
    assert sequences.lengths.dtype == np.int64 and sequences.offsets.dtype == np.int64
    wide = LSTMBlinkClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(narrow.predict_proba(X), wide.predict_proba(X))


def test_balanced_draws_of_one_byte_codes_are_those_of_int64_codes():
    # A uint8 tensor indexes as a mask in torch; the codes must index as integers.
    codes = np.array([0, 0, 0, 1, 2, 2], dtype=np.uint8)
    probabilities = _batching.balanced_draw_probabilities(codes)
    expected = _batching.balanced_draw_probabilities(codes.astype(np.int64))
    torch.testing.assert_close(probabilities, expected)
    torch.testing.assert_close(probabilities, torch.tensor([1 / 3] * 3 + [1.0] + [0.5] * 2,
                                                           dtype=torch.float64))


def test_a_shuffled_pass_is_torchs_permutation_and_networks_get_int64_lengths():
    lengths = np.arange(1, 41, dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
    dataset = SequenceDataset(np.zeros((lengths.sum(), 1), np.float32), lengths,
                              np.arange(40, dtype=np.uint8) % 3, offsets=offsets)
    batches = SliceBatches(dataset, 40, seed=5, shuffle=True, bucket_by_length=False)
    order = torch.randperm(40, generator=torch.Generator().manual_seed(5))
    assert [b.tolist() for b in batches._batches()] == [order.tolist()]
    batches = SliceBatches(dataset, 8, seed=5, shuffle=True)
    for inputs, y in batches:
        assert inputs["lengths"].dtype == torch.int64 and y.dtype == torch.int64


def test_checking_a_list_adds_little_beyond_its_frame_buffer(monkeypatch):
    # Measured with tracemalloc (numpy reports its buffers to it): the frame buffer, 4 + 4
    # bytes of length and offset and one byte of class code per recording, the sorted
    # copy of y that scikit-learn's check_classification_targets makes (8 bytes a label
    # here), and chunks.
    import tracemalloc

    from sktorchcw import LSTMBlinkClassifier, _data

    monkeypatch.setattr(_data, "CHUNK_FRAMES", 4096)
    X, y = _short_recordings(100_000, seed=6)
    y = (y == "blink").astype(np.int64)
    frame_bytes = sum(x.nbytes for x in X)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        kept = _data.check_fit_input(LSTMBlinkClassifier(), X, y)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert kept[0].frames.nbytes == frame_bytes
    extra_per_recording = (peak - frame_bytes) / len(X)
    assert extra_per_recording < 20, extra_per_recording  # was 64 (int64, np.unique)
