"""Safe model files: clf.save(path) and sktorchcw.load(path).

What a file can do to the reader (pickle payloads, forged safetensors) is tested in
test_safe_files.py; here: what is stored, round trips, and forged metadata.
"""

import io
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch
from sklearn.exceptions import NotFittedError
from torch import nn

import sktorchcw
from sktorchcw._safe_file import encode_safe_file

from helpers import fast_classifier


@pytest.fixture
def saved(blinks, tmp_path):
    X, y = blinks
    labels = np.array(["open", "blink"])[y]
    clf = fast_classifier(class_weight={"blink": 4.0}, criterion=nn.HuberLoss,
                          criterion__delta=0.5, optimizer__weight_decay=1e-4).fit(X, labels)
    path = tmp_path / "model.sktorchcw"
    clf.save(path)
    return clf, path, X, labels


def test_round_trip_predicts_the_same_and_keeps_everything(saved):
    clf, path, X, labels = saved
    loaded = sktorchcw.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    np.testing.assert_array_equal(loaded.class_weight_, clf.class_weight_)
    assert loaded.get_params() == clf.get_params()
    assert loaded.history_.to_list() == json.loads(json.dumps(clf.history_.to_list()))
    assert loaded.device_ == "cpu"
    loaded.set_params(max_epochs=1).fit(X, labels)  # a loaded model can be trained again


def test_round_trip_of_2d_dataframe_and_single_logit_models(three_classes, blinks, tmp_path):
    X, y = three_classes
    frame = pd.DataFrame(X, columns=[f"t{i}" for i in range(X.shape[1])])
    clf = fast_classifier(max_epochs=2).fit(frame, y)
    clf.save(tmp_path / "a")
    loaded = sktorchcw.load(tmp_path / "a")
    np.testing.assert_array_equal(loaded.feature_names_in_, clf.feature_names_in_)
    np.testing.assert_array_equal(loaded.predict_proba(frame), clf.predict_proba(frame))

    X, y = blinks
    binary = fast_classifier(criterion=nn.BCEWithLogitsLoss, max_epochs=2).fit(X, y == 1)
    binary.save(tmp_path / "b")
    np.testing.assert_array_equal(sktorchcw.load(tmp_path / "b").predict(X), binary.predict(X))


def test_loading_keeps_global_random_state(saved):
    _, path, _, _ = saved
    state = torch.get_rng_state()
    sktorchcw.load(path)
    assert torch.equal(torch.get_rng_state(), state)


def _contents(path):
    """A model file's JSON metadata, checksum and tensors, read with safetensors."""
    data = open(path, "rb").read()
    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])["__metadata__"]
    return json.loads(header["sktorchcw"]), header["sha256"], safetensors.torch.load(data)


def _rewrite(path, change):
    """Change a model file's metadata and tensors, and save it with a valid checksum."""
    metadata, _, tensors = _contents(path)
    change(metadata, tensors)
    with open(path, "wb") as file:
        file.write(encode_safe_file(metadata, tensors))


def _write_keeping_checksum(path, metadata, tensors, sha256):
    with open(path, "wb") as file:
        file.write(safetensors.torch.save(
            tensors, metadata={"sktorchcw": json.dumps(metadata), "sha256": sha256}))


def test_the_file_is_a_safetensors_file_of_the_weights(saved):
    clf, path, _, _ = saved
    metadata, _, tensors = _contents(path)
    assert metadata["format"] == "sktorchcw-model" and metadata["format_version"] == 3
    for name, weight in clf.module_.state_dict().items():
        assert torch.equal(tensors[f"module.{name}"], weight)


def test_tampered_file_is_refused(saved):
    _, path, _, _ = saved
    metadata, sha256, tensors = _contents(path)
    metadata["class_weight"][0] = 9.0
    _write_keeping_checksum(path, metadata, tensors, sha256)
    with pytest.raises(ValueError, match="changed or damaged"):
        sktorchcw.load(path)


