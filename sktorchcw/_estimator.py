"""What LSTMBlinkClassifier and LSTMBlinkTagger share: parameters, the fit loop on skorch
(fresh, continued, resumed from a checkpoint, interrupted), the loss, the device and
prediction in batches.

The estimators differ only in their targets (one label per sequence or per frame), the
network's head and the validation scorer; each supplies those through the hooks at the
end of :class:`SequenceEstimator`.
"""

import copy
import difflib
import inspect
import os
import sys
from numbers import Integral, Real

import joblib
import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import EpochScoring, ProgressBar
from skorch.dataset import ValidSplit
from skorch.helper import predefined_split
from skorch.history import History
from torch import nn

from ._batching import (
    SequenceDataset,
    SliceBatches,
    check_batch_size,
    prediction_memory_budget,
)
from ._checkpoint import (
    EpochCheckpoint,
    checkpoint_path,
    load_checkpoint,
    remove_checkpoint,
    restore_checkpoint,
    training_fingerprint,
)
from ._data import (
    CHUNK_FRAMES,
    NEW_CLASS_HINT,
    check_predict_input,
    check_some_weight_positive,
    median_and_iqr,
)
from ._device import get_rng_state, resolve_device, seeded_torch, set_rng_state
from ._loss import REDUCTIONS, WEIGHTINGS
from ._net import SequenceNet, logits_to_proba
from ._persistence import save_model
from ._recording_scaling import (
    PER_RECORDING,
    RecordingValues,
    is_per_recording,
    recording_scaled,
    training_batches,
)
from ._segments import MIN_SEGMENT_FRAMES, SEGMENTS_NEED_SLICE_BATCHES
from ._targets import Targets
from ._threads import check_n_threads, torch_threads
from ._user_module import UserNetwork, check_user_module, user_module_arguments
from ._user_scoring import with_labelled_scoring
from ._warnings import warn_at_caller
from ._weighting import (
    build_criterion,
    check_prior_correction,
    class_weight_source,
    n_outputs,
    prior_corrected,
    training_weight,
)
from ._weights import resolve_class_weight

__all__ = ["SequenceEstimator", "PARAMETERS_DOC", "ROUTED_PREFIXES", "document_parameters"]

ROUTED_PREFIXES = ("module", "optimizer", "criterion", "iterator_train", "iterator_valid",
                   "callbacks")
USER_MODULE_WIDTH = 256
_BUILTIN_NETWORK_PARAMETERS = ("hidden_size", "num_layers", "bidirectional", "dropout")
# Private records of a fit, dropped and restored with the fitted attributes.
_PRIVATE_FIT_STATE = ("_class_weight_source", "_torch_rng_state")


