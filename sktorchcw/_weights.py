"""Turn a user's ``class_weight`` into one float vector aligned with ``classes``."""

import inspect
import numbers
from collections.abc import Mapping
from collections.abc import Set as AbstractSet

import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

from ._data import count_codes

__all__ = ["resolve_class_weight", "check_weight_vector", "effective_number_weights"]

# scikit-learn's compute_class_weight takes sample_weight only in recent releases; older
# ones (still allowed by pyproject.toml) get the same formula from _weighted_balanced.
_SKLEARN_BALANCED_TAKES_SAMPLE_WEIGHT = (
    "sample_weight" in inspect.signature(compute_class_weight).parameters
)

_MAPPING_HINT = (
    "Pass a dict {label: weight} (or a pandas Series indexed by the labels), or a list or "
    "array of one weight per class in classes order."
)


def resolve_class_weight(class_weight, *, classes, y=None, sample_weight=None):
    """Resolve ``class_weight`` into a float vector aligned with ``classes``.

    Parameters
    ----------
    class_weight : None, 'balanced', mapping, array-like of shape (n_classes,) or callable
        - ``None``: every class weighs 1.
        - ``'balanced'``: ``n_samples / (n_classes * count_c)``, counted on the
          ``y`` given (inside cross-validation, the training fold only), as
          :func:`sklearn.utils.class_weight.compute_class_weight` computes it.
          With ``sample_weight``, the counts are sums of sample weights:
          ``sum(sample_weight) / (n_classes * sum(sample_weight[y == c]))``.
        - mapping: ``{label: weight}`` keyed by the original labels (ints,
          strings, bools, or their numpy scalars); classes left out weigh 1.
          Any :class:`collections.abc.Mapping` and any dict-like object with
          ``keys()`` and ``items()`` is read by label, never by position; a
          :class:`pandas.Series` is read by its index, even a default
          ``RangeIndex`` (whose labels 0, 1, ... must then be classes). Two
          entries for one class (a Series with a repeated index label) are an
          error.
        - array-like: one weight per class, in ``classes`` order (a list, a
          tuple or a 1-D ndarray; for a Series in that order pass
          ``series.to_numpy()``).
        - callable: the extension point for weighting schemes of your own,
          called as ``class_weight(classes, y, sample_weight)`` with
          ``classes`` and ``y`` as ndarrays (``y`` is None when not given) and
          ``sample_weight`` as a float64 ndarray or None. It returns one weight
          per class, in ``classes`` order, which is checked like an array. An
          error it raises comes back as a ValueError naming it, with the
          original error as its cause. :class:`effective_number_weights` is
          one; give your own a readable repr and equality (or make it a
          module-level function) so that ``clone`` and ``GridSearchCV`` show
          and compare it.

        A set (no order) or a DataFrame (no single column of weights) is refused.
    classes : array-like of shape (n_classes,)
        The classes, in the order the returned vector follows (an estimator's
        ``classes_``).
    y : array-like of shape (n_samples,), default=None
        The labels to count for ``'balanced'``. Not used otherwise.
    sample_weight : array-like of shape (n_samples,), default=None
        Finite, non-negative weights of the samples of ``y``: ``'balanced'``
        counts each sample with its weight, as scikit-learn does. Not used
        otherwise.

    Returns
    -------
    weights : ndarray of shape (n_classes,), dtype float64
        Finite, non-negative weights, not all zero.

    Raises
    ------
    TypeError
        For a ``class_weight`` that is a set, a DataFrame or a class (rather
        than an instance of one).
    ValueError
        For an unknown string, a mapping none of whose keys is a class (a key
        that is not a class of this ``classes`` is ignored, as scikit-learn
        does: a cross-validation fold may lack a label), two keys for one
        class, a negative, NaN or infinite weight, all weights zero, a
        wrong-length array, or ``'balanced'`` without ``y``, with a ``y``
        missing a class, with a class whose samples all have
        ``sample_weight`` 0, or with a ``sample_weight`` that is not one
        finite, non-negative number per label; for a callable that raises, or
        whose result is not one such weight per class.

    Examples
    --------
    >>> import pandas as pd
    >>> from sktorchcw import resolve_class_weight
    >>> y = ["no blink"] * 9 + ["blink"]
    >>> resolve_class_weight("balanced", classes=["blink", "no blink"], y=y)
    array([5.        , 0.55555556])
    >>> resolve_class_weight({"blink": 10}, classes=["blink", "no blink"])
    array([10.,  1.])

    A Series is read by its index, whatever the order of its entries:

    >>> resolve_class_weight(pd.Series({"no blink": 0.5, "blink": 5.0}),
    ...                      classes=["blink", "no blink"])
    array([5. , 0.5])

    Sample weights count in ``'balanced'``: here the blink weighs as much as
    three samples, so the classes weigh 12 / (2 * 3) and 12 / (2 * 9):

    >>> resolve_class_weight("balanced", classes=["blink", "no blink"], y=y,
    ...                      sample_weight=[1] * 9 + [3])
    array([2.        , 0.66666667])

    A callable computes the weights from the labels; here the inverse square
    root of the class counts, in ``classes`` order:

    >>> import numpy as np
    >>> def inverse_sqrt_count(classes, y, sample_weight):
    ...     return [1 / np.sqrt(np.sum(y == label)) for label in classes]
    >>> resolve_class_weight(inverse_sqrt_count, classes=["blink", "no blink"], y=y)
    array([1.        , 0.33333333])
    """
    classes = np.asarray(classes)
    if classes.ndim != 1 or classes.size == 0:
        raise ValueError(
            f"classes must be a non-empty 1-D array of labels; got shape {classes.shape}."
        )
    if class_weight is None:
        return np.ones(len(classes), dtype=np.float64)
    _refuse_unaligned(class_weight)
    if callable(class_weight) and not _is_mapping(class_weight):
        weights = _from_callable(class_weight, classes, y, sample_weight)
    elif isinstance(class_weight, str):
        weights = _balanced(class_weight, classes, y, sample_weight)
    elif _is_mapping(class_weight):
        weights = _from_mapping(class_weight, classes)
    else:
        weights = _from_array(class_weight, classes)
    return check_weight_vector(weights, name="class_weight", labels=classes)


