"""The tagger never reads the labels of missing frames (issue 27): None, NaN or pd.NA
there, in fit, score and the scorers of sktorchcw.events under make_scorer."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import make_scorer
from sklearn.model_selection import KFold, cross_val_score

from sktorchcw import LSTMBlinkTagger
from sktorchcw.events import event_f1_score, frame_balanced_accuracy_score, frame_f1_score

from helpers import FAST


@pytest.fixture(scope="module")
def recordings():
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(n, 1)).astype("float32") for n in rng.integers(10, 16, 24)]
    y = [(x[:, 0] > 0.6).astype(int) for x in X]
    for x in X[::3]:
        x[2:4] = np.nan  # frames without a face
    return X, y


def _with_missing_labels(X, y, missing):
    labelled = []
    for x, row in zip(X, y, strict=True):
        row = np.array(row, dtype=object)
        row[np.isnan(x[:, 0])] = missing
        labelled.append(row)
    return labelled


@pytest.fixture(scope="module")
def tagger(recordings):
    X, y = recordings
    return LSTMBlinkTagger(**{**FAST, "max_epochs": 20, "lr": 0.05},
                           missing="mask").fit(X, y)


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
def test_score_leaves_out_the_labels_of_missing_frames(recordings, tagger, missing):
    X, y = recordings
    expected = tagger.score(X, y)
    assert tagger.score(X, _with_missing_labels(X, y, missing)) == pytest.approx(expected)
    as_lists = [list(row) for row in _with_missing_labels(X, y, missing)]
    assert tagger.score(X, as_lists) == pytest.approx(expected)


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
def test_fit_takes_integer_labels_with_none_on_missing_frames(recordings, missing):
    X, y = recordings
    given = _with_missing_labels(X, y, missing)
    fitted = LSTMBlinkTagger(**{**FAST, "max_epochs": 2}, missing="mask").fit(X, given)
    plain = LSTMBlinkTagger(**{**FAST, "max_epochs": 2}, missing="mask").fit(X, y)
    np.testing.assert_array_equal(fitted.classes_, [0, 1])
    for ours, theirs in zip(fitted.predict_proba(X), plain.predict_proba(X), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("scorer, function", [
    (make_scorer(frame_f1_score, positive=1), lambda t, p: frame_f1_score(t, p, positive=1)),
    (make_scorer(frame_balanced_accuracy_score), frame_balanced_accuracy_score),
    (make_scorer(event_f1_score), event_f1_score),
])
def test_scorers_under_make_scorer_leave_out_missing_labels(recordings, tagger, scorer,
                                                            function):
    X, y = recordings
    predicted = tagger.predict(X)
    assert sum(row.sum() for row in predicted) > 0  # it finds blinks: the scores say something
    observed = [~np.isnan(x[:, 0]) for x in X]
    expected = function([row[keep] for row, keep in zip(y, observed, strict=True)],
                        [row[keep] for row, keep in zip(predicted, observed, strict=True)])
    assert scorer(tagger, X, _with_missing_labels(X, y, None)) == pytest.approx(expected)
    assert scorer(tagger, X, y) != pytest.approx(expected)  # there, missing frames count


def test_cross_validation_with_missing_labels_scores_every_fold(recordings):
    X, y = recordings
    scores = cross_val_score(LSTMBlinkTagger(**{**FAST, "max_epochs": 2}, missing="mask"), X,
                             _with_missing_labels(X, y, pd.NA), cv=KFold(2),
                             scoring=make_scorer(frame_balanced_accuracy_score),
                             error_score="raise")
    assert np.isfinite(scores).all()