# The Parameters section of both estimators' docstrings (numpydoc), written once.
PARAMETERS_DOC = """    Parameters
    ----------
    class_weight : None, 'balanced', mapping, array-like or callable, default=None
        Weight of each class in the training loss. ``'balanced'`` gives
        scikit-learn's ``n_samples / (n_classes * count_c)``, counted on the ``y``
        passed to ``fit`` (inside cross-validation: the training fold; for the
        tagger, its valid frames), each counting with its ``sample_weight``. A dict
        (or any mapping, such as a pandas Series) maps original labels to weights
        (missing classes weigh 1); an array lists weights in ``classes_`` order. A
        callable ``class_weight(classes, y, sample_weight)`` returns one weight per
        class, e.g. :class:`effective_number_weights`. See :func:`resolve_class_weight`.
    criterion : loss class, loss instance or callable, default=nn.CrossEntropyLoss
        Any PyTorch loss, e.g. ``nn.L1Loss``, ``nn.MSELoss``, ``nn.HuberLoss``,
        ``nn.BCEWithLogitsLoss`` or your own; targets and inputs are adapted per
        criterion (see :class:`ClassWeightedLoss`). A class receives the
        ``criterion__*`` parameters; ``criterion__input_format`` and
        ``criterion__target_format`` declare what an unknown criterion expects.
    loss_reduction : {'mean', 'weighted_mean', 'sum'}, default='mean'
        ``'mean'``: ``sum(s*w*l) / N`` per batch, N the samples (or valid
        frames) of the batch (Keras and scikit-learn);
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
    standardize : bool, 'standard', 'robust', 'recording' or 'recording_center', default=True
        Standardise each input feature with statistics of the training data (valid,
        observed frames only), part of the model (used by predict, ONNX export and
        streaming alike). True or ``'standard'``: mean and standard deviation.
        ``'robust'``: median and interquartile range, which spikes far larger than
        the signal (common in real sensors) do not dominate. A constant feature (zero
        spread) is left unscaled. False: the network sees the values as given.
        ``'recording'``: each recording's features are first divided by their own
        median over the recording's observed frames, then standardised by the mean and
        standard deviation of those ratios over the training frames; ``predict`` divides
        each recording it is given by its own median alike. For positive signals whose
        level differs between people (the open-eye EAR): a feature whose median is zero
        or negative in a recording is refused (a ValueError naming the feature and the
        recording). ``'recording_center'``: each recording's median is subtracted
        instead (signed signals). Both need whole recordings: ``stream()`` takes the
        recording's median from the caller (``FrameStream.reset(recording_median=)``),
        ``export_onnx`` refuses; the pieces of ``segment_frames`` are scaled by the
        median of their whole recording. See the docs page "Scaling out".
    missing : {'raise', 'mask'}, default='raise'
        What a frame with a NaN feature means. ``'raise'``: X must be finite (a clear
        error names the recording). ``'mask'``: the frame is missing (a tracker that
        lost the face): the network sees the feature means there (zero after
        standardisation; the robust centre with ``standardize='robust'``), and the
        frame is left out of the loss, of ``'balanced'`` class counts and of the
        validation scores (its label is never read). ``predict`` still gives it an
        output, from the frames around it. A recording whose every frame is missing
        is refused by ``fit`` (nothing in it to learn from); ``predict_proba`` gives
        it the network's output on the fill values at every frame, as ``stream()``
        and the ONNX graph do. Infinity is never a missing value.
    max_epochs : int, default=30
        Passes over the training data (with ``warm_start=True``, per call of ``fit``).
    batch_size : int, default=64
        Sequences per training batch.
    lr : float, default=0.01
        Learning rate.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Further arguments through ``optimizer__*``.
    train_split : None or callable, default=None
        None trains on everything (or validates on ``fit``'s ``validation_data``).
        ``skorch.dataset.ValidSplit(0.2, stratified=True)`` holds out a validation
        set: its loss (not class-weighted, as in Keras) and balanced accuracy
        (``valid_bacc``) go into ``history_``, so that
        ``skorch.callbacks.EarlyStopping(monitor='valid_bacc', lower_is_better=False)``
        can stop training. A ValidSplit without a ``random_state`` of its own is
        seeded from ``random_state``, so the same int holds out the same samples.
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
    n_threads : 'auto', int or None, default='auto'
        torch's intra-op threads during ``fit`` and prediction; the process's setting
        (``torch.get_num_threads()``) is restored afterwards. ``'auto'``: without a
        ``random_state``, as many threads as other programs leave cores free (read on
        Linux every half second of work; at most torch's setting), so a busy machine
        does not stall training (5-9x slower on a 2-core machine beside busy
        processes); with a ``random_state``, torch's setting, because torch rounds
        differently with different thread counts and the same int must give the same
        model. An int fixes the count (-1: every core; 1 is never stalled by other
        programs and loses at most about 1.5x on an idle machine); None leaves torch's
        setting alone. See the Performance page.
    random_state : None, int or numpy.random.RandomState, default=None
        Seeds weight initialisation, dropout, shuffling and a ValidSplit. The same
        int gives the same model; numpy's and torch's global random states are left
        as they were (None draws fresh entropy, not from numpy's global state).
    verbose : int, default=0
        1 prints skorch's table of epochs.
    progress_bar : bool or 'auto', default='auto'
        Show a per-batch progress bar (skorch's ``ProgressBar``, tqdm) during ``fit``.
        ``'auto'`` shows it when ``verbose > 0`` and standard output is a terminal,
        never in logs, notebooks' captured output or CI.
    checkpoint_dir : None, str or path, default=None
        Folder for a checkpoint written after every epoch (weights, optimizer state,
        history, random state; stored as safetensors and JSON, which cannot run code
        when read), one file per training configuration, named after a hash of the
        parameters and data. A fit that finds the checkpoint of its own parameters and
        data there resumes from it and ends with ``max_epochs`` epochs in all, exactly
        as if never stopped (with an int ``random_state`` and callbacks that keep no
        state, such as EarlyStopping's counters or an LRScheduler's step, which are not
        saved); other fits' checkpoints are left alone, so the fits of a parallel search
        may share the folder. The checkpoint is deleted when its fit ends normally: all
        epochs done, or stopped by a callback such as ``EarlyStopping``. Ctrl-C
        (KeyboardInterrupt) keeps it, restores the last finished epoch and re-raises.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted estimator continues from its weights, optimizer
        state and history for ``max_epochs`` more epochs (as ``MLPClassifier`` does),
        on data of the same layout and classes; class weights stay those of the
        first fit unless ``class_weight`` changed. ``partial_fit`` always continues.
    predict_batch_size : int or 'auto', default='auto'
        Sequences per batch in ``predict``, ``predict_proba`` and
        ``predict_log_proba``. ``'auto'`` takes as many as fit a memory budget (8 MiB
        on the CPU, where batches that fit the caches are fastest; a quarter of the
        free memory on a GPU), much faster than the training ``batch_size``; for your
        own ``module`` it assumes activations as wide as two 256-unit layers per frame
        (give an int when they are wider). Read at prediction time, so it can be
        changed after ``fit`` with ``set_params``.
    sampling : None or 'balanced', default=None
        ``'balanced'``: class-balanced training batches. Each epoch draws as many
        sequences as there are, with replacement, each with probability proportional to
        ``1 / count`` of its class, from the random state of ``random_state``. Another
        way to correct imbalance than ``class_weight`` (both together correct it twice,
        and warn). Needs one label per sequence (the classifier) and the default
        ``iterator_train``.
    prior_correction : bool, default=False
        When True, ``predict_proba`` returns ``p_c / v_c`` renormalised over the
        classes, where ``v_c`` (``training_weight_``) is the factor by which training
        weighted class ``c`` relative to its natural share: its class weight, times its
        sampling rate with ``sampling='balanced'``, times its mean sample weight, times
        the criterion's own ``pos_weight`` (``BCEWithLogitsLoss``); a criterion weighting
        that is no factor per class is refused, with the advice to use ``class_weight``.
        ``predict`` and ``predict_log_proba`` follow. Exact for proper scoring rules
        (cross-entropy, NLL, BCE, MSE as the Brier score, KL against one-hot
        targets); only approximate for other losses (L1, Huber, focal), which warn.
        Read at prediction time, so it can be changed after ``fit``.
    bucket_by_length : bool, default=True
        For recordings of different lengths (a list): training batches hold recordings
        of similar lengths, each batch padded to its own longest, in a random order
        (runs of 50 batches' worth of recordings are sorted by length, cut into batches,
        and the batches shuffled; reproducible from ``random_state``, exact on resume,
        with ``sampling`` and sample weights alike). Much less padding, so faster
        epochs on mixed lengths. A batch is never more than half padding: it ends early,
        with fewer than ``batch_size`` recordings, rather than pad a long recording out
        with short ones (a recording of an hour among clips of seconds trains in a batch
        of its own). Validation batches are read sorted by length under the same bound.
        False draws each batch's recordings at random, as for array X (which this does
        not change). Prediction always sorts by length.
    segment_frames : None or int, default=None
        Train on pieces of long recordings. Every epoch, each recording longer than
        ``segment_frames`` is cut into consecutive pieces at a fresh random offset
        (reproducible from ``random_state``, exact on resume): inner pieces of exactly
        ``segment_frames`` frames, the first and last of at least half of it and less
        than one and a half times it (a recording of at most twice it may stay whole),
        every frame in exactly one piece. Shorter recordings stay whole. Each piece
        trains as a recording of its own (batches of similar pieces, each padded to its
        longest), so a collection of long recordings trains in many short, full batches
        instead of a few very long ones: much faster epochs and more updates, at the cost
        of context beyond a piece (the network never sees across a cut while training).
        Pieces are offsets into the data, never a copy. Per-frame labels, per-frame
        sample weights and missing frames (``missing='mask'``) follow the pieces. The
        classifier gives each piece its recording's label and sample weight, which makes
        sense when the label holds for every part of a recording (a state, a person), not
        for an event somewhere in it; ``sampling='balanced'`` then draws pieces by class
        (their recording's), while ``class_weight='balanced'`` counts recordings.
        Validation and prediction read whole recordings. At least 10; None trains on
        whole recordings. Needs the default ``iterator_train``.
    module : None, 'lstm', 'gru' or nn.Module subclass, default=None
        The network. None or ``'lstm'``: the built-in LSTM; ``'gru'``: the same network with a
        :class:`torch.nn.GRU` (both read ``hidden_size``, ``num_layers``, ``bidirectional`` and
        ``dropout``). On the CPU torch's GRU kernel is far slower than its LSTM kernel on long
        recordings (forward and backward over one 10,000-frame recording, hidden size 32, one
        thread: 1.7-2.3 s against 0.07-0.13 s), so prefer ``'lstm'`` there. torch's ``nn.GRU`` /
        ``nn.LSTM`` classes are refused: they return ``(output, state)``, not logits. Your own
        network: its class, with its constructor arguments as ``module__<name>`` parameters
        (searchable in ``GridSearchCV``); its constructor also receives ``n_features`` and
        ``n_outputs`` when it names them. Its ``forward(x)`` or ``forward(x, lengths)`` receives x
        float32 ``(N, T, F)``, standardised as ``standardize`` says, missing frames filled, zero
        after each recording's length (``lengths`` int64 ``(N,)``), and returns raw logits: ``(N,
        n_outputs)`` for the classifier, ``(N, T, n_outputs)`` for the tagger (checked on every
        batch, from the first one, before any training step). ``hidden_size``, ``num_layers``,
        ``bidirectional`` and ``dropout`` apply to the built-in networks only. See the docs page
        "Your own network".
    **kwargs
        Routed parameters: ``module__bias``, ``module__proj_size`` (of
        :class:`torch.nn.LSTM`; a GRU takes ``module__bias``), or your network's
        constructor arguments; ``optimizer__*``, ``criterion__*``,
        ``iterator_train__*``, ``iterator_valid__*``, ``callbacks__*``.

"""


