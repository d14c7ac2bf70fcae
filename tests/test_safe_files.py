"""Model files and checkpoints that no torch version can turn into code (issue 15).

Loading a model and resuming from a checkpoint never call torch.load nor unpickle
anything, and every kind of hostile file is a clear ValueError that runs nothing.
"""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import safetensors.torch
import torch
from skorch.callbacks import Callback

import sktorchcw
from sktorchcw._checkpoint import CHECKPOINT_PREFIX, checkpoint_path, load_checkpoint

from helpers import CtrlCAt, fast_classifier

RAN = []  # what a payload appends to, if it ever runs


class Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class GlobalPayload:
    """Unpickling this runs code: it appends to RAN."""

    def __reduce__(self):
        return (RAN.append, ("ran",))


def _refuse(*args, **kwargs):
    raise AssertionError("sktorchcw unpickled something")


@pytest.fixture
def no_unpickling(monkeypatch):
    """torch.load and every way into pickle's loader fail while the test runs."""
    for owner, name in [(torch, "load"), (torch.serialization, "load"), (pickle, "load"),
                        (pickle, "loads"), (pickle, "Unpickler"), (pickle, "_Unpickler")]:
        monkeypatch.setattr(owner, name, _refuse)


@pytest.fixture(scope="module")
def model_bytes(blinks, tmp_path_factory):
    X, y = blinks
    path = tmp_path_factory.mktemp("model") / "m.sktorchcw"
    fast_classifier(max_epochs=2).fit(X, y).save(path)
    return path.read_bytes()


def test_loading_a_model_never_unpickles(blinks, model_bytes, tmp_path, no_unpickling):
    X, y = blinks
    path = tmp_path / "m.sktorchcw"
    path.write_bytes(model_bytes)
    loaded = sktorchcw.load(path)
    reference = fast_classifier(max_epochs=2).fit(X, y)
    np.testing.assert_array_equal(loaded.predict_proba(X), reference.predict_proba(X))
    np.testing.assert_array_equal(sktorchcw.load(io.BytesIO(model_bytes)).predict(X),
                                  reference.predict(X))


def test_resuming_from_a_checkpoint_never_unpickles_and_equals_an_uninterrupted_fit(
        blinks, tmp_path, monkeypatch):
    X, y = blinks
    params = dict(max_epochs=4, dropout=0.2, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt, match="after 2 of 4"):
        fast_classifier(callbacks=[CtrlCAt(2)], **params).fit(X, y)
    [path] = tmp_path.glob(f"{CHECKPOINT_PREFIX}*")
    assert path.suffix == ".safetensors"
    with monkeypatch.context() as patched:
        for owner, name in [(torch, "load"), (torch.serialization, "load"), (pickle, "load"),
                            (pickle, "loads"), (pickle, "Unpickler")]:
            patched.setattr(owner, name, _refuse)
        resumed = fast_classifier(**params).fit(X, y)
    assert [row["epoch"] for row in resumed.history_] == [1, 2, 3, 4]
    reference = fast_classifier(max_epochs=4, dropout=0.2).fit(X, y)
    np.testing.assert_array_equal(resumed.predict_proba(X), reference.predict_proba(X))


def test_a_checkpoint_restores_the_optimizer_state_exactly(blinks, tmp_path):
    X, y = blinks
    with pytest.raises(KeyboardInterrupt):
        fast_classifier(max_epochs=3, optimizer__betas=(0.8, 0.95), checkpoint_dir=tmp_path,
                        callbacks=[CtrlCAt(2), ("keep", KeepOptimizer())]).fit(X, y)
    [path] = tmp_path.glob(f"{CHECKPOINT_PREFIX}*")
    state = load_checkpoint(tmp_path, path.stem[len(CHECKPOINT_PREFIX):])
    saved = KeepOptimizer.state
    assert state["epochs"] == 1  # Ctrl-C came before the second epoch's checkpoint
    assert state["optimizer"]["param_groups"] == saved["param_groups"]
    assert type(state["optimizer"]["param_groups"][0]["betas"]) is tuple
    assert sorted(state["optimizer"]["state"]) == sorted(saved["state"])
    for key, values in saved["state"].items():
        for name, value in values.items():
            restored = state["optimizer"]["state"][key][name]
            assert restored.dtype == value.dtype and torch.equal(restored, value)


class KeepOptimizer(Callback):
    """Keeps a copy of the optimizer state after the first epoch."""

    state: dict = {}

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 1:
            type(self).state = _copy(net.optimizer_.state_dict())


def _copy(value):
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


# -- hostile files ------------------------------------------------------------------------------


def _safetensors(header, data=b""):
    """Bytes laid out as safetensors: 8-byte little-endian header length, JSON, data."""
    return _length_prefixed(json.dumps(header).encode()) + data


