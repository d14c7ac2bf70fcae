"""The tagger's decision rule: from per-frame probabilities to frame labels, tuned for
events.

A frame is positive (the blink label) when the probability of the positive class exceeds
``threshold`` (None: when that class is the most probable); detections of fewer than
``min_event_frames`` frames are dropped after runs at most ``max_gap_frames`` apart are
merged (the order and meaning of :func:`sktorchcw.events.event_scores`'s ``max_gap`` and
``min_frames``). Frames that stop being positive get the most probable other class.

``'auto'`` values are chosen to maximise event F1 over the grids below, on recordings
with known labels (:func:`tune`).
"""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

__all__ = ["Decision", "THRESHOLDS", "MIN_EVENT_FRAMES", "MAX_GAP_FRAMES",
           "check_decision_parameters", "tune"]

# The grids 'auto' searches (documented in LSTMBlinkTagger's docstring).
THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(1, 20))  # 0.05 .. 0.95
MIN_EVENT_FRAMES = (1, 2, 3, 4, 5, 6, 8, 10)
MAX_GAP_FRAMES = (0, 1, 2, 3, 4, 6)


@dataclass(frozen=True)
class Decision:
    """A decision rule: ``positive`` the class index of event frames."""

    positive: int
    threshold: float | None = None
    min_event_frames: int = 1
    max_gap_frames: int = 0

    @property
    def is_argmax(self):
        """Whether the rule is the plain most probable class of every frame."""
        return (self.threshold is None and self.min_event_frames == 1
                and self.max_gap_frames == 0)

    def codes(self, proba):
        """Class indices of the frames of one recording, ``proba`` ``(T, n_classes)``."""
        most_probable = proba.argmax(axis=-1)
        if self.is_argmax:
            return most_probable
        positive = _cleaned(self.positive_frames(proba), self.min_event_frames,
                            self.max_gap_frames)
        others = proba.copy()
        others[:, self.positive] = -np.inf
        return np.where(positive, self.positive, others.argmax(axis=-1))

    def positive_frames(self, proba):
        """The frames above the threshold (or whose most probable class is positive)."""
        if self.threshold is None:
            return proba.argmax(axis=-1) == self.positive
        return proba[:, self.positive] > self.threshold


def check_decision_parameters(threshold, min_event_frames, max_gap_frames, event_min_iou,
                              n_classes=None):
    """A ValueError or TypeError, with the fix, for values the decision cannot use;
    ``n_classes`` (once known) refuses a threshold for more than two classes."""
    if not (threshold is None or threshold == "auto" or (
            isinstance(threshold, Real) and not isinstance(threshold, bool)
            and 0.0 <= float(threshold) < 1.0)):
        raise ValueError(f"threshold must be None, 'auto' or a probability in [0, 1); got "
                         f"{threshold!r}.")
    _check_frames("min_event_frames", min_event_frames, minimum=1)
    _check_frames("max_gap_frames", max_gap_frames, minimum=0)
    if not (isinstance(event_min_iou, Real) and not isinstance(event_min_iou, bool)
            and 0.0 < float(event_min_iou) <= 1.0):
        raise ValueError(f"event_min_iou must be a number in (0, 1]; got {event_min_iou!r}.")
    if threshold is not None and n_classes is not None and n_classes > 2:
        raise ValueError(
            f"threshold={threshold!r} applies to binary taggers only (the probability of the "
            f"positive class against the other); y has {n_classes} classes. Use "
            "threshold=None (the most probable class); min_event_frames and max_gap_frames "
            "still clean the positive class's events.")


def _check_frames(name, value, *, minimum):
    if value == "auto":
        return
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be 'auto' or an integer >= {minimum}; got {value!r}.")


