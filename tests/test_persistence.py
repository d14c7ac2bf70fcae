"""Safe model files: clf.save(path) and sktorchcw.load(path)."""

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from torch import nn

import sktorchcw
from sktorchcw._persistence import _digest

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


class Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickle_payload_is_refused_and_never_runs(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.sktorchcw"
    if writer == "pickle":
        with open(path, "wb") as file:
            pickle.dump({"metadata": Payload(marker)}, file)
    else:
        torch.save({"metadata": "{}", "state_dict": {"w": Payload(marker)}, "sha256": ""}, path)
    with pytest.raises(ValueError, match="refused|not a model file"):
        sktorchcw.load(path)
    assert not marker.exists()


def _rewrite(path, change):
    """Load a model file's payload, change it and save it with a valid checksum."""
    payload = torch.load(path, weights_only=True)
    metadata = json.loads(payload["metadata"])
    change(metadata, payload["state_dict"])
    payload["metadata"] = json.dumps(metadata)
    payload["sha256"] = _digest(payload["metadata"], payload["state_dict"])
    torch.save(payload, path)


def test_tampered_file_is_refused(saved):
    _, path, _, _ = saved
    payload = torch.load(path, weights_only=True)
    payload["metadata"] = payload["metadata"].replace('"class_weight": [', '"class_weight": [9, ')
    torch.save(payload, path)
    with pytest.raises(ValueError, match="changed or damaged"):
        sktorchcw.load(path)


def test_tampered_weights_are_refused(saved):
    _, path, _, _ = saved
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["head.bias"] += 1.0
    torch.save(payload, path)
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
    torch.save(nn.Linear(2, 2).state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ValueError, match="not a model file"):
        sktorchcw.load(tmp_path / "weights.pt")


def test_newer_format_is_refused(saved):
    _, path, _, _ = saved
    _rewrite(path, lambda metadata, _: metadata.update(format_version=99))
    with pytest.raises(ValueError, match="newer"):
        sktorchcw.load(path)


def test_weights_that_do_not_fit_are_refused(saved):
    _, path, _, _ = saved
    _rewrite(path, lambda _, state: state.update({"head.bias": torch.zeros(7)}))
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
    (_set("n_features", 10**30), "cannot use|do not fit"),
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
    _rewrite(path, lambda _, state: state["head.bias"].fill_(float("nan")))
    with pytest.raises(ValueError, match="NaN or infinite"):
        sktorchcw.load(path)


@pytest.mark.parametrize("state_dict", [
    {"a": torch.zeros(2, dtype=torch.bfloat16)},
    {1: torch.zeros(2), "a": torch.zeros(2)},
    {"a": torch.zeros(2, 2).to_sparse()},
    {"a": [1, 2]},
], ids=["bfloat16", "int-key", "sparse", "list"])
def test_archives_with_other_contents_are_not_model_files(tmp_path, state_dict):
    path = tmp_path / "other"
    torch.save({"metadata": "{}", "state_dict": state_dict, "sha256": ""}, path)
    with pytest.raises(ValueError, match="not a model file"):
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
