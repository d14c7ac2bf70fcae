"""FocalLoss: the focal loss of Lin et al. (2017), checked against the formula computed by hand
(numpy, float64), alone, inside ClassWeightedLoss and as the estimators' criterion."""

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch import nn

import sktorchcw
from sktorchcw import ClassWeightedLoss, LSTMBlinkClassifier, LSTMBlinkTagger, criterion_formats
from sktorchcw._loss import FocalLoss
from sktorchcw.datasets import make_blink_dataset

ESTIMATOR = dict(max_epochs=2, device="cpu", random_state=0)


# -- the formula, by hand ---------------------------------------------------------------------


def softmax_focal_by_hand(logits, target, gamma):
    """-(1 - p_t)^gamma log p_t per row of (N, C) logits, in float64 numpy."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    p_t = p[np.arange(len(target)), np.asarray(target)]
    return -((1 - p_t) ** gamma) * np.log(p_t)


def sigmoid_focal_by_hand(logits, target, gamma):
    """The binary focal loss: p_t = sigmoid(x) for t = 1, 1 - sigmoid(x) for t = 0."""
    logits = np.asarray(logits, dtype=np.float64)
    p = 1 / (1 + np.exp(-logits))
    p_t = np.where(np.asarray(target) == 1, p, 1 - p)
    return -((1 - p_t) ** gamma) * np.log(p_t)


def batch(n=10, n_classes=3, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, n_classes, generator=gen, dtype=dtype) * 2
    target = torch.randint(0, n_classes, (n,), generator=gen)
    return logits, target


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 3.7])
def test_multiclass_focal_loss_matches_the_formula(gamma):
    logits, target = batch()
    loss = FocalLoss(gamma=gamma, reduction="none")(logits, target)
    np.testing.assert_allclose(loss.numpy(), softmax_focal_by_hand(logits, target, gamma),
                               rtol=1e-12)


def test_a_two_sample_example_computed_on_paper():
    # p_t = sigmoid(2) = 0.8807971 and sigmoid(-1) = 0.2689414 (softmax of two logits).
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    loss = FocalLoss(gamma=2.0, reduction="none")(logits, torch.tensor([0, 0]))
    expected = [-(1 - 0.8807970779778823) ** 2 * math.log(0.8807970779778823),
                -(1 - 0.2689414213699951) ** 2 * math.log(0.2689414213699951)]
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_single_logit_focal_loss_is_the_sigmoid_formula(gamma):
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(12, generator=gen, dtype=torch.float64) * 3
    target = torch.randint(0, 2, (12,), generator=gen)
    expected = sigmoid_focal_by_hand(logits, target, gamma)
    for given in (target, target.bool(), target.double()):
        loss = FocalLoss(gamma=gamma, reduction="none")(logits, given)
        np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)


def test_reductions_are_mean_sum_and_none():
    logits, target = batch()
    by_hand = softmax_focal_by_hand(logits, target, 2.0)
    assert FocalLoss(reduction="none")(logits, target).shape == (10,)
    assert FocalLoss()(logits, target).item() == pytest.approx(by_hand.mean(), rel=1e-12)
    assert FocalLoss(reduction="sum")(logits, target).item() == pytest.approx(by_hand.sum(),
                                                                             rel=1e-12)


# -- gamma = 0 is the cross-entropy -----------------------------------------------------------


def _value_and_grad(loss_fn, logits, target):
    logits = logits.clone().requires_grad_(True)
    value = loss_fn(logits, target)
    value.backward()
    return value.detach(), logits.grad


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gamma_zero_equals_cross_entropy_in_value_and_gradient(reduction):
    logits, target = batch(dtype=torch.float32)

    def summed(fn):
        return lambda x, t: fn(x, t).sum() if reduction == "none" else fn(x, t)

    focal = _value_and_grad(summed(FocalLoss(gamma=0.0, reduction=reduction)), logits, target)
    cross = _value_and_grad(summed(lambda x, t: F.cross_entropy(x, t, reduction=reduction)),
                            logits, target)
    torch.testing.assert_close(focal[0], cross[0])
    torch.testing.assert_close(focal[1], cross[1])


def test_gamma_zero_equals_cross_entropy_in_the_k_dimensional_layout():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(4, 3, 7, 2, generator=gen)
    target = torch.randint(0, 3, (4, 7, 2), generator=gen)
    focal = _value_and_grad(FocalLoss(gamma=0), logits, target)
    cross = _value_and_grad(F.cross_entropy, logits, target)
    torch.testing.assert_close(focal[0], cross[0])
    torch.testing.assert_close(focal[1], cross[1])


def test_gamma_zero_with_a_single_logit_equals_binary_cross_entropy():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(9, generator=gen)
    target = torch.randint(0, 2, (9,), generator=gen)
    focal = _value_and_grad(FocalLoss(gamma=0), logits, target)
    bce = _value_and_grad(lambda x, t: F.binary_cross_entropy_with_logits(x, t.float()),
                          logits, target)
    torch.testing.assert_close(focal[0], bce[0])
    torch.testing.assert_close(focal[1], bce[1])


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_gradient_matches_finite_differences(gamma):
    logits, target = batch(n=6)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: FocalLoss(gamma=gamma)(x, target), (logits,))
    single = logits[:, 0].detach().clone().requires_grad_(True)
    binary = (target > 0).long()
    assert torch.autograd.gradcheck(lambda x: FocalLoss(gamma=gamma)(x, binary), (single,))


# -- layouts --------------------------------------------------------------------------------


def test_k_dimensional_layout_equals_one_row_per_element():
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(3, 4, 5, generator=gen, dtype=torch.float64)  # (N, C, T)
    target = torch.randint(0, 4, (3, 5), generator=gen)
    loss = FocalLoss(reduction="none")(logits, target)
    assert loss.shape == (3, 5)
    rows = logits.movedim(1, -1).reshape(-1, 4)
    expected = softmax_focal_by_hand(rows, target.reshape(-1), 2.0).reshape(3, 5)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12)


def test_single_logit_layouts_agree():
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(3, 6, generator=gen, dtype=torch.float64)
    target = torch.randint(0, 2, (3, 6), generator=gen)
    expected = sigmoid_focal_by_hand(logits, target, 2.0)
    focal = FocalLoss(reduction="none")
    np.testing.assert_allclose(focal(logits, target).numpy(), expected, rtol=1e-12)  # (N, T)
    np.testing.assert_allclose(focal(logits[:, None, :], target).numpy(), expected,
                               rtol=1e-12)  # (N, 1, T)
    column = focal(logits[:, :1], target[:, 0])  # (N, 1) with (N,)
    assert column.shape == (3,)
    np.testing.assert_allclose(column.numpy(), expected[:, 0], rtol=1e-12)


def test_extreme_logits_give_finite_values_and_gradients():
    logits = torch.tensor([[1e4, -1e4], [-1e4, 1e4], [80.0, 0.0]], requires_grad=True)
    target = torch.tensor([0, 0, 0])
    for gamma in (0.0, 0.25, 2.0):
        logits.grad = None
        loss = FocalLoss(gamma=gamma, reduction="sum")(logits, target)
        loss.backward()
        assert logits.grad is not None
        assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
        assert loss.item() == pytest.approx(2e4 * 1.0**gamma, rel=1e-6)  # the wrong row only


def test_a_certain_right_answer_has_zero_loss_and_gradient_for_small_gamma():
    # p_t rounds to 1: (1 - p_t)^gamma has an infinite derivative there for gamma < 1.
    logits = torch.tensor([[200.0, 0.0]], requires_grad=True)
    loss = FocalLoss(gamma=0.5)(logits, torch.tensor([0]))
    loss.backward()
    assert loss.item() == 0.0
    assert logits.grad is not None and torch.equal(logits.grad, torch.zeros_like(logits))


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [-0.1, -2, float("nan"), float("inf"), "2", None, True,
                                   torch.tensor(2.0)])
def test_a_bad_gamma_is_a_clear_error(gamma):
    with pytest.raises(ValueError, match="gamma must be"):
        FocalLoss(gamma=gamma)


def test_a_bad_gamma_set_later_is_caught_when_called():
    loss = FocalLoss()
    loss.gamma = -1.0
    with pytest.raises(ValueError, match="gamma must be"):
        loss(*batch())


def test_gamma_is_stored_as_a_float_and_numpy_numbers_are_accepted():
    assert FocalLoss(gamma=np.int64(3)).gamma == 3.0
    assert type(FocalLoss(gamma=2).gamma) is float


@pytest.mark.parametrize("reduction", ["weighted_mean", "batchmean", None])
def test_a_bad_reduction_is_a_clear_error(reduction):
    with pytest.raises(ValueError, match="reduction"):
        FocalLoss(reduction=reduction)


def test_bad_targets_are_clear_errors():
    logits, target = batch()
    with pytest.raises(TypeError, match="integer"):
        FocalLoss()(logits, target.double())
    with pytest.raises(ValueError, match="class index 3"):
        FocalLoss()(logits, torch.full((10,), 3))
    with pytest.raises(ValueError, match="class index -1"):
        FocalLoss()(logits, torch.full((10,), -1))
    with pytest.raises(ValueError, match="0 or 1"):
        FocalLoss()(logits[:, 0], torch.full((10,), 2))
    with pytest.raises(ValueError, match="does not fit"):
        FocalLoss()(logits, target[:5])
    with pytest.raises(TypeError, match="float logits"):
        FocalLoss()(target, target)


def test_repr_names_gamma_and_reduction():
    assert repr(FocalLoss(gamma=1.5)) == "FocalLoss(gamma=1.5, reduction='mean')"


# -- inside ClassWeightedLoss -------------------------------------------------------------------


def test_classweightedloss_knows_focal_loss():
    assert criterion_formats(FocalLoss) == ("logits", "index")
    assert criterion_formats(FocalLoss(gamma=1.0)) == ("logits", "index")
    loss = ClassWeightedLoss(FocalLoss)
    assert isinstance(loss.criterion, FocalLoss) and loss.criterion.reduction == "none"


def test_classweightedloss_leaves_the_given_instance_alone():
    given = FocalLoss(gamma=3.0, reduction="sum")
    loss = ClassWeightedLoss(given, class_weight=[1.0, 2.0, 3.0])
    assert given.reduction == "sum" and loss.criterion.reduction == "none"
    assert loss.criterion.gamma == 3.0 and loss.criterion is not given


@pytest.mark.parametrize("reduction", ["mean", "weighted_mean", "sum"])
def test_class_weights_multiply_each_samples_focal_loss(reduction):
    logits, target = batch()
    weights = np.array([0.5, 2.0, 1.5])
    per_sample = weights[target.numpy()] * softmax_focal_by_hand(logits, target, 2.0)
    expected = {"mean": per_sample.sum() / 10, "sum": per_sample.sum(),
                "weighted_mean": per_sample.sum() / weights[target.numpy()].sum()}[reduction]
    loss = ClassWeightedLoss(FocalLoss(gamma=2.0), class_weight=weights, reduction=reduction)
    assert loss(logits, target).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("shape", [(10,), (10, 1)])
def test_class_weights_on_a_single_logit_are_the_alpha_of_the_paper(shape):
    gen = torch.Generator().manual_seed(6)
    logits = torch.randn(10, generator=gen, dtype=torch.float64)
    target = torch.randint(0, 2, (10,), generator=gen)
    alpha = 0.25
    # Lin et al.: FL = -alpha_t (1 - p_t)^gamma log p_t, alpha_t = alpha for 1, 1 - alpha for 0.
    alpha_t = np.where(target.numpy() == 1, alpha, 1 - alpha)
    expected = (alpha_t * sigmoid_focal_by_hand(logits, target, 2.0)).sum()
    loss = ClassWeightedLoss(FocalLoss, class_weight=[1 - alpha, alpha], reduction="sum")
    assert loss(logits.reshape(shape), target).item() == pytest.approx(expected, rel=1e-12)


def test_sample_weights_and_class_weights_combine():
    logits, target = batch()
    sample_weight = np.linspace(0.0, 2.0, 10)
    weights = np.array([3.0, 1.0, 0.5])
    expected = (sample_weight * weights[target.numpy()]
                * softmax_focal_by_hand(logits, target, 1.0)).sum() / 10
    loss = ClassWeightedLoss(FocalLoss(gamma=1.0), class_weight=weights)
    assert loss(logits, target, sample_weight=sample_weight).item() == pytest.approx(
        expected, rel=1e-6)


def test_per_frame_logits_with_a_mask_and_class_weights():
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(3, 2, 6, generator=gen, dtype=torch.float64)  # (N, C, T)
    target = torch.randint(0, 2, (3, 6), generator=gen)
    mask = torch.arange(6)[None, :] < torch.tensor([6, 4, 2])[:, None]  # ragged lengths
    weights = np.array([1.0, 4.0])
    rows = logits.movedim(1, -1)[mask]
    kept = target[mask]
    per_frame = weights[kept.numpy()] * softmax_focal_by_hand(rows, kept, 2.0)
    loss = ClassWeightedLoss(FocalLoss, class_weight=weights)
    value = loss(logits, target, mask=mask)
    assert value.item() == pytest.approx(per_frame.sum() / mask.sum().item(), rel=1e-12)
    # Padding frames carry no gradient.
    logits.requires_grad_(True)
    loss(logits, target, mask=mask).backward()
    assert logits.grad is not None
    assert torch.equal(logits.grad.movedim(1, -1)[~mask], torch.zeros(6, 2, dtype=logits.dtype))


def test_per_frame_single_logits_with_a_mask():
    gen = torch.Generator().manual_seed(8)
    logits = torch.randn(3, 6, generator=gen, dtype=torch.float64)  # (N, T): one logit each
    target = torch.randint(0, 2, (3, 6), generator=gen)
    mask = torch.arange(6)[None, :] < torch.tensor([3, 6, 5])[:, None]
    weights = np.array([0.375, 1.625])  # exact in float32, as the weight buffer holds them
    kept = target[mask].numpy()
    expected = (weights[kept] * sigmoid_focal_by_hand(logits[mask], kept, 2.0)).sum()
    loss = ClassWeightedLoss(FocalLoss, class_weight=weights, reduction="sum")
    assert loss(logits, target, mask=mask).item() == pytest.approx(expected, rel=1e-12)


def test_other_index_criteria_still_refuse_a_single_logit():
    with pytest.raises(ValueError, match="single logit"):
        ClassWeightedLoss(nn.CrossEntropyLoss)(torch.randn(4, 1), torch.tensor([0, 1, 0, 1]))


# -- as the estimators' criterion ---------------------------------------------------------------


@pytest.fixture(scope="module")
def windows():
    return make_blink_dataset(120, seq_len=20, prevalence=0.25, random_state=0)


@pytest.fixture(scope="module")
def frames():
    """The same recordings per frame, cut to ragged lengths (so padding is masked)."""
    table = make_blink_dataset(120, seq_len=20, prevalence=0.25, return_frames=True,
                               random_state=0)
    values = table[["ear_left", "ear_right"]].to_numpy().reshape(120, 20, 2)
    labels = table["blink"].to_numpy().reshape(120, 20)
    lengths = np.random.RandomState(0).randint(14, 21, size=120)
    return ([v[:n] for v, n in zip(values, lengths, strict=True)],
            [y[:n] for y, n in zip(labels, lengths, strict=True)])


def test_classifier_trains_with_focal_loss_as_a_criterion_class(windows):
    X, y = windows
    clf = LSTMBlinkClassifier(criterion=FocalLoss, criterion__gamma=2.0,
                              class_weight="balanced", **ESTIMATOR).fit(X, y)
    used = clf.net_.criterion_.criterion
    assert isinstance(used, FocalLoss) and used.gamma == 2.0 and used.reduction == "none"
    assert np.isfinite(clf.history_[:, "train_loss"]).all()
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_classifier_with_gamma_zero_trains_like_cross_entropy(windows):
    X, y = windows
    focal = LSTMBlinkClassifier(criterion=FocalLoss, criterion__gamma=0.0,
                                class_weight="balanced", **ESTIMATOR).fit(X, y)
    cross = LSTMBlinkClassifier(criterion=nn.CrossEntropyLoss, class_weight="balanced",
                                **ESTIMATOR).fit(X, y)
    np.testing.assert_allclose(focal.history_[:, "train_loss"], cross.history_[:, "train_loss"],
                               rtol=1e-4)
    np.testing.assert_allclose(focal.predict_proba(X), cross.predict_proba(X), atol=1e-4)


def test_a_bad_gamma_given_to_the_classifier_is_a_clear_error(windows):
    X, y = windows
    with pytest.raises(ValueError, match="gamma must be"):
        LSTMBlinkClassifier(criterion=FocalLoss, criterion__gamma=-1.0, **ESTIMATOR).fit(X, y)


def test_tagger_trains_with_focal_loss_on_ragged_frames(frames):
    X, y = frames
    tagger = LSTMBlinkTagger(criterion=FocalLoss, criterion__gamma=2.0,
                             class_weight="balanced", **ESTIMATOR).fit(X, y)
    assert isinstance(tagger.net_.criterion_.criterion, FocalLoss)
    assert np.isfinite(tagger.history_[:, "train_loss"]).all()
    proba = tagger.predict_proba(X)
    assert [p.shape for p in proba[:3]] == [(len(x), 2) for x in X[:3]]


def _saved_and_loaded(estimator):
    buffer = io.BytesIO()
    estimator.save(buffer)
    buffer.seek(0)
    return sktorchcw.load(buffer)


def test_save_stores_focal_loss_given_as_a_class(windows):
    X, y = windows
    clf = LSTMBlinkClassifier(criterion=FocalLoss, criterion__gamma=1.5, **ESTIMATOR).fit(X, y)
    loaded = _saved_and_loaded(clf)
    assert loaded.criterion is FocalLoss
    assert loaded.get_params()["criterion__gamma"] == 1.5
    assert loaded.net_.criterion_.criterion.gamma == 1.5
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6)


def test_save_stores_a_focal_loss_instance(frames):
    X, y = frames
    tagger = LSTMBlinkTagger(criterion=FocalLoss(gamma=0.5, reduction="sum"),
                             **ESTIMATOR).fit(X, y)
    loaded = _saved_and_loaded(tagger)
    assert isinstance(loaded.criterion, FocalLoss)
    assert (loaded.criterion.gamma, loaded.criterion.reduction) == (0.5, "sum")
    for got, expected in zip(loaded.predict_proba(X[:5]), tagger.predict_proba(X[:5]),
                             strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_clone_and_grid_search_over_gamma(windows):
    X, y = windows
    clf = LSTMBlinkClassifier(criterion=FocalLoss, criterion__gamma=2.0, **ESTIMATOR)
    assert clone(clf).get_params()["criterion__gamma"] == 2.0
    search = GridSearchCV(clf, {"criterion__gamma": [0.0, 2.0]}, cv=2,
                          scoring="balanced_accuracy").fit(X, y)
    assert [p["criterion__gamma"] for p in search.cv_results_["params"]] == [0.0, 2.0]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
