"""Scores for per-frame labels: events (blinks) and frames.

This module is the home of sktorchcw's scorers. The event scorers turn per-frame labels
into events and count events, not frames; the frame-level scorers
(:func:`frame_balanced_accuracy_score`, :func:`frame_f1_score`) score every frame.
All of them are scikit-learn score functions, ``score(y_true, y_pred)``: wrap them in
:func:`sklearn.metrics.make_scorer` for a grid search or ``cross_val_score`` of
:class:`~sktorchcw.LSTMBlinkTagger`. (The tagger's ``valid_bacc`` after every epoch comes
from :func:`sktorchcw.frame_balanced_accuracy_scorer`, a scorer ``(net, X, y)`` for skorch
that predicts with the net; for labels already predicted use
:func:`frame_balanced_accuracy_score`.)

An event is a half-open frame interval ``(start, stop)``: frames ``start`` to
``stop - 1``. A detection matches at most one true event and a true event at most one
detection, by their intersection over union (IoU); the matching maximises the number of
matched pairs, then their total IoU.

The scorers take ``y_true`` and ``y_pred`` in every per-recording format that the
tagger's ``fit`` accepts: a padded ``(n_recordings, T)`` array or DataFrame (any padding
value), a list or tuple of 1-D arrays or Series, a 1-D object array or a pandas Series of
arrays. The two sides are paired recording by recording: when one is a padded table and
the other gives each recording's own labels, the padded rows are cut to those lengths
(padding is never read); two sides of separate rows must agree in length, recording by
recording; two padded tables must have the same shape.

A scorer whose ``positive`` label is among neither the true nor the predicted labels
raises a ValueError, as scikit-learn's ``pos_label`` does: with string labels such as
``"open"``/``"blink"`` name the event, e.g. ``make_scorer(event_f1_score,
positive="blink")``. Only frames all of one label of ``positive``'s kind (a number, or a
string) are scored without it: a fold without events in which none were predicted. There
the event scores have nothing to divide by and follow scikit-learn's ``zero_division``:
0.0 with an :class:`~sklearn.exceptions.UndefinedMetricWarning` by default (never a
perfect score chosen by default); the same holds for precision when nothing was detected.

Frames whose true label is missing (None, NaN or ``pd.NA``: the labels of frames the
tagger's ``missing='mask'`` leaves out) are left out of every score, as the tagger's
``score`` leaves them out: taken out of both sides (and out of per-frame sample weights)
before frames are counted or events found.
"""

from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as _metrics
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import f1_score

from ._labels import frame_weights, label_rows, plain_labels
from ._warnings import warn_at_caller

__all__ = ["frames_to_events", "match_events", "event_f1_score", "event_scores",
           "frame_balanced_accuracy_score", "frame_f1_score"]


def __getattr__(name):
    # This module once imported scikit-learn's balanced_accuracy_score under its own
    # name, so ``sktorchcw.events.balanced_accuracy_score`` worked and looked like ours.
    if name == "balanced_accuracy_score":
        warn_at_caller(
            "sktorchcw.events.balanced_accuracy_score was deprecated in version 0.1.0 and "
            "will be removed in 0.2.0: it is scikit-learn's balanced_accuracy_score, which "
            "this module imported by accident. Use sklearn.metrics.balanced_accuracy_score "
            "for one label per sample, or sktorchcw.events.frame_balanced_accuracy_score "
            "for per-frame labels of recordings.", FutureWarning)
        return _metrics.balanced_accuracy_score
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def frames_to_events(labels, positive=1, min_frames=1, max_gap=0):
    """Turn per-frame labels into events: runs of ``positive`` frames.

    Parameters
    ----------
    labels : array-like of shape (n_frames,), or a list of such arrays / a 2-D array
        The labels of one sequence, or of several (one row each).
    positive : label, default=1
        The label of event frames (1 for "inside a blink").
    min_frames : int, default=1
        Runs shorter than this (after merging) are dropped: a one-frame flicker is
        not a blink.
    max_gap : int, default=0
        Runs separated by at most this many other frames are merged into one event.

    Returns
    -------
    events : list of (start, stop) tuples, or a list of such lists
        Half-open intervals, in order; one list per sequence for several sequences.

    Examples
    --------
    >>> from sktorchcw.events import frames_to_events
    >>> frames_to_events([0, 1, 1, 0, 0, 1, 0, 1, 1, 1])
    [(1, 3), (5, 6), (7, 10)]
    >>> frames_to_events([0, 1, 1, 0, 0, 1, 0, 1, 1, 1], max_gap=1, min_frames=2)
    [(1, 3), (5, 10)]
    >>> frames_to_events([[0, 1], [1, 1, 0]])
    [[(1, 2)], [(0, 2)]]
    """
    _check_count("min_frames", min_frames, minimum=1)
    _check_count("max_gap", max_gap, minimum=0)
    rows = _sequences_of(labels)
    if rows is None:
        return _events_of(np.asarray(labels), positive, min_frames, max_gap)
    return [_events_of(row, positive, min_frames, max_gap) for row in rows]


