"""Promises a demanding user found broken: weights after the last step, repeatable splits,
prediction batches and dtypes, list layouts in cross-validation, and rough edges."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from skorch.dataset import ValidSplit
from torch import nn

from sktorchcw import TrainingDivergedError

from helpers import fast_classifier

# -- weights broken by the last optimizer step ---------------------------------------------


def test_weights_broken_by_the_last_step_are_a_divergence_not_a_model(blinks):
    X, y = blinks
    clf = fast_classifier(optimizer=torch.optim.SGD, lr=3e38, loss_reduction="sum",
                          batch_size=1000, max_epochs=1)
    with pytest.raises(TrainingDivergedError, match="weights .* became NaN or infinite in "
                                                    "epoch 1"):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        clf.predict_proba(X)


# -- random state -------------------------------------------------------------------------


def test_a_stratified_valid_split_follows_random_state(blinks):
    X, y = blinks
    params = dict(train_split=ValidSplit(0.2, stratified=True), random_state=3)
    first = fast_classifier(**params).fit(X, y)
    second = fast_classifier(**params).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert first.history_[:, "valid_loss"] == second.history_[:, "valid_loss"]
    assert params["train_split"].random_state is None, "the split given stays untouched"


@pytest.mark.parametrize("random_state", [None, 0])
def test_fit_leaves_numpys_and_torchs_global_random_state_alone(blinks, random_state):
    X, y = blinks
    numpy_state = np.random.get_state()
    torch_state = torch.get_rng_state()
    fast_classifier(random_state=random_state, max_epochs=2,
                    train_split=ValidSplit(0.2, stratified=True)).fit(X, y)
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(numpy_state, after, strict=True))
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_random_state_none_still_gives_different_models(blinks):
    X, y = blinks
    first = fast_classifier(random_state=None, max_epochs=1).fit(X, y)
    second = fast_classifier(random_state=None, max_epochs=1).fit(X, y)
    assert not np.array_equal(first.predict_proba(X), second.predict_proba(X))


# -- prediction -----------------------------------------------------------------------------


class CountBatches:
    def __init__(self, module):
        self.sizes = []
        module.register_forward_hook(lambda _, inputs, output: self.sizes.append(len(output)))


def test_prediction_batch_size_is_chosen_for_throughput_and_changeable_after_fit(blinks):
    X, y = blinks
    clf = fast_classifier(max_epochs=1, batch_size=16).fit(X, y)
    counter = CountBatches(clf.module_)
    auto = clf.predict_proba(X)
    assert counter.sizes == [len(X)], "'auto' takes all 160 small sequences at once"
    counter.sizes.clear()
    clf.set_params(predict_batch_size=50)
    np.testing.assert_allclose(clf.predict_proba(X), auto, atol=1e-6)
    assert counter.sizes == [50, 50, 50, 10]
    counter.sizes.clear()
    clf.set_params(batch_size=7)  # training only: prediction does not follow it
    clf.predict(X)
    assert counter.sizes == [50, 50, 50, 10]


def test_a_bad_prediction_batch_size_is_a_clear_error(blinks):
    X, y = blinks
    clf = fast_classifier(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="predict_batch_size must be a positive integer"):
        clf.set_params(predict_batch_size=0).predict(X)


def test_auto_prediction_batches_respect_the_memory_budget(blinks, monkeypatch):
    import sktorchcw._estimator as estimator_module

    X, y = blinks
    clf = fast_classifier(max_epochs=1).fit(X, y)
    monkeypatch.setattr(estimator_module, "prediction_memory_budget", lambda device: 40_000)
    counter = CountBatches(clf.module_)
    clf.predict_proba(X)
    # (2 features + 2 x 12 hidden) x 4 bytes = 104 bytes a frame: 384 frames, 19 windows
    # of 20 steps
    assert counter.sizes[0] == (40_000 // 104) // 20


def test_probabilities_are_float64_and_log_probabilities_come_from_the_logits(blinks):
    X, y = blinks
    clf = fast_classifier(max_epochs=2).fit(X, y)
    proba = clf.predict_proba(X)
    log_proba = clf.predict_log_proba(X)
    assert proba.dtype == log_proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.exp(log_proba), proba, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


@pytest.mark.parametrize("criterion", [nn.CrossEntropyLoss, nn.BCEWithLogitsLoss],
                         ids=["softmax", "single-logit"])
def test_log_probabilities_stay_finite_where_probabilities_underflow(blinks, criterion):
    X, y = blinks
    clf = fast_classifier(max_epochs=1, criterion=criterion).fit(X, y)
    with torch.no_grad():
        clf.module_.head.weight.mul_(1e4)  # extreme logits, far beyond float64's exp range
        clf.module_.head.bias.mul_(1e4)
    log_proba = clf.predict_log_proba(X)
    assert np.isfinite(log_proba).all()
    assert (clf.predict_proba(X) == 0).any(), "the test needs probabilities that underflow"


# -- lists of lists in cross-validation -----------------------------------------------------


def test_list_of_lists_folds_read_the_same_whatever_rows_they_hold(blinks):
    X, y = blinks
    univariate = X[:, :, 0]
    # The first 80 sequences are all 20 steps long, the others 10 to 19: the first training
    # fold of KFold(2) is rectangular (read as a table), its test fold ragged.
    lengths = np.r_[np.full(80, 20), 10 + np.arange(80) % 10]
    ragged = [row[:length].tolist() for row, length in zip(univariate, lengths, strict=True)]
    scores = cross_val_score(fast_classifier(max_epochs=2), ragged, y, cv=KFold(2),
                             scoring="balanced_accuracy", error_score="raise")
    assert np.isfinite(scores).all()
    table_model = fast_classifier(max_epochs=2).fit(ragged[:80], y[:80])
    assert table_model.input_layout_ == "columns"
    proba = table_model.predict_proba(ragged[80:])
    np.testing.assert_allclose(
        proba[:3], table_model.predict_proba([np.asarray(row) for row in ragged[80:83]]),
        atol=1e-6)


def test_a_table_model_still_refuses_arrays_with_other_columns(three_classes):
    X, y = three_classes
    clf = fast_classifier(max_epochs=1).fit(X.tolist(), y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :5])


# -- rough edges ----------------------------------------------------------------------------


def test_a_criterion_parameter_the_criterion_lacks_is_named(blinks):
    X, y = blinks
    search = GridSearchCV(
        fast_classifier(max_epochs=1, criterion__delta=0.5),
        {"criterion": [nn.HuberLoss, nn.L1Loss]}, cv=2, error_score="raise",
    )
    with pytest.raises(ValueError, match=r"L1Loss does not take the parameter\(s\) "
                                         r"\['criterion__delta'\]"):
        search.fit(X, y)


@pytest.mark.parametrize(
    "labels, match",
    [
        ([None, 1], r"no label at position\(s\) \[0"),
        ([1, "blink"], "mixes label types"),
        (["a", np.nan], "no label at position"),
    ],
    ids=["None", "int-and-str", "NaN"],
)
def test_labels_that_cannot_be_ordered_are_a_clear_error(blinks, labels, match):
    X, y = blinks
    y_bad = np.array([labels[i % 2] for i in range(len(y))], dtype=object)
    with pytest.raises(ValueError, match=match):
        fast_classifier().fit(X, y_bad)


def test_pos_weight_beside_class_weights_is_refused(blinks):
    X, y = blinks
    clf = fast_classifier(criterion=nn.BCEWithLogitsLoss, class_weight="balanced",
                          criterion__pos_weight=torch.tensor(3.0))
    with pytest.raises(ValueError, match="positive class would be weighted twice"):
        clf.fit(X, y)
    alone = fast_classifier(criterion=nn.BCEWithLogitsLoss, max_epochs=1,
                            criterion__pos_weight=torch.tensor(3.0))
    assert alone.fit(X, y).predict(X).shape == y.shape


def test_warnings_point_at_the_callers_line(blinks):
    X, y = blinks
    clf = fast_classifier(max_epochs=1, criterion=nn.L1Loss, weighting="output",
                          class_weight="balanced")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    [warning] = [w for w in caught if "weighting='output'" in str(w.message)]
    assert warning.filename == __file__


def test_unknown_keywords_are_stored_alike_and_refused_at_fit_with_a_suggestion(blinks):
    X, y = blinks
    from_init = fast_classifier(max_epoch=3)
    from_set_params = fast_classifier().set_params(max_epoch=3)
    assert from_init.get_params()["max_epoch"] == from_set_params.get_params()["max_epoch"]
    for clf in (from_init, from_set_params):
        with pytest.raises(ValueError, match="Did you mean 'max_epochs'"):
            clf.fit(X, y)


@pytest.mark.parametrize("labels", [[False, True], ["no", "yes"], [0, 1]],
                         ids=["bool", "str", "int"])
def test_categorical_labels_come_back_as_given(blinks, labels):
    import pandas as pd

    X, y = blinks
    categorical = pd.Categorical(np.asarray(labels)[y])
    clf = fast_classifier(max_epochs=1).fit(X, categorical)
    assert clf.classes_.tolist() == labels
    predicted = clf.predict(X[:3]).tolist()
    assert all(type(label) is type(labels[0]) and label in labels for label in predicted)
