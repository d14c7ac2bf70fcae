"""LSTMBlinkClassifier: a scikit-learn classifier that trains an LSTM with skorch."""

import copy
import inspect
import os
import sys
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import EpochScoring, ProgressBar
from torch import nn

from ._batching import SequenceDataset, SliceBatches, check_batch_size
from ._checkpoint import (
    EpochCheckpoint,
    checkpoint_path,
    load_checkpoint,
    remove_checkpoint,
    restore_checkpoint,
    training_fingerprint,
)
from ._data import check_fit_input, check_fit_sample_weight, check_predict_input
from ._device import resolve_device, seeded_torch
from ._loss import REDUCTIONS, WEIGHTINGS, ClassWeightedLoss, criterion_formats
from ._module import LSTMLogits
from ._net import SequenceNet, logits_to_proba
from ._persistence import save_model
from ._weights import resolve_class_weight

__all__ = ["LSTMBlinkClassifier"]

ROUTED_PREFIXES = ("module", "optimizer", "criterion", "iterator_train", "iterator_valid",
                   "callbacks")
_SINGLE_LOGIT_CRITERIA = (
    nn.BCEWithLogitsLoss,
    nn.BCELoss,
    torch.nn.functional.binary_cross_entropy_with_logits,
    torch.nn.functional.binary_cross_entropy,
)
_FORMAT_PARAMETERS = ("input_format", "target_format")