def match_events(true_events, pred_events, min_iou=0.2, *, zero_division="warn"):
    """Match detected events to true events one to one and count the hits.

    Parameters
    ----------
    true_events, pred_events : list of (start, stop)
        The events of one sequence (see :func:`frames_to_events`).
    min_iou : float, default=0.2
        A detection and a true event may match when their intersection over union is
        at least this, in (0, 1].
    zero_division : {"warn", 0.0, 1.0, np.nan}, default="warn"
        Precision without detections, recall without true events, F1 with neither, as
        scikit-learn's ``precision_score`` takes it: ``"warn"`` gives 0.0 with an
        :class:`~sklearn.exceptions.UndefinedMetricWarning`, so that a model that finds
        nothing never scores as perfect by default.

    Returns
    -------
    result : dict
        ``tp``, ``fp``, ``fn`` (ints), ``precision``, ``recall``, ``f1`` (floats) and
        ``matches``: the matched ``(true_index, pred_index)`` pairs.

    Examples
    --------
    >>> from sktorchcw.events import match_events
    >>> result = match_events([(10, 20), (50, 60)], [(12, 21), (30, 33), (55, 57)])
    >>> result["tp"], result["fp"], result["fn"], round(result["f1"], 3)
    (2, 1, 0, 0.8)
    """
    _check_min_iou(min_iou)
    true_events = _check_events("true_events", true_events)
    pred_events = _check_events("pred_events", pred_events)
    matches = _match(true_events, pred_events, min_iou)
    scores = _scores(len(matches), len(pred_events) - len(matches),
                     len(true_events) - len(matches), zero_division)
    return {**scores, "matches": matches}


def event_scores(y_true, y_pred, *, positive=1, min_iou=0.2, min_frames=1, max_gap=0,
                 zero_division="warn"):
    """Event precision, recall and F1 over many recordings of per-frame labels.

    True events are the runs of ``positive`` frames in ``y_true``; detections are those
    of ``y_pred`` after ``max_gap`` merging and ``min_frames`` filtering. Hits are
    counted per recording (:func:`match_events`) and summed.

    Parameters
    ----------
    y_true, y_pred : per-recording labels
        Per-frame labels of the same recordings, in any format the tagger's ``fit``
        takes: a list of 1-D arrays, a padded 2-D array or DataFrame, a Series or an
        object array of 1-D arrays (``LSTMBlinkTagger.predict`` gives ``y_pred`` in the
        structure of its input). A padded side is cut to the lengths of the other
        side's recordings; see the module's description.
    positive : label, default=1
        The label of event frames. It must be among the true or the predicted labels
        (e.g. ``positive="blink"`` for ``"open"``/``"blink"`` labels), unless all frames
        hold one label of its kind (a number or a string): no events, none found.
    min_iou, min_frames, max_gap, zero_division
        As in :func:`frames_to_events` and :func:`match_events`.

    Returns
    -------
    result : dict
        ``tp``, ``fp``, ``fn``, ``precision``, ``recall``, ``f1``.

    Raises
    ------
    ValueError
        For labels in no per-recording format, recordings whose true and predicted
        labels differ in number, ``positive`` among neither the true nor the predicted
        labels, or ``min_iou``, ``min_frames`` or ``max_gap`` out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from sktorchcw.events import event_scores
    >>> y_true = [np.array(["open", "blink", "blink", "open"]), np.array(["blink", "open"])]
    >>> y_pred = np.array([["open", "blink", "open", "open"], ["open", "open", "", ""]])
    >>> scores = event_scores(y_true, y_pred, positive="blink")  # y_pred's rows are cut
    >>> scores["tp"], scores["fp"], scores["fn"]
    (1, 0, 1)
    """
    true_rows, pred_rows = _checked_event_input(y_true, y_pred, positive, min_iou,
                                                min_frames, max_gap, "event_scores")
    return _event_counts(true_rows, pred_rows, positive, min_iou, min_frames, max_gap,
                         zero_division)


