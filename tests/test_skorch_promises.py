"""sktorchcw.skorch: what skorch users rely on beyond skorch's own tests (issue 27,
section 3): sparse X with sample weights, criterion__weight, NaN losses, saved nets."""

import warnings

import numpy as np
import pytest
import skorch
import torch
from scipy import sparse
from torch import nn

from sktorchcw import DivergenceWarning, TrainingDivergedError
from sktorchcw.skorch import NeuralNetClassifier


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype("float32")
    return X, (X[:, 0] > 0.6).astype(np.int64)


def _net(net_class=NeuralNetClassifier, **params):
    defaults = {"module": nn.Linear, "module__in_features": 4, "module__out_features": 2,
                "criterion": nn.CrossEntropyLoss, "max_epochs": 3, "lr": 0.2, "verbose": 0,
                "train_split": None}
    torch.manual_seed(0)
    return net_class(**{**defaults, **params})


def test_sparse_X_with_sample_weight():
    X, y = _data()
    X_sparse = sparse.csr_matrix(X)
    weights = np.where(y == 1, 3.0, 1.0)
    dense = _net().fit(X, y, sample_weight=weights)
    ours = _net().fit(X_sparse, y, sample_weight=weights)
    np.testing.assert_allclose(ours.predict_proba(X_sparse), dense.predict_proba(X),
                               atol=1e-6)
    unweighted = _net().fit(X_sparse, y)
    np.testing.assert_allclose(_net().fit(X_sparse, y, sample_weight=np.ones(len(y)))
                               .predict_proba(X_sparse), unweighted.predict_proba(X_sparse),
                               atol=1e-6)


def test_criterion_weight_reaches_the_criterion_as_in_skorch():
    X, y = _data()
    weight = torch.tensor([1.0, 4.0])
    ours = _net(criterion__weight=weight).fit(X, y)
    theirs = _net(skorch.NeuralNetClassifier, criterion__weight=weight).fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)
    torch.testing.assert_close(ours.criterion_.weight, weight)


def test_criterion_weight_and_class_weight_multiply():
    X, y = _data()
    net = _net(criterion__weight=torch.tensor([1.0, 2.0]), class_weight={1: 3.0}).fit(X, y)
    logits, target = net.forward(X), torch.as_tensor(y)
    per_sample = nn.functional.cross_entropy(logits, target, reduction="none")
    expected = (torch.tensor([1.0, 6.0])[target] * per_sample).mean()
    assert net.get_loss(logits, target, X=X, training=True).item() == pytest.approx(
        expected.item(), rel=1e-6)


def test_a_nan_loss_warns_once_and_trains_on_as_skorch_does():
    # nn.Linear returns logits where skorch's default NLLLoss wants probabilities: the log
    # of a negative output is NaN, with skorch's classes too.
    X, y = _data()
    net = _net(criterion=nn.NLLLoss, batch_size=30)
    with pytest.warns(DivergenceWarning, match="Training goes on") as caught:
        net.fit(X, y)
    assert sum(issubclass(w.category, DivergenceWarning) for w in caught) == 1
    assert len(net.history) == 3 and np.isnan(net.history[-1, "train_loss"])


def test_on_divergence_raise_and_ignore():
    X, y = _data()
    with pytest.raises(TrainingDivergedError, match="epoch 1, batch 1"):
        _net(criterion=nn.NLLLoss, on_divergence="raise").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)
        _net(criterion=nn.NLLLoss, on_divergence="ignore").fit(X, y)
    with pytest.raises(ValueError, match="on_divergence must be"):
        _net(on_divergence="stop").fit(X, y)
