"""The blog's Keras call one to one: validation data, continued training, early stopping
with checkpoints, and Ctrl-C."""

import signal
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.exceptions import NotFittedError
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, cross_validate
from skorch.callbacks import Callback, EarlyStopping
from torch import nn

from sktorchcw._checkpoint import CHECKPOINT_PREFIX

from helpers import CtrlCAt, fast_classifier


def split(blinks, n_valid=40):
    X, y = blinks
    return X[:-n_valid], y[:-n_valid], X[-n_valid:], y[-n_valid:]


def checkpoints_in(folder):
    return sorted(path for path in Path(folder).glob(f"{CHECKPOINT_PREFIX}*")
                  if not path.name.endswith(".partial"))


# -- validation_data -----------------------------------------------------------------------


def test_validation_loss_equals_log_loss_of_the_balanced_model(blinks):
    X, y, X_val, y_val = split(blinks)
    clf = fast_classifier(criterion=nn.CrossEntropyLoss, class_weight="balanced")
    clf.fit(X, y, validation_data=(X_val, y_val))
    last = clf.history_[-1]
    assert last["valid_loss"] == pytest.approx(log_loss(y_val, clf.predict_proba(X_val)),
                                               abs=1e-3)
    assert len(clf.history_[:, "valid_bacc"]) == clf.max_epochs


def test_validation_sample_weights_weigh_the_validation_loss_as_keras_does(blinks):
    X, y, X_val, y_val = split(blinks)
    weights = np.linspace(0.0, 2.0, len(y_val))
    clf = fast_classifier(class_weight={1: 5.0})
    clf.fit(X, y, validation_data=(X_val, y_val, weights))
    proba = clf.predict_proba(X_val)
    per_sample = -np.log(proba[np.arange(len(y_val)), y_val])
    # Keras: sum(s * l) / N, class weights never applied to validation.
    expected = (weights * per_sample).sum() / len(y_val)
    assert clf.history_[-1, "valid_loss"] == pytest.approx(expected, rel=1e-4)


def test_validation_data_in_another_layout_than_the_training_data(blinks):
    X, y, X_val, y_val = split(blinks)
    ragged_val = [sequence[: 12 + i % 8] for i, sequence in enumerate(X_val)]
    clf = fast_classifier(max_epochs=2).fit(X, y, validation_data=(ragged_val, list(y_val)))
    proba = clf.predict_proba(ragged_val)
    assert clf.history_[-1, "valid_loss"] == pytest.approx(log_loss(y_val, proba), rel=1e-4)


def test_validation_data_for_a_dataframe_model(three_classes):
    X, y = three_classes
    frame = pd.DataFrame(X, columns=[f"t{i}" for i in range(X.shape[1])])
    valid = np.arange(len(y)) % 3 == 0
    clf = fast_classifier(max_epochs=2).fit(
        frame[~valid], y[~valid], validation_data=(frame[valid], pd.Series(y[valid])))
    assert clf.history_[-1, "valid_loss"] == pytest.approx(
        log_loss(y[valid], clf.predict_proba(frame[valid])), rel=1e-4)


class CountEpochs(Callback):
    def __init__(self):
        self.epochs = 0

    def on_epoch_end(self, net, **kwargs):
        self.epochs += 1


@pytest.mark.parametrize(
    "validation_data, match",
    [
        (lambda X, y: (X, np.where(y == 1, 2, y)), r"labels \[2\] that are not among"),
        (lambda X, y: (X, y[:-1]), "validation_data: X has 40 samples but y has 39"),
        (lambda X, y: (X[:, :, :1], y), "validation_data: X has 1 features per time step"),
        (lambda X, y: (X, y, -np.ones(len(y))), "validation_data: sample_weight_val: Negative"),
        (lambda X, y: X, "must be a tuple"),
        (lambda X, y: (X, y, None, None), "of length 4"),
    ],
    ids=["unknown-label", "length", "features", "negative-weight", "not-a-tuple", "4-tuple"],
)
def test_bad_validation_data_is_a_value_error_before_training(blinks, validation_data, match):
    X, y, X_val, y_val = split(blinks)
    counter = CountEpochs()
    clf = fast_classifier(callbacks=[("count", counter)])
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y, validation_data=validation_data(X_val, y_val))
    assert not hasattr(clf, "classes_"), "a failed fit leaves the estimator unfitted"


