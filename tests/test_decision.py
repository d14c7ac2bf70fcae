"""The tagger's decision rule tuned for events (issue 28, point 4): threshold,
min_event_frames, max_gap_frames, fixed or 'auto'."""

import io

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, GroupKFold

import sktorchcw
from sktorchcw import LSTMBlinkTagger
from sktorchcw._decision import Decision, tune
from sktorchcw.datasets import make_blink_recordings
from sktorchcw.events import event_f1_score, frames_to_events

from helpers import FAST

AUTO = {"threshold": "auto", "min_event_frames": "auto", "max_gap_frames": "auto"}


@pytest.fixture(scope="module")
def recordings():
    return make_blink_recordings(16, duration_s=12, random_state=0)


@pytest.fixture(scope="module")
def tuned(recordings):
    X, y = recordings
    return LSTMBlinkTagger(**{**FAST, "max_epochs": 6}, class_weight="balanced",
                           **AUTO).fit(X, y)


def _painted(n, events):
    frames = np.zeros(n, dtype=bool)
    for start, stop in events:
        frames[start:stop] = True
    return frames


def test_cleaning_is_what_the_event_scorers_count():
    rng = np.random.default_rng(0)
    for _ in range(200):
        row = rng.random(rng.integers(1, 40)) < rng.uniform(0.1, 0.9)
        minimum, gap = int(rng.integers(1, 5)), int(rng.integers(0, 4))
        proba = np.stack([~row, row], axis=1).astype(float)
        codes = Decision(1, None, minimum, gap).codes(proba)
        expected = _painted(len(row), frames_to_events(row.astype(int), 1, minimum, gap))
        np.testing.assert_array_equal(codes == 1, expected)


def test_threshold_and_the_other_class_of_dropped_frames():
    proba = np.array([[0.7, 0.1, 0.2], [0.4, 0.35, 0.25], [0.2, 0.2, 0.6]])
    assert Decision(1, 0.3).codes(proba).tolist() == [0, 1, 2]
    assert Decision(1, None, min_event_frames=2).codes(proba).tolist() == [0, 0, 2]


def test_tune_finds_the_threshold_that_separates_the_events():
    truth = np.zeros(60, dtype=bool)
    truth[[10, 11, 12, 30, 31, 50, 51, 52]] = True
    positive = np.where(truth, 0.35, 0.1)
    positive[20] = 0.3  # a single-frame flicker just below the events
    proba = np.stack([1 - positive, positive], axis=1)
    decision, f1 = tune([proba], [truth], 1, threshold="auto", min_event_frames="auto",
                        max_gap_frames=0, min_iou=0.2)
    assert f1 == 1.0
    assert 0.1 <= decision.threshold < 0.35
    assert decision.threshold >= 0.3 or decision.min_event_frames >= 2  # flicker gone


def test_auto_values_are_at_least_as_good_as_argmax_where_they_are_chosen(recordings, tuned):
    X, y = recordings
    argmax = clone(tuned).set_params(threshold=None, min_event_frames=1, max_gap_frames=0)
    argmax.fit(X, y)
    assert tuned.decision_score_ == pytest.approx(event_f1_score(y, tuned.predict(X)))
    assert tuned.decision_score_ >= event_f1_score(y, argmax.predict(X))
    assert tuned.positive_ == 1


def test_validation_data_is_where_auto_values_are_chosen(recordings):
    X, y = recordings
    tagger = LSTMBlinkTagger(**{**FAST, "max_epochs": 3}, class_weight="balanced", **AUTO)
    tagger.fit(X[4:], y[4:], validation_data=(X[:4], y[:4]))
    assert tagger.decision_score_ == pytest.approx(event_f1_score(y[:4], tagger.predict(X[:4])))


def test_fixed_values_apply_to_predict_proba(recordings, tuned):
    X, _ = recordings
    fixed = clone(tuned).set_params(threshold=0.3, min_event_frames=3, max_gap_frames=2)
    fixed.fit(X, recordings[1])
    assert (fixed.threshold_, fixed.min_event_frames_, fixed.max_gap_frames_) == (0.3, 3, 2)
    assert fixed.decision_score_ is None
    for proba, labels in zip(fixed.predict_proba(X), fixed.predict(X), strict=True):
        expected = _painted(len(labels), frames_to_events(
            (proba[:, 1] > 0.3).astype(int), 1, min_frames=3, max_gap=2))
        np.testing.assert_array_equal(labels == 1, expected)