def _balanced(class_weight, classes, y, sample_weight):
    if class_weight != "balanced":
        raise ValueError(
            f"class_weight={class_weight!r} is not understood; the only string accepted is "
            "'balanced'. Pass None, 'balanced', a dict {label: weight} or one weight per class."
        )
    if sample_weight is None and y is not None:
        counts = _code_counts(classes, np.asarray(y))
        if counts is not None:  # scikit-learn's formula, without its copies of y
            return _weighted_balanced(counts)
    # Checks y and the sample weights and counts every class, weighted.
    counts = _class_counts(classes, y, sample_weight, "class_weight='balanced'")
    y = np.asarray(y)
    if sample_weight is None:
        return compute_class_weight("balanced", classes=classes, y=y)
    if _SKLEARN_BALANCED_TAKES_SAMPLE_WEIGHT:
        return compute_class_weight("balanced", classes=classes, y=y,
                                    sample_weight=np.asarray(sample_weight, dtype=np.float64))
    return _weighted_balanced(counts)


def _code_counts(classes, y):
    """How many labels of ``y`` each class has, as float64, where ``classes`` are the
    codes ``0 .. n_classes - 1`` and ``y`` holds only those (the estimators count their
    per-frame codes this way: a few MiB whatever the frames, where a mask per class and
    scikit-learn's label encoding copy ``y`` several times); None otherwise, or where a
    class is absent (the general path then says which)."""
    if (y.ndim != 1 or y.size == 0 or y.dtype.kind not in "iu" or classes.dtype.kind not in "iu"
            or not np.array_equal(classes, np.arange(len(classes)))):
        return None
    if y.min() < 0 or y.max() >= len(classes):
        return None
    counts = count_codes(y, len(classes))
    if not counts.all():
        return None
    return counts.astype(np.float64)


