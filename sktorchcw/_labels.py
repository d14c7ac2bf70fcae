"""Per-recording values (frame labels, frame weights) in any of the formats users give them,
as one 1-D array per recording.

Formats: a list or tuple of 1-D arrays, lists or pandas Series; a 1-D object array or a
pandas Series whose items are such rows; a one-column DataFrame of such rows; and the
padded formats, a 2-D array or a DataFrame of scalars ``(n_recordings, T)``, whose rows may
run past a recording's end (any padding value: it is never read). Both the tagger's checks
(:mod:`._frame_data`) and the scorers (:mod:`sktorchcw.events`) read labels through here,
so every format that ``fit`` accepts is accepted everywhere, in any subset of recordings.
"""

from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd

from ._data import CHUNK_FRAMES

__all__ = ["LabelRows", "label_rows", "frame_weights", "chunk_bounds", "ONE_PER_FRAME",
           "plain_labels"]

ONE_PER_FRAME = (
    "Give one label per frame: an (n_recordings, n_timesteps) array (padded after each "
    "recording's end with any value) or a list of (n_timesteps_i,) arrays, one per recording "
    "of X. For one label per recording use LSTMBlinkClassifier."
)


@dataclass(frozen=True)
class LabelRows:
    """``values``: one 1-D array per recording (a list), or for a padded table the 2-D
    array itself, one row per recording (never split into per-row objects unless
    :attr:`rows` is asked for); ``padded``: True when they came as a padded table (a row
    may be longer than its recording, and is then trimmed, never read);
    ``description``: how the values were given, for messages."""

    values: Any
    padded: bool
    description: str

    @property
    def rows(self):
        """One 1-D array per recording (views of a padded table's rows)."""
        return list(self.values) if isinstance(self.values, np.ndarray) else self.values

    def __len__(self):
        return len(self.values)

    def trimmed(self, lengths, *, name, against="sequence {index} of X"):
        """The rows cut to ``lengths``; a ValueError names the first row that does not fit:
        shorter than its recording, or (given as separate rows) of another length."""
        self.check_lengths(lengths, name=name, against=against)
        return [row[:length] for row, length in zip(self.rows, lengths, strict=True)]

    def check_lengths(self, lengths, *, name, against="sequence {index} of X"):
        """A ValueError unless there is one row per recording, each at least as long as
        its recording (given as separate rows: exactly as long); it names the first row
        that does not fit. A padded table is checked as a whole, without per-row objects."""
        if len(self.values) != len(lengths):
            raise ValueError(
                f"X has {len(lengths)} sequences but {name} has {len(self.values)} "
                f"({self.description}); give one row of frame values per recording."
            )
        lengths = np.asarray(lengths, dtype=np.int64)
        if isinstance(self.values, np.ndarray):
            row_lengths = np.full(len(lengths), self.values.shape[1], dtype=np.int64)
        else:
            row_lengths = np.fromiter((len(row) for row in self.values), dtype=np.int64,
                                      count=len(self.values))
        wrong = row_lengths < lengths
        if not self.padded:
            wrong |= row_lengths != lengths
        if wrong.any():
            index = int(np.flatnonzero(wrong)[0])
            raise ValueError(
                f"{name}[{index}] has {row_lengths[index]} values but "
                f"{against.format(index=index)} has {lengths[index]} frames; give one value "
                "per frame"
                + (" (a padded array may be longer than a recording, never shorter)."
                   if self.padded else ".")
            )

    def flat_chunks(self, lengths, chunk_frames):
        """The values cut to ``lengths`` (checked with :meth:`check_lengths` first), flat,
        recording after recording, a run of whole recordings at a time: yields
        ``(first_frame, values)`` with ``values`` 1-D, at most ``chunk_frames`` long unless
        one recording is longer. A padded table is read row-block by row-block (a view
        when its rows hold exactly the recordings' frames), so no per-row objects and no
        copy of the whole table are made; separate rows are concatenated a run at a
        time."""
        lengths = np.asarray(lengths, dtype=np.int64)
        table = self.values if isinstance(self.values, np.ndarray) else None
        for first, last, start in chunk_bounds(lengths, chunk_frames):
            if table is None:
                yield start, np.concatenate(self.values[first:last])
                continue
            block = table[first:last]
            block_lengths = lengths[first:last]
            if (block_lengths == table.shape[1]).all():
                yield start, block.reshape(-1)
            else:
                steps = np.arange(table.shape[1])
                yield start, block[steps[None, :] < block_lengths[:, None]]


def chunk_bounds(lengths, chunk_frames):
    """Runs of consecutive recordings of at most ``chunk_frames`` frames in all (at least
    one recording a run): yields ``(first, last, first_frame)``, recordings
    ``first:last`` starting at frame ``first_frame``."""
    ends = np.cumsum(lengths)
    first, start = 0, 0
    while first < len(lengths):
        last = max(first + 1, int(np.searchsorted(ends, start + chunk_frames, side="right")))
        yield first, last, start
        first, start = last, int(ends[last - 1])