def test_validation_data_and_train_split_together_say_drop_one(blinks):
    X, y, X_val, y_val = split(blinks)
    from skorch.dataset import ValidSplit

    clf = fast_classifier(train_split=ValidSplit(0.2))
    with pytest.raises(ValueError, match="drop one"):
        clf.fit(X, y, validation_data=(X_val, y_val))


def test_validation_data_as_a_fit_parameter_of_grid_search(blinks):
    X, y, X_val, y_val = split(blinks)
    search = GridSearchCV(fast_classifier(max_epochs=2),
                          {"class_weight": [None, "balanced"]}, cv=2)
    search.fit(X, y, validation_data=(X_val, y_val))
    history = search.best_estimator_.history_
    assert history[-1, "valid_loss"] == pytest.approx(
        log_loss(y_val, search.best_estimator_.predict_proba(X_val)), rel=1e-4)


def test_validation_data_through_metadata_routing(blinks):
    X, y, X_val, y_val = split(blinks)
    with sklearn.config_context(enable_metadata_routing=True):
        clf = fast_classifier(max_epochs=2).set_fit_request(validation_data=True)
        result = cross_validate(clf, X, y, cv=2, params={"validation_data": (X_val, y_val)},
                                return_estimator=True)
    for fitted in result["estimator"]:
        assert fitted.history_[-1, "valid_loss"] == pytest.approx(
            log_loss(y_val, fitted.predict_proba(X_val)), rel=1e-4)


# -- continuing training -------------------------------------------------------------------


def test_partial_fit_epochs_equal_one_longer_fit(blinks):
    X, y = blinks
    reference = fast_classifier(max_epochs=3, dropout=0.2).fit(X, y)
    stepwise = fast_classifier(max_epochs=1, dropout=0.2).fit(X, y)
    stepwise.partial_fit(X, y).partial_fit(X, y)
    assert [row["epoch"] for row in stepwise.history_] == [1, 2, 3]
    np.testing.assert_allclose(stepwise.predict_proba(X), reference.predict_proba(X), atol=1e-6)


def test_warm_start_continues_for_max_epochs_more(blinks):
    X, y = blinks
    reference = fast_classifier(max_epochs=4).fit(X, y)
    warm = fast_classifier(max_epochs=2, warm_start=True).fit(X, y).fit(X, y)
    assert len(warm.history_) == 4
    np.testing.assert_allclose(warm.predict_proba(X), reference.predict_proba(X), atol=1e-6)


def test_without_warm_start_fit_starts_afresh(blinks):
    X, y = blinks
    once = fast_classifier(max_epochs=2).fit(X, y)
    twice = fast_classifier(max_epochs=2).fit(X, y).fit(X, y)
    assert len(twice.history_) == 2
    np.testing.assert_array_equal(twice.predict_proba(X), once.predict_proba(X))


def test_continued_training_keeps_the_class_weights_unless_class_weight_changed(blinks):
    X, y = blinks
    clf = fast_classifier(max_epochs=1, class_weight="balanced", warm_start=True).fit(X, y)
    first = clf.class_weight_.copy()
    rare_dropped = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:5]])
    clf.fit(X[rare_dropped], y[rare_dropped])
    np.testing.assert_array_equal(clf.class_weight_, first)
    clf.partial_fit(X[rare_dropped], y[rare_dropped])
    np.testing.assert_array_equal(clf.class_weight_, first)
    clf.set_params(class_weight={1: 7.0}).partial_fit(X, y)
    np.testing.assert_array_equal(clf.class_weight_, [1.0, 7.0])


def test_partial_fit_takes_every_class_on_the_first_call(blinks):
    X, y = blinks
    only_zeros = y == 0
    clf = fast_classifier().partial_fit(X[only_zeros], y[only_zeros], classes=[0, 1])
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    clf.partial_fit(X, y)
    assert len(clf.history_) == 2
    with pytest.raises(ValueError, match="differs from the classes"):
        clf.partial_fit(X, y, classes=[0, 1, 2])


def test_continued_fit_with_a_new_label_fails_and_keeps_the_model(blinks):
    X, y = blinks
    clf = fast_classifier(max_epochs=2).fit(X, y)
    before = clf.predict_proba(X)
    with pytest.raises(ValueError, match=r"labels \[2\] that are not among the classes"):
        clf.partial_fit(X, np.where(y == 1, 2, y))
    assert len(clf.history_) == 2
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_warm_start_with_another_network_shape_says_so_and_keeps_the_model(blinks):
    X, y = blinks
    clf = fast_classifier(max_epochs=2, warm_start=True).fit(X, y)
    before = clf.predict_proba(X)
    with pytest.raises(ValueError, match="shape changed"):
        clf.set_params(hidden_size=5).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_warm_start_takes_the_current_learning_rate(blinks):
    X, y = blinks
    clf = fast_classifier(max_epochs=1, warm_start=True).fit(X, y)
    clf.set_params(lr=0.001).fit(X, y)
    assert clf.net_.optimizer_.param_groups[0]["lr"] == 0.001
    assert clf.net_.optimizer_.state, "Adam's moments were carried over"


