"""Model files of the built-in GRU and of the user's own networks (issue 22, item 4).

``save(path)`` stores the state dict in safetensors, a user's network class by its names and
its ``module__*`` arguments as JSON; ``sktorchcw.load(path, modules=[MyNet])`` rebuilds the
class only from the classes passed, and nothing a file names is ever imported.
"""

import builtins
import importlib
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from test_persistence import _contents, _frames, _rewrite
from torch import nn

import sktorchcw
from sktorchcw._model_file import FORMAT_VERSION
from sktorchcw._stored_params import module_record, rebuild_module_class
from sktorchcw._user_module import UserNetwork

# hidden_size is the built-in networks' (it warns with a module of your own).
SMALL = dict(batch_size=16, device="cpu", random_state=0)


class ConvNet(nn.Module):
    """A Conv1d classifier over each recording's valid frames, with dropout."""

    def __init__(self, n_features, n_outputs, width=6, dropout=0.2):
        super().__init__()
        self.conv = nn.Conv1d(n_features, width, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x, lengths):
        hidden = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        steps = torch.arange(x.shape[1], device=x.device)
        valid = (steps[None, :] < lengths[:, None]).unsqueeze(-1)
        pooled = (hidden * valid).sum(dim=1) / lengths[:, None]
        return self.head(self.dropout(pooled))


class FrameNet(nn.Module):
    """A per-frame network, ``forward(x)`` only: (N, T, F) -> (N, T, n_outputs)."""

    def __init__(self, n_features, n_outputs, hidden=6):
        super().__init__()
        self.gru = nn.GRU(n_features, hidden, batch_first=True)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(hidden, n_outputs)

    def forward(self, x):
        return self.head(self.dropout(self.gru(x)[0]))


class NeedsRealTensors(nn.Module):
    """A constructor that reads a tensor's value, which the meta device cannot give."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        width = int(torch.ones(1).item()) + 3
        self.linear = nn.Linear(n_features, width)
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x):
        return self.head(torch.relu(self.linear(x.mean(dim=1))))


class HalfBuffer(ConvNet):
    """Holds a bfloat16 buffer, which a model file does not store."""

    def __init__(self, n_features, n_outputs):
        super().__init__(n_features, n_outputs)
        self.register_buffer("scale", torch.ones(2, dtype=torch.bfloat16))


class ExtraState(ConvNet):
    """Has extra state in its state dict, which is no tensor."""

    def get_extra_state(self):
        return {"version": 1}

    def set_extra_state(self, state):
        pass


MODELS = {
    "gru-classifier": (sktorchcw.LSTMBlinkClassifier,
                       dict(module="gru", hidden_size=6, bidirectional=True, num_layers=2,
                            dropout=0.2), None),
    "gru-tagger": (sktorchcw.LSTMBlinkTagger, dict(module="gru", hidden_size=6, dropout=0.3),
                   None),
    "user-classifier": (sktorchcw.LSTMBlinkClassifier,
                        dict(module=ConvNet, module__width=5, module__dropout=0.3), [ConvNet]),
    "user-tagger": (sktorchcw.LSTMBlinkTagger, dict(module=FrameNet, module__hidden=5),
                    [FrameNet]),
}


def _data(kind, blinks):
    return _frames() if kind.endswith("tagger") else blinks


def _fit(kind, blinks, **params):
    estimator_class, own, _ = MODELS[kind]
    X, y = _data(kind, blinks)
    return estimator_class(**{**SMALL, "max_epochs": 2, **own, **params}).fit(X, y)


def _proba(estimator, X):
    """The probabilities as one array, for the tagger's list of per-recording arrays too."""
    proba = estimator.predict_proba(X)
    return np.concatenate(list(proba)) if proba.dtype == object else proba


@pytest.fixture(scope="module")
def saved_models(blinks, tmp_path_factory):
    """Each kind of model, fitted, and its file."""
    folder = tmp_path_factory.mktemp("networks")
    models = {}
    for kind in MODELS:
        estimator = _fit(kind, blinks)
        estimator.save(folder / kind)
        models[kind] = estimator, folder / kind
    return models


def _load(kind, path):
    return sktorchcw.load(path, modules=MODELS[kind][2])


