"""Per-frame targets and sample weights (LSTMBlinkTagger), checked against their sequences.

``y`` holds one label per frame: an ``(n, T)`` array (padded like X when X is ragged) or a
list of ``(T_i,)`` arrays whose lengths match X's sequences. Labels are encoded as class
indices in an ``(n, T)`` int64 array; frames past a sequence's end hold 0 and are masked
out of the loss, the class weights and every score.
"""

import numpy as np
from sklearn.utils.multiclass import type_of_target

from ._data import (
    check_classes,
    check_label_types,
    check_sequences,
    check_weights_in_float32_range,
    check_y_given,
    encode_labels,
)

__all__ = ["check_frame_fit_input", "check_frame_continued_input", "check_frame_sample_weight",
           "valid_frames", "valid_frame_targets", "per_sequence", "frame_rows"]

_ONE_PER_FRAME = (
    "LSTMBlinkTagger needs one label per frame: an (n_samples, n_timesteps) array or a list "
    "of (n_timesteps_i,) arrays, one per sequence of X. For one label per sequence use "
    "LSTMBlinkClassifier."
)


def check_frame_fit_input(estimator, X, y, classes=None):
    """Validate training sequences and their frame labels; set ``n_features_in_``.

    Returns the sequences, the classes in sorted order and the labels encoded ``(n, T)``.
    """
    check_y_given(estimator, y)
    sequences = check_sequences(estimator, X)
    frames = frame_rows(y, sequences, name="y")
    labels = np.concatenate(frames)
    if labels.dtype == object:
        check_label_types(labels)
    _check_discrete(labels)
    if classes is None:
        classes = np.unique(labels)
    else:
        classes = check_classes(classes)
    if len(classes) < 2:
        raise ValueError(
            f"y has only one class ({classes[0]!r}) in all its frames; a tagger needs frames "
            "of at least two classes (with partial_fit, list them all in classes=...)."
        )
    encoded = encode_labels(labels, classes, hint="List every label of y in classes.")
    return sequences, classes, _pad(encoded, sequences)


def check_frame_continued_input(estimator, X, y, *, hint):
    """Validate sequences and frame labels for a fitted tagger (continued training,
    validation data): labels encoded with its ``classes_``."""
    check_y_given(estimator, y)
    sequences = check_sequences(estimator, X, fitted_layout=estimator.input_layout_)
    labels = np.concatenate(frame_rows(y, sequences, name="y"))
    if labels.dtype == object:
        check_label_types(labels)
    encoded = encode_labels(labels, estimator.classes_, hint=hint)
    return sequences, _pad(encoded, sequences)


def check_frame_sample_weight(sample_weight, sequences, *, name="sample_weight"):
    """Sample weights per frame ``(n, T)`` float64 (0 on padding), or None.

    One weight per sequence ``(n,)`` is given to each of its frames; per-frame weights
    come in the structure of y.
    """
    if sample_weight is None:
        return None
    if _is_per_sequence(sample_weight):
        weights = np.asarray(sample_weight, dtype=np.float64)
        if len(weights) != sequences.n_samples:
            raise ValueError(
                f"{name} has {len(weights)} weights but X has {sequences.n_samples} sequences; "
                "give one weight per sequence, or one per frame in the structure of y."
            )
        weights = np.where(sequences.mask, weights[:, None], 0.0)
    else:
        frames = frame_rows(sample_weight, sequences, name=name)
        try:
            weights = _pad(np.concatenate(frames).astype(np.float64), sequences)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must hold numbers.") from None
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(f"{name} must hold finite, non-negative numbers.")
    check_weights_in_float32_range(weights, name)
    return weights


def valid_frames(values, sequences):
    """The entries of ``(n, T, ...)`` ``values`` on valid frames, flat ``(n_valid, ...)``."""
    return values[sequences.mask]


def valid_frame_targets(y_encoded, sample_weight, sequences):
    """The encoded labels and weights of the valid frames, flat: what enters the loss."""
    weights = None if sample_weight is None else valid_frames(sample_weight, sequences)
    return valid_frames(y_encoded, sequences), weights


def per_sequence(values, sequences):
    """``(n, T, ...)`` values in the structure of X: the array itself for array X, a list
    of ``(T_i, ...)`` arrays for a collection of sequences."""
    if not sequences.ragged:
        return values
    return [values[row, :length] for row, length in enumerate(sequences.valid_lengths)]


def _is_per_sequence(sample_weight):
    if isinstance(sample_weight, (list, tuple)):
        return all(np.ndim(item) == 0 for item in sample_weight)
    return np.ndim(sample_weight) == 1 and np.asarray(sample_weight).dtype != object


def frame_rows(y, sequences, *, name):
    """Per-frame values (labels, weights) as one 1-D array per sequence, each as long as its
    sequence; a ValueError names the first row whose length does not match."""
    lengths = sequences.valid_lengths
    if isinstance(y, (list, tuple)) or (isinstance(y, np.ndarray) and y.dtype == object
                                         and y.ndim == 1):
        rows = [np.asarray(item) for item in y]
        padded = False
    else:
        array = np.asarray(y)
        if array.ndim == 1:
            raise ValueError(f"{name} has shape {array.shape}: one value per sequence. "
                             + _ONE_PER_FRAME)
        if array.ndim != 2:
            raise ValueError(f"{name} has shape {array.shape}. " + _ONE_PER_FRAME)
        rows, padded = list(array), True
    if len(rows) != sequences.n_samples:
        raise ValueError(f"X has {sequences.n_samples} sequences but {name} has {len(rows)}; "
                         "give one row of frame values per sequence.")
    for index, (row, length) in enumerate(zip(rows, lengths, strict=True)):
        if row.ndim != 1:
            raise ValueError(f"{name}[{index}] has shape {row.shape}. " + _ONE_PER_FRAME)
        if len(row) != length and not (padded and len(row) == sequences.values.shape[1]):
            raise ValueError(
                f"{name}[{index}] has {len(row)} values but sequence {index} of X has "
                f"{length} frames; give one value per frame."
            )
    return [row[:length] for row, length in zip(rows, lengths, strict=True)]


def _check_discrete(labels):
    kind = type_of_target(labels)
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"y's frame labels look {kind}; a tagger needs discrete class labels (ints, "
            "strings, bools)."
        )


def _pad(flat, sequences):
    """Flat values of the valid frames -> ``(n, T)``, 0 after each sequence ends."""
    padded = np.zeros(sequences.mask.shape, dtype=flat.dtype)
    padded[sequences.mask] = flat
    return padded
