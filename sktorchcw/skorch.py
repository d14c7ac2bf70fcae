"""skorch's classifiers with Keras' ``class_weight``, for any module and any input.

Change one import line and add ``class_weight=``::

    from sktorchcw.skorch import NeuralNetClassifier   # was: from skorch import ...

    net = NeuralNetClassifier(MyModule, class_weight="balanced", criterion=nn.L1Loss)
    net.fit(X, y, sample_weight=w)

Everything else is skorch's (parameters, defaults, callbacks, history, ``module__*``
routing, the input skorch takes: arrays, images ``(N, C, H, W)``, dicts of arrays,
DataFrames as skorch splits them into columns); without a weighting parameter the net
is skorch's, checked by skorch's own tests (``tools/skorch_suite.py``). What is added
is the class weighting of
:class:`sktorchcw.LSTMBlinkClassifier`, on the same core
(:class:`sktorchcw._net.ClassWeightedTraining`): ``class_weight``, ``fit(...,
sample_weight=)``, ``loss_reduction``, ``weighting``, ``sampling='balanced'``,
``prior_correction``, labels of any type, and safe model files.
"""

import inspect
from collections.abc import Mapping
from functools import partial

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from skorch import classifier as skorch_classifier
from skorch.dataset import Dataset
from skorch.utils import get_dim, is_dataset, is_pandas_ndframe, to_numpy, to_tensor
from torch.utils.data import Subset, WeightedRandomSampler, default_collate

from ._batching import balanced_draw_probabilities
from ._loss import AS_GIVEN, ClassWeightedLoss, criterion_formats
from ._net import (
    SAMPLE_WEIGHT,
    WRAPPED_INPUT,
    ClassWeightedTraining,
    logits_to_proba,
    split_sample_weight,
)
from ._threads import check_n_threads
from ._weighting import (
    FORMAT_PARAMETERS as _FORMAT_KEYS,
)
from ._weighting import (
    build_criterion,
    check_prior_correction,
    class_weight_source,
    criterion_class_weight,
    prior_corrected,
    training_weight,
)
from ._weights import resolve_class_weight

__all__ = ["NeuralNetClassifier", "NeuralNetBinaryClassifier"]

WEIGHTING_DOC = """\
    class_weight : None, 'balanced', mapping, array-like or callable, default=None
        Weight of each class in the training loss, as in Keras and scikit-learn.
        ``'balanced'``: ``n_samples / (n_classes * count_c)`` over the training part of
        the ``y`` given to ``fit`` (all of it without a validation split; with its
        ``sample_weight``); a mapping from label to weight (missing labels weigh 1, keys
        that are no class of this fit are ignored); an array in ``classes_`` order; a
        callable ``class_weight(classes, y, sample_weight)``. Never applied to the
        validation loss. See :func:`sktorchcw.resolve_class_weight`.
    loss_reduction : {'mean', 'weighted_mean', 'sum'}, default='mean'
        ``sum(s*w*l) / N`` (Keras, scikit-learn), ``sum(s*w*l) / sum(s*w)`` (PyTorch's
        ``weight=``) or ``sum(s*w*l)`` per batch.
    weighting : {'sample', 'output'}, default='sample'
        Each sample's loss times its class's weight, or output column ``j``'s loss
        times ``w_j`` (needs a one-hot criterion). See :class:`sktorchcw.ClassWeightedLoss`.
    sampling : None or 'balanced', default=None
        ``'balanced'``: each training epoch draws as many samples as there are, with
        replacement, each with probability proportional to ``1 / count`` of its class
        (a :class:`torch.utils.data.WeightedRandomSampler`, drawn from torch's random
        state as skorch's shuffling is).
    on_divergence : {'warn', 'raise', 'ignore'}, default='warn'
        A NaN or infinite training loss or weight: ``'warn'`` once per fit
        (:class:`sktorchcw.DivergenceWarning`) and train on, as skorch does; ``'raise'``
        a :class:`sktorchcw.TrainingDivergedError` before it reaches the weights;
        ``'ignore'``: skorch exactly.
    n_threads : None, 'auto' or int, default=None
        torch's intra-op threads during ``fit`` and prediction; the process's setting
        is restored afterwards. None leaves ``torch.get_num_threads()`` alone, as
        skorch does; ``'auto'`` (Linux) uses as many threads as other programs leave
        cores free, checked every half second, so a busy machine does not stall the
        fit (5-9x on a 2-core machine beside busy processes); an int fixes the count
        (-1: every core). Torch rounds differently with different counts, so fits that
        must repeat bit for bit take an int or None. See the Performance page.
    prior_correction : bool, default=False
        ``predict_proba`` divides each class's probability by the factor training
        weighted it (``training_weight_``: class weight x sampling rate x mean sample
        weight) and renormalises: the natural probabilities, exactly for proper scoring
        rules (cross-entropy, NLL, BCE, MSE).
"""

