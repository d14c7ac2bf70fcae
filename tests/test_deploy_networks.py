"""Deploying networks other than the built-in LSTM (issue 22.5): export_onnx and stream()
for the built-in GRU (ONNX's GRU operator, node by node) and for a network of the user's
own (traced by torch.onnx), each compared with predict_proba; and what is refused, with
the reason."""

import io
import json
import warnings

import numpy as np
import pytest
import test_onnx
import torch
from test_onnx import assert_close, padded, run, session_of, valid_part
from test_user_module import MeanPoolConv  # a Conv1d classifier whose forward takes lengths
from torch import nn

from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger, export_onnx

onnx = pytest.importorskip("onnx", reason="export_onnx needs the [onnx] extra")
onnxruntime = pytest.importorskip("onnxruntime", reason="running the graph needs onnxruntime")

FAST = dict(max_epochs=2, batch_size=32, random_state=0, device="cpu")
GRU = dict(FAST, module="gru", hidden_size=8)

# test_onnx.py's data: 96 windows of 20 frames and 2 features, their frame labels, and 5
# ragged recordings of 1 to 25 frames.
windows, frame_labels, ragged = test_onnx.windows, test_onnx.frame_labels, test_onnx.ragged


def random_chunks(length, seed, largest=6):
    """(start, stop) of consecutive chunks of random sizes 0 to ``largest``."""
    rng = np.random.default_rng(seed)
    start = 0
    while start < length:
        stop = min(length, start + int(rng.integers(0, largest + 1)))
        yield start, stop
        start = stop


def stream_in_chunks(stream, recording, seed):
    return np.concatenate([stream.update(recording[start:stop])
                           for start, stop in random_chunks(len(recording), seed)])


def zero_state(session, n):
    """Zeros for every state input of a stateful graph, from its metadata alone (the
    recipe for any network)."""
    metadata = session.get_modelmeta().custom_metadata_map
    names = json.loads(metadata["state_inputs"])
    shapes = json.loads(metadata["state_shapes"])
    return {name: np.zeros([n if size == "batch" else size for size in shape], np.float32)
            for name, shape in zip(names, shapes, strict=True)}


def run_stateful(session, x, lengths, state):
    """Probabilities, and the state for the next call (under the input names)."""
    proba, *next_state = session.run(None, {"x": x, "lengths": np.asarray(lengths, np.int64),
                                            **state})
    return proba, dict(zip(state, next_state, strict=True))


def stream_through_graph(session, recording, seed):
    state, pieces = zero_state(session, 1), []
    for start, stop in random_chunks(len(recording), seed):
        if stop == start:
            continue  # never send T = 0
        proba, state = run_stateful(session, recording[None, start:stop], [stop - start], state)
        pieces.append(proba[0])
    return np.concatenate(pieces)


# -- the built-in GRU (its parity with predict_proba: fixed-length, ragged, missing frames,
# stateful and streamed, is tested with the LSTM's in test_onnx.py and test_stream.py) ----


@pytest.mark.parametrize("bidirectional", [False, True])
def test_gru_graph_uses_onnx_gru_operator_with_pytorch_semantics(windows, frame_labels,
                                                                 bidirectional, tmp_path):
    X, _ = windows
    tagger = LSTMBlinkTagger(**GRU, num_layers=2, bidirectional=bidirectional).fit(
        X, frame_labels)
    path = tmp_path / "model.onnx"
    export_onnx(tagger, path)
    nodes = onnx.load(path).graph.node
    assert "LSTM" not in {node.op_type for node in nodes}
    grus = [node for node in nodes if node.op_type == "GRU"]
    assert len(grus) == 2
    for node in grus:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attributes["linear_before_reset"] == 1
        assert attributes["direction"] == (b"bidirectional" if bidirectional else b"forward")
        assert node.input[4], "sequence_lens must be given"


# -- a network of the user's own: torch.onnx ---------------------------------------------


