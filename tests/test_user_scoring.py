"""A user's scoring callbacks see the user's labels in both sequence estimators (issue 27,
section 2): recordings' labels for the classifier, valid frames' labels for the tagger."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, make_scorer
from skorch.callbacks import EpochScoring

from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger

from helpers import FAST


def _scoring(name, scorer):
    return (name, EpochScoring(scorer, name=name, lower_is_better=False))


def _recordings(n=160, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8, 1)).astype("float32")
    return X, X[:, :, 0].mean(axis=1) > 0.3, X[:, :, 0] > 0.6


@pytest.mark.parametrize("labels", [(3, 7), ("open", "blink")])
def test_classifier_scoring_callbacks_get_labels(labels):
    X, positive, _ = _recordings()
    y = np.where(positive, labels[1], labels[0])
    X_val, y_val = X[:40], y[:40]
    f1 = make_scorer(f1_score, pos_label=labels[1])
    clf = LSTMBlinkClassifier(**{**FAST, "max_epochs": 12}, class_weight="balanced",
                              callbacks=[_scoring("my_bacc", "balanced_accuracy"),
                                         _scoring("my_f1", f1)])
    clf.fit(X[40:], y[40:], validation_data=(X_val, y_val))
    last = clf.net_.history[-1]
    assert last["my_bacc"] == pytest.approx(last["valid_bacc"])
    expected = f1_score(y_val, clf.predict(X_val), pos_label=labels[1])
    assert last["my_f1"] == pytest.approx(expected)
    assert expected > 0  # the scorer found the rare label among the predictions


@pytest.mark.parametrize("labels", [(3, 7), ("open", "blink")])
def test_tagger_scoring_callbacks_get_the_labels_of_valid_frames(labels):
    X, _, blinks = _recordings()
    lengths = np.random.default_rng(1).integers(3, 9, size=len(X))
    recordings = [x[:n] for x, n in zip(X, lengths, strict=True)]
    y = [np.where(b[:n], labels[1], labels[0]) for b, n in zip(blinks, lengths, strict=True)]
    f1 = make_scorer(f1_score, pos_label=labels[1])
    tagger = LSTMBlinkTagger(**{**FAST, "max_epochs": 12}, class_weight="balanced",
                             callbacks=[_scoring("my_bacc", "balanced_accuracy"),
                                        _scoring("my_f1", f1)])
    tagger.fit(recordings[40:], y[40:], validation_data=(recordings[:40], y[:40]))
    last = tagger.net_.history[-1]
    assert last["my_bacc"] == pytest.approx(last["valid_bacc"])
    true = np.concatenate(y[:40])
    predicted = np.concatenate(tagger.predict(recordings[:40]))
    assert last["my_f1"] == pytest.approx(f1_score(true, predicted, pos_label=labels[1]))
    assert balanced_accuracy_score(true, predicted) == pytest.approx(last["valid_bacc"])
