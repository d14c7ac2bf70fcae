"""Learning curves from fitted estimators' histories (needs matplotlib: ``pip install
sktorchcw[plot]``).

For confusion matrices and precision-recall curves use scikit-learn's display classes
directly on a fitted estimator, e.g.
``sklearn.metrics.PrecisionRecallDisplay.from_estimator(clf, X_test, y_test)``.
"""

__all__ = ["plot_learning_curves"]


def plot_learning_curves(histories, keys=("train_loss",), *, titles=None, figsize=None):
    """Draw one panel per history key, one line per model, against the epoch.

    Parameters
    ----------
    histories : estimator, skorch History, or dict of label -> either
        Fitted :class:`~sktorchcw.LSTMBlinkClassifier` objects (their ``history_``) or skorch
        histories; a dict draws several models in each panel.
    keys : str or sequence of str, default=("train_loss",)
        Per-epoch history entries, e.g. ``"train_loss"``, ``"valid_loss"``,
        ``"valid_bacc"``, or anything a callback recorded; a single string is one key.
    titles : str or sequence of str, default=None
        Panel titles, one per key (a single string for a single key); the keys by default.
    figsize : tuple, default=None
        Figure size in inches; about 4 inches wide per panel by default.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sktorchcw import LSTMBlinkClassifier
    >>> from sktorchcw.datasets import make_blink_dataset
    >>> from sktorchcw.plotting import plot_learning_curves
    >>> X, y = make_blink_dataset(100, seq_len=20, prevalence=0.2, random_state=0)
    >>> clf = LSTMBlinkClassifier(max_epochs=3, random_state=0).fit(X, y)
    >>> figure = plot_learning_curves({"unweighted": clf}, keys=["train_loss"])
    >>> len(figure.axes)
    1
    >>> plot_learning_curves(clf, keys="train_loss").axes[0].get_title()
    'train_loss'
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plot_learning_curves needs matplotlib: pip install 'sktorchcw[plot]'."
        ) from error
    if not isinstance(histories, dict):
        histories = {None: histories}
    keys = _as_names(keys)
    titles = _as_names(titles) if titles is not None else keys
    if len(titles) != len(keys):
        raise ValueError(f"Got {len(titles)} titles for {len(keys)} keys.")
    figure, axes = plt.subplots(
        1, len(keys), figsize=figsize or (4.2 * len(keys), 3.4), squeeze=False
    )
    for ax, key, title in zip(axes[0], keys, titles, strict=True):
        for label, source in histories.items():
            history = _history_of(source)
            _check_key(history, key)
            ax.plot(history[:, "epoch"], history[:, key], label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if any(label is not None for label in histories):
            ax.legend()
    figure.tight_layout()
    return figure


def _as_names(names):
    """A list of names; a single string is one name, not a sequence of letters."""
    return [names] if isinstance(names, str) else list(names)


def _history_of(source):
    history = getattr(source, "history_", source)
    if not hasattr(history, "to_list"):
        raise TypeError(
            f"Expected a fitted estimator or a skorch History; got {type(source).__name__}."
        )
    return history


def _check_key(history, key):
    recorded = set().union(*(row.keys() for row in history)) if len(history) else set()
    if key not in recorded:
        available = sorted(k for k in recorded if k not in ("batches", "epoch"))
        raise ValueError(f"The history has no {key!r}; it records {available}.")