def event_f1_score(y_true, y_pred, *, positive=1, min_iou=0.2, min_frames=1, max_gap=0,
                   zero_division="warn"):
    """Event F1 over many recordings of per-frame labels: a scikit-learn score function.

    Parameters as for :func:`event_scores`. Use it in a grid search with
    ``make_scorer(event_f1_score, min_iou=0.3)``, and name the event label for labels
    other than 0/1: ``make_scorer(event_f1_score, positive="blink")``.

    Returns
    -------
    f1 : float

    Raises
    ------
    ValueError
        As :func:`event_scores`; in particular when ``positive`` is among neither the
        true nor the predicted labels.

    Examples
    --------
    >>> import numpy as np
    >>> from sktorchcw.events import event_f1_score
    >>> y_true = [np.array([0, 1, 1, 1, 0, 0, 0]), np.array([0, 0, 1, 1, 0])]
    >>> y_pred = [np.array([0, 0, 1, 1, 0, 1, 0]), np.array([0, 0, 0, 0, 0])]
    >>> round(event_f1_score(y_true, y_pred), 3)  # tp 1, fp 1, fn 1
    0.5
    >>> event_f1_score([np.array(["open", "blink"])], [np.array(["open", "open"])])
    Traceback (most recent call last):
    ...
    ValueError: positive=1 is not a valid label: ...
    """
    true_rows, pred_rows = _checked_event_input(y_true, y_pred, positive, min_iou,
                                                min_frames, max_gap, "event_f1_score")
    return _event_counts(true_rows, pred_rows, positive, min_iou, min_frames, max_gap,
                         zero_division)["f1"]


def frame_balanced_accuracy_score(y_true, y_pred, *, sample_weight=None):
    """Balanced accuracy over every frame of many recordings: a scikit-learn score
    function.

    scikit-learn's :func:`~sklearn.metrics.balanced_accuracy_score` (the mean recall
    of the classes) on the frames of all recordings together; padding is never read.

    Parameters
    ----------
    y_true, y_pred : per-recording labels
        Per-frame labels of the same recordings, as in :func:`event_scores`.
    sample_weight : array-like, default=None
        One weight per recording, shape ``(n_recordings,)``, given to each of its
        frames, or one per frame in the structure of ``y`` (a list of arrays or a
        padded table, cut like the labels). Finite and non-negative.

    Returns
    -------
    score : float

    Raises
    ------
    ValueError
        For labels in no per-recording format, recordings whose true and predicted
        labels differ in number, or sample weights that do not fit the recordings.

    See Also
    --------
    frame_f1_score : F1 of the event class over all frames.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.metrics import make_scorer
    >>> from sktorchcw.events import frame_balanced_accuracy_score
    >>> y_true = [np.array(["open", "blink", "blink", "open"]), np.array(["open", "open"])]
    >>> y_pred = [np.array(["open", "blink", "open", "open"]), np.array(["open", "blink"])]
    >>> frame_balanced_accuracy_score(y_true, y_pred)  # (1/2 + 3/4) / 2
    0.625
    >>> scorer = make_scorer(frame_balanced_accuracy_score)  # for GridSearchCV(scoring=)
    """
    true_rows, pred_rows, weights = _scored_frames(y_true, y_pred, sample_weight)
    return float(_metrics.balanced_accuracy_score(
        _frames_of(true_rows), _frames_of(pred_rows), sample_weight=weights))