class MaxPoolConv(nn.Module):
    """A Conv1d classifier whose forward takes x alone (max over every frame, padding
    included: fixed-length input only)."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.conv = nn.Conv1d(n_features, 6, 5, padding=2)
        self.head = nn.Linear(6, n_outputs)

    def forward(self, x):
        return self.head(self.conv(x.transpose(1, 2)).amax(dim=2))


class CausalConv(nn.Module):
    """A per-frame Conv1d padded on the left only, so it can stream: its state is the
    last ``kernel - 1`` frames. forward takes x alone."""

    def __init__(self, n_features, n_outputs, width=8, kernel=4):
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv1d(n_features, width, kernel)
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x):
        return self.forward_with_state(x, None)[0]

    def forward_with_state(self, x, state):
        if state is None:
            state = x.new_zeros(x.shape[0], self.kernel - 1, x.shape[2])
        both = torch.cat([state, x], dim=1)
        hidden = torch.relu(self.conv(both.transpose(1, 2))).transpose(1, 2)
        return self.head(hidden), both[:, 1 - self.kernel:]


class PositionConv(nn.Module):
    """A per-frame Conv1d that also reads each frame's position in its recording
    (``t / length``): its logits depend on the lengths it is given."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.conv = nn.Conv1d(n_features + 1, 8, 3, padding=1)
        self.head = nn.Linear(8, n_outputs)

    def forward(self, x, lengths):
        steps = torch.arange(x.shape[1], dtype=x.dtype)[None, :, None]
        position = steps / lengths.to(x.dtype)[:, None, None]
        inputs = torch.cat([x, position.expand(x.shape[0], -1, 1)], dim=2)
        return self.head(torch.relu(self.conv(inputs.transpose(1, 2))).transpose(1, 2))


class FrameLSTM(nn.Module):
    """A per-frame LSTM whose state is a tuple (h, c), batch on axis 1."""

    def __init__(self, n_features, n_outputs, hidden=6):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_outputs)

    def forward(self, x):
        return self.forward_with_state(x, None)[0]

    def forward_with_state(self, x, state):
        output, state = self.lstm(x, state)
        return self.head(output), state


class LastFrameGRU(nn.Module):
    """A classifier: a GRU whose output after the last frame gives the logits; its state
    is the GRU's h (fixed-length input only: it reads the padding)."""

    def __init__(self, n_features, n_outputs, hidden=6):
        super().__init__()
        self.gru = nn.GRU(n_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_outputs)

    def forward(self, x):
        return self.forward_with_state(x, None)[0]

    def forward_with_state(self, x, state):
        output, state = self.gru(x, state)
        return self.head(output[:, -1]), state


USER_CASES = {
    "classifier, Conv1d with lengths": (LSTMBlinkClassifier, MeanPoolConv, {}),
    "classifier, single logit, prior correction": (
        LSTMBlinkClassifier, MeanPoolConv,
        {"criterion": nn.BCEWithLogitsLoss, "class_weight": "balanced",
         "prior_correction": True}),
    "tagger, causal Conv1d without lengths": (LSTMBlinkTagger, CausalConv, {}),
    "tagger, Conv1d with lengths, prior correction": (
        LSTMBlinkTagger, PositionConv, {"class_weight": "balanced", "prior_correction": True}),
    "tagger, single logit": (LSTMBlinkTagger, CausalConv, {"criterion": nn.BCEWithLogitsLoss}),
}


@pytest.fixture(scope="module", params=list(USER_CASES))
def user_fitted(request, windows, frame_labels):
    X, y = windows
    estimator_class, module, params = USER_CASES[request.param]
    labels = frame_labels if estimator_class is LSTMBlinkTagger else y
    return estimator_class(module=module, **FAST, **params).fit(X, labels)


def test_user_network_fixed_length_probabilities_equal_predict_proba(user_fitted, windows,
                                                                       tmp_path):
    X, _ = windows
    proba = run(session_of(user_fitted, tmp_path), X, [X.shape[1]] * len(X))
    assert proba.dtype == np.float32
    assert_close(proba, user_fitted.predict_proba(X))


def test_user_network_ragged_probabilities_equal_predict_proba_of_the_list(user_fitted,
                                                                           ragged, tmp_path):
    """Padding is zeroed in the graph, and a forward that takes lengths gets them."""
    x, lengths = padded(ragged, fill=1e3)
    proba = run(session_of(user_fitted, tmp_path), x, lengths)
    assert_close(valid_part(proba, lengths, user_fitted), user_fitted.predict_proba(ragged))


