"""export_onnx: the exported graph run by onnxruntime gives predict_proba, for both
estimators, fixed-length and ragged input, uni- and bidirectional, single logit and prior
correction, the built-in LSTM and GRU; and it refuses what it cannot export, clearly.
(A network of the user's own: tests/test_deploy_networks.py.)"""

import json
import sys

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import sktorchcw
from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger, export_onnx
from sktorchcw._onnx import STATE_INPUTS, STATE_OUTPUTS
from sktorchcw.datasets import make_blink_dataset

onnx = pytest.importorskip("onnx", reason="export_onnx needs the [onnx] extra")
onnxruntime = pytest.importorskip("onnxruntime", reason="running the graph needs onnxruntime")

TOLERANCE = 1e-5
FAST = dict(max_epochs=2, hidden_size=8, batch_size=32, random_state=0, device="cpu")
VARIANTS = {
    "unidirectional": {},
    "bidirectional, two layers": {"bidirectional": True, "num_layers": 2},
    "single logit, prior correction": {"criterion": torch.nn.BCEWithLogitsLoss,
                                       "class_weight": "balanced", "prior_correction": True},
    "bidirectional, prior correction": {"bidirectional": True, "class_weight": "balanced",
                                        "prior_correction": True},
    # The built-in GRU: ONNX's GRU operator, gates reordered, linear_before_reset=1.
    "GRU": {"module": "gru"},
    "GRU, bidirectional, two layers, single logit, prior correction": {
        "module": "gru", "bidirectional": True, "num_layers": 2,
        "criterion": torch.nn.BCEWithLogitsLoss, "class_weight": "balanced",
        "prior_correction": True},
    "GRU without bias, dropout": {"module": "gru", "module__bias": False, "num_layers": 2,
                                  "dropout": 0.5},
}


@pytest.fixture(scope="module")
def windows():
    return make_blink_dataset(96, seq_len=20, prevalence=0.2, random_state=0)


@pytest.fixture(scope="module")
def frame_labels(windows):
    X, _ = windows
    signal = X[:, :, 0]
    return (signal > np.quantile(signal, 0.85)).astype(int)


@pytest.fixture(scope="module")
def ragged():
    """Sequences of lengths 1 to 25 (the longest one longer than the training windows)."""
    rng = np.random.default_rng(1)
    return [rng.normal(size=(length, 2)).astype(np.float32) for length in (25, 13, 5, 1, 17)]


@pytest.fixture(scope="module", params=list(VARIANTS))
def fitted(request, windows, frame_labels):
    X, y = windows
    params = {**FAST, **VARIANTS[request.param]}
    return {"classifier": LSTMBlinkClassifier(**params).fit(X, y),
            "tagger": LSTMBlinkTagger(**params).fit(X, frame_labels)}


@pytest.fixture(params=["classifier", "tagger"])
def estimator(request, fitted):
    return fitted[request.param]


def session_of(estimator, tmp_path, **kwargs):
    path = tmp_path / "model.onnx"
    export_onnx(estimator, path, **kwargs)
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run(session, x, lengths):
    (proba,) = session.run(["probabilities"], {"x": x, "lengths": np.asarray(lengths, np.int64)})
    return proba


def padded(sequences, fill=0.0):
    batch = np.full((len(sequences), max(map(len, sequences)), 2), fill, dtype=np.float32)
    for row, sequence in zip(batch, sequences, strict=True):
        row[:len(sequence)] = sequence
    return batch, [len(sequence) for sequence in sequences]


def valid_part(proba, lengths, estimator):
    """The tagger's frames within each length (as predict_proba of a list gives them)."""
    if isinstance(estimator, LSTMBlinkTagger):
        return [proba[i, :length] for i, length in enumerate(lengths)]
    return proba


def assert_close(actual, expected):
    """Arrays, or one array per recording (a list, or predict_proba's object array)."""
    if isinstance(expected, list) or np.asarray(expected).dtype.kind == "O":
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            np.testing.assert_allclose(a, e, atol=TOLERANCE, rtol=0)
    else:
        np.testing.assert_allclose(actual, expected, atol=TOLERANCE, rtol=0)


