"""sktorchcw.skorch: the user's labels wherever a user sees them (issue 27, section 2)."""

import numpy as np
import pytest
import skorch
import torch
from sklearn.metrics import f1_score, make_scorer
from sklearn.utils.class_weight import compute_class_weight
from skorch.callbacks import EpochScoring
from skorch.dataset import Dataset, ValidSplit
from skorch.helper import predefined_split
from torch import nn

from sktorchcw.skorch import NeuralNetBinaryClassifier, NeuralNetClassifier


class Linear(nn.Module):
    def __init__(self, n_in=4, n_out=2):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, X):
        return self.linear(X)


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype("float32")
    return X, X[:, 0] > 0.6  # about a quarter positive, learnable from feature 0


def _net(net_class=NeuralNetClassifier, **params):
    defaults = {"module": Linear, "criterion": nn.CrossEntropyLoss, "max_epochs": 8,
                "lr": 0.5, "verbose": 0}
    torch.manual_seed(0)
    return net_class(**{**defaults, **params})


def test_a_scoring_callback_sees_the_labels_not_class_codes():
    X, positive = _data()
    y = np.where(positive, 7, 3)
    net = _net(callbacks=[("mine", EpochScoring("accuracy", name="my_acc",
                                                lower_is_better=False))]).fit(X, y)
    history = net.history[-1]
    assert history["my_acc"] == pytest.approx(history["valid_acc"])
    assert history["my_acc"] > 0.6  # labels 3/7 compared with predictions 3/7


def test_string_labels_with_a_pos_label_scorer():
    X, positive = _data()
    y = np.where(positive, "blink", "open")
    scorer = make_scorer(f1_score, pos_label="blink")
    net = _net(class_weight="balanced",
               callbacks=[("f1", EpochScoring(scorer, name="valid_f1",
                                              lower_is_better=False))]).fit(X, y)
    assert net.history[-1, "valid_f1"] > 0.5
    assert set(net.predict(X)) <= {"blink", "open"}


def test_integer_labels_with_a_gap_train_their_own_output_column():
    X, positive = _data()
    y = np.where(positive, 2, 0)
    net = _net(module__n_out=3, train_split=None, max_epochs=20).fit(X, y)
    proba = net.predict_proba(X)
    assert proba.shape == (len(X), 3)
    assert proba[positive, 2].mean() > 0.6  # label 2 trained output 2, as in skorch
    assert proba[:, 1].mean() < 0.1  # output 1 names no class: it is pushed down
    assert set(net.predict(X)) <= {0, 2}
    theirs = _net(skorch.NeuralNetClassifier, module__n_out=3, train_split=None,
                  max_epochs=20).fit(X, y)
    np.testing.assert_allclose(proba, theirs.predict_proba(X), atol=1e-5)


def test_class_weights_of_gap_labels_go_to_their_columns():
    X, positive = _data()
    y = np.where(positive, 2, 0)
    net = _net(module__n_out=3, train_split=None, class_weight={2: 5.0}).fit(X, y)
    np.testing.assert_array_equal(net.criterion_.weight.numpy(), [1.0, 1.0, 5.0])


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_classes_in_any_order(method):
    X, positive = _data()
    y = np.where(positive, "a", "b")
    net = _net(train_split=None, max_epochs=15)
    if method == "fit":
        net.set_params(classes=["b", "a"]).fit(X, y)
    else:
        for _ in range(15):
            net.partial_fit(X, y, classes=["b", "a"])
    assert list(net.classes_) == ["b", "a"]
    proba = net.predict_proba(X)
    assert proba[positive, 1].mean() > 0.6  # column 1 is 'a', as classes says
    np.testing.assert_array_equal(net.predict(X), np.array(["b", "a"])[proba.argmax(axis=1)])


