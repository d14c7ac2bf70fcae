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
prediction method.
"""

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing

__all__ = ["cross_val_predict"]

_METHODS = ("predict", "predict_proba", "predict_log_proba")


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
        an array X, a 1-D object array of ``(T_i, ...)`` arrays for a list of recordings.

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
    outputs = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_predict)(clone(estimator), X, y, train, test,
                                  _fold_params(params, train, n_recordings), method)
        for train, test in splits
    )
    order = np.empty(n_recordings, dtype=np.int64)
    order[tested] = np.arange(n_recordings)
    return _joined(outputs)[order]


def _fit_and_predict(estimator, X, y, train, test, params, method):
    estimator.fit(_safe_indexing(X, train), _safe_indexing(y, train), **params)
    return getattr(estimator, method)(_safe_indexing(X, test))


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
