"""Grid search over weightings on a real Dask cluster, through joblib's dask backend."""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from helpers import fast_classifier

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is an optional extra: pip install 'sktorchcw[dask]'"
)

GRID = {"class_weight": [None, "balanced"], "hidden_size": [4, 8]}
CV = StratifiedKFold(n_splits=2, shuffle=True, random_state=0)


def _search(n_jobs):
    return GridSearchCV(fast_classifier(max_epochs=2), GRID, cv=CV, n_jobs=n_jobs,
                        scoring="balanced_accuracy")


def test_grid_search_on_a_local_dask_cluster_matches_one_process(blinks):
    X, y = blinks
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            with joblib.parallel_backend("dask"):
                on_dask = _search(n_jobs=-1).fit(X, y)
            workers = client.scheduler_info()["workers"]
    assert len(workers) == 2
    local = _search(n_jobs=1).fit(X, y)
    # Worker processes may use other torch thread counts, which can move float results
    # in the last digits; scores of predictions stay equal up to a small tolerance.
    np.testing.assert_allclose(on_dask.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"], atol=0.02)
    assert on_dask.best_params_ == local.best_params_
