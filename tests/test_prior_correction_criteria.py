"""prior_correction and the class weighting a criterion carries itself: ``pos_weight`` of
BCEWithLogitsLoss is folded into ``training_weight_``; a weighting that is no factor per
class (``weight=``, a ``pos_weight`` of another shape or of an unknown criterion) is
refused with the advice to use ``class_weight``."""

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sktorchcw import FocalLoss, LSTMBlinkClassifier, LSTMBlinkTagger

onnx = pytest.importorskip("onnx", reason="the export check needs the [onnx] extra")

# Small and fast; the features are noise, so the model can learn only the class prior and
# the reweighting shows in full in its probabilities.
FAST = dict(max_epochs=10, hidden_size=4, batch_size=50, lr=0.02, device="cpu", random_state=0)
POS_WEIGHT = torch.tensor([9.0])


@pytest.fixture(scope="module")
def rare_positives():
    """200 sequences of noise, 10 % positives."""
    X = np.random.default_rng(0).normal(size=(200, 8, 2)).astype(np.float32)
    y = (np.arange(200) % 10 == 0).astype(int)
    return X, y


def fit(X, y, **params):
    return LSTMBlinkClassifier(**{**FAST, **params}).fit(X, y)


@pytest.mark.parametrize("how", ["criterion__pos_weight", "instance"])
def test_pos_weight_is_corrected_as_the_class_weight_it_is(rare_positives, how):
    """The issue's example: pos_weight=9 on 10 % positives. Uncorrected the model says
    P(1) = 0.49 on average; corrected, about the 10 % it saw, as with class_weight={1: 9}."""
    X, y = rare_positives
    criterion = (dict(criterion=nn.BCEWithLogitsLoss, criterion__pos_weight=POS_WEIGHT)
                 if how == "criterion__pos_weight"
                 else dict(criterion=nn.BCEWithLogitsLoss(pos_weight=POS_WEIGHT)))
    weighted = fit(X, y, prior_correction=True, **criterion)
    reference = fit(X, y, criterion=nn.BCEWithLogitsLoss, class_weight={1: 9.0},
                    prior_correction=True)
    np.testing.assert_allclose(weighted.training_weight_, [1.0, 9.0])
    np.testing.assert_array_equal(weighted.training_weight_, reference.training_weight_)
    corrected = weighted.predict_proba(X)[:, 1].mean()
    # Measured: 0.099 corrected (0.099 with class_weight={1: 9}), 0.491 uncorrected.
    assert abs(corrected - 0.1) < 0.03
    assert weighted.set_params(prior_correction=False).predict_proba(X)[:, 1].mean() > 0.35
    np.testing.assert_allclose(corrected, reference.predict_proba(X)[:, 1].mean(), atol=0.01)


def test_pos_weight_multiplies_with_sample_weights_and_balanced_sampling(rare_positives):
    X, y = rare_positives
    sample_weight = np.where(np.arange(len(y)) % 3 == 0, 2.0, 1.0)
    with_pos_weight = LSTMBlinkClassifier(
        **{**FAST, "max_epochs": 1}, sampling="balanced", criterion=nn.BCEWithLogitsLoss,
        criterion__pos_weight=POS_WEIGHT).fit(X, y, sample_weight=sample_weight)
    counts = np.bincount(y)
    mean_weight = [sample_weight[y == c].mean() for c in (0, 1)]
    np.testing.assert_allclose(with_pos_weight.training_weight_,
                               np.array([1.0, 9.0]) * len(y) / (2 * counts) * mean_weight)


def test_the_tagger_folds_pos_weight_too(rare_positives):
    X, _ = rare_positives
    frames = (X[:, :, 0] > 1.0).astype(int)
    tagger = LSTMBlinkTagger(**{**FAST, "max_epochs": 1}, criterion=nn.BCEWithLogitsLoss,
                             criterion__pos_weight=torch.tensor(4.0),
                             prior_correction=True).fit(X, frames)
    assert tagger.module_.head.out_features == 1
    np.testing.assert_allclose(tagger.training_weight_, [1.0, 4.0])
    raw = tagger.set_params(prior_correction=False).predict_proba(X[:3])
    corrected = raw / tagger.training_weight_
    corrected /= corrected.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(tagger.set_params(prior_correction=True).predict_proba(X[:3]),
                               corrected, rtol=1e-12)