def test_fixed_length_probabilities_equal_predict_proba(estimator, windows, tmp_path):
    X, _ = windows
    proba = run(session_of(estimator, tmp_path), X, [X.shape[1]] * len(X))
    assert proba.dtype == np.float32
    assert_close(proba, estimator.predict_proba(X))


def test_ragged_probabilities_equal_predict_proba_of_the_list(estimator, ragged, tmp_path):
    x, lengths = padded(ragged)
    proba = run(session_of(estimator, tmp_path), x, lengths)
    assert_close(valid_part(proba, lengths, estimator), estimator.predict_proba(ragged))


def test_padding_never_enters_the_graph(estimator, ragged, tmp_path):
    """Garbage after each length changes nothing: both directions stop at the length."""
    session = session_of(estimator, tmp_path)
    zeros, lengths = padded(ragged, fill=0.0)
    garbage, _ = padded(ragged, fill=1e3)
    assert_close(valid_part(run(session, garbage, lengths), lengths, estimator),
                 valid_part(run(session, zeros, lengths), lengths, estimator))


def test_batch_size_and_length_are_dynamic(estimator, windows, tmp_path):
    X, _ = windows
    session = session_of(estimator, tmp_path)
    for n, t in [(1, 1), (3, 7), (2, 40)]:
        x = np.resize(X, (n, t, 2)).astype(np.float32)
        assert_close(run(session, x, [t] * n), estimator.predict_proba(x))


def test_classes_and_a_description_travel_in_the_metadata(estimator, tmp_path):
    metadata = session_of(estimator, tmp_path).get_modelmeta().custom_metadata_map
    assert json.loads(metadata["classes"]) == estimator.classes_.tolist()
    assert metadata["module"] == estimator.module_.rnn.mode.lower()  # 'lstm' or 'gru'
    assert int(metadata["num_layers"]) == estimator.module_.rnn.num_layers
    assert metadata["estimator"] == type(estimator).__name__
    assert metadata["n_features"] == "2"
    assert json.loads(metadata["prior_correction"]) == estimator.prior_correction
    assert metadata["sktorchcw_version"] == sktorchcw.__version__


def test_prior_correction_is_inside_the_graph(windows, tmp_path):
    """The corrected graph differs from the uncorrected one by more than the tolerance
    (so the equality tests above see the correction), and equals predict_proba."""
    X, y = windows
    clf = LSTMBlinkClassifier(**FAST, class_weight="balanced", prior_correction=True).fit(X, y)
    corrected = run(session_of(clf, tmp_path), X, [X.shape[1]] * len(X))
    plain = run(session_of(clf.set_params(prior_correction=False), tmp_path), X,
                [X.shape[1]] * len(X))
    assert np.abs(corrected - plain).max() > 100 * TOLERANCE
    assert_close(corrected, clf.set_params(prior_correction=True).predict_proba(X))


def test_tagger_padding_frames_hold_the_probabilities_of_the_head_bias(fitted, ragged,
                                                                       tmp_path):
    tagger = fitted["tagger"]
    x, lengths = padded(ragged)
    proba = run(session_of(tagger, tmp_path), x, lengths)
    bias = tagger.module_.head.bias.detach().double()
    logits = bias[:, None] if bias.numel() > 1 else bias
    expected = tagger._corrected(tagger._outputs(logits[None]), log=False)[0, 0]
    for row, length in zip(proba, lengths, strict=True):
        np.testing.assert_allclose(row[length:], np.broadcast_to(expected, row[length:].shape),
                                   atol=TOLERANCE)


def test_three_classes_with_string_labels(windows, frame_labels, tmp_path):
    X, _ = windows
    names = np.array(["closed", "half", "open"])
    y = names[np.digitize(X[:, -1, 0], np.quantile(X[:, -1, 0], [0.3, 0.7]))]
    clf = LSTMBlinkClassifier(**FAST, class_weight="balanced").fit(X, y)
    session = session_of(clf, tmp_path)
    assert json.loads(session.get_modelmeta().custom_metadata_map["classes"]) == names.tolist()
    assert_close(run(session, X, [X.shape[1]] * len(X)), clf.predict_proba(X))