class LSTMBlinkClassifier(ClassifierMixin, BaseEstimator):
    """LSTM sequence classifier with class weights for any PyTorch loss.

    An LSTM reads each sequence; its state at the last valid time step feeds a
    linear layer of logits. Training runs on skorch's :class:`~skorch.net.NeuralNet`
    (callbacks, history, ``module__*`` / ``optimizer__*`` / ``criterion__*`` /
    ``iterator_train__*`` / ``iterator_valid__*`` / ``callbacks__*`` routing); the
    loss is a :class:`ClassWeightedLoss`, so ``class_weight`` and ``sample_weight``
    work with every criterion.

    Parameters
    ----------
    class_weight : None, 'balanced', dict or array-like, default=None
        Weight of each class in the training loss. ``'balanced'`` gives
        ``n_samples / (n_classes * count_c)``, computed from the ``y`` passed to
        ``fit`` (inside cross-validation: the training fold). A dict maps original
        labels to weights (missing classes weigh 1); an array lists weights in
        ``classes_`` order. See :func:`resolve_class_weight`.
    criterion : loss class, loss instance or callable, default=nn.CrossEntropyLoss
        Any PyTorch loss, e.g. ``nn.L1Loss``, ``nn.MSELoss``, ``nn.HuberLoss``,
        ``nn.BCEWithLogitsLoss`` or your own; targets and inputs are adapted per
        criterion (see :class:`ClassWeightedLoss`). A class receives the
        ``criterion__*`` parameters; ``criterion__input_format`` and
        ``criterion__target_format`` declare what an unknown criterion expects.
    loss_reduction : {'mean', 'weighted_mean', 'sum'}, default='mean'
        ``'mean'``: ``sum(s*w*l) / N`` per batch (Keras and scikit-learn);
        ``'weighted_mean'``: ``sum(s*w*l) / sum(s*w)`` (what ``CrossEntropyLoss``
        and ``NLLLoss(weight=)`` do);
        ``'sum'``: ``sum(s*w*l)``.
    weighting : {'sample', 'output'}, default='sample'
        ``'sample'``: each sample's loss times its class weight. ``'output'``: the
        loss of output column ``j`` times ``w_j`` (needs a one-hot criterion).
    hidden_size : int, default=32
        Units of each LSTM layer.
    num_layers : int, default=1
        Stacked LSTM layers.
    bidirectional : bool, default=False
        Read sequences in both directions.
    dropout : float, default=0.0
        Dropout between LSTM layers and before the linear layer, in [0, 1).
    standardize : bool, default=True
        Standardise each input feature with the mean and standard deviation of the
        training data (valid time steps only). The statistics are part of the model.
    max_epochs : int, default=30
        Passes over the training data.
    batch_size : int, default=64
        Sequences per batch.
    lr : float, default=0.01
        Learning rate.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Further arguments through ``optimizer__*``.
    train_split : None or callable, default=None
        None trains on everything. ``skorch.dataset.ValidSplit(0.2, stratified=True)``
        holds out a validation set: its loss (unweighted, as in Keras) and balanced
        accuracy (``valid_bacc``) go into ``history_``, so that
        ``skorch.callbacks.EarlyStopping(monitor='valid_bacc', lower_is_better=False)``
        can stop training.
    callbacks : None or list, default=None
        skorch callbacks (instances or ``(name, callback)`` pairs), copied on every
        fit so the ones given stay untouched.
    iterator_train, iterator_valid : None or class, default=None
        None slices whole batches from tensors (fast). The tensors are copied to the
        training device once when they take at most half of its free memory, so on a
        GPU no batch is copied from the host; larger data is sliced on the host.
        ``torch.utils.data.DataLoader`` takes skorch's per-sample path (for custom
        datasets).
    device : str or torch.device, default='auto'
        'auto' (CUDA, then MPS, then CPU), 'cpu', 'cuda', 'cuda:N' or 'mps'.
    random_state : None, int or numpy.random.RandomState, default=None
        Seeds weight initialisation, dropout and shuffling. The same int gives the
        same model; torch's global random state is left as it was.
    verbose : int, default=0
        1 prints skorch's table of epochs.
    progress_bar : bool or 'auto', default='auto'
        Show a per-batch progress bar (skorch's ``ProgressBar``, tqdm) during ``fit``.
        ``'auto'`` shows it when ``verbose > 0`` and standard output is a terminal,
        never in logs, notebooks' captured output or CI.
    checkpoint_dir : None, str or path, default=None
        Folder for a checkpoint written after every epoch (weights, optimizer state,
        history, random state; read back with torch's weights-only loader), one file
        per training configuration, named after a hash of the parameters and data. A
        fit that finds the checkpoint of its own parameters and data there resumes
        from it and ends with ``max_epochs`` epochs in all, exactly as if never
        stopped (with an int ``random_state``, a seeded ``train_split`` and callbacks
        that keep no state, such as EarlyStopping's counters or an LRScheduler's
        step, which are not saved); other fits' checkpoints are left alone, so the
        fits of a parallel search may share the folder. The checkpoint is deleted when
        its fit completes. Ctrl-C (KeyboardInterrupt) ends training with a warning and
        keeps the model of the last finished epoch.
    **kwargs
        Routed parameters: ``module__bias``, ``module__proj_size`` (of
        :class:`torch.nn.LSTM`), ``optimizer__*``, ``criterion__*``,
        ``iterator_train__*``, ``iterator_valid__*``, ``callbacks__*``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    class_weight_ : ndarray of shape (n_classes,)
        The class weights used, aligned with ``classes_``.
    n_features_in_ : int
        For 2-D X, the number of columns (time steps), as scikit-learn defines it;
        for 3-D or ragged X, the features per time step.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of a DataFrame X with string column names.
    input_layout_ : {'columns', 'sequences'}
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
        From ``fit``, when the training loss becomes NaN or infinite; the message
        names the epoch and batch, and the estimator is left unfitted (no
        attributes of an earlier fit remain), so it never predicts from broken
        weights.

    See Also
    --------
    ClassWeightedLoss : the loss, usable in any PyTorch loop.
    resolve_class_weight : how ``class_weight`` becomes a vector.

    Notes
    -----
    X may be 2-D ``(n_samples, n_timesteps)`` (a DataFrame too: one row per
    sequence), 3-D ``(n_samples, n_timesteps, n_features)``, or a list of
    ``(n_timesteps_i, n_features)`` arrays of different lengths, which are padded
    and packed so that padding never changes a result. ``predict_proba`` is the
    softmax of the logits (a sigmoid for a single logit), whatever the criterion.

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

    _parameter_constraints = {
        "class_weight": [StrOptions({"balanced"}), dict, "array-like", None],
        "criterion": [callable],
        "loss_reduction": [StrOptions(set(REDUCTIONS))],
        "weighting": [StrOptions(set(WEIGHTINGS))],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "standardize": ["boolean"],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [callable],
        "train_split": [callable, None],
        "callbacks": [list, None],
        "iterator_train": [callable, None],
        "iterator_valid": [callable, None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "progress_bar": ["boolean", StrOptions({"auto"})],
        "checkpoint_dir": [str, os.PathLike, None],
    }

    def __init__(
        self,
        *,
        class_weight=None,
        criterion=nn.CrossEntropyLoss,
        loss_reduction="mean",
        weighting="sample",
        hidden_size=32,
        num_layers=1,
        bidirectional=False,
        dropout=0.0,
        standardize=True,
        max_epochs=30,
        batch_size=64,
        lr=0.01,
        optimizer=torch.optim.Adam,
        train_split=None,
        callbacks=None,
        iterator_train=None,
        iterator_valid=None,
        device="auto",
        random_state=None,
        verbose=0,
        progress_bar="auto",
        checkpoint_dir=None,
        **kwargs,
    ):
        self.class_weight = class_weight
        self.criterion = criterion
        self.loss_reduction = loss_reduction
        self.weighting = weighting
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.standardize = standardize
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.train_split = train_split
        self.callbacks = callbacks
        self.iterator_train = iterator_train
        self.iterator_valid = iterator_valid
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.progress_bar = progress_bar
        self.checkpoint_dir = checkpoint_dir
        self.__dict__.update(kwargs)

    # -- parameters ---------------------------------------------------------------------

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update(self._extra_params())
        return params

    def set_params(self, **params):
        # Routed names (and names given to __init__ through **kwargs) are stored as they
        # come, like skorch does; fit validates them, so set_params itself never fails on them.
        extra = {
            key: value
            for key, value in params.items()
            if _is_routed(key) or key in self._extra_params()
        }
        self.__dict__.update(extra)
        super().set_params(**{k: v for k, v in params.items() if k not in extra})
        return self

    def _extra_params(self):
        """Parameters given through ``**kwargs``: everything stored that is not a named
        parameter, a fitted attribute (trailing ``_``) or private."""
        named = set(self._get_param_names())
        return {
            key: value
            for key, value in vars(self).items()
            if key not in named and not key.endswith("_") and not key.startswith("_")
        }

    def _routed_for(self, prefix):
        start = prefix + "__"
        return {
            key[len(start):]: value
            for key, value in self._extra_params().items()
            if key.startswith(start)
        }

    def _check_routed_params(self):
        unknown = sorted(key for key in self._extra_params() if not _is_routed(key))
        if unknown:
            raise ValueError(
                f"Unknown parameter(s) {unknown} for {type(self).__name__}. Routed parameters "
                f"start with one of {[p + '__' for p in ROUTED_PREFIXES]}."
            )
        for iterator in ("iterator_train", "iterator_valid"):
            routed = self._routed_for(iterator)
            if "batch_size" in routed:
                check_batch_size(routed["batch_size"], name=f"{iterator}__batch_size")

    # -- fitting ------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Train the network on sequences ``X`` with labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps) or (n_samples, n_timesteps, \
n_features), DataFrame, or list of (n_timesteps_i, n_features) arrays
            Training sequences.
        y : array-like of shape (n_samples,)
            Labels of any type (ints, strings, bools); at least two classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, multiplied with the class weights.

        Returns
        -------
        self : LSTMBlinkClassifier
            The fitted estimator.
        """
        try:
            return self._fit(X, y, sample_weight)
        except BaseException:
            # Whatever stopped the fit (bad input, divergence), never leave a mix of old and
            # new fitted attributes behind: the estimator is unfitted afterwards.
            self._forget_fit()
            raise

    def _fit(self, X, y, sample_weight):
        self._validate_params()
        self._check_routed_params()
        sequences, self.classes_, y_encoded = check_fit_input(self, X, y)
        self.input_layout_ = sequences.layout
        self.class_weight_ = resolve_class_weight(
            self.class_weight, classes=self.classes_, y=self.classes_[y_encoded]
        )
        sample_weight = check_fit_sample_weight(
            sample_weight, sequences, self.class_weight_, y_encoded
        )
        self.device_ = resolve_device(self.device)
        criterion = self._build_criterion()
        checkpoint, fingerprint = None, None
        if self.checkpoint_dir is not None:
            # Before the seed is drawn, which advances a RandomState given as random_state.
            fingerprint = training_fingerprint(self, sequences, y_encoded, sample_weight)
            checkpoint = load_checkpoint(self.checkpoint_dir, fingerprint)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        done = checkpoint["epochs"] if checkpoint else 0
        scaling = _feature_scaling(sequences) if self.standardize else (None, None)
        net = self._build_net(criterion, sequences.n_features, scaling, seed, done, fingerprint)
        dataset = SequenceDataset(sequences.values, sequences.lengths, y_encoded, sample_weight)
        self._train(net, dataset, y_encoded, seed, checkpoint, fingerprint)
        self.net_ = net
        return self

    def _train(self, net, dataset, y_encoded, seed, checkpoint, fingerprint):
        with seeded_torch(seed, self.device_):
            net.initialize()
            if checkpoint is not None:
                restore_checkpoint(net, checkpoint)
            net.partial_fit(dataset, y_encoded)
        if net.interrupted_:
            warnings.warn(
                f"Training was interrupted after {len(net.history)} of {self.max_epochs} "
                "epochs; the model holds the weights of the last finished epoch."
                + (" Fit again with the same checkpoint_dir to resume."
                   if self.checkpoint_dir is not None else ""),
                UserWarning,
                stacklevel=3,
            )
        elif self.checkpoint_dir is not None:
            remove_checkpoint(self.checkpoint_dir, fingerprint)

    def _forget_fit(self):
        """Drop every fitted attribute, so a failed fit never looks fitted."""
        for name in [key for key in vars(self) if key.endswith("_") and not key.startswith("_")]:
            delattr(self, name)

    def _build_criterion(self):
        params = self._routed_for("criterion")
        formats = {key: params.pop(key) for key in _FORMAT_PARAMETERS if key in params}
        criterion = self.criterion
        if params:
            if not inspect.isclass(criterion):
                raise ValueError(
                    f"criterion__* parameters {sorted(params)} need criterion to be a class; "
                    f"got {criterion!r}. Pass the class (e.g. nn.HuberLoss) or configure the "
                    "instance yourself."
                )
            criterion = criterion(**params)
        if criterion_formats(criterion) is None and len(formats) < 2:
            raise ValueError(
                f"{type(self).__name__} does not know what criterion {criterion!r} expects. "
                "Declare it with criterion__input_format='logits' | 'log_probabilities' | "
                "'probabilities' and criterion__target_format='index' | 'onehot'."
            )
        return ClassWeightedLoss(
            criterion,
            self.class_weight_,
            reduction=self.loss_reduction,
            weighting=self.weighting,
            **formats,
        )

    def _n_outputs(self):
        n_classes = len(self.classes_)
        single_logit_criterion = any(
            self.criterion is known
            or (inspect.isclass(known) and _is_kind_of(self.criterion, known))
            for known in _SINGLE_LOGIT_CRITERIA
        )
        if n_classes == 2 and single_logit_criterion and self.weighting == "sample":
            return 1
        return n_classes

    def _build_net(self, criterion, n_features, scaling, seed, epochs_done=0, fingerprint=None):
        mean, scale = scaling
        iterator_train = self.iterator_train or SliceBatches
        routed_iterator_train = {"shuffle": True, **self._routed_for("iterator_train")}
        if iterator_train is SliceBatches:
            routed_iterator_train.setdefault("seed", seed)
            routed_iterator_train.setdefault("start_epoch", epochs_done)
            routed_iterator_train.setdefault("device", self.device_)
        iterator_valid = self.iterator_valid or SliceBatches
        routed_iterator_valid = self._routed_for("iterator_valid")
        if iterator_valid is SliceBatches:
            routed_iterator_valid = {"device": self.device_, **routed_iterator_valid}
        return SequenceNet(
            module=LSTMLogits,
            module__n_features=n_features,
            module__n_outputs=self._n_outputs(),
            # int(): nn.LSTM refuses numpy integers, which the parameter checks accept.
            module__hidden_size=int(self.hidden_size),
            module__num_layers=int(self.num_layers),
            module__bidirectional=self.bidirectional,
            module__dropout=self.dropout,
            module__input_mean=mean,
            module__input_scale=scale,
            criterion=criterion,
            optimizer=self.optimizer,
            lr=self.lr,
            max_epochs=max(int(self.max_epochs) - epochs_done, 0),
            batch_size=int(self.batch_size),
            iterator_train=iterator_train,
            iterator_valid=iterator_valid,
            train_split=self.train_split,
            callbacks=self._callbacks(fingerprint),
            predict_nonlinearity=logits_to_proba,
            verbose=self.verbose,
            device=self.device_,
            **_prefixed("module", self._routed_for("module")),
            **_prefixed("optimizer", self._routed_for("optimizer")),
            **_prefixed("iterator_train", routed_iterator_train),
            **_prefixed("iterator_valid", routed_iterator_valid),
            **_prefixed("callbacks", self._routed_for("callbacks")),
        )

    def _callbacks(self, fingerprint=None):
        balanced_accuracy = EpochScoring(
            "balanced_accuracy", lower_is_better=False, on_train=False, name="valid_bacc"
        )
        callbacks = [("valid_bacc", balanced_accuracy), *copy.deepcopy(self.callbacks or [])]
        if self._shows_progress_bar():
            callbacks.append(("progress_bar", ProgressBar()))
        if self.checkpoint_dir is not None:
            path = checkpoint_path(self.checkpoint_dir, fingerprint)
            callbacks.append(("checkpoint", EpochCheckpoint(path, fingerprint)))
        return callbacks

    def _shows_progress_bar(self):
        if self.progress_bar == "auto":
            return bool(self.verbose) and sys.stdout.isatty()
        return bool(self.progress_bar)

    # -- prediction ---------------------------------------------------------------------

    def predict_proba(self, X):
        """Class probabilities, columns in ``classes_`` order; rows sum to 1.

        Parameters
        ----------
        X : array-like, DataFrame or list of arrays
            Sequences in the layout used for ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        sequences = check_predict_input(self, X, self.input_layout_)
        dataset = SequenceDataset(sequences.values, sequences.lengths)
        return self.net_.predict_proba(dataset)

    def predict(self, X):
        """Most probable class label of each sequence.

        Parameters
        ----------
        X : array-like, DataFrame or list of arrays
            Sequences in the layout used for ``fit``.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def save(self, path):
        """Write the fitted model to a file that cannot carry code.

        The weights are stored for torch's weights-only loader, the parameters,
        classes, fitted class weights and history as JSON, with a checksum. Read it
        back with :func:`sktorchcw.load`. ``callbacks``, ``train_split``, the
        iterators, ``checkpoint_dir`` and their routed parameters are training-time
        only and not stored (a warning says so when set). Use pickle or joblib
        instead for scikit-learn workflows with files you trust; use ``save`` for
        files that cross a trust boundary.

        Parameters
        ----------
        path : str or path-like
            The file to write (conventionally ``*.sktorchcw``).

        Examples
        --------
        >>> import tempfile, os
        >>> import sktorchcw
        >>> from sktorchcw.datasets import make_blink_dataset
        >>> X, y = make_blink_dataset(60, seq_len=20, prevalence=0.2, random_state=0)
        >>> clf = sktorchcw.LSTMBlinkClassifier(max_epochs=2, random_state=0).fit(X, y)
        >>> path = os.path.join(tempfile.mkdtemp(), "blinks.sktorchcw")
        >>> clf.save(path)
        >>> loaded = sktorchcw.load(path)
        >>> bool((loaded.predict_proba(X) == clf.predict_proba(X)).all())
        True
        """
        save_model(self, path)

    @property
    def history_(self):
        check_is_fitted(self)
        return self.net_.history_

    @property
    def module_(self):
        check_is_fitted(self)
        return self.net_.module_

    def __setstate__(self, state):
        super().__setstate__(state)
        if "net_" in state:
            # skorch maps a model saved on an absent GPU to the CPU; record where it now lives.
            self.device_ = str(self.net_.device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags


def _is_routed(key):
    prefix, separator, _ = key.partition("__")
    return bool(separator) and prefix in ROUTED_PREFIXES


def _prefixed(prefix, params):
    return {f"{prefix}__{key}": value for key, value in params.items()}


def _is_kind_of(criterion, known_class):
    klass = criterion if inspect.isclass(criterion) else type(criterion)
    return issubclass(klass, known_class)


def _feature_scaling(sequences):
    """Per-feature mean and standard deviation over the valid time steps."""
    values = sequences.values
    if sequences.lengths is None:
        steps = values.reshape(-1, values.shape[2])
    else:
        valid = np.arange(values.shape[1]) < sequences.lengths[:, None]
        steps = values[valid]
    mean = steps.mean(axis=0, dtype=np.float64)
    scale = steps.std(axis=0, dtype=np.float64)
    # A constant feature carries no information; leave it unscaled rather than divide by 0.
    scale[scale < 1e-12] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)
