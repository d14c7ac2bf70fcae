"""sktorchcw.skorch: skorch's classifiers with class weights, for any module and input."""

import pickle

import numpy as np
import pandas as pd
import pytest
import skorch
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from torch import nn

from sktorchcw import ClassWeightedLoss
from sktorchcw.skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

QUIET = {"max_epochs": 3, "verbose": 0, "train_split": None, "lr": 0.1,
         "iterator_train__shuffle": True}


class MLP(nn.Module):
    def __init__(self, n_in=6, n_out=2, softmax=False):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_in, 16), nn.ReLU(), nn.Linear(16, n_out))
        self.softmax = softmax

    def forward(self, X):
        out = self.layers(X)
        return torch.softmax(out, dim=-1) if self.softmax else out


class SmallCNN(nn.Module):
    def __init__(self, n_out=2):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.head = nn.Linear(4 * 8 * 8, n_out)

    def forward(self, X):
        return self.head(torch.relu(self.conv(X)).flatten(1))


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 2), nn.Linear(2, 2)

    def forward(self, left, right):
        return self.a(left) + self.b(right)


@pytest.fixture(scope="module")
def tabular():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype("float32")
    y = (X[:, 0] + 0.3 * rng.normal(size=300) > 1.0).astype(np.int64)  # ~16 % positives
    return X, y


def _fit(net_class, X, y, seed=0, **params):
    fit_params = params.pop("fit", {})
    torch.manual_seed(seed)
    return net_class(**{**QUIET, **params}).fit(X, y, **fit_params)


def test_unweighted_equals_skorch_for_the_same_seed(tabular):
    X, y = tabular
    for criterion, softmax in [(nn.NLLLoss, True), (nn.CrossEntropyLoss, False)]:
        ours = _fit(NeuralNetClassifier, X, y, module=MLP, module__softmax=softmax,
                    criterion=criterion)
        theirs = _fit(skorch.NeuralNetClassifier, X, y, module=MLP, module__softmax=softmax,
                      criterion=criterion)
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
        assert ours.history[-1, "train_loss"] == pytest.approx(theirs.history[-1, "train_loss"],
                                                                 rel=1e-5)


def test_all_ones_sample_weight_is_the_unweighted_model(tabular):
    X, y = tabular
    plain = _fit(NeuralNetClassifier, X, y, module=MLP, criterion=nn.CrossEntropyLoss)
    torch.manual_seed(0)
    ones = NeuralNetClassifier(module=MLP, criterion=nn.CrossEntropyLoss, **QUIET)
    ones.fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_allclose(ones.predict_proba(X), plain.predict_proba(X), atol=1e-5)


def test_sample_weights_are_batched_with_their_samples(tabular):
    X, y = tabular
    # Weight 0 on every positive sample: the model never sees one, as with class weight 0.
    weights = np.where(y == 1, 0.0, 1.0)
    by_sample = _fit(NeuralNetClassifier, X, y, module=MLP, criterion=nn.CrossEntropyLoss,
                     fit={"sample_weight": weights})
    by_class = _fit(NeuralNetClassifier, X, y, module=MLP, criterion=nn.CrossEntropyLoss,
                    class_weight={0: 1.0, 1: 0.0})
    np.testing.assert_allclose(by_sample.predict_proba(X), by_class.predict_proba(X), atol=1e-5)


def test_balanced_class_weight_and_labels_of_any_type(tabular):
    X, y = tabular
    labels = np.where(y == 1, "blink", "open")
    net = _fit(NeuralNetClassifier, X, labels, module=MLP, criterion=nn.L1Loss,
               class_weight="balanced")
    counts = np.array([(labels == c).sum() for c in ["blink", "open"]])
    np.testing.assert_allclose(net.class_weight_, len(y) / (2 * counts))
    assert set(net.predict(X)) <= {"blink", "open"}
    assert isinstance(net.criterion_, ClassWeightedLoss)
    np.testing.assert_allclose(net.predict_proba(X).sum(axis=1), 1, rtol=1e-5)
    mapped = _fit(NeuralNetClassifier, X, labels, module=MLP, criterion=nn.L1Loss,
                  class_weight={"blink": 4.0})
    np.testing.assert_array_equal(mapped.class_weight_, [4.0, 1.0])


def test_class_weights_move_predictions_towards_the_rare_class(tabular):
    X, _ = tabular
    y = (np.random.default_rng(3).random(len(X)) < 0.2).astype(int)  # labels without signal
    params = {"module": MLP, "criterion": nn.MSELoss, "max_epochs": 40, "lr": 0.05}
    plain = _fit(NeuralNetClassifier, X, y, **params)
    weighted = _fit(NeuralNetClassifier, X, y, class_weight={0: 1.0, 1: 16.0}, **params)
    assert plain.predict_proba(X)[:, 1].mean() < 0.4
    assert weighted.predict_proba(X)[:, 1].mean() > 0.6
    corrected = clone(weighted).set_params(prior_correction=True)
    torch.manual_seed(0)
    corrected.fit(X, y)
    raw = weighted.predict_proba(X) / np.array([1.0, 16.0])
    np.testing.assert_allclose(corrected.predict_proba(X), raw / raw.sum(axis=1, keepdims=True),
                               atol=1e-6)


def test_validation_loss_never_class_weighted(tabular):
    X, y = tabular
    net = _fit(NeuralNetClassifier, X, y, module=MLP, criterion=nn.CrossEntropyLoss,
               class_weight={0: 1.0, 1: 50.0})
    logits = net.forward(X)
    target = torch.as_tensor(y)
    valid = net.get_loss(logits, target, X=X, training=False)
    assert float(valid) == pytest.approx(float(nn.functional.cross_entropy(logits, target)),
                                         rel=1e-6)
    train = net.get_loss(logits, target, X=X, training=True)
    assert float(train) > float(valid)


