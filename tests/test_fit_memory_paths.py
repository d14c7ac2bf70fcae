"""The fit's passes over all the data read it a chunk at a time, without per-recording
Python objects or whole-data copies (issue 20, benchmark m), and give what the whole-data
versions gave: the same codes, counts, weights and error messages."""


import numpy as np
import pandas as pd
import pytest

from sktorchcw import LSTMBlinkTagger, _data, _frame_data, _labels
from sktorchcw._data import _from_ragged, check_some_weight_positive, count_codes
from sktorchcw._frame_data import check_frame_continued_input, check_frame_fit_input
from sktorchcw._labels import chunk_bounds, frame_weights, label_rows

from helpers import traced_peak


def greedy_bounds(lengths, chunk):
    """The runs the per-row loop made before: add a row while the run stays within
    ``chunk`` frames (at least one row a run)."""
    runs, first, start = [], 0, 0
    while first < len(lengths):
        last, size = first, 0
        while last < len(lengths) and (size == 0 or size + lengths[last] <= chunk):
            size += lengths[last]
            last += 1
        runs.append((first, last, start))
        first, start = last, start + size
    return runs


@pytest.mark.parametrize("chunk", [1, 5, 7, 16, 1000])
def test_runs_of_recordings_are_those_of_the_per_row_loop(chunk):
    lengths = np.random.default_rng(0).integers(1, 12, 50)
    assert list(chunk_bounds(lengths, chunk)) == greedy_bounds(lengths.tolist(), chunk)


def test_a_padded_table_is_kept_whole_and_read_as_views():
    table = np.arange(24).reshape(6, 4)
    rows = label_rows(table)
    assert rows.values is table and rows.padded
    assert len(rows) == 6 and [r.tolist() for r in rows.rows] == table.tolist()
    chunks = list(rows.flat_chunks(np.full(6, 4), 8))
    assert [start for start, _ in chunks] == [0, 8, 16]
    assert all(np.shares_memory(values, table) for _, values in chunks)
    assert np.concatenate([v for _, v in chunks]).tolist() == table.ravel().tolist()


@pytest.mark.parametrize("make", [np.asarray, pd.DataFrame], ids=["array", "DataFrame"])
def test_a_padded_table_is_cut_to_each_recording(make):
    table = np.arange(30).reshape(5, 6)
    lengths = np.array([6, 2, 5, 1, 6])
    rows = label_rows(make(table))
    expected = np.concatenate([row[:n] for row, n in zip(table, lengths, strict=True)])
    for chunk in (1, 4, 9, 100):
        got = list(rows.flat_chunks(lengths, chunk))
        assert np.concatenate([v for _, v in got]).tolist() == expected.tolist()
        starts = [start for start, _ in got]
        assert starts == [s for _, _, s in chunk_bounds(lengths, chunk)]
    assert [r.tolist() for r in rows.trimmed(lengths, name="y")] == [
        row[:n].tolist() for row, n in zip(table, lengths, strict=True)]


def test_rows_that_do_not_fit_are_named_as_before():
    padded = label_rows(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"^y\[1\] has 4 values but sequence 1 of X has 5 "
                       r"frames; give one value per frame \(a padded array may be longer "
                       r"than a recording, never shorter\)\.$"):
        padded.check_lengths([4, 5, 6], name="y")
    with pytest.raises(ValueError, match=r"^X has 2 sequences but y has 3 \(a padded array "
                       r"of shape \(3, 4\)\); give one row of frame values per recording\.$"):
        padded.check_lengths([4, 4], name="y")
    separate = label_rows([np.zeros(3), np.zeros(5), np.zeros(2)])
    with pytest.raises(ValueError, match=r"^y\[1\] has 5 values but sequence 1 of X has 4 "
                       r"frames; give one value per frame\.$"):
        separate.check_lengths([3, 4, 2], name="y")
    with pytest.raises(ValueError, match=r"y_pred\[2\] has 2 values but y_true\[2\] has 3"):
        separate.trimmed([3, 5, 3], name="y_pred", against="y_true[{index}]")


def encoded_by_hand(rows, classes):
    return np.searchsorted(classes, np.concatenate(rows))