def test_bad_values_are_refused_before_training(recordings):
    X, y = recordings
    for params, match in [({"threshold": 1.5}, "threshold"),
                          ({"min_event_frames": 0}, "min_event_frames"),
                          ({"max_gap_frames": "sometimes"}, "max_gap_frames"),
                          ({"event_min_iou": 0.0}, "event_min_iou"),
                          ({"positive": "wink"}, "positive='wink' is not a class")]:
        tagger = LSTMBlinkTagger(**FAST, **params)
        with pytest.raises(ValueError, match=match):
            tagger.fit(X, y)
        assert not hasattr(tagger, "net_")
    three = [np.where(row == 1, 2, np.arange(len(row)) % 2) for row in y]
    with pytest.raises(ValueError, match="binary taggers only"):
        LSTMBlinkTagger(**FAST, threshold=0.4).fit(X, three)


def test_multiclass_cleans_the_positive_class(recordings):
    X, y = recordings
    three = [np.where(row == 1, "blink", np.where(np.arange(len(row)) % 50 < 25, "a", "b"))
             for row in y]
    tagger = LSTMBlinkTagger(**{**FAST, "max_epochs": 2}, min_event_frames=3,
                             positive="blink").fit(X, three)
    for labels in tagger.predict(X):
        events = frames_to_events(labels, positive="blink")
        assert all(stop - start >= 3 for start, stop in events)


def test_saved_grid_searched_and_cross_validated(recordings, tuned):
    X, y = recordings
    file = io.BytesIO()
    tuned.save(file)
    file.seek(0)
    loaded = sktorchcw.load(file)
    assert (loaded.threshold_, loaded.min_event_frames_, loaded.max_gap_frames_,
            loaded.positive_) == (tuned.threshold_, tuned.min_event_frames_,
                                  tuned.max_gap_frames_, tuned.positive_)
    for ours, theirs in zip(loaded.predict(X), tuned.predict(X), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    search = GridSearchCV(
        LSTMBlinkTagger(**{**FAST, "max_epochs": 2}, class_weight="balanced"),
        {"threshold": [None, "auto"]}, scoring=make_scorer(event_f1_score, zero_division=0.0),
        cv=GroupKFold(2)).fit(X, y, groups=np.arange(len(X)) % 2)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


@pytest.mark.parametrize("decision", [
    {"threshold": 0.3, "min_event_frames": 3, "max_gap_frames": 2},
    {"threshold": None, "min_event_frames": 1, "max_gap_frames": 0},
])
def test_stream_reports_the_events_of_predict_as_they_close(recordings, decision):
    X, y = recordings
    tagger = LSTMBlinkTagger(**{**FAST, "max_epochs": 2}, class_weight="balanced",
                             **decision).fit(X[:6], y[:6])
    rng = np.random.default_rng(0)
    stream = tagger.stream()
    found_any = False
    for recording, labels in zip(X[:4], tagger.predict(X[:4]), strict=True):
        stream.reset()
        events, start = [], 0
        while start < len(recording):
            stop = start + int(rng.integers(0, 7))
            events += stream.update_events(recording[start:stop])
            assert all(closed_stop <= stream.n_frames_ - decision["max_gap_frames"]
                       for _, closed_stop in events)
            start = stop
        events += stream.finish_events()
        assert events == frames_to_events(labels, positive=1)
        found_any = found_any or bool(events)
    assert found_any


def test_score_is_the_balanced_accuracy_of_predict(recordings, tuned):
    from sktorchcw.events import frame_balanced_accuracy_score

    X, y = recordings
    assert not tuned._decision().is_argmax
    assert tuned.score(X, y) == pytest.approx(frame_balanced_accuracy_score(y, tuned.predict(X)))


def test_the_one_pass_hit_count_is_the_assignment_solvers():
    from sktorchcw._decision import _hits, _runs
    from sktorchcw.events import match_events

    rng = np.random.default_rng(1)
    for _ in range(500):
        n = int(rng.integers(1, 60))
        truth = _runs(rng.random(n) < rng.uniform(0.1, 0.8))
        found = _runs(rng.random(n) < rng.uniform(0.1, 0.8))
        min_iou = float(rng.choice([0.1, 0.2, 0.5, 1.0]))
        expected = match_events(list(zip(*truth, strict=True)), list(zip(*found, strict=True)),
                                min_iou=min_iou, zero_division=0.0)["tp"]
        assert _hits(*(part.tolist() for part in (*truth, *found)), min_iou) == expected


def test_the_taggers_signature_holds_every_base_parameter_with_its_default():
    import inspect

    from sktorchcw._estimator import SequenceEstimator

    base = inspect.signature(SequenceEstimator.__init__).parameters
    ours = inspect.signature(LSTMBlinkTagger.__init__).parameters
    for name, parameter in base.items():
        assert name in ours and ours[name].default == parameter.default, name
    assert list(ours)[-6:-1] == ["threshold", "min_event_frames", "max_gap_frames",
                                 "event_min_iou", "positive"]
