"""Events from frame labels, one-to-one matching by IoU, and event F1 as a scorer."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, GroupKFold

from sktorchcw import LSTMBlinkTagger
from sktorchcw.events import (
    event_f1_score,
    event_scores,
    frame_balanced_accuracy_score,
    frame_f1_score,
    frames_to_events,
    match_events,
)


def test_runs_become_half_open_intervals():
    assert frames_to_events([1, 1, 0, 1, 0, 0, 1, 1, 1]) == [(0, 2), (3, 4), (6, 9)]
    assert frames_to_events([0, 0, 0]) == []
    assert frames_to_events(["open", "blink", "blink"], positive="blink") == [(1, 3)]


def test_gaps_merge_before_short_events_are_dropped():
    labels = [1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 1]
    assert frames_to_events(labels, max_gap=1) == [(0, 3), (6, 7), (9, 11)]
    assert frames_to_events(labels, max_gap=2) == [(0, 3), (6, 11)]
    assert frames_to_events(labels, max_gap=1, min_frames=2) == [(0, 3), (9, 11)]


def test_several_sequences_give_one_list_each():
    assert frames_to_events(np.array([[0, 1, 1], [1, 0, 1]])) == [[(1, 3)], [(0, 1), (2, 3)]]


def test_a_detection_matches_at_most_one_true_event():
    # One long detection over two blinks: one hit, one miss.
    result = match_events([(10, 20), (22, 30)], [(10, 30)], min_iou=0.2)
    assert (result["tp"], result["fp"], result["fn"]) == (1, 0, 1)


def test_matching_maximises_the_number_of_hits_not_greedy_overlap():
    # IoU: true 0 ~ pred 0 0.50, true 0 ~ pred 1 0.54, true 1 ~ pred 1 0.29. Greedy by IoU
    # pairs true 0 with pred 1 and leaves the others unmatched; the best assignment
    # matches both.
    true_events = [(0, 10), (8, 20)]
    pred_events = [(0, 5), (3, 13)]
    result = match_events(true_events, pred_events, min_iou=0.25)
    assert result["tp"] == 2
    assert sorted(result["matches"]) == [(0, 0), (1, 1)]


def test_min_iou_is_inclusive():
    assert match_events([(0, 10)], [(5, 10)], min_iou=0.5)["tp"] == 1
    assert match_events([(0, 10)], [(5, 10)], min_iou=0.51)["tp"] == 0


def test_nothing_to_divide_by_follows_scikit_learns_zero_division():
    # Never a perfect score by default: 0.0 with scikit-learn's warning, as precision_score.
    with pytest.warns(UndefinedMetricWarning, match="F1 is ill-defined"):
        assert match_events([], [])["f1"] == 0.0
    assert match_events([], [], zero_division=1.0)["f1"] == 1.0
    assert np.isnan(match_events([], [], zero_division=np.nan)["f1"])
    with pytest.warns(UndefinedMetricWarning, match="precision is ill-defined"):
        result = match_events([(0, 3)], [])
    assert result["recall"] == 0.0 and result["precision"] == 0.0
    with pytest.raises(ValueError, match="zero_division must be"):
        match_events([], [], zero_division="perfect")


def test_a_model_that_finds_nothing_has_precision_zero():
    y_true = [np.array([0, 1, 1, 0]), np.array([0, 0, 1, 0])]
    nothing = [np.zeros(4, dtype=int), np.zeros(4, dtype=int)]
    with pytest.warns(UndefinedMetricWarning):
        scores = event_scores(y_true, nothing)
    assert (scores["precision"], scores["recall"], scores["f1"]) == (0.0, 0.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert event_scores(y_true, nothing, zero_division=0.0)["precision"] == 0.0


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
def test_scorers_leave_out_frames_without_a_true_label(missing):
    y_true = [np.array([0, 1, missing, 1, 0], dtype=object), np.array([1, 1, 0], dtype=object)]
    y_pred = [np.array([0, 1, 0, 1, 0]), np.array([1, 0, 0])]
    clean_true = [np.array([0, 1, 1, 0]), np.array([1, 1, 0])]
    clean_pred = [np.array([0, 1, 1, 0]), np.array([1, 0, 0])]
    # the missing frame is taken out of both sides: the two halves are one blink
    assert event_scores(y_true, y_pred)["tp"] == 2
    assert frame_balanced_accuracy_score(y_true, y_pred) == pytest.approx(
        frame_balanced_accuracy_score(clean_true, clean_pred))
    assert frame_f1_score(y_true, y_pred, positive=1) == pytest.approx(
        frame_f1_score(clean_true, clean_pred, positive=1))
    weights = [np.array([1, 1, 5, 1, 1.0]), np.array([1, 2, 1.0])]
    assert frame_balanced_accuracy_score(y_true, y_pred, sample_weight=weights) == \
        pytest.approx(frame_balanced_accuracy_score(
            clean_true, clean_pred, sample_weight=[np.ones(4), np.array([1, 2, 1.0])]))


def test_event_scores_sum_hits_over_sequences():
    y_true = [np.array([0, 1, 1, 0, 0, 1, 1]), np.array([1, 1, 0, 0])]
    y_pred = [np.array([0, 1, 1, 0, 0, 0, 0]), np.array([1, 0, 0, 1])]
    scores = event_scores(y_true, y_pred, min_iou=0.5)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (2, 1, 1)
    assert scores["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert event_f1_score(y_true, y_pred, min_iou=0.5) == scores["f1"]


def test_min_frames_and_max_gap_clean_the_detections_only():
    y_true = [np.array([0, 1, 0, 0, 0, 1, 1, 1, 1, 0])]
    flicker = [np.array([0, 0, 0, 0, 0, 1, 0, 1, 1, 0])]
    assert event_scores(y_true, flicker)["fp"] == 1  # (5, 6) and (7, 9): one hit, one extra
    cleaned = event_scores(y_true, flicker, max_gap=1)
    assert (cleaned["tp"], cleaned["fp"], cleaned["fn"]) == (1, 0, 1)


@pytest.mark.parametrize("call, match", [
    (lambda: match_events([(5, 5)], []), "0 <= start < stop"),
    (lambda: match_events([(0, 1)], [(0, 1)], min_iou=0), r"min_iou must be a number in \(0, 1\]"),
    (lambda: frames_to_events([0, 1], min_frames=0), "min_frames must be an integer >= 1"),
    (lambda: event_scores([np.ones(3)], [np.ones(4)]),
     r"Recording 0 has 3 true labels \(y_true\[0\]\) but 4 predicted"),
    (lambda: event_scores([np.ones(3)], np.ones(3)), r"y_pred has shape \(3,\): one value per"),
], ids=["empty-event", "min_iou", "min_frames", "lengths", "not-sequences"])
def test_bad_arguments_are_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_grid_search_over_class_weight_by_video_scored_by_event_f1():
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(length, 2)) for length in rng.integers(30, 60, size=24)]
    y = [(x[:, 0] > 1.2).astype(int) for x in X]
    videos = np.repeat(np.arange(6), 4)
    search = GridSearchCV(
        LSTMBlinkTagger(max_epochs=3, hidden_size=8, device="cpu", random_state=0),
        {"class_weight": [None, "balanced"]},
        scoring=make_scorer(event_f1_score, min_iou=0.3),
        cv=GroupKFold(n_splits=3), error_score="raise",
    )
    search.fit(X, y, groups=videos)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and (0 <= scores).all() and (scores <= 1).all()


# --- scorers that cannot silently lie ---------------------------------------------------

OPEN_BLINK_TRUE = [np.array(["open", "blink", "blink", "open"]), np.array(["open", "open"])]
OPEN_BLINK_PRED = [np.array(["open", "open", "open", "open"]), np.array(["open", "blink"])]


@pytest.mark.parametrize("scorer", [event_scores, event_f1_score])
def test_event_scorers_refuse_a_positive_label_found_nowhere(scorer):
    # Before: positive=1 found no event on either side and zero_division answered 1.0.
    with pytest.raises(ValueError, match=(
            r"positive=1 is not a valid label: it is among neither the true labels "
            r"\['blink', 'open'\] nor the predicted labels \['blink', 'open'\].*"
            r"make_scorer\(event_\w+, positive='blink'\)")):
        scorer(OPEN_BLINK_TRUE, OPEN_BLINK_PRED)


def test_a_positive_label_found_on_one_side_only_is_scored():
    only_predicted = event_scores([np.array(["open", "open"])], [np.array(["open", "blink"])],
                                  positive="blink")
    assert (only_predicted["tp"], only_predicted["fp"], only_predicted["fn"]) == (0, 1, 0)
    assert event_f1_score(OPEN_BLINK_TRUE, OPEN_BLINK_PRED, positive="blink") == 0.0


def test_a_fold_without_any_event_cannot_score_events():
    # As scikit-learn's f1_score with a pos_label that is not a label: a score would be
    # zero_division's default, the same for every candidate of a search.
    with pytest.raises(ValueError, match=r"positive=1 is not a valid label.*hold no event"):
        event_f1_score([np.zeros(4, dtype=int)], [np.zeros(4, dtype=int)])
    no_blinks = [np.array(["open", "open"])]
    with pytest.raises(ValueError, match=r"positive='blink' is not a valid label.*\['open'\]"):
        event_f1_score(no_blinks, no_blinks, positive="blink")
    with pytest.raises(ValueError, match=r"positive=1 is not a valid label.*\['open'\]"):
        event_f1_score(no_blinks, no_blinks)
    assert event_f1_score(no_blinks, [np.array(["open", "blink"])], positive="blink") == 0.0


def test_boolean_labels_take_the_default_positive():
    y = [np.array([False, True, True, False])]
    assert event_f1_score(y, y) == 1.0


@pytest.mark.parametrize("kwargs, match", [
    ({"min_frames": 0}, "min_frames must be an integer >= 1; got 0"),
    ({"min_frames": -3}, "min_frames must be an integer >= 1; got -3"),
    ({"min_frames": True}, "min_frames must be an integer >= 1; got True"),
    ({"min_frames": 2.0}, "min_frames must be an integer >= 1; got 2.0"),
    ({"max_gap": -1}, "max_gap must be an integer >= 0; got -1"),
    ({"max_gap": 1.5}, "max_gap must be an integer >= 0; got 1.5"),
    ({"max_gap": False}, "max_gap must be an integer >= 0; got False"),
    ({"min_iou": 0}, r"min_iou must be a number in \(0, 1\]"),
    ({"min_iou": 1.5}, r"min_iou must be a number in \(0, 1\]"),
], ids=["min_frames-0", "min_frames-neg", "min_frames-bool", "min_frames-float",
        "max_gap-neg", "max_gap-float", "max_gap-bool", "min_iou-0", "min_iou-big"])
@pytest.mark.parametrize("scorer", [event_scores, event_f1_score])
def test_event_scorers_check_their_counts_like_frames_to_events(scorer, kwargs, match):
    y = [np.array([0, 1, 1, 0])]
    with pytest.raises(ValueError, match=match):
        scorer(y, y, **kwargs)
    with pytest.raises(ValueError, match=match):
        scorer([np.array(["open"])], [np.array(["open"])], **kwargs)  # checked first


def test_event_scorers_take_numpy_integer_counts():
    y = [np.array([0, 1, 1, 0, 1])]
    assert event_f1_score(y, y, min_frames=np.int64(1), max_gap=np.int32(0)) == 1.0


@pytest.mark.parametrize("event", [(1.5, 3), (1, 3.0), (True, 3), ("1", 3), (np.float64(1), 3)])
def test_match_events_refuses_bounds_that_are_not_integers(event):
    # Before: int() truncated (1.5, 3) to (1, 3) and took True for 1.
    with pytest.raises(ValueError, match="event bounds are frame indices, integers"):
        match_events([event], [(0, 3)])
    with pytest.raises(ValueError, match="event bounds are frame indices, integers"):
        match_events([(0, 3)], [event])


def test_match_events_takes_numpy_integer_bounds():
    events = np.array([[1, 3], [5, 9]])
    result = match_events(events, [(np.int64(1), np.int32(3))])
    assert (result["tp"], result["fp"], result["fn"]) == (1, 0, 1)
