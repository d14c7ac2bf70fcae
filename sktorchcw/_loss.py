"""ClassWeightedLoss: class and sample weights for any criterion, in one vectorised call."""

import copy
import inspect
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._warnings import warn_at_caller
from ._weights import check_weight_vector

__all__ = ["ClassWeightedLoss", "FocalLoss", "criterion_formats"]

# 'as_given': the module's output and y exactly as they come (skorch's way, for a criterion
# sktorchcw.skorch does not know); both formats or neither.
AS_GIVEN = "as_given"
INPUT_FORMATS = ("logits", "log_probabilities", "probabilities", AS_GIVEN)
TARGET_FORMATS = ("index", "onehot", AS_GIVEN)
REDUCTIONS = ("mean", "weighted_mean", "sum")
WEIGHTINGS = ("sample", "output")
_TORCH_IGNORE_INDEX = -100  # the default of CrossEntropyLoss and NLLLoss: never a class

FOCAL_REDUCTIONS = ("none", "mean", "sum")


class FocalLoss(nn.Module):
    """Focal loss of Lin et al. (2017) on raw logits and class indices.

    Each element's loss is ``-(1 - p_t) ** gamma * log(p_t)``, where ``p_t`` is the
    probability the logits give the true class: the cross-entropy, scaled down for
    the elements the model already gets right, so that training dwells on the hard
    ones. ``log(p_t)`` comes from ``log_softmax`` (``logsigmoid`` for a single
    logit), never from a logarithm of a probability, so extreme logits stay finite.

    Parameters
    ----------
    gamma : float, default=2.0
        The focusing parameter, finite and ``>= 0``. ``0`` gives the cross-entropy
        (``F.cross_entropy``, or ``F.binary_cross_entropy_with_logits`` for a single
        logit); Lin et al. found 2 best.
    reduction : {'none', 'mean', 'sum'}, default='mean'
        ``'none'``: one loss per target element (the targets' shape); ``'mean'``:
        their mean; ``'sum'``: their sum.

    Attributes
    ----------
    gamma : float
        As given, as a float.
    reduction : str
        As given.

    See Also
    --------
    ClassWeightedLoss : class and sample weights for this or any criterion.

    Notes
    -----
    The layouts are those of ``F.cross_entropy``:

    - ``input`` of shape ``(N, C)`` or ``(N, C, d1, ...)`` (the class axis second)
      with class indices ``target`` of shape ``(N,)`` or ``(N, d1, ...)``: the
      multi-class (softmax) focal loss;
    - a single logit, ``input`` of the targets' shape (including ``(N,)`` with
      ``target`` ``(N,)``), or ``(N, 1, d1, ...)`` with ``target`` ``(N, d1, ...)``:
      the binary (sigmoid) focal loss, with ``target`` 0 or 1 (integers, booleans
      or floats) and ``p_t`` the sigmoid of the logit for 1, one minus it for 0.

    There is no ``alpha`` argument: Lin et al.'s ``alpha_t`` is a weight of the true
    class, which is what a class weight is. ``ClassWeightedLoss(FocalLoss,
    class_weight=[1 - alpha, alpha])`` (or ``class_weight=`` on the estimators with
    ``criterion=FocalLoss``) gives ``alpha_t * FL(p_t)``; any other class weights,
    ``'balanced'`` or :class:`effective_number_weights` work as well, with several
    classes too. ``ClassWeightedLoss`` also takes care of masks (padding frames)
    and sample weights. There is no ``ignore_index``: every target is a class.

    References
    ----------
    T.-Y. Lin, P. Goyal, R. Girshick, K. He and P. Dollar, "Focal Loss for Dense
    Object Detection", ICCV 2017.

    Examples
    --------
    >>> import torch
    >>> from sktorchcw import FocalLoss
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    >>> target = torch.tensor([0, 0])
    >>> FocalLoss(gamma=2.0, reduction="none")(logits, target)
    tensor([0.0018, 0.7019])

    With class weights, as the ``alpha`` of the paper (0.25 for class 1):

    >>> from sktorchcw import ClassWeightedLoss
    >>> loss = ClassWeightedLoss(FocalLoss, class_weight=[0.75, 0.25], reduction="sum")
    >>> round(loss(logits, target).item(), 4)
    0.5278

    A single logit per sample is the sigmoid focal loss (here p_t is
    sigmoid(2) for the 1 and 1 - sigmoid(-1) for the 0):

    >>> FocalLoss(reduction="none")(torch.tensor([2.0, -1.0]), torch.tensor([1, 0]))
    tensor([0.0018, 0.0227])
    """

    def __init__(self, gamma=2.0, reduction="mean"):
        super().__init__()
        self.gamma = _check_gamma(gamma)
        _check_choice("reduction", reduction, FOCAL_REDUCTIONS)
        self.reduction = reduction

    def forward(self, input, target):
        """Return the focal loss of ``input`` logits against ``target``, reduced.

        Parameters
        ----------
        input : torch.Tensor of shape (N, C), (N, C, d1, ...), (N,), (N, 1) or \
(N, d1, ...)
            Raw logits (see the class Notes for the layouts).
        target : torch.Tensor of shape (N,) or (N, d1, ...)
            Class indices, or 0/1 for a single logit.

        Returns
        -------
        loss : torch.Tensor
            A scalar, or the targets' shape for ``reduction='none'``.
        """
        gamma = _check_gamma(self.gamma)
        _check_choice("reduction", self.reduction, FOCAL_REDUCTIONS)
        loss = _focal_term(_log_p_true(input, target), gamma)
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss

    def extra_repr(self):
        return f"gamma={self.gamma!r}, reduction={self.reduction!r}"