def frame_f1_score(y_true, y_pred, *, positive, sample_weight=None):
    """F1 of the event class over every frame of many recordings: a scikit-learn score
    function.

    scikit-learn's :func:`~sklearn.metrics.f1_score` of ``positive`` frames against all
    others (any number of classes), on the frames of all recordings together; padding
    is never read.

    Parameters
    ----------
    y_true, y_pred : per-recording labels
        Per-frame labels of the same recordings, as in :func:`event_scores`.
    positive : label
        The label of event frames (1, ``"blink"``, ...); required. It must be among
        the true or the predicted labels, as in :func:`event_scores`.
    sample_weight : array-like, default=None
        Per recording or per frame, as in :func:`frame_balanced_accuracy_score`.

    Returns
    -------
    f1 : float

    Raises
    ------
    ValueError
        As :func:`frame_balanced_accuracy_score`, and when ``positive`` is among
        neither the true nor the predicted labels.

    See Also
    --------
    event_f1_score : F1 of whole events rather than frames.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.metrics import make_scorer
    >>> from sktorchcw.events import frame_f1_score
    >>> y_true = [np.array(["open", "blink", "blink", "open"]), np.array(["open", "open"])]
    >>> y_pred = [np.array(["open", "blink", "open", "open"]), np.array(["open", "blink"])]
    >>> frame_f1_score(y_true, y_pred, positive="blink")  # tp 1, fp 1, fn 1
    0.5
    >>> scorer = make_scorer(frame_f1_score, positive="blink")  # for GridSearchCV(scoring=)
    """
    true_rows, pred_rows, weights = _scored_frames(y_true, y_pred, sample_weight)
    _check_positive(positive, true_rows, pred_rows, "frame_f1_score")
    return float(f1_score(_is_positive(_frames_of(true_rows), positive),
                          _is_positive(_frames_of(pred_rows), positive),
                          pos_label=True, sample_weight=weights))


def _checked_event_input(y_true, y_pred, positive, min_iou, min_frames, max_gap, scorer):
    _check_min_iou(min_iou)
    _check_count("min_frames", min_frames, minimum=1)
    _check_count("max_gap", max_gap, minimum=0)
    true_rows, pred_rows, _ = _labelled_rows(y_true, y_pred)
    _check_positive(positive, true_rows, pred_rows, scorer)
    return true_rows, pred_rows


def _event_counts(true_rows, pred_rows, positive, min_iou, min_frames, max_gap,
                  zero_division):
    tp = fp = fn = 0
    for true_labels, pred_labels in zip(true_rows, pred_rows, strict=True):
        truth = _events_of(true_labels, positive, 1, 0)
        detected = _events_of(pred_labels, positive, min_frames, max_gap)
        hits = len(_match(truth, detected, min_iou))
        tp, fp, fn = tp + hits, fp + len(detected) - hits, fn + len(truth) - hits
    return _scores(tp, fp, fn, zero_division)


def _events_of(labels, positive, min_frames, max_gap):
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels of one sequence must be 1-D; got shape {labels.shape}.")
    inside = np.concatenate([[False], _is_positive(labels, positive), [False]])
    edges = np.flatnonzero(inside[1:] != inside[:-1])
    runs = list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
    merged: list[tuple[int, int]] = []
    for start, stop in runs:
        if merged and start - merged[-1][1] <= max_gap:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return [(start, stop) for start, stop in merged if stop - start >= min_frames]


def _match(true_events, pred_events, min_iou):
    if not true_events or not pred_events:
        return []
    iou = _iou_matrix(np.asarray(true_events), np.asarray(pred_events))
    allowed = iou >= min_iou
    # More matches first, then more overlap: each allowed pair is worth more than the IoU
    # all pairs together can add.
    worth = np.where(allowed, len(true_events) + len(pred_events) + iou, 0.0)
    rows, columns = linear_sum_assignment(worth, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, columns, strict=True) if allowed[r, c]]


def _iou_matrix(true_events, pred_events):
    starts = np.maximum(true_events[:, None, 0], pred_events[None, :, 0])
    stops = np.minimum(true_events[:, None, 1], pred_events[None, :, 1])
    intersection = np.clip(stops - starts, 0, None)
    lengths_true = (true_events[:, 1] - true_events[:, 0])[:, None]
    lengths_pred = (pred_events[:, 1] - pred_events[:, 0])[None, :]
    return intersection / (lengths_true + lengths_pred - intersection)


