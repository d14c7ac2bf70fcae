"""Empty input: no recordings for the estimators (scikit-learn's ValueError), an empty batch
for an exported graph (onnxruntime kills the process: never sent), no frames for a stream
(the network is not run) and the documented ONNX streaming recipe (it skips empty chunks)."""

import importlib.util
import pathlib
import re
import subprocess
import sys
import textwrap
import types

import numpy as np
import pandas as pd
import pytest

import sktorchcw
from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger
from sktorchcw.datasets import make_blink_dataset

FAST = dict(max_epochs=1, hidden_size=4, batch_size=32, device="cpu", random_state=0)
DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "deploying.rst"
ZERO_SAMPLES = r"Found array with 0 sample\(s\)"


@pytest.fixture(scope="module")
def windows():
    X, y = make_blink_dataset(48, seq_len=12, prevalence=0.3, random_state=0)
    return X, y, (X[:, :, 0] > np.median(X[:, :, 0])).astype(int)


@pytest.fixture(scope="module")
def fitted(windows):
    X, y, frames = windows
    return {
        "classifier": LSTMBlinkClassifier(**FAST).fit(X, y),
        "classifier on columns": LSTMBlinkClassifier(**FAST).fit(
            pd.DataFrame(X[:, :, 0], columns=[f"t{i}" for i in range(12)]), y),
        "tagger": LSTMBlinkTagger(**FAST).fit(X, frames),
    }


EMPTY = {
    "empty list": lambda: [],
    "empty tuple": lambda: (),
    "array (0, T, F)": lambda: np.zeros((0, 12, 2)),
    "array (0, 0, F)": lambda: np.zeros((0, 0, 2)),
    "empty object array": lambda: np.empty(0, dtype=object),
    "empty DataFrame": pd.DataFrame,
    "DataFrame of 0 rows": lambda: pd.DataFrame(np.zeros((0, 12)),
                                                columns=[f"t{i}" for i in range(12)]),
    "array (0, T)": lambda: np.zeros((0, 12)),
}


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
@pytest.mark.parametrize("kind", ["classifier", "classifier on columns", "tagger"])
@pytest.mark.parametrize("empty", list(EMPTY))
def test_no_recordings_to_predict_is_scikit_learns_value_error(fitted, kind, method, empty):
    """As check_array says it, whatever layout the model was fitted on (an empty DataFrame
    for a model of 3-D sequences used to get a complaint about its columns)."""
    with pytest.raises(ValueError, match=ZERO_SAMPLES):
        getattr(fitted[kind], method)(EMPTY[empty]())


@pytest.mark.parametrize("estimator", [LSTMBlinkClassifier, LSTMBlinkTagger])
@pytest.mark.parametrize("empty", ["empty list", "array (0, T, F)", "empty DataFrame"])
def test_no_recordings_to_fit_is_scikit_learns_value_error(estimator, empty):
    model = estimator(**FAST)
    with pytest.raises(ValueError, match=ZERO_SAMPLES):
        model.fit(EMPTY[empty](), [])
    assert not hasattr(model, "net_")


# -- exported graphs ------------------------------------------------------------------------

needs_onnx = pytest.mark.skipif(
    importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="export_onnx needs the [onnx] extra (onnx and onnxruntime)")

# Runs one batch through an exported graph in a process of its own: onnxruntime may kill it.
CHILD = """
import sys
import numpy as np
import onnxruntime
path, n, t = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
feeds = {"x": np.zeros((n, t, 2), np.float32), "lengths": np.full(n, t, np.int64)}
for state in session.get_inputs()[2:]:
    feeds[state.name] = np.zeros((state.shape[0], n, state.shape[2]), np.float32)
print("returned", [output.shape for output in session.run(None, feeds)])
"""


def run_in_a_child(path, n, t):
    return subprocess.run([sys.executable, "-c", CHILD, str(path), str(n), str(t)],
                          capture_output=True, text=True, timeout=120)