def test_user_network_batch_size_and_length_are_dynamic(user_fitted, windows, tmp_path):
    X, _ = windows
    session = session_of(user_fitted, tmp_path)
    for n, t in [(1, 1), (3, 7), (2, 40), (17, 3)]:
        x = np.resize(X, (n, t, 2)).astype(np.float32)
        assert_close(run(session, x, [t] * n), user_fitted.predict_proba(x))


def test_user_network_graph_has_the_built_in_graphs_inputs_outputs_and_metadata(user_fitted,
                                                                                tmp_path):
    session = session_of(user_fitted, tmp_path)
    assert [item.name for item in session.get_inputs()] == ["x", "lengths"]
    assert session.get_inputs()[0].shape == ["batch", "time", 2]
    assert session.get_inputs()[1].shape == ["batch"]
    assert [item.name for item in session.get_outputs()] == ["probabilities"]
    per_frame = isinstance(user_fitted, LSTMBlinkTagger)
    assert session.get_outputs()[0].shape == (["batch", "time", 2] if per_frame
                                              else ["batch", 2])
    metadata = session.get_modelmeta().custom_metadata_map
    assert metadata["module"] == "user"
    assert metadata["module_class"] == type(user_fitted.module_.network).__name__
    assert json.loads(metadata["classes"]) == user_fitted.classes_.tolist()
    assert metadata["estimator"] == type(user_fitted).__name__
    assert json.loads(metadata["prior_correction"]) == user_fitted.prior_correction
    assert json.loads(metadata["stateful"]) is False


def test_a_forward_without_lengths_classifier_on_fixed_length_input(windows, tmp_path):
    X, y = windows
    clf = LSTMBlinkClassifier(module=MaxPoolConv, **FAST).fit(X, y)
    assert not clf.module_.passes_lengths
    assert_close(run(session_of(clf, tmp_path), X, [X.shape[1]] * len(X)),
                 clf.predict_proba(X))


def test_user_network_reads_missing_frames_as_the_estimator(windows, frame_labels, ragged,
                                                            tmp_path):
    X, y, gaps = test_onnx.with_missing_frames(windows, ragged)
    test_onnx.assert_graphs_read_missing_frames_as_the_estimators(
        (LSTMBlinkClassifier(module=MeanPoolConv, missing="mask", **FAST).fit(X, y),
         LSTMBlinkTagger(module=PositionConv, missing="mask", standardize="robust",
                         **FAST).fit(X, frame_labels)),
        X, gaps, tmp_path)


def test_exporting_a_user_network_changes_nothing_and_warns_nothing(user_fitted, windows):
    X, _ = windows
    before = user_fitted.predict_proba(X)
    rng_state = torch.get_rng_state()
    training = user_fitted.module_.training
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export_onnx(user_fitted, io.BytesIO())
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert user_fitted.module_.training == training
    np.testing.assert_array_equal(user_fitted.predict_proba(X), before)


# -- streaming: stream() and stateful graphs, the GRU and a network of the user's own ------

STREAMING_MODULES = {"GRU": "gru", "causal Conv1d": CausalConv,
                     "LSTM with a (h, c) state": FrameLSTM}


@pytest.fixture(scope="module")
def fit_streaming(windows, frame_labels):
    """A tagger per network of STREAMING_MODULES, fitted once."""
    fitted = {}

    def fit(name):
        if name not in fitted:
            X, _ = windows
            fitted[name] = LSTMBlinkTagger(
                module=STREAMING_MODULES[name], class_weight="balanced", prior_correction=True,
                missing="mask", **FAST).fit(X, frame_labels)
        return fitted[name]
    return fit


@pytest.fixture(params=list(STREAMING_MODULES))
def streaming(request, fit_streaming):
    return fit_streaming(request.param)


