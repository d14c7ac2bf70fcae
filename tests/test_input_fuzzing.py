"""Fuzzing fit and predict: every input either works or raises ValueError/TypeError.

Never an IndexError, a RuntimeError from torch internals or a hang. Cases come from a
seeded generator, so a failure is reproducible from the case number it prints.
"""

import warnings

import numpy as np
import pytest
import torch

from helpers import fast_classifier

N_CASES = 150
ACCEPTED_ERRORS = (ValueError, TypeError)


def _array(rng):
    ndim = rng.choice([0, 1, 2, 3, 3, 3, 4])
    shape = tuple(int(rng.choice([0, 1, 2, 5, 12])) for _ in range(ndim))
    dtype = rng.choice(["float32", "float64", "int64", "int8", "bool", "complex", "object",
                        "str"])
    values = rng.normal(size=shape) * rng.choice([1.0, 1e3, 1e30, 1e300])
    if values.size and rng.random() < 0.3:
        values.flat[rng.integers(values.size)] = rng.choice([np.nan, np.inf, -np.inf])
    if dtype == "complex":
        return values + 1j
    if dtype == "str":
        return values.astype(str)
    with np.errstate(all="ignore"):
        return values.astype(dtype)


def _ragged(rng):
    n = int(rng.integers(0, 6))
    features = [int(rng.choice([1, 2, 2, 3])) for _ in range(n)]
    if rng.random() < 0.7 and n:
        features = [features[0]] * n
    items = [rng.normal(size=(int(rng.integers(0, 6)), f)) for f in features]
    if items and rng.random() < 0.3:
        odd_items = [np.array(["a", "b"]), 3.0, None, np.full((2, 2), np.nan), {"x": 1}, []]
        items[int(rng.integers(len(items)))] = odd_items[int(rng.integers(len(odd_items)))]
    if rng.random() < 0.6:
        return items
    as_objects = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        as_objects[index] = item
    return as_objects


def _odd(rng):
    return [None, "sequences", {"x": [1, 2]}, 7, torch.zeros(4, 3, 2), [[1, 2], [3]],
            object()][int(rng.integers(7))]


def _inputs(rng):
    X = [_array, _array, _ragged, _odd][int(rng.integers(4))](rng)
    n = _length(X)
    n_y = n if rng.random() < 0.85 else n + 1
    y = [rng.integers(0, 2, size=n_y), rng.choice(["a", "b", "c"], size=n_y),
         rng.normal(size=n_y), np.zeros(n_y), np.full(n_y, np.nan)][
        int(rng.choice(5, p=[0.5, 0.2, 0.1, 0.1, 0.1]))]
    sample_weight = None
    if rng.random() < 0.3:
        sample_weight = rng.choice([-1.0, 0.0, 1.0, np.nan], size=n if rng.random() < 0.8 else 2)
    return X, y, sample_weight


def _length(X):
    try:
        return len(X)
    except TypeError:
        return 3


def _run(action, *args, **kwargs):
    """'ok', or the accepted error's type name; other exceptions propagate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            action(*args, **kwargs)
        except ACCEPTED_ERRORS as error:
            assert str(error), "an error must say what is wrong"
            return type(error).__name__
    return "ok"


def _fit_and_predict(clf, X, y, sample_weight):
    clf.fit(X, y, sample_weight=sample_weight).predict(X)


def test_fit_on_random_inputs_works_or_raises_value_or_type_error():
    rng = np.random.default_rng(0)
    outcomes = {}
    for case in range(N_CASES):
        X, y, sample_weight = _inputs(rng)
        clf = fast_classifier(max_epochs=1, hidden_size=4, batch_size=16)
        try:
            outcome = _run(_fit_and_predict, clf, X, y, sample_weight)
        except Exception as error:
            pytest.fail(f"case {case}: {type(error).__name__}: {error}\nX={X!r}\ny={y!r}")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(f"fit fuzzing: {N_CASES} cases tried, outcomes {outcomes}")
    assert outcomes.get("ok", 0) > 5, "the generator should produce some valid inputs"
    assert outcomes.get("ValueError", 0) > 5


@pytest.mark.parametrize("layout", ["2-D", "3-D"])
def test_predict_on_random_inputs_works_or_raises_value_or_type_error(layout):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 5, 2)).astype(np.float32)
    X = X[:, :, 0] if layout == "2-D" else X
    clf = fast_classifier(max_epochs=1, hidden_size=4).fit(X, np.arange(20) % 2)
    outcomes = {}
    for case in range(N_CASES):
        X_new, _, _ = _inputs(rng)
        try:
            outcome = _run(clf.predict_proba, X_new)
        except Exception as error:
            pytest.fail(f"case {case}: {type(error).__name__}: {error}\nX={X_new!r}")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(f"predict fuzzing ({layout}): {N_CASES} cases tried, outcomes {outcomes}")
    assert outcomes.get("ValueError", 0) > 5
