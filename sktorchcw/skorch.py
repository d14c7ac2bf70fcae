"""skorch's classifiers with Keras' ``class_weight``, for any module and any input.

Change one import line and add ``class_weight=``::

    from sktorchcw.skorch import NeuralNetClassifier   # was: from skorch import ...

    net = NeuralNetClassifier(MyModule, class_weight="balanced", criterion=nn.L1Loss)
    net.fit(X, y, sample_weight=w)

Everything else is skorch's (parameters, defaults, callbacks, history, ``module__*``
routing, the input skorch takes: arrays, images ``(N, C, H, W)``, dicts of arrays,
DataFrames as skorch splits them into columns). What is added is the class weighting of
:class:`sktorchcw.LSTMBlinkClassifier`, on the same core
(:class:`sktorchcw._net.ClassWeightedTraining`): ``class_weight``, ``fit(...,
sample_weight=)``, ``loss_reduction``, ``weighting``, ``sampling='balanced'``,
``prior_correction``, labels of any type, and safe model files.
"""

import inspect
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score
from skorch import classifier as skorch_classifier
from skorch.callbacks import EpochScoring
from skorch.utils import data_from_dataset, is_dataset, is_pandas_ndframe, to_numpy
from torch.utils.data import WeightedRandomSampler

from ._batching import balanced_draw_probabilities
from ._net import SAMPLE_WEIGHT, WRAPPED_INPUT, ClassWeightedTraining, logits_to_proba
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
        ``'balanced'``: ``n_samples / (n_classes * count_c)`` over the ``y`` given to
        ``fit`` (with its ``sample_weight``); a mapping from label to weight (missing
        labels weigh 1); an array in ``classes_`` order; a callable
        ``class_weight(classes, y, sample_weight)``. Never applied to the validation
        loss. See :func:`sktorchcw.resolve_class_weight`.
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
    classifier."""

    _single_logit = False  # one logit per sample (NeuralNetBinaryClassifier)

    def __init__(self, module, *args, class_weight=None, loss_reduction="mean",
                 weighting="sample", sampling=None, prior_correction=False, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.class_weight = class_weight
        self.loss_reduction = loss_reduction
        self.weighting = weighting
        self.sampling = sampling
        self.prior_correction = prior_correction

    # -- fitting ------------------------------------------------------------------------

    def fit(self, X, y=None, sample_weight=None, **fit_params):
        """Train the module; as skorch's ``fit``, plus ``sample_weight``.

        Parameters
        ----------
        X : input data skorch takes
            Arrays, tensors, DataFrames (one forward argument per column, as skorch
            does), dicts of those, or a torch Dataset (then ``y`` may be None).
        y : array-like of shape (n_samples,)
            Labels of any type (ints, strings, bools).
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
        """``(X, y)`` for skorch: labels encoded as class indices, sample weights put in
        X; the classes, class weights and training weights resolved from them."""
        if self.sampling not in (None, "balanced"):
            raise ValueError(f"sampling must be None or 'balanced'; got {self.sampling!r}.")
        labels = self._labels(X, y)
        if fresh or not hasattr(self, "classes_fitted_"):
            given = classes if classes is not None else getattr(self, "classes", None)
            self.classes_fitted_ = _classes(labels, given)
        codes = None if labels is None else _encode(labels, self.classes_fitted_)
        weights = _sample_weight(sample_weight, labels)
        if fresh or self.__dict__.get("class_weight_source_") != class_weight_source(
                self.class_weight):
            self.class_weight_ = self._resolved_class_weight(labels, weights)
            self.class_weight_source_ = class_weight_source(self.class_weight)
            if self.initialized_:
                self.criterion_.weight = self._loss_class_weight()
        # The data's part of the training weights; the criterion's own (pos_weight) is
        # known once it is built (initialize_criterion).
        self.data_training_weight_ = training_weight(
            self.class_weight_, codes if codes is not None else np.zeros(0, dtype=np.int64),
            weights, len(self.classes_fitted_), self.sampling, None)
        if self.initialized_:
            self._set_training_weight()
        if y is not None:
            y = codes
        if weights is not None:
            X = _with_sample_weight(X, weights.astype(np.float32))
        return X, y

    def _loss_class_weight(self):
        """The class weights the loss multiplies by; None without class_weight, so that a
        module may have more outputs than the data has classes, as skorch allows."""
        if self.class_weight is None or "class_weight_" not in self.__dict__:
            return None
        weight = torch.as_tensor(self.class_weight_, dtype=torch.float32)
        return weight if self.device is None else weight.to(self.device)

    def _set_training_weight(self):
        """``training_weight_``: the data's part times the criterion's own class weighting
        (``pos_weight``); with ``prior_correction``, a ValueError where the correction
        cannot divide it out, a warning where it is only approximate."""
        criterion = self.criterion_.criterion
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
            if labels.ndim != 1:
                raise ValueError(f"y must be one label per sample, shape (n_samples,); got "
                                 f"shape {labels.shape}.")
            if bool(pd.isna(labels).any()) or (labels.dtype.kind == "f"
                                                and not np.isfinite(labels).all()):
                raise ValueError("y holds missing (NaN, None) or infinite labels; every "
                                 "sample needs a label. Drop those samples before fit.")
            return labels
        if is_dataset(X):
            try:
                return np.asarray(to_numpy(data_from_dataset(X)[1]))
            except AttributeError:
                pass
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

    def _resolved_class_weight(self, labels, sample_weight):
        return resolve_class_weight(self.class_weight, classes=self.classes_fitted_, y=labels,
                                    sample_weight=sample_weight)

    def check_data(self, X, y):
        super().check_data(X, y)
        if hasattr(self, "classes_fitted_"):  # skorch infers classes from y: the codes
            self.classes_inferred_ = self.classes_fitted_

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

    # -- the criterion, the batches and the outputs ---------------------------------------

    def initialize_criterion(self):
        weights = self._loss_class_weight()
        self.criterion_ = build_criterion(
            self.criterion, self.get_params_for("criterion"), weights,
            reduction=self.loss_reduction, weighting=self.weighting, owner=type(self).__name__)
        if "data_training_weight_" in self.__dict__:
            self._set_training_weight()
        return self

    def _loss_input(self, y_pred):
        if _emits_probabilities(self.criterion):  # skorch's habit with NLLLoss
            return torch.log(y_pred + torch.finfo(y_pred.dtype).eps)
        return y_pred

    def get_iterator(self, dataset, training=False):
        if not (training and self.sampling == "balanced"):
            return super().get_iterator(dataset, training=training)
        codes = torch.as_tensor(np.asarray(to_numpy(data_from_dataset(dataset)[1])))
        sampler = WeightedRandomSampler(balanced_draw_probabilities(codes), len(codes),
                                        replacement=True)
        kwargs = self.get_params_for("iterator_train")
        kwargs.pop("shuffle", None)
        batch_size = kwargs.pop("batch_size", self.batch_size)
        kwargs["batch_size"] = len(dataset) if batch_size == -1 else batch_size
        return self.iterator_train(dataset, sampler=sampler, **kwargs)

    def _get_predict_nonlinearity(self):
        if self.predict_nonlinearity == "auto":
            self.check_is_fitted()
            # The module emits probabilities for NLLLoss (skorch's default), else logits.
            return _identity if _emits_probabilities(self.criterion) else logits_to_proba
        return super()._get_predict_nonlinearity()

    def predict_proba(self, X):
        """Probabilities ``(n_samples, n_classes)``, in ``classes_`` order; with
        ``prior_correction``, divided by the training weights and renormalised."""
        proba = super().predict_proba(X)
        if not self.prior_correction:
            return proba
        return prior_corrected(proba, self.training_weight_, log=False)

    @property
    def _default_callbacks(self):
        # skorch scores accuracy with y as it holds it, the class indices; predict gives
        # labels, so the indices are turned into labels first.
        return [(name, EpochScoring(_label_accuracy, name="valid_acc", lower_is_better=False)
                 if name == "valid_acc" else callback)
                for name, callback in super()._default_callbacks]


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
        """The label of the highest probability, from ``classes_``."""
        proba = self.predict_proba(X)  # first: it tells an unfitted net so
        return _labels_of(proba.argmax(axis=1), self.classes_)


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
        return self.__dict__.get("classes_fitted_", np.array([0, 1]))

    def _weighted_data(self, X, y, sample_weight, *, fresh, classes=None):
        X, y = super()._weighted_data(X, y, sample_weight, fresh=fresh, classes=classes)
        if len(self.classes_fitted_) != 2:
            raise ValueError(
                f"{type(self).__name__} needs exactly two classes; y has "
                f"{len(self.classes_fitted_)}: {self.classes_fitted_.tolist()!r}. Use "
                "sktorchcw.skorch.NeuralNetClassifier for more."
            )
        return X, y

    def predict(self, X):
        """``classes_[1]`` where its probability exceeds ``threshold``, else ``classes_[0]``."""
        proba = self.predict_proba(X)  # first: it tells an unfitted net so
        return _labels_of((proba[:, 1] > self.threshold).astype(int), self.classes_)