def _scores(tp, fp, fn, zero_division):
    precision = tp / (tp + fp) if tp + fp else _undefined("precision", "detections",
                                                           zero_division)
    recall = tp / (tp + fn) if tp + fn else _undefined("recall", "true events",
                                                       zero_division)
    denominator = 2 * tp + fp + fn
    f1 = 2 * tp / denominator if denominator else _undefined(
        "F1", "true events or detections", zero_division)
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}


def _undefined(score, missing, zero_division):
    """The value of a score with nothing to divide by, as scikit-learn's zero_division."""
    if isinstance(zero_division, str):
        if zero_division != "warn":
            raise ValueError(f"zero_division must be 'warn', 0.0, 1.0 or np.nan; got "
                             f"{zero_division!r}.")
        warn_at_caller(f"Event {score} is ill-defined and set to 0.0: there are no "
                       f"{missing}. Use zero_division to choose the value.",
                       UndefinedMetricWarning)
        return 0.0
    if not (zero_division in (0, 1) or np.isnan(zero_division)):
        raise ValueError(f"zero_division must be 'warn', 0.0, 1.0 or np.nan; got "
                         f"{zero_division!r}.")
    return float(zero_division)


def _sequences_of(labels):
    """The rows of a collection of sequences, or None for one sequence."""
    if isinstance(labels, np.ndarray) and labels.dtype != object:
        return list(labels) if labels.ndim == 2 else None
    if isinstance(labels, (list, tuple)) and labels and np.ndim(labels[0]) >= 1:
        return [np.asarray(row) for row in labels]
    if isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.size and np.ndim(
            labels[0]) >= 1:
        return [np.asarray(row) for row in labels]
    return None


def _paired_rows(y_true, y_pred):
    """The rows of ``y_true`` and ``y_pred``, one pair per recording, of equal lengths:
    a padded side is cut to the lengths of the other side's rows."""
    true = label_rows(y_true, name="y_true")
    pred = label_rows(y_pred, name="y_pred")
    if len(true) != len(pred):
        raise ValueError(
            f"y_true ({true.description}) has {len(true)} recordings but y_pred "
            f"({pred.description}) has {len(pred)}; score the predictions of the same "
            "recordings."
        )
    if not len(true):
        raise ValueError("y_true and y_pred hold no recordings; there is nothing to score.")
    if true.padded and pred.padded:
        true_shape = (len(true), len(true.rows[0]))
        pred_shape = (len(pred), len(pred.rows[0]))
        if true_shape != pred_shape:
            raise ValueError(
                f"y_true ({true.description}) and y_pred ({pred.description}) are padded "
                "tables of different shapes, so the recordings' lengths are unknown; give "
                "one side as a list of per-recording arrays of their own lengths."
            )
        return true.rows, pred.rows
    if true.padded:
        lengths = [len(row) for row in pred.rows]
        return true.trimmed(lengths, name="y_true", against="y_pred[{index}]"), pred.rows
    if pred.padded:
        lengths = [len(row) for row in true.rows]
        return true.rows, pred.trimmed(lengths, name="y_pred", against="y_true[{index}]")
    for index, (true_row, pred_row) in enumerate(zip(true.rows, pred.rows, strict=True)):
        if len(true_row) != len(pred_row):
            raise ValueError(
                f"Recording {index} has {len(true_row)} true labels (y_true[{index}]) but "
                f"{len(pred_row)} predicted ones (y_pred[{index}]); both need one label per "
                "frame of the recording. Are y_true and y_pred of the same recordings, in "
                "the same order?"
            )
    return true.rows, pred.rows


def _scored_frames(y_true, y_pred, sample_weight):
    """The paired rows without the frames whose true label is missing, and the sample
    weights of the frames kept (flat; None when not given)."""
    true_rows, pred_rows, kept = _labelled_rows(y_true, y_pred)
    lengths = [len(row) for row in true_rows] if kept is None else [len(k) for k in kept]
    weights = frame_weights(sample_weight, lengths, against="y_true[{index}]")
    if weights is not None and kept is not None:
        weights = np.asarray(weights)[np.concatenate(kept)]
    return true_rows, pred_rows, weights


