"""class_weight as the estimator receives it: by label for any mapping, sample weights in
'balanced'."""


import numpy as np
import pandas as pd
import pytest

from helpers import LabelWeights, fast_classifier

LABELS = np.array(["none", "blink"])


@pytest.fixture(scope="module")
def string_blinks(blinks):
    X, y = blinks
    return X[:64], LABELS[y[:64]]


@pytest.mark.parametrize(
    "class_weight",
    [
        pd.Series({"none": 0.625, "blink": 2.5}),
        LabelWeights({"none": 0.625, "blink": 2.5}),
    ],
)
def test_fitted_class_weight_follows_the_labels_of_a_mapping(string_blinks, class_weight):
    X, y = string_blinks
    clf = fast_classifier(class_weight=class_weight, max_epochs=1).fit(X, y)
    assert clf.classes_.tolist() == ["blink", "none"]
    np.testing.assert_array_equal(clf.class_weight_, [2.5, 0.625])


def test_fitted_balanced_counts_sample_weights(string_blinks):
    X, y = string_blinks
    sample_weight = np.where(y == "blink", 2.0, 1.0)
    clf = fast_classifier(class_weight="balanced", max_epochs=1).fit(
        X, y, sample_weight=sample_weight
    )
    counts = np.array([sample_weight[y == c].sum() for c in clf.classes_])
    np.testing.assert_allclose(clf.class_weight_, sample_weight.sum() / (2 * counts))


def test_a_fold_without_a_weighted_label_still_scores():
    from sklearn.model_selection import KFold, cross_val_score

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5, 1)).astype("float32")
    y = np.zeros(60, dtype=int)
    y[:6], y[30:40] = 2, 1  # the first fold's training part has no label 2
    weights = {0: 1.0, 1: 3.0, 2: 10.0}
    scores = cross_val_score(fast_classifier(class_weight=weights, max_epochs=1), X, y,
                             cv=KFold(10), error_score="raise")
    assert np.isfinite(scores).all()
    first = fast_classifier(class_weight=weights, max_epochs=1).fit(X[6:], y[6:])
    np.testing.assert_array_equal(first.class_weight_, [1.0, 3.0])
