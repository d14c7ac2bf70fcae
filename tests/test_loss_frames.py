"""ClassWeightedLoss on PyTorch's K-dimensional layout: logits (N, C, T), one label per frame,
masks for padding, per-sample and per-frame sample weights."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sktorchcw import ClassWeightedLoss
from sktorchcw.distributed import global_batch_loss

N, C, T = 4, 3, 7
WEIGHTS = [0.5, 2.0, 4.0]


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(N, C, T, generator=generator, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, C, (N, T), generator=generator)
    lengths = torch.tensor([7, 5, 2, 6])
    mask = torch.arange(T)[None, :] < lengths[:, None]
    return logits, y, mask


def value_and_grad(loss_fn, logits):
    loss = loss_fn()
    (grad,) = torch.autograd.grad(loss, logits)
    return loss.detach(), grad


@pytest.mark.parametrize("native, transform", [(nn.CrossEntropyLoss, lambda z: z),
                                               (nn.NLLLoss, lambda z: z.log_softmax(1))],
                         ids=["cross-entropy", "nll"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
def test_weighted_mean_equals_the_native_weighted_loss_with_ignored_padding(batch, native,
                                                                           transform, masked):
    logits, y, mask = batch
    mask = mask if masked else torch.ones_like(mask)
    ignored = torch.where(mask, y, torch.full_like(y, -100))
    reference = native(weight=torch.tensor(WEIGHTS, dtype=torch.float64))
    ours = ClassWeightedLoss(native, WEIGHTS, reduction="weighted_mean")
    expected = value_and_grad(lambda: reference(transform(logits), ignored), logits)
    got = value_and_grad(lambda: ours(logits, y, mask=mask if masked else None), logits)
    torch.testing.assert_close(got[0], expected[0])
    torch.testing.assert_close(got[1], expected[1])


def test_mean_divides_by_the_number_of_valid_frames(batch):
    logits, y, mask = batch
    per_frame = F.cross_entropy(logits, y, reduction="none")
    w = torch.tensor(WEIGHTS, dtype=torch.float64)[y]
    expected = (w * per_frame)[mask].sum() / mask.sum()
    got = ClassWeightedLoss(nn.CrossEntropyLoss, WEIGHTS)(logits, y, mask=mask)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("criterion, elementwise", [
    (nn.L1Loss, lambda p, t: (p - t).abs()),
    (nn.MSELoss, lambda p, t: (p - t) ** 2),
    (nn.BCELoss, lambda p, t: -(t * p.log() + (1 - t) * (1 - p).log())),
], ids=["L1", "MSE", "BCE"])
@pytest.mark.parametrize("reduction", ["mean", "weighted_mean", "sum"])
def test_one_hot_criteria_follow_the_formulas_per_frame(batch, criterion, elementwise,
                                                        reduction):
    logits, y, mask = batch
    sample_weight = torch.rand(N, T, generator=torch.Generator().manual_seed(1),
                               dtype=torch.float64)
    probabilities = logits.softmax(dim=1)
    onehot = F.one_hot(y, C).movedim(-1, 1).to(torch.float64)
    per_frame = elementwise(probabilities, onehot).mean(dim=1)  # averaged over classes
    weights = torch.tensor(WEIGHTS, dtype=torch.float64)[y] * sample_weight
    total = (weights * per_frame)[mask].sum()
    expected = {"mean": total / mask.sum(), "weighted_mean": total / weights[mask].sum(),
                "sum": total}[reduction]
    loss_fn = ClassWeightedLoss(criterion, WEIGHTS, reduction=reduction)
    torch.testing.assert_close(loss_fn(logits, y, sample_weight, mask=mask), expected)


def test_per_sample_weights_apply_to_each_frame_of_the_sample(batch):
    logits, y, mask = batch
    loss_fn = ClassWeightedLoss(nn.MSELoss, WEIGHTS)
    per_sample = torch.tensor([1.0, 0.0, 3.0, 0.5], dtype=torch.float64)
    per_frame = per_sample[:, None].expand(N, T)
    torch.testing.assert_close(loss_fn(logits, y, per_sample, mask=mask),
                               loss_fn(logits, y, per_frame, mask=mask))


def test_without_a_mask_the_mean_is_keras_temporal_sample_weighting(batch):
    logits, y, _ = batch
    sample_weight = torch.rand(N, T, generator=torch.Generator().manual_seed(2),
                               dtype=torch.float64)
    per_frame = F.cross_entropy(logits, y, reduction="none")
    # Keras 3: sum(s * l) / (N * T) for a (N, T) sample_weight.
    expected = (sample_weight * per_frame).sum() / (N * T)
    got = ClassWeightedLoss(nn.CrossEntropyLoss)(logits, y, sample_weight)
    torch.testing.assert_close(got, expected)


def test_output_weighting_per_frame(batch):
    logits, y, mask = batch
    probabilities = logits.softmax(dim=1).movedim(1, -1)[mask]  # (M, C)
    onehot = F.one_hot(y[mask], C).to(torch.float64)
    per_column = (probabilities - onehot).abs().sum(dim=0)
    expected = (torch.tensor(WEIGHTS, dtype=torch.float64) * per_column).sum() / mask.sum()
    got = ClassWeightedLoss(nn.L1Loss, WEIGHTS, weighting="output")(logits, y, mask=mask)
    torch.testing.assert_close(got, expected)


def test_single_logit_per_frame(batch):
    _, y, mask = batch
    y = (y > 0).long()
    logit = torch.randn(N, T, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    loss_fn = ClassWeightedLoss(nn.BCEWithLogitsLoss, [1.0, 3.0])
    per_frame = F.binary_cross_entropy_with_logits(logit, y.double(), reduction="none")
    w = torch.tensor([1.0, 3.0], dtype=torch.float64)[y]
    torch.testing.assert_close(loss_fn(logit, y, mask=mask),
                               (w * per_frame)[mask].sum() / mask.sum())


def test_masked_frames_change_nothing_whatever_they_hold(batch):
    logits, y, mask = batch
    loss_fn = ClassWeightedLoss(nn.HuberLoss, WEIGHTS)
    scrambled = logits.detach().clone()
    scrambled[~mask.unsqueeze(1).expand_as(scrambled)] = 1e6
    y_scrambled = torch.where(mask, y, torch.zeros_like(y))
    torch.testing.assert_close(loss_fn(logits, y, mask=mask),
                               loss_fn(scrambled, y_scrambled, mask=mask))


@pytest.mark.parametrize("reduction", ["mean", "weighted_mean", "sum"])
def test_an_all_masked_batch_gives_zero_with_a_gradient(batch, reduction):
    logits, y, mask = batch
    loss = ClassWeightedLoss(nn.L1Loss, WEIGHTS, reduction=reduction)(
        logits, y, mask=torch.zeros_like(mask))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_parts_count_valid_frames_for_the_global_batch(batch):
    logits, y, mask = batch
    loss_fn = ClassWeightedLoss(nn.CrossEntropyLoss, WEIGHTS)
    total, normaliser = loss_fn.parts(logits, y, mask=mask)
    assert normaliser.item() == mask.sum().item()
    torch.testing.assert_close(global_batch_loss(loss_fn, logits, y, mask=mask),
                               total / normaliser)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"mask": torch.ones(N, T - 1, dtype=torch.bool)}, ValueError, "mask has shape"),
    ({"mask": torch.ones(N, T)}, TypeError, "mask must be a bool tensor"),
    ({"sample_weight": torch.ones(N, 2)}, ValueError, "per sample .* or per element"),
], ids=["mask-shape", "mask-dtype", "weight-shape"])
def test_bad_masks_and_weights_are_clear_errors(batch, kwargs, error, match):
    logits, y, _ = batch
    with pytest.raises(error, match=match):
        ClassWeightedLoss(nn.CrossEntropyLoss)(logits, y, **kwargs)


def test_logits_and_targets_of_other_frame_counts_are_refused(batch):
    logits, y, _ = batch
    with pytest.raises(ValueError, match="do not match"):
        ClassWeightedLoss(nn.CrossEntropyLoss)(logits, y[:, :-1])


def test_sample_weights_of_a_masked_frame_may_be_anything_valid(batch):
    logits, y, mask = batch
    weights = np.where(mask.numpy(), 1.0, 0.0)
    loss_fn = ClassWeightedLoss(nn.CrossEntropyLoss, WEIGHTS, reduction="weighted_mean")
    torch.testing.assert_close(loss_fn(logits, y, weights, mask=mask),
                               loss_fn(logits, y, mask=mask))