def test_tampered_weights_are_refused(saved):
    _, path, _, _ = saved
    metadata, sha256, tensors = _contents(path)
    tensors["module.head.bias"] += 1.0
    _write_keeping_checksum(path, metadata, tensors, sha256)
    with pytest.raises(ValueError, match="changed or damaged"):
        sktorchcw.load(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"random bytes that are not a model", json.dumps({"format": "x"}).encode()],
    ids=["empty", "bytes", "json"],
)
def test_foreign_files_are_refused(tmp_path, content):
    path = tmp_path / "foreign"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a model file"):
        sktorchcw.load(path)


def test_a_plain_state_dict_is_not_a_model_file(tmp_path):
    safetensors.torch.save_file(nn.Linear(2, 2).state_dict(), tmp_path / "weights.safetensors")
    with pytest.raises(ValueError, match="not a model file"):
        sktorchcw.load(tmp_path / "weights.safetensors")


def test_newer_format_is_refused(saved):
    _, path, _, _ = saved
    _rewrite(path, lambda metadata, _: metadata.update(format_version=99))
    with pytest.raises(ValueError, match="newer"):
        sktorchcw.load(path)


def test_weights_that_do_not_fit_are_refused(saved):
    _, path, _, _ = saved
    _rewrite(path, lambda _, state: state.update({"module.head.bias": torch.zeros(7)}))
    with pytest.raises(ValueError, match="do not fit"):
        sktorchcw.load(path)


@pytest.mark.parametrize("reference", [
    "os:system",
    "torch.hub:load",
    "builtins:eval",
    "torch.nn.functional:torch",  # a module reachable from torch.nn.functional
    "torch.nn.functional:handle_torch_function",  # a function there that is no loss
    "torch.utils.benchmark:Timer",  # under torch, but not a loss module: never imported
    "torch.optim:Adam",  # an optimizer is no criterion
    "torch.nn.modules.loss:Module",  # imported there, defined elsewhere, and no loss
    "torch.nn.modules.loss:_Loss",  # a private base class
    "sktorchcw._module:LSTMLogits",  # sktorchcw's, but no loss
])
def test_only_torch_losses_are_resolved_by_name(saved, reference):
    _, path, _, _ = saved
    _rewrite(path, lambda metadata, _: metadata["params"].update(
        criterion={"callable": reference}))
    with pytest.raises(ValueError, match="refused"):
        sktorchcw.load(path)


def _set(key, value):
    return lambda metadata, _: metadata.update({key: value})


def _set_param(key, value):
    return lambda metadata, _: metadata["params"].update({key: value})


@pytest.mark.parametrize("change, match", [
    (_set("params", [1]), "malformed metadata entries \\['params'\\]"),
    (lambda metadata, _: metadata.pop("classes"), "malformed metadata entries \\['classes'\\]"),
    (_set("classes", {"dtype": "zzz", "values": [0, 1]}), "cannot use"),
    (_set("history", 5), "malformed"),
    (_set("n_features", -3), "no input features"),
    (_set("n_features", 10**30), "n_features"),
    (_set("format_version", 1.0), "unknown model file format version"),
    (_set("format_version", True), "unknown model file format version"),
    (_set_param("evil", 1), "does not have: \\['evil'\\]"),
    (_set_param("max_epochs", -5), "max_epochs"),
    (_set_param("hidden_size", {"callable": "torch.nn.modules.loss:L1Loss"}), "hidden_size"),
    (_set_param("optimizer", "torch.optim:SGD"), "optimizer"),
], ids=["params-list", "no-classes", "bad-dtype", "history-int", "negative-features",
        "huge-features", "version-float", "version-bool", "unknown-param", "negative-epochs",
        "callable-hidden-size", "optimizer-string"])
def test_forged_metadata_with_a_valid_checksum_is_a_clear_value_error(saved, change, match):
    _, path, _, _ = saved
    _rewrite(path, change)
    with pytest.raises(ValueError, match=match):
        sktorchcw.load(path)