def _length_prefixed(text):
    return len(text).to_bytes(8, "little") + text


_OURS = {"sktorchcw": "{}", "sha256": "0" * 64}


def _torch_save(value):
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _zip_with_pickle(marker):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(Payload(marker)))
        archive.writestr("archive/version", "3\n")
    return buffer.getvalue()


HOSTILE = {
    "raw-pickle": (lambda marker: pickle.dumps([Payload(marker), GlobalPayload()]),
                   "refused: it is a pickle or torch.save archive"),
    "torch-save": (lambda marker: _torch_save({"w": Payload(marker), "g": GlobalPayload()}),
                   "refused: it is a pickle or torch.save archive"),
    "zip-with-pickle": (_zip_with_pickle, "refused: it is a pickle or torch.save archive"),
    "lying-shape": (lambda _: _safetensors({"__metadata__": _OURS, "w": {
        "dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 16]}}, bytes(16)),
        "safetensors data is malformed"),
    "lying-offsets": (lambda _: _safetensors({"__metadata__": _OURS, "w": {
        "dtype": "F32", "shape": [4], "data_offsets": [0, 2**40]}}, bytes(16)),
        "safetensors data is malformed"),
    "overlapping-offsets": (lambda _: _safetensors({"__metadata__": _OURS, **{
        name: {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]} for name in "ab"}},
        bytes(16)), "safetensors data is malformed"),
    "empty": (lambda _: b"", "it is empty"),
    "huge-header-length": (lambda _: (2**62).to_bytes(8, "little") + b"{}",
                           "declares a header of 4611686018427387904 bytes, but 2"),
    "header-past-the-end": (lambda _: (100).to_bytes(8, "little") + b'{"a": 1}',
                            "declares a header of 100 bytes"),
    "deeply-nested-header": (lambda _: _length_prefixed(
        b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "safetensors data is malformed"),
    "header-not-an-object": (lambda _: _safetensors([1, 2]), "not a safetensors header"),
}


def _read_model(path):
    return sktorchcw.load(path)


def _read_checkpoint(path):
    return load_checkpoint(path.parent, "fingerprint")


READERS = {"model": _read_model, "checkpoint": _read_checkpoint}


def _target(tmp_path, reader):
    return (tmp_path / "file.sktorchcw" if reader == "model"
            else checkpoint_path(tmp_path, "fingerprint"))


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_files_are_a_clear_value_error_and_run_nothing(tmp_path, reader, payload):
    make, reason = HOSTILE[payload]
    marker = tmp_path / "pwned"
    path = _target(tmp_path, reader)
    path.write_bytes(make(marker))
    RAN.clear()
    with pytest.raises(ValueError, match=reason) as caught:
        READERS[reader](path)
    assert str(path) in str(caught.value)
    if reader == "checkpoint":
        assert "cannot be read as a checkpoint" in str(caught.value)
    assert not marker.exists() and not RAN


@pytest.mark.parametrize("reader", READERS)
def test_a_truncated_file_is_refused(tmp_path, reader, model_bytes):
    path = _target(tmp_path, reader)
    path.write_bytes(model_bytes[:-100])
    with pytest.raises(ValueError, match="safetensors data is malformed"):
        READERS[reader](path)
    path.write_bytes(model_bytes[:5])
    with pytest.raises(ValueError, match="truncated"):
        READERS[reader](path)


@pytest.mark.parametrize("reader", READERS)
def test_a_valid_safetensors_file_with_a_wrong_checksum_is_refused(tmp_path, reader):
    path = _target(tmp_path, reader)
    path.write_bytes(safetensors.torch.save({"module.w": torch.ones(3)}, metadata=_OURS))
    with pytest.raises(ValueError, match="changed or damaged"):
        READERS[reader](path)


@pytest.mark.parametrize("metadata", [None, {"format": "pt"}, {"sktorchcw": "{}"}],
                         ids=["none", "huggingface", "no-checksum"])
@pytest.mark.parametrize("reader", READERS)
def test_a_safetensors_file_of_someone_else_is_refused(tmp_path, reader, metadata):
    path = _target(tmp_path, reader)
    path.write_bytes(safetensors.torch.save({"w": torch.ones(3)}, metadata=metadata))
    with pytest.raises(ValueError, match="without sktorchcw's metadata"):
        READERS[reader](path)


def test_a_model_file_is_no_checkpoint(tmp_path, model_bytes):
    checkpoint_path(tmp_path, "fingerprint").write_bytes(model_bytes)
    with pytest.raises(ValueError, match="not an sktorchcw checkpoint"):
        load_checkpoint(tmp_path, "fingerprint")


def test_hostile_file_objects_are_refused_too(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ValueError, match="refused: it is a pickle"):
        sktorchcw.load(io.BytesIO(pickle.dumps(Payload(marker))))
    assert not marker.exists()