def _labels_of(indices, classes):
    """The labels of class ``indices``; the indices themselves when the labels are the
    indices 0..C-1 (skorch's case, where a module may have more outputs than classes)."""
    classes = np.asarray(classes)
    if _are_indices(classes):
        return indices
    if len(indices) and indices.max() >= len(classes):
        raise ValueError(
            f"The module predicted output {int(indices.max())}, but there are only "
            f"{len(classes)} classes {classes.tolist()!r}: give it one output per class.")
    return classes[indices]


def _are_indices(classes):
    """Whether the labels are the class indices 0..C-1 themselves (skorch's case)."""
    return (np.issubdtype(classes.dtype, np.integer)
            and np.array_equal(classes, np.arange(len(classes))))


def _classes(labels, given):
    if given is not None and len(given):
        return np.asarray(given)
    if labels is None:
        raise ValueError("fit got y=None and cannot read the labels of X; pass y, or the "
                         "classes with classes=[...].")
    return np.unique(labels)


def _encode(labels, classes):
    """Class indices of ``labels``; the labels as given when they already are indices."""
    if (np.issubdtype(labels.dtype, np.integer) and _are_indices(classes)
            and (not len(labels) or (labels.min() >= 0 and labels.max() < len(classes)))):
        return labels.astype(np.int64, copy=False)
    positions = np.searchsorted(classes, labels)
    positions = np.minimum(positions, len(classes) - 1)
    unknown = classes[positions] != labels
    if np.any(unknown):
        raise ValueError(
            f"y holds labels {np.unique(labels[unknown]).tolist()[:5]!r} that are not among "
            f"the classes {classes.tolist()!r} (the labels of the first fit, or classes=)."
        )
    return positions.astype(np.int64)


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


def _label_accuracy(net, X, y):
    return accuracy_score(net.classes_[np.asarray(to_numpy(y), dtype=np.int64)], net.predict(X))