def _class_members(classes, y, what):
    """One boolean mask of ``y`` per class; every class present, every label a class."""
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array of labels; got shape {y.shape}.")
    members = [y == label for label in classes]
    missing = [label for label, member in zip(classes.tolist(), members, strict=True)
               if not np.any(member)]
    if missing:
        raise ValueError(
            f"{what} cannot weight classes absent from y: {missing!r}. "
            "Give explicit weights for them with a dict, or check the labels."
        )
    unknown = ~np.logical_or.reduce(members)
    if np.any(unknown):
        raise ValueError(
            f"y holds labels that are not classes, e.g. {y[unknown].tolist()[0]!r}; the "
            f"classes are {classes.tolist()!r}. List every label of y in classes."
        )
    return members


def _from_callable(class_weight, classes, y, sample_weight):
    """Call ``class_weight(classes, y, sample_weight)``; one weight per class comes back."""
    if isinstance(class_weight, type):
        raise TypeError(
            f"class_weight is the class {class_weight.__name__}, not a weight function; pass "
            f"an instance, e.g. class_weight={class_weight.__name__}()."
        )
    if y is not None:
        y = np.asarray(y)
        if sample_weight is not None and y.ndim == 1:
            sample_weight = _check_sample_weight(sample_weight, len(y))
    try:
        result = class_weight(classes, y, sample_weight)
    except Exception as exc:
        raise ValueError(
            f"class_weight={class_weight!r} raised {type(exc).__name__} while computing the "
            f"weights of the classes {classes.tolist()!r}: {exc}. A class_weight callable is "
            "called as class_weight(classes, y, sample_weight) and returns one weight per "
            "class, in classes order."
        ) from exc
    try:
        weights = np.array(result, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"class_weight={class_weight!r} returned {type(result).__name__}, not numbers: "
            f"{exc}. It must return one weight per class, in classes order."
        ) from exc
    if weights.shape != (len(classes),):
        raise ValueError(
            f"class_weight={class_weight!r} returned weights of shape {weights.shape} for "
            f"{len(classes)} classes {classes.tolist()!r}; it must return one weight per "
            "class, in classes order."
        )
    return weights


def _class_counts(classes, y, sample_weight, what):
    """How many samples of ``y`` each class has, each counted with its sample weight."""
    if y is None:
        raise ValueError(f"{what} needs the labels y to count the classes.")
    members = _class_members(classes, np.asarray(y), what)
    if sample_weight is None:
        return np.array([member.sum() for member in members], dtype=np.float64)
    sample_weight = _check_sample_weight(sample_weight, len(members[0]))
    counts = np.array([sample_weight[member].sum() for member in members])
    empty = [label for label, count in zip(classes.tolist(), counts, strict=True)
             if not count > 0]
    if empty:
        raise ValueError(
            f"{what} cannot weight classes whose samples all have sample_weight 0: "
            f"{empty!r}. Give some of their samples a positive weight, or give explicit class "
            "weights with a dict."
        )
    return counts