def _check_gamma(gamma):
    """``gamma`` as a float, finite and >= 0, else a ValueError."""
    if isinstance(gamma, bool | np.bool_) or not isinstance(gamma, numbers.Real):
        raise ValueError(f"FocalLoss: gamma must be a real number >= 0; got {gamma!r}.")
    value = float(gamma)
    if not (np.isfinite(value) and value >= 0.0):
        raise ValueError(
            f"FocalLoss: gamma must be finite and >= 0; got {gamma!r}. gamma=0 is the "
            "cross-entropy, larger values focus on the hard examples (2 is common)."
        )
    return value


def _log_p_true(input, target):
    """``log(p_t)`` of every target element: log_softmax for class logits, logsigmoid for
    a single logit."""
    if not isinstance(input, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError("FocalLoss takes torch tensors: input logits and target classes.")
    if not input.dtype.is_floating_point:
        raise TypeError(f"FocalLoss: input must be float logits; got {input.dtype}.")
    if target.dtype.is_complex:
        raise TypeError(f"FocalLoss: target must hold classes; got {target.dtype}.")
    if input.ndim == target.ndim + 1 and input.ndim >= 2 and input.shape[1] == 1:
        input = input.squeeze(1)  # (N, 1, d1, ...): one logit per element
    if input.shape == target.shape:
        return _log_p_true_single(input, target)
    if input.ndim != target.ndim + 1 or input.shape[:1] + input.shape[2:] != target.shape:
        raise ValueError(
            f"FocalLoss: input of shape {tuple(input.shape)} does not fit target of shape "
            f"{tuple(target.shape)}. Give logits (N, C) or (N, C, d1, ...) with class indices "
            "(N,) or (N, d1, ...), or single logits of the targets' shape with targets 0/1."
        )
    if target.dtype.is_floating_point:
        raise TypeError(
            f"FocalLoss: with one logit per class the target must hold class indices as "
            f"an integer tensor; got {target.dtype}. Convert it with target.long()."
        )
    n_classes = input.shape[1]
    if target.numel():
        lowest, highest = (int(value) for value in torch.aminmax(target.long()))
        if lowest < 0 or highest >= n_classes:
            raise ValueError(
                f"FocalLoss: target holds class index {lowest if lowest < 0 else highest}, "
                f"but input has {n_classes} classes (indices 0 to {n_classes - 1})."
            )
    log_p = torch.log_softmax(input, dim=1)
    return log_p.gather(1, target.long().unsqueeze(1)).squeeze(1)


def _log_p_true_single(logits, target):
    if target.numel() and not bool(((target == 0) | (target == 1)).all()):
        raise ValueError(
            "FocalLoss: with a single logit the target must be 0 or 1 (the binary focal "
            "loss); for more classes give one logit per class, (N, C) with class indices."
        )
    # log(p_t) = logsigmoid(x) for t = 1 and logsigmoid(-x) for t = 0.
    sign = target.to(logits.dtype) * 2 - 1
    return F.logsigmoid(logits * sign)


def _focal_term(log_pt, gamma):
    """``-(1 - p_t) ** gamma * log(p_t)``; exactly ``-log(p_t)`` for gamma 0."""
    if gamma == 0.0:
        return -log_pt
    # expm1 keeps 1 - p_t accurate as p_t nears 1. The floor keeps the gradient finite at
    # p_t == 1 for 0 < gamma < 1 (pow's derivative there is infinite; the loss's is 0).
    one_minus_pt = (-torch.expm1(log_pt)).clamp(min=torch.finfo(log_pt.dtype).tiny)
    return -one_minus_pt.pow(gamma) * log_pt


# What each known criterion wants, as (input_format, target_format); GUIDE.md section 2.
# The probability/one-hot ones are all elementwise with f(1 - p, 1 - t) == f(p, t).
_PROBABILITY_ONEHOT = ("probabilities", "onehot")
_KNOWN_FORMATS = {
    nn.CrossEntropyLoss: ("logits", "index"),
    nn.MultiMarginLoss: ("logits", "index"),
    nn.NLLLoss: ("log_probabilities", "index"),
    nn.KLDivLoss: ("log_probabilities", "onehot"),
    nn.BCEWithLogitsLoss: ("logits", "onehot"),
    nn.BCELoss: _PROBABILITY_ONEHOT,
    nn.L1Loss: _PROBABILITY_ONEHOT,
    nn.MSELoss: _PROBABILITY_ONEHOT,
    nn.SmoothL1Loss: _PROBABILITY_ONEHOT,
    nn.HuberLoss: _PROBABILITY_ONEHOT,
    FocalLoss: ("logits", "index"),
    F.cross_entropy: ("logits", "index"),
    F.multi_margin_loss: ("logits", "index"),
    F.nll_loss: ("log_probabilities", "index"),
    F.kl_div: ("log_probabilities", "onehot"),
    F.binary_cross_entropy_with_logits: ("logits", "onehot"),
    F.binary_cross_entropy: _PROBABILITY_ONEHOT,
    F.l1_loss: _PROBABILITY_ONEHOT,
    F.mse_loss: _PROBABILITY_ONEHOT,
    F.smooth_l1_loss: _PROBABILITY_ONEHOT,
    F.huber_loss: _PROBABILITY_ONEHOT,
}


def criterion_formats(criterion):
    """Return ``(input_format, target_format)`` for a known criterion, else ``None``.

    ``criterion`` may be a loss class, an instance or a functional loss; a subclass
    of a known loss is treated like its parent.

    Examples
    --------
    >>> from torch import nn
    >>> from sktorchcw import criterion_formats
    >>> criterion_formats(nn.L1Loss())
    ('probabilities', 'onehot')
    >>> criterion_formats(nn.CrossEntropyLoss)
    ('logits', 'index')
    """
    if criterion in _KNOWN_FORMATS:
        return _KNOWN_FORMATS[criterion]
    klass = criterion if inspect.isclass(criterion) else type(criterion)
    for parent in klass.__mro__:
        if parent in _KNOWN_FORMATS:
            return _KNOWN_FORMATS[parent]
    return None


class ClassWeightedLoss(nn.Module):
    """Class and sample weights for any criterion, computed in one vectorised call.

    The criterion is called once per batch without reduction. Its elementwise
    result is averaged over the non-batch dimensions into a per-sample loss
    ``l_i``, multiplied by ``w[y_i] * s_i`` (class weight times sample weight)
    and reduced.

    Parameters
    ----------
    criterion : loss class, loss instance or callable
        Any PyTorch loss (``nn.L1Loss``, ``nn.L1Loss()``, ``F.l1_loss``, ...),
        :class:`FocalLoss` (whose ``alpha`` is the class weight), or your own
        callable ``criterion(input, target)``. A class is instantiated
        without arguments; an instance is copied, never changed. Criteria with a
        ``reduction`` argument or attribute are run with ``reduction='none'``;
        others must return one loss per sample (or per element). An
        ``ignore_index`` other than -100 is refused: give a class weight or
        sample weight of 0 instead.
    class_weight : None or array-like of shape (n_classes,), default=None
        One weight per class, indexed by class index. Use
        :func:`resolve_class_weight` to turn ``'balanced'`` or a dict of labels
        into this vector. ``None`` weighs every class 1.
    reduction : {'mean', 'weighted_mean', 'sum'}, default='mean'
        ``'mean'``: ``sum(s*w*l) / N`` (Keras 3 ``class_weight`` and
        scikit-learn semantics). ``'weighted_mean'``: ``sum(s*w*l) / sum(s*w)``,
        what ``CrossEntropyLoss`` and ``NLLLoss`` do with ``weight=`` (a batch
        whose weights are all zero gives 0). ``'sum'``: ``sum(s*w*l)``.
    weighting : {'sample', 'output'}, default='sample'
        ``'sample'`` weighs each sample by the weight of its class. ``'output'``
        weighs output column ``j`` by ``w_j``: ``sum_j w_j * mean_i(s_i * l_ij)``,
        the per-output scheme of the blog post this project grew from; it needs
        an elementwise criterion with one-hot targets on ``(N, C)`` outputs and
        does not support ``reduction='weighted_mean'``.
    input_format : {'logits', 'log_probabilities', 'probabilities', 'as_given'}, \
default=None
        What the criterion receives from the raw logits: the logits,
        ``log_softmax`` (``logsigmoid`` for one logit) or ``softmax``
        (``sigmoid`` for one logit). ``None`` takes it from the known criteria
        table; required for criteria that are not in it. ``'as_given'`` (with
        ``target_format='as_given'``) hands ``y_pred`` and ``y_true`` to the
        criterion untouched, as skorch does: it must return one loss per sample
        (first dimension N; further dimensions are averaged), and class weights
        need ``y_true`` to hold class indices.
    target_format : {'index', 'onehot', 'as_given'}, default=None
        What the criterion receives as target: class indices (int64) or a
        one-hot float matrix (for a single logit, ``y`` as float 0/1). ``None``
        takes it from the known criteria table; required otherwise.
    keep_criterion_weight : bool, default=False
        A criterion that carries ``weight=`` (``CrossEntropyLoss(weight=w)``) is
        refused, so that a class is not weighted twice by mistake. True keeps it:
        each sample's loss is then ``w[y_i] * l_i`` from the criterion, times the
        class and sample weights given here (the two class weightings multiply; with
        ``reduction='weighted_mean'`` the division is by the sum of these weights
        only). :mod:`sktorchcw.skorch` passes True for skorch's ``criterion__weight``.

    Attributes
    ----------
    criterion : callable
        The criterion as called: a copy set to ``reduction='none'`` where it has one.
    weight : torch.Tensor or None
        The class weight buffer (float32); moves with ``.to(device)``.

    See Also
    --------
    resolve_class_weight : ``'balanced'``, dicts and arrays to a weight vector.
    criterion_formats : the known criteria and what they receive.

    Notes
    -----
    ``y_pred`` are raw logits ``(N, C)``, or ``(N,)`` / ``(N, 1)`` for a
    single-logit binary model; ``y_true`` are class indices ``(N,)``. PyTorch's
    K-dimensional layout works too: logits ``(N, C, d1, ...)`` (or single logits
    ``(N, d1, ...)``) with class indices ``(N, d1, ...)``, e.g. one label per frame;
    every element is then a "sample" of the formulas above, ``mask`` leaves out
    padding (``N`` counts the valid elements) and ``sample_weight`` may be given per
    sample or per element. ``'weighted_mean'`` then equals
    ``CrossEntropyLoss(weight=w)`` with the masked targets set to ``ignore_index``. With all
    weights 1, ``weighting='sample'`` with ``'mean'`` or ``'weighted_mean'`` equals
    the criterion's own ``reduction='mean'``. The
    module keeps no tensors between calls, so no autograd graph outlives a batch.

    For an exact ``nn.CrossEntropyLoss`` (without ``label_smoothing``) or
    ``nn.NLLLoss`` and no sample weights, ``sum(w[y_i] * l_i)`` is computed by
    PyTorch's own weighted kernel (``weight=w, reduction='sum'``): the same
    value and gradients with fewer operations per batch. Subclasses always take
    the general path.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sktorchcw import ClassWeightedLoss
    >>> loss = ClassWeightedLoss(nn.L1Loss(), class_weight=[1.0, 4.0])
    >>> logits = torch.tensor([[2.0, -1.0], [0.5, 0.5], [-1.0, 3.0]])
    >>> y = torch.tensor([0, 1, 1])
    >>> round(loss(logits, y).item(), 4)
    0.7065
    """

    def __init__(
        self,
        criterion,
        class_weight=None,
        *,
        reduction="mean",
        weighting="sample",
        input_format=None,
        target_format=None,
        keep_criterion_weight=False,
    ):
        super().__init__()
        _check_choice("reduction", reduction, REDUCTIONS)
        _check_choice("weighting", weighting, WEIGHTINGS)
        self.input_format, self.target_format = _resolve_formats(
            criterion, input_format, target_format
        )
        if weighting == "output" and self.target_format != "onehot":
            raise ValueError(
                "weighting='output' weighs one output column per class, so it needs a criterion "
                f"with one-hot targets; {_name(criterion)} takes class indices. Use "
                "weighting='sample', or an elementwise criterion such as nn.L1Loss."
            )
        if weighting == "output" and reduction == "weighted_mean":
            raise ValueError(
                "reduction='weighted_mean' is defined per sample; with weighting='output' use "
                "reduction='mean' (the blog's scheme) or 'sum'."
            )
        self.reduction = reduction
        self.weighting = weighting
        self.criterion = _unreduced(criterion, keep_weight=keep_criterion_weight)
        _refuse_pos_weight_with_class_weight(self.criterion, class_weight)
        if weighting == "output":
            _warn_if_output_weighting_only_rescales(criterion, class_weight, self.input_format)
        self._pass_reduction = _takes_reduction_argument(self.criterion)
        weight = None
        if class_weight is not None:
            if isinstance(class_weight, str):
                raise ValueError(
                    f"class_weight={class_weight!r} must be resolved to one weight per class "
                    "first: resolve_class_weight(class_weight, classes=classes, y=y)."
                )
            if isinstance(class_weight, torch.Tensor):
                class_weight = class_weight.detach().cpu().numpy()
            weight = torch.as_tensor(
                check_weight_vector(class_weight, name="class_weight"), dtype=torch.float32
            )
        self.register_buffer("weight", weight)

    def forward(self, y_pred, y_true, sample_weight=None, mask=None):
        """Return the weighted loss of a batch as a scalar tensor.

        Parameters
        ----------
        y_pred : torch.Tensor of shape (N, C), (N, 1), (N,), (N, C, d1, ...) or (N, d1, ...)
            Raw logits: one row per sample, or PyTorch's K-dimensional layout (as
            ``CrossEntropyLoss`` takes it) with the class axis second, e.g. ``(N, C, T)``
            for one label per time step; ``(N, d1, ...)``, the shape of ``y_true``, is a
            single logit per element.
        y_true : torch.Tensor of shape (N,) or (N, d1, ...)
            Class indices (integer dtype).
        sample_weight : array-like or torch.Tensor of shape (N,) or (N, d1, ...), \
default=None
            Weights per sample, or per element (the shape of ``y_true``), multiplied
            with the class weights.
        mask : torch.Tensor of bool, shape of ``y_true``, default=None
            False elements (padding) contribute nothing and are not counted.

        Returns
        -------
        loss : torch.Tensor, scalar
            0 for a batch without valid elements.
        """
        fused = _fused_weighted_sum(self.criterion)
        if (fused is not None and sample_weight is None and mask is None
                and self._plain_batch(y_pred, y_true)):
            return self._fused_loss(fused, y_pred, y_true)
        total, normaliser = self._parts(y_pred, y_true, sample_weight, self.weight, mask)
        return _divide(total, normaliser)

    def _plain_batch(self, y_pred, y_true):
        """Whether the batch can go straight to the criterion's own weighted kernel: one
        row of logits per sample or PyTorch's K-dimensional layout without a mask, class
        indices, per-sample weighting, a reduction the kernel computes exactly
        (``'weighted_mean'`` needs the zero-weight guard)."""
        if not (self.weighting == "sample" and self.target_format == "index"
                and isinstance(y_pred, torch.Tensor) and isinstance(y_true, torch.Tensor)
                and (self.reduction != "weighted_mean" or self._weight_for_kernel() is None)
                and y_pred.ndim >= 2 and y_pred.shape[1] > 1 and y_true.numel() > 0):
            return False
        if y_pred.ndim == 2:
            return y_true.ndim == 1
        # PyTorch's K-dimensional layout: logits (N, C, d1, ...), targets (N, d1, ...).
        return (y_true.ndim == y_pred.ndim - 1 and y_true.shape[0] == y_pred.shape[0]
                and y_true.shape[1:] == y_pred.shape[2:])

    def _fused_loss(self, fused, y_pred, y_true):
        """The loss of a plain batch in one call of the fused kernel: the value of the
        general path (``_parts``), with fewer operations and autograd nodes per batch."""
        if y_pred.ndim == 2:
            _check_batch(y_pred, y_true)
        else:
            _check_class_indices(y_true, y_pred.shape[1])
        inputs = _adapt_input(y_pred, self.input_format, False)
        target = y_true.long()
        weight = self._weight_for_kernel()
        if weight is None:
            # Without class weights (or all 1) 'mean' and 'weighted_mean' are the plain
            # mean: the kernel's own reduction, no weight lookup or division of our own.
            return fused(inputs, target, reduction="sum" if self.reduction == "sum" else "mean")
        return _divide(*self._fused_parts(fused, inputs, target, weight))

    def _weight_for_kernel(self):
        """The class weights, or None when there are none or every one is 1 (the
        estimators' class_weight=None): the loss is then the unweighted one, which the
        kernel computes with fewer operations. Whether they are all 1 is looked at again
        only when the buffer is replaced or changed in place (``load_state_dict``)."""
        weight = self._buffers.get("weight")
        if weight is None:
            return None
        key = (id(weight), weight._version, weight.data_ptr())
        cached = self.__dict__.get("_unit_weight_cache")
        if cached is None or cached[0] != key:
            cached = (key, bool((weight == 1).all()))
            self.__dict__["_unit_weight_cache"] = cached
        return None if cached[1] else weight

    def unweighted(self, y_pred, y_true, sample_weight=None, mask=None):
        """Return the same loss with every class weight 1 (sample weights as given).

        This is what Keras reports as validation loss: comparable across class
        weightings, and weighted only by the validation samples' own weights.
        """
        return _divide(*self._parts(y_pred, y_true, sample_weight, None, mask))

    def parts(self, y_pred, y_true, sample_weight=None, mask=None):
        """Return ``(total, normaliser)``: the loss is ``total / normaliser``.

        ``total`` is ``sum(s*w*l)`` (per output column for ``weighting='output'``);
        ``normaliser`` is the number of valid elements N for ``'mean'``, ``sum(s*w)``
        for ``'weighted_mean'`` and None for ``'sum'``. Summing both over the processes
        of a data-parallel job gives the loss of the global batch (see
        :func:`sktorchcw.distributed.global_batch_loss`).
        """
        total, normaliser = self._parts(y_pred, y_true, sample_weight, self.weight, mask)
        if isinstance(normaliser, int):
            normaliser = total.new_tensor(float(normaliser))
        return total, normaliser

    def _parts(self, y_pred, y_true, sample_weight, class_weight, mask=None):
        if self.input_format == AS_GIVEN:
            return self._as_given_parts(y_pred, y_true, sample_weight, class_weight)
        y_pred, y_true, sample_weight = _valid_elements(y_pred, y_true, sample_weight, mask)
        if y_true.shape[0] == 0:  # every element masked: nothing to learn from this batch
            return y_pred.sum() * 0.0, self._normaliser(0, None, y_pred)
        n_samples = _check_batch(y_pred, y_true)
        single_logit = y_pred.ndim == 1 or y_pred.shape[1] == 1
        self._check_weight_length(class_weight, y_pred, single_logit)
        inputs = _adapt_input(y_pred, self.input_format, single_logit)
        target = _adapt_target(y_true, y_pred, self.target_format, single_logit,
                               isinstance(self.criterion, FocalLoss))
        fused = _fused_weighted_sum(self.criterion)
        if (fused is not None and sample_weight is None and self.weighting == "sample"
                and self.target_format == "index"):
            return self._fused_parts(fused, inputs, target, class_weight)
        elementwise = self._call_criterion(inputs, target)
        if elementwise.ndim == 0 or elementwise.shape[0] != n_samples:
            raise ValueError(
                f"{_name(self.criterion)} returned shape {tuple(elementwise.shape)}, but "
                f"ClassWeightedLoss needs one loss per sample (first dimension {n_samples}). "
                "Give the criterion a `reduction` argument, or make it return unreduced losses."
            )
        if sample_weight is not None:
            sample_weight = _as_sample_weight(sample_weight, n_samples, elementwise)
        if self.weighting == "output":
            total = self._total_per_output(elementwise, sample_weight, class_weight, single_logit)
            return total, self._normaliser(n_samples, None, total)
        per_sample = elementwise
        if elementwise.ndim > 1:
            per_sample = elementwise.reshape(n_samples, -1).mean(dim=1)
        weights = sample_weight
        if class_weight is not None:
            class_weights = class_weight.to(per_sample.dtype)[y_true.reshape(-1)]
            weights = class_weights if weights is None else class_weights * weights
        if weights is None:
            return per_sample.sum(), self._normaliser(n_samples, None, per_sample)
        return (weights * per_sample).sum(), self._normaliser(n_samples, weights, per_sample)

    def _as_given_parts(self, y_pred, y_true, sample_weight, class_weight):
        """``(total, normaliser)`` with the criterion called on the batch as it comes."""
        losses = self._call_criterion(y_pred, y_true)
        n_samples = len(y_true)
        if losses.ndim == 0 or losses.shape[0] != n_samples:
            raise ValueError(
                f"{_name(self.criterion)} returned shape {tuple(losses.shape)}, but class or "
                f"sample weights need one loss per sample (first dimension {n_samples}). Give "
                "the criterion a `reduction` argument, or make it return unreduced losses.")
        per_sample = losses.reshape(n_samples, -1).mean(dim=1) if losses.ndim > 1 else losses
        weights = None
        if sample_weight is not None:
            weights = _as_sample_weight(sample_weight, n_samples, per_sample)
        if class_weight is not None:
            _check_class_indices(y_true, class_weight.shape[0])
            class_weights = class_weight.to(per_sample)[y_true.reshape(-1).long()]
            weights = class_weights if weights is None else class_weights * weights
        if weights is None:
            return per_sample.sum(), self._normaliser(n_samples, None, per_sample)
        return (weights * per_sample).sum(), self._normaliser(n_samples, weights, per_sample)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # Class weights are known once a fit has seen the classes: a loss made before
        # (skorch's initialize-then-load_params) takes the stored ones.
        stored = state_dict.get(prefix + "weight")
        if self._buffers.get("weight") is None and stored is not None:
            self.register_buffer("weight", torch.empty_like(stored))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def _fused_parts(self, fused, inputs, target, class_weight):
        """``sum(w[y] * l)`` in one call of the criterion's own weighted kernel.

        The same arithmetic as the general path, with fewer operations and autograd
        nodes per batch; it is what keeps the estimator's default loss as cheap as
        ``nn.CrossEntropyLoss``.
        """
        weight = None if class_weight is None else class_weight.to(inputs.dtype)
        total = fused(inputs, target, weight=weight, reduction="sum")
        per_sample_weights = None
        if weight is not None and self.reduction == "weighted_mean":
            per_sample_weights = weight[target]
        return total, self._normaliser(target.numel(), per_sample_weights, total)

    def _normaliser(self, n_samples, weights, like):
        """None for 'sum', the int N for 'mean' (cheaper than a tensor), else sum(s*w)."""
        if self.reduction == "sum":
            return None
        if self.reduction == "mean" or weights is None:
            return n_samples
        return weights.sum()

    def _total_per_output(self, elementwise, sample_weight, class_weight, single_logit):
        if single_logit or elementwise.ndim != 2:
            raise ValueError(
                "weighting='output' needs an elementwise loss of shape (N, C), one column per "
                f"class; got {tuple(elementwise.shape)}. Use a model with one output per class "
                "or weighting='sample' (which works with a single logit)."
            )
        if sample_weight is not None:
            elementwise = elementwise * sample_weight[:, None]
        per_output = elementwise.sum(dim=0)
        if class_weight is not None:
            per_output = per_output * class_weight.to(per_output.dtype)
        return per_output.sum()

    def _call_criterion(self, inputs, target):
        if self._pass_reduction:
            return self.criterion(inputs, target, reduction="none")
        return self.criterion(inputs, target)

    def _check_weight_length(self, class_weight, y_pred, single_logit):
        if class_weight is None:
            return
        n_classes = 2 if single_logit else y_pred.shape[1]
        if class_weight.shape[0] != n_classes:
            raise ValueError(
                f"class_weight has {class_weight.shape[0]} entries but y_pred has {n_classes} "
                "classes; give one weight per class (two for a single-logit binary model)."
            )

    def extra_repr(self):
        return (
            f"reduction={self.reduction!r}, weighting={self.weighting!r}, "
            f"input_format={self.input_format!r}, target_format={self.target_format!r}"
        )


def _divide(total, normaliser):
    if normaliser is None:
        return total
    if isinstance(normaliser, int):
        return total / max(normaliser, 1)  # no valid element: the total is 0
    # A batch whose weights are all zero contributes nothing instead of 0/0.
    return total / torch.where(normaliser > 0, normaliser, torch.ones_like(normaliser))


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {choices}.")


def _name(criterion):
    return getattr(criterion, "__name__", type(criterion).__name__)


def _resolve_formats(criterion, input_format, target_format):
    known = criterion_formats(criterion)
    if known is None and (input_format is None or target_format is None):
        raise ValueError(
            f"ClassWeightedLoss does not know what {_name(criterion)} expects. Declare it: "
            "ClassWeightedLoss(criterion, input_format='logits' | 'log_probabilities' | "
            "'probabilities', target_format='index' | 'onehot'). For example a focal loss on "
            "logits and class indices: input_format='logits', target_format='index'."
        )
    if AS_GIVEN in (input_format, target_format) and input_format != target_format:
        raise ValueError("input_format='as_given' and target_format='as_given' go together: "
                         "the criterion gets the module's output and y untouched.")
    input_format = input_format or known[0]
    target_format = target_format or known[1]
    _check_choice("input_format", input_format, INPUT_FORMATS)
    _check_choice("target_format", target_format, TARGET_FORMATS)
    return input_format, target_format


def _unreduced(criterion, *, keep_weight=False):
    """Return the criterion ready to give elementwise losses, never touching the original."""
    if inspect.isclass(criterion):
        loss_class: type = criterion
        takes_reduction = "reduction" in inspect.signature(loss_class).parameters
        criterion = loss_class(reduction="none") if takes_reduction else loss_class()
    elif hasattr(criterion, "reduction"):
        criterion = copy.deepcopy(criterion)
        criterion.reduction = "none"
    elif isinstance(criterion, nn.Module):
        # Registered as a submodule, it would follow .to(), .double() and .train() calls.
        criterion = copy.deepcopy(criterion)
    if not callable(criterion):
        raise TypeError(f"criterion must be a loss class, instance or callable; got {criterion!r}.")
    if getattr(criterion, "weight", None) is not None and not keep_weight:
        raise ValueError(
            f"{_name(criterion)} already carries weight=...; pass the class weights as "
            "class_weight instead so they are not applied twice (reduction='weighted_mean' "
            "reproduces CrossEntropyLoss/NLLLoss weighting)."
        )
    if getattr(criterion, "ignore_index", _TORCH_IGNORE_INDEX) != _TORCH_IGNORE_INDEX:
        raise ValueError(
            f"{_name(criterion)}(ignore_index={criterion.ignore_index}) would leave samples out "
            "of the loss, which ClassWeightedLoss does not do: every target must be a class. "
            "To ignore a class give it a class weight of 0; to ignore samples give them a "
            "sample weight of 0."
        )
    if isinstance(criterion, nn.KLDivLoss) and criterion.log_target:
        raise ValueError("KLDivLoss(log_target=True) cannot take one-hot targets; use the default "
                         "log_target=False.")
    return criterion


def _refuse_pos_weight_with_class_weight(criterion, class_weight):
    pos_weight = getattr(criterion, "pos_weight", None)
    if pos_weight is None or class_weight is None or isinstance(class_weight, str):
        return
    if torch.is_tensor(class_weight):
        class_weight = class_weight.detach().cpu().numpy()
    if np.allclose(np.asarray(class_weight, dtype=np.float64), 1.0):
        return
    raise ValueError(
        f"{_name(criterion)} carries pos_weight and class weights are given too, so the "
        "positive class would be weighted twice. Drop pos_weight and give its value as the "
        "class weight of the positive class (class_weight={positive_label: pos_weight}), "
        "which weighs the same term."
    )


def _warn_if_output_weighting_only_rescales(criterion, class_weight, input_format):
    # The known probability/one-hot criteria have f(1 - p, 1 - t) == f(p, t): on two softmax
    # columns against one-hot targets both columns have the same loss, so per-column weights
    # cannot tell them apart.
    if class_weight is None or input_format != "probabilities":
        return
    weights = np.asarray(class_weight, dtype=np.float64).reshape(-1)
    symmetric = criterion_formats(criterion) == _PROBABILITY_ONEHOT
    if symmetric and len(weights) == 2 and weights[0] != weights[1]:
        warn_at_caller(
            f"With two classes, softmax outputs and one-hot targets, both output columns of "
            f"{_name(criterion)} have the same loss, so weighting='output' gives (w0 + w1) = "
            f"{weights.sum():g} times the plain mean loss: with Adam that changes nothing, with "
            "SGD it changes the learning rate. Use weighting='sample' to weight the rare class."
        )


def _fused_weighted_sum(criterion):
    """``F.cross_entropy`` or ``F.nll_loss`` when, called with ``weight=w,
    reduction='sum'``, it computes exactly ``sum(w[y_i] * l_i)`` for the criterion; else None.

    Only the exact classes qualify (a subclass may change ``forward``), and not
    ``label_smoothing``, which PyTorch weighs per class rather than per sample.
    """
    kind = type(criterion)
    if getattr(criterion, "weight", None) is not None:
        return None  # its own weights stay in the per-sample losses (keep_criterion_weight)
    if kind is nn.CrossEntropyLoss and criterion.label_smoothing == 0:
        return F.cross_entropy
    if kind is nn.NLLLoss:
        return F.nll_loss
    return None


def _takes_reduction_argument(criterion):
    """True for functional losses such as ``F.l1_loss`` that take ``reduction=``."""
    if isinstance(criterion, nn.Module) or hasattr(criterion, "reduction"):
        return False
    try:
        return "reduction" in inspect.signature(criterion).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def _check_batch(y_pred, y_true):
    if not isinstance(y_pred, torch.Tensor) or not isinstance(y_true, torch.Tensor):
        raise TypeError("y_pred and y_true must be torch tensors.")
    if y_pred.ndim not in (1, 2):
        raise ValueError(
            f"y_pred must be logits of shape (N, C), (N, 1) or (N,); got {tuple(y_pred.shape)}."
        )
    n_samples = y_pred.shape[0]
    if y_true.numel() != n_samples:
        raise ValueError(f"y_pred has {n_samples} samples but y_true has {y_true.numel()}.")
    if n_samples == 0:
        raise ValueError("The batch is empty; ClassWeightedLoss needs at least one sample.")
    _check_class_indices(y_true, 2 if y_pred.ndim == 1 or y_pred.shape[1] == 1
                         else y_pred.shape[1])
    return n_samples


def _check_class_indices(y_true, n_classes):
    if y_true.dtype.is_floating_point or y_true.dtype.is_complex:
        raise TypeError(
            f"y_true must hold class indices as an integer tensor; got {y_true.dtype}. "
            "Convert it with y_true.long()."
        )
    lowest, highest = (int(value) for value in torch.aminmax(y_true))
    if lowest < 0 or highest >= n_classes:
        raise ValueError(
            f"y_true holds class index {lowest if lowest < 0 else highest}, but y_pred has "
            f"{n_classes} classes: targets must be class indices 0 to {n_classes - 1}."
        )


def _valid_elements(y_pred, y_true, sample_weight, mask):
    """Bring the K-dimensional layout to one row per element and keep the valid ones.

    Logits ``(N, C, d1, ...)`` become ``(M, C)`` and targets ``(N, d1, ...)`` become
    ``(M,)``, with ``M`` the elements whose ``mask`` is True; single logits ``(N, d1, ...)``
    become ``(M,)``. Sample weights per sample are repeated over each sample's elements.
    A batch in the plain layout without a mask passes through untouched.
    """
    if not isinstance(y_pred, torch.Tensor) or not isinstance(y_true, torch.Tensor):
        raise TypeError("y_pred and y_true must be torch tensors.")
    layout = _element_layout(y_pred, y_true)
    if layout is None and mask is None:
        return y_pred, y_true, sample_weight
    element_shape = tuple(y_true.shape) if layout else (y_pred.shape[0],)
    if layout == "classes":
        y_pred = y_pred.movedim(1, -1).reshape(-1, y_pred.shape[1])
    elif layout == "single":
        y_pred = y_pred.reshape(-1)
    y_true = y_true.reshape(-1)
    if sample_weight is not None:
        sample_weight = _per_element(sample_weight, element_shape, y_pred)
    if mask is not None:
        keep = _check_mask(mask, element_shape, y_pred.device).reshape(-1)
        y_pred, y_true = y_pred[keep], y_true[keep]
        if sample_weight is not None:
            sample_weight = sample_weight[keep]
    return y_pred, y_true, sample_weight


def _element_layout(y_pred, y_true):
    """'classes' for logits (N, C, d1, ...) and targets (N, d1, ...), 'single' for one logit
    per element (the shapes match, beyond (N,) and (N, 1)), None for one row per sample."""
    if y_true.ndim >= 2 and y_pred.ndim == y_true.ndim + 1:
        if y_pred.shape[0] != y_true.shape[0] or y_pred.shape[2:] != y_true.shape[1:]:
            raise ValueError(
                f"y_pred of shape {tuple(y_pred.shape)} and y_true of shape "
                f"{tuple(y_true.shape)} do not match: logits (N, C, d1, ...) need targets "
                "(N, d1, ...)."
            )
        return "classes"
    if y_true.ndim >= 2 and y_pred.shape == y_true.shape and y_pred.shape[1:] != (1,):
        return "single"
    if y_true.ndim >= 2 and not (y_true.ndim == 2 and y_true.shape[1] == 1):
        raise ValueError(
            f"y_pred of shape {tuple(y_pred.shape)} and y_true of shape {tuple(y_true.shape)} "
            "do not match: give logits (N, C, d1, ...) with targets (N, d1, ...), or single "
            "logits of the targets' shape."
        )
    return None


def _per_element(sample_weight, element_shape, like):
    weights = torch.as_tensor(sample_weight, dtype=like.dtype, device=like.device)
    if tuple(weights.shape) == element_shape:
        return weights.reshape(-1)
    if tuple(weights.shape) == element_shape[:1]:
        view = (-1,) + (1,) * (len(element_shape) - 1)
        return weights.reshape(view).expand(element_shape).reshape(-1)
    raise ValueError(
        f"sample_weight has shape {tuple(weights.shape)}; give one weight per sample "
        f"{element_shape[:1]} or per element {element_shape}."
    )


def _check_mask(mask, element_shape, device):
    mask = torch.as_tensor(mask, device=device)
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True for valid elements); got {mask.dtype}.")
    if tuple(mask.shape) != element_shape:
        raise ValueError(
            f"mask has shape {tuple(mask.shape)} but the targets have shape {element_shape}; "
            "give one True/False per target element."
        )
    return mask