def test_parameters_describing_a_huge_network_are_refused_without_building_it(saved):
    _, path, _, _ = saved
    _rewrite(path, _set_param("hidden_size", 10**7))  # 10**14 weights if it were built
    with pytest.raises(ValueError, match="do not fit"):
        sktorchcw.load(path)


def test_non_finite_weights_are_refused(saved):
    _, path, _, _ = saved
    _rewrite(path, lambda _, state: state["module.head.bias"].fill_(float("nan")))
    with pytest.raises(ValueError, match="NaN or infinite"):
        sktorchcw.load(path)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.complex64, torch.float8_e4m3fn])
def test_files_with_other_tensor_types_are_not_model_files(tmp_path, dtype):
    path = tmp_path / "other"
    _write_keeping_checksum(path, {"format": "sktorchcw-model"},
                            {"module.a": torch.zeros(2, dtype=dtype)}, "0" * 64)
    with pytest.raises(ValueError, match="not a model file.*tensors of a type"):
        sktorchcw.load(path)


@pytest.mark.parametrize("params, match", [
    ({"class_weight": {"set": [1]}}, "class_weight holds a value"),
    ({"class_weight": {"array": ["|O", [1], [1]]}}, "class_weight holds a value"),
    ({"lr": {"tensor": "missing"}}, "lr holds a value"),
    ({"criterion": {"instance": "torch.nn.modules.loss:HuberLoss", "args": {"nope": 1}}},
     "cannot use"),
    ({"criterion": {"instance": "os:system", "args": {}}}, "refused"),
    ({"criterion": {"instance": "torch.nn.functional:l1_loss", "args": {}}}, "not a loss class"),
], ids=["unknown-kind", "object-array", "missing-tensor", "bad-argument", "os", "function"])
def test_forged_parameter_values_are_refused(saved, params, match):
    _, path, _, _ = saved
    _rewrite(path, lambda metadata, _: metadata["params"].update(params))
    with pytest.raises(ValueError, match=match):
        sktorchcw.load(path)


def test_save_refuses_what_it_cannot_store_safely(blinks, tmp_path):
    X, y = blinks
    with pytest.raises(NotFittedError):
        fast_classifier().save(tmp_path / "x")

    def own_loss(logits, target):
        return nn.functional.cross_entropy(logits, target, reduction="none")

    clf = fast_classifier(criterion=own_loss, criterion__input_format="logits",
                          criterion__target_format="index", max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="pickle"):
        clf.save(tmp_path / "x")


def test_training_only_parameters_are_dropped_with_a_warning(blinks, tmp_path):
    X, y = blinks
    from skorch.callbacks import EarlyStopping, EpochTimer

    clf = fast_classifier(max_epochs=1, callbacks=[("timer2", EpochTimer()),
                                                   ("stop", EarlyStopping(monitor="train_loss"))],
                          callbacks__stop__sink=print, checkpoint_dir=tmp_path / "ckpt").fit(X, y)
    with pytest.warns(UserWarning) as record:
        clf.save(tmp_path / "m")
    messages = " ".join(str(warning.message) for warning in record)
    for name in ("callbacks", "callbacks__stop__sink", "checkpoint_dir"):
        assert f"{name} is not saved" in messages
    assert {warning.filename for warning in record} == {__file__}  # points at the caller
    loaded = sktorchcw.load(tmp_path / "m")
    assert loaded.callbacks is None and loaded.checkpoint_dir is None
    assert "callbacks__stop__sink" not in loaded.get_params()


