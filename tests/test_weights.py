import inspect
from collections import OrderedDict
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.class_weight import compute_class_weight

from sktorchcw import _weights, resolve_class_weight

from helpers import LabelWeights


def test_none_gives_ones():
    np.testing.assert_array_equal(resolve_class_weight(None, classes=[0, 1, 2]), [1.0, 1.0, 1.0])


def test_balanced_matches_formula_on_the_y_given():
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    expected = len(y) / (3 * np.array([6, 3, 1]))
    np.testing.assert_allclose(resolve_class_weight("balanced", classes=[0, 1, 2], y=y), expected)


def test_balanced_agrees_with_scikit_learn():
    y = np.array(["b", "a", "a", "c", "a", "b"])
    classes = np.unique(y)
    np.testing.assert_allclose(
        resolve_class_weight("balanced", classes=classes, y=y),
        compute_class_weight("balanced", classes=classes, y=y),
    )


def test_balanced_depends_only_on_the_fold_given():
    fold_a = np.array([0, 0, 0, 1])
    fold_b = np.array([0, 1, 1, 1])
    wa = resolve_class_weight("balanced", classes=[0, 1], y=fold_a)
    wb = resolve_class_weight("balanced", classes=[0, 1], y=fold_b)
    assert wa[1] > wa[0] and wb[0] > wb[1]


@pytest.mark.parametrize(
    "classes, class_weight, expected",
    [
        ([0, 1], {1: 5.0}, [1.0, 5.0]),
        (["blink", "none"], {"blink": 3}, [3.0, 1.0]),
        ([False, True], {True: 2.5, False: 0.5}, [0.5, 2.5]),
        ([-1, 7, 9], {9: 2, -1: 4}, [4.0, 1.0, 2.0]),
    ],
)
def test_dict_keyed_by_original_labels_missing_classes_weigh_one(classes, class_weight, expected):
    np.testing.assert_array_equal(resolve_class_weight(class_weight, classes=classes), expected)


def test_bool_key_does_not_match_integer_class():
    with pytest.raises(ValueError, match="True"):
        resolve_class_weight({True: 3.0}, classes=[0, 1])


def test_array_is_taken_in_classes_order():
    np.testing.assert_array_equal(
        resolve_class_weight([0.2, 3], classes=["a", "b"]), np.array([0.2, 3.0])
    )


def test_result_is_a_new_float_vector():
    given = np.array([1.0, 2.0])
    out = resolve_class_weight(given, classes=[0, 1])
    out[0] = 99
    assert given[0] == 1.0 and out.dtype == np.float64


@pytest.mark.parametrize(
    "class_weight, match",
    [
        ({"cat": 2.0}, "'cat'.*not a class"),
        ({"blink": -1.0}, "'blink'.*-1.0"),
        ({"blink": float("nan")}, "'blink'.*nan"),
        ({"none": float("inf")}, "'none'.*inf"),
        ([0.0, 0.0], "all zeros"),
        ({"blink": 0, "none": 0}, "all zeros"),
        ("balance", "'balance'.*'balanced'"),
        ([1.0, 2.0, 3.0], r"shape \(3,\).*2 classes"),
        ([[1.0, 2.0]], r"shape \(1, 2\)"),
        ({"blink": "heavy"}, "must be a number"),
    ],
)
def test_bad_class_weight_raises_value_error_naming_the_problem(class_weight, match):
    with pytest.raises(ValueError, match=match):
        resolve_class_weight(class_weight, classes=np.array(["blink", "none"]), y=["blink", "none"])


def test_balanced_without_y_is_an_error():
    with pytest.raises(ValueError, match="needs the labels y"):
        resolve_class_weight("balanced", classes=[0, 1])


def test_balanced_with_a_class_absent_from_y_is_an_error():
    with pytest.raises(ValueError, match=r"absent from y: \[2\]"):
        resolve_class_weight("balanced", classes=[0, 1, 2], y=[0, 1, 1])


# --- mappings are read by label, never by position ----------------------------------


class DictLike:
    """Neither a dict nor a Mapping, but it has keys() and items() (of the pairs given)."""

    def __init__(self, pairs):
        self._pairs = list(pairs)

    def keys(self):
        return [key for key, _ in self._pairs]

    def items(self):
        return list(self._pairs)

    def __len__(self):
        return len(self._pairs)


