"""Sequences of different lengths: padding and packing never change a result."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

from helpers import fast_classifier


@pytest.fixture(scope="module")
def ragged_blinks(blinks):
    """The blink windows cut to lengths 8 to 20, as a list of (T_i, 2) arrays."""
    X, y = blinks
    lengths = np.random.RandomState(0).randint(8, 21, size=len(X))
    return [window[:length] for window, length in zip(X, lengths, strict=True)], y


@pytest.fixture(scope="module")
def fitted(ragged_blinks):
    X, y = ragged_blinks
    return fast_classifier(class_weight="balanced", bidirectional=True).fit(X, y)


def test_ragged_list_fits_and_predicts(fitted, ragged_blinks):
    X, y = ragged_blinks
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert fitted.input_layout_ == "sequences"
    assert fitted.n_features_in_ == 2


def test_a_sequence_predicts_the_same_alone_and_beside_longer_ones(fitted, ragged_blinks):
    X, _ = ragged_blinks
    shortest = int(np.argmin([len(x) for x in X]))
    alone = fitted.predict_proba([X[shortest]])
    in_batch = fitted.predict_proba(X)[shortest : shortest + 1]
    np.testing.assert_allclose(alone, in_batch, atol=1e-6)
    padded_by_hand = np.zeros((1, 20, 2), dtype=np.float32)
    padded_by_hand[0, : len(X[shortest])] = X[shortest]
    assert not np.allclose(fitted.predict_proba(padded_by_hand), alone, atol=1e-4), (
        "zero padding read as data changes the output; packing must avoid it"
    )


def test_object_array_equals_list(fitted, ragged_blinks):
    X, _ = ragged_blinks
    as_objects = np.empty(len(X), dtype=object)
    as_objects[:] = X
    np.testing.assert_array_equal(fitted.predict_proba(as_objects), fitted.predict_proba(X))


def test_univariate_ragged_sequences(ragged_blinks):
    X, y = ragged_blinks
    univariate = [x[:, 0] for x in X]
    clf = fast_classifier(max_epochs=2).fit(univariate, y)
    assert clf.n_features_in_ == 1
    assert clf.predict(univariate[:3]).shape == (3,)


def test_training_does_not_depend_on_padding(blinks):
    """Fitting on sequences padded inside a longer batch equals fitting on the same lengths."""
    X, y = blinks
    short = [x[:12] for x in X]
    with_long_one = [*short[:-1], X[-1]]  # one full-length sequence pads all others to 20
    # One batch, weighted_mean and no standardisation: the zero-weight long sequence then
    # changes neither the loss nor the input statistics, so only padding could differ.
    same = dict(max_epochs=2, batch_size=len(X), loss_reduction="weighted_mean",
                standardize=False)
    uniform = fast_classifier(**same).fit(short[:-1], y[:-1])
    ragged = fast_classifier(**same).fit(
        with_long_one, y, sample_weight=np.r_[np.ones(len(X) - 1), 0.0]
    )
    np.testing.assert_allclose(uniform.predict_proba(short[:-1]),
                               ragged.predict_proba(short[:-1]), atol=1e-5)


def test_ragged_input_through_grid_search_and_cross_val_score(ragged_blinks):
    X, y = ragged_blinks
    cv = StratifiedKFold(n_splits=2, shuffle=True, random_state=0)
    scores = cross_val_score(fast_classifier(max_epochs=3), X, y, cv=cv,
                             scoring="balanced_accuracy")
    assert scores.shape == (2,)
    search = GridSearchCV(fast_classifier(max_epochs=2), {"class_weight": [None, "balanced"]},
                          cv=cv, scoring="f1").fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_equal_length_arrays_in_a_list_are_still_sequences():
    rng = np.random.default_rng(0)
    X = [rng.normal(size=8) for _ in range(20)]  # univariate, all of length 8
    y = np.arange(20) % 2
    clf = fast_classifier(max_epochs=1).fit(X, y)
    assert clf.input_layout_ == "sequences" and clf.n_features_in_ == 1
    assert clf.predict([rng.normal(size=5), rng.normal(size=9)]).shape == (2,)
    table = fast_classifier(max_epochs=1).fit([list(row) for row in X], y)  # list of lists
    assert table.input_layout_ == "columns" and table.n_features_in_ == 8