def label_rows(y, *, name="y"):
    """Read per-recording values ``y`` as :class:`LabelRows`, or raise a ValueError that
    says what ``y`` is and what is expected."""
    if isinstance(y, pd.DataFrame):
        return _dataframe_rows(y, name)
    if isinstance(y, pd.Series):
        if y.dtype == object and len(y) and all(np.ndim(item) == 1 for item in y):
            return LabelRows([_row(item, name, i) for i, item in enumerate(y)], False,
                             f"a pandas Series of {len(y)} per-recording arrays")
        raise ValueError(
            f"{name} is a pandas Series of {len(y)} scalars: one value per recording. "
            + ONE_PER_FRAME
        )
    if isinstance(y, (list, tuple)) or (isinstance(y, np.ndarray) and y.dtype == object
                                        and y.ndim == 1):
        return _collection_rows(y, name)
    array = np.asarray(y)
    if array.ndim == 2:
        return LabelRows(array, True, f"a padded array of shape {array.shape}")
    raise ValueError(f"{name} has shape {array.shape}"
                     + (": one value per recording. " if array.ndim == 1 else ". ")
                     + ONE_PER_FRAME)


def frame_weights(sample_weight, lengths, *, name="sample_weight",
                  against="sequence {index} of X"):
    """Sample weights as one float64 weight per frame, flat, recording after recording:
    given one per recording ``(n,)`` (each frame gets its recording's), or one per frame
    in any format of :func:`label_rows` (cut to ``lengths``). None stays None; a
    ValueError for weights that are not finite, non-negative numbers or do not fit."""
    if sample_weight is None:
        return None
    if _is_per_recording(sample_weight):
        try:
            weights = np.asarray(sample_weight, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold numbers.") from None
        if len(weights) != len(lengths):
            raise ValueError(
                f"{name} has {len(weights)} weights but there are {len(lengths)} "
                "recordings; give one weight per recording, or one per frame in the "
                "structure of y."
            )
        weights = np.repeat(weights, lengths)
    else:
        rows = label_rows(sample_weight, name=name)
        rows.check_lengths(lengths, name=name, against=against)
        weights = np.empty(int(np.sum(lengths)), dtype=np.float64)
        try:  # a run of recordings at a time: no second copy of the weights
            for start, values in rows.flat_chunks(lengths, CHUNK_FRAMES):
                weights[start:start + len(values)] = values
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold numbers.") from None
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(f"{name} must hold finite, non-negative numbers.")
    return weights


def _is_per_recording(sample_weight):
    if isinstance(sample_weight, (list, tuple)):
        return all(np.ndim(item) == 0 for item in sample_weight)
    return np.ndim(sample_weight) == 1 and np.asarray(sample_weight).dtype != object


def _collection_rows(y, name):
    kind = "list" if isinstance(y, list) else type(y).__name__
    items = list(y)
    if items and all(np.ndim(item) == 0 for item in items):
        raise ValueError(f"{name} is a {kind} of {len(items)} scalars: one value per recording. "
                         + ONE_PER_FRAME)
    description = (f"an object array of {len(items)} per-recording rows" if kind == "ndarray"
                   else f"a {kind} of {len(items)} per-recording rows")
    return LabelRows([_row(item, name, i) for i, item in enumerate(items)], False, description)


def _dataframe_rows(frame, name):
    cells = frame.to_numpy()
    if frame.shape[1] == 1 and cells.dtype == object and all(
            np.ndim(cell) == 1 for cell in cells[:, 0]):
        return LabelRows([_row(cell, name, i) for i, cell in enumerate(cells[:, 0])], False,
                         f"a one-column DataFrame of {len(frame)} per-recording arrays")
    if cells.dtype == object and any(np.ndim(cell) != 0 for cell in cells.ravel()):
        raise ValueError(
            f"{name} is a DataFrame whose cells hold arrays; give one row per recording and "
            "one column per frame, a single column of per-recording arrays, or a list of "
            "arrays. " + ONE_PER_FRAME
        )
    return LabelRows(cells, True, f"a padded DataFrame of shape {frame.shape}")


def _row(item, name, index):
    if isinstance(item, (pd.Series, pd.Index)):
        row = item.to_numpy()
    else:
        row = np.asarray(item)
    if row.ndim != 1:
        raise ValueError(f"{name}[{index}] has shape {row.shape}. " + ONE_PER_FRAME)
    return row


def plain_labels(row):
    """An object array of numbers only (the labels left once missing ones are taken out)
    as a numeric array, which scikit-learn reads as labels; other arrays as they are."""
    row = np.asarray(row)
    if row.dtype != object or not len(row):
        return row
    values = row.tolist()
    if all(isinstance(value, (bool, np.bool_)) for value in values):
        return np.asarray(values, dtype=bool)
    if all(isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))
           for value in values):
        return np.asarray(values, dtype=np.int64)
    return row
