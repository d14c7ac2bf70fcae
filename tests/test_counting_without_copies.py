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
