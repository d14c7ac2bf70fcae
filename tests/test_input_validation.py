"""Bad input fails with a clear ValueError (or TypeError) before any training starts."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from torch import nn

from sktorchcw import _net

from helpers import fast_classifier


@pytest.fixture
def no_training(monkeypatch):
    """Make any attempt to train fail loudly, so a ValueError must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("training started despite bad input")

    monkeypatch.setattr(_net.SequenceNet, "fit", refuse)


def _X(n=20, steps=6, features=2, seed=0):
    return np.random.RandomState(seed).normal(size=(n, steps, features)).astype(np.float32)


def _y(n=20):
    return np.arange(n) % 2


def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


ragged = [np.ones((3, 2)), np.ones((5, 2))]
BAD_FIT_INPUT = {
    "nan in 3-D X": (_with(_X(), (3, 2, 1), np.nan), _y(), {}, "NaN"),
    "inf in 3-D X": (_with(_X(), (0, 0, 0), np.inf), _y(), {}, "infinity"),
    "nan in 2-D X": (_with(_X()[:, :, 0], (1, 1), np.nan), _y(), {}, "NaN"),
    "nan in ragged X": ([np.ones((3, 2)), np.full((5, 2), np.nan)], [0, 1], {}, "Sequence 1"),
    "too large for float32": (
        _with(_X().astype(np.float64), (0, 0, 0), 1e300), _y(), {}, "too large for float32"),
    "1-D X": (np.ones(20), _y(), {}, "Reshape your data"),
    "4-D X": (np.ones((20, 3, 2, 2)), _y(), {}, "4 dimension"),
    "empty X": (np.ones((0, 6, 2)), np.array([], dtype=int), {}, "0 sample"),
    "no time steps": (np.ones((20, 0, 2)), _y(), {}, "at least one time step"),
    "ragged with other feature counts": (
        [np.ones((3, 2)), np.ones((5, 3))], [0, 1], {}, "same number of features"),
    "empty sequence in ragged": ([np.ones((3, 2)), np.ones((0, 2))], [0, 1], {}, "Sequence 1"),
    "one class": (_X(), np.zeros(20, dtype=int), {}, "only one class"),
    "continuous y": (_X(), np.linspace(0, 1, 20), {}, "Unknown label type"),
    "y is None": (_X(), None, {}, "requires y"),
    "mismatched lengths": (_X(), _y(19), {}, "20 samples but y has 19"),
    "2-D y": (_X(), np.ones((20, 2)), {}, "1d array"),
    "negative sample_weight": (_X(), _y(), dict(sample_weight=-np.ones(20)), "Negative"),
    "nan sample_weight": (_X(), _y(), dict(sample_weight=_with(np.ones(20), 3, np.nan)), "NaN"),
    "wrong-length sample_weight": (_X(), _y(), dict(sample_weight=np.ones(7)), r"\(7,\)"),
    "all-zero sample_weight": (_X(), _y(), dict(sample_weight=np.zeros(20)), "non-zero"),
}


@pytest.mark.parametrize("X, y, fit_params, match", BAD_FIT_INPUT.values(), ids=BAD_FIT_INPUT)
def test_bad_fit_input_is_a_value_error_before_training(no_training, X, y, fit_params, match):
    with pytest.raises(ValueError, match=match):
        fast_classifier().fit(X, y, **fit_params)


def test_class_and_sample_weights_zero_everywhere_is_value_error(no_training):
    only_class_0 = (_y() == 0).astype(float)
    with pytest.raises(ValueError, match="weight zero"):
        fast_classifier(class_weight={0: 0.0}).fit(_X(), _y(), sample_weight=only_class_0)


BAD_PARAMETERS = {
    "unknown class_weight key": (dict(class_weight={5: 2.0}), "5"),
    "negative class weight": (dict(class_weight={1: -1.0}), "negative"),
    "wrong-length class_weight": (dict(class_weight=[1.0, 2.0, 3.0]), "3"),
    "unknown class_weight string": (dict(class_weight="balance"), "class_weight"),
    "hidden_size 0": (dict(hidden_size=0), "hidden_size"),
    "dropout 1": (dict(dropout=1.0), "dropout"),
    "unknown loss_reduction": (dict(loss_reduction="avg"), "loss_reduction"),
    "negative lr": (dict(lr=-0.1), "lr"),
    "index criterion with output weighting": (dict(weighting="output"), "one-hot"),
    "routed batch size 0": (dict(iterator_train__batch_size=0), "iterator_train__batch_size"),
    "routed batch size 2.5": (dict(iterator_valid__batch_size=2.5), "positive integer"),
    "criterion ignoring a class": (
        dict(criterion=nn.CrossEntropyLoss(ignore_index=0)), "class weight"
    ),
}


@pytest.mark.parametrize("params, match", BAD_PARAMETERS.values(), ids=BAD_PARAMETERS)
def test_bad_parameters_fail_at_fit_before_training(no_training, params, match):
    with pytest.raises(ValueError, match=match):
        fast_classifier(**params).fit(_X(), _y())


def test_given_arrays_are_not_changed():
    X, y, sample_weight = _X(), _y(), np.linspace(0.5, 1.5, 20)
    copies = X.copy(), y.copy(), sample_weight.copy()
    fast_classifier(max_epochs=1).fit(X, y, sample_weight=sample_weight).predict(X)
    for given, copy in zip((X, y, sample_weight), copies, strict=True):
        np.testing.assert_array_equal(given, copy)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_use_before_fit_is_not_fitted_error(method):
    args = (_X(), _y()) if method == "score" else (_X(),)
    with pytest.raises(NotFittedError):
        getattr(fast_classifier(), method)(*args)


def test_predict_with_other_feature_count_is_value_error():
    clf = fast_classifier(max_epochs=1).fit(_X(features=2), _y())
    with pytest.raises(ValueError, match="3 features per time step, but .* expecting 2"):
        clf.predict(_X(features=3))
    with pytest.raises(ValueError, match="2-D, read as univariate"):
        clf.predict(_X()[:, :, 0])


def test_predict_with_other_column_count_is_value_error():
    clf = fast_classifier(max_epochs=1).fit(_X()[:, :, 0], _y())
    with pytest.raises(ValueError, match="X has 5 features, but .* expecting 6"):
        clf.predict(_X()[:, :5, 0])
    with pytest.raises(ValueError, match="fitted on 2-D X"):
        clf.predict(_X())


def test_nan_at_predict_is_value_error():
    clf = fast_classifier(max_epochs=1).fit(_X(), _y())
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(_with(_X(), (0, 0, 0), np.nan))
