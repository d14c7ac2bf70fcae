"""From per-frame labels to events (blinks), and scores that count events, not frames.

An event is a half-open frame interval ``(start, stop)``: frames ``start`` to
``stop - 1``. A detection matches at most one true event and a true event at most one
detection, by their intersection over union (IoU); the matching maximises the number of
matched pairs, then their total IoU.
"""

from numbers import Integral, Real

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["frames_to_events", "match_events", "event_f1_score", "event_scores"]


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


def match_events(true_events, pred_events, min_iou=0.2, *, zero_division=1.0):
    """Match detected events to true events one to one and count the hits.

    Parameters
    ----------
    true_events, pred_events : list of (start, stop)
        The events of one sequence (see :func:`frames_to_events`).
    min_iou : float, default=0.2
        A detection and a true event may match when their intersection over union is
        at least this, in (0, 1].
    zero_division : float, default=1.0
        Precision without detections, recall without true events (nothing to find and
        nothing found is perfect).

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
                 zero_division=1.0):
    """Event precision, recall and F1 over many sequences of per-frame labels.

    True events are the runs of ``positive`` frames in ``y_true``; detections are those
    of ``y_pred`` after ``max_gap`` merging and ``min_frames`` filtering. Hits are
    counted per sequence (:func:`match_events`) and summed.

    Parameters
    ----------
    y_true, y_pred : list of arrays of shape (n_frames_i,), or 2-D arrays
        Per-frame labels of the same sequences (``LSTMBlinkTagger.predict`` gives
        ``y_pred`` in the structure of its input).
    positive, min_iou, min_frames, max_gap, zero_division
        As in :func:`frames_to_events` and :func:`match_events`.

    Returns
    -------
    result : dict
        ``tp``, ``fp``, ``fn``, ``precision``, ``recall``, ``f1``.
    """
    _check_min_iou(min_iou)
    true_rows, pred_rows = _paired_rows(y_true, y_pred)
    tp = fp = fn = 0
    for true_labels, pred_labels in zip(true_rows, pred_rows, strict=True):
        truth = _events_of(true_labels, positive, 1, 0)
        detected = _events_of(pred_labels, positive, min_frames, max_gap)
        hits = len(_match(truth, detected, min_iou))
        tp, fp, fn = tp + hits, fp + len(detected) - hits, fn + len(truth) - hits
    return _scores(tp, fp, fn, zero_division)


def event_f1_score(y_true, y_pred, *, positive=1, min_iou=0.2, min_frames=1, max_gap=0,
                   zero_division=1.0):
    """Event F1 over many sequences of per-frame labels: a scikit-learn score function.

    Parameters as for :func:`event_scores`. Use it in a grid search with
    ``make_scorer(event_f1_score, min_iou=0.3)``.

    Returns
    -------
    f1 : float

    Examples
    --------
    >>> import numpy as np
    >>> from sktorchcw.events import event_f1_score
    >>> y_true = [np.array([0, 1, 1, 1, 0, 0, 0]), np.array([0, 0, 1, 1, 0])]
    >>> y_pred = [np.array([0, 0, 1, 1, 0, 1, 0]), np.array([0, 0, 0, 0, 0])]
    >>> round(event_f1_score(y_true, y_pred), 3)  # tp 1, fp 1, fn 1
    0.5
    """
    return event_scores(y_true, y_pred, positive=positive, min_iou=min_iou,
                        min_frames=min_frames, max_gap=max_gap,
                        zero_division=zero_division)["f1"]


def _events_of(labels, positive, min_frames, max_gap):
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels of one sequence must be 1-D; got shape {labels.shape}.")
    inside = np.concatenate([[False], labels == positive, [False]])
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
    precision = tp / (tp + fp) if tp + fp else float(zero_division)
    recall = tp / (tp + fn) if tp + fn else float(zero_division)
    denominator = 2 * tp + fp + fn
    f1 = 2 * tp / denominator if denominator else float(zero_division)
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}


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
    true_rows = _sequences_of(y_true)
    pred_rows = _sequences_of(y_pred)
    if true_rows is None or pred_rows is None:
        raise ValueError(
            "y_true and y_pred must hold sequences of per-frame labels (a list of 1-D arrays "
            "or a 2-D array); for one sequence wrap it in a list."
        )
    if len(true_rows) != len(pred_rows):
        raise ValueError(f"y_true has {len(true_rows)} sequences but y_pred has "
                         f"{len(pred_rows)}.")
    for index, (true_row, pred_row) in enumerate(zip(true_rows, pred_rows, strict=True)):
        if len(true_row) != len(pred_row):
            raise ValueError(f"Sequence {index} has {len(true_row)} true labels but "
                             f"{len(pred_row)} predicted ones.")
    return true_rows, pred_rows


def _check_events(name, events):
    checked = []
    for event in events:
        try:
            start, stop = (int(value) for value in event)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be (start, stop) pairs of frame indices; got "
                             f"{event!r}.") from None
        if stop <= start or start < 0:
            raise ValueError(f"{name} holds {event!r}: an event needs 0 <= start < stop "
                             "(half-open frame intervals).")
        checked.append((start, stop))
    return checked


def _check_count(name, value, *, minimum):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")


def _check_min_iou(min_iou):
    if isinstance(min_iou, bool) or not isinstance(min_iou, Real) or not 0 < float(min_iou) <= 1:
        raise ValueError(f"min_iou must be a number in (0, 1]; got {min_iou!r}.")
