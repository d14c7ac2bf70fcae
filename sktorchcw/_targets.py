"""What differs between one label per sequence (LSTMBlinkClassifier) and one label per frame
(LSTMBlinkTagger): how targets and sample weights are checked, which targets enter the loss
and the class weights, how logits become outputs in the structure of X, and how the
validation data is scored. Everything else the estimators share (:mod:`._estimator`)."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, get_scorer

from ._batching import prediction_batches
from ._data import check_continued_input, check_fit_input, check_sample_weight
from ._frame_data import (
    check_frame_continued_input,
    check_frame_fit_input,
    check_frame_sample_weight,
    per_sequence,
    valid_frame_targets,
)
from ._net import (
    frame_logits_to_log_proba,
    frame_logits_to_proba,
    frame_mask,
    logits_to_log_proba,
    logits_to_proba,
)

__all__ = ["Targets", "PER_SEQUENCE", "PER_FRAME", "frame_balanced_accuracy_scorer"]


@dataclass(frozen=True)
class Targets:
    """The per-target pieces of an estimator.

    ``check_training(estimator, X, y, classes)`` -> ``(sequences, classes, y_encoded)``;
    ``check_continued(estimator, X, y, *, hint)`` -> ``(sequences, y_encoded)`` with the
    fitted classes; ``check_sample_weight(sample_weight, sequences, *, name)`` -> weights
    shaped like ``y_encoded`` or None; ``valid(y_encoded, sample_weight, sequences)`` ->
    the flat targets and weights that enter the loss; ``to_proba`` / ``to_log_proba``
    turn logits into a tensor with the classes last; ``in_structure_of_X(values,
    sequences)`` gives outputs back as X was given; ``validation_scoring`` is the scoring
    of ``valid_bacc`` (a skorch :class:`~skorch.callbacks.EpochScoring` scoring);
    ``strata(y_encoded, sequences)`` gives one label per recording for a stratified
    validation split; ``per_frame`` whether the labels (and sample weights) are one per
    frame, flat in the order of ``sequences.frames``.
    """

    check_training: Callable
    check_continued: Callable
    check_sample_weight: Callable
    valid: Callable
    to_proba: Callable
    to_log_proba: Callable
    in_structure_of_X: Callable
    validation_scoring: Callable
    strata: Callable
    per_frame: bool


def frame_balanced_accuracy_scorer(net, dataset, y=None):
    """Balanced accuracy over the valid frames of ``dataset``: a scorer for skorch's
    :class:`~skorch.callbacks.EpochScoring`.

    A scorer in scikit-learn's sense: called as ``scorer(net, X, y)``, it predicts with
    the net and scores the result. Each frame's prediction is the most probable class of
    the net's logits (not the tagger's tuned decision). The labels come from ``dataset``
    itself, batch by batch (a ragged batch is padded to its own longest recording, so
    skorch's ``y`` cannot be joined across batches); padding is left out, and so are
    missing frames (NaN features) of a net that masks them. This is what the tagger
    records as ``valid_bacc`` after every epoch. To score labels you already have
    (``make_scorer``, a grid search, the tagger's ``score``) use the score function
    :func:`sktorchcw.events.frame_balanced_accuracy_score`.

    Parameters
    ----------
    net : skorch net
        The net of a fitted (or fitting) :class:`~sktorchcw.LSTMBlinkTagger`
        (``tagger.net_``), or a net built the same way.
    dataset : dataset
        The recordings and their per-frame labels, as skorch hands them to a scoring
        callback.
    y : ignored
        skorch's ``y``; the labels are read from ``dataset``.

    Returns
    -------
    score : float
        scikit-learn's :func:`~sklearn.metrics.balanced_accuracy_score` over the valid
        frames.

    See Also
    --------
    sktorchcw.events.frame_balanced_accuracy_score : the same score of given labels.
    """
    net._set_training(False)
    missing = getattr(net, "mask_missing", False)
    true, predicted = [], []
    with torch.no_grad():
        for _, (inputs, labels) in prediction_batches(dataset, batch_size=net.batch_size,
                                                       device=net.device):
            logits = net.infer(inputs)
            labels = labels.to(logits.device)
            guess = logits.argmax(dim=1) if logits.ndim == 3 else (logits > 0).long()
            mask = frame_mask(labels, inputs, missing=missing)
            if mask is not None:
                labels, guess = labels[mask], guess[mask]
            true.append(labels.reshape(-1).cpu())
            predicted.append(guess.reshape(-1).cpu())
    return balanced_accuracy_score(torch.cat(true).numpy(), torch.cat(predicted).numpy())


def rarest_class_present(y_encoded, sequences):
    """Per recording, the rarest class (fewest observed frames in all the data) among its
    frames: recordings with and without the rare event are then held out in proportion
    by a stratified validation split."""
    observed = sequences.observed
    counts = np.bincount(y_encoded[observed])
    rarity = np.argsort(np.argsort(counts, kind="stable"), kind="stable")  # 0 = rarest
    ranks = np.where(observed, rarity[y_encoded], len(counts))
    return np.argsort(rarity)[np.minimum.reduceat(ranks, sequences.frame_offsets)]


def _the_labels(y_encoded, sequences):
    return y_encoded


def _every_target(y_encoded, sample_weight, sequences):
    return y_encoded, sample_weight


def _as_computed(values, sequences):
    return values


PER_SEQUENCE = Targets(check_fit_input, check_continued_input, check_sample_weight,
                       _every_target, logits_to_proba, logits_to_log_proba, _as_computed,
                       get_scorer("balanced_accuracy"), _the_labels, False)
PER_FRAME = Targets(check_frame_fit_input, check_frame_continued_input,
                    check_frame_sample_weight, valid_frame_targets, frame_logits_to_proba,
                    frame_logits_to_log_proba, per_sequence, frame_balanced_accuracy_scorer,
                    rarest_class_present, True)