def test_balanced_sampling_draws_classes_evenly(tabular):
    X, y = tabular
    net = _fit(NeuralNetClassifier, X, y, module=MLP, criterion=nn.CrossEntropyLoss,
               sampling="balanced", max_epochs=1)
    torch.manual_seed(1)
    drawn = torch.cat([batch[1] for batch in net.get_iterator(net.get_dataset(X, y),
                                                                training=True)])
    assert len(drawn) == len(y)
    assert 0.4 < float(drawn.float().mean()) < 0.6  # positives are ~16 % of the data


def test_images_dicts_and_dataframes(tabular):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(64, 1, 8, 8)).astype("float32")
    labels = rng.integers(0, 3, 64)
    net = _fit(NeuralNetClassifier, images, labels, module=SmallCNN, module__n_out=3,
               criterion=nn.CrossEntropyLoss, class_weight="balanced",
               fit={"sample_weight": rng.random(64)})
    assert net.predict_proba(images).shape == (64, 3)
    X = {"left": rng.normal(size=(64, 3)).astype("float32"),
         "right": rng.normal(size=(64, 2)).astype("float32")}
    y = rng.integers(0, 2, 64)
    dict_net = _fit(NeuralNetClassifier, X, y, module=TwoInputs, criterion=nn.CrossEntropyLoss,
                    class_weight="balanced", fit={"sample_weight": np.ones(64)})
    assert dict_net.predict(X).shape == (64,)
    frame = pd.DataFrame({"a": rng.normal(size=64).astype("float32"),
                          "b": rng.normal(size=64).astype("float32")})

    class Columns(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 2)

        def forward(self, a, b):
            return self.linear(torch.cat([a, b], dim=1))

    frame_net = _fit(NeuralNetClassifier, frame, y, module=Columns,
                     criterion=nn.CrossEntropyLoss, fit={"sample_weight": np.ones(64)})
    assert frame_net.predict(frame).shape == (64,)


def test_binary_classifier_with_string_labels(tabular):
    X, y = tabular
    labels = np.where(y == 1, "yes", "no")
    net = _fit(NeuralNetBinaryClassifier, X, labels, module=MLP, module__n_out=1,
               class_weight="balanced", fit={"sample_weight": np.ones(len(y))})
    assert list(net.classes_) == ["no", "yes"]
    assert set(net.predict(X)) <= {"no", "yes"}
    with pytest.raises(ValueError, match="exactly two classes"):
        _fit(NeuralNetBinaryClassifier, X, np.arange(len(X)) % 3, module=MLP,
             module__n_out=1)


def test_scikit_learn_workflows(tabular):
    X, y = tabular
    net = NeuralNetClassifier(MLP, criterion=nn.CrossEntropyLoss, **QUIET)
    search = GridSearchCV(net, {"class_weight": [None, "balanced"]}, cv=2,
                          scoring="balanced_accuracy").fit(X, y)
    assert search.best_params_["class_weight"] in (None, "balanced")
    assert cross_val_score(clone(net), X, y, cv=3).shape == (3,)
    torch.manual_seed(0)
    fitted = clone(net).set_params(class_weight="balanced").fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    assert restored.get_params()["class_weight"] == "balanced"


def test_default_skorch_validation_reports_label_accuracy(tabular):
    X, y = tabular
    labels = np.where(y == 1, "blink", "open")
    torch.manual_seed(0)
    net = NeuralNetClassifier(MLP, criterion=nn.CrossEntropyLoss, max_epochs=2, verbose=0,
                              class_weight="balanced").fit(X, labels)
    assert 0.0 < net.history[-1, "valid_acc"] <= 1.0
    assert "valid_loss" in net.history[-1]


def test_bad_input_is_refused_before_training(tabular):
    X, y = tabular
    net = NeuralNetClassifier(MLP, criterion=nn.CrossEntropyLoss, **QUIET)
    with pytest.raises(ValueError, match=r"one weight per sample, shape \(300,\)"):
        net.fit(X, y, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="non-negative"):
        net.fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="sampling must be None or 'balanced'"):
        clone(net).set_params(sampling="oversample").fit(X, y)
    net.partial_fit(X, y)
    with pytest.raises(ValueError, match=r"not among the classes"):
        net.partial_fit(X, y + 5)


def test_prior_correction_divides_out_the_criterions_pos_weight(tabular):
    X, y = tabular
    net = _fit(NeuralNetBinaryClassifier, X, y, module=MLP, module__n_out=1,
               criterion=nn.BCEWithLogitsLoss, criterion__pos_weight=torch.tensor([4.0]),
               prior_correction=True)
    np.testing.assert_allclose(net.training_weight_, [1.0, 4.0])
    raw = clone(net).set_params(prior_correction=False)
    torch.manual_seed(0)
    raw.fit(X, y)
    expected = raw.predict_proba(X) / np.array([1.0, 4.0])
    np.testing.assert_allclose(net.predict_proba(X), expected / expected.sum(axis=1, keepdims=True),
                               atol=1e-6)
    with pytest.raises(ValueError, match="carries its own weight"):
        _fit(NeuralNetClassifier, X, y, module=MLP, criterion=nn.CrossEntropyLoss,
             criterion__weight=torch.tensor([1.0, 2.0]), prior_correction=True)
