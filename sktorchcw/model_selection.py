"""Cross-validated per-frame predictions, where scikit-learn's ``cross_val_predict`` cannot
carry them.

scikit-learn's :func:`~sklearn.model_selection.cross_val_predict` works with
:class:`~sktorchcw.LSTMBlinkTagger` for ``method='predict'``, for 3-D and ragged X (the tagger
returns a 1-D object array of per-recording labels for ragged X, which the folds concatenate).
For ``method='predict_proba'`` and ``'predict_log_proba'`` it cannot: it label-encodes ``y``
before fitting, column by column for a 2-D ``y`` (so per-frame labels are re-coded per time
step and padding becomes a class) and not at all for ragged ``y``, and it then lines the
probabilities up with ``y``'s columns instead of the classes. :func:`cross_val_predict` here
fits on the labels as given and returns every recording's output in input order, for every
prediction method, with one probability column per class of the whole ``y`` (as
scikit-learn's gives them): a class that a fold's training part lacks gets probability 0.
"""

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing

from ._warnings import warn_at_caller

__all__ = ["cross_val_predict"]

_METHODS = ("predict", "predict_proba", "predict_log_proba")
# What a class that a fold's training part lacks gets in its test part, in words.
_FILLS = {"predict_proba": "0", "predict_log_proba": "the smallest float"}


