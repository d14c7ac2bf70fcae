"""Property-based tests of the weighting (hypothesis)."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from sktorchcw import ClassWeightedLoss

CRITERIA = [nn.CrossEntropyLoss, nn.NLLLoss, nn.KLDivLoss, nn.BCEWithLogitsLoss, nn.L1Loss,
            nn.MSELoss, nn.HuberLoss, nn.MultiMarginLoss]


@st.composite
def batches(draw, min_samples=1):
    n_classes = draw(st.integers(2, 5))
    n_samples = draw(st.integers(min_samples, 16))
    finite = st.floats(-4, 4, allow_nan=False, width=64)
    logits = torch.tensor(draw(st.lists(st.lists(finite, min_size=n_classes, max_size=n_classes),
                                        min_size=n_samples, max_size=n_samples)),
                          dtype=torch.float64)
    y = torch.tensor(draw(st.lists(st.integers(0, n_classes - 1), min_size=n_samples,
                                   max_size=n_samples)))
    weights = draw(st.lists(st.floats(0.01, 10, width=64), min_size=n_classes,
                            max_size=n_classes))
    criterion = draw(st.sampled_from(CRITERIA))
    return logits, y, np.array(weights), criterion


SETTINGS = settings(max_examples=60, deadline=None)


@SETTINGS
@given(batches(), st.sampled_from(["mean", "weighted_mean", "sum"]), st.randoms())
def test_permuting_the_batch_keeps_the_loss(batch, reduction, random):
    logits, y, weights, criterion = batch
    loss = ClassWeightedLoss(criterion, weights, reduction=reduction)
    order = list(range(len(y)))
    random.shuffle(order)
    torch.testing.assert_close(loss(logits[order], y[order]), loss(logits, y))


@SETTINGS
@given(batches(), st.floats(0.1, 100, width=64))
def test_scaling_class_weights_scales_mean_and_keeps_weighted_mean(batch, k):
    logits, y, weights, criterion = batch
    for reduction, factor in (("mean", k), ("weighted_mean", 1.0)):
        base = ClassWeightedLoss(criterion, weights, reduction=reduction)(logits, y)
        scaled = ClassWeightedLoss(criterion, weights * k, reduction=reduction)(logits, y)
        torch.testing.assert_close(scaled, base * factor)


@SETTINGS
@given(batches(), st.data())
def test_sample_weight_two_equals_a_duplicated_sample_in_sum(batch, data):
    logits, y, weights, criterion = batch
    i = data.draw(st.integers(0, len(y) - 1))
    loss = ClassWeightedLoss(criterion, weights, reduction="sum")
    sample_weight = torch.ones(len(y), dtype=torch.float64)
    sample_weight[i] = 2.0
    duplicated = loss(torch.cat([logits, logits[i : i + 1]]), torch.cat([y, y[i : i + 1]]))
    torch.testing.assert_close(loss(logits, y, sample_weight), duplicated)


@SETTINGS
@given(batches(min_samples=2), st.sampled_from(["mean", "weighted_mean", "sum"]))
def test_zero_class_weight_removes_that_class_gradient(batch, reduction):
    logits, y, weights, criterion = batch
    silenced = int(y[0])
    weights = weights.copy()
    weights[silenced] = 0.0
    logits = logits.clone().requires_grad_(True)
    ClassWeightedLoss(criterion, weights, reduction=reduction)(logits, y).backward()
    assert torch.all(logits.grad[y == silenced] == 0)