def tune(probabilities, truths, positive, *, threshold, min_event_frames, max_gap_frames,
         min_iou):
    """The decision with the best event F1 on recordings with known labels.

    ``probabilities``: one ``(T_i, n_classes)`` array per recording; ``truths``: one
    boolean ``(T_i,)`` array per recording (True on event frames), missing frames already
    taken out of both. Each of ``threshold``, ``min_event_frames`` and
    ``max_gap_frames`` is searched over its grid when ``'auto'``, else kept. Ties go to
    the fewest frames dropped and merged, then the threshold nearest 0.5.

    Returns ``(decision, f1)``.
    """
    thresholds = THRESHOLDS if threshold == "auto" else (threshold,)
    minimums = MIN_EVENT_FRAMES if min_event_frames == "auto" else (int(min_event_frames),)
    gaps = MAX_GAP_FRAMES if max_gap_frames == "auto" else (int(max_gap_frames),)
    true_events = [_runs(truth) for truth in truths]
    best, best_key = None, None
    for value in thresholds:
        rule = Decision(positive, value)
        raw = [rule.positive_frames(proba) for proba in probabilities]
        for gap in gaps:
            merged = [_merged(*_runs(frames), max_gap=gap) for frames in raw]
            for minimum in minimums:
                f1 = _event_f1(true_events, merged, minimum, min_iou)
                key = (f1, -minimum, -gap, -abs(0.5 - (0.5 if value is None else value)))
                if best_key is None or key > best_key:
                    best_key = key
                    best = Decision(positive, value, minimum, gap)
    assert best is not None and best_key is not None  # every grid has a value
    return best, best_key[0]


def _event_f1(true_events, detections, minimum, min_iou):
    tp = fp = fn = 0
    for (true_starts, true_stops), (starts, stops) in zip(true_events, detections,
                                                          strict=True):
        keep = stops - starts >= minimum
        found_starts, found_stops = starts[keep].tolist(), stops[keep].tolist()
        hits = _hits(true_starts.tolist(), true_stops.tolist(), found_starts, found_stops,
                     min_iou)
        tp, fp, fn = tp + hits, fp + len(found_starts) - hits, fn + len(true_starts) - hits
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else 0.0


def _hits(true_starts, true_stops, starts, stops, min_iou):
    """How many one-to-one matches :func:`sktorchcw.events.match_events` finds between
    two sorted lists of disjoint events, in one pass: such events can only match in
    order (the pairs never cross), so taking each matching pair as it comes is a
    largest matching, without the assignment solver (tested against it)."""
    hits = i = j = 0
    while i < len(true_starts) and j < len(starts):
        if stops[j] <= true_starts[i]:
            j += 1
        elif true_stops[i] <= starts[j]:
            i += 1
        else:
            overlap = min(stops[j], true_stops[i]) - max(starts[j], true_starts[i])
            union = max(stops[j], true_stops[i]) - min(starts[j], true_starts[i])
            if overlap / union >= min_iou:
                hits, i, j = hits + 1, i + 1, j + 1
            elif true_stops[i] <= stops[j]:
                i += 1  # the detection reaches past this event: no later one meets it
            else:
                j += 1
    return hits


def _runs(frames) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, stops)`` of the runs of True in a boolean row."""
    inside = np.concatenate([[False], np.asarray(frames, dtype=bool), [False]])
    edges = np.flatnonzero(inside[1:] != inside[:-1])
    return edges[::2], edges[1::2]


def _merged(starts, stops, max_gap):
    """Runs at most ``max_gap`` frames apart joined into one."""
    if len(starts) < 2 or max_gap == 0:
        return starts, stops
    apart = starts[1:] - stops[:-1] > max_gap
    first = np.concatenate([[True], apart])
    last = np.concatenate([apart, [True]])
    return starts[first], stops[last]


def _cleaned(frames, min_event_frames, max_gap_frames):
    """The boolean row with runs merged across small gaps and short runs dropped."""
    starts, stops = _merged(*_runs(frames), max_gap=max_gap_frames)
    keep = stops - starts >= min_event_frames
    cleaned = np.zeros(len(frames), dtype=bool)
    for start, stop in zip(starts[keep].tolist(), stops[keep].tolist(), strict=True):
        cleaned[start:stop] = True
    return cleaned