def document_parameters(cls):
    """Class decorator: put :data:`PARAMETERS_DOC` where the docstring says {parameters}."""
    own = getattr(cls, "_own_parameters_doc", "")  # the class's own, before **kwargs
    parameters = PARAMETERS_DOC.replace("    **kwargs\n", own + "    **kwargs\n")
    cls.__doc__ = (cls.__doc__ or "").format(parameters=parameters)
    return cls


class SequenceEstimator(BaseEstimator):
    """Base of the sequence estimators: parameters and the training machinery.

    Not for direct use: see :class:`LSTMBlinkClassifier` and :class:`LSTMBlinkTagger`.
    """

    _parameter_constraints = {
        "class_weight": [StrOptions({"balanced"}), dict, "array-like", callable, None],
        "criterion": [callable],
        "loss_reduction": [StrOptions(set(REDUCTIONS))],
        "weighting": [StrOptions(set(WEIGHTINGS))],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "standardize": ["boolean", StrOptions({"standard", "robust", *PER_RECORDING})],
        "missing": [StrOptions({"raise", "mask"})],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [callable],
        "train_split": [callable, None],
        "callbacks": [list, None],
        "iterator_train": [callable, None],
        "iterator_valid": [callable, None],
        "device": [str, torch.device],
        "n_threads": [StrOptions({"auto"}), Interval(Integral, None, -1, closed="right"),
                      Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "progress_bar": ["boolean", StrOptions({"auto"})],
        "checkpoint_dir": [str, os.PathLike, None],
        "warm_start": ["boolean"],
        "predict_batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "sampling": [StrOptions({"balanced"}), None],
        "prior_correction": ["boolean"],
        "bucket_by_length": ["boolean"],
        "segment_frames": [Interval(Integral, MIN_SEGMENT_FRAMES, None, closed="left"), None],
        "module": [None, StrOptions({"lstm", "gru"}), callable],
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
        missing="raise",
        max_epochs=30,
        batch_size=64,
        lr=0.01,
        optimizer=torch.optim.Adam,
        train_split=None,
        callbacks=None,
        iterator_train=None,
        iterator_valid=None,
        device="auto",
        n_threads="auto",
        random_state=None,
        verbose=0,
        progress_bar="auto",
        checkpoint_dir=None,
        warm_start=False,
        predict_batch_size="auto",
        sampling=None,
        prior_correction=False,
        bucket_by_length=True,
        segment_frames=None,
        module=None,
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
        self.missing = missing
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.train_split = train_split
        self.callbacks = callbacks
        self.iterator_train = iterator_train
        self.iterator_valid = iterator_valid
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.progress_bar = progress_bar
        self.checkpoint_dir = checkpoint_dir
        self.warm_start = warm_start
        self.predict_batch_size = predict_batch_size
        self.sampling = sampling
        self.prior_correction = prior_correction
        self.bucket_by_length = bucket_by_length
        self.segment_frames = segment_frames
        self.module = module
        self.__dict__.update(kwargs)

    # -- parameters ---------------------------------------------------------------------

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update(self._extra_params())
        return params

    def set_params(self, **params):
        # Names that are not parameters are stored as they come, as the constructor stores
        # them (scikit-learn's checks require that neither raises); fit refuses the ones
        # that are not routed, naming them, before any training.
        named = set(self._get_param_names())

        def nested(key):  # class_weight__beta: a parameter of a parameter, as scikit-learn
            prefix, separator, _ = key.partition("__")
            return bool(separator) and prefix in named and prefix not in ROUTED_PREFIXES

        extra = {key: value for key, value in params.items()
                 if key not in named and not nested(key)}
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
            close = {key: difflib.get_close_matches(key, self._get_param_names(), n=1)
                     for key in unknown}
            hints = "".join(f" Did you mean {match[0]!r} for {key!r}?"
                            for key, match in close.items() if match)
            raise ValueError(
                f"Unknown parameter(s) {unknown} for {type(self).__name__}.{hints} Routed "
                f"parameters start with one of {[p + '__' for p in ROUTED_PREFIXES]}."
            )
        for iterator in ("iterator_train", "iterator_valid"):
            routed = self._routed_for(iterator)
            if "batch_size" in routed:
                check_batch_size(routed["batch_size"], name=f"{iterator}__batch_size")

    # -- fitting ------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Train the network on sequences ``X`` with labels ``y``.

        Keras' ``model.fit(x, y, validation_data=..., class_weight=...)`` maps one to
        one: ``class_weight`` is a parameter of the estimator, the rest are arguments
        here. With ``warm_start=True`` a fitted estimator continues training.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps) or (n_samples, n_timesteps, \
n_features), DataFrame, or list of (n_timesteps_i, n_features) arrays
            Training sequences.
        y : array-like
            Labels of any type (ints, strings, bools), at least two classes: one per
            sequence ``(n_samples,)`` for the classifier, one per frame (an
            ``(n_samples, n_timesteps)`` array or a list of ``(n_timesteps_i,)`` arrays)
            for the tagger.
        sample_weight : array-like, default=None
            Non-negative weights, multiplied with the class weights: one per sequence
            ``(n_samples,)``, or for the tagger also one per frame (the structure of y).
        validation_data : tuple (X_val, y_val) or (X_val, y_val, sample_weight_val), \
default=None
            Data to evaluate after every epoch, as in Keras: ``history_`` records its
            ``valid_loss`` (not weighted by class weights; weighted by
            ``sample_weight_val`` when given) and ``valid_bacc``, which
            ``skorch.callbacks.EarlyStopping`` can monitor. ``X_val`` in any layout
            ``fit`` accepts; its labels must be among the classes of ``y``. Cannot be
            combined with ``train_split``.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        KeyboardInterrupt
            On Ctrl-C, after going back to the last finished epoch (the estimator keeps
            that model, and the checkpoint is kept for resuming); before the first
            epoch finishes the estimator is left as it was before ``fit``.
        TrainingDivergedError
            When the loss or the weights become NaN or infinite.
        """
        continued = bool(self.warm_start) and self._is_fitted()
        return self._fit_keeping_state(
            X, y, sample_weight, validation_data, continued=continued, epochs=None
        )

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train one more epoch on ``X``, ``y``, starting from the current model.

        The first call (on an unfitted estimator) initialises the network; later calls
        continue from its weights and optimizer state. Class weights stay those of the
        first call unless ``class_weight`` changed since: then they are resolved again
        (``'balanced'`` counts the ``y`` of this call).

        Parameters
        ----------
        X : array-like, DataFrame or list of arrays
            Training sequences, in the layout of the first call.
        y : array-like of shape (n_samples,)
            Labels; all among the classes.
        classes : array-like of shape (n_classes,), default=None
            Every class of the whole stream, for a first call whose ``y`` may miss some
            (as in scikit-learn). None takes the classes of ``y``. Later calls may
            pass the same classes or None.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, multiplied with the class weights.

        Returns
        -------
        self : object

        Examples
        --------
        >>> from sktorchcw import LSTMBlinkClassifier
        >>> from sktorchcw.datasets import make_blink_dataset
        >>> X, y = make_blink_dataset(200, seq_len=20, prevalence=0.2, random_state=0)
        >>> clf = LSTMBlinkClassifier(device="cpu", random_state=0)
        >>> for start in range(0, 200, 50):
        ...     clf = clf.partial_fit(X[start:start + 50], y[start:start + 50], classes=[0, 1])
        >>> len(clf.history_)
        4
        """
        continued = self._is_fitted()
        if continued and classes is not None:
            given = np.unique(np.asarray(classes))
            if not np.array_equal(given, self.classes_):
                raise ValueError(
                    f"classes={given.tolist()!r} differs from the classes "
                    f"{self.classes_.tolist()!r} of the first partial_fit; pass the same "
                    "classes or None."
                )
        return self._fit_keeping_state(
            X, y, sample_weight, None, continued=continued, epochs=1, classes=classes
        )

    def _is_fitted(self):
        return hasattr(self, "net_")

    def _fit_keeping_state(self, X, y, sample_weight, validation_data, **how):
        """Run a fit; if it fails, leave the estimator as it was before.

        A failed fresh fit leaves the estimator unfitted (no attribute of an earlier fit
        remains); a failed continued fit keeps the model it continued. A Ctrl-C after
        at least one finished epoch keeps that epoch's model and re-raises.
        """
        before = self._fitted_state()
        try:
            self._fit(X, y, sample_weight, validation_data, **how)
        except BaseException as error:
            kept_interrupted_model = (
                isinstance(error, KeyboardInterrupt)
                and self.__dict__.get("net_") is not before.get("net_")
                and self._is_fitted()
            )
            if not kept_interrupted_model:
                self._restore_fitted_state(before if how["continued"] else {})
            raise
        return self

    def _fitted_state(self):
        return {key: value for key, value in vars(self).items() if _is_fitted_attribute(key)}

    def _restore_fitted_state(self, state):
        for key in [key for key in vars(self) if _is_fitted_attribute(key)]:
            delattr(self, key)
        self.__dict__.update(state)

    def _fit(self, X, y, sample_weight, validation_data, *, continued, epochs, classes=None):
        self._validate_params()
        self._n_threads()
        self._check_routed_params()
        self._check_validation_setup(validation_data)
        previous_net = self.net_ if continued else None
        if continued:
            sequences, y_encoded = self._targets.check_continued(self, X, y, hint=NEW_CLASS_HINT)
        else:
            sequences, self.classes_, y_encoded = self._targets.check_training(self, X, y,
                                                                               classes)
            self.input_layout_ = sequences.layout
        sample_weight = self._targets.check_sample_weight(sample_weight, sequences)
        targets, weights = self._targets.valid(y_encoded, sample_weight, sequences)
        self.class_weight_ = self._resolve_class_weight(targets, weights, continued)
        check_some_weight_positive(self.class_weight_, targets, weights)
        self._check_sampling(y_encoded)
        self._check_decision(y_encoded, sequences)
        if sample_weight is not None:
            sample_weight = sample_weight.astype(np.float32)
        valid_dataset = self._validation_dataset(validation_data)
        self.device_ = resolve_device(self.device)
        criterion = self._build_criterion()
        n_outputs = self._n_outputs()
        self.training_weight_ = training_weight(self.class_weight_, targets, weights,
                                                len(self.classes_), self.sampling,
                                                criterion.criterion, n_outputs)
        self._check_prior_correction(warn=True, criterion=criterion.criterion,
                                     n_outputs=n_outputs)
        dataset = self._dataset(sequences, y_encoded, sample_weight)
        start_epochs = 0 if previous_net is None else len(previous_net.history_)
        total_epochs = start_epochs + (epochs or int(self.max_epochs))
        checkpoint, fingerprint = None, None
        if self.checkpoint_dir is not None:
            # Before the seed is drawn, which advances a RandomState given as random_state.
            fingerprint = self._fingerprint(sequences, y_encoded, sample_weight,
                                            valid_dataset, previous_net)
            checkpoint = load_checkpoint(self.checkpoint_dir, fingerprint)
        seed = _draw_seed(self.random_state)
        epochs_done = checkpoint["epochs"] if checkpoint else start_epochs
        scaling = _feature_scaling(sequences, self.standardize, self.missing,
                                   getattr(dataset, "recording_median", None))
        net = self._build_net(
            criterion, sequences.n_features, scaling, seed, epochs_done, fingerprint,
            epochs=total_epochs - epochs_done, valid_dataset=valid_dataset,
            strata=(self._targets.strata(y_encoded, sequences)
                    if isinstance(self.train_split, ValidSplit) and validation_data is None
                    else None),
        )
        with seeded_torch(seed, self.device_):
            net.initialize()
            if checkpoint is not None:
                restore_checkpoint(net, checkpoint)
            elif continued:
                self._continue_from(net, previous_net)
            net.partial_fit(dataset, y_encoded)
            rng_state = get_rng_state(self.device_)
        self._finish(net, rng_state, total_epochs, fingerprint)
        self._tune_decision(sequences, y_encoded, validation_data)

    def _finish(self, net, rng_state, total_epochs, fingerprint):
        """Keep the trained net; re-raise a Ctrl-C, and delete the checkpoint of a fit that
        ended normally (all epochs done, or a callback such as EarlyStopping stopped it)."""
        if not net.interrupted_ and self.checkpoint_dir is not None:
            remove_checkpoint(self.checkpoint_dir, fingerprint)
        if len(net.history) > 0:
            self.net_ = net
            self._class_weight_source = class_weight_source(self.class_weight)
            self._torch_rng_state = rng_state
        if net.interrupted_:
            resumable = (self.checkpoint_dir is not None
                         and checkpoint_path(self.checkpoint_dir, fingerprint).exists())
            kept = (
                "the model holds the weights of the last finished epoch"
                + (", and its checkpoint is kept: fit again with the same checkpoint_dir to "
                   "resume" if resumable else "")
                if len(net.history) > 0 else "no epoch finished, so the estimator is left unfitted"
            )
            raise KeyboardInterrupt(
                f"Training was interrupted after {len(net.history)} of {total_epochs} epochs; "
                f"{kept}."
            )

    def _resolve_class_weight(self, y_encoded, sample_weight, continued):
        if continued and getattr(self, "_class_weight_source", None) in (
            None, class_weight_source(self.class_weight)
        ):
            return self.class_weight_  # as in the first fit, unless class_weight changed
        if callable(self.class_weight):  # its contract: the labels themselves
            return resolve_class_weight(self.class_weight, classes=self.classes_,
                                        y=self.classes_[y_encoded], sample_weight=sample_weight)
        if isinstance(self.class_weight, str):  # 'balanced' counts the codes (small ints)
            try:
                return resolve_class_weight(
                    self.class_weight, classes=np.arange(len(self.classes_)), y=y_encoded,
                    sample_weight=sample_weight)
            except ValueError:  # the same refusal, naming the labels rather than codes
                return resolve_class_weight(
                    self.class_weight, classes=self.classes_, y=self.classes_[y_encoded],
                    sample_weight=sample_weight)
        return resolve_class_weight(self.class_weight, classes=self.classes_)

    def _check_decision(self, y_encoded, sequences):
        """Hook: refuse decision parameters the targets cannot use, before training."""

    def _tune_decision(self, sequences, y_encoded, validation_data):
        """Hook: choose what the decision rule learns from data, after training."""

    def _check_sampling(self, y_encoded):
        if self.sampling is None:
            return
        if self._targets.per_frame:
            raise ValueError(
                f"sampling='balanced' draws whole sequences by their class, but "
                f"{type(self).__name__} has one label per frame. Use class_weight='balanced' "
                "instead, which weighs every frame by its class."
            )
        if self.iterator_train not in (None, SliceBatches):
            raise ValueError(
                "sampling='balanced' draws batches in sktorchcw's own iterator; leave "
                "iterator_train=None (or drop sampling and pass your own sampler)."
            )
        if self.class_weight is not None:
            warn_at_caller(
                "sampling='balanced' and class_weight both correct the class imbalance, so "
                "it is corrected twice (rare classes weigh n_classes / share times more "
                "than the others). Use one of them, or set class_weight=None."
            )

    def _check_prior_correction(self, *, warn=False, criterion=None, n_outputs=None):
        """A ValueError when the probabilities cannot be corrected; at fit, a warning where
        the correction is only approximate. ``criterion`` (the unreduced criterion, with
        the network's ``n_outputs``) is given at fit; afterwards it is the fitted net's."""
        if not self.prior_correction:
            return
        if criterion is None:
            net = self.__dict__.get("net_")
            criterion = getattr(getattr(net, "criterion_", None), "criterion", None)
            n_outputs = getattr(net, "module__n_outputs", None)
        check_prior_correction(self.classes_, self.training_weight_, criterion, n_outputs,
                               given=self.criterion if warn else None)

    def _corrected(self, outputs, *, log):
        """Probabilities (or their logarithms) divided by the training weights and
        renormalised, when prior_correction is set; classes on the last axis."""
        if not self.prior_correction:
            return outputs
        self._check_prior_correction()
        return prior_corrected(outputs, self.training_weight_, log=log)

    def _check_validation_setup(self, validation_data):
        if validation_data is not None and self.train_split is not None:
            raise ValueError(
                "validation_data and train_split both give a validation set; drop one: "
                "validation_data=(X_val, y_val) for data of your own, or "
                "train_split=ValidSplit(...) to hold out part of the training data."
            )
        if validation_data is None and self.train_split is None:
            for name, monitor in _monitors(self.callbacks or []):
                if monitor.startswith("valid_"):
                    raise ValueError(
                        f"The callback {name} monitors {monitor!r}, which needs a validation "
                        "set, but there is none. Pass validation_data=(X_val, y_val) to fit, "
                        "or hold out part of the training data with "
                        "train_split=skorch.dataset.ValidSplit(0.2, stratified=True)."
                    )

    def _validation_dataset(self, validation_data):
        """validation_data checked like data for ``predict``, labels among ``classes_``."""
        if validation_data is None:
            return None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data must be a tuple (X_val, y_val) or (X_val, y_val, "
                f"sample_weight_val); got {type(validation_data).__name__}"
                + (f" of length {len(validation_data)}"
                   if isinstance(validation_data, (tuple, list)) else "") + "."
            )
        X_val, y_val, *weights = validation_data
        try:
            sequences, y_encoded = self._targets.check_continued(
                self, X_val, y_val, hint="Validation labels must be classes of the training y.")
            sample_weight = self._targets.check_sample_weight(
                weights[0] if weights else None, sequences, name="sample_weight_val")
        except ValueError as error:
            raise ValueError(f"validation_data: {error}") from None
        if sample_weight is not None:
            sample_weight = sample_weight.astype(np.float32)
        return self._dataset(sequences, y_encoded, sample_weight)

    def _fingerprint(self, sequences, y_encoded, sample_weight, valid_dataset, previous_net):
        """The checkpoint name: parameters and data, plus what a fit starts from (the
        validation data, and the weights and epochs of a model it continues)."""
        fingerprint = training_fingerprint(self, sequences, y_encoded, sample_weight)
        extra: list = []
        if valid_dataset is not None:
            extra.append([None if t is None else t.numpy() for t in valid_dataset._fields()])
        if previous_net is not None:
            state = previous_net.module_.state_dict()
            extra.append((len(previous_net.history_),
                          [state[name].detach().cpu().numpy() for name in sorted(state)]))
        return joblib.hash((fingerprint, extra)) if extra else fingerprint

    def _continue_from(self, net, previous):
        """Start ``net`` where ``previous`` ended: weights, optimizer state (with the
        current optimizer settings), history and the random state after its training."""
        try:
            net.module_.load_state_dict(previous.module_.state_dict())
        except RuntimeError:
            raise ValueError(
                "warm_start=True (or partial_fit) continues the fitted network, but the "
                "network's shape changed since (hidden_size, num_layers, bidirectional, "
                "standardize, module__*, or a criterion with another number of outputs). "
                "Fit with warm_start=False to start afresh."
            ) from None
        if getattr(previous, "_optimizer_state_missing", False):  # see _persistence
            warn_at_caller(
                "This model was loaded from a file saved without its optimizer state "
                "(save(path, optimizer=False), or an earlier sktorchcw), so the optimizer "
                "restarts from a fresh state (Adam's moment estimates from zero): training "
                "continues, but not as the saved model would have. save(path) keeps the "
                "optimizer state for an exact continuation."
            )
        if type(net.optimizer_) is type(previous.optimizer_):
            settings = [{key: value for key, value in group.items() if key != "params"}
                        for group in net.optimizer_.param_groups]
            net.optimizer_.load_state_dict(previous.optimizer_.state_dict())
            for group, current in zip(net.optimizer_.param_groups, settings, strict=True):
                group.update(current)
        net.history_ = History(copy.deepcopy(previous.history_.to_list()))
        rng_state = getattr(self, "_torch_rng_state", None)
        if rng_state is not None:
            set_rng_state(rng_state, self.device_)

    def _build_criterion(self):
        return build_criterion(self.criterion, self._routed_for("criterion"), self.class_weight_,
                               reduction=self.loss_reduction, weighting=self.weighting,
                               owner=type(self).__name__)

    def _n_outputs(self):
        return n_outputs(self.criterion, len(self.classes_), self.weighting)

    def _build_net(self, criterion, n_features, scaling, seed, epochs_done=0, fingerprint=None,
                   *, epochs=None, valid_dataset=None, strata=None):
        mean, scale, fill = scaling
        if self.missing == "mask" and fill is None:  # a placeholder, for weights to load
            fill = np.zeros(n_features, dtype=np.float32)
        iterator_train = self.iterator_train or SliceBatches
        routed_iterator_train = {"shuffle": True, **self._routed_for("iterator_train")}
        if iterator_train is SliceBatches:
            routed_iterator_train.setdefault("sampling", self.sampling)
            routed_iterator_train.setdefault("bucket_by_length", self.bucket_by_length)
            routed_iterator_train.setdefault("seed", seed)
            routed_iterator_train.setdefault("start_epoch", epochs_done)
            routed_iterator_train.setdefault("device", self.device_)
            routed_iterator_train.setdefault("segment_frames", self.segment_frames)
        elif self.segment_frames is not None:
            raise ValueError(SEGMENTS_NEED_SLICE_BATCHES)
        iterator_valid = self.iterator_valid or SliceBatches
        routed_iterator_valid = self._routed_for("iterator_valid")
        if iterator_valid is SliceBatches:
            routed_iterator_valid = {"device": self.device_, **routed_iterator_valid}
        module_class, module_arguments = self._network(n_features, (mean, scale, fill))
        return SequenceNet(
            module=module_class,
            criterion=criterion,
            optimizer=self.optimizer,
            lr=self.lr,
            max_epochs=max(int(self.max_epochs if epochs is None else epochs), 0),
            batch_size=int(self.batch_size),
            # standardize='recording': pieces keep their recording's median.
            iterator_train=training_batches(iterator_train, self.standardize),
            iterator_valid=iterator_valid,
            train_split=self._train_split(seed, valid_dataset, strata),
            callbacks=self._callbacks(fingerprint),
            predict_nonlinearity=logits_to_proba,
            mask_missing=self.missing == "mask",
            n_threads=self._n_threads(),
            verbose=self.verbose,
            device=self.device_,
            **_prefixed("module", module_arguments),
            **_prefixed("optimizer", self._routed_for("optimizer")),
            **_prefixed("iterator_train", routed_iterator_train),
            **_prefixed("iterator_valid", routed_iterator_valid),
            **_prefixed("callbacks", self._routed_for("callbacks")),
        )

    def _network(self, n_features, scaling):
        """The module class and its constructor arguments: a built-in network, or the
        user's wrapped in :class:`~sktorchcw._user_module.UserNetwork`."""
        mean, scale, fill = scaling
        statistics = {"input_mean": mean, "input_scale": scale, "missing_fill": fill}
        routed = self._routed_for("module")
        if self.module in (None, "lstm", "gru"):
            return self._builtin_modules[self.module or "lstm"], {
                "n_features": n_features,
                "n_outputs": self._n_outputs(),
                # int(): nn.LSTM refuses numpy integers, which the parameter checks accept.
                "hidden_size": int(self.hidden_size),
                "num_layers": int(self.num_layers),
                "bidirectional": self.bidirectional,
                "dropout": self.dropout,
                **statistics,
                **routed,
            }
        check_user_module(self.module, type(self).__name__)
        self._warn_builtin_only_parameters()
        arguments = user_module_arguments(self.module, routed, n_features, self._n_outputs())
        return UserNetwork, {
            "network": self.module,
            "network_arguments": arguments,
            "n_features": n_features,
            "n_outputs": self._n_outputs(),
            "per_frame": self._targets.per_frame,
            **statistics,
        }

    def _warn_builtin_only_parameters(self):
        defaults = {name: parameter.default for name, parameter
                    in inspect.signature(SequenceEstimator.__init__).parameters.items()}
        changed = [name for name in _BUILTIN_NETWORK_PARAMETERS
                   if getattr(self, name) != defaults[name]]
        if changed:
            warn_at_caller(
                f"{changed} set the built-in LSTM/GRU and are not used with your own module "
                f"{self.module.__name__}; give its own arguments as module__<name>=value."
            )

    def _train_split(self, seed, valid_dataset, strata=None):
        """The validation data given to fit, or ``train_split``, seeded from random_state
        when it is a random ValidSplit without a seed of its own (which would draw from
        numpy's global random state, so two fits would hold out different samples). A
        ValidSplit splits by ``strata``, one label per recording (a stratified one
        stratifies by them); skorch would hand it the tagger's labels of every frame."""
        if valid_dataset is not None:
            return predefined_split(valid_dataset)
        split = self.train_split
        if (isinstance(split, ValidSplit) and split.random_state is None
                and split._is_float(split.cv)):
            split = copy.copy(split)
            split.random_state = seed
        if isinstance(split, ValidSplit) and strata is not None:
            return SplitByRecording(split, strata)
        return split

    def _callbacks(self, fingerprint=None):
        balanced_accuracy = EpochScoring(
            self._targets.validation_scoring, lower_is_better=False, on_train=False,
            name="valid_bacc",
            # Per-frame batches are padded each to its own longest recording, so skorch
            # cannot join their cached outputs; the scoring reads the data itself.
            use_caching=not self._targets.per_frame,
        )
        # A user's scoring callbacks score the user's labels, not the net's class codes.
        own = with_labelled_scoring(copy.deepcopy(self.callbacks or []), self.classes_,
                                    self._targets.per_frame)
        callbacks = [("valid_bacc", balanced_accuracy), *own]
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
        """Class probabilities, in ``classes_`` order: of each sequence (classifier) or
        of each frame (tagger).

        Parameters
        ----------
        X : array-like, DataFrame or list of arrays
            Sequences in the layout used for ``fit``. With ``missing='mask'``, a frame
            with a NaN feature reads as the fitted fill values, and a recording whose
            every frame is missing gets the network's output on the fill values (what
            ``stream()`` and the ONNX graph give it); the other recordings' outputs do
            not depend on it.

        Returns
        -------
        proba : ndarray, dtype float64
            The softmax of the logits (a sigmoid for a single logit), computed in
            float64 as scikit-learn classifiers return it: ``(n_samples, n_classes)``
            for the classifier; ``(n_samples, n_timesteps, n_classes)`` for the tagger,
            or, for recordings given as a list, a 1-D object array holding one
            ``(n_timesteps_i, n_classes)`` array per recording.
        """
        proba, sequences = self._probabilities(X, log=False)
        return self._targets.in_structure_of_X(proba, sequences)

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities, computed from the logits.

        ``log_softmax`` of the logits, so a probability too small for float64 still has
        a finite logarithm where ``np.log(predict_proba(X))`` would give ``-inf``.

        Parameters
        ----------
        X : array-like, DataFrame or list of arrays
            Sequences in the layout used for ``fit``.

        Returns
        -------
        log_proba : ndarray, dtype float64
            Shaped as ``predict_proba`` returns.
        """
        log_proba, sequences = self._probabilities(X, log=True)
        return self._targets.in_structure_of_X(log_proba, sequences)

    def predict(self, X):
        """The most probable label of each sequence (classifier) or frame (tagger).

        Parameters
        ----------
        X : array-like, DataFrame or list of arrays
            Sequences in the layout used for ``fit``.

        Returns
        -------
        y_pred : ndarray
            ``(n_samples,)`` for the classifier; ``(n_samples, n_timesteps)`` for the
            tagger, or, for recordings given as a list, a 1-D object array holding one
            ``(n_timesteps_i,)`` array per recording (it iterates like a list, and
            scikit-learn's ``cross_val_predict`` can put the folds' together).
        """
        codes, sequences = self._probabilities(X, log=False, most_probable=True)
        return self._targets.in_structure_of_X(self.classes_[codes], sequences)

    def _probabilities(self, X, *, log, most_probable=False):
        """Probabilities (or their logarithms) of X, classes on the last axis, prior-corrected
        when asked: ``(n, C)`` for the classifier, ``(n, T, C)`` for the tagger on array X
        and ``(n_frames, C)`` on a collection of recordings; and the sequences they belong
        to. Computed batch by batch, each written where its recordings belong; with
        ``most_probable``, only each batch's most probable class indices are kept (in the
        smallest integer type), so the probabilities of all frames are never held."""
        check_is_fitted(self)
        return self._probabilities_of(check_predict_input(self, X, self.input_layout_),
                                      log=log, most_probable=most_probable)

    def _probabilities_of(self, sequences, *, log, most_probable=False):
        """:meth:`_probabilities` of sequences already checked."""
        per_frame = self._targets.per_frame
        code_type = np.min_scalar_type(len(self.classes_) - 1)
        outputs = None
        with torch_threads(self._n_threads()):
            batches = self.net_.predict_batches(self._dataset(sequences),
                                                **self._prediction_batching(sequences))
        for rows, logits in batches:
            values = self._corrected(self._outputs(logits, log=log), log=log)
            if most_probable:
                values = values.argmax(axis=-1).astype(code_type)
            if outputs is None:
                outputs = np.empty(_output_shape(values, sequences, per_frame),
                                   dtype=values.dtype)
            _put(outputs, rows, values, sequences, per_frame)
        return outputs, sequences

    def _n_threads(self):
        """``n_threads`` for this fit or prediction: 'auto' with a ``random_state`` keeps
        torch's setting, as the same seed must give the same model (torch's kernels
        round differently with different thread counts)."""
        n_threads = check_n_threads(self.n_threads)
        if n_threads == "auto" and self.random_state is not None:
            return None
        return n_threads

    def _dataset(self, sequences, y_encoded=None, sample_weight=None):
        """The sequences (and their labels and weights) as a SequenceDataset, held as
        given: an array X as it is, a collection as its frame buffer."""
        per_frame = self._targets.per_frame
        if sequences.ragged:
            dataset = SequenceDataset(sequences.frames, sequences.lengths, y_encoded,
                                      sample_weight, offsets=sequences.frame_offsets,
                                      frame_targets=per_frame)
        else:
            if per_frame:
                shape = sequences.values.shape[:2]
                y_encoded = None if y_encoded is None else y_encoded.reshape(shape)
                sample_weight = (None if sample_weight is None
                                 else sample_weight.reshape(shape))
            dataset = SequenceDataset(sequences.values, None, y_encoded, sample_weight)
        # standardize='recording': each recording's medians, applied per batch.
        return recording_scaled(dataset, sequences, self.standardize)

    def _prediction_batching(self, sequences):
        """``batch_size=predict_batch_size``, or for 'auto' a ``frame_budget``: as many
        frames a batch (recordings x the batch's longest) as fit the memory budget of one
        batch (their inputs and the LSTM's activations)."""
        if self.predict_batch_size != "auto":
            check_batch_size(self.predict_batch_size, name="predict_batch_size")
            return {"batch_size": int(self.predict_batch_size)}
        rnn = getattr(self.module_, "rnn", None)
        # Your own network's activations are unknown: assumed as wide as a 256-unit one.
        width = USER_MODULE_WIDTH if rnn is None else rnn.hidden_size * (
            2 if rnn.bidirectional else 1)
        # float32 inputs, each layer's outputs; the gates of the step being computed are
        # per recording, and small.
        per_frame = 4 * (sequences.n_features + 2 * width)
        budget = prediction_memory_budget(self.device_)
        return {"frame_budget": max(1, budget // per_frame)}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = self.missing == "mask"
        tags.non_deterministic = False
        return tags

    def save(self, path, *, optimizer=True):
        """Write the fitted model to a file that cannot carry code.

        The weights are stored as safetensors tensors and the parameters, classes,
        fitted class weights and history as JSON, with a checksum; reading it back with
        :func:`sktorchcw.load` never calls ``torch.load`` or unpickles anything, on any
        torch version. ``callbacks``, ``train_split``, the iterators,
        ``checkpoint_dir`` and their routed parameters are training-time only and not
        stored (a warning says so when set). Use pickle or joblib instead for
        scikit-learn workflows with files you trust; use ``save`` for files that cross
        a trust boundary.

        The built-in GRU (``module='gru'``) is saved like the LSTM. A network of your
        own class (``module=MyNet``) is stored as its weights, its class's qualified
        name and module name (strings, never code) and its ``module__*`` arguments as
        values; load it with ``sktorchcw.load(path, modules=[MyNet])``, which rebuilds
        it only from the classes passed and never imports anything a file names.

        Parameters
        ----------
        path : str, path-like or binary file object
            The file to write (conventionally ``*.sktorchcw``); its folder must exist.
        optimizer : bool, default=True
            Keep the optimizer's state (Adam's moment estimates...) and the random state
            of the fit, so that ``warm_start=True`` or ``partial_fit`` on the loaded
            model continues exactly as this one would. False writes a smaller file for
            prediction only: continuing a model loaded from it restarts the optimizer,
            with a warning.

        Raises
        ------
        ValueError
            For a parameter a safe file cannot hold (a ``module__*`` argument that is
            not a plain value, a loss or optimizer not from torch) or network state that
            is not a dense tensor of a stored type; nothing is written.

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
        save_model(self, path, optimizer=optimizer)

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

    # -- what each estimator supplies ----------------------------------------------------

    #: The built-in networks by name: nn.Modules taking ``(x, lengths)``, returning logits.
    _builtin_modules: dict
    #: Per-sequence or per-frame targets (:class:`sktorchcw._targets.Targets`).
    _targets: Targets

    def _outputs(self, logits, *, log=False):
        """Probabilities (or their logarithms) as an array, classes on the last axis."""
        return (self._targets.to_log_proba if log else self._targets.to_proba)(logits).numpy()



def _output_shape(values, sequences, per_frame):
    """The shape of all outputs, given one batch's ``values`` (one row per recording of the
    batch; per frame, the batch's frames on the second axis)."""
    if per_frame and sequences.ragged:  # frames of all recordings one after the other
        return (len(sequences.frames), *values.shape[2:])
    return (sequences.n_samples, *values.shape[1:])


def _put(outputs, rows, values, sequences, per_frame):
    """Write one batch's ``values`` (of the recordings ``rows``) into ``outputs``."""
    if not (per_frame and sequences.ragged):
        outputs[rows] = values
        return
    lengths = sequences.lengths[rows]
    steps = np.arange(values.shape[1])
    valid = steps[None, :] < lengths[:, None]
    positions = sequences.frame_offsets[rows][:, None] + steps[None, :]
    outputs[positions[valid]] = values[valid]


class SplitByRecording:
    """A skorch ``ValidSplit`` given the labels ``strata``, one per recording, instead of
    the ``y`` skorch hands it: the tagger's labels of every frame, which a split cannot
    line up with the recordings (a stratified split stratifies by ``strata``)."""

    def __init__(self, split, strata):
        self.split = split
        self.strata = strata

    def __call__(self, dataset, y=None, groups=None):
        return self.split(dataset, self.strata, groups=groups)


def _is_fitted_attribute(key):
    """Fitted state: public names ending in '_', and the private records of a fit."""
    return (key.endswith("_") and not key.startswith("_")) or key in _PRIVATE_FIT_STATE


def _draw_seed(random_state):
    """The seed of one fit. None draws fresh entropy rather than from numpy's global
    random state, which a fit leaves as it was."""
    if random_state is None:
        return int(np.random.default_rng().integers(np.iinfo(np.int32).max))
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _monitors(callbacks):
    """(name, monitored history key) of each callback that monitors one."""
    for item in callbacks:
        name, callback = item if isinstance(item, tuple) else (type(item).__name__, item)
        monitor = getattr(callback, "monitor", None)
        if isinstance(monitor, str):
            yield name, monitor


def _is_routed(key):
    prefix, separator, _ = key.partition("__")
    return bool(separator) and prefix in ROUTED_PREFIXES


def _prefixed(prefix, params):
    return {f"{prefix}__{key}": value for key, value in params.items()}


def _feature_scaling(sequences, standardize, missing, recording_median=None):
    """``(center, scale, fill)`` per feature over the observed frames (valid, not missing),
    float32: mean and standard deviation (``standardize`` True or 'standard'), median and
    interquartile range ('robust'), or None and None (False); ``fill`` is what a missing
    frame becomes (the centre, or the mean without standardisation) with
    ``missing='mask'``, else None. Read a chunk of frames at a time (the robust
    statistics exactly, in two passes), so no copy of X, nor of a column, is made.
    'recording' and 'recording_center': the mean and standard deviation of each frame
    divided by (reduced by) its recording's ``recording_median``, computed a chunk at a
    time."""
    if not standardize and missing != "mask":
        return None, None, None
    frames = sequences.frames
    if is_per_recording(standardize):
        frames = RecordingValues(sequences, recording_median,
                                 center=standardize == "recording_center")
    if standardize == "robust":
        center, scale = median_and_iqr(frames, sequences.missing)
    else:
        center, scale = _mean_and_std(frames, sequences.observed if sequences.has_missing
                                      else None)
    # A constant feature carries no information; leave it unscaled rather than divide by 0.
    scale[scale < 1e-12] = 1.0
    center, scale = center.astype(np.float32), scale.astype(np.float32)
    fill = center if missing == "mask" else None
    if not standardize:
        return None, None, fill
    return center, scale, fill


def _mean_and_std(frames, observed=None):
    """Per-feature mean and standard deviation (float64) of the rows of ``frames`` (where
    ``observed``), a chunk at a time: chunk means and sums of squared deviations combined
    as Chan et al. do, as exact as numpy's two-pass formula."""
    count, mean = 0, np.zeros(frames.shape[1])
    squares = np.zeros(frames.shape[1])
    for start in range(0, len(frames), CHUNK_FRAMES):
        chunk = frames[start:start + CHUNK_FRAMES]
        if observed is not None:
            chunk = chunk[observed[start:start + CHUNK_FRAMES]]
        if not len(chunk):
            continue
        chunk_mean = chunk.mean(axis=0, dtype=np.float64)
        chunk_squares = ((chunk - chunk_mean) ** 2).sum(axis=0, dtype=np.float64)
        total = count + len(chunk)
        delta = chunk_mean - mean
        squares += chunk_squares + delta**2 * count * len(chunk) / total
        mean += delta * len(chunk) / total
        count = total
    return mean, np.sqrt(squares / count)
