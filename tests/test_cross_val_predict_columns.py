"""sktorchcw.model_selection.cross_val_predict gives probabilities with one column per class
of the whole y, as scikit-learn's cross_val_predict does: a class that a fold's training
part lacks gets 0 (or the smallest float for log-probabilities) in that fold, and array X
gives one array (issue 27)."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import KFold
from sklearn.model_selection import cross_val_predict as sklearn_cross_val_predict

from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger
from sktorchcw.model_selection import cross_val_predict

FAST = dict(max_epochs=1, batch_size=8, hidden_size=4, lr=0.02, device="cpu", random_state=0)
CLASSES = ["a", "b", "c"]
LACKS = "The training part of fold 1 has 2 of the 3 classes"
# KFold(3) without shuffling tests recordings 0-2 first: "c" is only there, so the first
# fold's training part lacks it and the other folds have all three classes.
CV = KFold(3)
FILLS = {"predict_proba": 0.0, "predict_log_proba": np.finfo(np.float64).min}


@pytest.fixture(scope="module")
def recordings():
    """9 recordings of 6 frames, 2 features."""
    return np.random.default_rng(0).normal(size=(9, 6, 2))


@pytest.fixture(scope="module")
def recording_labels():
    """One label per recording; "c" only in recordings 0-2."""
    return np.array(["c"] * 3 + ["a", "b"] * 3)


@pytest.fixture(scope="module")
def frame_labels(recordings):
    """One label per frame; "c" only in the first frame of recordings 0-2."""
    y = np.where(recordings[:, :, 0] > 0, "b", "a").astype(object)
    y[:3, 0] = "c"
    return y


def fold_by_fold(estimator, X, y, method):
    """Each test part's outputs of its own fit, and that fit's classes."""
    outputs, classes = [], []
    for train, test in CV.split(X):
        model = estimator.fit([X[i] for i in train] if isinstance(X, list) else X[train],
                              [y[i] for i in train] if isinstance(y, list) else y[train])
        outputs.append(getattr(model, method)([X[i] for i in test]
                                              if isinstance(X, list) else X[test]))
        classes.append(model.classes_.tolist())
    return outputs, classes


def spread(output, own, method):
    """``output`` on CLASSES: its columns where its classes are, the fill elsewhere."""
    full = np.full((*np.shape(output)[:-1], len(CLASSES)), FILLS[method])
    full[..., [CLASSES.index(label) for label in own]] = output
    return full


@pytest.mark.parametrize("method", ["predict_proba", "predict_log_proba"])
def test_classifier_gives_a_column_per_class_with_the_fill_where_a_fold_lacks_it(
        recordings, recording_labels, method):
    with pytest.warns(RuntimeWarning, match=LACKS):
        got = cross_val_predict(LSTMBlinkClassifier(**FAST), recordings, recording_labels,
                                cv=CV, method=method)
    assert got.dtype == np.float64
    assert got.shape == (9, 3)
    np.testing.assert_array_equal(got[:3, 2], FILLS[method])  # fold 1 never saw "c"
    outputs, classes = fold_by_fold(LSTMBlinkClassifier(**FAST), recordings,
                                    recording_labels, method)
    assert classes == [["a", "b"], CLASSES, CLASSES]
    np.testing.assert_array_equal(got[:3], spread(outputs[0], classes[0], method))
    np.testing.assert_array_equal(got[3:], np.concatenate(outputs[1:]))


def test_classifier_columns_match_scikit_learns_cross_val_predict(recordings,
                                                                  recording_labels):
    with pytest.warns(RuntimeWarning, match=LACKS):
        ours = cross_val_predict(LSTMBlinkClassifier(**FAST), recordings, recording_labels,
                                 cv=CV, method="predict_proba")
    with pytest.warns(RuntimeWarning, match="Number of classes in training fold"):
        theirs = sklearn_cross_val_predict(LSTMBlinkClassifier(**FAST), recordings,
                                           recording_labels, cv=CV, method="predict_proba")
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("method", ["predict_proba", "predict_log_proba"])
def test_tagger_on_3d_X_gives_a_3d_array_with_a_column_per_class(recordings, frame_labels,
                                                                  method):
    with pytest.warns(RuntimeWarning, match=LACKS):
        got = cross_val_predict(LSTMBlinkTagger(**FAST), recordings, frame_labels, cv=CV,
                                method=method)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    assert got.shape == (9, 6, 3)
    np.testing.assert_array_equal(got[:3, :, 2], FILLS[method])
    outputs, classes = fold_by_fold(LSTMBlinkTagger(**FAST), recordings, frame_labels,
                                    method)
    assert classes == [["a", "b"], CLASSES, CLASSES]
    np.testing.assert_array_equal(got[:3], spread(outputs[0], classes[0], method))
    np.testing.assert_array_equal(got[3:], np.concatenate(outputs[1:]))


def test_tagger_on_ragged_X_gives_one_array_per_recording_with_a_column_per_class(
        recordings, frame_labels):
    lengths = [6, 4, 5, 3, 6, 2, 5, 4, 6]
    X = [x[:length] for x, length in zip(recordings, lengths, strict=True)]
    y = [labels[:length] for labels, length in zip(frame_labels, lengths, strict=True)]
    with pytest.warns(RuntimeWarning, match=LACKS):
        got = cross_val_predict(LSTMBlinkTagger(**FAST), X, y, cv=CV,
                                method="predict_proba")
    assert got.dtype == object and got.shape == (9,)
    assert [p.shape for p in got] == [(length, 3) for length in lengths]
    outputs, classes = fold_by_fold(LSTMBlinkTagger(**FAST), X, y, "predict_proba")
    expected = [spread(p, classes[0], "predict_proba") for p in outputs[0]]
    expected += [p for fold in outputs[1:] for p in fold]
    for one, other in zip(got, expected, strict=True):
        np.testing.assert_array_equal(one, other)
    for p in got[:3]:
        np.testing.assert_array_equal(p[:, 2], 0.0)


def test_padded_labels_give_columns_of_the_labels_only(recordings, frame_labels):
    """Padding is no class: the columns are those of the labels within each recording."""
    lengths = [6, 4, 5, 3, 6, 2, 5, 4, 6]
    X = [x[:length] for x, length in zip(recordings, lengths, strict=True)]
    table = frame_labels.copy()
    for row, length in enumerate(lengths):
        table[row, length:] = -1
    with pytest.warns(RuntimeWarning, match=LACKS):
        got = cross_val_predict(LSTMBlinkTagger(**FAST), X, table, cv=CV,
                                method="predict_proba")
    assert [p.shape for p in got] == [(length, 3) for length in lengths]


def test_folds_with_every_class_keep_the_columns_and_warn_nothing(recordings, frame_labels,
                                                                  recwarn):
    y = np.where(recordings[:, :, 0] > 0, "b", "a")
    got = cross_val_predict(LSTMBlinkTagger(**FAST), recordings, y, cv=CV,
                            method="predict_proba")
    assert got.shape == (9, 6, 2)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


class _NoClasses(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        return self

    def predict_proba(self, X):
        return np.ones((len(X), 2)) / 2


def test_a_probability_method_of_an_estimator_without_classes_is_a_type_error(recordings,
                                                                             frame_labels):
    with pytest.raises(TypeError, match="needs an estimator with classes_ after fit"):
        cross_val_predict(_NoClasses(), recordings, frame_labels, cv=CV,
                          method="predict_proba")
