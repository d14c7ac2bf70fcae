"""effective_number_weights (Cui et al., CVPR 2019) and callables as class_weight, checked against
the formula computed by hand."""

import io
import json
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

import sktorchcw
from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger, resolve_class_weight
from sktorchcw._weights import effective_number_weights
from sktorchcw.datasets import make_blink_dataset

ESTIMATOR = dict(max_epochs=2, device="cpu", random_state=0)


def by_hand(beta, counts):
    """w_c = (1 - beta) / (1 - beta^n_c), rescaled to sum to the number of classes."""
    raw = [(1 - beta) / (1 - beta**n) for n in counts]
    return [w * len(raw) / sum(raw) for w in raw]


# -- the weights --------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.9, 0.99, 0.999, 0.9999])
def test_weights_follow_the_formula(beta):
    y = ["a"] * 5 + ["b"] * 30 + ["c"] * 200
    weights = resolve_class_weight(effective_number_weights(beta), classes=["a", "b", "c"], y=y)
    np.testing.assert_allclose(weights, by_hand(beta, [5, 30, 200]), rtol=1e-12)
    assert weights.sum() == pytest.approx(3.0)


def test_a_worked_example():
    # beta = 0.99: 1 - 0.99^10 = 0.0956179, 1 - 0.99^90 = 0.5952677, so the raw weights are
    # 0.104583 and 0.016799, which rescaled to sum to 2 are 1.723202 and 0.276798.
    weights = effective_number_weights(0.99)([0, 1], np.array([0] * 10 + [1] * 90))
    np.testing.assert_allclose(weights, [1.7232019997769634, 0.27679800022303663], rtol=1e-12)


def test_classes_order_the_weights():
    y = np.array([2] * 3 + [7] * 12)
    weights = resolve_class_weight(effective_number_weights(0.9), classes=[7, 2], y=y)
    np.testing.assert_allclose(weights, by_hand(0.9, [12, 3]), rtol=1e-12)


def test_sample_weights_count_in_the_number_of_samples():
    y = np.array([0, 0, 0, 1, 1])
    sample_weight = np.array([0.5, 1.0, 2.0, 0.25, 0.0])
    weights = resolve_class_weight(effective_number_weights(0.9), classes=[0, 1], y=y,
                                   sample_weight=sample_weight)
    np.testing.assert_allclose(weights, by_hand(0.9, [3.5, 0.25]), rtol=1e-12)


def test_beta_zero_weighs_every_class_one():
    y = [0] * 3 + [1] * 50
    np.testing.assert_array_equal(
        resolve_class_weight(effective_number_weights(0.0), classes=[0, 1], y=y), [1.0, 1.0])


def test_beta_near_one_approaches_inverse_class_frequencies():
    y = [0] * 7 + [1] * 63 + [2] * 30
    weights = resolve_class_weight(effective_number_weights(1 - 1e-9), classes=[0, 1, 2], y=y)
    balanced = resolve_class_weight("balanced", classes=[0, 1, 2], y=y)
    np.testing.assert_allclose(weights, balanced * 3 / balanced.sum(), rtol=1e-6)


def test_beta_close_to_one_with_few_samples_stays_accurate():
    # 1 - beta^n computed naively loses most digits here; expm1 keeps them.
    beta = 1 - 1e-12
    weights = effective_number_weights(beta)([0, 1], np.array([0] + [1, 1]))
    np.testing.assert_allclose(weights, [4 / 3, 2 / 3], rtol=1e-9)


@pytest.mark.parametrize("beta", [1.0, 1.5, -0.1, float("nan"), float("inf"), "0.9", None,
                                  True, [0.9]])
def test_a_beta_outside_zero_one_is_a_clear_error(beta):
    with pytest.raises(ValueError, match=r"beta must"):
        effective_number_weights(beta)


def test_a_class_absent_from_y_is_a_clear_error():
    with pytest.raises(ValueError, match=r"absent from y: \['c'\]"):
        resolve_class_weight(effective_number_weights(), classes=["a", "b", "c"],
                             y=["a", "b", "b"])


