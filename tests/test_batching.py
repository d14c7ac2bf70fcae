"""SliceBatches: the batches it draws, and where it keeps the data."""

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from sktorchcw._batching import SequenceDataset, SliceBatches, fits_on_device


def make_dataset(n_samples=10, seq_len=4, with_weights=True):
    x = torch.arange(n_samples * seq_len * 2, dtype=torch.float32).reshape(n_samples, seq_len, 2)
    y = torch.arange(n_samples) % 2
    sample_weight = torch.linspace(0.5, 2.0, n_samples) if with_weights else None
    return SequenceDataset(x, torch.full((n_samples,), seq_len), y, sample_weight)


def test_batches_cover_every_sample_once_per_epoch():
    dataset = make_dataset(10)
    batches = list(SliceBatches(dataset, batch_size=4, shuffle=True, seed=0))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    seen = torch.cat([inputs["x"][:, 0, 0] for inputs, _ in batches])
    np.testing.assert_array_equal(np.sort(seen.numpy()), dataset.x[:, 0, 0].numpy())
    for inputs, y in batches:  # rows stay together
        rows = (inputs["x"][:, 0, 0] / 8).long()
        np.testing.assert_array_equal(y, dataset.y[rows])
        np.testing.assert_array_equal(inputs["sample_weight"], dataset.sample_weight[rows])


def test_subset_batches_only_hold_the_subset():
    dataset = make_dataset(10)
    subset = Subset(Subset(dataset, [1, 3, 5, 7, 9]), [0, 2, 4])  # rows 1, 5, 9
    batches = list(SliceBatches(subset, batch_size=2))
    np.testing.assert_array_equal(torch.cat([y for _, y in batches]), dataset.y[[1, 5, 9]])


def test_same_seed_same_epochs_and_start_epoch_skips_permutations():
    dataset = make_dataset(12)

    def first_rows(iterator):
        return torch.cat([inputs["x"][:, 0, 0] for inputs, _ in iterator])

    fresh = SliceBatches(dataset, batch_size=5, shuffle=True, seed=3)
    epochs = [first_rows(fresh) for _ in range(3)]
    assert not torch.equal(epochs[0], epochs[1])
    again = SliceBatches(dataset, batch_size=5, shuffle=True, seed=3)
    assert torch.equal(first_rows(again), epochs[0])
    resumed = SliceBatches(dataset, batch_size=5, shuffle=True, seed=3, start_epoch=2)
    assert torch.equal(first_rows(resumed), epochs[2])


def test_an_empty_subset_gives_no_batches():
    batches = SliceBatches(Subset(make_dataset(6), []), batch_size=4, shuffle=True, seed=0)
    assert len(batches) == 0
    assert list(batches) == []


def test_without_a_seed_every_iterator_shuffles_differently():
    dataset = make_dataset(50)

    def order(iterator):
        return torch.cat([inputs["x"][:, 0, 0] for inputs, _ in iterator])

    first, second = (SliceBatches(dataset, batch_size=50, shuffle=True) for _ in range(2))
    assert not torch.equal(order(first), order(second))


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True, "64"])
def test_batch_size_must_be_a_positive_integer(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        SliceBatches(make_dataset(6), batch_size=batch_size)


def test_copy_to_a_device_is_made_once_and_keeps_every_tensor():
    dataset = make_dataset(6)
    assert dataset.on_device("cpu") is dataset
    # "meta" tensors have shapes but no storage: a device other than the data's
    # without needing a GPU.
    moved = dataset.on_device("meta")
    assert moved is dataset.on_device(torch.device("meta"))
    assert all(t.device.type == "meta" for t in moved._tensors())
    assert [t.shape for t in moved._tensors()] == [t.shape for t in dataset._tensors()]
    assert dataset.nbytes == 6 * 4 * 2 * 4 + 6 * 8 + 6 * 8 + 6 * 4


def test_data_goes_to_cuda_only_when_it_takes_at_most_half_the_free_memory(monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1000, 4000))
    assert fits_on_device(500, "cuda")
    assert not fits_on_device(501, "cuda")
    assert fits_on_device(10**12, "cpu")
    assert not fits_on_device(1, "meta")


def test_data_too_big_for_the_device_is_sliced_on_the_host(monkeypatch):
    dataset = make_dataset(6)
    monkeypatch.setattr("sktorchcw._batching.fits_on_device", lambda nbytes, device: False)
    batches = SliceBatches(dataset, batch_size=4, device="meta")
    assert batches.base is dataset
    inputs, _ = next(iter(batches))
    assert inputs["x"].device.type == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_are_sliced_on_the_gpu_and_match_the_host_ones():
    dataset = make_dataset(10)
    on_gpu = list(SliceBatches(dataset, batch_size=4, shuffle=True, seed=0, device="cuda"))
    on_host = list(SliceBatches(dataset, batch_size=4, shuffle=True, seed=0))
    for (gpu_inputs, gpu_y), (host_inputs, host_y) in zip(on_gpu, on_host, strict=True):
        assert gpu_inputs["x"].is_cuda and gpu_y.is_cuda
        torch.testing.assert_close(gpu_inputs["x"].cpu(), host_inputs["x"])
        torch.testing.assert_close(gpu_y.cpu(), host_y)