def _adapt_input(y_pred, input_format, single_logit):
    if input_format == "logits":
        return y_pred
    if input_format == "probabilities":
        return torch.sigmoid(y_pred) if single_logit else torch.softmax(y_pred, dim=1)
    return F.logsigmoid(y_pred) if single_logit else torch.log_softmax(y_pred, dim=1)


def _adapt_target(y_true, y_pred, target_format, single_logit, single_logit_indices=False):
    """The targets the criterion receives; ``single_logit_indices`` for criteria that take
    class indices 0/1 with a single logit (FocalLoss)."""
    y_true = y_true.reshape(-1)
    if target_format == "index":
        if single_logit and not single_logit_indices:
            raise ValueError(
                "This criterion takes class indices and needs one logit per class, but y_pred "
                "has a single logit. Use two outputs, or a single-logit criterion such as "
                "nn.BCEWithLogitsLoss or sktorchcw.FocalLoss."
            )
        return y_true.long()
    if single_logit:
        return y_true.to(y_pred.dtype).reshape(y_pred.shape)
    return F.one_hot(y_true.long(), num_classes=y_pred.shape[1]).to(y_pred.dtype)


def _as_sample_weight(sample_weight, n_samples, like):
    sample_weight = torch.as_tensor(sample_weight, dtype=like.dtype, device=like.device)
    if sample_weight.shape not in ((n_samples,), (n_samples, 1)):
        raise ValueError(
            f"sample_weight has shape {tuple(sample_weight.shape)}; give one weight per sample, "
            f"shape ({n_samples},), for this batch of {n_samples}."
        )
    sample_weight = sample_weight.reshape(-1)
    # NaN fails the first comparison, inf the second.
    if not bool(((sample_weight >= 0) & (sample_weight <= torch.finfo(like.dtype).max)).all()):
        raise ValueError(
            "sample_weight must be finite and non-negative; a weight of 0 leaves a sample out."
        )
    return sample_weight