def test_labels_that_are_not_classes_are_a_clear_error():
    with pytest.raises(ValueError, match="not classes"):
        resolve_class_weight(effective_number_weights(), classes=["a", "b"], y=["a", "b", "z"])


def test_without_y_it_is_a_clear_error():
    with pytest.raises(ValueError, match="needs the labels y"):
        resolve_class_weight(effective_number_weights(), classes=[0, 1])


def test_a_class_of_zero_sample_weight_is_a_clear_error():
    with pytest.raises(ValueError, match=r"sample_weight 0: \[1\]"):
        resolve_class_weight(effective_number_weights(), classes=[0, 1], y=[0, 1, 1],
                             sample_weight=[1.0, 0.0, 0.0])


# -- a parameter value: repr, equality, clone, pickle, JSON --------------------------------------


def test_repr_rebuilds_it():
    weights = effective_number_weights(np.float64(0.99))
    assert repr(weights) == "effective_number_weights(beta=0.99)"
    assert repr(effective_number_weights()) == "effective_number_weights(beta=0.999)"
    assert eval(repr(weights)) == weights


def test_equality_and_hash_go_by_beta():
    assert effective_number_weights(0.9) == effective_number_weights(np.float64(0.9))
    assert hash(effective_number_weights(0.9)) == hash(effective_number_weights(0.9))
    assert effective_number_weights(0.9) != effective_number_weights(0.99)
    assert effective_number_weights(0.9) != 0.9
    assert len({effective_number_weights(0.9), effective_number_weights(0.9),
                effective_number_weights(0.5)}) == 2


def test_get_params_set_params_and_clone():
    weights = effective_number_weights(0.99)
    assert weights.get_params() == {"beta": 0.99}
    copy = clone(weights)
    assert copy == weights and copy is not weights
    assert weights.set_params(beta=0.5) is weights and weights.beta == 0.5
    with pytest.raises(ValueError, match="beta must"):
        weights.set_params(beta=1.0)
    with pytest.raises(ValueError, match="only parameter is beta"):
        weights.set_params(gamma=2.0)
    assert weights.beta == 0.5


def test_it_pickles():
    weights = effective_number_weights(0.95)
    assert pickle.loads(pickle.dumps(weights)) == weights


def test_json_form_round_trips():
    weights = effective_number_weights(np.float64(0.99))
    data = json.loads(json.dumps(weights.to_json()))
    assert data == {"effective_number_weights": 0.99}
    assert effective_number_weights.from_json(data) == weights


@pytest.mark.parametrize("data", [{"effective_number_weights": "0.9"}, {"beta": 0.9},
                                  {"effective_number_weights": 1.0}, 0.9,
                                  {"effective_number_weights": 0.9, "x": 1}])
def test_a_bad_json_form_is_a_clear_error(data):
    with pytest.raises(ValueError):
        effective_number_weights.from_json(data)


# -- callables as class_weight: the extension point ---------------------------------------------


def test_a_callable_gets_classes_labels_and_sample_weights_as_arrays():
    seen: dict[str, np.ndarray] = {}

    def record(classes, y, sample_weight):
        seen.update(classes=classes, y=y, sample_weight=sample_weight)
        return [2.0, 1.0]

    weights = resolve_class_weight(record, classes=["x", "y"], y=["x", "y", "y"],
                                   sample_weight=[1, 2, 3])
    np.testing.assert_array_equal(weights, [2.0, 1.0])
    np.testing.assert_array_equal(seen["classes"], ["x", "y"])
    np.testing.assert_array_equal(seen["y"], ["x", "y", "y"])
    assert seen["sample_weight"].dtype == np.float64
    np.testing.assert_array_equal(seen["sample_weight"], [1.0, 2.0, 3.0])


def test_a_callable_without_sample_weights_gets_none():
    got = resolve_class_weight(lambda c, y, s: [0.0 if s is None else 5.0, 1.0], classes=[0, 1],
                               y=[0, 1])
    np.testing.assert_array_equal(got, [0.0, 1.0])