@pytest.mark.parametrize(
    "classes, class_weight, expected",
    [
        (["blink", "none"], pd.Series({"none": 0.625, "blink": 2.5}), [2.5, 0.625]),
        ([0, 1], pd.Series([5.0, 1.0], index=[1, 0]), [1.0, 5.0]),
        ([False, True], pd.Series({True: 2.5, False: 0.5}), [0.5, 2.5]),
        ([-1, 7, 9], pd.Series([2.0, 4.0], index=[9, -1]), [4.0, 1.0, 2.0]),
        ([0, 1, 2], pd.Series([3.0, 1.0, 2.0], index=[2, 0, 1]), [1.0, 2.0, 3.0]),
        (["a", "b"], pd.Series([7.0, 3.0], index=pd.CategoricalIndex(["b", "a"])), [3.0, 7.0]),
        (["blink", "none"], LabelWeights({"none": 0.5, "blink": 4.0}), [4.0, 0.5]),
        (["blink", "none"], MappingProxyType({"none": 0.5, "blink": 4.0}), [4.0, 0.5]),
        (["blink", "none"], DictLike([("none", 0.5), ("blink", 4.0)]), [4.0, 0.5]),
        ([0, 1], OrderedDict([(1, 3.0), (0, 2.0)]), [2.0, 3.0]),
    ],
)
def test_any_mapping_is_matched_by_label_not_by_position(classes, class_weight, expected):
    np.testing.assert_array_equal(resolve_class_weight(class_weight, classes=classes), expected)


def test_series_with_a_default_index_is_read_by_label_too():
    # RangeIndex labels 0 and 1 weight the classes 0 and 1, whatever their position.
    np.testing.assert_array_equal(
        resolve_class_weight(pd.Series([2.0, 3.0]), classes=[1, 0]), [3.0, 2.0]
    )


def test_series_with_a_default_index_and_string_classes_is_refused_with_a_hint():
    with pytest.raises(ValueError, match=r"keys \[0, 1\], .*not a class.*series\.to_numpy\(\)"):
        resolve_class_weight(pd.Series([0.625, 2.5]), classes=["blink", "none"])


def test_a_key_that_is_no_class_of_this_fit_is_ignored():
    # A cross-validation fold without the rare label still gets the other weights.
    np.testing.assert_array_equal(
        resolve_class_weight({"blink": 9.0, "open": 0.5}, classes=["open"]), [0.5])
    np.testing.assert_array_equal(
        resolve_class_weight({0: 1.0, 1: 9.0, 2: 3.0}, classes=[0, 2]), [1.0, 3.0])


def test_series_with_a_repeated_label_is_refused():
    weights = pd.Series([1.0, 9.0, 2.0], index=["blink", "blink", "none"])
    with pytest.raises(ValueError, match=r"repeats the label\(s\) \['blink'\]"):
        resolve_class_weight(weights, classes=["blink", "none"])


def test_two_keys_for_one_class_are_refused():
    weights = DictLike([("blink", 1.0), (np.str_("blink"), 2.0)])
    with pytest.raises(ValueError, match="'blink' two weights"):
        resolve_class_weight(weights, classes=["blink", "none"])


@pytest.mark.parametrize(
    "classes, class_weight, expected",
    [
        ([0, 1], {np.int64(1): 5.0}, [1.0, 5.0]),
        (np.array([0, 1], dtype=np.int32), {1: 5.0}, [1.0, 5.0]),
        ([0.5, 1.5], {np.float32(1.5): 5.0}, [1.0, 5.0]),
        (["a", "b"], {np.str_("b"): 5.0}, [1.0, 5.0]),
        ([False, True], {np.bool_(True): 5.0}, [1.0, 5.0]),
        (np.array([False, True], dtype=object), {np.bool_(True): 5.0}, [1.0, 5.0]),
        (np.array([np.bool_(False), np.bool_(True)], dtype=object), {True: 5.0}, [1.0, 5.0]),
    ],
)
def test_numpy_scalar_keys_and_labels_match_their_class(classes, class_weight, expected):
    np.testing.assert_array_equal(resolve_class_weight(class_weight, classes=classes), expected)


@pytest.mark.parametrize(
    "classes, class_weight",
    [
        ([0, 1], {np.bool_(True): 5.0}),
        (np.array([np.bool_(False), np.bool_(True)], dtype=object), {1: 5.0}),
        ([0, 1], {"1": 5.0}),
        (["0", "1"], {1: 5.0}),
    ],
)
def test_keys_of_another_kind_never_weight_a_class(classes, class_weight):
    with pytest.raises(ValueError, match="not a class"):
        resolve_class_weight(class_weight, classes=classes)


def test_categorical_labels_match_their_classes():
    y = pd.Series(pd.Categorical(["none", "blink", "none", "none"]))
    classes = np.unique(np.asarray(y))
    weights = pd.Series([0.5, 4.0], index=pd.CategoricalIndex(["none", "blink"]))
    np.testing.assert_array_equal(resolve_class_weight(weights, classes=classes), [4.0, 0.5])
    np.testing.assert_array_equal(
        resolve_class_weight({"blink": 4.0}, classes=y.cat.categories), [4.0, 1.0]
    )
    np.testing.assert_allclose(
        resolve_class_weight("balanced", classes=classes, y=y), [2.0, 4 / 6]
    )