@needs_onnx
@pytest.mark.parametrize("stateful", [False, True], ids=["plain", "stateful"])
@pytest.mark.parametrize("kind", ["classifier", "tagger"])
def test_an_empty_batch_kills_onnxruntime_so_the_docs_say_never_send_one(fitted, kind,
                                                                          stateful, tmp_path):
    """What docs/deploying.rst says of N = 0, measured: with onnxruntime 1.32 the process
    dies (SIGSEGV, return code -11; ONNX's LSTM alone aborts, -6). If this starts to pass
    through, onnxruntime has changed: update the page."""
    path = tmp_path / "model.onnx"
    sktorchcw.export_onnx(fitted[kind], path, stateful=stateful)
    assert "returned" in run_in_a_child(path, 2, 5).stdout  # the child itself works
    empty = run_in_a_child(path, 0, 5)
    assert empty.returncode != 0 and "returned" not in empty.stdout, (
        "onnxruntime now runs an empty batch; update the Deploying page")


@needs_onnx
def test_a_call_without_frames_fails_in_the_taggers_graph(fitted, tmp_path):
    """T = 0, the other empty input the page tells callers not to send."""
    path = tmp_path / "model.onnx"
    sktorchcw.export_onnx(fitted["tagger"], path, stateful=True)
    no_frames = run_in_a_child(path, 2, 0)
    assert no_frames.returncode != 0 and "returned" not in no_frames.stdout


# -- streaming never sends one --------------------------------------------------------------


def test_a_stream_given_no_frames_does_not_run_the_network(fitted, windows):
    X, _, _ = windows
    tagger = fitted["tagger"]
    stream = tagger.stream()
    first = stream.update(X[0, :4])
    forward = stream._module.forward_with_state

    def refuse(x, state=None):
        raise AssertionError(f"the network was run on a block of shape {tuple(x.shape)}")

    stream._module.forward_with_state = refuse
    for empty in (np.empty((0, 2)), np.empty((0, 2), np.int64), pd.DataFrame(np.zeros((0, 2)))):
        proba = stream.update(empty)
        assert proba.shape == (0, 2) and proba.dtype == np.float64
    assert stream.n_frames_ == 4
    stream._module.forward_with_state = forward
    rest = stream.update(X[0, 4:])
    np.testing.assert_allclose(np.vstack([first, rest]), tagger.predict_proba(X[:1])[0],
                               atol=1e-5)


def documented_recipe(marker):
    """The code block of docs/deploying.rst that contains ``marker``."""
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", DOCS.read_text())
    (block,) = [block for block in blocks if marker in block]
    return textwrap.dedent(block)


class RecordingSession:
    """An onnxruntime session that refuses empty batches and keeps the probabilities."""

    def __init__(self, *args, **kwargs):
        import onnxruntime

        self._session = onnxruntime.InferenceSession(*args, **kwargs)
        self.probabilities = []
        RecordingSession.last = self

    def get_modelmeta(self):
        return self._session.get_modelmeta()

    def run(self, names, feeds):
        n, t = feeds["x"].shape[:2]
        assert n > 0 and t > 0, f"the recipe sent x of shape {feeds['x'].shape}"
        outputs = self._session.run(names, feeds)
        self.probabilities.append(outputs[0])
        return outputs


@needs_onnx
def test_the_documented_onnx_streaming_recipe_never_sends_an_empty_batch(fitted, windows,
                                                                         tmp_path,
                                                                         monkeypatch):
    X, _, _ = windows
    tagger = fitted["tagger"]
    recording = np.ascontiguousarray(X[3], dtype=np.float32)
    cuts = np.cumsum([0, 3, 0, 1, 0, 0, 5, 0, 2])
    camera = [recording[start:stop] for start, stop in zip(cuts, [*cuts[1:], None], strict=True)]
    assert sum(len(frames) == 0 for frames in camera) == 4
    monkeypatch.chdir(tmp_path)
    recipe = documented_recipe('export_onnx(tagger, "live.onnx", stateful=True)')
    runtime = types.SimpleNamespace(InferenceSession=RecordingSession)
    exec(recipe, {"np": np, "onnxruntime": runtime, "sktorchcw": sktorchcw, "tagger": tagger,
                  "camera": camera})
    received = np.concatenate([proba[0] for proba in RecordingSession.last.probabilities])
    np.testing.assert_allclose(received, tagger.predict_proba([recording])[0], atol=1e-5)