@pytest.fixture(params=["causal Conv1d", "LSTM with a (h, c) state"])
def user_streaming(request, fit_streaming):
    return fit_streaming(request.param)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stream_in_random_chunks_equals_predict_proba(streaming, ragged, seed):
    for recording in ragged:
        live = stream_in_chunks(streaming.stream(), recording, seed)
        assert_close(live, streaming.predict_proba([recording])[0])


def test_stream_reads_missing_frames(streaming, ragged):
    recording = ragged[0].copy()
    recording[[3, 4, 11]] = np.nan
    live = stream_in_chunks(streaming.stream(), recording, seed=3)
    assert_close(live, streaming.predict_proba([recording])[0])


@pytest.mark.parametrize("seed", [0, 1])
def test_stateful_graph_in_random_chunks_equals_predict_proba(streaming, ragged, seed,
                                                              tmp_path):
    """One recipe for every network: the state's names and shapes from the metadata."""
    session = session_of(streaming, tmp_path, stateful=True)
    for recording in ragged:
        assert_close(stream_through_graph(session, recording, seed),
                     streaming.predict_proba([recording])[0])


def test_user_network_stateful_graph_names_its_state(user_streaming, tmp_path):
    session = session_of(user_streaming, tmp_path, stateful=True)
    metadata = session.get_modelmeta().custom_metadata_map
    network = user_streaming.module_.network
    if isinstance(network, CausalConv):
        names, shapes = ["state_0"], [["batch", 3, 2]]
    else:
        names, shapes = ["state_0", "state_1"], [[1, "batch", 6], [1, "batch", 6]]
    assert json.loads(metadata["state_inputs"]) == names
    assert json.loads(metadata["state_outputs"]) == ["next_" + name for name in names]
    assert json.loads(metadata["state_shapes"]) == shapes
    assert [item.name for item in session.get_inputs()] == ["x", "lengths", *names]
    assert [item.name for item in session.get_outputs()] == [
        "probabilities", *("next_" + name for name in names)]


def test_user_classifier_stateful_graph_answers_for_everything_seen_so_far(windows,
                                                                            tmp_path):
    X, y = windows
    clf = LSTMBlinkClassifier(module=LastFrameGRU, prior_correction=True,
                              class_weight="balanced", **FAST).fit(X, y)
    session = session_of(clf, tmp_path, stateful=True)
    state = zero_state(session, len(X))
    for start, stop in [(0, 3), (3, 4), (4, 12), (12, 20)]:
        proba, state = run_stateful(session, X[:, start:stop], [stop - start] * len(X), state)
        assert_close(proba, clf.predict_proba(X[:, :stop]))


def test_user_network_stateful_rows_move_on_keep_their_state_or_say_nan(user_streaming,
                                                                        ragged, tmp_path):
    """Rows of length T move on, rows of length 0 keep their state; a row of any other
    length cannot be computed by the network: NaN, not a wrong answer."""
    session = session_of(user_streaming, tmp_path, stateful=True)
    recordings = [ragged[0], ragged[4]]  # 25 and 17 frames
    state, received, seen = zero_state(session, 2), [[], []], [0, 0]
    for sizes in [(4, 4), (3, 0), (0, 5), (6, 6)]:
        t = max(sizes)
        x = np.zeros((2, t, 2), np.float32)
        for row, size in enumerate(sizes):
            x[row, :size] = recordings[row][seen[row]:seen[row] + size]
        proba, state = run_stateful(session, x, sizes, state)
        for row, size in enumerate(sizes):
            if size:
                received[row].append(proba[row])
            else:
                assert np.isnan(proba[row]).all()
            seen[row] += size
    assert_close([np.concatenate(parts) for parts in received],
                 user_streaming.predict_proba([r[:n] for r, n in zip(recordings, seen,
                                                                      strict=True)]))
    proba, broken = run_stateful(session, np.zeros((2, 4, 2), np.float32), [4, 2], state)
    assert np.isfinite(proba[0]).all() and np.isnan(proba[1]).all()
    shapes = json.loads(session.get_modelmeta().custom_metadata_map["state_shapes"])
    for value, shape in zip(broken.values(), shapes, strict=True):
        rows = np.moveaxis(value, shape.index("batch"), 0)
        assert np.isfinite(rows[0]).all() and np.isnan(rows[1]).all()


