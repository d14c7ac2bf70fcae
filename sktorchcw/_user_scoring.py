"""A user's scoring callbacks (skorch's :class:`~skorch.callbacks.EpochScoring` and its
subclasses) scored on the user's labels: the sequence estimators' nets hold class codes
and, for the tagger, batches padded each to its own longest recording, neither of which a
scorer such as ``make_scorer(f1_score, pos_label="blink")`` can read.

Each such callback is wrapped in a :class:`LabelledScoring`, which scores it once per
epoch on a :class:`LabelView` of the net: ``y`` the labels (one per recording, or one
per valid frame, padding and masked frames left out) and ``predict`` / ``predict_proba``
the model's for the same recordings or frames, in the same order.
"""

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from skorch.callbacks import Callback, EpochScoring

from ._batching import prediction_batches
from ._net import frame_logits_to_proba, frame_mask, logits_to_proba

__all__ = ["LabelledScoring", "LabelView", "with_labelled_scoring"]


def with_labelled_scoring(callbacks, classes, per_frame):
    """``callbacks`` (instances or ``(name, callback)`` pairs) with every EpochScoring
    wrapped in a :class:`LabelledScoring`; the name stays the one skorch would give."""
    wrapped = []
    for entry in callbacks:
        name, callback = entry if isinstance(entry, tuple) else (None, entry)
        if isinstance(callback, EpochScoring):
            name = name or type(callback).__name__
            callback = LabelledScoring(callback, classes, per_frame)
        wrapped.append(callback if name is None else (name, callback))
    return wrapped


class LabelledScoring(Callback):
    """``callback``, an EpochScoring, scored on a :class:`LabelView` at each epoch's end
    (its history entries, ``best_score_`` and other attributes are the callback's)."""

    def __init__(self, callback, classes, per_frame):
        self.callback = callback
        self.classes = classes
        self.per_frame = per_frame

    def initialize(self):
        self.callback.initialize()
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.callback.on_train_begin(net, X=X, y=y, **kwargs)

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        scoring = self.callback
        dataset = dataset_train if scoring.on_train else dataset_valid
        if dataset is None:
            return
        view = LabelView(net, dataset, np.asarray(self.classes), self.per_frame)
        scoring._record_score(net.history, scoring._scoring(view, dataset, view.y_true))

    def on_train_end(self, net, **kwargs):
        self.callback.on_train_end(net, **kwargs)

    def __getattr__(self, name):
        callback = self.__dict__.get("callback")
        if callback is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(callback, name)


class LabelView(ClassifierMixin, BaseEstimator):
    """What a scorer sees of ``net`` on ``dataset``: ``classes_``, the true labels
    ``y_true`` and the model's ``predict`` / ``predict_proba`` for them (one row per
    recording, or per valid frame for the tagger)."""

    def __init__(self, net, dataset, classes, per_frame):
        self.net = net
        self.dataset = dataset
        self.classes = classes
        self.per_frame = per_frame
        codes, self.proba_ = _codes_and_proba(net, dataset, per_frame)
        self.classes_ = classes
        self.y_true = classes[codes]

    def fit(self, X, y=None):
        raise NotImplementedError("a LabelView only scores a net during its fit")

    def predict_proba(self, X):
        self._check_same_data(X)
        return self.proba_

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def _check_same_data(self, X):
        if X is not self.dataset:
            raise ValueError("A LabelView scores the dataset it was made for only.")


def _codes_and_proba(net, dataset, per_frame):
    """The class codes and probabilities ``(n, n_classes)`` of every recording (or every
    valid frame) of ``dataset``, in its order."""
    net._set_training(False)
    missing = getattr(net, "mask_missing", False)
    rows, codes, probabilities = [], [], []
    with torch.no_grad():
        for positions, (inputs, labels) in prediction_batches(
                dataset, batch_size=net.batch_size, device=net.device):
            logits = net.infer(inputs)
            labels = labels.to(logits.device)
            if per_frame:
                proba = frame_logits_to_proba(logits)
                mask = frame_mask(labels, inputs, missing=missing)
                if mask is not None:
                    labels, proba = labels[mask], proba[mask]
            else:
                proba = logits_to_proba(logits)
                rows.append(np.asarray(positions))
            codes.append(labels.reshape(-1).cpu())
            probabilities.append(proba.reshape(-1, proba.shape[-1]).cpu().double())
    codes_flat = torch.cat(codes).numpy()
    proba_flat = torch.cat(probabilities).numpy()
    if rows:  # batches may be read in another order than the dataset's (by length)
        order = np.argsort(np.concatenate(rows), kind="stable")
        codes_flat, proba_flat = codes_flat[order], proba_flat[order]
    return codes_flat, proba_flat