def test_pos_weight_per_output_undoes_each_outputs_odds():
    """With one output per class (three classes), output c learns odds pos_weight[c] times
    too high; dividing by pos_weight gives back what the model without pos_weight says."""
    X = np.random.default_rng(0).normal(size=(200, 8, 2)).astype(np.float32)
    y = np.array(["a"] * 120 + ["b"] * 60 + ["c"] * 20)
    plain = fit(X, y, criterion=nn.BCEWithLogitsLoss)
    weighted = fit(X, y, criterion=nn.BCEWithLogitsLoss,
                   criterion__pos_weight=torch.tensor([1.0, 2.0, 6.0]), prior_correction=True)
    np.testing.assert_allclose(weighted.training_weight_, [1.0, 2.0, 6.0])
    expected = plain.predict_proba(X).mean(axis=0)
    # Measured: [0.715 0.234 0.051] without pos_weight, [0.725 0.212 0.063] corrected,
    # [0.478 0.279 0.243] uncorrected.
    assert np.abs(weighted.predict_proba(X).mean(axis=0) - expected).max() < 0.05
    raw = weighted.set_params(prior_correction=False).predict_proba(X).mean(axis=0)
    assert np.abs(raw - expected).max() > 0.15


def test_a_scalar_pos_weight_on_two_outputs_weighs_both_alike(rare_positives):
    """weighting='output' gives a BCEWithLogitsLoss two outputs; one pos_weight for both
    raises both outputs' odds alike, which the softmax does not see: nothing to correct."""
    X, y = rare_positives
    clf = fit(X, y, criterion=nn.BCEWithLogitsLoss, criterion__pos_weight=POS_WEIGHT,
              weighting="output", max_epochs=1)
    assert clf.module_.head.out_features == 2
    np.testing.assert_allclose(clf.training_weight_, [9.0, 9.0])
    raw = clf.predict_proba(X)
    np.testing.assert_allclose(clf.set_params(prior_correction=True).predict_proba(X), raw)


class WeightedCustomLoss(nn.Module):
    """A criterion of the user's with a pos_weight whose meaning sktorchcw cannot know."""

    def __init__(self, pos_weight=None, reduction="mean"):
        super().__init__()
        self.pos_weight, self.reduction = pos_weight, reduction

    def forward(self, input, target):
        return F.cross_entropy(input, target, reduction=self.reduction)


CUSTOM_FORMATS = dict(criterion__input_format="logits", criterion__target_format="index")
# Each refused both when prior_correction is set before fit and when it is set after.
REFUSED_AFTER_FIT = {
    "cross_entropy partial with weight": dict(
        criterion=functools.partial(F.cross_entropy, weight=torch.tensor([1.0, 9.0])),
        **CUSTOM_FORMATS),
    "user loss with pos_weight": dict(criterion=WeightedCustomLoss,
                                      criterion__pos_weight=torch.tensor([9.0]),
                                      **CUSTOM_FORMATS),
    "BCEWithLogitsLoss partial with per-element weight": dict(
        criterion=functools.partial(F.binary_cross_entropy_with_logits,
                                    weight=torch.tensor([[1.0, 2.0]])),
        criterion__input_format="logits", criterion__target_format="onehot"),
}


@pytest.mark.parametrize("case", list(REFUSED_AFTER_FIT))
def test_a_weighting_that_is_no_class_factor_is_refused_at_fit(rare_positives, case):
    X, y = rare_positives
    with pytest.raises(ValueError, match="prior_correction=True divides out.*class_weight"):
        fit(X, y, prior_correction=True, max_epochs=1, **REFUSED_AFTER_FIT[case])