@pytest.mark.parametrize(
    "class_weight, error, match",
    [
        ({0.5, 2.0}, TypeError, "set, which has no order"),
        (frozenset({0.5, 2.0}), TypeError, "frozenset, which has no order"),
        (pd.DataFrame({"weight": [0.5, 2.0]}, index=["none", "blink"]), TypeError,
         r"DataFrame.*df\['weight'\]"),
    ],
)
def test_containers_without_a_clear_alignment_are_refused(class_weight, error, match):
    with pytest.raises(error, match=match):
        resolve_class_weight(class_weight, classes=["blink", "none"])


@pytest.mark.parametrize(
    "class_weight", [(0.5, 2.0), np.array([0.5, 2.0]), pd.Index([0.5, 2.0])]
)
def test_sequences_stay_positional_in_classes_order(class_weight):
    np.testing.assert_array_equal(
        resolve_class_weight(class_weight, classes=["blink", "none"]), [0.5, 2.0]
    )


# --- 'balanced' with sample_weight -------------------------------------------------


def test_balanced_counts_sample_weights():
    y = np.array([0, 0, 0, 1])
    sample_weight = np.array([1.0, 1.0, 1.0, 3.0])
    # Weighted counts 3 and 3: balanced already.
    np.testing.assert_allclose(
        resolve_class_weight("balanced", classes=[0, 1], y=y, sample_weight=sample_weight),
        [1.0, 1.0],
    )


def test_balanced_with_unit_sample_weights_equals_unweighted():
    y = np.array(["b", "a", "a", "c", "a", "b"])
    np.testing.assert_allclose(
        resolve_class_weight("balanced", classes=["a", "b", "c"], y=y, sample_weight=np.ones(6)),
        resolve_class_weight("balanced", classes=["a", "b", "c"], y=y),
    )


@pytest.mark.parametrize("sklearn_takes_sample_weight", [True, False])
def test_weighted_balanced_matches_scikit_learns_formula(monkeypatch, sklearn_takes_sample_weight):
    monkeypatch.setattr(
        _weights, "_SKLEARN_BALANCED_TAKES_SAMPLE_WEIGHT", sklearn_takes_sample_weight
    )
    rng = np.random.RandomState(0)
    y = rng.choice(["blink", "none", "wink"], size=50, p=[0.1, 0.7, 0.2])
    sample_weight = rng.uniform(0.0, 3.0, size=50)
    classes = np.array(["blink", "none", "wink"])
    counts = np.array([sample_weight[y == c].sum() for c in classes])
    expected = sample_weight.sum() / (3 * counts)
    got = resolve_class_weight("balanced", classes=classes, y=y, sample_weight=sample_weight)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    if "sample_weight" in inspect.signature(compute_class_weight).parameters:
        np.testing.assert_allclose(
            got,
            compute_class_weight("balanced", classes=classes, y=y, sample_weight=sample_weight),
            rtol=1e-12,
        )


@pytest.mark.parametrize("sklearn_takes_sample_weight", [True, False])
def test_balanced_refuses_a_class_whose_samples_all_weigh_zero(
    monkeypatch, sklearn_takes_sample_weight
):
    monkeypatch.setattr(
        _weights, "_SKLEARN_BALANCED_TAKES_SAMPLE_WEIGHT", sklearn_takes_sample_weight
    )
    with pytest.raises(ValueError, match=r"all have sample_weight 0: \['blink'\]"):
        resolve_class_weight(
            "balanced", classes=["blink", "none"], y=["none", "blink", "blink", "none"],
            sample_weight=[1.0, 0.0, 0.0, 2.0],
        )


@pytest.mark.parametrize(
    "sample_weight, match",
    [
        ([1.0, 1.0], r"shape \(2,\) but y has 3 labels"),
        ([1.0, -1.0, 1.0], r"sample_weight\[1\] is -1.0"),
        ([1.0, 1.0, np.nan], r"sample_weight\[2\] is nan"),
        (["a", "b", "c"], "must hold numbers"),
    ],
)
def test_balanced_refuses_a_bad_sample_weight(sample_weight, match):
    with pytest.raises(ValueError, match=match):
        resolve_class_weight("balanced", classes=[0, 1], y=[0, 1, 1], sample_weight=sample_weight)


def test_sample_weight_is_not_used_without_balanced():
    np.testing.assert_array_equal(
        resolve_class_weight({1: 2.0}, classes=[0, 1], y=[0, 1], sample_weight=[0.0, 5.0]),
        [1.0, 2.0],
    )


def test_balanced_refuses_labels_that_are_not_classes():
    with pytest.raises(ValueError, match="not classes, e.g. 2"):
        resolve_class_weight("balanced", classes=[0, 1], y=[0, 1, 2], sample_weight=[1, 1, 1])
