"""LSTMBlinkClassifier inside scikit-learn's tools: pipelines, searches, CV, persistence."""

import io
import os
import pickle
import subprocess
import sys

import joblib
import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    TunedThresholdClassifierCV,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from helpers import fast_classifier

CV = StratifiedKFold(n_splits=2, shuffle=True, random_state=0)
GRID = {"class_weight": [None, "balanced", {1: 2.0}]}


def test_pipeline_with_preprocessing(three_classes):
    X, y = three_classes
    pipe = make_pipeline(StandardScaler(), fast_classifier(max_epochs=10)).fit(X, y)
    assert pipe.score(X, y) > 0.8
    assert pipe.predict_proba(X).shape == (len(X), 3)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_over_class_weight(blinks, n_jobs):
    X, y = blinks
    search = GridSearchCV(
        fast_classifier(max_epochs=3), GRID, scoring=["balanced_accuracy", "f1"],
        refit="balanced_accuracy", cv=CV, n_jobs=n_jobs,
    ).fit(X, y)
    results = search.cv_results_
    assert len(results["params"]) == 3
    for metric in ("balanced_accuracy", "f1"):
        assert np.all(np.isfinite(results[f"mean_test_{metric}"]))
    assert search.best_params_ in GRID["class_weight"] or search.best_params_ in [
        {"class_weight": value} for value in GRID["class_weight"]
    ]
    assert search.best_estimator_.predict(X).shape == y.shape


def test_grid_search_scores_do_not_depend_on_n_jobs(blinks):
    X, y = blinks
    scores = [
        GridSearchCV(fast_classifier(max_epochs=2), GRID, scoring="balanced_accuracy", cv=CV,
                     n_jobs=n_jobs).fit(X, y).cv_results_["mean_test_score"]
        for n_jobs in (1, 2)
    ]
    np.testing.assert_allclose(scores[0], scores[1], atol=1e-6)


def test_cross_val_score_weighted_against_unweighted(blinks):
    X, y = blinks
    weighted = cross_val_score(fast_classifier(class_weight="balanced"), X, y, cv=CV,
                               scoring="balanced_accuracy")
    unweighted = cross_val_score(fast_classifier(), X, y, cv=CV, scoring="balanced_accuracy")
    assert weighted.shape == unweighted.shape == (2,)
    assert np.all((0 <= weighted) & (weighted <= 1))


def test_balanced_weights_in_cross_validation_use_the_training_fold(blinks):
    X, y = blinks
    result = cross_validate(fast_classifier(class_weight="balanced", max_epochs=1), X, y,
                            cv=CV, return_estimator=True, return_indices=True)
    for estimator, train in zip(result["estimator"], result["indices"]["train"], strict=True):
        counts = np.bincount(y[train])
        np.testing.assert_allclose(estimator.class_weight_, len(train) / (2 * counts))


def test_clone_keeps_parameters_and_drops_the_fit(blinks):
    X, y = blinks
    clf = fast_classifier(class_weight={1: 4.0}, optimizer__weight_decay=1e-4).fit(X, y)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    assert not hasattr(copy, "net_")


@pytest.mark.parametrize("library", ["pickle", "joblib"])
def test_persistence_round_trip_predicts_the_same(blinks, library):
    X, y = blinks
    clf = fast_classifier(class_weight="balanced").fit(X, y)
    buffer = io.BytesIO()
    if library == "pickle":
        pickle.dump(clf, buffer)
        buffer.seek(0)
        loaded = pickle.load(buffer)
    else:
        joblib.dump(clf, buffer)
        buffer.seek(0)
        loaded = joblib.load(buffer)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.class_weight_, clf.class_weight_)
    assert loaded.device_ == clf.device_


def _routed_weights(y):
    return np.where(np.arange(len(y)) % 3 == 0, 3.0, 1.0)


def test_metadata_routing_sample_weight_through_cross_validate(blinks):
    X, y = blinks
    sample_weight = _routed_weights(y)
    with sklearn.config_context(enable_metadata_routing=True):
        clf = (fast_classifier(max_epochs=2).set_fit_request(sample_weight=True)
               .set_score_request(sample_weight=False))
        result = cross_validate(clf, X, y, cv=CV, params={"sample_weight": sample_weight},
                                return_estimator=True, return_indices=True)
    for estimator, train in zip(result["estimator"], result["indices"]["train"], strict=True):
        by_hand = fast_classifier(max_epochs=2).fit(X[train], y[train],
                                                    sample_weight=sample_weight[train])
        np.testing.assert_array_equal(estimator.predict_proba(X), by_hand.predict_proba(X))


def test_metadata_routing_sample_weight_through_grid_search(blinks):
    X, y = blinks
    sample_weight = _routed_weights(y)
    with sklearn.config_context(enable_metadata_routing=True):
        clf = (fast_classifier(max_epochs=2).set_fit_request(sample_weight=True)
               .set_score_request(sample_weight=False))
        search = GridSearchCV(clf, {"class_weight": [None, "balanced"]}, cv=CV)
        search.fit(X, y, sample_weight=sample_weight)
    best = fast_classifier(max_epochs=2, **search.best_params_).fit(
        X, y, sample_weight=sample_weight
    )
    np.testing.assert_array_equal(search.best_estimator_.predict_proba(X), best.predict_proba(X))


def test_calibrated_classifier_on_top(blinks):
    X, y = blinks
    calibrated = CalibratedClassifierCV(fast_classifier(class_weight="balanced"), cv=2).fit(X, y)
    proba = calibrated.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_tuned_threshold_on_top(blinks):
    X, y = blinks
    tuned = TunedThresholdClassifierCV(
        fast_classifier(), scoring="balanced_accuracy", cv=2, random_state=0
    ).fit(X, y)
    assert 0.0 < tuned.best_threshold_ < 1.0
    assert set(tuned.predict(X)) <= {0, 1}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_model_pickled_on_gpu_loads_on_a_cpu_only_machine(blinks, tmp_path):
    X, y = blinks
    clf = fast_classifier(device="cuda").fit(X, y)
    np.save(tmp_path / "X.npy", X)
    with open(tmp_path / "model.pkl", "wb") as file:
        pickle.dump(clf, file)
    script = (
        "import pickle, warnings, numpy as np\n"
        "warnings.simplefilter('ignore')\n"
        f"clf = pickle.load(open({str(tmp_path / 'model.pkl')!r}, 'rb'))\n"
        f"np.save({str(tmp_path / 'proba.npy')!r}, clf.predict_proba(np.load("
        f"{str(tmp_path / 'X.npy')!r})))\n"
        "print(clf.device_)\n"
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "cpu"
    np.testing.assert_allclose(np.load(tmp_path / "proba.npy"), clf.predict_proba(X), atol=1e-5)