# -- early stopping and checkpoints --------------------------------------------------------


@pytest.mark.parametrize("load_best", [False, True])
def test_early_stopping_with_checkpoints_is_a_normal_end(blinks, tmp_path, load_best):
    X, y, X_val, y_val = split(blinks)
    stopper = EarlyStopping(monitor="valid_bacc", lower_is_better=False, patience=2,
                            load_best=load_best, sink=lambda message: None)
    params = dict(max_epochs=60, checkpoint_dir=tmp_path, callbacks=[stopper])
    models = []
    for _ in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "interrupted" warning, no warning at all
            clf = fast_classifier(**params).fit(X, y, validation_data=(X_val, y_val))
        assert len(clf.history_) < 60
        assert not checkpoints_in(tmp_path), "the checkpoint is deleted at a normal end"
        models.append(clf)
    for other in models[1:]:
        assert len(other.history_) == len(models[0].history_)
        np.testing.assert_array_equal(other.predict_proba(X), models[0].predict_proba(X))


@pytest.mark.parametrize(
    "callback",
    [EarlyStopping(), EarlyStopping(monitor="valid_bacc", lower_is_better=False)],
    ids=["valid_loss", "valid_bacc"],
)
def test_early_stopping_without_a_validation_set_names_both_ways_to_give_one(blinks,
                                                                             callback):
    X, y = blinks
    with pytest.raises(ValueError, match="validation_data.*train_split"):
        fast_classifier(callbacks=[callback]).fit(X, y)


# -- Ctrl-C ---------------------------------------------------------------------------------


def test_ctrl_c_restores_the_last_epoch_and_propagates(blinks, tmp_path):
    X, y = blinks
    clf = fast_classifier(max_epochs=6, checkpoint_dir=tmp_path, callbacks=[CtrlCAt(3, 2)])
    with pytest.raises(KeyboardInterrupt, match="interrupted after 2 of 6 epochs"):
        clf.fit(X, y)
    assert [row["epoch"] for row in clf.history_] == [1, 2]
    two_epochs = fast_classifier(max_epochs=2).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), two_epochs.predict_proba(X))
    assert len(checkpoints_in(tmp_path)) == 1, "kept for resuming"


def test_ctrl_c_at_the_end_of_an_epoch_is_not_taken_for_a_callback_stop(blinks):
    X, y = blinks
    with pytest.raises(KeyboardInterrupt, match="after 3 of 5"):
        fast_classifier(max_epochs=5, callbacks=[CtrlCAt(3)]).fit(X, y)


def test_ctrl_c_in_the_first_epoch_leaves_the_estimator_unfitted(blinks):
    X, y = blinks
    clf = fast_classifier(max_epochs=4, callbacks=[CtrlCAt(1, 2)])
    with pytest.raises(KeyboardInterrupt, match="no epoch finished"):
        clf.fit(X, y)
    assert not [name for name in vars(clf) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_ctrl_c_stops_a_grid_search(blinks):
    X, y = blinks
    search = GridSearchCV(fast_classifier(max_epochs=3, callbacks=[CtrlCAt(2, 1)]),
                          {"class_weight": [None, "balanced"]}, cv=2)
    with pytest.raises(KeyboardInterrupt):
        search.fit(X, y)


def test_a_callback_that_stops_training_ends_it_normally(blinks):
    class StopAfter(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                raise KeyboardInterrupt  # skorch's way for a callback to end training

    X, y = blinks
    clf = fast_classifier(max_epochs=5, callbacks=[StopAfter()]).fit(X, y)
    assert len(clf.history_) == 2


def test_ctrl_c_leaves_torch_and_numpy_global_state_and_the_sigint_handler(blinks):
    X, y = blinks
    handler = signal.getsignal(signal.SIGINT)
    torch_state = torch.get_rng_state()
    with pytest.raises(KeyboardInterrupt):
        fast_classifier(callbacks=[CtrlCAt(1, 1)]).fit(X, y)
    assert signal.getsignal(signal.SIGINT) is handler
    assert torch.equal(torch.get_rng_state(), torch_state)
