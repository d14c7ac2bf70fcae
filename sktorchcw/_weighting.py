"""From the weighting parameters to what training weighs, for every class-weighted net
(the sequence estimators and :mod:`sktorchcw.skorch` alike): the criterion wrapped in a
:class:`~sktorchcw.ClassWeightedLoss`, the number of logits it needs, the factor by which
training weighed each class, and the prior correction that divides it out."""

import inspect
from collections.abc import Mapping

import joblib
import numpy as np
import torch
from torch import nn

from ._data import count_codes
from ._loss import ClassWeightedLoss, criterion_formats
from ._warnings import warn_at_caller

__all__ = ["build_criterion", "class_weight_source", "criterion_class_weight", "n_outputs",
           "training_weight",
           "check_prior_correction",
           "prior_corrected"]

SINGLE_LOGIT_CRITERIA = (
    nn.BCEWithLogitsLoss,
    nn.BCELoss,
    torch.nn.functional.binary_cross_entropy_with_logits,
    torch.nn.functional.binary_cross_entropy,
)
FORMAT_PARAMETERS = ("input_format", "target_format")


def build_criterion(criterion, params, class_weight, *, reduction, weighting, owner,
                    undeclared=None, keep_criterion_weight=False):
    """``criterion`` (a class given its ``criterion__*`` ``params``, an instance or a
    function) wrapped in a :class:`~sktorchcw.ClassWeightedLoss` with ``class_weight``
    (one per class, or None); ``criterion__input_format`` / ``target_format`` declare
    what an unknown criterion expects. An unknown, undeclared criterion gets the format
    ``undeclared`` (``'as_given'``: skorch's inputs) or, when None, a ValueError. ``owner``
    names the estimator in errors."""
    params = dict(params)
    formats = {key: params.pop(key) for key in FORMAT_PARAMETERS if key in params}
    if params:
        if not inspect.isclass(criterion):
            raise ValueError(
                f"criterion__* parameters {sorted(params)} need criterion to be a class; "
                f"got {criterion!r}. Pass the class (e.g. nn.HuberLoss) or configure the "
                "instance yourself."
            )
        criterion = _instantiate_criterion(criterion, params)
    if criterion_formats(criterion) is None and not formats and undeclared is not None:
        formats = {"input_format": undeclared, "target_format": undeclared}
    if criterion_formats(criterion) is None and len(formats) < 2:
        raise ValueError(
            f"{owner} does not know what criterion {criterion!r} expects. "
            "Declare it with criterion__input_format='logits' | 'log_probabilities' | "
            "'probabilities' and criterion__target_format='index' | 'onehot'."
        )
    return ClassWeightedLoss(criterion, class_weight, reduction=reduction, weighting=weighting,
                             keep_criterion_weight=keep_criterion_weight, **formats)


def n_outputs(criterion, n_classes, weighting):
    """Logits the network gives: one for two classes with a single-logit criterion
    (``BCEWithLogitsLoss``, ``BCELoss``) weighted per sample, else one per class."""
    single_logit_criterion = any(
        criterion is known or (inspect.isclass(known) and _is_kind_of(criterion, known))
        for known in SINGLE_LOGIT_CRITERIA
    )
    if n_classes == 2 and single_logit_criterion and weighting == "sample":
        return 1
    return n_classes


def check_prior_correction(classes, training_weight, criterion, n_outputs, *, given=None):
    """A ValueError when probabilities of a model trained with ``training_weight`` through
    ``criterion`` (unreduced, ``n_outputs`` logits) cannot be divided back to the natural
    ones; with ``given`` (the criterion as the user gave it, at fit) a warning where the
    correction is only approximate."""
    problem = criterion_class_weight(criterion, len(classes), n_outputs)[1]
    if problem is not None:
        raise ValueError(problem)
    zero = [label for label, factor in zip(np.asarray(classes).tolist(), training_weight,
                                           strict=True) if factor <= 0]
    if zero:
        raise ValueError(
            f"prior_correction=True divides each class's probability by its training "
            f"weight, but classes {zero!r} had weight 0 in training. Give them a positive "
            "weight or set prior_correction=False."
        )
    if given is not None and not _is_proper_scoring_rule(given):
        warn_at_caller(
            f"prior_correction=True is exact for proper scoring rules (cross-entropy, NLL, "
            f"BCE, MSE, KL); with {_criterion_name(given)} the corrected "
            "probabilities are only approximately the natural ones."
        )


# Losses for which the model's probabilities estimate the (reweighted) class probabilities,
# so that dividing by the training weights gives back the natural ones.
_PROPER_SCORING_RULES = (nn.CrossEntropyLoss, nn.NLLLoss, nn.BCELoss, nn.BCEWithLogitsLoss,
                         nn.MSELoss, nn.KLDivLoss, torch.nn.functional.cross_entropy,
                         torch.nn.functional.nll_loss, torch.nn.functional.binary_cross_entropy,
                         torch.nn.functional.binary_cross_entropy_with_logits,
                         torch.nn.functional.mse_loss, torch.nn.functional.kl_div)


def training_weight(class_weight, targets, sample_weight, n_classes, sampling,
                    criterion=None, n_outputs=None):
    """The factor by which training weighted each class relative to its natural share:
    class weight x the criterion's own class weight (``pos_weight`` of
    ``BCEWithLogitsLoss``; see ``criterion_class_weight``) x sampling rate
    (``sampling='balanced'``) x mean sample weight."""
    factors = np.asarray(class_weight, dtype=np.float64).copy()
    factors *= criterion_class_weight(criterion, n_classes, n_outputs)[0]
    # count_codes counts a chunk at a time: np.bincount copies the codes to 8 bytes each.
    counts = count_codes(targets, n_classes).astype(np.float64)
    if sampling == "balanced":
        factors *= len(targets) / (n_classes * np.maximum(counts, 1.0))
    if sample_weight is not None:
        totals = np.bincount(targets, weights=sample_weight, minlength=n_classes)
        factors *= totals / np.maximum(counts, 1.0)
    return factors


