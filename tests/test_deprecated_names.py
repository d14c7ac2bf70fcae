"""Old names kept for one release: each warns (FutureWarning, naming the new name and the
release that removes it, as scikit-learn does) and gives what the new name gives."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

import sktorchcw
import sktorchcw.events


def test_frame_balanced_accuracy_is_the_scorer_under_its_old_name():
    with pytest.warns(FutureWarning, match=r"frame_balanced_accuracy_scorer.*") as caught:
        old = sktorchcw.frame_balanced_accuracy
    assert old is sktorchcw.frame_balanced_accuracy_scorer
    message = str(caught[0].message)
    assert "deprecated in version 0.1.0" in message and "removed in 0.2.0" in message
    assert caught[0].filename == __file__        # it points at the user's line


def test_importing_the_old_scorer_name_warns():
    with pytest.warns(FutureWarning, match="frame_balanced_accuracy_scorer"):
        from sktorchcw import frame_balanced_accuracy  # noqa: F401


def test_events_balanced_accuracy_score_is_sklearns_and_warns():
    y_true = np.array([0, 0, 0, 1, 1, 0])
    y_pred = np.array([0, 1, 0, 1, 0, 0])
    with pytest.warns(FutureWarning) as caught:
        old = sktorchcw.events.balanced_accuracy_score
    message = str(caught[0].message)
    assert "sklearn.metrics.balanced_accuracy_score" in message
    assert "frame_balanced_accuracy_score" in message
    assert "deprecated in version 0.1.0" in message and "removed in 0.2.0" in message
    assert old(y_true, y_pred) == balanced_accuracy_score(y_true, y_pred)


def test_the_new_names_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from sktorchcw import frame_balanced_accuracy_scorer  # noqa: F401
        from sktorchcw.events import frame_balanced_accuracy_score  # noqa: F401
        assert "frame_balanced_accuracy" not in sktorchcw.__all__
        assert "frame_balanced_accuracy_scorer" in sktorchcw.__all__
        namespace = {}
        exec("from sktorchcw import *; from sktorchcw.events import *", namespace)
    assert "frame_balanced_accuracy" not in namespace
    assert "balanced_accuracy_score" not in namespace


def test_other_missing_names_still_raise_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        sktorchcw.no_such_name  # noqa: B018
    with pytest.raises(AttributeError, match="no_such_name"):
        sktorchcw.events.no_such_name  # noqa: B018


def test_the_scorer_and_the_score_function_agree_on_a_tagger():
    """What each name computes: the scorer (net, X, y) scores the net's most probable class
    per frame; the score function scores given labels; on argmax labels they agree."""
    from sktorchcw import LSTMBlinkTagger
    from sktorchcw.datasets import make_blink_recordings
    from sktorchcw.events import frame_balanced_accuracy_score

    X, y = make_blink_recordings(8, duration_s=4, random_state=0)
    tagger = LSTMBlinkTagger(class_weight="balanced", hidden_size=8, max_epochs=2,
                             random_state=0)
    tagger.fit(X[:6], y[:6], validation_data=(X[6:], y[6:]))
    proba = tagger.predict_proba(X[6:])
    argmax = [tagger.classes_[p.argmax(axis=1)] for p in proba]
    assert tagger.history_[-1, "valid_bacc"] == pytest.approx(
        frame_balanced_accuracy_score(y[6:], argmax))
