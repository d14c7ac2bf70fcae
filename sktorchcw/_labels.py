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

import numpy as np
import pandas as pd

__all__ = ["LabelRows", "label_rows", "frame_weights", "ONE_PER_FRAME"]

ONE_PER_FRAME = (
    "Give one label per frame: an (n_recordings, n_timesteps) array (padded after each "
    "recording's end with any value) or a list of (n_timesteps_i,) arrays, one per recording "
    "of X. For one label per recording use LSTMBlinkClassifier."
)


@dataclass(frozen=True)
class LabelRows:
    """``rows``: one 1-D array per recording; ``padded``: True when they came as a padded
    table (a row may be longer than its recording, and is then trimmed, never read);
    ``description``: how the values were given, for messages."""

    rows: list
    padded: bool
    description: str

    def __len__(self):
        return len(self.rows)

    def trimmed(self, lengths, *, name, against="sequence {index} of X"):
        """The rows cut to ``lengths``; a ValueError names the first row that does not fit:
        shorter than its recording, or (given as separate rows) of another length."""
        if len(self.rows) != len(lengths):
            raise ValueError(
                f"X has {len(lengths)} sequences but {name} has {len(self.rows)} "
                f"({self.description}); give one row of frame values per recording."
            )
        for index, (row, length) in enumerate(zip(self.rows, lengths, strict=True)):
            if len(row) < length or (len(row) != length and not self.padded):
                raise ValueError(
                    f"{name}[{index}] has {len(row)} values but {against.format(index=index)} "
                    f"has {length} frames; give one value per frame"
                    + (" (a padded array may be longer than a recording, never shorter)."
                       if self.padded else ".")
                )
        return [row[:length] for row, length in zip(self.rows, lengths, strict=True)]


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
        return LabelRows(list(array), True, f"a padded array of shape {array.shape}")
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
        rows = label_rows(sample_weight, name=name).trimmed(lengths, name=name,
                                                             against=against)
        try:
            weights = np.concatenate(rows).astype(np.float64)
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
    return LabelRows(list(cells), True, f"a padded DataFrame of shape {frame.shape}")


def _row(item, name, index):
    if isinstance(item, (pd.Series, pd.Index)):
        row = item.to_numpy()
    else:
        row = np.asarray(item)
    if row.ndim != 1:
        raise ValueError(f"{name}[{index}] has shape {row.shape}. " + ONE_PER_FRAME)
    return row