@pytest.mark.parametrize("layout", ["padded", "padded longer", "list", "DataFrame"])
def test_the_tagger_codes_are_those_of_every_frame(layout, monkeypatch):
    monkeypatch.setattr(_frame_data, "CHUNK_FRAMES", 7)  # many runs of recordings
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 9, 40)
    X = [rng.standard_normal((n, 2)).astype(np.float32) for n in lengths]
    rows = [rng.choice(["blink", "open", "closed"], n) for n in lengths]
    width = 8 if layout == "padded" else 11
    table = np.full((len(rows), width), "pad", dtype=object)
    for i, row in enumerate(rows):
        table[i, :len(row)] = row
    y = {"padded": table, "padded longer": table, "list": rows,
         "DataFrame": pd.DataFrame(table)}[layout]
    sequences, classes, codes = check_frame_fit_input(LSTMBlinkTagger(), X, y)
    assert classes.tolist() == ["blink", "closed", "open"]
    assert codes.dtype == np.uint8
    assert codes.tolist() == encoded_by_hand(rows, classes).tolist()


def test_equal_length_codes_from_a_padded_table(monkeypatch):
    monkeypatch.setattr(_frame_data, "CHUNK_FRAMES", 50)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 12, 2)).astype(np.float32)
    y = rng.integers(0, 3, (30, 12))
    _, classes, codes = check_frame_fit_input(LSTMBlinkTagger(), X, y)
    assert classes.tolist() == [0, 1, 2] and codes.tolist() == y.ravel().tolist()
    tagger = LSTMBlinkTagger()
    tagger.classes_, tagger.input_layout_, tagger.n_features_in_ = classes, "sequences", 2
    _, again = check_frame_continued_input(tagger, X, y, hint="")
    assert again.tolist() == codes.tolist()


def test_missing_frames_hold_code_0_and_their_labels_are_never_read(monkeypatch):
    monkeypatch.setattr(_frame_data, "CHUNK_FRAMES", 5)
    X = np.zeros((4, 6, 1), dtype=np.float32)
    X[1, 2] = X[3, 0] = X[3, 5] = np.nan
    y = np.full((4, 6), "blink", dtype=object)
    y[::2, ::3] = "open"
    y[1, 2] = y[3, 0] = None  # missing frames: never read
    sequences, classes, codes = check_frame_fit_input(LSTMBlinkTagger(missing="mask"), X, y)
    expected = np.where(y.ravel() == "open", 1, 0)
    expected[~sequences.observed] = 0
    assert classes.tolist() == ["blink", "open"] and codes.tolist() == expected.tolist()
    assert sequences.observed.sum() == 21


def test_a_frame_without_label_is_named_before_labels_that_cannot_be_ordered(monkeypatch):
    monkeypatch.setattr(_frame_data, "CHUNK_FRAMES", 4)
    X = [np.zeros((4, 1), np.float32)] * 3
    y = [np.array(["a", "b", "a", "a"], dtype=object), np.array([0, 1, "a", 0], dtype=object),
         np.array([0, 1, None, 0], dtype=object)]  # mixed types before a missing label
    with pytest.raises(ValueError, match=r"^y\[2\]\[2\] has no label \(None or NaN\)"):
        check_frame_fit_input(LSTMBlinkTagger(), X, y)
    y[2][2] = 1
    with pytest.raises(TypeError):  # as np.unique of the run says it
        check_frame_fit_input(LSTMBlinkTagger(), X, y)


def test_the_label_pass_keeps_no_copy_of_a_padded_table():
    """Before: every run's labels were concatenated and kept until all were encoded (a
    copy of y), after 400,000 row views made twice."""
    X = np.zeros((100_000, 60, 1), dtype=np.float32)
    y = (np.random.default_rng(0).random((100_000, 60)) < 0.1).astype(np.int64)
    peak, (_, _, codes) = traced_peak(lambda: check_frame_fit_input(LSTMBlinkTagger(), X, y))
    assert codes.nbytes == y.nbytes // 8
    assert peak < 0.4 * y.nbytes


@pytest.mark.parametrize("chunk", [3, 2**18])
def test_codes_are_counted_as_bincount_counts_them(chunk, monkeypatch):
    monkeypatch.setattr(_data, "CHUNK_FRAMES", chunk)
    codes = np.random.default_rng(0).integers(0, 4, 1000).astype(np.uint8)
    for minlength in (0, 2, 4, 7):
        counts = count_codes(codes, minlength)
        assert counts.dtype == np.int64
        assert counts.tolist() == np.bincount(codes, minlength=minlength).tolist()
    assert count_codes(np.array([], np.uint8), 3).tolist() == [0, 0, 0]