def _copy(path, tmp_path, change=None):
    target = tmp_path / "copy.sktorchcw"
    target.write_bytes(Path(path).read_bytes())
    if change is not None:
        _rewrite(target, change)
    return target


def _refused(path, match, modules=(ConvNet,)):
    with pytest.raises(ValueError, match=match) as caught:
        sktorchcw.load(path, modules=list(modules))
    assert str(path) in str(caught.value)
    return str(caught.value)


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(MODELS))
def test_a_loaded_gru_or_user_network_predicts_exactly_the_same(saved_models, blinks, kind):
    original, path = saved_models[kind]
    loaded = _load(kind, path)
    X, _ = _data(kind, blinks)
    assert np.abs(_proba(loaded, X) - _proba(original, X)).max() == 0.0
    assert loaded.get_params() == original.get_params()
    assert type(loaded.module_) is type(original.module_)
    names = set(_contents(path)[2])
    if kind.startswith("gru"):
        assert "module.gru.weight_ih_l0" in names and loaded.module_.rnn.mode == "GRU"
    else:
        assert isinstance(loaded.module_, UserNetwork)
        assert type(loaded.module_.network) is MODELS[kind][2][0]
        assert {"module.input_mean", "module.input_scale"} <= names
        assert any(name.startswith("module.network.") for name in names)


def test_the_network_class_is_stored_by_its_names_and_its_arguments_as_json(saved_models):
    metadata = _contents(saved_models["user-classifier"][1])[0]
    assert metadata["format_version"] == FORMAT_VERSION == 3
    assert metadata["params"]["module"] == {
        "module_class": {"module": ConvNet.__module__, "qualname": "ConvNet"}}
    assert metadata["params"]["module__width"] == 5
    assert metadata["params"]["module__dropout"] == 0.3
    assert _contents(saved_models["gru-tagger"][1])[0]["params"]["module"] == "gru"


@pytest.mark.parametrize("kind, how", [("gru-classifier", "warm_start"),
                                       ("gru-tagger", "partial_fit"),
                                       ("user-classifier", "warm_start"),
                                       ("user-classifier", "partial_fit"),
                                       ("user-tagger", "warm_start")])
def test_training_continues_after_load_exactly_as_the_original_would(blinks, tmp_path, kind,
                                                                     how):
    X, y = _data(kind, blinks)
    original = _fit(kind, blinks)  # dropout: the random state of the fit is in the file too
    original.save(tmp_path / "m")
    loaded = _load(kind, tmp_path / "m")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning that the optimizer restarts
        continued = _continue(loaded, how, X, y)
    expected = _continue(original, how, X, y)
    assert len(continued.history_) == len(expected.history_) == 3
    np.testing.assert_allclose(_proba(continued, X), _proba(expected, X), rtol=0, atol=1e-6)


def _continue(estimator, how, X, y):
    if how == "warm_start":
        return estimator.set_params(warm_start=True, max_epochs=1).fit(X, y)
    return estimator.partial_fit(X, y)


@pytest.mark.parametrize("kind", ["gru-tagger", "user-classifier"])
def test_a_file_without_optimizer_state_predicts_the_same_and_warns_when_continued(
        saved_models, blinks, tmp_path, kind):
    original, _ = saved_models[kind]
    original.save(tmp_path / "small", optimizer=False)
    assert not any(name.startswith("optimizer.") for name in _contents(tmp_path / "small")[2])
    loaded = _load(kind, tmp_path / "small")
    X, y = _data(kind, blinks)
    assert np.abs(_proba(loaded, X) - _proba(original, X)).max() == 0.0
    with pytest.warns(UserWarning, match="optimizer restarts from a fresh state"):
        _continue(loaded, "warm_start", X, y)


def test_a_constructor_that_needs_real_tensors_still_loads(blinks, tmp_path):
    X, y = blinks
    clf = sktorchcw.LSTMBlinkClassifier(module=NeedsRealTensors, max_epochs=1, **SMALL).fit(X, y)
    clf.save(tmp_path / "m")
    state = torch.get_rng_state()
    loaded = sktorchcw.load(tmp_path / "m", modules=[NeedsRealTensors])
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", ["gru-classifier", "user-classifier"])
def test_a_gru_or_user_network_saved_on_a_gpu_loads_on_the_cpu(blinks, tmp_path, kind):
    original = _fit(kind, blinks, device="cuda")
    original.save(tmp_path / "m")
    loaded = sktorchcw.load(tmp_path / "m", device="cpu", modules=MODELS[kind][2])
    assert loaded.device_ == "cpu"
    X, _ = blinks
    np.testing.assert_allclose(loaded.predict_proba(X), original.predict_proba(X), atol=1e-5)