# -- what is refused, with the reason ----------------------------------------------------


class BesselConv(nn.Module):
    """Uses torch.special.i0, which torch.onnx cannot export."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_features, n_outputs)

    def forward(self, x):
        return self.linear(torch.special.i0(x).mean(dim=1))


class LongestFrame(nn.Module):
    """Reads the frame at the batch's longest length through a Python int: a trace
    freezes that int at the example's."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_features, n_outputs)

    def forward(self, x, lengths):
        return self.linear(x[:, int(lengths.max()) - 1])


class GrowingState(CausalConv):
    """Keeps every frame it saw as its state: its size grows with the chunks."""

    def forward_with_state(self, x, state):
        both = x if state is None else torch.cat([state, x], dim=1)
        logits = super().forward_with_state(both, None)[0][:, -x.shape[1]:]
        return logits, both


class OnesState(CausalConv):
    """Starts a recording from ones, so a zero state is not a new recording."""

    def forward_with_state(self, x, state):
        if state is None:
            state = x.new_ones(x.shape[0], self.kernel - 1, x.shape[2])
        return super().forward_with_state(x, state)


def test_an_operator_onnx_lacks_is_refused_naming_the_module_and_cause(windows, tmp_path):
    X, y = windows
    clf = LSTMBlinkClassifier(module=BesselConv, **FAST).fit(X, y)
    path = tmp_path / "model.onnx"
    with pytest.raises(ValueError, match=r"BesselConv cannot be exported to ONNX.*aten::i0"):
        export_onnx(clf, path)
    assert not path.exists()


def test_a_trace_that_does_not_generalise_is_refused(windows, tmp_path):
    X, y = windows
    clf = LSTMBlinkClassifier(module=LongestFrame, **FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"LongestFrame cannot be exported to ONNX: the graph "
                                         r"traced from it .* gives other results.*\.item\(\)"):
        export_onnx(clf, tmp_path / "model.onnx")


def test_streaming_a_network_without_forward_with_state_is_refused_with_the_fix(
        windows, frame_labels, tmp_path):
    X, y = windows
    tagger = LSTMBlinkTagger(module=PositionConv, **FAST).fit(X, frame_labels)
    fix = r"needs PositionConv\.forward_with_state\(x, state\) -> \(logits, state\).*Add it"
    with pytest.raises(ValueError, match=r"stream\(\) feeds a recording chunk by chunk.*" + fix):
        tagger.stream()
    path = tmp_path / "model.onnx"
    with pytest.raises(ValueError, match=r"stateful=True\) feeds.*" + fix + ".*stateful=False"):
        export_onnx(tagger, path, stateful=True)
    assert not path.exists()
    clf = LSTMBlinkClassifier(module=MeanPoolConv, **FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"MeanPoolConv\.forward_with_state.*\(N, n_outputs\)"):
        export_onnx(clf, path, stateful=True)


@pytest.mark.parametrize("module, match", [
    (GrowingState, "the shape of state tensor 0 depends on the chunk's length"),
    (OnesState, "from a zero state gives other logits or states than from None"),
])
def test_a_state_the_graph_cannot_carry_is_refused(windows, frame_labels, module, match,
                                                    tmp_path):
    X, _ = windows
    tagger = LSTMBlinkTagger(module=module, **FAST).fit(X, frame_labels)
    with pytest.raises(ValueError, match=f"{module.__name__} cannot be exported with "
                                         f"stateful=True: .*{match}"):
        export_onnx(tagger, tmp_path / "model.onnx", stateful=True)
    export_onnx(tagger, tmp_path / "model.onnx")  # without the state it exports


def test_an_opset_torch_onnx_cannot_write_is_refused_for_a_user_network(user_fitted,
                                                                       tmp_path):
    newest = onnx.defs.onnx_opset_version()
    if newest <= 20:
        pytest.skip("the installed onnx knows no opset beyond torch.onnx's")
    with pytest.raises(ValueError, match="out of range for your own network"):
        export_onnx(user_fitted, tmp_path / "model.onnx", opset=newest)
