"""Batches for skorch: a tensor dataset of sequences and an iterator that slices it by index.

skorch's default path collates one sample at a time through a DataLoader; slicing whole
tensors by a permutation gives the same batches at a fraction of the cost. When the data
fits in the training device's memory it is copied there once, so batches are sliced on the
device and no batch crosses from host to device. A DataLoader still works on
:class:`SequenceDataset` (``iterator_train=torch.utils.data.DataLoader``).
"""

import warnings
from numbers import Integral

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from ._data import index_dtype
from ._segments import RecordingPieces

__all__ = ["SequenceDataset", "SliceBatches", "fits_on_device", "check_batch_size",
           "prediction_memory_budget", "unwrap_dataset", "balanced_draw_probabilities",
           "prediction_batches", "padding_bounded_batches"]

# Share of the device's free memory the data may take; the rest is left for the
# model, its activations and the optimizer state.
DEVICE_DATA_FRACTION = 0.5
# Bytes one prediction batch may take on the CPU (inputs and activations). Measured on one
# thread (10 to 200 steps, hidden 32 and 128): throughput peaks at batches of 5 to 14 MB,
# where they fit the CPU's caches; 2 to 8 times larger batches were 20 to 40 % slower.
CPU_PREDICTION_BUDGET = 8 * 2**20
# Batches per run of recordings sorted by length (SliceBatches' bucket_by_length): longer
# runs pad less, shorter ones keep the batches of an epoch closer to a random draw.
BUCKET_BATCHES = 50
# Rows whose padding bound _every_prefix_fits checks at a time.
PREFIX_CHECK_ROWS = 1 << 15
# Share of a GPU's free memory one prediction batch may take.
DEVICE_PREDICTION_FRACTION = 0.25