def test_a_model_fitted_on_columns_takes_one_feature(windows, tmp_path):
    X, y = windows
    columns = X[:, :, 0]
    clf = LSTMBlinkClassifier(**FAST).fit(columns, y)
    session = session_of(clf, tmp_path)
    assert session.get_modelmeta().custom_metadata_map["input_layout"] == "columns"
    assert_close(run(session, columns[:, :, None], [columns.shape[1]] * len(X)),
                 clf.predict_proba(columns))


def test_an_older_opset_runs_too(fitted, windows, tmp_path):
    X, _ = windows
    clf = fitted["classifier"]
    export_onnx(clf, tmp_path / "old.onnx", opset=13)
    assert onnx.load(tmp_path / "old.onnx").opset_import[0].version == 13
    session = onnxruntime.InferenceSession(str(tmp_path / "old.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert_close(run(session, X, [X.shape[1]] * len(X)), clf.predict_proba(X))


def test_a_file_object_receives_the_model(fitted, windows, tmp_path):
    import io

    buffer = io.BytesIO()
    export_onnx(fitted["tagger"], buffer)
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    X, _ = windows
    assert_close(run(session, X, [X.shape[1]] * len(X)), fitted["tagger"].predict_proba(X))


def test_export_leaves_the_estimator_as_it_was(fitted, windows, tmp_path):
    X, _ = windows
    clf = fitted["classifier"]
    before = clf.predict_proba(X)
    export_onnx(clf, tmp_path / "model.onnx")
    np.testing.assert_array_equal(clf.predict_proba(X), before)


# -- stateful graphs: streaming in any ONNX runtime ---------------------------------------

STREAMING = {
    "unidirectional": {},
    "two layers, prior correction": {"num_layers": 2, "class_weight": "balanced",
                                     "prior_correction": True},
    "single logit": {"criterion": torch.nn.BCEWithLogitsLoss},
    "GRU": {"module": "gru"},
    "GRU, two layers, single logit, prior correction": {
        "module": "gru", "num_layers": 2, "criterion": torch.nn.BCEWithLogitsLoss,
        "class_weight": "balanced", "prior_correction": True},
}


@pytest.fixture(scope="module", params=list(STREAMING))
def streaming_tagger(request, windows, frame_labels):
    X, _ = windows
    return LSTMBlinkTagger(**FAST, **STREAMING[request.param]).fit(X, frame_labels)


def stateful_session(estimator, tmp_path):
    return session_of(estimator, tmp_path, stateful=True)


def state_names(estimator):
    """The state inputs and outputs of a stateful graph: an LSTM's h and c, a GRU's h."""
    n_states = 2 if estimator.module_.rnn.mode == "LSTM" else 1
    return list(STATE_INPUTS[:n_states]), list(STATE_OUTPUTS[:n_states])


def zero_state(estimator, n):
    rnn = estimator.module_.rnn
    return tuple(np.zeros((rnn.num_layers, n, rnn.hidden_size), dtype=np.float32)
                 for _ in state_names(estimator)[0])


def run_stateful(session, x, lengths, state):
    names = [item.name for item in session.get_inputs()][2:]
    proba, *next_state = session.run(None, {"x": x, "lengths": np.asarray(lengths, np.int64),
                                            **dict(zip(names, state, strict=True))})
    return proba, tuple(next_state)


def test_chunks_through_a_stateful_graph_equal_predict_proba(streaming_tagger, ragged,
                                                             tmp_path):
    session = stateful_session(streaming_tagger, tmp_path)
    recording = ragged[0]
    state, pieces, start = zero_state(streaming_tagger, 1), [], 0
    for size in (1, 4, 1, 7, 12):
        chunk = recording[start:start + size]
        proba, state = run_stateful(session, chunk[None], [len(chunk)], state)
        pieces.append(proba[0])
        start += size
    assert start == len(recording)
    assert_close(np.concatenate(pieces), streaming_tagger.predict_proba([recording])[0])


def test_a_batch_of_streams_with_uneven_chunks_and_idle_streams(streaming_tagger, ragged,
                                                                 tmp_path):
    """Each row of the batch is one live recording; a row with no new frames (length 0)
    keeps its state."""
    session = stateful_session(streaming_tagger, tmp_path)
    recordings = ragged[:3]  # 25, 13 and 5 frames
    chunk_sizes = [(3, 5, 0), (0, 4, 2), (10, 0, 3), (12, 4, 0)]
    state, received = zero_state(streaming_tagger, 3), [[] for _ in recordings]
    starts = [0, 0, 0]
    for sizes in chunk_sizes:
        chunks = [recording[start:start + size]
                  for recording, start, size in zip(recordings, starts, sizes, strict=True)]
        x, _ = padded([chunk if len(chunk) else np.zeros((1, 2), np.float32)
                       for chunk in chunks])
        proba, state = run_stateful(session, x, sizes, state)
        for row, size in enumerate(sizes):
            received[row].append(proba[row, :size])
            starts[row] += size
    assert starts == [len(recording) for recording in recordings]
    assert_close([np.concatenate(parts) for parts in received],
                 streaming_tagger.predict_proba(recordings))


def test_a_stateful_classifier_gives_the_whole_sequences_probabilities(windows, tmp_path):
    X, y = windows
    clf = LSTMBlinkClassifier(**FAST, num_layers=2).fit(X, y)
    session = stateful_session(clf, tmp_path)
    state = zero_state(clf, len(X))
    for chunk in (X[:, :5], X[:, 5:6], X[:, 6:]):
        proba, state = run_stateful(session, chunk, [chunk.shape[1]] * len(X), state)
    assert_close(proba, clf.predict_proba(X))


@pytest.fixture(scope="module", params=list(STREAMING))
def streaming_classifier(request, windows):
    X, y = windows
    return LSTMBlinkClassifier(**FAST, **STREAMING[request.param]).fit(X, y)


def nothing_seen_yet(classifier):
    """What a stateful classifier answers before any frame: the head applied to the zero
    state, i.e. the probabilities of the head's bias alone (prior-corrected where set)."""
    bias = classifier.module_.head.bias.detach().double()
    logits = bias[None] if bias.numel() > 1 else bias
    return classifier._corrected(classifier._outputs(logits), log=False)[0]


@pytest.mark.parametrize("seed", [0, 1])
def test_every_row_of_a_stateful_classifier_answers_for_its_prefix_so_far(
        streaming_classifier, ragged, tmp_path, seed):
    """Random chunks per row, many of length 0 (whole calls too): after every call, every
    row's probabilities are predict_proba of the frames it has seen so far, or the
    documented answer for nothing seen yet."""
    clf = streaming_classifier
    session = stateful_session(clf, tmp_path)
    rng = np.random.default_rng(seed)
    seen, state = [0] * len(ragged), zero_state(clf, len(ragged))
    nothing = nothing_seen_yet(clf)
    calls = 0
    while calls < 3 or any(n < len(r) for n, r in zip(seen, ragged, strict=True)):
        sizes = [0 if rng.random() < 0.4 else int(rng.integers(1, 6)) for _ in ragged]
        if calls in (0, 4):
            sizes = [0] * len(ragged)  # a call in which no row has new frames
        sizes = [min(size, len(r) - n) for size, r, n in zip(sizes, ragged, seen, strict=True)]
        chunks = [r[n:n + size] for r, n, size in zip(ragged, seen, sizes, strict=True)]
        x = np.zeros((len(ragged), max(1, *sizes), 2), np.float32)  # T >= 1, as documented
        for row, chunk in zip(x, chunks, strict=True):
            row[:len(chunk)] = chunk
        proba, state = run_stateful(session, x, sizes, state)
        seen = [n + size for n, size in zip(seen, sizes, strict=True)]
        started = [row for row, n in enumerate(seen) if n]
        expected = np.tile(nothing, (len(ragged), 1))
        if started:
            expected[started] = clf.predict_proba([ragged[row][:seen[row]] for row in started])
        assert_close(proba, expected)
        calls += 1
    assert calls > 5


def test_the_plain_graph_has_no_state_and_the_stateful_one_says_so(streaming_tagger, tmp_path):
    plain = session_of(streaming_tagger, tmp_path)
    assert [item.name for item in plain.get_inputs()] == ["x", "lengths"]
    assert [item.name for item in plain.get_outputs()] == ["probabilities"]
    stateful = stateful_session(streaming_tagger, tmp_path)
    inputs, outputs = state_names(streaming_tagger)
    assert [item.name for item in stateful.get_inputs()] == ["x", "lengths", *inputs]
    assert [item.name for item in stateful.get_outputs()] == ["probabilities", *outputs]
    rnn = streaming_tagger.module_.rnn
    shape = [rnn.num_layers, "batch", rnn.hidden_size]
    assert all(item.shape == shape for item in stateful.get_inputs()[2:])
    metadata = stateful.get_modelmeta().custom_metadata_map
    assert json.loads(metadata["stateful"]) is True
    assert int(metadata["num_layers"]) == rnn.num_layers
    assert int(metadata["hidden_size"]) == rnn.hidden_size
    assert json.loads(metadata["state_inputs"]) == inputs
    assert json.loads(metadata["state_outputs"]) == outputs
    assert json.loads(metadata["state_shapes"]) == [shape] * len(inputs)


@pytest.mark.parametrize("module", ["lstm", "gru"])
def test_a_bidirectional_model_cannot_be_stateful(windows, frame_labels, module, tmp_path):
    X, _ = windows
    tagger = LSTMBlinkTagger(**FAST, module=module, bidirectional=True).fit(X, frame_labels)
    with pytest.raises(ValueError, match="stateful=True needs a unidirectional model"):
        export_onnx(tagger, tmp_path / "model.onnx", stateful=True)
    assert not (tmp_path / "model.onnx").exists()
    with pytest.raises(ValueError, match=r"stream\(\) needs a unidirectional tagger"):
        tagger.stream()


@pytest.mark.parametrize("stateful", ["yes", 1, None])
def test_stateful_must_be_a_bool(fitted, stateful, tmp_path):
    with pytest.raises(TypeError, match="stateful must be True or False"):
        export_onnx(fitted["classifier"], tmp_path / "model.onnx", stateful=stateful)


# -- what cannot be exported -----------------------------------------------------------


def test_an_unfitted_estimator_is_refused(tmp_path):
    with pytest.raises(NotFittedError):
        export_onnx(LSTMBlinkTagger(), tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.parametrize("thing", [LogisticRegression(), make_pipeline(FunctionTransformer()),
                                   torch.nn.LSTM(2, 3)])
def test_anything_but_the_two_estimators_is_refused(thing, tmp_path):
    with pytest.raises(TypeError, match="LSTMBlinkClassifier or LSTMBlinkTagger"):
        export_onnx(thing, tmp_path / "model.onnx")


def test_a_projected_lstm_is_refused_with_the_fix(windows, tmp_path):
    X, y = windows
    clf = LSTMBlinkClassifier(**FAST, module__proj_size=4).fit(X, y)
    with pytest.raises(ValueError, match="proj_size=4 cannot be exported.*proj_size=0"):
        export_onnx(clf, tmp_path / "model.onnx")


@pytest.mark.parametrize("opset, error, message", [
    (12, ValueError, "opset=12 is out of range"),
    (10_000, ValueError, "opset=10000 is out of range"),
    (17.0, TypeError, "opset must be an int"),
    (True, TypeError, "opset must be an int"),
])
def test_a_bad_opset_is_refused(fitted, opset, error, message, tmp_path):
    with pytest.raises(error, match=message):
        export_onnx(fitted["classifier"], tmp_path / "model.onnx", opset=opset)


def test_an_impossible_prior_correction_is_refused_as_predict_refuses_it(windows, tmp_path):
    X, y = windows
    clf = LSTMBlinkClassifier(**FAST, class_weight={0: 1.0, 1: 0.0}).fit(X, y)
    clf.set_params(prior_correction=True)
    with pytest.raises(ValueError, match="had weight 0 in training"):
        clf.predict_proba(X)
    with pytest.raises(ValueError, match="had weight 0 in training"):
        export_onnx(clf, tmp_path / "model.onnx")


def test_without_onnx_installed_the_error_names_the_extra(fitted, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"sktorchcw\[onnx\]"):
        export_onnx(fitted["classifier"], tmp_path / "model.onnx")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_model_trained_on_cuda_exports(windows, frame_labels, ragged, tmp_path):
    X, y = windows
    for estimator in (LSTMBlinkClassifier(**{**FAST, "device": "cuda"}, bidirectional=True),
                      LSTMBlinkTagger(**{**FAST, "device": "cuda"}, bidirectional=True)):
        estimator.fit(X, y if isinstance(estimator, LSTMBlinkClassifier) else frame_labels)
        x, lengths = padded(ragged)
        proba = run(session_of(estimator, tmp_path), x, lengths)
        np.testing.assert_allclose(
            np.concatenate([np.ravel(p) for p in valid_part(proba, lengths, estimator)]),
            np.concatenate([np.ravel(p) for p in estimator.predict_proba(ragged)]), atol=1e-4)


def test_an_lstm_without_bias_and_with_dropout_exports(windows, ragged, tmp_path):
    """Dropout is off at prediction; ONNX's LSTM gets no bias input (zeros)."""
    X, y = windows
    clf = LSTMBlinkClassifier(**FAST, module__bias=False, num_layers=2, dropout=0.5,
                              bidirectional=True).fit(X, y)
    assert not clf.module_.lstm.bias
    x, lengths = padded(ragged)
    assert_close(run(session_of(clf, tmp_path), x, lengths), clf.predict_proba(ragged))


def with_missing_frames(windows, ragged):
    """The windows and the ragged recordings with missing frames (a NaN feature)."""
    X, y = windows
    X = X.copy()
    X[::7, 3:5] = np.nan
    X[1::9, 8, 1] = np.nan  # one feature lost is a lost frame too
    gaps = [sequence.copy() for sequence in ragged]
    gaps[0][[2, 3, 10]] = np.nan
    gaps[2][1, 0] = np.nan
    return X, y, gaps


def assert_graphs_read_missing_frames_as_the_estimators(estimators, X, gaps, tmp_path):
    for estimator in estimators:
        session = session_of(estimator, tmp_path)
        assert session.get_modelmeta().custom_metadata_map["missing"] == "mask"
        assert_close(run(session, X, [X.shape[1]] * len(X)), estimator.predict_proba(X))
        batch, lengths = padded(gaps)
        assert_close(valid_part(run(session, batch, lengths), lengths, estimator),
                     estimator.predict_proba(gaps))


@pytest.mark.parametrize("module", ["lstm", "gru"])
@pytest.mark.parametrize("standardize", [True, "robust", False])
def test_missing_frames_are_read_as_the_estimator_reads_them(windows, frame_labels, ragged,
                                                             standardize, module, tmp_path):
    X, y, gaps = with_missing_frames(windows, ragged)
    params = {**FAST, "missing": "mask", "standardize": standardize, "module": module}
    assert_graphs_read_missing_frames_as_the_estimators(
        (LSTMBlinkClassifier(**params).fit(X, y), LSTMBlinkTagger(**params).fit(X, frame_labels)),
        X, gaps, tmp_path)


def test_a_stateful_graph_streams_missing_frames_as_the_stream_does(windows, frame_labels,
                                                                   ragged, tmp_path):
    X, _ = windows
    tagger = LSTMBlinkTagger(**FAST, missing="mask").fit(X, frame_labels)
    session = stateful_session(tagger, tmp_path)
    recording = ragged[0].copy()
    recording[[3, 4, 11]] = np.nan
    state, pieces, start = zero_state(tagger, 1), [], 0
    for size in (2, 5, 1, 9, 8):
        chunk = recording[start:start + size]
        proba, state = run_stateful(session, chunk[None], [len(chunk)], state)
        pieces.append(proba[0])
        start += size
    assert_close(np.concatenate(pieces), tagger.predict_proba([recording])[0])