ATTRIBUTES_DOC = """    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit`` (or ``classes``), sorted; ``predict`` returns them.
    class_weight_ : ndarray of shape (n_classes,)
        The class weights used, aligned with ``classes_``.
    training_weight_ : ndarray of shape (n_classes,)
        The factor by which training weighted each class relative to its share.
"""


class _ClassWeightedClassifier(ClassWeightedTraining):
    """The weighting parameters and the fit that resolves them, for either skorch
    classifier.

    Without a weighting parameter the net is skorch's: its criterion (``criterion_``) is
    skorch's, called by skorch's ``get_loss`` on the module's output and ``y`` as they come.
    ``class_weight``, ``loss_reduction`` or ``weighting`` (and a one-hot criterion such as
    ``nn.L1Loss``, which skorch cannot train a classifier with) make ``criterion_`` a
    :class:`~sktorchcw.ClassWeightedLoss`; ``sample_weight`` alone weighs skorch's loss
    per sample. The datasets, callbacks and scorers see the user's labels; only the loss
    and the sampling turn them into output columns.
    """

    _single_logit = False  # one logit per sample (NeuralNetBinaryClassifier)

    def __init__(self, module, *args, class_weight=None, loss_reduction="mean",
                 weighting="sample", sampling=None, prior_correction=False,
                 on_divergence="warn", n_threads=None, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.class_weight = class_weight
        self.loss_reduction = loss_reduction
        self.weighting = weighting
        self.sampling = sampling
        self.prior_correction = prior_correction
        self.on_divergence = on_divergence
        self.n_threads = n_threads

    # -- fitting ------------------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None, **fit_params):
        """Train the module; as skorch's ``fit``, plus ``sample_weight``.

        Parameters
        ----------
        X : input data skorch takes
            Arrays, tensors, DataFrames (one forward argument per column, as skorch
            does), dicts of those, or a torch Dataset (then ``y`` may be None).
        y : array-like of shape (n_samples,)
            Labels of any type (ints, strings, bools). Non-negative integer labels are
            the module's output columns, as in skorch (label 2 trains output 2), when
            the module has an output for each; other labels are taken in ``classes_``
            order.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, multiplied with the class weights; batched and
            shuffled with the data (a validation split keeps its own samples' weights for
            the validation loss).
        **fit_params
            Passed on to the module's ``forward``, as skorch does.

        Returns
        -------
        self
        """
        fresh = not self.warm_start or not self.initialized_
        X, y = self._weighted_data(X, y, sample_weight, fresh=fresh)
        self.fitting_ = True
        try:
            return super().fit(X, y, **fit_params)
        finally:
            del self.fitting_

    def partial_fit(self, X, y=None, classes=None, sample_weight=None, **fit_params):
        """One more pass over ``X``, ``y`` (skorch's ``partial_fit``) with ``sample_weight``;
        the class weights are those of the first call unless ``class_weight`` changed."""
        if self.__dict__.get("fitting_"):  # called by fit, which prepared the data
            return super().partial_fit(X, y, classes=classes, **fit_params)
        X, y = self._weighted_data(X, y, sample_weight, fresh=not self.initialized_,
                                   classes=classes)
        return super().partial_fit(X, y, **fit_params)

    def _weighted_data(self, X, y, sample_weight, *, fresh, classes=None):
        """``(X, y)`` for skorch: the labels as given, sample weights put in X; the classes,
        class weights and training weights resolved from them."""
        _check_choices(self)
        labels = self._labels(X, y)
        if fresh or "classes_fitted_" not in self.__dict__:
            given = classes if classes is not None else getattr(self, "classes", None)
            self.classes_fitted_ = self._fit_classes(labels, given)
        weights = _sample_weight(sample_weight, labels)
        self.resolve_on_split_ = False
        if fresh or self.__dict__.get("class_weight_source_") != class_weight_source(
                self.class_weight):
            self.class_weight_ = self._resolved_class_weight(labels, weights)
            self.class_weight_source_ = class_weight_source(self.class_weight)
            # 'balanced' and callables count the training part once skorch splits it.
            self.resolve_on_split_ = isinstance(self.class_weight, str) or (
                callable(self.class_weight) and not _is_array(self.class_weight))
        self._set_data_training_weight(labels, weights)
        self.sparse_with_weights_ = weights is not None and sparse.issparse(X)
        if weights is not None:
            X = _with_sample_weight(X, weights.astype(np.float32))
        return X, self._skorch_targets(y, labels)

    def _set_data_training_weight(self, labels, weights):
        """The data's part of the training weights; the criterion's own (pos_weight) is
        known once it is built (initialize_criterion)."""
        if self.classes_fitted_ is None:
            return
        positions = (np.zeros(0, dtype=np.int64) if labels is None
                     else self._class_positions(labels))
        self.data_training_weight_ = training_weight(
            self.class_weight_, positions, weights, len(self.classes_fitted_), self.sampling,
            None)
        if self.initialized_:
            self._set_training_weight()

    def _skorch_targets(self, y, labels):
        """What skorch's dataset holds as ``y``: the labels as given (a tensor stays one)."""
        if y is None or labels is None or isinstance(y, torch.Tensor):
            return y
        return labels

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        if self.__dict__.pop("resolve_on_split_", False) and dataset_valid is not None:
            part = _labels_and_weights(dataset_train)
            if part is not None:  # else a dataset we cannot read: all of y counted
                labels, weights = part
                self.class_weight_ = self._resolved_class_weight(labels, weights)
                self._set_data_training_weight(labels, weights)
        return dataset_train, dataset_valid

    def _set_training_weight(self):
        """``training_weight_``: the data's part times the criterion's own class weighting
        (``pos_weight``); with ``prior_correction``, a ValueError where the correction
        cannot divide it out, a warning where it is only approximate."""
        criterion = self.__dict__.get("criterion_")  # a subclass may name it otherwise
        if isinstance(criterion, ClassWeightedLoss):
            criterion = criterion.criterion
        n_classes = len(self.classes_fitted_)
        outputs = 1 if self._single_logit else n_classes
        self.training_weight_ = (self.data_training_weight_
                                 * criterion_class_weight(criterion, n_classes, outputs)[0])
        if self.prior_correction:
            check_prior_correction(self.classes_fitted_, self.training_weight_, criterion,
                                   outputs, given=self.criterion)

    def _labels(self, X, y):
        if y is not None:
            labels = to_numpy(y) if isinstance(y, torch.Tensor) else np.asarray(y)
            if labels.ndim != 1 or (labels.dtype == object and any(
                    isinstance(label, (np.ndarray, list, tuple)) for label in labels)):
                if self.class_weight is None and self.sampling is None:
                    return None  # targets of another kind (sequences): skorch's business
                raise ValueError(f"class_weight and sampling need one label per sample, "
                                 f"shape (n_samples,); got shape {labels.shape}.")
            if bool(pd.isna(labels).any()) or (labels.dtype.kind == "f"
                                                and not np.isfinite(labels).all()):
                raise ValueError("y holds missing (NaN, None) or infinite labels; every "
                                 "sample needs a label. Drop those samples before fit.")
            return labels
        if is_dataset(X):
            part = _labels_and_weights(X)
            if part is not None:
                return part[0]
        if self.class_weight is not None and not isinstance(self.class_weight, Mapping) \
                and not _is_array(self.class_weight):
            raise ValueError(
                f"class_weight={self.class_weight!r} is computed from the labels, but fit "
                "got y=None and a dataset whose labels it cannot read. Pass y, or give "
                "class_weight as a mapping from label to weight."
            )
        if self.sampling is not None:
            raise ValueError("sampling='balanced' draws samples by their labels; pass y.")
        return None

    def _fit_classes(self, labels, given):
        """The classes in output-column order: ``given`` as given (when ``y`` holds
        indices into it rather than its labels, those indices, as skorch takes them);
        else the sorted labels; None when neither is known."""
        if given is not None and len(given):
            given = np.asarray(given)
            if labels is None or not (pd.Index(given).get_indexer(labels) < 0).any():
                return given
            if _are_indices(np.unique(labels)) or (
                    labels.dtype.kind in "iu" and labels.min() >= 0
                    and labels.max() < len(given)):
                return np.arange(len(given))
            unknown = np.setdiff1d(labels, given)
            raise ValueError(f"y holds labels {unknown.tolist()[:5]!r} that are not among "
                             f"classes={given.tolist()!r}.")
        if labels is None:
            if self.class_weight is not None:
                raise ValueError("class_weight needs the classes, but fit got y=None and "
                                 "cannot read the labels of X; pass y, or classes=[...].")
            return None
        return np.unique(labels)

    def _resolved_class_weight(self, labels, sample_weight):
        if self.classes_fitted_ is None:
            return None
        return resolve_class_weight(self.class_weight, classes=self.classes_fitted_, y=labels,
                                    sample_weight=sample_weight)

    def check_data(self, X, y):
        super().check_data(X, y)
        if self.__dict__.get("classes_fitted_") is not None:
            self.classes_inferred_ = self.classes_fitted_

    # -- labels and output columns ------------------------------------------------------

    def _encodes(self, n_outputs):
        """Whether labels go to output columns by their position in ``classes_fitted_``
        (strings, negative or too large integers) rather than being the columns
        themselves (skorch's non-negative integer labels)."""
        classes = self._output_classes()
        if classes is None:
            return False
        return not (_non_negative_integers(classes) and classes.max() < max(n_outputs, 1))

    def _output_classes(self):
        """The classes of the output columns: those of the fit, else ``classes=`` (a net
        restored with ``initialize()`` and ``load_params``), else None."""
        classes = self.__dict__.get("classes_fitted_")
        given = getattr(self, "classes", None)
        if classes is None and given is not None and len(given):
            classes = np.asarray(given)
        return classes

    def _class_positions(self, labels):
        """Each label's position in ``classes_fitted_`` (its class index)."""
        return _positions(labels, self.classes_fitted_)

    def _n_outputs(self, y_pred):
        return 2 if self._single_logit or y_pred.ndim == 1 else y_pred.shape[1]

    def _loss_target(self, y_true, y_pred):
        """The batch's labels as output columns (class indices; floats for one logit)."""
        if self._encodes(self._n_outputs(y_pred)):
            labels = to_numpy(y_true) if isinstance(y_true, torch.Tensor) else np.asarray(y_true)
            y_true = torch.as_tensor(_positions(labels, self.classes_fitted_),
                                     device=y_pred.device)
        criterion = self.__dict__.get("criterion_")
        if self._single_logit and not (isinstance(criterion, ClassWeightedLoss)
                                       and criterion.input_format != AS_GIVEN):
            # skorch's criteria for one logit (BCEWithLogitsLoss) take float targets
            y_true = to_tensor(y_true, device=self.device)
            return y_true.to(y_pred.dtype) if torch.is_tensor(y_pred) else y_true
        return y_true

    def _per_output(self, values, n_outputs, *, fill=1.0):
        """``values`` (one per class) laid out per output column; ``fill`` elsewhere."""
        classes = self.classes_fitted_
        columns = (np.arange(len(classes)) if self._encodes(n_outputs)
                   else classes.astype(np.int64))
        if columns.max() >= n_outputs:
            raise ValueError(
                f"The module has {n_outputs} outputs, but the classes "
                f"{np.asarray(classes).tolist()!r} need {columns.max() + 1}: give it one "
                "output per class.")
        laid_out = np.full(n_outputs, fill, dtype=np.float64)
        laid_out[columns] = values
        return laid_out

    def _labels_of(self, indices, n_outputs):
        """The labels of output columns ``indices``."""
        if not self._encodes(n_outputs):
            return indices
        classes = np.asarray(self._output_classes())
        if len(indices) and indices.max() >= len(classes):
            raise ValueError(
                f"The module predicted output {int(indices.max())}, but there are only "
                f"{len(classes)} classes {classes.tolist()!r}: give it one output per class.")
        return classes[indices]

    # -- the criterion and the loss -------------------------------------------------------

    def _adapts_targets(self):
        """Whether ``criterion_`` is a ClassWeightedLoss rather than skorch's criterion."""
        if (self.class_weight is not None or self.loss_reduction != "mean"
                or self.weighting != "sample"
                or any(key in self.get_params_for("criterion") for key in _FORMAT_KEYS)):
            return True
        formats = criterion_formats(self.criterion)
        return not self._single_logit and formats is not None and formats[1] == "onehot"

    def initialize_criterion(self):
        if self._adapts_targets():
            self.criterion_ = build_criterion(
                self.criterion, self.get_params_for("criterion"), None,
                reduction=self.loss_reduction, weighting=self.weighting,
                owner=type(self).__name__, undeclared=AS_GIVEN, keep_criterion_weight=True)
        else:
            super().initialize_criterion()
        self.__dict__.pop("loss_weight_key_", None)
        if "data_training_weight_" in self.__dict__:
            self._set_training_weight()
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return super().get_loss(y_pred, self._loss_target(y_true, y_pred), X=X,
                                training=training)

    def _weighted_criterion(self, y_pred, X):
        criterion = self.criterion_
        if isinstance(criterion, ClassWeightedLoss):
            self._set_loss_class_weight(criterion, y_pred)
            return criterion
        if split_sample_weight(X)[1] is None:
            return None  # skorch's own loss
        cached = self.__dict__.get("sample_weighted_criterion_")
        if cached is None or cached[0] is not criterion:
            cached = (criterion, ClassWeightedLoss(criterion, input_format=AS_GIVEN,
                                                   target_format=AS_GIVEN))
            self.sample_weighted_criterion_ = cached
        return cached[1]

    def _set_loss_class_weight(self, criterion, y_pred):
        """The loss's class weights, one per output column (1 for a column of no class),
        set again only when the weights, the outputs or the device change."""
        class_weight = self.__dict__.get("class_weight_")
        if self.class_weight is None or class_weight is None:
            return
        n_outputs = self._n_outputs(y_pred)
        key = (id(class_weight), n_outputs, y_pred.device)
        if self.__dict__.get("loss_weight_key_") == key:
            return
        criterion.weight = torch.as_tensor(self._per_output(class_weight, n_outputs),
                                           dtype=torch.float32, device=y_pred.device)
        self.loss_weight_key_ = key

    def _loss_input(self, y_pred):
        if _emits_probabilities(self.criterion):  # skorch's habit with NLLLoss
            return torch.log(y_pred + torch.finfo(y_pred.dtype).eps)
        return y_pred

    # -- safe model files -----------------------------------------------------------------

    def save(self, path, optimizer=True):
        """Write the fitted net to a safe model file, read back by :func:`sktorchcw.load`.

        The file is a safetensors file with JSON metadata and a checksum: the module's
        state dict, its class by name (rebuilt by ``load`` only from the classes you pass
        in ``modules=``) and ``module__*`` arguments, criterion and optimizer (torch's own,
        by name), ``lr``, ``max_epochs``, ``batch_size``, the weighting parameters, the
        classes, ``class_weight_``, ``training_weight_`` and the history. Nothing in it is
        code, and reading it never unpickles or imports anything the file names.

        Not stored (training only; a warning when set): ``callbacks``, ``train_split``,
        ``dataset``, ``iterator_*``. The loaded net has skorch's defaults for them.

        Parameters
        ----------
        path : str, path-like or binary file object
            Where to write.
        optimizer : bool, default=True
            Also store the optimizer's state, so that ``partial_fit`` continues as this
            net would; False writes a smaller file, for prediction.

        Raises
        ------
        ValueError
            For what a safe file cannot hold: a module given as an instance (pass the
            class and its ``module__*`` arguments), a callable ``class_weight`` or
            ``predict_nonlinearity``, a criterion or optimizer that is not torch's, a
            ``module__*`` argument that is not a plain value; or a net not fitted.

        Examples
        --------
        >>> import io, numpy as np, torch, sktorchcw
        >>> from torch import nn
        >>> from sktorchcw.skorch import NeuralNetClassifier
        >>> X = np.random.default_rng(0).normal(size=(100, 4)).astype("float32")
        >>> y = np.where(X[:, 0] > 1.0, "rare", "common")
        >>> _ = torch.manual_seed(0)
        >>> net = NeuralNetClassifier(nn.Linear, module__in_features=4,
        ...                           module__out_features=2, criterion=nn.CrossEntropyLoss,
        ...                           class_weight="balanced", max_epochs=2,
        ...                           verbose=0).fit(X, y)
        >>> file = io.BytesIO()
        >>> net.save(file)
        >>> _ = file.seek(0)
        >>> loaded = sktorchcw.load(file, modules=[nn.Linear])
        >>> bool((loaded.predict_proba(X) == net.predict_proba(X)).all())
        True
        >>> loaded.classes_
        array(['common', 'rare'], dtype='<U6')
        """
        from ._net_files import save_net

        save_net(self, path, optimizer=optimizer)

    # -- batches and outputs ---------------------------------------------------------------

    def get_iterator(self, dataset, training=False):
        balanced = training and self.sampling == "balanced"
        text_labels = _text_labels(self.__dict__.get("classes_fitted_"))
        sparse_rows = self.__dict__.get("sparse_with_weights_", False)
        if not (balanced or text_labels or sparse_rows):
            return super().get_iterator(dataset, training=training)
        # skorch's get_iterator, with text labels batched as arrays (torch's collate makes
        # lists of them, which skorch's scoring callbacks cannot read), sparse rows that
        # travel beside sample weights made dense (skorch does that only for a bare sparse
        # X) and balanced draws.
        name = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(name)
        batch_size = kwargs.pop("batch_size", self.batch_size)
        kwargs["batch_size"] = len(dataset) if batch_size == -1 else batch_size
        if text_labels or sparse_rows:
            kwargs.setdefault("collate_fn", partial(_collate, text_labels=text_labels))
        if not balanced:
            return getattr(self, name)(dataset, **kwargs)
        labels = _labels_and_weights(dataset)
        if labels is None:
            raise ValueError("sampling='balanced' draws samples by their labels, which this "
                             "dataset does not show; use a skorch Dataset or pass X and y.")
        positions = torch.as_tensor(self._class_positions(labels[0]))
        sampler = WeightedRandomSampler(balanced_draw_probabilities(positions), len(positions),
                                        replacement=True)
        kwargs.pop("shuffle", None)
        return self.iterator_train(dataset, sampler=sampler, **kwargs)

    def _get_predict_nonlinearity(self):
        criterion = self.__dict__.get("criterion_")
        if (self.predict_nonlinearity == "auto" and isinstance(criterion, ClassWeightedLoss)
                and criterion.input_format != AS_GIVEN):
            self.check_is_fitted()
            # The module emits probabilities for NLLLoss (skorch's default), else logits.
            return _identity if _emits_probabilities(self.criterion) else logits_to_proba
        return super()._get_predict_nonlinearity()

    def predict_proba(self, X):
        """Probabilities ``(n_samples, n_outputs)``, one column per output of the module
        (in ``classes_`` order when the labels are not the output columns themselves);
        with ``prior_correction``, divided by the training weights and renormalised."""
        proba = super().predict_proba(X)
        if not self.prior_correction or "training_weight_" not in self.__dict__:
            return proba
        return prior_corrected(proba, self._per_output(self.training_weight_, proba.shape[1]),
                               log=False)


class NeuralNetClassifier(_ClassWeightedClassifier, skorch_classifier.NeuralNetClassifier):
    __doc__ = (
        "skorch's NeuralNetClassifier with class weights for any criterion.\n\n"
        "    A drop-in: ``from sktorchcw.skorch import NeuralNetClassifier`` and add\n"
        "    ``class_weight=``. skorch's parameters and defaults are unchanged (criterion\n"
        "    ``NLLLoss`` on a module that returns probabilities; with any other criterion\n"
        "    the module returns logits and ``predict_proba`` is their softmax).\n\n"
        "    Parameters\n    ----------\n" + WEIGHTING_DOC
        + "    module, criterion, **kwargs\n        As for :class:`skorch.NeuralNetClassifier`.\n\n"
        "    Attributes\n    ----------\n" + ATTRIBUTES_DOC + """
    Examples
    --------
    >>> import numpy as np, torch
    >>> from torch import nn
    >>> from sktorchcw.skorch import NeuralNetClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)).astype("float32")
    >>> y = np.where(X[:, 0] > 1.0, "rare", "common")
    >>> _ = torch.manual_seed(0)
    >>> net = NeuralNetClassifier(nn.Linear, module__in_features=5, module__out_features=2,
    ...                           criterion=nn.L1Loss, class_weight="balanced",
    ...                           max_epochs=5, train_split=None, verbose=0)
    >>> net.fit(X, y).classes_
    array(['common', 'rare'], dtype='<U6')
    >>> net.class_weight_.round(2)
    array([0.56, 4.35])
    >>> net.predict(X[:3]).shape
    (3,)
    """)

    def predict(self, X):
        """The label of the highest probability (the output column itself for integer
        labels that are the columns, as in skorch)."""
        proba = self.predict_proba(X)  # first: it tells an unfitted net so
        return self._labels_of(proba.argmax(axis=1), proba.shape[1])


class NeuralNetBinaryClassifier(_ClassWeightedClassifier,
                                skorch_classifier.NeuralNetBinaryClassifier):
    __doc__ = (
        "skorch's NeuralNetBinaryClassifier with class weights for any criterion.\n\n"
        "    A drop-in: the module returns one logit per sample, ``(N,)`` or ``(N, 1)``;\n"
        "    ``threshold`` turns the probability of ``classes_[1]`` into a label. Labels\n"
        "    may be of any type with two values (skorch's own takes 0 and 1 only).\n\n"
        "    Parameters\n    ----------\n" + WEIGHTING_DOC
        + "    module, criterion, threshold, **kwargs\n"
        "        As for :class:`skorch.NeuralNetBinaryClassifier`.\n\n"
        "    Attributes\n    ----------\n" + ATTRIBUTES_DOC + """
    Examples
    --------
    >>> import numpy as np, torch
    >>> from torch import nn
    >>> from sktorchcw.skorch import NeuralNetBinaryClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)).astype("float32")
    >>> y = (X[:, 0] > 1.0).astype(int)
    >>> _ = torch.manual_seed(0)
    >>> net = NeuralNetBinaryClassifier(nn.Linear, module__in_features=5,
    ...                                 module__out_features=1, class_weight={1: 5.0},
    ...                                 max_epochs=5, train_split=None, verbose=0)
    >>> net.fit(X, y).class_weight_
    array([1., 5.])
    >>> net.predict_proba(X[:2]).shape
    (2, 2)
    """)

    _single_logit = True

    @property
    def classes_(self):
        classes = self.__dict__.get("classes_fitted_")
        return np.array([0, 1]) if classes is None else classes

    def _fit_classes(self, labels, given):
        if labels is not None and labels.dtype.kind in "fiu" and (
                (labels == 0) | (labels == 1) if labels.dtype.kind != "f"
                else (labels >= 0) & (labels <= 1)).all():
            return np.array([0, 1])  # 0/1 labels or soft targets in [0, 1], as skorch takes
        classes = super()._fit_classes(labels, given)
        if classes is not None and len(classes) != 2:
            raise ValueError(
                f"{type(self).__name__} needs exactly two classes; y has {len(classes)}: "
                f"{np.asarray(classes).tolist()[:10]!r}. Use "
                "sktorchcw.skorch.NeuralNetClassifier for more.")
        return classes

    def _class_positions(self, labels):
        if labels.dtype.kind == "f":  # soft targets count for the nearer class
            return (labels >= 0.5).astype(np.int64)
        return super()._class_positions(labels)

    def _encodes(self, n_outputs):
        classes = self.__dict__.get("classes_fitted_")
        return classes is not None and not (_non_negative_integers(classes)
                                            and classes.max() <= 1)

    def _labels(self, X, y):
        if y is not None and not is_dataset(X) and get_dim(y) != 1:
            raise ValueError("The target data should be 1-dimensional.")  # skorch's words
        labels = super()._labels(X, y)
        if (labels is not None and self.class_weight is not None and labels.dtype.kind == "f"
                and not np.isin(labels, (0.0, 1.0)).all()):
            raise ValueError("class_weight weighs each sample by its class, so it needs hard "
                             "labels; y holds soft targets (values between 0 and 1). Weigh "
                             "them with sample_weight instead.")
        return labels

    def predict(self, X):
        """``classes_[1]`` where its probability exceeds ``threshold``, else ``classes_[0]``
        (0/1 as ``uint8`` for 0/1 labels and soft targets, as skorch gives)."""
        proba = self.predict_proba(X)  # first: it tells an unfitted net so
        positive = proba[:, 1] > self.threshold
        if self._encodes(2):
            return np.asarray(self.classes_fitted_)[positive.astype(np.int64)]
        return positive.astype("uint8")


def _are_indices(classes):
    """Whether the labels are the class indices 0..C-1 themselves (skorch's case)."""
    return (np.issubdtype(classes.dtype, np.integer)
            and np.array_equal(classes, np.arange(len(classes))))


def _positions(labels, classes):
    """The position of each label in ``classes``; a ValueError names labels not there."""
    positions = pd.Index(classes).get_indexer(np.asarray(labels).reshape(-1))
    if (positions < 0).any():
        unknown = pd.unique(np.asarray(labels).reshape(-1)[positions < 0])
        raise ValueError(
            f"y holds labels {unknown.tolist()[:5]!r} that are not among the classes "
            f"{np.asarray(classes).tolist()!r} (the labels of the first fit, or classes=).")
    return positions.astype(np.int64)


def _non_negative_integers(classes):
    classes = np.asarray(classes)
    return (len(classes) > 0 and np.issubdtype(classes.dtype, np.integer)
            and classes.min() >= 0)


def _labels_and_weights(dataset):
    """``(labels, sample_weight or None)`` of a skorch Dataset or a Subset of one, read
    without copying X; None for datasets that do not show their labels."""
    indices = None
    if isinstance(dataset, Subset):
        dataset, indices = dataset.dataset, np.asarray(dataset.indices)
    if not isinstance(dataset, Dataset) or dataset.y is None:
        return None
    labels = dataset.y
    labels = to_numpy(labels) if isinstance(labels, torch.Tensor) else np.asarray(labels)
    weights = dataset.X.get(SAMPLE_WEIGHT) if isinstance(dataset.X, Mapping) else None
    if weights is not None:
        weights = np.asarray(to_numpy(weights) if isinstance(weights, torch.Tensor) else weights,
                             dtype=np.float64)
    if indices is not None:
        labels = labels[indices]
        weights = None if weights is None else weights[indices]
    return labels, weights


def _text_labels(classes):
    return classes is not None and np.asarray(classes).dtype.kind in "OUS"


def _collate(batch, *, text_labels):
    """torch's collate, with sparse rows in a dict X made dense and text labels as one
    array."""
    inputs = [{key: value.toarray().squeeze(0) if sparse.issparse(value) else value
               for key, value in item.items()} if isinstance(item, Mapping) else item
              for item, _ in batch]
    labels = [label for _, label in batch]
    return (default_collate(inputs),
            np.asarray(labels) if text_labels else default_collate(labels))


def _check_choices(net):
    if net.sampling not in (None, "balanced"):
        raise ValueError(f"sampling must be None or 'balanced'; got {net.sampling!r}.")
    if net.on_divergence not in ("raise", "warn", "ignore"):
        raise ValueError("on_divergence must be 'raise', 'warn' or 'ignore'; got "
                         f"{net.on_divergence!r}.")
    check_n_threads(net.n_threads)


def _sample_weight(sample_weight, labels):
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.ndim != 1 or (labels is not None and len(weights) != len(labels)):
        expected = "n_samples" if labels is None else len(labels)
        raise ValueError(f"sample_weight must be one weight per sample, shape ({expected},); "
                         f"got shape {weights.shape}.")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("sample_weight must be finite and non-negative.")
    return weights


def _with_sample_weight(X, weights):
    """X with its samples' weights beside it, batched and shuffled with it by skorch."""
    if is_dataset(X):
        raise TypeError(
            "sample_weight cannot be joined to a torch Dataset X; give X as arrays (or a "
            "dict of arrays), or put the weights in your dataset and weigh them in the "
            "criterion."
        )
    if is_pandas_ndframe(X):  # as skorch's Dataset does: one forward argument per column
        X = {key: X[key].values.reshape(-1, 1) for key in X}
    if isinstance(X, Mapping):
        if SAMPLE_WEIGHT in X:
            raise ValueError(f"X has a key {SAMPLE_WEIGHT!r}, which sample weights travel "
                             "under; rename it.")
        return {**X, SAMPLE_WEIGHT: weights}
    return {WRAPPED_INPUT: X, SAMPLE_WEIGHT: weights}


def _emits_probabilities(criterion):
    klass = criterion if inspect.isclass(criterion) else type(criterion)
    return inspect.isclass(klass) and issubclass(klass, torch.nn.NLLLoss)


def _is_array(value):
    return isinstance(value, (list, tuple, np.ndarray, torch.Tensor))


def _identity(values):
    return values
