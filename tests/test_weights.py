import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from sktorchcw import resolve_class_weight


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