def test_requested_device(saved):
    _, path, _, _ = saved
    assert sktorchcw.load(path, device="cpu").device_ == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            sktorchcw.load(path, device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_model_saved_on_gpu_loads_on_a_cpu_only_machine(blinks, tmp_path):
    X, y = blinks
    clf = fast_classifier(device="cuda").fit(X, y)
    clf.save(tmp_path / "gpu.sktorchcw")
    np.save(tmp_path / "X.npy", X)
    script = (
        "import warnings, numpy as np, sktorchcw\n"
        "warnings.simplefilter('ignore')\n"
        f"clf = sktorchcw.load({str(tmp_path / 'gpu.sktorchcw')!r})\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, clf.predict_proba(np.load("
        f"{str(tmp_path / 'X.npy')!r})))\n"
        "print(clf.device_)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, check=True)
    assert done.stdout.strip() == "cpu"
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), clf.predict_proba(X), atol=1e-5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_model_for_an_absent_device_loads_on_the_cpu_with_a_warning_at_the_caller(saved):
    clf, path, X, _ = saved
    _rewrite(path, lambda metadata, _: (metadata["params"].update(device="cuda"),
                                        metadata.update(device="cuda:0")))
    with pytest.warns(UserWarning, match="saved on cuda:0") as record:
        loaded = sktorchcw.load(path)
    assert record[0].filename == __file__
    assert loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


# -- what save() stores (issue 11, B7) --------------------------------------------------------


def test_save_and_load_take_file_objects(saved, tmp_path):
    clf, path, X, _ = saved
    buffer = io.BytesIO()
    clf.save(buffer)
    loaded = sktorchcw.load(io.BytesIO(buffer.getvalue()))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    with open(tmp_path / "opened.sktorchcw", "wb") as file:
        clf.save(file)
    with open(tmp_path / "opened.sktorchcw", "rb") as file:
        np.testing.assert_array_equal(sktorchcw.load(file).predict(X), clf.predict(X))


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_loading_a_text_file_object_says_to_open_it_in_binary_mode(saved, encoding):
    _, path, _, _ = saved
    with open(path, encoding=encoding) as file, pytest.raises(TypeError) as caught:
        sktorchcw.load(file)
    assert str(path) in str(caught.value) and "binary mode ('rb')" in str(caught.value)


def test_saving_into_a_text_file_object_says_to_open_it_in_binary_mode(saved, tmp_path):
    clf, _, _, _ = saved
    with open(tmp_path / "text", "w") as file, pytest.raises(TypeError, match="'wb'"):
        clf.save(file)


def test_saving_into_a_missing_folder_names_it_and_writes_nothing(saved, tmp_path):
    clf, _, _, _ = saved
    missing = tmp_path / "no" / "such"
    with pytest.raises(FileNotFoundError, match=f"{missing}.*does not exist.*[Cc]reate it"):
        clf.save(missing / "model.sktorchcw")
    assert not (tmp_path / "no").exists()


def _same(first, second):
    """Equal, of the same types throughout; losses of the same class and settings."""
    if isinstance(first, nn.Module):
        return type(first) is type(second) and _same(_loss_settings(first),
                                                     _loss_settings(second))
    if isinstance(first, np.ndarray):
        return (isinstance(second, np.ndarray) and first.dtype == second.dtype
                and np.array_equal(first, second))
    if isinstance(first, torch.Tensor):
        return (isinstance(second, torch.Tensor) and first.dtype == second.dtype
                and torch.equal(first, second))
    if isinstance(first, dict):
        return (type(second) is dict and [type(key) for key in first]
                == [type(key) for key in second] and list(first) == list(second)
                and all(_same(first[key], second[key]) for key in first))
    if isinstance(first, (list, tuple)):
        return (type(first) is type(second) and len(first) == len(second)
                and all(map(_same, first, second)))
    return type(first) is type(second) and first == second


def _loss_settings(loss):
    settings = {key: value for key, value in vars(loss).items() if not key.startswith("_")}
    return {**settings, **{key: value for key, value in loss._buffers.items()}}


@pytest.mark.parametrize("labels, params", [
    ("int", dict(class_weight={0: 1.0, 1: 4}, optimizer__betas=(0.8, 0.99),
                 criterion=nn.HuberLoss, criterion__delta=2.0, device=torch.device("cpu"),
                 random_state=3, hidden_size=np.int64(8), lr=np.float64(0.02))),
    ("str", dict(class_weight={"blink": 4.0, "open": 1.0},
                 criterion=nn.CrossEntropyLoss(label_smoothing=0.1),
                 optimizer=torch.optim.SGD, optimizer__momentum=0.5)),
    ("int", dict(class_weight=np.array([1.0, 3.0]), criterion=nn.L1Loss())),
    ("int", dict(class_weight="balanced", criterion=nn.HuberLoss(delta=2.0),
                 criterion__input_format="probabilities", criterion__target_format="onehot")),
    ("bool", dict(criterion=nn.BCEWithLogitsLoss())),
    ("bool", dict(criterion=nn.BCEWithLogitsLoss(pos_weight=torch.tensor([3.0])))),
], ids=["tuple-betas-int-keys-numpy", "str-keys-instance", "array-l1", "balanced-huber",
        "bce", "bce-pos-weight"])
def test_a_loaded_model_has_the_parameters_of_the_saved_one(blinks, tmp_path, labels, params):
    X, y = blinks
    y = {"int": y, "str": np.array(["open", "blink"])[y], "bool": y == 1}[labels]
    clf = fast_classifier(max_epochs=2, **params).fit(X, y)
    clf.save(tmp_path / "m")
    loaded = sktorchcw.load(tmp_path / "m")
    original, restored = clf.get_params(), loaded.get_params()
    assert sorted(original) == sorted(restored)
    different = [key for key in original if not _same(original[key], restored[key])]
    assert not different, {key: (original[key], restored[key]) for key in different}
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


class OwnL1Loss(nn.L1Loss):
    """A user's subclass: its code is not in the file, so it cannot be loaded by name."""


def _changed_after_construction():
    loss = nn.HuberLoss()
    loss.scale = 3.0  # something its constructor cannot express
    return loss


@pytest.mark.parametrize("criterion, match", [
    (OwnL1Loss(), "accepts only torch's own losses.*pickle/joblib"),
    (lambda logits, target: nn.functional.cross_entropy(logits, target, reduction="none"),
     "accepts only torch's own losses.*pickle/joblib"),
    (_changed_after_construction(), "differs in \\['scale'\\].*pickle/joblib"),
], ids=["subclass", "lambda", "changed-instance"])
def test_save_refuses_a_criterion_it_cannot_rebuild(blinks, tmp_path, criterion, match):
    X, y = blinks
    clf = fast_classifier(criterion=criterion, criterion__input_format="probabilities",
                          criterion__target_format="onehot", max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=match):
        clf.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_an_old_format_1_model_file_gets_a_clear_message(tmp_path):
    # What sktorchcw 0.1.0 before model file format 2 wrote (torch.save of JSON + tensors).
    metadata = json.dumps({"format": "sktorchcw-model", "format_version": 1})
    torch.save({"metadata": metadata, "state_dict": {"head.bias": torch.zeros(2)},
                "sha256": "0" * 64}, tmp_path / "old.sktorchcw")
    with pytest.raises(ValueError, match="model file format 1.*no longer read.*joblib"):
        sktorchcw.load(tmp_path / "old.sktorchcw")


# -- the training state: optimizer and random state ------------------------------------------


def _continue(estimator, how, X, y):
    if how == "warm_start":
        return estimator.set_params(warm_start=True, max_epochs=1).fit(X, y)
    return estimator.partial_fit(X, y)


def _frames():
    """Ragged recordings with one label per frame, for the tagger."""
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(length, 2)) for length in (30, 45, 25, 40) * 6]
    return X, [(x[:, 0] > 0.8).astype(int) for x in X]


