"""Batches for skorch: a tensor dataset of sequences and an iterator that slices it by index.

skorch's default path collates one sample at a time through a DataLoader; slicing whole
tensors by a permutation gives the same batches at a fraction of the cost. When the data
fits in the training device's memory it is copied there once, so batches are sliced on the
device and no batch crosses from host to device. A DataLoader still works on
:class:`SequenceDataset` (``iterator_train=torch.utils.data.DataLoader``).
"""

from numbers import Integral

import torch
from torch.utils.data import Dataset, Subset

__all__ = ["SequenceDataset", "SliceBatches", "fits_on_device", "check_batch_size",
           "prediction_memory_budget", "unwrap_dataset", "balanced_draw_probabilities"]

# Share of the device's free memory the data may take; the rest is left for the
# model, its activations and the optimizer state.
DEVICE_DATA_FRACTION = 0.5
# Bytes one prediction batch may take on the CPU (inputs and activations). Measured on one
# thread (10 to 200 steps, hidden 32 and 128): throughput peaks at batches of 5 to 14 MB,
# where they fit the CPU's caches; 2 to 8 times larger batches were 20 to 40 % slower.
CPU_PREDICTION_BUDGET = 8 * 2**20
# Share of a GPU's free memory one prediction batch may take.
DEVICE_PREDICTION_FRACTION = 0.25


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
        self._copies = {}

    @property
    def nbytes(self):
        """Bytes held by the dataset's tensors."""
        return sum(tensor.nbytes for tensor in self._tensors())

    def _fields(self):
        """The constructor's arguments, in its order (None where not given)."""
        return self.x, self.lengths, self.y, self.sample_weight

    def _tensors(self):
        return [t for t in self._fields() if t is not None]

    def on_device(self, device):
        """This dataset with its tensors on ``device``; copied once, then remembered."""
        device = torch.device(device)
        if self.x.device == device:
            return self
        if device not in self._copies:
            moved = [None if t is None else t.to(device) for t in self._fields()]
            self._copies[device] = SequenceDataset(*moved)
        return self._copies[device]

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
        None draws a fresh seed.
    start_epoch : int, default=0
        Epochs already done (when resuming): their permutations are skipped, so a
        resumed fit shuffles exactly as an uninterrupted one.
    sampling : None or 'balanced', default=None
        ``'balanced'``: every pass draws as many rows as there are, with replacement,
        each with probability proportional to ``1 / count`` of its class (class-balanced
        batches; the labels must be one per row). None: every row once per pass.
    device : str or torch.device, default=None
        The training device. When the data takes at most half of its free memory
        (:func:`fits_on_device`), the tensors are copied there once and batches are
        sliced on the device; otherwise they are sliced on the host and skorch copies
        each batch. The permutations are drawn on the host either way, so the batches
        are the same on every device.
    """

    def __init__(self, dataset, batch_size, shuffle=False, seed=None, start_epoch=0,
                 device=None, sampling=None):
        check_batch_size(batch_size)
        self.base, self.indices = unwrap_dataset(dataset)
        if device is not None and fits_on_device(self.base.nbytes, device):
            self.base = self.base.on_device(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()  # a fresh, non-deterministic seed
        else:
            self.generator.manual_seed(seed)
        self.draw_probabilities = None
        if sampling is not None:
            self.draw_probabilities = balanced_draw_probabilities(self.base.y[self.indices])
        for _ in range(start_epoch):  # the passes already done, drawn again and dropped
            self._order()

    def __len__(self):
        return -(-len(self.indices) // self.batch_size)

    def _order(self):
        """The rows of one pass, as indices into the base dataset."""
        if self.draw_probabilities is not None:
            draws = torch.multinomial(self.draw_probabilities, len(self.indices),
                                      replacement=True, generator=self.generator)
            return self.indices[draws]
        if self.shuffle:
            return self.indices[torch.randperm(len(self.indices), generator=self.generator)]
        return self.indices

    def __iter__(self):
        order = self._order().to(self.base.x.device)
        if len(order) == 0:  # split() would still give one empty chunk
            return
        for batch_indices in order.split(self.batch_size):
            yield self.base.batch(batch_indices)


def balanced_draw_probabilities(y):
    """Per-row probabilities proportional to 1 / count of the row's class (one label a row)."""
    y = torch.as_tensor(y).cpu()
    if y.ndim != 1:
        raise ValueError("sampling='balanced' draws whole sequences by their class, so it needs "
                         "one label per sequence; per-frame labels have none.")
    counts = torch.bincount(y)
    return 1.0 / counts[y].to(torch.float64)


def check_batch_size(batch_size, name="batch_size"):
    """A ValueError unless ``batch_size`` is a positive integer (bools are not)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
        raise ValueError(f"{name} must be a positive integer; got {batch_size!r}.")


def fits_on_device(nbytes, device):
    """Whether ``nbytes`` of data may live on ``device`` next to the training.

    Always true on the CPU. On CUDA the data may take half of the free memory that
    :func:`torch.cuda.mem_get_info` reports; on MPS half of what the Metal driver
    recommends minus what it has allocated; other devices keep the data on the host.
    """
    device = torch.device(device)
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
    elif device.type == "mps" and hasattr(torch.mps, "recommended_max_memory"):  # torch>=2.5
        free = torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory()
    else:
        return False
    return nbytes <= DEVICE_DATA_FRACTION * free


def prediction_memory_budget(device):
    """Bytes one prediction batch may take on ``device``.

    A fixed budget on the CPU (and on devices whose free memory is unknown); on CUDA a
    quarter of the free memory that :func:`torch.cuda.mem_get_info` reports.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(CPU_PREDICTION_BUDGET, int(DEVICE_PREDICTION_FRACTION * free))
    return CPU_PREDICTION_BUDGET


def unwrap_dataset(dataset):
    """Return the SequenceDataset under (possibly nested) Subsets and the indices into it."""
    if isinstance(dataset, SequenceDataset):
        return dataset, torch.arange(len(dataset))
    if isinstance(dataset, Subset):
        base, indices = unwrap_dataset(dataset.dataset)
        return base, indices[torch.as_tensor(dataset.indices, dtype=torch.int64)]
    raise TypeError(
        f"SliceBatches needs a SequenceDataset; got {type(dataset).__name__}. With a custom "
        "dataset set iterator_train and iterator_valid to torch.utils.data.DataLoader."
    )