class SequenceDataset(Dataset):
    """Sequences, optional lengths, labels and sample weights as tensors.

    Items (and batches) are ``(X, y)`` with ``X`` a dict holding ``"x"`` and, where
    given, ``"lengths"`` and ``"sample_weight"``; ``y`` is 0 when there are no labels.

    Two storages. Padded: ``x`` ``(n, T, F)`` (an array is used as it is, without a
    copy), with per-frame ``y`` and ``sample_weight`` ``(n, T)``. Ragged (``offsets``
    given): every recording's frames one after the other in ``x`` ``(n_frames, F)``,
    recording ``i`` starting at ``offsets[i]`` with ``lengths[i]`` frames; with
    ``frame_targets``, ``y`` and ``sample_weight`` are flat ``(n_frames,)`` in the same
    order. A ragged batch is padded to its own longest recording, so memory and time grow
    with the frames, not with the number of recordings times the longest one.
    """

    def __init__(self, x, lengths=None, y=None, sample_weight=None, *, offsets=None,
                 frame_targets=False):
        self.x = _tensor(x)
        self.lengths = None if lengths is None else torch.as_tensor(lengths)
        self.offsets = None if offsets is None else torch.as_tensor(offsets)
        self.frame_targets = frame_targets
        n_targets = len(self) if self.offsets is None or not frame_targets else len(self.x)
        self.y = torch.zeros(n_targets, dtype=torch.uint8) if y is None else _tensor(y)
        self.sample_weight = None if sample_weight is None else _tensor(sample_weight)
        self._copies = {}

    @property
    def nbytes(self):
        """Bytes held by the dataset's tensors."""
        return sum(tensor.nbytes for tensor in self._tensors())

    def _fields(self):
        """The tensors, in the constructor's order (None where not given)."""
        return self.x, self.lengths, self.y, self.sample_weight, self.offsets

    def _tensors(self):
        return [t for t in self._fields() if t is not None]

    def on_device(self, device):
        """This dataset with its tensors on ``device``; copied once, then remembered."""
        device = torch.device(device)
        if self.x.device == device:
            return self
        if device not in self._copies:
            x, lengths, y, sample_weight, offsets = (
                None if t is None else t.to(device) for t in self._fields())
            self._copies[device] = SequenceDataset(x, lengths, y, sample_weight,
                                                   offsets=offsets,
                                                   frame_targets=self.frame_targets)
        return self._copies[device]

    def __len__(self):
        if self.offsets is not None and self.lengths is not None:
            return len(self.lengths)
        return self.x.shape[0]

    def __getitem__(self, index):
        if isinstance(index, int) and self.offsets is not None:
            index = torch.tensor([index])
            inputs, y = self.batch(index)
            return {key: value[0] for key, value in inputs.items()}, y[0]
        return self.batch(index)

    def batch(self, index):
        """Return ``(X, y)`` for an index, a slice or a tensor of indices."""
        if self.offsets is not None:
            return self._ragged_batch(torch.as_tensor(index, device=self.offsets.device))
        inputs = {"x": self.x[index]}
        if self.lengths is not None:
            inputs["lengths"] = self.lengths[index].to(torch.int64)
        if self.sample_weight is not None:
            inputs["sample_weight"] = self.sample_weight[index]
        return inputs, self.y[index].to(torch.int64)

    def _ragged_batch(self, index):
        """The recordings at ``index``, padded to the longest of them (zeros after each
        one's end), gathered from the frame buffer."""
        index = index.reshape(-1)
        offsets, lengths = self.offsets, self.lengths
        assert offsets is not None and lengths is not None
        lengths = lengths[index].to(torch.int64)  # held narrower; networks get int64
        longest = int(lengths.max()) if len(index) else 0
        steps = torch.arange(longest, device=lengths.device)
        valid = steps[None, :] < lengths[:, None]
        positions = torch.where(valid, offsets[index][:, None] + steps[None, :], 0)
        positions = positions.to(self.x.device)
        valid_x = valid.to(self.x.device)
        x = torch.where(valid_x[..., None], self.x[positions], 0.0)
        inputs = {"x": x, "lengths": lengths}
        if self.frame_targets:  # labels and weights per frame, flat like the frames
            y = torch.where(valid_x, self.y[positions].to(torch.int64), 0)
            if self.sample_weight is not None:
                inputs["sample_weight"] = torch.where(valid_x, self.sample_weight[positions],
                                                      0.0)
        else:
            y = self.y[index.to(self.y.device)].to(torch.int64)
            if self.sample_weight is not None:
                inputs["sample_weight"] = self.sample_weight[index.to(self.y.device)]
        return inputs, y


