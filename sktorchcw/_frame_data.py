"""Per-frame targets and sample weights (LSTMBlinkTagger), checked against their sequences.

``y`` holds one label per frame in any format of :func:`._labels.label_rows`: a padded
``(n, T')`` array or DataFrame (``T'`` at least each recording's length, any padding value,
never read) or one ``(T_i,)`` row per recording (a list, an object array, a pandas Series of
arrays). Rows are trimmed to the recordings' lengths, so any subset of recordings (a
cross-validation fold) reads as the whole does. Labels are encoded as class indices, one per
frame in the order of ``sequences.frames``, in the smallest unsigned integer type that holds
them; missing frames (``missing='mask'``) hold 0 and are left out of the loss, the class
weights and every score, as padding is.
"""

import numpy as np
from sklearn.utils.multiclass import type_of_target

from ._data import (
    CHUNK_FRAMES,
    check_classes,
    check_label_types,
    check_sequences,
    check_weights_in_float32_range,
    check_y_given,
    codes_dtype,
    encode_labels,
)
from ._labels import frame_weights, label_rows, plain_labels

__all__ = ["check_frame_fit_input", "check_frame_continued_input", "check_frame_sample_weight",
                  "valid_frame_targets", "per_sequence", "frame_rows"]


def check_frame_fit_input(estimator, X, y, classes=None):
    """Validate training sequences and their frame labels; set ``n_features_in_``.

    Returns the sequences, the classes in sorted order and the labels encoded, one per
    frame (``(n_frames,)``, in the order of ``sequences.frames``).
    """
    check_y_given(estimator, y)
    sequences = check_sequences(estimator, X)
    labels = _FrameLabels(y, sequences)
    found = labels.check_given(unique=classes is None)
    if classes is None:
        labels_found = np.concatenate(found)
        if labels_found.dtype == object:
            check_label_types(labels_found)
        classes = np.unique(labels_found)
        _check_discrete(classes)
    else:
        classes = check_classes(classes)
    if len(classes) < 2:
        raise ValueError(
            f"y has only one class ({classes[0]!r}) in all its frames; a tagger needs frames "
            "of at least two classes (with partial_fit, list them all in classes=...)."
        )
    codes = labels.codes(classes, hint="List every label of y in classes.")
    return sequences, classes, codes


def check_frame_continued_input(estimator, X, y, *, hint):
    """Validate sequences and frame labels for a fitted tagger (continued training,
    validation data): labels encoded with its ``classes_``."""
    check_y_given(estimator, y)
    sequences = check_sequences(estimator, X, fitted_layout=estimator.input_layout_)
    labels = _FrameLabels(y, sequences)
    labels.check_given()
    return sequences, labels.codes(estimator.classes_, hint=hint)


def check_frame_sample_weight(sample_weight, sequences, *, name="sample_weight"):
    """Sample weights per frame ``(n_frames,)`` float64, in the order of
    ``sequences.frames``, or None.

    One weight per sequence ``(n,)`` is given to each of its frames; per-frame weights
    come in the structure of y.
    """
    weights = frame_weights(sample_weight, sequences.valid_lengths, name=name)
    if weights is None:
        return None
    check_weights_in_float32_range(weights, name)
    return weights


def valid_frame_targets(y_encoded, sample_weight, sequences):
    """The encoded labels and weights of the observed frames, flat: what enters the loss
    and the class counts (missing frames are left out)."""
    if not sequences.has_missing:
        return y_encoded, sample_weight
    observed = sequences.observed
    weights = None if sample_weight is None else sample_weight[observed]
    return y_encoded[observed], weights


def per_sequence(values, sequences):
    """Per-frame values in the structure of X: ``(n, T, ...)`` for array X; for a
    collection of sequences, given flat ``(n_frames, ...)``, a 1-D object array of
    ``(T_i, ...)`` arrays (views), which iterates like a list and, unlike one,
    concatenates and indexes as scikit-learn's ``cross_val_predict`` does with the
    predictions of its folds."""
    if not sequences.ragged:
        return values
    rows = np.empty(sequences.n_samples, dtype=object)
    for row, (start, length) in enumerate(zip(sequences.frame_offsets,
                                              sequences.valid_lengths, strict=True)):
        rows[row] = values[start:start + length]
    return rows


def frame_rows(y, sequences, *, name):
    """Per-frame values (labels, weights) as one 1-D array per sequence, each as long as its
    sequence; a ValueError names the first row that does not fit."""
    return label_rows(y, name=name).trimmed(sequences.valid_lengths, name=name)


class _FrameLabels:
    """The labels of the observed frames (not missing) of ``sequences``, read a run of
    recordings at a time (:meth:`._labels.LabelRows.flat_chunks`): a padded table is read
    block by block (views where its rows hold exactly the recordings' frames), separate
    rows are concatenated a run at a time, and labels of missing frames are never read. No
    per-frame copy of y is kept: every pass reads the chunks anew, so the temporary
    arrays stay small whatever the size of y. Rows that do not fit their recordings are
    refused when this is made."""

    def __init__(self, y, sequences):
        self.sequences = sequences
        self.rows = label_rows(y, name="y")
        self.rows.check_lengths(sequences.valid_lengths, name="y")

    def chunks(self):
        """``(start, observed, labels)`` per run of recordings: ``start`` the run's first
        frame (in the order of ``sequences.frames``), ``observed`` which of its frames the
        labels are of (None: all) and ``labels`` theirs, 1-D."""
        observed = self.sequences.observed if self.sequences.has_missing else None
        for start, labels in self.rows.flat_chunks(self.sequences.valid_lengths,
                                                   CHUNK_FRAMES):
            mask = None if observed is None else observed[start:start + len(labels)]
            # ints in an object row with None on missing frames: ints once those are out
            yield start, mask, plain_labels(labels if mask is None else labels[mask])

    def check_given(self, *, unique=False):
        """A ValueError naming the first frame without a label (None or NaN), by recording
        and frame; with ``unique``, the distinct labels of every chunk (one array each).
        Every chunk is checked for missing labels before an error of ordering the labels
        (mixed types) is raised."""
        found, unorderable = [], None
        for start, mask, labels in self.chunks():
            if labels.dtype.kind in "Of" and _has_no_label(labels).any():
                self._no_label(start, mask, labels)
            if unique and unorderable is None:
                try:
                    found.append(np.unique(labels))
                except TypeError as error:  # raised once every label is known to be there
                    unorderable = error
        if unorderable is not None:
            raise unorderable
        return found

    def _no_label(self, start, mask, labels):
        flat = int(np.flatnonzero(_has_no_label(labels))[0])
        flat = start + (flat if mask is None else int(np.flatnonzero(mask)[flat]))
        offsets = self.sequences.frame_offsets
        recording = int(np.searchsorted(offsets, flat, side="right") - 1)
        raise ValueError(
            f"y[{recording}][{flat - int(offsets[recording])}] has no label (None or "
            "NaN); every frame of a recording needs a label. Give it one, or mark the "
            "frame missing in X (NaN features, with missing='mask'), whose label is then "
            "never read."
        )

    def codes(self, classes, *, hint):
        """One class code per frame (0 on missing frames), in the smallest unsigned
        integer type, encoded a chunk at a time; a ValueError names labels that are not
        classes."""
        codes = np.zeros(len(self.sequences.frames), dtype=codes_dtype(len(classes)))
        for start, mask, labels in self.chunks():
            encoded = encode_labels(labels, classes, hint=hint)
            if mask is None:
                codes[start:start + len(encoded)] = encoded
            else:
                codes[start:start + len(mask)][mask] = encoded
        return codes


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
