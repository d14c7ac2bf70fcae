"""Batches for skorch: a tensor dataset of sequences and an iterator that slices it by index.

skorch's default path collates one sample at a time through a DataLoader; slicing whole
tensors by a permutation gives the same batches at a fraction of the cost. A DataLoader
still works on :class:`SequenceDataset` (``iterator_train=torch.utils.data.DataLoader``).
"""

import torch
from torch.utils.data import Dataset, Subset

__all__ = ["SequenceDataset", "SliceBatches"]


class SequenceDataset(Dataset):
    """Sequences, optional lengths, labels and sample weights as tensors.

    Items (and batches) are ``(X, y)`` with ``X`` a dict holding ``"x"`` and, where
    given, ``"lengths"`` and ``"sample_weight"``; ``y`` is 0 when there are no labels.
    """

    def __init__(self, x, lengths=None, y=None, sample_weight=None):
        self.x = torch.as_tensor(x)
        n_samples = self.x.shape[0]
        self.lengths = None if lengths is None else torch.as_tensor(lengths)
        self.y = torch.zeros(n_samples, dtype=torch.int64) if y is None else torch.as_tensor(y)
        self.sample_weight = None if sample_weight is None else torch.as_tensor(sample_weight)

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, index):
        return self.batch(index)

    def batch(self, index):
        """Return ``(X, y)`` for an index, a slice or a tensor of indices."""
        inputs = {"x": self.x[index]}
        if self.lengths is not None:
            inputs["lengths"] = self.lengths[index]
        if self.sample_weight is not None:
            inputs["sample_weight"] = self.sample_weight[index]
        return inputs, self.y[index]


class SliceBatches:
    """Iterate over a :class:`SequenceDataset` (or a Subset of one) in batches.

    Parameters
    ----------
    dataset : SequenceDataset or torch.utils.data.Subset of one
    batch_size : int
    shuffle : bool, default=False
        Draw a new permutation for every pass.
    seed : int, default=None
        Seed of the permutations; the same seed gives the same sequence of epochs.
    start_epoch : int, default=0
        Epochs already done (when resuming): their permutations are skipped, so a
        resumed fit shuffles exactly as an uninterrupted one.
    """

    def __init__(self, dataset, batch_size, shuffle=False, seed=None, start_epoch=0):
        self.base, self.indices = _unwrap(dataset)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(seed)
        if shuffle:
            for _ in range(start_epoch):
                torch.randperm(len(self.indices), generator=self.generator)

    def __len__(self):
        return -(-len(self.indices) // self.batch_size)

    def __iter__(self):
        order = self.indices
        if self.shuffle:
            order = order[torch.randperm(len(order), generator=self.generator)]
        for batch_indices in order.split(self.batch_size):
            yield self.base.batch(batch_indices)


def _unwrap(dataset):
    """Return the SequenceDataset under (possibly nested) Subsets and the indices into it."""
    if isinstance(dataset, SequenceDataset):
        return dataset, torch.arange(len(dataset))
    if isinstance(dataset, Subset):
        base, indices = _unwrap(dataset.dataset)
        return base, indices[torch.as_tensor(dataset.indices, dtype=torch.int64)]
    raise TypeError(
        f"SliceBatches needs a SequenceDataset; got {type(dataset).__name__}. With a custom "
        "dataset set iterator_train and iterator_valid to torch.utils.data.DataLoader."
    )
