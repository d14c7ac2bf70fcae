"""LSTMBlinkTagger: one label per frame, class weights counted on valid frames, outputs in
the structure of X, padding that never changes a result."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import log_loss
from torch import nn

from sktorchcw import LSTMBlinkTagger, TrainingDivergedError

from helpers import CtrlCAt

FAST = dict(max_epochs=6, batch_size=16, hidden_size=12, lr=0.02, device="cpu", random_state=0)


def fast_tagger(**params):
    return LSTMBlinkTagger(**{**FAST, **params})


@pytest.fixture(scope="module")
def recordings():
    """40 ragged sequences of 2 features; frames with a high first feature are events."""
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(length, 2)) for length in rng.integers(20, 50, size=40)]
    y = [(x[:, 0] > 1.0).astype(int) for x in X]
    return X, y


@pytest.fixture(scope="module")
def fitted(recordings):
    X, y = recordings
    return fast_tagger(class_weight="balanced", max_epochs=15).fit(X, y)


def test_it_learns_the_frame_labels(fitted, recordings):
    X, y = recordings
    predicted = fitted.predict(X)
    events = np.concatenate(y) == 1
    hits = np.concatenate(predicted) == 1
    assert hits[events].mean() > 0.8 and (~hits[~events]).mean() > 0.8


def test_outputs_follow_the_structure_of_X(fitted, recordings):
    X, _ = recordings
    predicted = fitted.predict(X[:3])
    # One array per recording, in a 1-D object array (which cross_val_predict can join).
    assert isinstance(predicted, np.ndarray) and predicted.dtype == object
    assert predicted.shape == (3,)
    assert [p.shape for p in predicted] == [(len(x),) for x in X[:3]]
    proba = fitted.predict_proba(X[:3])
    assert [p.shape for p in proba] == [(len(x), 2) for x in X[:3]]
    assert all(p.dtype == np.float64 for p in proba)
    array = np.stack([x[:20] for x in X[:4]])
    assert fitted.predict(array).shape == (4, 20)
    assert fitted.predict_proba(array).shape == (4, 20, 2)
    np.testing.assert_allclose(np.exp(fitted.predict_log_proba(array)),
                               fitted.predict_proba(array), atol=1e-12)


def test_padding_never_changes_a_result(fitted, recordings):
    X, _ = recordings
    together = fitted.predict_proba(X[:6])
    for x, proba in zip(X[:6], together, strict=True):
        np.testing.assert_allclose(fitted.predict_proba([x])[0], proba, atol=1e-6)


def test_balanced_weights_count_valid_frames_only(recordings):
    X, y = recordings
    tagger = fast_tagger(class_weight="balanced", max_epochs=1).fit(X, y)
    frames = np.concatenate(y)
    counts = np.bincount(frames)
    np.testing.assert_allclose(tagger.class_weight_, len(frames) / (2 * counts))


def test_balanced_weights_count_frames_by_their_sample_weights(recordings):
    X, y = recordings
    per_frame = [np.where(labels == 1, 3.0, 1.0) for labels in y]
    tagger = fast_tagger(class_weight="balanced", max_epochs=1).fit(X, y,
                                                                    sample_weight=per_frame)
    frames, weights = np.concatenate(y), np.concatenate(per_frame)
    totals = np.array([weights[frames == c].sum() for c in (0, 1)])
    np.testing.assert_allclose(tagger.class_weight_, weights.sum() / (2 * totals))


def test_per_sequence_weights_equal_the_same_weight_on_each_frame(recordings):
    X, y = recordings
    per_sequence = np.linspace(0.5, 2.0, len(X))
    per_frame = [np.full(len(x), w) for x, w in zip(X, per_sequence, strict=True)]
    first = fast_tagger(max_epochs=2).fit(X, y, sample_weight=per_sequence)
    second = fast_tagger(max_epochs=2).fit(X, y, sample_weight=per_frame)
    np.testing.assert_allclose(first.predict_proba(np.stack([x[:20] for x in X[:3]])),
                               second.predict_proba(np.stack([x[:20] for x in X[:3]])),
                               atol=1e-6)


def test_dict_weights_are_keyed_by_frame_labels(recordings):
    X, y = recordings
    labels = [np.where(row == 1, "blink", "open") for row in y]
    tagger = fast_tagger(class_weight={"blink": 5.0}, max_epochs=1).fit(X, labels)
    np.testing.assert_array_equal(tagger.classes_, ["blink", "open"])
    np.testing.assert_allclose(tagger.class_weight_, [5.0, 1.0])
    assert set(np.concatenate(tagger.predict(X[:2]))) <= {"blink", "open"}
    with pytest.raises(ValueError, match="not a class"):
        fast_tagger(class_weight={"wink": 2.0}).fit(X, labels)


def test_validation_loss_is_the_unweighted_frame_loss(recordings):
    X, y = recordings
    tagger = fast_tagger(class_weight={1: 8.0}, criterion=nn.CrossEntropyLoss)
    tagger.fit(X[:30], y[:30], validation_data=(X[30:], y[30:]))
    proba = np.concatenate(tagger.predict_proba(X[30:]))
    expected = log_loss(np.concatenate(y[30:]), proba, labels=[0, 1])
    assert tagger.history_[-1, "valid_loss"] == pytest.approx(expected, rel=1e-4)
    assert 0.0 <= tagger.history_[-1, "valid_bacc"] <= 1.0


@pytest.mark.parametrize("criterion", [nn.L1Loss, nn.MSELoss, nn.HuberLoss, nn.BCEWithLogitsLoss,
                                       nn.CrossEntropyLoss, nn.NLLLoss])
def test_every_criterion_trains_per_frame(recordings, criterion):
    X, y = recordings
    tagger = fast_tagger(criterion=criterion, class_weight="balanced", max_epochs=2).fit(X, y)
    losses = tagger.history_[:, "train_loss"]
    assert np.isfinite(losses).all()
    n_outputs = 1 if criterion is nn.BCEWithLogitsLoss else 2
    assert tagger.module_.head.out_features == n_outputs
    assert tagger.predict_proba(X[:1])[0].shape == (len(X[0]), 2)


def test_a_unidirectional_tagger_is_causal(fitted, recordings):
    X, _ = recordings
    x = X[0]
    full = fitted.predict_proba([x])[0]
    changed = x.copy()
    changed[15:] += 5.0
    prefix = fitted.predict_proba([changed])[0][:15]
    np.testing.assert_allclose(prefix, full[:15], atol=1e-6)


def test_a_bidirectional_tagger_sees_the_future(recordings):
    X, y = recordings
    tagger = fast_tagger(bidirectional=True, max_epochs=2).fit(X, y)
    x = X[0]
    changed = x.copy()
    changed[15:] += 5.0
    assert not np.allclose(tagger.predict_proba([changed])[0][:15],
                           tagger.predict_proba([x])[0][:15])


def test_2d_univariate_input_and_dataframes(recordings):
    X, y = recordings
    table = np.stack([x[:20, 0] for x in X])
    labels = np.stack([row[:20] for row in y])
    tagger = fast_tagger(max_epochs=1).fit(pd.DataFrame(table), labels)
    assert tagger.input_layout_ == "columns"
    assert tagger.predict(pd.DataFrame(table)).shape == (40, 20)


@pytest.mark.parametrize("make_y, match", [
    (lambda y: [row[:-1] for row in y], r"y\[0\] has \d+ values but sequence 0 of X has"),
    (lambda y: np.array([row[0] for row in y]), "one value per recording"),
    (lambda y: y[:-1], "X has 40 sequences but y has 39"),
    (lambda y: [row.astype(float) + 0.5 for row in y], "discrete class labels"),
    (lambda y: [np.zeros_like(row) for row in y], "only one class"),
], ids=["length", "one-per-sequence", "count", "continuous", "one-class"])
def test_bad_frame_labels_are_clear_errors_before_training(recordings, make_y, match):
    X, y = recordings
    with pytest.raises(ValueError, match=match):
        fast_tagger().fit(X, make_y(y))


def test_bad_frame_weights_are_clear_errors(recordings):
    X, y = recordings
    with pytest.raises(ValueError, match=r"sample_weight\[2\] has"):
        fast_tagger().fit(X, y, sample_weight=[np.ones(len(x) - (i == 2)) for i, x in
                                               enumerate(X)])
    with pytest.raises(ValueError, match="finite, non-negative"):
        fast_tagger().fit(X, y, sample_weight=[-np.ones(len(x)) for x in X])
    with pytest.raises(ValueError, match="weight zero"):
        fast_tagger().fit(X, y, sample_weight=np.zeros(len(X)))


def test_a_padded_label_array_goes_with_ragged_X(recordings):
    X, y = recordings
    padded = np.zeros((len(X), max(len(x) for x in X)), dtype=int)
    for row, labels in zip(padded, y, strict=True):
        row[:len(labels)] = labels
    first = fast_tagger(max_epochs=2).fit(X, y)
    second = fast_tagger(max_epochs=2).fit(X, padded)
    np.testing.assert_allclose(first.predict_proba(X[:2])[0], second.predict_proba(X[:2])[0])


def test_clone_warm_start_and_partial_fit(recordings):
    X, y = recordings
    reference = fast_tagger(max_epochs=3).fit(X, y)
    stepwise = clone(fast_tagger(max_epochs=1)).fit(X, y).partial_fit(X, y).partial_fit(X, y)
    np.testing.assert_allclose(stepwise.predict_proba(X[:2])[0],
                               reference.predict_proba(X[:2])[0], atol=1e-6)


def test_divergence_leaves_the_tagger_unfitted(recordings):
    X, y = recordings
    tagger = fast_tagger(class_weight={0: 3e38, 1: 3e38}, loss_reduction="sum")
    with pytest.raises(TrainingDivergedError):
        tagger.fit(X, y)
    with pytest.raises(NotFittedError):
        tagger.predict(X)


def test_score_is_the_frame_balanced_accuracy(fitted, recordings):
    X, y = recordings
    predicted = np.concatenate(fitted.predict(X))
    truth = np.concatenate(y)
    recalls = [np.mean(predicted[truth == label] == label) for label in (0, 1)]
    assert fitted.score(X, y) == pytest.approx(np.mean(recalls))
    assert fitted.score(X, y) != pytest.approx(np.mean(predicted == truth))


def test_device_auto_and_global_random_state(recordings):
    X, y = recordings
    state = torch.get_rng_state()
    tagger = LSTMBlinkTagger(max_epochs=1, device="auto", random_state=0).fit(X, y)
    assert tagger.device_ in ("cpu", "mps") or tagger.device_.startswith("cuda")
    assert torch.equal(torch.get_rng_state(), state)


def test_save_and_load_give_the_same_tagger(fitted, recordings, tmp_path):
    import io

    import sktorchcw

    X, _ = recordings
    buffer = io.BytesIO()
    fitted.save(buffer)
    loaded = sktorchcw.load(io.BytesIO(buffer.getvalue()))
    assert type(loaded) is LSTMBlinkTagger
    assert loaded.get_params() == fitted.get_params()
    for mine, theirs in zip(loaded.predict_proba(X[:3]), fitted.predict_proba(X[:3]),
                            strict=True):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(loaded.class_weight_, fitted.class_weight_)


def test_a_subclass_is_not_saved_as_its_parent(recordings, tmp_path):
    class MyTagger(LSTMBlinkTagger):
        pass

    X, y = recordings
    tagger = MyTagger(max_epochs=1, device="cpu", random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="pickle/joblib for MyTagger"):
        tagger.save(tmp_path / "model.sktorchcw")


def test_checkpoints_resume_a_tagger(recordings, tmp_path):


    X, y = recordings
    params = dict(max_epochs=4, dropout=0.2, checkpoint_dir=tmp_path)
    reference = fast_tagger(**params).fit(X, y)
    with pytest.raises(KeyboardInterrupt):
        fast_tagger(callbacks=[CtrlCAt(2)], **params).fit(X, y)
    resumed = fast_tagger(**params).fit(X, y)
    assert len(resumed.history_) == 4
    np.testing.assert_allclose(resumed.predict_proba(X[:2])[0],
                               reference.predict_proba(X[:2])[0], atol=1e-6)


@pytest.mark.parametrize("library", ["pickle", "joblib"])
def test_pickle_and_joblib_round_trip(fitted, recordings, tmp_path, library):
    import pickle

    import joblib

    X, _ = recordings
    path = tmp_path / "tagger.bin"
    if library == "pickle":
        path.write_bytes(pickle.dumps(fitted))
        loaded = pickle.loads(path.read_bytes())
    else:
        joblib.dump(fitted, path)
        loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X[:2])[1], fitted.predict_proba(X[:2])[1])


def test_cross_val_score_with_a_frame_scorer(recordings):
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GroupKFold, cross_val_score

    from sktorchcw.events import event_f1_score

    X, y = recordings
    scores = cross_val_score(fast_tagger(class_weight="balanced", max_epochs=2), X, y,
                             groups=np.arange(len(X)) // 10, cv=GroupKFold(n_splits=2),
                             scoring=make_scorer(event_f1_score), error_score="raise")
    assert scores.shape == (2,) and np.isfinite(scores).all()