def test_a_callable_must_return_one_weight_per_class():
    with pytest.raises(ValueError, match=r"shape \(3,\) for 2 classes"):
        resolve_class_weight(lambda c, y, s: [1, 2, 3], classes=[0, 1], y=[0, 1])
    with pytest.raises(ValueError, match="not numbers"):
        resolve_class_weight(lambda c, y, s: ["heavy", "light"], classes=[0, 1], y=[0, 1])


def test_a_callable_result_is_checked_like_any_weight_vector():
    with pytest.raises(ValueError, match="the weight of class 'b' is -1.0"):
        resolve_class_weight(lambda c, y, s: [1.0, -1.0], classes=["a", "b"], y=["a", "b"])
    with pytest.raises(ValueError, match="all zeros"):
        resolve_class_weight(lambda c, y, s: [0, 0], classes=["a", "b"], y=["a", "b"])


def test_an_error_in_a_callable_is_reraised_with_context():
    def broken(classes, y, sample_weight):
        raise KeyError("oops")

    with pytest.raises(ValueError, match=r"raised KeyError .*classes \['a', 'b'\]") as info:
        resolve_class_weight(broken, classes=["a", "b"], y=["a", "b"])
    assert isinstance(info.value.__cause__, KeyError)


def test_a_class_instead_of_an_instance_is_a_clear_error():
    with pytest.raises(TypeError, match=r"class_weight=effective_number_weights\(\)"):
        resolve_class_weight(effective_number_weights, classes=[0, 1], y=[0, 1])


# -- in the estimators ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def windows():
    return make_blink_dataset(120, seq_len=20, prevalence=0.25, random_state=0)


def test_classifier_resolves_effective_number_weights_on_its_labels(windows):
    X, y = windows
    clf = LSTMBlinkClassifier(class_weight=effective_number_weights(0.99), **ESTIMATOR)
    clf.fit(X, y)
    counts = [int((y == 0).sum()), int((y == 1).sum())]
    np.testing.assert_allclose(clf.class_weight_, by_hand(0.99, counts), rtol=1e-12)
    assert clf.class_weight == effective_number_weights(0.99)


def test_tagger_counts_the_valid_frames():
    table = make_blink_dataset(120, seq_len=20, prevalence=0.25, return_frames=True,
                               random_state=0)
    values = table[["ear_left", "ear_right"]].to_numpy().reshape(120, 20, 2)
    labels = table["blink"].to_numpy().reshape(120, 20)
    lengths = np.random.RandomState(0).randint(14, 21, size=120)
    X = [v[:n] for v, n in zip(values, lengths, strict=True)]
    y = [t[:n] for t, n in zip(labels, lengths, strict=True)]
    tagger = LSTMBlinkTagger(class_weight=effective_number_weights(0.999), **ESTIMATOR)
    tagger.fit(X, y)
    frames = np.concatenate(y)
    counts = [int((frames == 0).sum()), int((frames == 1).sum())]
    np.testing.assert_allclose(tagger.class_weight_, by_hand(0.999, counts), rtol=1e-12)


def test_clone_keeps_an_equal_copy():
    clf = LSTMBlinkClassifier(class_weight=effective_number_weights(0.9))
    copy = clone(clf)
    assert copy.class_weight == clf.class_weight
    assert copy.class_weight is not clf.class_weight


def test_grid_search_chooses_among_class_weights(windows):
    X, y = windows
    grid = {"class_weight": [None, "balanced", effective_number_weights(0.99)]}
    search = GridSearchCV(LSTMBlinkClassifier(**ESTIMATOR), grid, cv=2,
                          scoring="balanced_accuracy").fit(X, y)
    assert search.cv_results_["params"][2] == {"class_weight": effective_number_weights(0.99)}
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_save_stores_effective_number_weights(windows):
    X, y = windows
    clf = LSTMBlinkClassifier(class_weight=effective_number_weights(0.99), **ESTIMATOR)
    clf.fit(X, y)
    buffer = io.BytesIO()
    clf.save(buffer)
    buffer.seek(0)
    loaded = sktorchcw.load(buffer)
    assert loaded.class_weight == effective_number_weights(0.99)
    np.testing.assert_allclose(loaded.class_weight_, clf.class_weight_)
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6)