def _tensor(values):
    """A tensor sharing memory with ``values`` where it can (numpy arrays, memory maps)."""
    if isinstance(values, torch.Tensor):
        return values
    if isinstance(values, np.ndarray) and not values.flags.writeable:
        with warnings.catch_warnings():  # read-only data (a memory map) is only read
            warnings.simplefilter("ignore", UserWarning)
            return torch.as_tensor(values)
    return torch.as_tensor(values)


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
    bucket_by_length : bool, default=True
        For a ragged dataset drawn in a random order (``shuffle`` or ``sampling``): each
        pass's rows are cut into runs of ``BUCKET_BATCHES`` batches, sorted by length
        within each run, cut into batches, and the batches of the pass shuffled, so that
        a batch holds recordings of similar lengths (little padding) in a random order,
        from the same generator (reproducible from ``seed``, exact on resume). A ragged
        dataset read in a fixed order (validation) is read sorted by length. Either way
        a batch is never more than half padding: it ends early (with fewer than
        ``batch_size`` recordings) before a recording whose length would make its
        padded frames (recordings x longest) exceed twice its real frames, so that a long
        recording among short ones is not padded out with them. False, or a dataset of
        one length, keeps the rows of each batch as drawn.
    segment_frames : None or int, default=None
        Every pass, cut the recordings longer than this into consecutive pieces at a fresh
        random offset from the same generator (:mod:`sktorchcw._segments`), and draw the
        pass's rows from the pieces (views into the same frames): ``sampling`` then draws
        pieces, by their recording's class. The pieces of the pass being read are
        ``base`` and ``indices``.
    """

    def __init__(self, dataset, batch_size, shuffle=False, seed=None, start_epoch=0,
                 device=None, sampling=None, bucket_by_length=True, segment_frames=None):
        check_batch_size(batch_size)
        self.base, self.indices = unwrap_dataset(dataset)
        if isinstance(dataset, SequenceDataset):
            # Every row of base: no array of them (8 bytes a recording) kept for the fit.
            self.indices = None
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
        self.pieces = None
        if segment_frames is not None:  # drawn again every pass, from the pieces
            self.pieces = RecordingPieces(self.base, self._rows(), segment_frames, sampling)
        elif sampling is not None:
            self.draw_probabilities = balanced_draw_probabilities(
                self.base.y if self.indices is None else self.base.y[self.indices])
        self.bucket_by_length = bool(bucket_by_length) and (
            self.base.offsets is not None or self.pieces is not None)
        for _ in range(start_epoch):  # the passes already done, drawn again and dropped
            self._batches()

    def __len__(self):
        return -(-self._row_count() // self.batch_size)

    def _row_count(self):
        return len(self.base) if self.indices is None else len(self.indices)

    def _rows(self):
        """The rows this iterator reads, as indices into the base dataset."""
        if self.indices is None:
            return torch.arange(len(self.base), dtype=_torch_index_dtype(len(self.base)))
        return self.indices

    def _order(self):
        """The rows of one pass, as indices into the base dataset."""
        if self.draw_probabilities is not None:
            draws = torch.multinomial(self.draw_probabilities, self._row_count(),
                                      replacement=True, generator=self.generator)
            return draws if self.indices is None else self.indices[draws]
        if self.shuffle:  # int32 where it holds the rows: the same draw, half the memory
            permutation = torch.randperm(self._row_count(), generator=self.generator,
                                         dtype=_torch_index_dtype(self._row_count()))
            return permutation if self.indices is None else self.indices[permutation]
        return self._rows()

    def _batches(self):
        """The batches of one pass, as tensors of indices into the base dataset."""
        if self.pieces is not None:  # this pass's pieces become the rows to draw from
            self.base, self.indices, self.draw_probabilities = self.pieces.cut(self.generator)
        order = self._order()
        if len(order) == 0:  # split() would still give one empty chunk
            return []
        if not self.bucket_by_length:
            return list(order.split(self.batch_size))
        lengths = self.base.lengths.cpu()
        if not (self.shuffle or self.draw_probabilities is not None):
            by_length = order[torch.argsort(lengths[order], stable=True)]
            return padding_bounded_batches(by_length, lengths, self.batch_size)
        batches = []
        # Each run is sorted in place (order is this pass's own tensor), so the batches
        # are views into the one array of the pass's rows.
        for run in order.split(self.batch_size * BUCKET_BATCHES):
            run_lengths = lengths[run]
            position = torch.argsort(run_lengths, stable=True)
            sorted_lengths = run_lengths[position]
            run.copy_(run[position])
            del run_lengths, position
            batches.extend(padding_bounded_batches(run, lengths, self.batch_size,
                                                   sorted_lengths=sorted_lengths))
        shuffled = torch.randperm(len(batches), generator=self.generator)
        return [batches[i] for i in shuffled.tolist()]

    def __iter__(self):
        for batch_indices in self._batches():
            yield self.base.batch(batch_indices.to(self.base.x.device, torch.int64))


def _torch_index_dtype(n):
    """:func:`._data.index_dtype` as a torch dtype: a pass's order of the rows takes 4
    bytes a recording where int32 holds them. (Section m of the benchmarks: with int32
    orders, lengths and offsets and one-byte class codes, the peak a fit on a list of
    short recordings adds per byte of data fell from about 1.7 to 1.15; the heap of a
    long fit grows less around the smaller arrays.)"""
    return torch.int32 if index_dtype(n) == np.int32 else torch.int64


def padding_bounded_batches(rows, lengths, batch_size, *, sorted_lengths=None):
    """``rows`` (sorted by length, ascending) cut into consecutive batches of at most
    ``batch_size``, each ending early where the next row would make it more than half
    padding: a batch of ``k`` rows, padded to its longest, holds ``k * longest`` frames,
    never more than twice the ``sum`` of its rows' ``lengths`` (a single row always
    fits). With lengths that differ little this is ``rows.split(batch_size)``.
    ``sorted_lengths``: ``lengths[rows]`` where the caller has them already."""
    if sorted_lengths is None:
        sorted_lengths = lengths[rows]
    if _every_prefix_fits(sorted_lengths, batch_size):  # the common case, checked at once
        return list(rows.split(batch_size))
    batches = []
    start, total = 0, len(rows)
    while start < total:
        candidate = sorted_lengths[start:start + batch_size]
        counts = torch.arange(1, len(candidate) + 1)
        # Ascending lengths: a candidate's longest row is its last one.
        fits = counts * candidate <= 2 * torch.cumsum(candidate, 0)
        stop = start + (len(candidate) if bool(fits.all()) else int(fits.int().argmin()))
        batches.append(rows[start:stop])
        start = stop
    return batches


def _every_prefix_fits(sorted_lengths, batch_size):
    """Whether no batch of ``split(batch_size)`` would end early: every prefix of every
    batch within the padding bound of :func:`padding_bounded_batches`."""
    counts = torch.arange(1, batch_size + 1)
    # A few batches at a time: the products and sums are temporaries of a run's size.
    step = batch_size * max(1, PREFIX_CHECK_ROWS // batch_size)
    for start in range(0, len(sorted_lengths), step):
        part = sorted_lengths[start:start + step]
        padded = torch.zeros(-(-len(part) // batch_size) * batch_size, dtype=part.dtype)
        padded[:len(part)] = part
        table = padded.reshape(-1, batch_size)
        if not bool((counts * table <= 2 * torch.cumsum(table, 1)).all()):
            return False
    return True


def prediction_batches(dataset, *, batch_size=None, frame_budget=None, device=None):
    """``(rows, (X, y))`` batches of ``dataset`` (a SequenceDataset or a Subset of one) for
    prediction, every row once; ``rows`` are the batch's positions in ``dataset``.

    Recordings of a ragged dataset come sorted by length, so that each batch, padded to
    its own longest recording, holds little padding. ``batch_size`` recordings a batch, or
    as many as keep (recordings x the batch's longest) within ``frame_budget`` frames (at
    least one a batch). The data goes to ``device`` when it fits there
    (:func:`fits_on_device`).
    """
    base, indices = unwrap_dataset(dataset)
    if device is not None and fits_on_device(base.nbytes, device):
        base = base.on_device(device)
    positions = torch.arange(len(indices))
    if base.offsets is not None:
        positions = torch.argsort(base.lengths.cpu()[indices], stable=True)
    lengths = (base.lengths.cpu()[indices[positions]] if base.lengths is not None
               else torch.full((len(indices),), base.x.shape[1]))
    for rows in _batch_rows(lengths, batch_size, frame_budget):
        chosen = positions[rows]
        yield chosen.numpy(), base.batch(indices[chosen].to(base.x.device))


def _batch_rows(lengths, batch_size, frame_budget):
    """Consecutive slices of ``range(len(lengths))``: ``batch_size`` a slice, or as many as
    keep count x longest (``lengths`` ascending) within ``frame_budget``."""
    total = len(lengths)
    start = 0
    while start < total:
        if batch_size is not None:
            stop = min(start + batch_size, total)
        else:
            # Lengths ascend, so the last row of a slice is its longest, and no more rows
            # than the budget holds of the shortest can fit: only those are looked at,
            # which keeps the whole pass linear in the number of recordings.
            window = min(total - start, max(1, frame_budget // int(lengths[start])))
            counts = torch.arange(1, window + 1)
            fits = counts * lengths[start:start + window] <= frame_budget
            stop = start + max(1, int(fits.sum()))
        yield slice(start, stop)
        start = stop


def balanced_draw_probabilities(y):
    """Per-row probabilities proportional to 1 / count of the row's class (one label a row)."""
    y = torch.as_tensor(y).cpu().to(torch.int64)  # codes may be uint8: indices, not a mask
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