class effective_number_weights:  # lower case: used like a function, as in the issue
    """Class weights from the effective number of samples: a ``class_weight`` value.

    Each class weighs ``w_c = (1 - beta) / (1 - beta ** n_c)``, rescaled so that the
    weights sum to the number of classes, where ``n_c`` is the number of samples of
    class ``c`` (the sum of their sample weights when ``sample_weight`` is given),
    counted on the ``y`` passed to ``fit`` (the training fold in cross-validation,
    the valid frames for :class:`LSTMBlinkTagger`). ``1 - beta ** n`` over
    ``1 - beta`` is the expected volume covered by ``n`` samples when each new one
    overlaps the earlier ones with probability ``beta`` (Cui et al., 2019).

    Parameters
    ----------
    beta : float in [0, 1), default=0.999
        ``0`` weighs every class 1; as ``beta`` approaches 1 the weights approach
        ``1 / n_c`` (the ratios of ``'balanced'``). Cui et al. use 0.9 to 0.9999;
        the larger the classes, the closer to 1 ``beta`` must be to matter.

    See Also
    --------
    resolve_class_weight : calls it as ``class_weight(classes, y, sample_weight)``.

    Notes
    -----
    The object behaves like a parameter value: it has ``get_params`` and
    ``set_params`` (so :func:`sklearn.base.clone` copies it), a repr that
    rebuilds it, equality and a hash by ``beta``, and it pickles.
    ``to_json()`` and ``from_json()`` give a JSON form, ``{"effective_number_weights":
    beta}``.

    References
    ----------
    Y. Cui, M. Jia, T.-Y. Lin, Y. Song and S. Belongie, "Class-Balanced Loss Based on
    Effective Number of Samples", CVPR 2019.

    Examples
    --------
    >>> from sktorchcw import resolve_class_weight
    >>> from sktorchcw import effective_number_weights
    >>> weights = effective_number_weights(beta=0.99)
    >>> weights
    effective_number_weights(beta=0.99)
    >>> y = ["no blink"] * 90 + ["blink"] * 10
    >>> resolve_class_weight(weights, classes=["blink", "no blink"], y=y)
    array([1.723202, 0.276798])

    It is a ``class_weight`` like any other, in a grid too:
    ``GridSearchCV(LSTMBlinkClassifier(), {"class_weight": [None, "balanced",
    effective_number_weights(0.99)]})``.
    """

    def __init__(self, beta=0.999):
        _check_beta(beta)
        self.beta = beta

    def __call__(self, classes, y, sample_weight=None):
        """Return the weights of ``classes``, counted on ``y`` (and ``sample_weight``)."""
        classes = np.asarray(classes)
        counts = _class_counts(classes, y, sample_weight, what=repr(self))
        beta = _check_beta(self.beta)
        if beta == 0.0:
            weights = np.ones(len(classes), dtype=np.float64)
        else:
            # 1 - beta**n, accurate when beta**n is close to 1 (beta near 1, few samples).
            effective = -np.expm1(counts * np.log(beta))
            weights = (1.0 - beta) / effective
        return weights * (len(weights) / weights.sum())

    def get_params(self, deep=True):
        """The parameters, ``{'beta': beta}``, as scikit-learn's ``get_params``."""
        return {"beta": self.beta}

    def set_params(self, **params):
        """Set ``beta``, as scikit-learn's ``set_params``; returns self."""
        unknown = sorted(set(params) - {"beta"})
        if unknown:
            raise ValueError(
                f"effective_number_weights has no parameter(s) {unknown}; its only parameter "
                "is beta."
            )
        if "beta" in params:
            _check_beta(params["beta"])
            self.beta = params["beta"]
        return self

    def to_json(self):
        """The JSON form ``{"effective_number_weights": beta}``, which ``from_json`` reads."""
        return {"effective_number_weights": _check_beta(self.beta)}

    @classmethod
    def from_json(cls, data):
        """Rebuild the object that ``to_json`` gave ``data``; ValueError for anything else."""
        if not (isinstance(data, dict) and list(data) == ["effective_number_weights"]):
            raise ValueError(
                f"{data!r} is not the JSON form of effective_number_weights, which is "
                '{"effective_number_weights": beta}.'
            )
        beta = data["effective_number_weights"]
        if isinstance(beta, bool) or not isinstance(beta, int | float):
            raise ValueError(f"effective_number_weights: beta is stored as {beta!r}, not a "
                             "number.")
        return cls(beta=float(beta))

    def __repr__(self):
        return f"{type(self).__name__}(beta={_plain_number(self.beta)!r})"

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return _plain_number(self.beta) == _plain_number(other.beta)

    def __hash__(self):
        return hash((type(self).__name__, _plain_number(self.beta)))