# -- which classes load rebuilds ------------------------------------------------------------


def test_a_file_naming_a_class_not_passed_says_to_pass_it(saved_models):
    _, path = saved_models["user-classifier"]
    for modules in ([], [FrameNet]):
        message = _refused(path, "pass modules=\\[ConvNet\\]", modules)
        assert f"network class ConvNet of module {ConvNet.__module__}" in message
    assert "FrameNet (module test_save_networks)" in message
    with pytest.raises(ValueError, match="pass modules=\\[ConvNet\\]"):
        sktorchcw.load(path)  # modules=None


@pytest.mark.parametrize("modules", [
    [1], ["test_save_networks.ConvNet"], [ConvNet(2, 2)], [len], [nn.Module, int],
    ConvNet, "ConvNet", 3,
], ids=["number", "name", "instance", "function", "not-a-module", "bare-class", "string",
        "not-a-list"])
def test_modules_must_be_a_list_of_module_classes(saved_models, modules):
    with pytest.raises(TypeError, match="modules="):
        sktorchcw.load("checked/before/the/file/is/read.sktorchcw", modules=modules)
    with pytest.raises(TypeError, match="modules="):
        sktorchcw.load(saved_models["gru-classifier"][1], modules=modules)


def test_modules_are_ignored_for_the_built_in_networks(saved_models, blinks):
    original, path = saved_models["gru-classifier"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = sktorchcw.load(path, modules=[ConvNet, FrameNet])
    X, _ = blinks
    np.testing.assert_array_equal(loaded.predict_proba(X), original.predict_proba(X))


def _naming(module, qualname):
    def change(metadata, _):
        metadata["params"]["module"] = {"module_class": {"module": module, "qualname": qualname}}
    return change


def test_a_class_moved_to_another_module_loads_when_passed(saved_models, blinks, tmp_path):
    original, path = saved_models["user-classifier"]
    moved = _copy(path, tmp_path, _naming("old_package.networks", "ConvNet"))
    X, _ = blinks
    loaded = sktorchcw.load(moved, modules=[FrameNet, ConvNet])
    np.testing.assert_array_equal(loaded.predict_proba(X), original.predict_proba(X))


def test_the_module_name_picks_among_classes_of_the_same_name(saved_models, tmp_path):
    _, path = saved_models["user-classifier"]
    twin = type("ConvNet", (ConvNet,), {"__module__": "elsewhere", "__qualname__": "ConvNet"})
    assert sktorchcw.load(path, modules=[twin, ConvNet]).module is ConvNet
    assert sktorchcw.load(_copy(path, tmp_path, _naming("elsewhere", "ConvNet")),
                          modules=[ConvNet, twin]).module is twin
    _refused(_copy(path, tmp_path, _naming("third", "ConvNet")),
             "several classes passed in modules= have that name", [ConvNet, twin])


def _imports_during(action):
    """Run ``action``; the names given to ``import`` and ``importlib.import_module`` meanwhile,
    and the modules that appeared in ``sys.modules``."""
    imported, before = [], set(sys.modules)
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def recording_import(name, *args, **kwargs):
        imported.append(name)
        return real_import(name, *args, **kwargs)

    def recording_import_module(name, *args, **kwargs):
        imported.append(name)
        return real_import_module(name, *args, **kwargs)

    builtins.__import__, importlib.import_module = recording_import, recording_import_module
    try:
        action()
    finally:
        builtins.__import__, importlib.import_module = real_import, real_import_module
    return imported, set(sys.modules) - before


@pytest.mark.parametrize("module, qualname", [
    ("os", "system"),
    ("tabnanny", "NannyNag"),  # in the standard library, and not imported by anything here
    ("this", "ThisRunsOnImport"),  # printing the Zen of Python, were it imported
    ("no_such_module_anywhere", "Net"),
    ("subprocess", "Popen"),
])
def test_nothing_a_file_names_is_imported(saved_models, tmp_path, module, qualname):
    assert module not in sys.modules or module in ("os", "subprocess")
    forged = _copy(saved_models["user-classifier"][1], tmp_path, _naming(module, qualname))

    def load():
        _refused(forged, f"names the network class {qualname} of module {module}, which is "
                         f"not among the classes passed .* pass modules=\\[{qualname}\\]")

    imported, appeared = _imports_during(load)
    assert module not in imported and module not in appeared
    assert not any(name.split(".")[0] == module for name in appeared)


@pytest.mark.parametrize("record, match", [
    ({"module": "os"}, "does not name a network class as save writes it"),
    ({"module": 3, "qualname": "ConvNet"}, "does not name a network class as save writes it"),
    ({"module": "m", "qualname": "ConvNet", "code": "x"}, "does not name a network class"),
    ("os.system", "does not name a network class as save writes it"),
    ({"module": "os; rm -rf", "qualname": "ConvNet"}, "strings that are not Python names"),
    ({"module": "m", "qualname": "ConvNet()"}, "strings that are not Python names"),
    ({"module": "m", "qualname": "<locals>.ConvNet"}, "strings that are not Python names"),
    ({"module": "", "qualname": "ConvNet"}, "strings that are not Python names"),
], ids=["no-qualname", "number", "extra-key", "a-string", "module-code", "call", "locals-first",
        "empty"])
def test_a_malformed_class_record_is_refused(saved_models, tmp_path, record, match):
    def change(metadata, _):
        metadata["params"]["module"] = {"module_class": record}

    message = _refused(_copy(saved_models["user-classifier"][1], tmp_path, change), match)
    assert "parameter module" in message


def test_only_the_module_parameter_holds_a_class(saved_models, tmp_path):
    def change(metadata, _):
        metadata["params"]["module__width"] = {
            "module_class": module_record(ConvNet)}

    _refused(_copy(saved_models["user-classifier"][1], tmp_path, change),
             "parameter module__width holds a class record, which only the parameter module")


def test_module_record_and_rebuild_work_for_any_network_class():
    record = module_record(nn.TransformerEncoder)
    assert record == {"module": "torch.nn.modules.transformer",
                      "qualname": "TransformerEncoder"}
    assert rebuild_module_class(record, (ConvNet, nn.TransformerEncoder), "here") is (
        nn.TransformerEncoder)
    with pytest.raises(ValueError, match="^here names .* pass modules=\\[TransformerEncoder\\]"):
        rebuild_module_class(record, (), "here")
    with pytest.raises(TypeError):
        module_record(len)


# -- the checks at load, for a user's network and the GRU -----------------------------------


def _tensor(name, value):
    return lambda _, tensors: tensors.update({name: value})


@pytest.mark.parametrize("change, match", [
    (_tensor("module.input_mean", torch.zeros(3)),
     "n_features is 2, but the network's input_mean has shape \\(3,\\)"),
    (_tensor("module.network.conv.weight", torch.zeros(5, 2, 4)),
     "do not fit .* network.conv.weight: \\(5, 2, 4\\) where the parameters give \\(5, 2, 3\\)"),
    (_tensor("module.network.extra", torch.zeros(1)),
     "do not fit .* network.extra: \\(1,\\) where the parameters give nothing"),
    (lambda _, tensors: tensors.pop("module.network.head.bias"),
     "do not fit .* network.head.bias: missing where the parameters give \\(2,\\)"),
    (lambda metadata, _: metadata["params"].update(module__width=7),
     "do not fit .* network.conv.bias: \\(5,\\) where the parameters give \\(7,\\)"),
    (lambda metadata, _: metadata["params"].update(module__depth=7),
     "refuses: ConvNet does not take the parameter\\(s\\) \\['module__depth'\\]"),
    (lambda _, tensors: tensors["module.network.head.weight"].fill_(float("nan")),
     "NaN or infinite weights"),
    (lambda _, tensors: tensors["module.input_scale"].fill_(0.0), "input_scale .* not positive"),
], ids=["input-mean", "weight-shape", "extra-weight", "missing-weight", "edited-argument",
        "unknown-argument", "nan", "scale"])
def test_a_user_network_file_is_checked_against_the_network_it_describes(
        saved_models, tmp_path, change, match):
    _refused(_copy(saved_models["user-classifier"][1], tmp_path, change), match)


def test_the_missing_frame_fill_must_have_one_value_per_feature(blinks, tmp_path):
    X, y = blinks
    X = X.copy()
    X[0, 3] = np.nan
    clf = sktorchcw.LSTMBlinkClassifier(module=ConvNet, missing="mask", max_epochs=1,
                                        **SMALL).fit(X, y)
    clf.save(tmp_path / "m")
    assert sktorchcw.load(tmp_path / "m", modules=[ConvNet]).module_.fills_missing
    _refused(_copy(tmp_path / "m", tmp_path, _tensor("module.missing_fill", torch.zeros(3))),
             "n_features is 2, but the network's missing_fill has shape \\(3,\\)")


# -- what save refuses ----------------------------------------------------------------------


@pytest.mark.parametrize("params, match", [
    (dict(module__dropout=nn.Dropout(0.1)), "module__dropout=Dropout"),
    (dict(module__dropout=lambda: 0.1), "module__dropout=<function"),
], ids=["a-layer", "a-function"])
def test_network_arguments_that_are_not_plain_values_are_refused(blinks, tmp_path, params,
                                                                 match):
    class Tolerant(ConvNet):
        def __init__(self, n_features, n_outputs, dropout=0.0):
            super().__init__(n_features, n_outputs)

    X, y = blinks
    clf = sktorchcw.LSTMBlinkClassifier(module=Tolerant, max_epochs=1, **SMALL, **params)
    clf.fit(X, y)
    with pytest.raises(ValueError, match=f"{match}.*cannot be stored in a safe model file.*"
                                         "your network's constructor.*plain value"):
        clf.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("network, match", [
    (HalfBuffer, "holds network.scale, a torch.bfloat16 tensor"),
    (ExtraState, "holds network._extra_state, a dict"),
])
def test_network_state_a_file_does_not_store_is_refused_at_save(blinks, tmp_path, network,
                                                                match):
    X, y = blinks
    clf = sktorchcw.LSTMBlinkClassifier(module=ConvNet, max_epochs=1, **SMALL).fit(X, y)
    # Given such state after training: training itself may not take it (extra state).
    clf.module_.network.__class__ = network
    if network is HalfBuffer:
        clf.module_.network.register_buffer("scale", torch.ones(2, dtype=torch.bfloat16))
    with pytest.raises(ValueError, match=f"{match}, which a safe model file does not store"):
        clf.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


# -- files of the previous format -----------------------------------------------------------

# tests/data/format2-lstm.sktorchcw: saved at commit edaafa9 (model file format 2, before
# module=) from LSTMBlinkClassifier(hidden_size=3, max_epochs=2, batch_size=16, dropout=0.2,
# device="cpu", random_state=0).fit(*_format2_data()), with what it predicted then for the
# first four recordings, and after one more epoch with warm_start.
FORMAT2_FILE = Path(__file__).parent / "data" / "format2-lstm.sktorchcw"
FORMAT2_PROBA = [[0.5046034905349691, 0.49539650946503094],
                 [0.5126916990012859, 0.48730830099871414],
                 [0.4829742969911919, 0.5170257030088082],
                 [0.5121381532040377, 0.48786184679596234]]
FORMAT2_CONTINUED = [[0.5234270694792966, 0.4765729305207033],
                     [0.523447974476862, 0.476552025523138],
                     [0.49567791409305345, 0.5043220859069466],
                     [0.5286666109292131, 0.471333389070787]]


def _format2_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 12, 2)).astype("float32")
    return X, np.where(X[:, :, 0].mean(1) > 0, "up", "down")


def test_a_file_of_the_previous_format_still_loads_predicts_and_continues():
    assert _contents(FORMAT2_FILE)[0]["format_version"] == 2
    assert "module" not in _contents(FORMAT2_FILE)[0]["params"]
    X, y = _format2_data()
    loaded = sktorchcw.load(FORMAT2_FILE, modules=[ConvNet])
    assert loaded.module is None and type(loaded.module_).__name__ == "LSTMLogits"
    np.testing.assert_allclose(loaded.predict_proba(X[:4]), FORMAT2_PROBA, rtol=0, atol=1e-7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded.set_params(warm_start=True, max_epochs=1).fit(X, y)
    np.testing.assert_allclose(loaded.predict_proba(X[:4]), FORMAT2_CONTINUED, rtol=0,
                               atol=1e-6)
