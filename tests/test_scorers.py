"""The scorers of sktorchcw.events on every per-recording label format, paired by the
recordings' lengths, and in scikit-learn's model selection with the tagger."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, make_scorer
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from sktorchcw import LSTMBlinkTagger
from sktorchcw.datasets import make_blink_recordings
from sktorchcw.events import (
    event_f1_score,
    event_scores,
    frame_balanced_accuracy_score,
    frame_f1_score,
)

# Three recordings of 5, 3 and 4 frames.
TRUE_ROWS = [
    np.array(["open", "blink", "blink", "open", "open"]),
    np.array(["blink", "open", "open"]),
    np.array(["open", "open", "blink", "blink"]),
]
PRED_ROWS = [
    np.array(["open", "blink", "open", "open", "blink"]),
    np.array(["open", "open", "open"]),
    np.array(["open", "blink", "blink", "blink"]),
]
# Padding that would change every score if it were read: the event label itself.
PAD = "blink"


def padded_array(rows, pad=PAD):
    table = np.full((len(rows), max(map(len, rows)) + 2), pad, dtype=object)
    for index, row in enumerate(rows):
        table[index, : len(row)] = row
    return table


def object_array(rows):
    array = np.empty(len(rows), dtype=object)
    array[:] = rows
    return array


FORMATS = {
    "list": lambda rows: list(rows),
    "tuple-of-series": lambda rows: tuple(pd.Series(row) for row in rows),
    "object-array": object_array,
    "series-of-arrays": lambda rows: pd.Series(list(rows)),
    "dataframe-column": lambda rows: pd.DataFrame({"labels": list(rows)}),
    "padded-array": padded_array,
    "padded-array-nan": lambda rows: padded_array(rows, pad=np.nan),
    "padded-dataframe": lambda rows: pd.DataFrame(padded_array(rows, pad=None)),
}
PADDED = {"padded-array", "padded-array-nan", "padded-dataframe"}
FORMAT_PAIRS = [(t, p) for t in FORMATS for p in FORMATS if not (t in PADDED and p in PADDED)]

SCORERS = {
    "event_scores": lambda t, p, **kw: event_scores(t, p, positive="blink", **kw),
    "event_f1": lambda t, p, **kw: event_f1_score(t, p, positive="blink", **kw),
    "frame_bacc": frame_balanced_accuracy_score,
    "frame_f1": lambda t, p, **kw: frame_f1_score(t, p, positive="blink", **kw),
}


def expected_frame_scores():
    true, pred = np.concatenate(TRUE_ROWS), np.concatenate(PRED_ROWS)
    return balanced_accuracy_score(true, pred), f1_score(true, pred, pos_label="blink")


@pytest.mark.parametrize(("true_format", "pred_format"), FORMAT_PAIRS)
def test_every_label_format_scores_like_lists_padding_never_read(true_format, pred_format):
    y_true = FORMATS[true_format](TRUE_ROWS)
    y_pred = FORMATS[pred_format](PRED_ROWS)
    events = event_scores(y_true, y_pred, positive="blink", min_iou=0.3)
    assert (events["tp"], events["fp"], events["fn"]) == (2, 1, 1)
    assert event_f1_score(y_true, y_pred, positive="blink", min_iou=0.3) == events["f1"]
    bacc, f1 = expected_frame_scores()
    assert frame_balanced_accuracy_score(y_true, y_pred) == pytest.approx(bacc)
    assert frame_f1_score(y_true, y_pred, positive="blink") == pytest.approx(f1)


def test_two_padded_tables_of_one_shape_are_scored_whole():
    y_true = np.array([[0, 1, 1, 0], [1, 0, 0, 0]])
    y_pred = pd.DataFrame([[0, 1, 0, 0], [1, 0, 0, 1]])
    assert event_scores(y_true, y_pred, min_iou=0.5)["fp"] == 1
    assert frame_f1_score(y_true, y_pred, positive=1) == pytest.approx(
        f1_score(y_true.ravel(), y_pred.to_numpy().ravel()))


@pytest.mark.parametrize("scorer", list(SCORERS.values()), ids=list(SCORERS))
def test_rows_of_their_own_lengths_must_agree_naming_the_recording(scorer):
    short = [TRUE_ROWS[0], TRUE_ROWS[1][:2], TRUE_ROWS[2]]
    with pytest.raises(ValueError, match=(r"Recording 1 has 2 true labels \(y_true\[1\]\) but "
                                          r"3 predicted ones \(y_pred\[1\]\)")):
        scorer(short, PRED_ROWS)


@pytest.mark.parametrize("scorer", list(SCORERS.values()), ids=list(SCORERS))
def test_a_padded_side_shorter_than_a_recording_is_refused(scorer):
    y_true = np.array([["open"] * 4, ["blink"] * 4, ["open"] * 4])  # recording 0 has 5 frames
    with pytest.raises(ValueError, match=r"y_true\[0\] has 4 values but y_pred\[0\] has 5 "
                                         r"frames.*never shorter"):
        scorer(y_true, PRED_ROWS)
    with pytest.raises(ValueError, match=r"y_pred\[0\] has 4 values but y_true\[0\] has 5"):
        scorer(TRUE_ROWS, y_true)


@pytest.mark.parametrize("scorer", list(SCORERS.values()), ids=list(SCORERS))
def test_padded_tables_of_different_shapes_are_refused(scorer):
    with pytest.raises(ValueError, match="padded tables of different shapes"):
        scorer(padded_array(TRUE_ROWS), padded_array(PRED_ROWS)[:, :-1])


@pytest.mark.parametrize("scorer", list(SCORERS.values()), ids=list(SCORERS))
def test_different_numbers_of_recordings_are_refused(scorer):
    with pytest.raises(ValueError, match=r"y_true \(a list of 3 per-recording rows\) has 3 "
                                         r"recordings but y_pred .* has 2"):
        scorer(TRUE_ROWS, padded_array(PRED_ROWS[:2]))


@pytest.mark.parametrize("scorer", list(SCORERS.values()), ids=list(SCORERS))
def test_one_label_per_recording_is_refused(scorer):
    with pytest.raises(ValueError, match="y_true is a list of 3 scalars: one value per recording"):
        scorer(["open", "blink", "open"], PRED_ROWS)


# --- the frame-level scorers ------------------------------------------------------------


def test_frame_f1_scores_the_positive_class_against_all_others():
    y_true = [np.array(["open", "squint", "blink", "blink"]), np.array(["blink", "open"])]
    y_pred = [np.array(["squint", "open", "blink", "open"]), np.array(["blink", "blink"])]
    # blink frames: tp 2, fp 1, fn 1.
    assert frame_f1_score(y_true, y_pred, positive="blink") == pytest.approx(2 * 2 / (4 + 2))
    assert frame_f1_score(y_true, y_pred, positive="squint") == 0.0


def test_frame_f1_needs_positive():
    with pytest.raises(TypeError, match="positive"):
        frame_f1_score(TRUE_ROWS, PRED_ROWS)


def test_frame_f1_refuses_a_positive_label_found_nowhere():
    with pytest.raises(ValueError, match=(
            r"positive='Blink' is not a valid label: it is among neither the true labels "
            r"\['blink', 'open'\] nor the predicted labels \['blink', 'open'\].*"
            r"make_scorer\(frame_f1_score, positive='blink'\)")):
        frame_f1_score(TRUE_ROWS, PRED_ROWS, positive="Blink")


def test_frame_balanced_accuracy_is_sklearns_on_the_valid_frames():
    y_pred = padded_array(PRED_ROWS, pad="open")
    bacc, _ = expected_frame_scores()
    assert frame_balanced_accuracy_score(TRUE_ROWS, y_pred) == pytest.approx(bacc)


@pytest.mark.parametrize("scorer, kwargs", [
    (frame_balanced_accuracy_score, {}),
    (frame_f1_score, {"positive": "blink"}),
], ids=["frame_bacc", "frame_f1"])
def test_frame_scorers_weigh_frames_per_recording_or_per_frame(scorer, kwargs):
    per_recording = np.array([2.0, 0.0, 1.0])
    per_frame = [np.full(len(row), w) for row, w in zip(TRUE_ROWS, per_recording, strict=True)]
    sklearn_scorer = {frame_balanced_accuracy_score: balanced_accuracy_score,
                      frame_f1_score: f1_score}[scorer]
    sklearn_kwargs = {"pos_label": "blink"} if kwargs else {}
    expected = sklearn_scorer(np.concatenate(TRUE_ROWS), np.concatenate(PRED_ROWS),
                              sample_weight=np.concatenate(per_frame), **sklearn_kwargs)
    for weights in (per_recording, list(per_recording), pd.Series(per_recording), per_frame,
                    padded_array(per_frame, pad=np.nan).astype(float)):
        got = scorer(TRUE_ROWS, PRED_ROWS, sample_weight=weights, **kwargs)
        assert got == pytest.approx(expected)
    assert expected != pytest.approx(scorer(TRUE_ROWS, PRED_ROWS, **kwargs))


@pytest.mark.parametrize("weights, match", [
    ([1.0, 2.0], "sample_weight has 2 weights but there are 3 recordings"),
    ([1.0, -1.0, 1.0], "finite, non-negative"),
    ([np.ones(5), np.ones(2), np.ones(4)], r"sample_weight\[1\] has 2 values but y_true\[1\] "
                                           "has 3 frames"),
])
def test_frame_weights_that_do_not_fit_are_refused(weights, match):
    with pytest.raises(ValueError, match=match):
        frame_balanced_accuracy_score(TRUE_ROWS, PRED_ROWS, sample_weight=weights)


# --- in scikit-learn's model selection with the tagger, on string labels ----------------

FAST = {"max_epochs": 2, "hidden_size": 8, "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def open_blink_recordings():
    # Every recording holds blinks, so every fold has events to find.
    X, y = make_blink_recordings(6, duration_s=(2.5, 3.5), blink_rate=30, random_state=3)
    return X, [np.where(labels == 1, "blink", "open") for labels in y]


def test_grid_search_scores_differ_between_candidates_on_string_labels(open_blink_recordings):
    # Before: make_scorer(event_f1_score) scored both candidates 1.0 on "open"/"blink".
    X, y = open_blink_recordings
    search = GridSearchCV(
        LSTMBlinkTagger(**FAST),
        {"lr": [0.001, 0.1]},
        scoring={"event_f1": make_scorer(event_f1_score, positive="blink"),
                 "frame_bacc": make_scorer(frame_balanced_accuracy_score),
                 "frame_f1": make_scorer(frame_f1_score, positive="blink")},
        cv=KFold(n_splits=3), refit=False, error_score="raise",
    )
    search.fit(X, y)
    for name in ("event_f1", "frame_bacc", "frame_f1"):
        scores = search.cv_results_[f"mean_test_{name}"]
        assert ((0 <= scores) & (scores <= 1)).all(), name
        assert scores[0] != pytest.approx(scores[1]), name


@pytest.mark.parametrize("scorer", [
    make_scorer(event_f1_score),
    make_scorer(frame_f1_score, positive=1),
    make_scorer(frame_f1_score, positive="Blink"),
], ids=["event-default-positive", "frame-int-positive", "frame-misspelt-positive"])
def test_cross_validation_with_a_wrong_positive_raises(open_blink_recordings, scorer):
    X, y = open_blink_recordings
    with pytest.raises(ValueError, match="is not a valid label"):
        cross_val_score(LSTMBlinkTagger(**FAST), X, y, scoring=scorer, cv=KFold(n_splits=2),
                        error_score="raise")


SCORER_OBJECTS = {
    "event_f1": make_scorer(event_f1_score, positive="blink"),
    "frame_bacc": make_scorer(frame_balanced_accuracy_score),
    "frame_f1": make_scorer(frame_f1_score, positive="blink"),
}


@pytest.mark.parametrize("name", list(SCORER_OBJECTS))
def test_scorers_pair_a_folds_padded_y_with_predict_by_lengths(open_blink_recordings, name):
    X, y = open_blink_recordings
    tagger = LSTMBlinkTagger(**{**FAST, "lr": 0.1}).fit(X[:4], y[:4])
    scorer = SCORER_OBJECTS[name]
    expected = scorer(tagger, X[4:], y[4:])
    # A padded y (the event label as padding, wider than any recording) is cut to the
    # lengths of predict's rows for the ragged X; padding is never read.
    assert scorer(tagger, X[4:], padded_array(y)[4:]) == pytest.approx(expected)
    # A 3-D X: predict gives a 2-D array, scored against y of the same shape.
    n_frames = min(map(len, X))
    X_3d = np.stack([x[:n_frames] for x in X[4:]])
    y_2d = np.stack([labels[:n_frames] for labels in y[4:]])
    assert scorer(tagger, X_3d, y_2d) == pytest.approx(
        scorer(tagger, list(X_3d), list(y_2d)))
