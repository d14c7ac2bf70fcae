"""Per-frame targets and sample weights (LSTMBlinkTagger), checked against their sequences.

``y`` holds one label per frame in any format of :func:`._labels.label_rows`: a padded
``(n, T')`` array or DataFrame (``T'`` at least each recording's length, any padding value,
never read) or one ``(T_i,)`` row per recording (a list, an object array, a pandas Series of
arrays). Rows are trimmed to the recordings' lengths, so any subset of recordings (a
cross-validation fold) reads as the whole does. Labels are encoded as class indices in an
``(n, T)`` int64 array; frames past a sequence's end hold 0 and are masked out of the loss,
the class weights and every score, as are missing frames (``missing='mask'``).
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
from ._labels import label_rows

__all__ = ["check_frame_fit_input", "check_frame_continued_input", "check_frame_sample_weight",
                  "valid_frames", "valid_frame_targets", "per_sequence", "frame_rows"]


def check_frame_fit_input(estimator, X, y, classes=None):
    """Validate training sequences and their frame labels; set ``n_features_in_``.

    Returns the sequences, the classes in sorted order and the labels encoded ``(n, T)``.
    """
    check_y_given(estimator, y)
    sequences = check_sequences(estimator, X)
    labels, observed = _frame_labels(y, sequences)
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
    return sequences, classes, _pad(encoded, observed, sequences)


def check_frame_continued_input(estimator, X, y, *, hint):
    """Validate sequences and frame labels for a fitted tagger (continued training,
    validation data): labels encoded with its ``classes_``."""
    check_y_given(estimator, y)
    sequences = check_sequences(estimator, X, fitted_layout=estimator.input_layout_)
    labels, observed = _frame_labels(y, sequences)
    encoded = encode_labels(labels, estimator.classes_, hint=hint)
    return sequences, _pad(encoded, observed, sequences)


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
            weights = _pad(np.concatenate(frames).astype(np.float64), None, sequences)
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
    """The encoded labels and weights of the valid, observed frames, flat: what enters the
    loss and the class counts (missing frames are left out)."""
    observed = sequences.observed
    weights = None if sample_weight is None else sample_weight[observed]
    return y_encoded[observed], weights


def per_sequence(values, sequences):
    """``(n, T, ...)`` values in the structure of X: the array itself for array X; for a
    collection of sequences, a 1-D object array of ``(T_i, ...)`` arrays, which iterates
    like a list and, unlike one, concatenates and indexes as scikit-learn's
    ``cross_val_predict`` does with the predictions of its folds."""
    if not sequences.ragged:
        return values
    rows = np.empty(sequences.n_samples, dtype=object)
    for row, length in enumerate(sequences.valid_lengths):
        rows[row] = values[row, :length]
    return rows


def _is_per_sequence(sample_weight):
    if isinstance(sample_weight, (list, tuple)):
        return all(np.ndim(item) == 0 for item in sample_weight)
    return np.ndim(sample_weight) == 1 and np.asarray(sample_weight).dtype != object


def frame_rows(y, sequences, *, name):
    """Per-frame values (labels, weights) as one 1-D array per sequence, each as long as its
    sequence; a ValueError names the first row that does not fit."""
    return label_rows(y, name=name).trimmed(sequences.valid_lengths, name=name)


def _frame_labels(y, sequences):
    """The labels of the observed frames (valid, not missing), flat, checked for missing
    and mixed labels, which are reported by recording and frame; and where those frames are
    among the valid ones (None when every valid frame is observed). The labels of missing
    frames are never read."""
    rows = frame_rows(y, sequences, name="y")
    observed = sequences.observed[sequences.mask] if sequences.has_missing else None
    labels = np.concatenate(rows)
    if observed is not None:
        labels = labels[observed]
    if labels.dtype.kind in "Of" and _has_no_label(labels).any():
        valid = sequences.mask
        if observed is not None:
            valid = sequences.observed
        flat = int(np.flatnonzero(_has_no_label(labels))[0])
        recording, frame = (int(i[flat]) for i in np.nonzero(valid))
        raise ValueError(
            f"y[{recording}][{frame}] has no label (None or NaN); every frame of a recording "
            "needs a label. Give it one, or mark the frame missing in X (NaN features, with "
            "missing='mask'), whose label is then never read."
        )
    if labels.dtype == object:
        check_label_types(labels)
    return labels, observed


def _has_no_label(labels):
    if labels.dtype.kind == "f":
        return np.isnan(labels)
    return np.array([label is None or label != label for label in labels.tolist()], dtype=bool)


def _check_discrete(labels):
    kind = type_of_target(labels)
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"y's frame labels look {kind}; a tagger needs discrete class labels (ints, "
            "strings, bools)."
        )


def _pad(flat, observed, sequences):
    """Flat values of the valid frames (of the observed ones, where ``observed`` says
    which valid frames those are) -> ``(n, T)``, 0 elsewhere."""
    padded = np.zeros(sequences.mask.shape, dtype=flat.dtype)
    padded[sequences.mask if observed is None else sequences.observed] = flat
    return padded
