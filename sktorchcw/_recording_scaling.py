"""Per-recording scaling (``standardize='recording'`` and ``'recording_center'``).

Each recording's features are divided by (``'recording'``) or reduced by
(``'recording_center'``) their own median over the recording's observed frames (frames
without a NaN feature), before the global standardisation that the network applies with
the statistics learned at fit (mean and standard deviation of those per-recording values
over the training frames, as ``standardize=True``).

Data stays as given: the medians are computed once per dataset, an ``(n_recordings,
n_features)`` float32 array, a run of recordings at a time (the exact median of a
recording longer than a chunk of frames in two passes, :func:`~._data.frame_percentiles`),
and applied per batch by :class:`RecordingScaledDataset`, a :class:`SequenceDataset`
whose batches divide (or shift) each recording's frames by its own medians. The global
statistics are read through :class:`RecordingValues`, a chunk of frames at a time. No
scaled copy of X is made.
"""

import numpy as np
import torch

from ._batching import SequenceDataset, SliceBatches, unwrap_dataset
from ._data import CHUNK_FRAMES, frame_percentiles
from ._labels import chunk_bounds

__all__ = ["PER_RECORDING", "is_per_recording", "recording_medians",
           "RecordingScaledDataset", "RecordingScaledBatches", "RecordingValues",
           "recording_scaled", "training_batches", "check_stream_median",
           "refuse_onnx_export"]

# standardize values that scale each recording by its own median first.
PER_RECORDING = ("recording", "recording_center")


def is_per_recording(standardize):
    """Whether ``standardize`` scales each recording by its own median."""
    return isinstance(standardize, str) and standardize in PER_RECORDING


def recording_medians(sequences, standardize):
    """``(n_recordings, n_features)`` float32: each recording's per-feature median over its
    observed frames (1 for ``'recording'``, 0 for ``'recording_center'`` in a recording
    with no observed frame, whose frames are all filled anyway).

    Reads a run of recordings of at most ``CHUNK_FRAMES`` frames at a time; a recording
    longer than that has its exact median found in two passes without a copy. For
    ``standardize='recording'`` a ValueError names the first feature and recording whose
    median is not positive, as soon as its run is read.
    """
    frames = sequences.frames
    n_features = frames.shape[1]
    offsets = sequences.frame_offsets  # int32 or int64 (index_dtype): read, not copied
    lengths = sequences.valid_lengths
    missing = sequences.missing
    medians = np.empty((len(lengths), n_features), dtype=np.float32)
    neutral = 1.0 if standardize == "recording" else 0.0
    for first, last, _ in chunk_bounds(lengths, CHUNK_FRAMES):
        start = int(offsets[first])
        stop = int(offsets[last - 1] + lengths[last - 1])
        observed = None if missing is None else ~missing[start:stop]
        if last - first == 1 and lengths[first] > CHUNK_FRAMES:
            medians[first] = _long_median(frames[start:stop],
                                          None if missing is None else missing[start:stop],
                                          neutral)
        elif not sequences.ragged:  # array X: every recording fills its T steps
            count, length = last - first, int(lengths[first])
            medians[first:last] = _medians(
                frames[start:stop].reshape(count, length, n_features),
                None if observed is None else observed.reshape(count, length), neutral)
        else:
            medians[first:last] = _run_medians(frames[start:stop], observed,
                                               lengths[first:last], neutral)
        if standardize == "recording":
            _check_positive(medians[first:last], first)
    return medians


