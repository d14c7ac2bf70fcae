"""Turn a user's ``class_weight`` into one float vector aligned with ``classes``."""

from collections.abc import Mapping

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

__all__ = ["resolve_class_weight", "check_weight_vector"]


def resolve_class_weight(class_weight, *, classes, y=None):
    """Resolve ``class_weight`` into a float vector aligned with ``classes``.

    Parameters
    ----------
    class_weight : None, 'balanced', dict or array-like of shape (n_classes,)
        - ``None``: every class weighs 1.
        - ``'balanced'``: ``n_samples / (n_classes * count_c)``, counted on the
          ``y`` given (inside cross-validation, the training fold only), as
          :func:`sklearn.utils.class_weight.compute_class_weight` computes it.
        - dict: ``{label: weight}`` keyed by the original labels (ints,
          strings, bools); classes left out weigh 1.
        - array-like: one weight per class, in ``classes`` order.
    classes : array-like of shape (n_classes,)
        The classes, in the order the returned vector follows (an estimator's
        ``classes_``).
    y : array-like of shape (n_samples,), default=None
        The labels to count for ``'balanced'``. Not used otherwise.

    Returns
    -------
    weights : ndarray of shape (n_classes,), dtype float64
        Finite, non-negative weights, not all zero.

    Raises
    ------
    ValueError
        For an unknown string, a dict key that is not a class, a negative,
        NaN or infinite weight, all weights zero, a wrong-length array, or
        ``'balanced'`` without ``y`` (or with a ``y`` missing a class).

    Examples
    --------
    >>> from sktorchcw import resolve_class_weight
    >>> y = ["no blink"] * 9 + ["blink"]
    >>> resolve_class_weight("balanced", classes=["blink", "no blink"], y=y)
    array([5.        , 0.55555556])
    >>> resolve_class_weight({"blink": 10}, classes=["blink", "no blink"])
    array([10.,  1.])
    """
    classes = np.asarray(classes)
    if classes.ndim != 1 or classes.size == 0:
        raise ValueError(
            f"classes must be a non-empty 1-D array of labels; got shape {classes.shape}."
        )
    if class_weight is None:
        return np.ones(len(classes), dtype=np.float64)
    if isinstance(class_weight, str):
        weights = _balanced(class_weight, classes, y)
    elif isinstance(class_weight, Mapping):
        weights = _from_dict(class_weight, classes)
    else:
        weights = _from_array(class_weight, classes)
    return check_weight_vector(weights, name="class_weight", labels=classes)


def _balanced(class_weight, classes, y):
    if class_weight != "balanced":
        raise ValueError(
            f"class_weight={class_weight!r} is not understood; the only string accepted is "
            "'balanced'. Pass None, 'balanced', a dict {label: weight} or one weight per class."
        )
    if y is None:
        raise ValueError("class_weight='balanced' needs the labels y to count the classes.")
    y = np.asarray(y)
    missing = [c for c in classes.tolist() if not np.any(y == c)]
    if missing:
        raise ValueError(
            f"class_weight='balanced' cannot weight classes absent from y: {missing!r}. "
            "Give explicit weights for them with a dict, or check the labels."
        )
    return compute_class_weight("balanced", classes=classes, y=y)


def _from_dict(class_weight, classes):
    weights = np.ones(len(classes), dtype=np.float64)
    for key, value in class_weight.items():
        index = _index_of(key, classes)
        if index is None:
            raise ValueError(
                f"class_weight has the key {key!r}, which is not a class. The classes are "
                f"{classes.tolist()!r}; key the dict by the original labels."
            )
        weights[index] = _as_float(value, f"class_weight[{key!r}]")
    return weights


def _index_of(key, classes):
    """Position of ``key`` in ``classes``, matching type as well as value.

    ``True == 1`` in Python, so a plain ``==`` would let ``{True: 5}`` weight the
    class ``1`` of integer labels; we keep booleans and numbers apart.
    """
    key_is_bool = isinstance(key, bool | np.bool_)
    for index, label in enumerate(classes.tolist()):
        if isinstance(label, bool) != key_is_bool:
            continue
        if isinstance(label, str) != isinstance(key, str):
            continue
        if label == key:
            return index
    return None


def _from_array(class_weight, classes):
    try:
        weights = np.array(class_weight, dtype=np.float64)  # a copy: never alias the input
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"class_weight must be None, 'balanced', a dict or one number per class; "
            f"got {type(class_weight).__name__}: {exc}"
        ) from exc
    if weights.ndim != 1 or len(weights) != len(classes):
        raise ValueError(
            f"class_weight has shape {weights.shape} but there are {len(classes)} classes "
            f"{classes.tolist()!r}; give one weight per class, in that order."
        )
    return weights


def _as_float(value, name):
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number; got {value!r}.") from exc


def check_weight_vector(weights, *, name="class_weight", labels=None):
    """Check that ``weights`` is a 1-D, finite, non-negative, not all-zero vector.

    Returns the weights as a float64 ndarray. The error names the first bad entry,
    by its label when ``labels`` is given, else by its position.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1 or weights.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D vector; got shape {weights.shape}.")
    bad = np.flatnonzero(~np.isfinite(weights) | (weights < 0))
    if bad.size:
        i = int(bad[0])
        where = f"class {np.asarray(labels).tolist()[i]!r}" if labels is not None else f"entry {i}"
        raise ValueError(
            f"{name} must hold finite, non-negative numbers; the weight of {where} is "
            f"{float(weights[i])!r}."
        )
    if not np.any(weights > 0):
        raise ValueError(f"{name} is all zeros, which would make the loss zero; give a positive "
                         "weight to at least one class.")
    return weights
