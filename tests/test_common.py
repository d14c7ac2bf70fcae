"""scikit-learn's own estimator checks."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger

# Fast parameters: the checks fit dozens of times on small blobs, shown as 2-D X
# (univariate sequences whose time steps are the blob's features).
CHECKED = LSTMBlinkClassifier(
    max_epochs=20, batch_size=32, hidden_size=16, device="cpu", random_state=0
)

EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": (
        "a weight of 2 and a repeated row differ in a mini-batch network: batches are drawn "
        "from different sets of rows, so the gradient steps differ"
    ),
}


TAGGED = LSTMBlinkTagger(max_epochs=2, batch_size=32, hidden_size=8, device="cpu", random_state=0)

# scikit-learn's checks fit with one label per sample, y of shape (n_samples,); a tagger
# needs one label per frame, so every check that fits fails at its first fit with the
# tagger's "one label per frame" ValueError. The checks that do not fit (parameters, clone,
# repr, tags, init) run. The tagger's fitting behaviour is tested in test_tagger.py.
_ONE_LABEL_PER_SAMPLE = [
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_readonly_memmap_input",
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weights_list",
    "check_sample_weights_not_an_array",
    "check_sample_weights_not_overwritten",
    "check_sample_weights_shape",
]
# Checks that fit too, but assert on the wording of the error they expect (a sample with
# one feature, negative X, all-zero weights, a pandas Series of weights): the fit stops
# first at y, for the same reason as above.
_ERROR_WORDING = [
    "check_positive_only_tag_during_fit",
    "check_sample_weights_pandas_series",
    "check_all_zero_sample_weights_error",
    "check_fit2d_1sample",
    "check_fit2d_1feature",
]
TAGGER_EXPECTED_FAILURES = {
    **{name: "fits with one label per sample; the tagger needs one per frame"
       for name in _ONE_LABEL_PER_SAMPLE},
    **{name: "expects an error about X or the weights; the tagger stops first at y, which "
             "has one label per sample where it needs one per frame"
       for name in _ERROR_WORDING},
}


def _expected_failures(estimator):
    return TAGGER_EXPECTED_FAILURES if isinstance(estimator, LSTMBlinkTagger) else (
        EXPECTED_FAILURES)


# check_array_api_input is skipped by scikit-learn itself unless SCIPY_ARRAY_API=1: the
# estimator works on numpy input and converts to torch tensors internally.
@parametrize_with_checks([CHECKED, TAGGED], expected_failed_checks=_expected_failures)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