def _medians(block, observed, neutral):
    """Medians over axis 1 of ``block`` ``(k, L, F)`` where ``observed`` ``(k, L)`` (None:
    every frame): the middle value, or the mean of the two middle values (in float64)
    for an even count, as float32; ``neutral`` where a recording has no observed
    frame."""
    if observed is not None and not observed.all():
        block = np.where(observed[..., None], block, np.nan)  # NaN sorts last
        counts = observed.sum(axis=1)
    else:
        counts = np.full(len(block), block.shape[1])
    ordered = np.sort(block, axis=1)
    low = np.maximum((counts - 1) // 2, 0)[:, None, None]
    high = np.maximum(counts // 2, 0)[:, None, None]
    shape = (len(block), 1, block.shape[2])
    below = np.take_along_axis(ordered, np.broadcast_to(low, shape), axis=1)[:, 0]
    above = np.take_along_axis(ordered, np.broadcast_to(high, shape), axis=1)[:, 0]
    medians = (below.astype(np.float64) + above) / 2
    medians[counts == 0] = neutral
    return medians.astype(np.float32)


def _run_medians(frames, observed, lengths, neutral):
    """The medians of a run of consecutive recordings of ``lengths`` frames in ``frames``
    ``(sum(lengths), F)`` over their ``observed`` frames, as :func:`_medians` computes
    them, with one sort a feature for the whole run (by recording, then value)."""
    recording = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.cumsum(lengths) - lengths
    if observed is not None and not observed.all():
        # Missing frames last in each recording (X is finite where observed).
        frames = np.where(observed[:, None], frames, np.inf)
        counts = np.bincount(recording, weights=observed, minlength=len(lengths))
        counts = counts.astype(np.int64)
    else:
        counts = np.asarray(lengths, dtype=np.int64)
    last_frame = max(len(frames) - 1, 0)
    low = np.minimum(starts + np.maximum((counts - 1) // 2, 0), last_frame)
    high = np.minimum(starts + np.maximum(counts // 2, 0), last_frame)
    medians = np.empty((len(lengths), frames.shape[1]), dtype=np.float64)
    for feature in range(frames.shape[1]):
        values = frames[:, feature]
        ordered = values[np.lexsort((values, recording))]
        medians[:, feature] = (ordered[low].astype(np.float64) + ordered[high]) / 2
    medians[counts == 0] = neutral
    return medians.astype(np.float32)


def _long_median(frames, missing, neutral):
    """The exact median of a recording longer than a chunk, read a chunk at a time."""
    if missing is not None and missing.all():
        return np.full(frames.shape[1], neutral, dtype=np.float32)
    return frame_percentiles(frames, (50,), missing)[0].astype(np.float32)


def _check_positive(medians, first):
    bad = np.argwhere(~(medians > 0))
    if not len(bad):
        return
    row, feature = (int(v) for v in bad[0])
    raise ValueError(
        f"standardize='recording' divides each recording's features by their median over "
        f"its observed frames, but feature {feature} of recording {first + row} has median "
        f"{float(medians[row, feature]):g}, which is not positive. That scaling is for "
        "positive signals (such as the eye aspect ratio). Use "
        "standardize='recording_center' to subtract each recording's median instead (for "
        "signed signals), or standardize=True for the global standardisation only.")


class RecordingScaledDataset(SequenceDataset):
    """A :class:`SequenceDataset` whose batches hold each recording's frames divided by
    (``center=False``) or reduced by (``center=True``) its own ``recording_median``
    ``(n_recordings, F)``; padding and missing (NaN) frames stay what they were
    (NaN stays NaN). The frames themselves are held as given, never scaled in place."""

    def __init__(self, x, lengths=None, y=None, sample_weight=None, *, offsets=None,
                 frame_targets=False, recording_median, center=False):
        super().__init__(x, lengths, y, sample_weight, offsets=offsets,
                         frame_targets=frame_targets)
        self.recording_median = torch.as_tensor(recording_median)
        self.center = bool(center)

    @classmethod
    def wrapping(cls, dataset, recording_median, center):
        """``dataset``'s tensors (shared, not copied) with per-recording scaling."""
        return cls(dataset.x, dataset.lengths, dataset.y, dataset.sample_weight,
                   offsets=dataset.offsets, frame_targets=dataset.frame_targets,
                   recording_median=recording_median, center=center)

    def on_device(self, device):
        device = torch.device(device)
        if self.x.device == device:
            return self
        plain = super().on_device(device)
        if not isinstance(plain, RecordingScaledDataset):
            self._copies[device] = RecordingScaledDataset.wrapping(
                plain, self.recording_median.to(device), self.center)
        return self._copies[device]

    @property
    def nbytes(self):
        return super().nbytes + self.recording_median.nbytes

    def pieces_of(self, pieces):
        """``pieces`` (the ragged dataset of one pass of ``segment_frames``: offsets into
        this dataset's frames, array storage read in its flat view) scaled by the medians
        of the recordings they were cut from, found from where each piece starts."""
        offsets = pieces.offsets
        assert offsets is not None
        if self.offsets is not None:
            starts = self.offsets.to(offsets.device)
        else:  # array storage: recording i starts at frame i T of the flat view
            starts = torch.arange(len(self), device=offsets.device) * self.x.shape[1]
        recording = torch.searchsorted(starts, offsets, right=True) - 1
        median = self.recording_median.to(offsets.device)[recording]
        return RecordingScaledDataset.wrapping(pieces, median, self.center)

    def batch(self, index):
        inputs, y = super().batch(index)
        if isinstance(index, torch.Tensor):
            index = index.reshape(-1).to(self.recording_median.device)
        median = self.recording_median[index]
        x = inputs["x"]
        if x.ndim == 3:
            median = median.reshape(-1, 1, median.shape[-1])
        median = median.to(x.device)
        if self.center:
            inputs["x"] = x - median
        else:
            inputs["x"] = x / median
        if self.offsets is not None and self.center:  # keep the padding zeros as they were
            steps = torch.arange(x.shape[1], device=x.device)
            valid = steps[None, :] < inputs["lengths"].to(x.device)[:, None]
            inputs["x"] = torch.where(valid[..., None], inputs["x"], 0.0)
        return inputs, y


def recording_scaled(dataset, sequences, standardize):
    """``dataset`` as it is, or for a per-recording ``standardize`` a
    :class:`RecordingScaledDataset` over the same tensors with ``sequences``' medians."""
    if not is_per_recording(standardize):
        return dataset
    medians = recording_medians(sequences, standardize)
    return RecordingScaledDataset.wrapping(dataset, medians,
                                           center=standardize == "recording_center")


class RecordingValues:
    """The frames of ``sequences`` as the network sees them before its global
    standardisation: each divided by (``center=False``) or reduced by its recording's
    median. Sliced a chunk of frames at a time (``values[start:stop]`` computes only that
    chunk), as the passes that compute the global statistics read frames."""

    def __init__(self, sequences, medians, center):
        self.frames = sequences.frames
        self.starts = sequences.frame_offsets
        self.medians = np.asarray(medians, dtype=np.float32)
        self.center = center
        self.shape = self.frames.shape

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, rows):
        if not isinstance(rows, slice):
            raise TypeError("RecordingValues is read in slices of frames.")
        start, stop, step = rows.indices(len(self.frames))
        if step != 1:
            raise TypeError("RecordingValues is read in contiguous slices of frames.")
        chunk = self.frames[start:stop]
        # The recordings the chunk spans, and how many of its frames each holds.
        first, last = np.searchsorted(self.starts, [start, max(stop - 1, start)],
                                      side="right") - 1
        bounds = np.clip(np.append(self.starts[first + 1:last + 1], stop), start, stop)
        counts = np.diff(bounds, prepend=start)
        median = np.repeat(self.medians[first:last + 1], counts, axis=0)
        return chunk - median if self.center else chunk / median


class RecordingScaledBatches(SliceBatches):
    """:class:`SliceBatches` over a :class:`RecordingScaledDataset` whose pieces
    (``segment_frames``) keep the median of the recording each was cut from: every
    pass's pieces are scaled as their whole recording is (the median of the whole
    recording, never of the piece), as validation and prediction scale it."""

    def __init__(self, dataset, *args, **kwargs):
        base, _ = unwrap_dataset(dataset)
        self._scaled = base if isinstance(base, RecordingScaledDataset) else None
        super().__init__(dataset, *args, **kwargs)

    def _batches(self):
        batches = super()._batches()  # cuts this pass's pieces into self.base
        if (self.pieces is not None and self._scaled is not None
                and not isinstance(self.base, RecordingScaledDataset)):
            self.base = self._scaled.pieces_of(self.base)
        return batches


def training_batches(iterator_train, standardize):
    """The training iterator: :class:`RecordingScaledBatches` in place of the default
    :class:`SliceBatches` under per-recording scaling (for ``segment_frames``), else
    ``iterator_train`` as it is."""
    if iterator_train is SliceBatches and is_per_recording(standardize):
        return RecordingScaledBatches
    return iterator_train


def refuse_onnx_export(estimator):
    """A ValueError naming the alternatives, for an estimator fitted with per-recording
    scaling: the graph cannot know a recording's median from the frames it is given."""
    standardize = estimator.standardize
    if not is_per_recording(standardize):
        return
    how = "divides" if standardize == "recording" else "subtracts"
    raise ValueError(
        f"This {type(estimator).__name__} was fitted with standardize={standardize!r}: it "
        f"{how} each recording's features by their median over the whole recording, which "
        "a graph fed a batch (or a chunk) of frames cannot compute. Not exported. Predict "
        "in Python (predict_proba computes each recording's median; a live tagger streams "
        "with FrameStream's recording_median), or fit with standardize=True or 'robust' "
        "to export.")


def check_stream_median(standardize, recording_median, n_features):
    """The median a stream scales its recording by: a float32 ``(n_features,)`` array, or
    None; a ValueError for one a tagger without per-recording scaling is given, or one
    of the wrong shape, not finite, or (``'recording'``) not positive."""
    if recording_median is None:
        return None
    if not is_per_recording(standardize):
        raise ValueError(
            f"recording_median is for a tagger fitted with standardize='recording' or "
            f"'recording_center'; this one was fitted with standardize={standardize!r} and "
            "scales every recording alike. Leave recording_median=None.")
    median = np.asarray(recording_median, dtype=np.float64).reshape(-1)
    if median.shape != (n_features,):
        raise ValueError(
            f"recording_median must hold one value per feature ({n_features}); got shape "
            f"{np.shape(recording_median)}.")
    if not np.isfinite(median).all():
        raise ValueError("recording_median must be finite.")
    if standardize == "recording" and not (median > 0).all():
        feature = int(np.argmax(~(median > 0)))
        raise ValueError(
            f"standardize='recording' divides by the recording's median, but "
            f"recording_median[{feature}] = {median[feature]:g} is not positive.")
    return median.astype(np.float32)