@pytest.mark.parametrize("case", list(REFUSED_AFTER_FIT))
def test_a_weighting_that_is_no_class_factor_is_refused_after_fit(rare_positives, case,
                                                                  tmp_path):
    from sktorchcw import export_onnx

    X, y = rare_positives
    clf = fit(X, y, max_epochs=1, **REFUSED_AFTER_FIT[case])
    clf.predict_proba(X)  # without the correction it predicts
    clf.set_params(prior_correction=True)
    for method in (clf.predict_proba, clf.predict, clf.predict_log_proba):
        with pytest.raises(ValueError, match="class_weight"):
            method(X)
    with pytest.raises(ValueError, match="class_weight"):
        export_onnx(clf, tmp_path / "model.onnx")


def test_a_stream_refuses_what_predict_proba_refuses(rare_positives):
    X, _ = rare_positives
    frames = (X[:, :, 0] > 1.0).astype(int)
    tagger = LSTMBlinkTagger(**{**FAST, "max_epochs": 1}, **CUSTOM_FORMATS,
                             criterion=WeightedCustomLoss,
                             criterion__pos_weight=torch.tensor([9.0])).fit(X, frames)
    tagger.set_params(prior_correction=True)
    with pytest.raises(ValueError, match="pos_weight whose meaning"):
        tagger.stream()


@pytest.mark.parametrize("criterion, pos_weight, match", [
    (nn.BCEWithLogitsLoss, torch.tensor([9.0, 9.0]), r"shape \(2,\).*output"),
    (nn.BCEWithLogitsLoss, torch.tensor([[9.0]]), None),
    (nn.BCEWithLogitsLoss, torch.tensor([float("inf")]), "finite"),
])
def test_a_single_logits_pos_weight_must_be_one_finite_number(rare_positives, criterion,
                                                              pos_weight, match):
    X, y = rare_positives
    clf = LSTMBlinkClassifier(**{**FAST, "max_epochs": 1}, criterion=criterion,
                              criterion__pos_weight=pos_weight, prior_correction=True)
    if match is None:  # (1, 1) broadcasts as one number
        np.testing.assert_allclose(clf.fit(X, y).training_weight_, [1.0, 9.0])
        return
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


@pytest.mark.parametrize("params", [
    dict(criterion=nn.CrossEntropyLoss, criterion__weight=torch.tensor([1.0, 9.0])),
    dict(criterion=nn.NLLLoss(weight=torch.tensor([1.0, 9.0]))),
    dict(criterion=nn.MultiMarginLoss(weight=torch.tensor([1.0, 9.0]))),
    dict(criterion=nn.BCEWithLogitsLoss, criterion__weight=torch.tensor([1.0])),
    dict(criterion=nn.BCELoss(weight=torch.tensor([1.0]))),
], ids=["CrossEntropyLoss", "NLLLoss", "MultiMarginLoss", "BCEWithLogitsLoss", "BCELoss"])
def test_a_loss_objects_own_weight_is_refused_with_the_advice(rare_positives, params):
    """ClassWeightedLoss refuses weight= on any loss object, with or without the correction:
    class weights go in class_weight, which the correction divides out."""
    X, y = rare_positives
    for prior_correction in (True, False):
        with pytest.raises(ValueError, match="pass the class weights as class_weight"):
            fit(X, y, max_epochs=1, prior_correction=prior_correction, **params)


def test_focal_loss_has_no_weight_of_its_own(rare_positives):
    X, y = rare_positives
    with pytest.raises(ValueError, match="does not take the parameter"):
        fit(X, y, max_epochs=1, criterion=FocalLoss, criterion__weight=torch.tensor([1.0, 9.0]),
            prior_correction=True)


def test_a_number_for_a_tensor_argument_is_refused_with_the_fix(rare_positives):
    X, y = rare_positives
    with pytest.raises(ValueError, match=r"refused the value.*torch.tensor\(\[9.0\]\)"):
        fit(X, y, max_epochs=1, criterion=nn.BCEWithLogitsLoss, criterion__pos_weight=9)