def criterion_class_weight(criterion, n_classes, n_outputs):
    """The factor by which ``criterion`` itself weighs each class (ones when it weighs
    none), and why ``prior_correction`` cannot divide out a weighting it carries (None
    when it can).

    ``pos_weight`` of ``BCEWithLogitsLoss`` (an instance, ``criterion__pos_weight`` or a
    ``functools.partial`` of its functional form) multiplies the positive term of each
    output's loss. With a single logit that term is the positive class's whole loss, so
    it is the class weight ``[1, p]``; with one output per class, output ``c``'s odds
    are learnt ``p_c`` times too high, which dividing class ``c``'s probability by
    ``p_c`` undoes. A ``pos_weight`` of another shape, one on another criterion, and any
    ``weight=`` (per class or per element: ``ClassWeightedLoss`` refuses it on a loss
    object; a partial can still carry it) are refused.
    """
    factors = np.ones(n_classes)
    if criterion is None:
        return factors, None
    function = getattr(criterion, "func", criterion)  # a functools.partial's function
    keywords = getattr(criterion, "keywords", None) or {}
    name = _criterion_name(function)
    advice = ("Give the class weights as class_weight instead (e.g. class_weight={label: "
              "weight}), which prior_correction divides out, or set prior_correction=False.")
    if getattr(criterion, "weight", keywords.get("weight")) is not None:
        return factors, (
            f"prior_correction=True divides out the class weights training used, but "
            f"{name} carries its own weight=..., which sktorchcw cannot read as one factor "
            f"per class. {advice}")
    pos_weight = getattr(criterion, "pos_weight", keywords.get("pos_weight"))
    if pos_weight is None:
        return factors, None
    if not (isinstance(criterion, nn.BCEWithLogitsLoss)
            or function is torch.nn.functional.binary_cross_entropy_with_logits):
        return factors, (
            f"prior_correction=True divides out the class weights training used, but "
            f"{name} carries a pos_weight whose meaning sktorchcw does not know. {advice}")
    values = torch.as_tensor(pos_weight).detach().to("cpu", torch.float64).numpy()
    last = values.shape[-1] if values.ndim else 1
    outputs = n_outputs or n_classes
    if values.size != last or last not in (1, outputs) or not np.isfinite(values).all():
        return factors, (
            f"prior_correction=True divides out the class weights training used, but the "
            f"pos_weight of {name} (shape {values.shape}) is not one finite weight per "
            f"output of the network ({outputs}). {advice}")
    per_output = np.broadcast_to(values.reshape(-1), (outputs,))
    if outputs == 1:  # a single logit: pos_weight weighs the positive class's samples
        factors[1] = per_output[0]
    else:
        factors *= per_output
    return factors, None


def prior_corrected(outputs, training_weight, *, log):
    """Probabilities (or their logarithms), classes on the last axis, divided by each
    class's training weight and renormalised."""
    if log:
        shifted = outputs - np.log(training_weight)
        return shifted - _logsumexp(shifted)
    corrected = outputs / training_weight
    return corrected / corrected.sum(axis=-1, keepdims=True)


def _is_proper_scoring_rule(criterion):
    return any(criterion is rule or (inspect.isclass(rule) and _is_kind_of(criterion, rule))
               for rule in _PROPER_SCORING_RULES)


def _criterion_name(criterion):
    return getattr(criterion, "__name__", type(criterion).__name__)


def _logsumexp(values):
    largest = values.max(axis=-1, keepdims=True)
    return largest + np.log(np.exp(values - largest).sum(axis=-1, keepdims=True))


def _instantiate_criterion(criterion_class, params):
    try:
        return criterion_class(**params)
    except TypeError as error:
        accepted = sorted(inspect.signature(criterion_class).parameters)
        if set(params) <= set(accepted):
            raise ValueError(
                f"criterion {criterion_class.__name__} refused the value of "
                f"{['criterion__' + key for key in sorted(params)]} ({error}). Tensor "
                "arguments such as pos_weight and weight must be tensors: e.g. "
                "criterion__pos_weight=torch.tensor([9.0])."
            ) from None
        raise ValueError(
            f"criterion {criterion_class.__name__} does not take the parameter(s) "
            f"{['criterion__' + key for key in sorted(params)]} ({error}); it accepts "
            f"{accepted}. In a grid over criterion, put each criterion's parameters in its "
            "own grid: [{'criterion': [nn.HuberLoss], 'criterion__delta': [0.5]}, "
            "{'criterion': [nn.L1Loss]}]."
        ) from None


def _is_kind_of(criterion, known_class):
    klass = criterion if inspect.isclass(criterion) else type(criterion)
    return issubclass(klass, known_class)


def class_weight_source(class_weight):
    """What class_weight was when class_weight_ was resolved, to see whether it changed.

    A mapping is hashed by its items: some (a mappingproxy) cannot be pickled.
    """
    if isinstance(class_weight, Mapping):
        class_weight = sorted(class_weight.items(), key=repr)
    try:
        return joblib.hash(class_weight)
    except Exception:  # a lambda or closure: not picklable, compared by identity
        return ("id", id(class_weight))
