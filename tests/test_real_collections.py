"""The tagger on collections as real recordings come: ragged lengths, padded or ragged string
labels in any container, any subset of recordings (folds, validation data), missing frames,
spikes; cross-validated predictions and a stratified validation split."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, cross_val_predict, cross_val_score
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit

from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger
from sktorchcw.model_selection import cross_val_predict as frame_cross_val_predict

FAST = dict(max_epochs=3, batch_size=8, hidden_size=8, lr=0.02, device="cpu", random_state=0)
LENGTHS = [40, 55, 12, 30, 61, 25, 48, 18]


def fast_tagger(**params):
    return LSTMBlinkTagger(**{**FAST, **params})


@pytest.fixture(scope="module")
def collection():
    """8 recordings of 12 to 61 frames, 2 features, string frame labels."""
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(length, 2)) for length in LENGTHS]
    y = [np.where(x[:, 0] > 0.8, "blink", "open") for x in X]
    return X, y


def padded(y, fill, width=70):
    """The labels as one (n, width) table, padded with ``fill`` after each recording."""
    table = np.full((len(y), width), fill, dtype=object)
    for row, labels in enumerate(y):
        table[row, :len(labels)] = labels[:width]
    return table


GROUPS = np.repeat([0, 1, 2, 3], 2)


# -- labels in any fold ------------------------------------------------------------------


@pytest.mark.parametrize("fill", [-1, "", None, np.nan], ids=["minus-one", "empty", "none",
                                                              "nan"])
def test_padded_labels_work_in_every_fold_and_match_ragged_labels(collection, fill):
    X, y = collection
    table = padded(y, fill)
    cv = GroupKFold(4)
    ragged_scores = cross_val_score(fast_tagger(), X, y, groups=GROUPS, cv=cv,
                                    error_score="raise")
    padded_scores = cross_val_score(fast_tagger(), X, table, groups=GROUPS, cv=cv,
                                    error_score="raise")
    assert np.isfinite(padded_scores).all()
    np.testing.assert_array_equal(padded_scores, ragged_scores)


def test_padding_is_never_read(collection):
    X, y = collection
    table = padded(y, "pad")
    tagger = fast_tagger().fit(X, table)
    assert tagger.classes_.tolist() == ["blink", "open"]
    reference = fast_tagger().fit(X, y)
    np.testing.assert_array_equal(np.concatenate(list(tagger.predict_proba(X))),
                                  np.concatenate(list(reference.predict_proba(X))))


@pytest.mark.parametrize("container", [
    lambda y: pd.Series([np.asarray(row) for row in y]),
    lambda y: [pd.Series(row) for row in y],
    lambda y: [pd.Series(pd.Categorical(row, categories=["open", "blink"])) for row in y],
    lambda y: [row.tolist() for row in y],
    lambda y: pd.DataFrame({"labels": [np.asarray(row) for row in y]}),
    lambda y: pd.DataFrame(padded(y, "")),
    lambda y: np.array(list(y) + [np.array(["x"])], dtype=object)[:-1],
], ids=["series-of-arrays", "list-of-series", "list-of-categoricals", "lists",
        "one-column-frame", "padded-frame", "object-array"])
def test_every_label_container_gives_the_same_model(collection, container):
    X, y = collection
    reference = fast_tagger().fit(X, y).predict_proba(X)
    labels = container(y)
    tagger = fast_tagger().fit(X, labels)
    assert tagger.classes_.tolist() == ["blink", "open"]
    for got, expected in zip(tagger.predict_proba(X), reference, strict=True):
        np.testing.assert_array_equal(got, expected)
    scores = cross_val_score(fast_tagger(), X, labels, groups=GROUPS, cv=GroupKFold(2),
                             error_score="raise")
    assert np.isfinite(scores).all()


def test_validation_data_takes_padded_labels_longer_than_its_recordings(collection):
    X, y = collection
    tagger = fast_tagger().fit(X[:6], y[:6], validation_data=(X[6:], padded(y[6:], -1)))
    reference = fast_tagger().fit(X[:6], y[:6], validation_data=(X[6:], y[6:]))
    assert tagger.history_[:, "valid_loss"] == reference.history_[:, "valid_loss"]


def test_padded_labels_shorter_than_a_recording_are_refused(collection):
    X, y = collection
    with pytest.raises(ValueError, match=r"y\[1\] has 50 values but sequence 1 of X has 55"):
        fast_tagger().fit(X, padded(y, -1, width=50))


def test_a_missing_label_is_reported_by_recording_and_frame(collection):
    X, y = collection
    labels = [row.astype(object) for row in y]
    labels[3][7] = None
    with pytest.raises(ValueError, match=r"y\[3\]\[7\] has no label"):
        fast_tagger().fit(X, labels)


def test_a_series_of_scalars_is_described_as_one_label_per_recording(collection):
    X, _ = collection
    with pytest.raises(ValueError, match="pandas Series of 8 scalars: one value per recording"):
        fast_tagger().fit(X, pd.Series(["open"] * 8))


# -- cross-validated predictions ---------------------------------------------------------


def fold_by_fold(estimator, X, y, groups, cv, method):
    """What cross-validated predictions must be: each recording's output from the model
    fitted on the other folds."""
    outputs = [None] * len(X)
    for train, test in cv.split(X, groups=groups):
        model = clone(estimator).fit([X[i] for i in train], [y[i] for i in train])
        for index, output in zip(test, getattr(model, method)([X[i] for i in test]),
                                 strict=True):
            outputs[index] = output
    return outputs


def test_cross_val_predict_gives_every_ragged_recording_its_labels_in_order(collection):
    X, y = collection
    predicted = cross_val_predict(fast_tagger(), X, y, groups=GROUPS, cv=GroupKFold(4))
    expected = fold_by_fold(fast_tagger(), X, y, GROUPS, GroupKFold(4), "predict")
    assert len(predicted) == len(X)
    for got, want in zip(predicted, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_cross_val_predict_on_3d_recordings():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 20, 2))
    y = np.where(X[:, :, 0] > 0.8, "blink", "open")
    predicted = cross_val_predict(fast_tagger(), X, y, groups=GROUPS, cv=GroupKFold(4))
    assert predicted.shape == (8, 20)
    expected = fold_by_fold(fast_tagger(), list(X), list(y), GROUPS, GroupKFold(4), "predict")
    np.testing.assert_array_equal(predicted, np.stack(expected))


@pytest.mark.parametrize("method", ["predict_proba", "predict_log_proba"])
def test_frame_cross_val_predict_gives_probabilities_in_input_order(collection, method):
    X, y = collection
    weights = np.linspace(0.5, 2.0, len(X))
    got = frame_cross_val_predict(fast_tagger(), X, padded(y, -1), groups=GROUPS,
                                  cv=GroupKFold(4), method=method,
                                  params={"sample_weight": weights})
    expected = [None] * len(X)
    for train, test in GroupKFold(4).split(X, groups=GROUPS):
        model = fast_tagger().fit([X[i] for i in train], [y[i] for i in train],
                                  sample_weight=weights[train])
        for index, output in zip(test, getattr(model, method)([X[i] for i in test]),
                                 strict=True):
            expected[index] = output
    assert [p.shape for p in got] == [(length, 2) for length in LENGTHS]
    for one, other in zip(got, expected, strict=True):
        np.testing.assert_array_equal(one, other)


def test_frame_cross_val_predict_on_3d_recordings_stacks_them():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 20, 2))
    y = (X[:, :, 0] > 0.8).astype(int)
    proba = frame_cross_val_predict(fast_tagger(), X, y, cv=4, method="predict_proba")
    assert proba.shape == (8, 20, 2)
    np.testing.assert_allclose(proba.sum(axis=-1), 1.0)


def test_frame_cross_val_predict_refuses_folds_that_are_not_a_partition(collection):
    X, y = collection
    overlapping = [(np.arange(4, 8), np.arange(0, 5)), (np.arange(0, 4), np.arange(4, 8))]
    with pytest.raises(ValueError, match="partition"):
        frame_cross_val_predict(fast_tagger(), X, y, cv=overlapping)


# -- a validation split for the tagger -----------------------------------------------------


def test_a_stratified_validation_split_holds_out_recordings_with_and_without_the_event():
    rng = np.random.default_rng(2)
    X = [rng.normal(size=(length, 2)) for length in rng.integers(15, 40, size=20)]
    # Blinks in half of the recordings only.
    y = [np.where((x[:, 0] > 0.5) & (i % 2 == 0), "blink", "open") for i, x in enumerate(X)]
    tagger = fast_tagger(train_split=ValidSplit(0.2, stratified=True)).fit(X, y)
    assert tagger.history_[-1, "valid_bacc"] == tagger.history_[-1, "valid_bacc"]  # not NaN
    train, valid = tagger.net_.train_split(tagger.net_.get_dataset(*_dataset_of(tagger, X, y)))
    held_out = np.asarray(valid.indices)
    assert len(held_out) == 4
    assert sorted(held_out % 2) == [0, 0, 1, 1]  # two with blinks, two without


@pytest.mark.parametrize("ragged", [True, False])
def test_a_plain_validation_split_holds_out_whole_recordings_of_the_tagger(ragged):
    # skorch's ValidSplit (not stratified by default) checks its y against the dataset;
    # the tagger's labels are one per frame, so it must be given one per recording.
    rng = np.random.default_rng(3)
    lengths = rng.integers(15, 40, size=20) if ragged else np.full(20, 25)
    X = [rng.normal(size=(length, 2)) for length in lengths]
    y = [(x[:, 0] > 0.5).astype(int) for x in X]
    if not ragged:
        X, y = np.stack(X), np.stack(y)
    tagger = fast_tagger(train_split=ValidSplit(0.25, random_state=0)).fit(X, y)
    assert np.isfinite(tagger.history_[-1, "valid_loss"])
    train, valid = tagger.net_.train_split(tagger.net_.get_dataset(*_dataset_of(tagger, X, y)))
    assert len(valid.indices) == 5 and len(train.indices) == 15
    assert not set(valid.indices) & set(train.indices)


def _dataset_of(tagger, X, y):
    sequences, encoded = tagger._targets.check_continued(tagger, X, y, hint="")
    return tagger._dataset(sequences, encoded), encoded


def test_the_advice_for_early_stopping_without_validation_works_for_the_tagger(collection):
    X, y = collection
    stopping = [EarlyStopping(monitor="valid_bacc", lower_is_better=False, patience=1)]
    with pytest.raises(ValueError, match=r"ValidSplit\(0.2, stratified=True\)"):
        fast_tagger(callbacks=stopping).fit(X, y)
    tagger = fast_tagger(callbacks=stopping, train_split=ValidSplit(0.25, stratified=True),
                         max_epochs=20).fit(X * 2, y * 2)
    assert 1 <= len(tagger.history_) <= 20


# -- missing frames ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_gaps(collection):
    """The collection with a few frames lost (NaN features) in most recordings."""
    X, y = collection
    X = [x.copy() for x in X]
    for x in X[:6]:
        x[3:6] = np.nan
        x[-2, 1] = np.nan  # one feature lost is a lost frame too
    return X, y


def test_missing_frames_are_refused_by_default_with_the_fix(with_gaps):
    X, y = with_gaps
    with pytest.raises(ValueError, match="missing='mask'"):
        fast_tagger().fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        fast_tagger().fit(np.stack([x[:12] for x in X]), np.stack([row[:12] for row in y]))


def test_labels_of_missing_frames_are_never_read(with_gaps):
    X, y = with_gaps
    flipped = [row.copy() for row in y]
    nonsense = [row.astype(object) for row in y]
    for row, other, x in zip(flipped, nonsense, X, strict=True):
        lost = np.isnan(x).any(axis=1)
        row[lost] = np.where(row[lost] == "blink", "open", "blink")
        other[lost] = None
    fits = [fast_tagger(missing="mask", class_weight="balanced").fit(X, labels)
            for labels in (y, flipped, nonsense)]
    for fit in fits[1:]:
        np.testing.assert_array_equal(fit.class_weight_, fits[0].class_weight_)
        assert fit.history_[:, "train_loss"] == fits[0].history_[:, "train_loss"]


def test_balanced_weights_count_only_observed_frames(with_gaps):
    X, y = with_gaps
    tagger = fast_tagger(missing="mask", class_weight="balanced", max_epochs=1).fit(X, y)
    observed = np.concatenate([row[~np.isnan(x).any(axis=1)] for x, row in zip(X, y,
                                                                                 strict=True)])
    counts = np.array([(observed == label).sum() for label in tagger.classes_])
    np.testing.assert_allclose(tagger.class_weight_, len(observed) / (2 * counts))


def test_the_network_sees_the_feature_means_at_missing_frames(with_gaps):
    X, y = with_gaps
    tagger = fast_tagger(missing="mask").fit(X, y)
    observed = np.concatenate([x[~np.isnan(x).any(axis=1)] for x in X])
    np.testing.assert_allclose(tagger.module_.missing_fill.numpy(), observed.mean(axis=0),
                               rtol=1e-5)
    filled = [np.where(np.isnan(x).any(axis=1, keepdims=True), observed.mean(axis=0), x)
              for x in X]
    proba = tagger.predict_proba(X)
    assert all(np.isfinite(p).all() for p in proba)  # missing frames get outputs too
    for got, expected in zip(proba, tagger.predict_proba(filled), strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_validation_scores_leave_missing_frames_out(with_gaps):
    X, y = with_gaps
    flipped = [row.copy() for row in y]
    for row, x in zip(flipped, X, strict=True):
        row[np.isnan(x).any(axis=1)] = "blink"
    runs = [fast_tagger(missing="mask").fit(X[:5], y[:5], validation_data=(X[5:], labels))
            for labels in (y[5:], flipped[5:])]
    for key in ("valid_loss", "valid_bacc"):
        assert runs[0].history_[:, key] == runs[1].history_[:, key]


def test_a_recording_with_every_frame_missing_is_refused_by_index(with_gaps):
    X, y = with_gaps
    X = [x.copy() for x in X]
    X[5][:] = np.nan
    with pytest.raises(ValueError, match=r"Recording\(s\) \[5\] of X have a missing value"):
        fast_tagger(missing="mask").fit(X, y)


def test_infinity_is_never_a_missing_value(collection):
    X, y = collection
    X = [x.copy() for x in X]
    X[2][4, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        fast_tagger(missing="mask").fit(X, y)


def test_the_classifier_masks_missing_frames_too(with_gaps):
    X, _ = with_gaps
    labels = np.array(["open", "blink"] * 4)
    classifier = LSTMBlinkClassifier(**FAST, missing="mask").fit(X, labels)
    assert np.isfinite(classifier.predict_proba(X)).all()
    table = np.stack([x[:12, 0] for x in X])  # 2-D: one column per frame
    assert np.isnan(table).any()
    assert np.isfinite(LSTMBlinkClassifier(**FAST, missing="mask").fit(table, labels)
                       .predict_proba(table)).all()
    with pytest.raises(ValueError, match="NaN"):
        LSTMBlinkClassifier(**FAST).fit(table, labels)


def test_the_stream_reads_missing_frames_as_predict_does(with_gaps):
    X, y = with_gaps
    tagger = fast_tagger(missing="mask").fit(X, y)
    stream = tagger.stream()
    live = np.vstack([stream.update(X[0][start:start + 4]) for start in range(0, 40, 4)])
    np.testing.assert_allclose(live, tagger.predict_proba([X[0]])[0], atol=1e-6)
    nullable = pd.DataFrame(X[0][:5]).astype("Float64")
    assert stream.update(nullable).shape == (5, 2)


def test_a_stream_of_a_tagger_that_raises_names_a_missing_value(collection):
    X, y = collection
    stream = fast_tagger().fit(X, y).stream()
    frames = pd.DataFrame([[0.1, 0.2], [0.3, None]]).astype("Float64")
    with pytest.raises(ValueError, match=r"missing value \(pd.NA"):
        stream.update(frames)
    assert stream.n_frames_ == 0


# -- robust standardisation ----------------------------------------------------------------


def test_robust_standardisation_uses_median_and_interquartile_range(collection):
    X, y = collection
    X = [x.copy() for x in X]
    X[1][10] = [500.0, -800.0]  # a spike
    X[0][:, 1] = 3.0
    X = [np.column_stack([x, np.full(len(x), 2.0)]) for x in X]  # a constant feature
    tagger = fast_tagger(standardize="robust").fit(X, y)
    frames = np.concatenate(X)
    low, median, high = np.percentile(frames, [25, 50, 75], axis=0)
    np.testing.assert_allclose(tagger.module_.input_mean.numpy(), median, rtol=1e-6)
    np.testing.assert_allclose(tagger.module_.input_scale.numpy()[:2], (high - low)[:2],
                               rtol=1e-6)
    assert tagger.module_.input_scale.numpy()[2] == 1.0  # zero range: scaled by 1


def test_robust_statistics_leave_padding_and_missing_frames_out(with_gaps):
    X, y = with_gaps
    tagger = fast_tagger(standardize="robust", missing="mask").fit(X, y)
    observed = np.concatenate([x[~np.isnan(x).any(axis=1)] for x in X])
    np.testing.assert_allclose(tagger.module_.input_mean.numpy(),
                               np.median(observed, axis=0), rtol=1e-6)
    np.testing.assert_allclose(tagger.module_.missing_fill.numpy(),
                               np.median(observed, axis=0), rtol=1e-6)


def test_standard_is_what_true_means(collection):
    X, y = collection
    one = fast_tagger(standardize=True).fit(X, y)
    other = fast_tagger(standardize="standard").fit(X, y)
    for a, b in zip(one.predict_proba(X), other.predict_proba(X), strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_unknown_standardisation_is_refused(collection):
    X, y = collection
    with pytest.raises(ValueError, match="standardize"):
        fast_tagger(standardize="minmax").fit(X, y)