def _plain_number(value):
    """A Python float for a real number (so numpy scalars print and hash as floats)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        return float(value)
    return value


def _check_beta(beta):
    """``beta`` as a float in [0, 1), else a ValueError that says why."""
    if isinstance(beta, bool | np.bool_) or not isinstance(beta, numbers.Real):
        raise ValueError(
            f"effective_number_weights: beta must be a real number in [0, 1); got {beta!r}."
        )
    value = float(beta)
    if not 0.0 <= value < 1.0:  # NaN fails too
        raise ValueError(
            f"effective_number_weights: beta must lie in [0, 1); got {beta!r}. beta=0 weighs "
            "every class 1; values close to 1 (0.99, 0.999, 0.9999) approach inverse class "
            "frequencies."
        )
    return value


def _weighted_balanced(counts):
    """scikit-learn's 'balanced': ``sum(s) / (n_classes * sum(s[y == c]))``.

    ``counts`` holds ``sum(s[y == c])`` for every class (plain counts without sample
    weights); every label of ``y`` is a class, so their total is ``sum(s)``.
    """
    return counts.sum() / (len(counts) * counts)


def _check_sample_weight(sample_weight, n_samples):
    try:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sample_weight must hold numbers; {exc}") from exc
    if sample_weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight has shape {sample_weight.shape} but y has {n_samples} labels; "
            "give one weight per label."
        )
    bad = np.flatnonzero(~np.isfinite(sample_weight) | (sample_weight < 0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"sample_weight must hold finite, non-negative numbers; sample_weight[{i}] is "
            f"{float(sample_weight[i])!r}."
        )
    return sample_weight


def _refuse_unaligned(class_weight):
    """Refuse containers that give no way to tell which weight is whose: sets, DataFrames."""
    if isinstance(class_weight, pd.DataFrame):
        raise TypeError(
            "class_weight is a DataFrame, which holds no single column of weights. Pass one "
            "column indexed by the labels, e.g. df['weight'], a dict {label: weight}, or a "
            "list or array of one weight per class in classes order."
        )
    if isinstance(class_weight, AbstractSet):
        raise TypeError(
            f"class_weight is a {type(class_weight).__name__}, which has no order and no "
            "labels, so its weights cannot be matched to classes. " + _MAPPING_HINT
        )


def _is_mapping(class_weight):
    """Whether ``class_weight`` is read by label: a Mapping, a Series or another dict-like."""
    if isinstance(class_weight, Mapping | pd.Series):
        return True
    return callable(getattr(class_weight, "keys", None)) and callable(
        getattr(class_weight, "items", None)
    )


def _from_mapping(class_weight, classes):
    if isinstance(class_weight, pd.Series) and not class_weight.index.is_unique:
        repeated = class_weight.index[class_weight.index.duplicated()].unique().tolist()
        raise ValueError(
            f"class_weight is a Series whose index repeats the label(s) {repeated!r}; give "
            "each class one weight."
        )
    weights = np.ones(len(classes), dtype=np.float64)
    key_of_class: dict[int, object] = {}
    items = list(class_weight.items())
    if items and all(_index_of(key, classes) is None for key, _ in items):
        raise ValueError(
            f"class_weight has the keys {[key for key, _ in items][:5]!r}, and none of them is "
            f"a class: not a class of this fit. The classes are {classes.tolist()!r}; key the "
            "weights by the original labels" + _series_hint(class_weight)
        )
    for key, value in items:
        index = _index_of(key, classes)
        if index is None:
            # Not a class of this fit (a cross-validation fold without the rare label):
            # ignored, as scikit-learn ignores it.
            _as_float(value, f"class_weight[{key!r}]")
            continue
        if index in key_of_class:
            raise ValueError(
                f"class_weight gives the class {classes.tolist()[index]!r} two weights (keys "
                f"{key_of_class[index]!r} and {key!r}); give each class one weight."
            )
        key_of_class[index] = key
        weights[index] = _as_float(value, f"class_weight[{key!r}]")
    return weights


def _series_hint(class_weight):
    if isinstance(class_weight, pd.Series):
        return (
            ". A Series is matched to the classes by its index, not by position; for "
            "weights in classes order pass series.to_numpy()."
        )
    return "."


def _index_of(key, classes):
    """Position of ``key`` in ``classes``, matching the kind of label as well as the value.

    ``True == 1`` in Python, so a plain ``==`` would let ``{True: 5}`` weight the
    class ``1`` of integer labels; booleans, numbers and strings are kept apart,
    whether Python or numpy scalars.
    """
    key_kind = _label_kind(key)
    for index, label in enumerate(classes):
        if _label_kind(label) != key_kind:
            continue
        if bool(label == key):
            return index
    return None


def _label_kind(label):
    if isinstance(label, bool | np.bool_):
        return "bool"
    if isinstance(label, numbers.Number):
        return "number"
    if isinstance(label, str):
        return "str"  # numpy's str_ too
    if isinstance(label, bytes):
        return "bytes"
    return "other"


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