@pytest.mark.parametrize("kind, how", [("classifier", "warm_start"),
                                       ("classifier", "partial_fit"),
                                       ("tagger", "partial_fit")])
def test_one_more_epoch_after_load_equals_one_more_epoch_of_the_original(blinks, tmp_path,
                                                                          kind, how):
    X, y = blinks if kind == "classifier" else _frames()
    # dropout > 0: training draws from torch's random state, which the file keeps too.
    params = dict(max_epochs=3, dropout=0.3, random_state=0)
    original = (fast_classifier(**params) if kind == "classifier" else sktorchcw.LSTMBlinkTagger(
        hidden_size=8, batch_size=16, device="cpu", **params)).fit(X, y)
    original.save(tmp_path / "m")
    loaded = sktorchcw.load(tmp_path / "m")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        continued = _continue(loaded, how, X, y)
    assert not [str(warning.message) for warning in record
                if "optimizer" in str(warning.message)]
    expected = _continue(original, how, X, y)
    assert len(continued.history_) == len(expected.history_) == 4
    for got, want in zip(continued.predict_proba(X), expected.predict_proba(X), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_the_file_keeps_the_optimizer_state_and_the_random_state_of_the_fit(saved):
    clf, path, _, _ = saved
    loaded = sktorchcw.load(path)
    original, restored = clf.net_.optimizer_.state_dict(), loaded.net_.optimizer_.state_dict()
    assert restored["param_groups"] == original["param_groups"]
    assert sorted(restored["state"]) == sorted(original["state"]) != []
    for index, values in original["state"].items():
        assert sorted(restored["state"][index]) == sorted(values)
        for key, value in values.items():
            assert torch.equal(restored["state"][index][key], value)
    assert torch.equal(loaded._torch_rng_state["cpu"], clf._torch_rng_state["cpu"])


@pytest.mark.parametrize("optimizer, params", [
    (torch.optim.SGD, dict(optimizer__momentum=0.9)),
    (torch.optim.LBFGS, dict(optimizer__max_iter=2)),  # one flat state for all parameters
], ids=["sgd-momentum", "lbfgs"])
def test_other_optimizers_continue_exactly_after_load(blinks, tmp_path, optimizer, params):
    X, y = blinks
    original = fast_classifier(max_epochs=2, optimizer=optimizer, **params).fit(X, y)
    original.save(tmp_path / "m")
    loaded = _continue(sktorchcw.load(tmp_path / "m"), "partial_fit", X, y)
    np.testing.assert_allclose(loaded.predict_proba(X),
                               _continue(original, "partial_fit", X, y).predict_proba(X),
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
def test_save_without_optimizer_writes_a_smaller_file_whose_continuation_warns(saved, tmp_path,
                                                                               how):
    clf, path, X, labels = saved
    clf.save(tmp_path / "small", optimizer=False)
    metadata, _, tensors = _contents(tmp_path / "small")
    assert "optimizer" not in metadata
    assert all(name.startswith("module.") for name in tensors)
    assert (tmp_path / "small").stat().st_size < path.stat().st_size
    loaded = sktorchcw.load(tmp_path / "small")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    with pytest.warns(UserWarning, match="optimizer restarts from a fresh state") as record:
        _continue(loaded, how, X, labels)
    assert record[0].filename == __file__
    assert len(loaded.history_) == len(clf.history_) + 1


def test_saving_a_model_loaded_without_optimizer_state_says_the_file_is_for_prediction_only(
        saved, tmp_path):
    clf, _, X, _ = saved
    clf.save(tmp_path / "small", optimizer=False)
    with pytest.warns(UserWarning, match="none to save"):
        sktorchcw.load(tmp_path / "small").save(tmp_path / "again")
    assert "optimizer" not in _contents(tmp_path / "again")[0]
    np.testing.assert_array_equal(sktorchcw.load(tmp_path / "again").predict_proba(X),
                                  clf.predict_proba(X))


def test_a_class_weight_changed_after_loading_applies_when_training_continues(saved):
    clf, path, X, labels = saved
    loaded = sktorchcw.load(path)
    for model in (clf, loaded):
        model.set_params(class_weight={"blink": 2.0}, warm_start=True, max_epochs=1)
        np.testing.assert_array_equal(model.fit(X, labels).class_weight_, [2.0, 1.0])