def _labelled_rows(y_true, y_pred):
    """The rows of :func:`_paired_rows` without the frames whose true label is missing
    (None, NaN, ``pd.NA``), labels in a plain dtype, and which frames of each row were
    kept (None when every frame has its label)."""
    true_rows, pred_rows = _paired_rows(y_true, y_pred)
    kept = [_labelled(row) for row in true_rows]
    if all(mask is None for mask in kept):
        return [plain_labels(row) for row in true_rows], pred_rows, None
    kept = [np.ones(len(row), dtype=bool) if mask is None else mask
            for row, mask in zip(true_rows, kept, strict=True)]
    pairs = list(zip(true_rows, pred_rows, kept, strict=True))
    return ([plain_labels(np.asarray(true)[mask]) for true, _, mask in pairs],
            [np.asarray(pred)[mask] for _, pred, mask in pairs], kept)


def _labelled(row):
    """Which labels of ``row`` are there (not None, NaN or ``pd.NA``); None: all."""
    row = np.asarray(row)
    if row.dtype.kind == "f":
        there = ~np.isnan(row)
    elif row.dtype == object:
        there = ~pd.isna(row)
    else:
        return None
    return None if there.all() else there


def _frames_of(rows):
    """The labels of all recordings' frames, one after the other."""
    return np.concatenate([np.asarray(row) for row in rows])


def _is_positive(values, positive):
    """``values == positive`` element by element, False for labels of another type."""
    inside = np.asarray(values) == positive
    if np.ndim(inside) == 0:  # a comparison numpy could not make element-wise
        return np.zeros(np.shape(values), dtype=bool)
    return inside.astype(bool, copy=False)


def _check_positive(positive, true_rows, pred_rows, scorer):
    """Refuse a ``positive`` label found on neither side, as scikit-learn's ``f1_score``
    refuses a ``pos_label`` that is not a label: there is nothing to score, and any
    score (``zero_division``) would be one chosen by default, not measured."""
    if any(_is_positive(row, positive).any() for row in [*true_rows, *pred_rows]):
        return
    true_labels = _label_list(true_rows)
    pred_labels = _label_list(pred_rows)
    raise ValueError(
        f"positive={positive!r} is not a valid label: it is among neither the true labels "
        f"{true_labels} nor the predicted labels {pred_labels}, so there is nothing to "
        "score and any score would be meaningless. Name the event label, e.g. "
        f"make_scorer({scorer}, positive='blink'); if it is right, these recordings hold no "
        "event and none was detected: score folds that hold events (fewer splits, or "
        "groups that spread the events)."
    )


def _kind(label):
    if isinstance(label, (str, bytes)):
        return "text"
    if isinstance(label, (Real, np.bool_)):
        return "number"
    return type(label).__name__


def _label_list(rows, most=10):
    """The distinct labels of ``rows``, sorted where they can be, as plain values."""
    labels = pd.unique(_frames_of(rows)) if rows else []
    labels = [label.item() if isinstance(label, np.generic) else label for label in labels]
    try:
        labels = sorted(labels)
    except TypeError:
        pass
    return labels if len(labels) <= most else [*labels[:most], "..."]


def _check_events(name, events):
    checked = []
    for event in events:
        try:
            start, stop = event
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be (start, stop) pairs of frame indices; got "
                             f"{event!r}.") from None
        if not all(isinstance(value, Integral) and not isinstance(value, bool)
                   for value in (start, stop)):
            raise ValueError(
                f"{name} holds {_plain_event(event)!r}: event bounds are frame indices, "
                "integers (Python or numpy ints, not floats or bools); round or convert "
                "them first, e.g. (int(start), int(stop))."
            )
        start, stop = int(start), int(stop)
        if stop <= start or start < 0:
            raise ValueError(f"{name} holds {event!r}: an event needs 0 <= start < stop "
                             "(half-open frame intervals).")
        checked.append((start, stop))
    return checked


def _plain_event(event):
    values = np.asarray(event).tolist() if isinstance(event, np.ndarray) else event
    return tuple(value.item() if isinstance(value, np.generic) else value for value in values)


def _check_count(name, value, *, minimum):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")


def _check_min_iou(min_iou):
    if isinstance(min_iou, bool) or not isinstance(min_iou, Real) or not 0 < float(min_iou) <= 1:
        raise ValueError(f"min_iou must be a number in (0, 1]; got {min_iou!r}.")
