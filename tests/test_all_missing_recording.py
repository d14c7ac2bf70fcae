"""missing='mask' and a recording whose every frame is missing (issue 27): prediction
gives it the network's output on the fill values, as stream() and the ONNX graph do, and
leaves the other recordings' outputs as they are; training refuses it, by index."""

import copy

import numpy as np
import pytest

from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger, export_onnx

FAST = dict(max_epochs=2, hidden_size=4, batch_size=8, device="cpu", random_state=0)
LOST = 2  # the recording whose every frame is missing


@pytest.fixture(scope="module")
def recordings():
    """Eight recordings of 6 to 13 frames, a few frames of the first three missing, frame
    labels and one label per recording."""
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(length, 2)).astype(np.float32) for length in range(6, 14)]
    for x in X[:3]:
        x[2:4, 0] = np.nan
    frame_labels = [(x[:, 1] > 0.2).astype(int) for x in X]
    return X, frame_labels, np.arange(len(X)) % 2


@pytest.fixture(scope="module", params=[True, "robust", False], ids=lambda s: f"standardize={s}")
def fitted(request, recordings):
    X, frame_labels, labels = recordings
    params = dict(FAST, missing="mask", standardize=request.param)
    return {"classifier": LSTMBlinkClassifier(**params).fit(X, labels),
            "tagger": LSTMBlinkTagger(**params).fit(X, frame_labels)}


def with_lost_recording(X):
    X = [x.copy() for x in X]
    X[LOST][:] = np.nan
    return X


def filled(estimator, x):
    """``x`` with every frame at the fitted fill values: what the network sees."""
    return np.broadcast_to(estimator.module_.missing_fill.numpy(), x.shape).copy()


def onnx_output(estimator, x, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    path = tmp_path / "model.onnx"
    export_onnx(estimator, path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (proba,) = session.run(["probabilities"], {"x": x[None], "lengths": np.array([len(x)])})
    return proba[0]


def test_the_tagger_answers_as_its_stream_does(fitted, recordings, tmp_path):
    tagger = fitted["tagger"]
    X = with_lost_recording(recordings[0])
    proba = tagger.predict_proba(X)
    streamed = tagger.stream().update(X[LOST])
    np.testing.assert_allclose(proba[LOST], streamed, atol=1e-6)
    np.testing.assert_allclose(proba[LOST], tagger.predict_proba([filled(tagger, X[LOST])])[0],
                               atol=1e-6)
    np.testing.assert_allclose(proba[LOST], onnx_output(tagger, X[LOST], tmp_path), atol=1e-5)
    assert tagger.predict(X)[LOST].shape == (len(X[LOST]),)


def test_the_classifier_answers_as_its_onnx_graph_does(fitted, recordings, tmp_path):
    classifier = fitted["classifier"]
    X = with_lost_recording(recordings[0])
    proba = classifier.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba[LOST],
                               classifier.predict_proba([filled(classifier, X[LOST])])[0],
                               atol=1e-6)
    np.testing.assert_allclose(proba[LOST], onnx_output(classifier, X[LOST], tmp_path),
                               atol=1e-5)
    np.testing.assert_allclose(classifier.predict_log_proba(X)[LOST], np.log(proba[LOST]),
                               atol=1e-6)


@pytest.mark.parametrize("kind", ["classifier", "tagger"])
def test_the_other_recordings_outputs_are_unchanged(fitted, recordings, kind):
    estimator = fitted[kind]
    X = recordings[0]
    before = estimator.predict_proba(X)
    after = estimator.predict_proba(with_lost_recording(X))
    others = [i for i in range(len(X)) if i != LOST]
    for i in others:
        np.testing.assert_allclose(after[i], before[i], atol=1e-6)
    assert np.array_equal(estimator.predict(with_lost_recording(X))[others[0]],
                          estimator.predict(X)[others[0]])


@pytest.mark.parametrize("kind", ["classifier", "tagger"])
def test_a_3d_array_with_a_lost_recording(fitted, recordings, kind):
    estimator = fitted[kind]
    X = np.stack([x[:6] for x in recordings[0]])
    lost = X.copy()
    lost[LOST] = np.nan
    proba, before = estimator.predict_proba(lost), estimator.predict_proba(X)
    np.testing.assert_allclose(np.delete(proba, LOST, axis=0), np.delete(before, LOST, axis=0),
                               atol=1e-6)
    np.testing.assert_allclose(proba[LOST], estimator.predict_proba(
        filled(estimator, X[LOST])[None])[0], atol=1e-6)
    if kind == "tagger":
        np.testing.assert_allclose(proba[LOST], estimator.stream().update(lost[LOST]),
                                   atol=1e-6)


def test_a_2d_table_with_a_lost_recording():
    rng = np.random.default_rng(1)
    table = rng.normal(size=(12, 6))
    table[:3, 1] = np.nan
    labels = np.arange(12) % 2
    classifier = LSTMBlinkClassifier(**FAST, missing="mask").fit(table, labels)
    lost = table.copy()
    lost[4] = np.nan
    proba = classifier.predict_proba(lost)
    np.testing.assert_allclose(np.delete(proba, 4, axis=0),
                               np.delete(classifier.predict_proba(table), 4, axis=0), atol=1e-6)
    fill = classifier.module_.missing_fill.numpy()
    np.testing.assert_allclose(proba[4], classifier.predict_proba(
        np.full((1, 6), fill[0]))[0], atol=1e-6)


def test_the_tagger_score_leaves_the_lost_recording_out(fitted, recordings):
    tagger = fitted["tagger"]
    X, frame_labels, _ = recordings
    others = [i for i in range(len(X)) if i != LOST]
    assert tagger.score(with_lost_recording(X), frame_labels) == pytest.approx(
        tagger.score([X[i] for i in others], [frame_labels[i] for i in others]))


@pytest.mark.parametrize("kind", ["classifier", "tagger"])
def test_training_refuses_a_recording_with_no_observed_frame(fitted, recordings, kind):
    X, frame_labels, labels = recordings
    estimator = fitted[kind]
    y = frame_labels if kind == "tagger" else labels
    lost = with_lost_recording(X)
    message = rf"Recording\(s\) \[{LOST}\] of X have a missing value \(NaN\) in every frame"
    with pytest.raises(ValueError, match=message):
        type(estimator)(**FAST, missing="mask").fit(lost, y)
    with pytest.raises(ValueError, match="Prediction accepts such a recording"):
        type(estimator)(**FAST, missing="mask").fit(lost, y)
    with pytest.raises(ValueError, match=message):
        type(estimator)(**FAST, missing="mask").fit(X, y, validation_data=(lost, y))
    with pytest.raises(ValueError, match=message):
        copy.deepcopy(estimator).partial_fit(lost, y)


def test_missing_raise_still_refuses_nan_at_prediction(recordings):
    X, _, labels = recordings
    complete = [x[4:] for x in X]  # the missing frames cut off
    classifier = LSTMBlinkClassifier(**FAST).fit(complete, labels)
    with pytest.raises(ValueError, match="missing='mask'"):
        classifier.predict_proba(with_lost_recording(complete))
