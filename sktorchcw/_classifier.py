"""LSTMBlinkClassifier: a scikit-learn classifier of whole sequences (one label each)."""

from sklearn.base import ClassifierMixin

from ._estimator import SequenceEstimator, document_parameters
from ._module import GRULogits, LSTMLogits
from ._targets import PER_SEQUENCE

__all__ = ["LSTMBlinkClassifier"]


@document_parameters
class LSTMBlinkClassifier(ClassifierMixin, SequenceEstimator):
    """LSTM sequence classifier with class weights for any PyTorch loss.

    An LSTM reads each sequence; its state at the last valid time step feeds a
    linear layer of logits. Training runs on skorch's :class:`~skorch.net.NeuralNet`
    (callbacks, history, ``module__*`` / ``optimizer__*`` / ``criterion__*`` /
    ``iterator_train__*`` / ``iterator_valid__*`` / ``callbacks__*`` routing); the
    loss is a :class:`ClassWeightedLoss`, so ``class_weight`` and ``sample_weight``
    work with every criterion.

{parameters}    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    class_weight_ : ndarray of shape (n_classes,)
        The class weights used, aligned with ``classes_``.
    training_weight_ : ndarray of shape (n_classes,)
        How much training weighted each class relative to its natural share (class
        weight x sampling rate x mean sample weight x the criterion's ``pos_weight``);
        ``prior_correction`` divides the probabilities by it.
    n_features_in_ : int
        For 2-D X, the number of columns (time steps), as scikit-learn defines it;
        for 3-D or ragged X, the features per time step.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of a DataFrame X with string column names.
    input_layout_ : {{'columns', 'sequences'}}
        Whether fit saw 2-D X (one column per time step; predict needs the same
        columns) or 3-D / ragged X (any length at predict).
    device_ : str
        The device used, e.g. 'cpu' or 'cuda:0'.
    net_ : SequenceNet
        The fitted skorch net.
    history_ : skorch.History
        Per-epoch (and per-batch) records: ``train_loss``, ``valid_loss``, ``valid_bacc``...
    module_ : torch.nn.Module
        The trained network; it returns logits.

    Raises
    ------
    TrainingDivergedError
        From ``fit``, when the training loss or the weights become NaN or infinite;
        the message names the epoch (and batch), and the estimator is left unfitted
        (no attributes of an earlier fit remain; a continued fit keeps the model it
        continued), so it never predicts from broken weights.
    ValueError
        From ``fit``, for a keyword given to the constructor or ``set_params`` that is
        neither a parameter nor routed (both store it, as scikit-learn requires).

    See Also
    --------
    ClassWeightedLoss : the loss, usable in any PyTorch loop.
    resolve_class_weight : how ``class_weight`` becomes a vector.

    Notes
    -----
    X may be 2-D ``(n_samples, n_timesteps)`` (a DataFrame too: one row per
    sequence), 3-D ``(n_samples, n_timesteps, n_features)``, or a list of
    ``(n_timesteps_i, n_features)`` arrays of different lengths, which are padded
    and packed, so that padding changes a result by float32 rounding at most (about
    1e-7). ``predict_proba`` is the softmax of the logits (a sigmoid for a single
    logit), whatever the criterion.

    Examples
    --------
    >>> from sktorchcw import LSTMBlinkClassifier
    >>> from sktorchcw.datasets import make_blink_dataset
    >>> X, y = make_blink_dataset(300, seq_len=30, prevalence=0.2, random_state=0)
    >>> clf = LSTMBlinkClassifier(class_weight="balanced", max_epochs=5, random_state=0)
    >>> clf.fit(X, y).classes_
    array([0, 1])
    >>> clf.class_weight_
    array([0.625, 2.5  ])
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _builtin_modules = {"lstm": LSTMLogits, "gru": GRULogits}
    _targets = PER_SEQUENCE