def test_counting_the_codes_copies_none_of_them():
    codes = np.zeros(10_000_000, dtype=np.uint8)
    codes[::3] = 1
    peak, counts = traced_peak(lambda: count_codes(codes, 2))
    assert counts.tolist() == [codes.size - codes.sum(), codes.sum()]
    assert peak < codes.nbytes / 2  # np.bincount alone copies them to 8 bytes each


@pytest.mark.parametrize("chunk", [3, 2**18])
def test_some_positive_weight_is_found_in_any_chunk(chunk, monkeypatch):
    monkeypatch.setattr(_data, "CHUNK_FRAMES", chunk)
    codes = np.array([0, 0, 1, 0, 0, 0, 1], dtype=np.uint8)
    weights = np.zeros(7)
    with pytest.raises(ValueError, match="Every training sample has weight zero"):
        check_some_weight_positive(np.array([1.0, 1.0]), codes, weights)
    weights[6] = 0.5
    check_some_weight_positive(np.array([1.0, 1.0]), codes, weights)
    with pytest.raises(ValueError, match="Every training sample has weight zero"):
        check_some_weight_positive(np.array([1.0, 0.0]), codes, weights)
    with pytest.raises(ValueError, match="Every training sample has weight zero"):
        check_some_weight_positive(np.array([0.0, 0.0, 1.0]), codes, None)


@pytest.mark.parametrize("layout", ["padded", "list", "per recording"])
def test_frame_weights_are_those_of_every_frame(layout, monkeypatch):
    monkeypatch.setattr(_labels, "CHUNK_FRAMES", 4)
    lengths = np.array([3, 1, 5, 2])
    rows = [np.arange(n) + i / 10 for i, n in enumerate(lengths)]
    table = np.full((4, 6), -1.0)
    for i, row in enumerate(rows):
        table[i, :len(row)] = row
    given = {"padded": table, "list": rows, "per recording": np.array([1.0, 2, 3, 4])}[layout]
    expected = (np.repeat(given, lengths) if layout == "per recording"
                else np.concatenate(rows))
    weights = frame_weights(given, lengths)
    assert weights.dtype == np.float64 and weights.tolist() == expected.tolist()


def test_frame_weights_refuse_what_they_refused():
    with pytest.raises(ValueError, match="^sample_weight must hold numbers.$"):
        frame_weights([np.array(["a", "b"]), np.array([1.0])], [2, 1])
    with pytest.raises(ValueError, match="finite, non-negative"):
        frame_weights(np.array([[1.0, None], [1.0, 2.0]], dtype=object), [2, 2])
    with pytest.raises(ValueError, match=r"sample_weight\[0\] has 2 values but sequence 0"):
        frame_weights(np.ones((2, 2)), [3, 1])


def test_ragged_sequences_are_held_as_frames_and_offsets_only():
    rng = np.random.default_rng(0)
    items = [np.zeros((int(n), 2), np.float32) for n in rng.integers(5, 15, 50_000)]
    peak, sequences = traced_peak(lambda: _from_ragged(items))
    assert sequences.lengths.tolist() == [len(item) for item in items]
    assert sequences.offsets.tolist() == np.cumsum([0] + [len(i) for i in items])[:-1].tolist()
    # the frames, then lengths, offsets and feature counts (8 bytes each a recording);
    # before, also a list of a Python tuple per recording.
    assert peak < sequences.frames.nbytes + 40 * len(items) + 2**20


def test_ragged_sequences_of_other_widths_are_named_as_before():
    items = [np.zeros((3, 2)), np.zeros((4, 2)), np.zeros((2, 3)), np.zeros((2, 1))]
    with pytest.raises(ValueError, match=r"^All sequences must have the same number of "
                       r"features per time step: sequence 0 has 2, sequence 2 has 3\.$"):
        _from_ragged(items)
    sequences = _from_ragged([np.ones(3), np.zeros((1, 1))])
    assert sequences.lengths.tolist() == [3, 1] and sequences.offsets.tolist() == [0, 3]
    assert sequences.frames.ravel().tolist() == [1, 1, 1, 0]
