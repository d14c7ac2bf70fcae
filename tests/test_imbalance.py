"""Imbalance strategies beside class weights: prior-corrected probabilities and
class-balanced batches."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, log_loss
from skorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader

from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger
from sktorchcw.datasets import make_blink_dataset

from helpers import CtrlCAt, fast_classifier


def test_prior_correction_divides_by_the_training_weights(blinks):
    X, y = blinks
    sample_weight = np.where(np.arange(len(y)) % 3 == 0, 2.0, 1.0)
    clf = fast_classifier(class_weight={1: 4.0}).fit(X, y, sample_weight=sample_weight)
    mean_weight = [sample_weight[y == c].mean() for c in (0, 1)]
    np.testing.assert_allclose(clf.training_weight_, np.array([1.0, 4.0]) * mean_weight)
    raw = clf.predict_proba(X)
    clf.set_params(prior_correction=True)
    corrected = raw / clf.training_weight_
    corrected /= corrected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X), corrected, rtol=1e-12)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), corrected, rtol=1e-9)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[corrected.argmax(axis=1)])


def test_without_weights_the_correction_changes_nothing(blinks):
    X, y = blinks
    clf = fast_classifier(max_epochs=2).fit(X, y)
    raw = clf.predict_proba(X)
    np.testing.assert_allclose(clf.set_params(prior_correction=True).predict_proba(X), raw)


def test_corrected_probabilities_score_close_to_the_unweighted_model():
    X, y = make_blink_dataset(1600, seq_len=30, prevalence=0.1, noise=0.06,
                              hard_negative_rate=0.6, random_state=0)
    X_test, y_test, X, y = X[800:], y[800:], X[:800], y[:800]
    params = dict(max_epochs=15, hidden_size=16, device="cpu", random_state=0)
    unweighted = LSTMBlinkClassifier(**params).fit(X, y)
    balanced = LSTMBlinkClassifier(class_weight="balanced", **params).fit(X, y)
    plain_loss = log_loss(y_test, unweighted.predict_proba(X_test))
    uncorrected = log_loss(y_test, balanced.predict_proba(X_test))
    corrected = log_loss(y_test, balanced.set_params(prior_correction=True).predict_proba(X_test))
    # Measured here: 0.067 unweighted, 0.254 balanced, 0.128 balanced and corrected; the
    # correction removes most of the gap the reweighted prior opened.
    assert corrected < 0.6 * uncorrected
    assert corrected - plain_loss < 0.5 * (uncorrected - plain_loss)


def test_the_correction_is_only_approximate_for_l1_and_says_so(blinks):
    X, y = blinks
    with pytest.warns(UserWarning, match="only approximately"):
        fast_classifier(criterion=nn.L1Loss, prior_correction=True, max_epochs=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast_classifier(criterion=nn.MSELoss, prior_correction=True, max_epochs=1).fit(X, y)


def test_a_class_trained_with_weight_zero_cannot_be_corrected(blinks):
    X, y = blinks
    clf = fast_classifier(class_weight={0: 0.0}, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=r"classes \[0\] had weight 0"):
        clf.set_params(prior_correction=True).predict_proba(X)


class RecordLabels(Callback):
    def __init__(self):
        self.labels = []

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.labels.append(batch[1].cpu().numpy())


def test_balanced_sampling_draws_each_class_about_equally_and_repeatably(blinks):
    X, y = blinks  # 25 % blinks
    recorder = RecordLabels()
    clf = fast_classifier(sampling="balanced", max_epochs=20, callbacks=[("labels", recorder)])
    clf.fit(X, y)
    drawn = np.concatenate(dict(clf.net_.callbacks_)["labels"].labels)
    assert len(drawn) == 20 * len(y)
    assert 0.45 < drawn.mean() < 0.55
    np.testing.assert_allclose(clf.training_weight_, len(y) / (2 * np.bincount(y)))
    again = fast_classifier(sampling="balanced", max_epochs=20).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_balanced_sampling_resumes_from_a_checkpoint_as_if_never_stopped(blinks, tmp_path):

    X, y = blinks
    params = dict(sampling="balanced", max_epochs=4, checkpoint_dir=tmp_path)
    reference = fast_classifier(**params).fit(X, y)
    with pytest.raises(KeyboardInterrupt):
        fast_classifier(callbacks=[CtrlCAt(2)], **params).fit(X, y)
    resumed = fast_classifier(**params).fit(X, y)
    np.testing.assert_allclose(resumed.predict_proba(X), reference.predict_proba(X), atol=1e-6)


def test_sampling_with_class_weights_warns_that_it_corrects_twice(blinks):
    X, y = blinks
    with pytest.warns(UserWarning, match="corrected twice"):
        fast_classifier(sampling="balanced", class_weight="balanced", max_epochs=1).fit(X, y)


@pytest.mark.parametrize("make, params, match", [
    (fast_classifier, {"sampling": "oversample"}, "sampling"),
    (fast_classifier, {"sampling": "balanced", "iterator_train": DataLoader},
     "leave iterator_train=None"),
    (LSTMBlinkTagger, {"sampling": "balanced", "device": "cpu"}, "one label per frame"),
], ids=["unknown", "dataloader", "tagger"])
def test_sampling_that_cannot_work_is_a_clear_error(blinks, make, params, match):
    X, y = blinks
    if make is LSTMBlinkTagger:
        y = np.repeat(y[:, None], X.shape[1], axis=1)
    with pytest.raises(ValueError, match=match):
        make(**params).fit(X, y)


def test_the_tagger_corrects_frame_probabilities(blinks):
    X, y = blinks
    frames = (X[:, :, 0] < 0.2).astype(int)
    tagger = LSTMBlinkTagger(class_weight="balanced", max_epochs=2, device="cpu",
                             random_state=0).fit(X, frames)
    raw = tagger.predict_proba(X)
    corrected = raw / tagger.training_weight_
    corrected /= corrected.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(tagger.set_params(prior_correction=True).predict_proba(X),
                               corrected)
    assert torch.is_tensor(torch.as_tensor(corrected))


def test_prediction_only_parameters_do_not_hide_a_checkpoint(blinks, tmp_path):

    X, y = blinks
    with pytest.raises(KeyboardInterrupt):
        fast_classifier(max_epochs=3, checkpoint_dir=tmp_path, callbacks=[CtrlCAt(1)]).fit(X, y)
    resumed = fast_classifier(max_epochs=3, checkpoint_dir=tmp_path, prior_correction=True,
                              predict_batch_size=7).fit(X, y)
    assert [row["epoch"] for row in resumed.history_] == [1, 2, 3]
    assert not list(tmp_path.iterdir())


def test_the_taggers_score_follows_its_corrected_predictions(blinks):
    X, y = blinks
    frames = (X[:, :, 0] < 0.2).astype(int)
    tagger = LSTMBlinkTagger(class_weight={1: 50.0}, max_epochs=1, device="cpu",
                             random_state=0, prior_correction=True).fit(X, frames)
    predicted = tagger.predict(X)
    assert tagger.score(X, frames) == pytest.approx(
        balanced_accuracy_score(frames.ravel(), predicted.ravel()))
