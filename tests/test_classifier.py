"""LSTMBlinkClassifier: fitted attributes, layouts, weighting, routing, reproducibility."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score
from sklearn.utils.class_weight import compute_class_weight
from skorch.callbacks import Callback, EarlyStopping
from torch import nn
from torch.utils.data import DataLoader, Subset

from helpers import fast_classifier


def test_fitted_attributes_on_3d_blinks(blinks):
    X, y = blinks
    clf = fast_classifier(class_weight="balanced").fit(X, y)
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    assert clf.n_features_in_ == 2
    assert clf.input_layout_ == "sequences"
    assert not hasattr(clf, "feature_names_in_")
    np.testing.assert_allclose(clf.class_weight_, compute_class_weight("balanced",
                                                                       classes=np.array([0, 1]),
                                                                       y=y))
    assert clf.device_ == "cpu"
    assert len(clf.history_) == clf.max_epochs
    assert isinstance(clf.module_, nn.Module)


def test_it_learns_the_blinks(blinks):
    X, y = blinks
    clf = fast_classifier(class_weight="balanced", max_epochs=15).fit(X[:120], y[:120])
    assert balanced_accuracy_score(y[120:], clf.predict(X[120:])) > 0.8


@pytest.mark.parametrize(
    "labels", [["no", "yes"], [False, True], [1, 2], [-1, 7]], ids=["str", "bool", "1-2", "-1-7"]
)
def test_any_labels_come_back_as_given(blinks, labels):
    X, y = blinks
    y_labels = np.asarray(labels)[y]
    clf = fast_classifier(class_weight={labels[1]: 3.0}).fit(X, y_labels)
    np.testing.assert_array_equal(clf.classes_, np.unique(y_labels))
    np.testing.assert_allclose(clf.class_weight_, [1.0, 3.0])
    predicted = clf.predict(X)
    assert predicted.dtype == y_labels.dtype
    assert set(predicted) <= set(labels)


def test_predict_proba_columns_follow_classes(three_classes):
    X, y = three_classes
    clf = fast_classifier(max_epochs=15).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    # Each class's own column is the highest, on average, for its samples.
    for column, label in enumerate(clf.classes_):
        mean_proba = proba[y == label].mean(axis=0)
        assert np.argmax(mean_proba) == column
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, y) == np.mean(clf.predict(X) == y)


def test_2d_input_is_univariate_sequences(three_classes):
    X, y = three_classes
    clf = fast_classifier(max_epochs=2).fit(X, y)
    assert clf.input_layout_ == "columns"
    assert clf.n_features_in_ == X.shape[1]
    assert clf.module_.lstm.input_size == 1
    np.testing.assert_allclose(clf.predict_proba(X), clf.predict_proba(X.tolist()))


def test_dataframe_rows_are_sequences_with_feature_names(three_classes):
    X, y = three_classes
    frame = pd.DataFrame(X, columns=[f"t{i}" for i in range(X.shape[1])])
    clf = fast_classifier(max_epochs=2).fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = clf.predict_proba(X)
    np.testing.assert_allclose(clf.predict_proba(frame), from_array)
    assert not hasattr(fast_classifier(max_epochs=1).fit(pd.DataFrame(X), y),
                       "feature_names_in_")


def test_3d_model_accepts_other_lengths(blinks):
    X, y = blinks
    clf = fast_classifier(max_epochs=2).fit(X, y)
    assert clf.predict_proba(X[:, :12]).shape == (len(X), 2)


def test_univariate_3d_model_accepts_2d(three_classes):
    X, y = three_classes
    clf = fast_classifier(max_epochs=2).fit(X[:, :, None], y)
    np.testing.assert_allclose(clf.predict_proba(X), clf.predict_proba(X[:, :, None]))


def test_sample_weight_multiplies_class_weight(blinks):
    X, y = blinks
    rng = np.random.RandomState(1)
    sample_weight = rng.uniform(0.5, 2.0, size=len(y))
    both = fast_classifier(class_weight={1: 3.0}, max_epochs=3).fit(
        X, y, sample_weight=sample_weight
    )
    folded = fast_classifier(max_epochs=3).fit(
        X, y, sample_weight=sample_weight * np.where(y == 1, 3.0, 1.0)
    )
    # float32: w * s and the folded weight round differently, by a few 1e-7 per batch
    np.testing.assert_allclose(both.predict_proba(X), folded.predict_proba(X), atol=1e-5)
    plain = fast_classifier(max_epochs=3).fit(X, y)
    assert not np.allclose(both.predict_proba(X), plain.predict_proba(X), atol=1e-3)


def test_balanced_weights_come_from_the_y_given_to_fit(blinks):
    X, y = blinks
    subset = np.r_[np.flatnonzero(y == 0)[:90], np.flatnonzero(y == 1)[:10]]
    clf = fast_classifier(class_weight="balanced", max_epochs=1).fit(X[subset], y[subset])
    np.testing.assert_allclose(clf.class_weight_, [100 / (2 * 90), 100 / (2 * 10)])


def test_same_random_state_same_model_and_global_rng_untouched(blinks):
    X, y = blinks
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    first = fast_classifier(dropout=0.3, max_epochs=3, random_state=7).fit(X, y)
    second = fast_classifier(dropout=0.3, max_epochs=3, random_state=7).fit(X, y)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    other = fast_classifier(dropout=0.3, max_epochs=3, random_state=8).fit(X, y)
    assert not np.array_equal(first.predict_proba(X), other.predict_proba(X))


def _fixed_split(n_valid):
    def split(dataset, y=None, **fit_params):
        n_samples = len(dataset)
        return (Subset(dataset, range(n_samples - n_valid)),
                Subset(dataset, range(n_samples - n_valid, n_samples)))
    return split


def test_validation_loss_is_unweighted_and_balanced_accuracy_is_recorded(blinks):
    X, y = blinks
    clf = fast_classifier(class_weight={1: 10.0}, train_split=_fixed_split(40)).fit(X, y)
    X_valid, y_valid = X[-40:], y[-40:]
    proba = clf.predict_proba(X_valid)
    unweighted_cross_entropy = -np.log(proba[np.arange(40), y_valid]).mean()
    last = clf.history_[-1]
    assert last["valid_loss"] == pytest.approx(unweighted_cross_entropy, rel=1e-4)
    assert last["valid_bacc"] == pytest.approx(
        balanced_accuracy_score(y_valid, clf.predict(X_valid))
    )


def test_early_stopping_on_validation_balanced_accuracy(blinks):
    X, y = blinks
    stopper = EarlyStopping(monitor="valid_bacc", lower_is_better=False, patience=2)
    clf = fast_classifier(
        max_epochs=60, train_split=_fixed_split(40), callbacks=[stopper]
    ).fit(X, y)
    assert len(clf.history_) < 60
    assert not hasattr(stopper, "best_score_"), "the callback given must stay untouched"


@pytest.mark.parametrize(
    "params, n_outputs",
    [
        (dict(criterion=nn.BCEWithLogitsLoss), 1),
        (dict(criterion=nn.BCELoss()), 1),
        (dict(criterion=nn.L1Loss), 2),
        pytest.param(dict(criterion=nn.L1Loss, weighting="output"), 2,
                     marks=pytest.mark.filterwarnings("ignore:With two classes")),
        (dict(criterion=nn.HuberLoss, criterion__delta=0.3), 2),
        (dict(criterion=nn.BCEWithLogitsLoss, weighting="output"), 2),
        (dict(criterion=nn.MSELoss, loss_reduction="weighted_mean"), 2),
    ],
    ids=["bce-logits", "bce", "l1", "l1-output", "huber", "bce-output", "mse-weighted-mean"],
)
def test_criteria_and_output_size(blinks, params, n_outputs):
    X, y = blinks
    clf = fast_classifier(class_weight="balanced", max_epochs=2, **params).fit(X, y)
    assert clf.module_.head.out_features == n_outputs
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert np.isfinite(clf.history_[:, "train_loss"]).all()


def test_criterion_params_reach_the_criterion(blinks):
    X, y = blinks
    clf = fast_classifier(criterion=nn.HuberLoss, criterion__delta=0.3, max_epochs=1).fit(X, y)
    assert clf.net_.criterion_.criterion.delta == 0.3


def focal_loss(logits, target):
    log_p = torch.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
    return -((1 - log_p.exp()) ** 2) * log_p


def test_user_criterion_declares_its_formats(blinks):
    X, y = blinks
    clf = fast_classifier(
        criterion=focal_loss, criterion__input_format="logits",
        criterion__target_format="index", class_weight="balanced", max_epochs=2,
    ).fit(X, y)
    assert np.isfinite(clf.history_[:, "train_loss"]).all()
    with pytest.raises(ValueError, match="criterion__input_format"):
        fast_classifier(criterion=focal_loss).fit(X, y)


def test_routed_parameters_reach_skorch(blinks):
    X, y = blinks
    clf = fast_classifier(
        max_epochs=1, optimizer=torch.optim.SGD, optimizer__momentum=0.5,
        module__proj_size=4, iterator_train__shuffle=False,
    ).fit(X, y)
    assert clf.net_.optimizer_.param_groups[0]["momentum"] == 0.5
    assert clf.module_.lstm.proj_size == 4
    assert clf.get_params()["optimizer__momentum"] == 0.5
    clf.set_params(optimizer__momentum=0.9, hidden_size=5)
    assert clf.get_params()["optimizer__momentum"] == 0.9 and clf.hidden_size == 5


def test_dataloader_path_gives_the_same_shapes(blinks):
    X, y = blinks
    clf = fast_classifier(max_epochs=2, iterator_train=DataLoader, iterator_valid=DataLoader)
    assert clf.fit(X, y).predict_proba(X).shape == (len(X), 2)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(module__bogus=1), "module__"),
        (dict(bogus__x=1), "bogus__x"),
        (dict(criterion=nn.L1Loss(), criterion__reduction="sum"), "need criterion to be a class"),
    ],
)
def test_bad_routed_parameters_fail_at_fit(blinks, params, match):
    X, y = blinks
    clf = fast_classifier(**params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)


def test_device_auto_is_resolved_without_changing_the_parameter(blinks):
    X, y = blinks
    clf = fast_classifier(device="auto", max_epochs=1).fit(X, y)
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert clf.device == "auto"
    assert clf.device_ == expected
    assert next(clf.module_.parameters()).device == torch.device(expected)


@pytest.mark.parametrize(
    "device, match",
    [("tpu", "not a device"), ("cuda:99" if torch.cuda.is_available() else "cuda", "CUDA"),
     ("meta", "not supported"),
     *([] if torch.backends.mps.is_available() else [("mps", "MPS is not available")])],
)
def test_unknown_or_unavailable_device_fails_at_fit(blinks, device, match):
    X, y = blinks
    with pytest.raises(ValueError, match=match):
        fast_classifier(device=device).fit(X, y)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fits_on_cuda_and_returns_numpy(blinks):
    X, y = blinks
    clf = fast_classifier(device="cuda", class_weight="balanced").fit(X, y)
    assert clf.device_.startswith("cuda")
    assert next(clf.module_.parameters()).is_cuda
    assert clf.net_.criterion_.weight.is_cuda
    proba = clf.predict_proba(X)
    assert isinstance(proba, np.ndarray)
    cpu = fast_classifier(device="cpu", class_weight="balanced").fit(X, y)
    np.testing.assert_allclose(proba, cpu.predict_proba(X), atol=1e-3)


def test_closure_optimizer_and_gradient_callbacks_take_skorch_step(blinks):
    from skorch.callbacks import GradientNormClipping

    X, y = blinks
    lbfgs = fast_classifier(optimizer=torch.optim.LBFGS, lr=0.1, max_epochs=2).fit(X, y)
    assert np.isfinite(lbfgs.history_[:, "train_loss"]).all()
    clipped = fast_classifier(max_epochs=2, callbacks=[GradientNormClipping(1e-3)]).fit(X, y)
    plain = fast_classifier(max_epochs=2).fit(X, y)
    assert not np.allclose(clipped.predict_proba(X), plain.predict_proba(X), atol=1e-4)


def test_plain_train_step_matches_skorchs_closure_step(blinks):
    from skorch.callbacks import Callback

    class ReadsGradients(Callback):
        def on_grad_computed(self, net, named_parameters, **kwargs):
            list(named_parameters)

    X, y = blinks
    plain = fast_classifier(max_epochs=2, class_weight="balanced").fit(X, y)
    assert not plain.net_._needs_skorch_step()
    skorch_step = fast_classifier(
        max_epochs=2, class_weight="balanced", callbacks=[ReadsGradients()]
    ).fit(X, y)
    assert skorch_step.net_._needs_skorch_step()
    np.testing.assert_array_equal(plain.predict_proba(X), skorch_step.predict_proba(X))


class BatchDevices(Callback):
    """Records the device of every training batch as the iterator hands it over."""

    def on_train_begin(self, net, **kwargs):
        self.devices = set()

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        self.devices.add(batch[0]["x"].device.type)


def test_estimator_hands_its_device_to_the_batch_iterators(blinks):
    X, y = blinks
    clf = fast_classifier(device="cpu", callbacks=[("devices", BatchDevices())]).fit(X, y)
    params = clf.net_.get_params()
    assert params["iterator_train__device"] == params["iterator_valid__device"] == "cpu"
    assert dict(clf.net_.callbacks_)["devices"].devices == {"cpu"}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_batches_come_from_gpu_resident_data(blinks):
    X, y = blinks
    clf = fast_classifier(device="cuda", callbacks=[("devices", BatchDevices())]).fit(X, y)
    assert dict(clf.net_.callbacks_)["devices"].devices == {"cuda"}


def test_numpy_integer_parameters_work(blinks):
    X, y = blinks
    clf = fast_classifier(hidden_size=np.int64(4), num_layers=np.int32(1),
                          max_epochs=np.int64(2), batch_size=np.int64(32)).fit(X, y)
    assert len(clf.history_) == 2 and clf.module_.lstm.hidden_size == 4
