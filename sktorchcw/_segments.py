"""Training on pieces of long recordings (``segment_frames``).

Every pass (epoch), each recording longer than ``segment_frames`` is cut into consecutive
pieces at a fresh random offset, drawn from the training iterator's generator, so the cut
is reproducible from its seed and, as the passes already done are drawn again on resume,
exact on resume. A piece is a recording of the pass's dataset: an offset and a length
into the frame buffer the recordings already live in, never a copy of their frames.

The rule, for a recording of ``L > S`` frames (``S = segment_frames``): an offset ``o``
is drawn uniformly in ``[0, S)``; the cuts are at ``o + k S`` (``k = 0, 1, ...``) inside
the recording, except that a cut leaving fewer than ``ceil(S / 2)`` frames before it (the
first piece) or after it (the last) is dropped, so that the piece merges with its
neighbour. Inner pieces have exactly ``S`` frames, the first and last between
``ceil(S / 2)`` and ``S + ceil(S / 2)`` (a recording with no cut left, at most ``2 S``
frames, stays whole), and every frame is in exactly one piece. Recordings of at most
``S`` frames stay whole.
"""

from numbers import Integral

import torch

__all__ = ["MIN_SEGMENT_FRAMES", "SEGMENTS_NEED_SLICE_BATCHES", "check_segment_frames",
           "cut_recordings", "RecordingPieces"]

# Pieces shorter than this give a recurrent network too little context to learn from (a
# blink alone lasts 3 to 10 frames at 30 fps), and the cost of each batch's steps would
# dominate; the end pieces are at least half of segment_frames.
MIN_SEGMENT_FRAMES = 10

SEGMENTS_NEED_SLICE_BATCHES = (
    "segment_frames cuts recordings into pieces in sktorchcw's own training iterator; "
    "leave iterator_train=None, or drop segment_frames and cut the recordings in your own "
    "dataset.")


def check_segment_frames(segment_frames):
    """``segment_frames`` as an int, or None; a TypeError for what is no integer (a float,
    a bool), a ValueError for an integer below :data:`MIN_SEGMENT_FRAMES`."""
    if segment_frames is None:
        return None
    if isinstance(segment_frames, bool) or not isinstance(segment_frames, Integral):
        raise TypeError(
            f"segment_frames must be None or an int (frames per piece); got "
            f"{segment_frames!r} of type {type(segment_frames).__name__}.")
    if segment_frames < MIN_SEGMENT_FRAMES:
        raise ValueError(
            f"segment_frames must be at least {MIN_SEGMENT_FRAMES} (shorter pieces give the "
            f"network too little context); got {segment_frames}. None trains on whole "
            "recordings.")
    return int(segment_frames)


def cut_recordings(lengths, segment_frames, generator):
    """Cut recordings of ``lengths`` frames into pieces (the rule of this module).

    Draws one offset per recording from ``generator`` (a CPU ``torch.Generator``), also for
    the recordings that stay whole, so the number of draws depends on nothing but the
    number of recordings. Returns int64 tensors, one row per piece, in recording order and
    then frame order: the recording (index into ``lengths``), the piece's first frame
    within it, and its length.
    """
    lengths = torch.as_tensor(lengths, dtype=torch.int64).cpu()
    size = int(segment_frames)
    shortest = (size + 1) // 2
    offsets = torch.randint(0, size, (len(lengths),), generator=generator)
    # Cuts at offset + k * size; the first kept is k=1 when the piece before offset is
    # too short, the last kept leaves at least `shortest` frames after it.
    first = (offsets < shortest).to(torch.int64)
    last = torch.div(lengths - shortest - offsets, size, rounding_mode="floor")
    cuts = torch.where(lengths > size, torch.clamp(last - first + 1, min=0), 0)
    counts = cuts + 1
    recording = torch.repeat_interleave(torch.arange(len(lengths)), counts)
    # Each piece's position within its recording: 0 for the first piece.
    position = torch.arange(len(recording)) - (torch.cumsum(counts, 0) - counts)[recording]
    offset, first, length = offsets[recording], first[recording], lengths[recording]
    start = torch.where(position == 0, 0, offset + (first + position - 1) * size)
    stop = torch.where(position == counts[recording] - 1, length,
                       offset + (first + position) * size)
    return recording, start, stop - start


class RecordingPieces:
    """The recordings ``indices`` of ``base`` (a :class:`~sktorchcw._batching.SequenceDataset`),
    cut into new pieces at every :meth:`cut`.

    Array storage ``(n, T, F)`` is read as ``n`` recordings of ``T`` frames in its flat
    view ``(n T, F)`` (no copy: the estimators hold arrays C-contiguous). Per-frame labels
    and weights are shared with ``base``; one label (and weight) per recording is
    repeated for each of its pieces (a tensor of one value per piece).
    """

    def __init__(self, base, indices, segment_frames, sampling=None):
        self.segment_frames = check_segment_frames(segment_frames)
        self.sampling = sampling
        self.indices = indices
        x, y, sample_weight = base.x, base.y, base.sample_weight
        if base.offsets is None:  # array storage: every recording fills the T steps
            n, steps = x.shape[0], x.shape[1]
            x = x.reshape(n * steps, *x.shape[2:])
            self.offsets = torch.arange(n, dtype=torch.int64) * steps
            self.lengths = torch.full((n,), steps, dtype=torch.int64)
            self.per_frame = y.ndim == 2
            if self.per_frame:
                y = y.reshape(-1)
                sample_weight = None if sample_weight is None else sample_weight.reshape(-1)
        else:
            self.offsets = base.offsets.cpu().to(torch.int64)
            self.lengths = base.lengths.cpu().to(torch.int64)
            self.per_frame = base.frame_targets
        if sampling is not None and self.per_frame:
            raise ValueError("sampling='balanced' draws pieces by their recording's class, so "
                             "it needs one label per recording; per-frame labels have none.")
        self.x, self.y, self.sample_weight = x, y, sample_weight

    def cut(self, generator):
        """``(dataset, rows, draw_probabilities)`` of one pass: the pieces as a ragged
        SequenceDataset over the same frames, every row of it, and with
        ``sampling='balanced'`` each piece's draw probability (``1 / count`` of its
        recording's class among the pieces), else None."""
        # Local: _batching imports this module.
        from ._batching import SequenceDataset, balanced_draw_probabilities

        indices = self.indices.cpu()
        recording, start, length = cut_recordings(self.lengths[indices], self.segment_frames,
                                                  generator)
        rows = indices[recording]
        device = self.x.device
        offsets = (self.offsets[rows] + start).to(device)
        y, sample_weight = self.y, self.sample_weight
        if not self.per_frame:  # one label (and weight) per recording, for each piece
            y = y[rows.to(y.device)]
            sample_weight = (None if sample_weight is None
                             else sample_weight[rows.to(sample_weight.device)])
        dataset = SequenceDataset(self.x, length.to(device), y, sample_weight,
                                  offsets=offsets, frame_targets=self.per_frame)
        probabilities = (balanced_draw_probabilities(dataset.y) if self.sampling is not None
                         else None)
        return dataset, torch.arange(len(length)), probabilities