@pytest.mark.parametrize("labels", [(1, 2), ("no", "yes")])
def test_predefined_split_with_labels_of_any_type(labels):
    X, positive = _data()
    y = np.where(positive, labels[1], labels[0])
    valid = Dataset(X[:60], y[:60])
    net = _net(module__n_out=3 if labels == (1, 2) else 2,
               train_split=predefined_split(valid)).fit(X[60:], y[60:])
    assert np.isfinite(net.history[-1, "valid_loss"])
    assert net.history[-1, "valid_acc"] > 0.6


def test_binary_classifier_trains_on_soft_targets_as_skorch_does():
    X, positive = _data()
    soft = np.clip(positive + np.random.default_rng(1).normal(0, 0.1, len(X)), 0, 1)
    soft = soft.astype("float32")
    params = {"module__n_out": 1, "criterion": nn.BCEWithLogitsLoss, "train_split": None}
    ours = _net(NeuralNetBinaryClassifier, **params).fit(X, soft)
    theirs = _net(skorch.NeuralNetBinaryClassifier, **params).fit(X, soft)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)
    predicted = ours.predict(X)
    assert predicted.dtype == np.uint8 and set(predicted) <= {0, 1}
    np.testing.assert_array_equal(predicted, theirs.predict(X))


def test_binary_soft_targets_refuse_class_weight():
    X, positive = _data()
    soft = np.where(positive, 0.9, 0.2).astype("float32")
    with pytest.raises(ValueError, match="soft targets"):
        _net(NeuralNetBinaryClassifier, module__n_out=1, class_weight="balanced").fit(X, soft)


def test_balanced_counts_the_training_part_only():
    X, positive = _data()
    y = np.where(positive, "blink", "open")
    split = ValidSplit(4, stratified=False)
    net = _net(class_weight="balanced", train_split=split, max_epochs=1).fit(X, y)
    train, _ = split(Dataset(X, y), y)
    expected = compute_class_weight("balanced", classes=np.array(["blink", "open"]),
                                    y=y[train.indices])
    np.testing.assert_allclose(net.class_weight_, expected)
    assert not np.allclose(expected, compute_class_weight(
        "balanced", classes=np.array(["blink", "open"]), y=y))  # the split matters here


def test_a_fold_without_a_weighted_label_still_scores():
    from sklearn.model_selection import KFold, cross_val_score

    X, _ = _data(60)
    y = np.zeros(60, dtype=int)
    y[:6], y[30:40] = 2, 1  # the first fold's training part has no label 2
    net = _net(module__n_out=3, train_split=None, max_epochs=2,
               class_weight={0: 1.0, 1: 3.0, 2: 10.0})
    scores = cross_val_score(net, X, y, cv=KFold(10), error_score="raise")
    assert np.isfinite(scores).all()
    first = _net(module__n_out=3, train_split=None, max_epochs=1,
                 class_weight={0: 1.0, 1: 3.0, 2: 10.0}).fit(X[6:], y[6:])
    np.testing.assert_array_equal(first.class_weight_, [1.0, 3.0])
    with pytest.raises(ValueError, match="not a class"):
        _net(class_weight={5: 2.0}).fit(X, y)


@pytest.mark.parametrize("class_weight", [None, "balanced"])
@pytest.mark.parametrize("criterion", [nn.CrossEntropyLoss, nn.L1Loss])
def test_skorchs_restore_pattern(tmp_path, class_weight, criterion):
    X, positive = _data()
    y = np.where(positive, "blink", "open")
    params = {"criterion": criterion, "class_weight": class_weight,
              "classes": ["open", "blink"]}
    net = _net(**params).fit(X, y)
    files = {name: tmp_path / name for name in ("f_params", "f_optimizer", "f_criterion",
                                                "f_history")}
    net.save_params(**files)
    restored = _net(**params).initialize()
    restored.load_params(**files)
    np.testing.assert_array_equal(restored.predict_proba(X), net.predict_proba(X))
    np.testing.assert_array_equal(restored.predict(X), net.predict(X))
    assert set(restored.predict(X)) <= {"open", "blink"}
    restored.partial_fit(X, y)  # and it trains on