def cross_val_predict(estimator, X, y, *, groups=None, cv=None, method="predict",
                      params=None, n_jobs=None):
    """Each recording's output from the model that did not see it in training.

    Like scikit-learn's :func:`~sklearn.model_selection.cross_val_predict`, for outputs
    with one row per frame: the folds are split by recording (``groups`` for
    :class:`~sklearn.model_selection.GroupKFold`), an unfitted copy of ``estimator`` is
    fitted on each training fold with the labels as given, and the test fold's outputs
    are put back in the order of ``X``.

    Parameters
    ----------
    estimator : estimator
        An unfitted estimator, e.g. :class:`~sktorchcw.LSTMBlinkTagger`; cloned per fold.
    X : array-like or list of arrays
        Recordings, in any layout ``estimator.fit`` accepts.
    y : array-like or list of arrays
        Labels in any format ``estimator.fit`` accepts (per frame: a padded 2-D array,
        a list of arrays, a pandas Series of arrays...).
    groups : array-like of shape (n_recordings,), default=None
        Group of each recording (a subject, a session), for group-aware splitters.
    cv : int, cross-validation generator or iterable, default=None
        As in scikit-learn; None is 5-fold :class:`~sklearn.model_selection.KFold` over
        recordings (never stratified: per-frame labels have no class per recording).
        The test folds must partition the recordings.
    method : {'predict', 'predict_proba', 'predict_log_proba'}, default='predict'
        The estimator's method whose outputs are collected.
    params : dict, default=None
        Arguments for ``fit``; those with one entry per recording (``sample_weight``)
        are split with the recordings.
    n_jobs : int, default=None
        Folds fitted in parallel (joblib).

    Returns
    -------
    predictions : ndarray
        The outputs of every recording in the order of X: an ``(n, T, ...)`` array for
        an array X (``(n, ...)`` for one label per recording), a 1-D object array of
        ``(T_i, ...)`` arrays for a list of recordings. Probabilities have one column per
        class of the whole ``y``, sorted as ``classes_`` is, in every fold: a class that
        a fold's training part lacks gets 0 in ``predict_proba`` and the smallest float
        in ``predict_log_proba``, with a RuntimeWarning, as in scikit-learn.

    Raises
    ------
    ValueError
        For an unknown ``method``, X and y of different lengths, test folds that are
        not a partition of the recordings, or probabilities with a column count other
        than the fitted ``classes_``.
    TypeError
        For a probability ``method`` of an estimator without ``classes_`` after ``fit``.

    Notes
    -----
    The classes of the whole ``y`` are those of all training parts together, as the
    estimator reads the labels (padding left out). With test folds that partition the
    recordings and training parts that hold the other recordings (as every scikit-learn
    splitter gives), each recording is in a training part once there are two folds, so
    these are all of ``y``'s classes.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.model_selection import GroupKFold
    >>> from sktorchcw import LSTMBlinkTagger
    >>> from sktorchcw.model_selection import cross_val_predict
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(n, 2)) for n in (30, 45, 20, 35)]
    >>> y = [np.where(x[:, 0] > 1, "blink", "open") for x in X]
    >>> tagger = LSTMBlinkTagger(max_epochs=2, hidden_size=8, device="cpu", random_state=0)
    >>> proba = cross_val_predict(tagger, X, y, groups=[0, 0, 1, 1], cv=GroupKFold(2),
    ...                           method="predict_proba")
    >>> [p.shape for p in proba]
    [(30, 2), (45, 2), (20, 2), (35, 2)]

    A class that a fold's training part lacks has probability 0 in that fold, and the
    recordings of an array X stay one array:

    >>> import warnings
    >>> from sklearn.model_selection import KFold
    >>> X = rng.normal(size=(6, 20, 2))
    >>> y = np.where(X[:, :, 0] > 0, "blink", "open").astype(object)
    >>> y[:2, 0] = "partial"  # only in the first fold's test part
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", RuntimeWarning)  # fold 1 lacks "partial"
    ...     proba = cross_val_predict(tagger, X, y, cv=KFold(3), method="predict_proba")
    >>> proba.shape  # columns: "blink", "open", "partial"
    (6, 20, 3)
    >>> float(proba[:2, :, 2].max())  # fold 1 was trained without "partial"
    0.0
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {list(_METHODS)}; got {method!r}.")
    n_recordings = len(X)
    if len(y) != n_recordings:
        raise ValueError(f"X has {n_recordings} recordings but y has {len(y)}.")
    splits = list(check_cv(cv).split(np.zeros(n_recordings), groups=groups))
    tested = np.concatenate([test for _, test in splits])
    if np.sort(tested).tolist() != list(range(n_recordings)):
        raise ValueError("cross_val_predict needs test folds that hold every recording "
                         "exactly once (a partition), as KFold and GroupKFold give.")
    fitted = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_predict)(clone(estimator), X, y, train, test,
                                  _fold_params(params, train, n_recordings), method)
        for train, test in splits
    )
    outputs = [output for output, _ in fitted]
    if method != "predict":
        outputs = _on_all_classes(outputs, [classes for _, classes in fitted], method)
    order = np.empty(n_recordings, dtype=np.int64)
    order[tested] = np.arange(n_recordings)
    return _joined(outputs)[order]


def _fit_and_predict(estimator, X, y, train, test, params, method):
    """The test part's outputs of ``estimator`` fitted on the training part, and its
    ``classes_`` for a probability method (None for ``predict``)."""
    estimator.fit(_safe_indexing(X, train), _safe_indexing(y, train), **params)
    output = getattr(estimator, method)(_safe_indexing(X, test))
    return output, None if method == "predict" else _fitted_classes(estimator, method)


def _fitted_classes(estimator, method):
    """The fitted ``classes_`` of ``estimator``, which its probability columns follow."""
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise TypeError(f"cross_val_predict with method={method!r} needs an estimator "
                        f"with classes_ after fit, to line the probability columns up "
                        f"with the classes; {type(estimator).__name__} has none.")
    return np.asarray(classes)


def _on_all_classes(outputs, fold_classes, method):
    """Every fold's probabilities with one column per class of all folds together: a
    fold's columns moved to its classes' places, the others filled as scikit-learn fills
    them (0, or the smallest float for log-probabilities), with a RuntimeWarning."""
    classes = _all_classes(fold_classes)
    aligned = []
    for fold, (output, own) in enumerate(zip(outputs, fold_classes, strict=True), start=1):
        missing = [label for label in classes.tolist() if label not in own.tolist()]
        if missing:
            warn_at_caller(f"The training part of fold {fold} has {len(own)} of the "
                           f"{len(classes)} classes (it lacks {missing!r}); its test part's "
                           f"{method} columns of those are {_FILLS[method]}, as in "
                           f"scikit-learn's cross_val_predict. Folds whose training parts "
                           f"each hold every class avoid this.", RuntimeWarning)
        aligned.append(_each_on_classes(output, own, classes, method))
    return aligned


def _all_classes(fold_classes):
    """The folds' classes in their common order when they agree, else all of them sorted
    (as a fitted ``classes_`` is)."""
    first = fold_classes[0]
    if all(len(own) == len(first) and np.array_equal(own, first) for own in fold_classes):
        return first
    return np.unique(np.concatenate(fold_classes))


def _each_on_classes(output, own, classes, method):
    """``output`` (an array with classes last, or a 1-D object array of them) on
    ``classes``."""
    if isinstance(output, np.ndarray) and output.dtype == object:
        moved = np.empty(len(output), dtype=object)
        for index, row in enumerate(output):
            moved[index] = _on_classes(np.asarray(row), own, classes, method)
        return moved
    return _on_classes(np.asarray(output), own, classes, method)


def _on_classes(proba, own, classes, method):
    """``proba`` with its last axis (in the order of ``own``) spread onto ``classes``."""
    if proba.ndim == 0 or proba.shape[-1] != len(own):
        raise ValueError(f"{method} gave outputs of shape {proba.shape}, but the fitted "
                         f"estimator has {len(own)} classes; cross_val_predict needs one "
                         f"column per class, last.")
    if len(own) == len(classes) and np.array_equal(own, classes):
        return proba
    fill = 0.0 if method == "predict_proba" else np.finfo(proba.dtype).min
    spread = np.full((*proba.shape[:-1], len(classes)), fill, dtype=proba.dtype)
    spread[..., np.searchsorted(classes, own)] = proba
    return spread


def _fold_params(params, train, n_recordings):
    """``fit`` arguments of one training fold: those with one entry per recording split."""
    fold = {}
    for key, value in (params or {}).items():
        per_recording = (hasattr(value, "__len__") and not isinstance(value, (str, bytes))
                         and len(value) == n_recordings)
        fold[key] = _safe_indexing(value, train) if per_recording else value
    return fold


def _joined(outputs):
    """The folds' outputs as one array: stacked rows for arrays of one shape per row,
    else one object entry per recording."""
    if all(isinstance(out, np.ndarray) and out.dtype != object for out in outputs) and len(
            {out.shape[1:] for out in outputs}) == 1:
        return np.concatenate(outputs)
    rows = [row for out in outputs for row in out]
    joined = np.empty(len(rows), dtype=object)
    for index, row in enumerate(rows):
        joined[index] = row
    return joined
