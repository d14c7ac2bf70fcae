"""The safe file container shared by model files and checkpoints, and the JSON coding of values.

A safe file is one safetensors file: tensors, and in safetensors' own string header
(``__metadata__``) two entries: ``"sktorchcw"``, a JSON document, and ``"sha256"``, a
digest of that document and of every tensor (:func:`encode_safe_file`,
:func:`parse_safe_file`). safetensors' parser reads only a JSON header and raw tensor
bytes, and nothing here calls ``torch.load`` or unpickles anything, so a file cannot run
code; a pickle or torch.save archive is named and refused, never read. The digest
detects files changed or damaged after saving; it is not a signature.

Here too: the JSON coding of plain values, with their tensors beside them
(:func:`encode_value`, :func:`decode_value`), that of the training state, the optimizer's
state and the random state (:func:`encode_training_state`, :func:`decode_training_state`,
:func:`load_optimizer_state`), and reading and writing paths and binary file objects.
The model files of :mod:`sktorchcw._persistence` and :mod:`sktorchcw._net_files` and the
checkpoints of :mod:`sktorchcw._checkpoint` are built on these; this module imports none
of them.
"""

import hashlib
import io
import json
import math
import os

import numpy as np
import safetensors.torch
import torch

__all__ = ["FORMAT", "encode_safe_file", "parse_safe_file", "encode_value", "decode_value",
           "encode_training_state", "decode_training_state", "load_optimizer_state"]

# The format of model files (their entry "format"); the container check also recognizes
# by it the files of model file format 1 (torch.save archives), to say how to convert them.
FORMAT = "sktorchcw-model"
_TENSOR_DTYPES = (torch.float32, torch.float64, torch.float16, torch.int64, torch.int32,
                  torch.int16, torch.int8, torch.uint8, torch.bool)
# numpy kinds a stored array or scalar may have: bool, integers, floats, strings.
_NUMPY_KINDS = "biufU"
# The random state's tensors in a file's training state, by device.
_RNG_TENSORS = {"rng.torch": "cpu", "rng.cuda": "cuda"}
# safetensors' header: an 8-byte little-endian length, then that many bytes of JSON.
_LENGTH_BYTES = 8
_MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit
_HEADER_KEYS = ("sktorchcw", "sha256")
_ZIP_MAGIC = b"PK\x03\x04"  # a torch.save archive
_PICKLE_PROTOCOLS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


# -- values as JSON -------------------------------------------------------------------------


def encode_value(value, tensors, prefix):
    """JSON data from which :func:`decode_value` rebuilds ``value`` of the same types.

    None, booleans, integers, floats, strings and lists stay as they are; tuples, dicts
    (any hashable keys), numpy arrays and scalars, and torch devices become one-key
    objects naming their kind; a tensor is put into ``tensors`` under ``prefix.N`` and
    named. Anything else is a TypeError.

    Examples
    --------
    >>> from sktorchcw._safe_file import decode_value, encode_value
    >>> stored = encode_value({1: (0.9, "a")}, {}, "x")
    >>> stored
    {'dict': [[1, {'tuple': [0.9, 'a']}]]}
    >>> decode_value(stored, {})
    {1: (0.9, 'a')}
    """
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [encode_value(item, tensors, prefix) for item in value]
    if type(value) is tuple:
        return {"tuple": [encode_value(item, tensors, prefix) for item in value]}
    if type(value) is dict:
        return {"dict": [[encode_value(key, tensors, prefix), encode_value(item, tensors, prefix)]
                         for key, item in value.items()]}
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in _NUMPY_KINDS:
        kind = "array" if isinstance(value, np.ndarray) else "numpy"
        return {kind: [value.dtype.str, list(value.shape), value.tolist()]}
    if isinstance(value, torch.device):
        return {"device": str(value)}
    if isinstance(value, torch.Tensor) and _storable(value):
        name = f"{prefix}.{len(tensors)}"
        tensors[name] = value
        return {"tensor": name}
    raise TypeError(f"{type(value).__name__} is not a plain value")


def decode_value(data, tensors):
    """The value :func:`encode_value` stored as ``data``; ValueError for anything else."""
    if isinstance(data, list):
        return [decode_value(item, tensors) for item in data]
    if not isinstance(data, dict):
        return data
    if len(data) != 1:
        raise ValueError(f"an object with keys {sorted(data)} is no stored value")
    [(kind, content)] = data.items()
    if kind == "tuple":
        return tuple(decode_value(item, tensors) for item in content)
    if kind == "dict":
        return {decode_value(key, tensors): decode_value(item, tensors) for key, item in content}
    if kind in ("array", "numpy"):
        dtype_text, shape, values = content
        dtype = np.dtype(dtype_text)
        if dtype.kind not in _NUMPY_KINDS:
            raise ValueError(f"numpy dtype {dtype} is not stored by sktorchcw")
        array = np.asarray(values, dtype=dtype).reshape(shape)
        return array if kind == "array" else array[()]
    if kind == "device":
        return torch.device(content)
    if kind == "tensor":
        return tensors[content]
    raise ValueError(f"{kind!r} is no kind of stored value")


# -- the training state (optimizer and random state), in model files and checkpoints --------


def encode_training_state(optimizer, rng_state, tensors, *, instead):
    """JSON data of ``optimizer``'s state dict; its tensors go into ``tensors`` as
    ``optimizer.N``, and the random state ``rng_state`` (what
    :func:`sktorchcw._device.get_rng_state` returns, or None) as ``rng.torch`` and
    ``rng.cuda``.

    A value a safe file cannot hold is a ValueError suggesting ``instead``.
    """
    own: dict = {}
    try:
        data = encode_value(optimizer.state_dict(), own, "optimizer")
    except TypeError as error:
        raise ValueError(
            f"The state of optimizer {type(optimizer).__name__} holds a value a safe file "
            f"cannot store ({error}); {instead}."
        ) from None
    for tensor_name, device in _RNG_TENSORS.items():
        if rng_state is not None and device in rng_state:
            own[tensor_name] = rng_state[device]
    tensors.update(own)
    return data


def decode_training_state(data, tensors):
    """``(optimizer_state_dict, rng_state)`` from what :func:`encode_training_state`
    stored; ``rng_state`` is None where none was stored (or a dict as
    :func:`sktorchcw._device.get_rng_state` returns it). A ValueError (or KeyError, for a
    missing tensor) says what does not fit."""
    state = decode_value(data, tensors)
    if not isinstance(state, dict) or sorted(state) != ["param_groups", "state"]:
        raise ValueError("it is not an optimizer's state dict")
    rng_state = {device: tensors[key] for key, device in _RNG_TENSORS.items() if key in tensors}
    if not rng_state:
        return state, None
    reference = torch.get_rng_state()
    cpu = rng_state.get("cpu")
    if cpu is None or cpu.dtype != reference.dtype or cpu.shape != reference.shape:
        raise ValueError(f"rng.torch is not a torch random state ({reference.dtype}, shape "
                         f"{tuple(reference.shape)})")
    try:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(cpu)
    except RuntimeError as error:
        raise ValueError(f"rng.torch is not a torch random state ({error})") from None
    cuda = rng_state.get("cuda")
    if cuda is not None and (cuda.dtype != torch.uint8 or cuda.ndim != 1):
        raise ValueError("rng.cuda is not a CUDA random state (uint8, one dimension)")
    return state, rng_state


def load_optimizer_state(optimizer, state, *, keep_settings=False):
    """Put ``state``, an optimizer state dict read from a file, into ``optimizer`` after
    checking that it fits its parameters.

    Every tensor of a parameter's state must be finite and a scalar, of the parameter's
    shape, or flat over all parameters (as ``torch.optim.LBFGS`` keeps its state); the
    parameter groups must list the optimizer's parameters. ``keep_settings=True`` keeps
    the optimizer's own settings (lr, betas...) rather than the stored ones. A ValueError
    says what does not fit.
    """
    parameters = [parameter for group in optimizer.param_groups
                  for parameter in group["params"]]
    groups, per_parameter = state["param_groups"], state["state"]
    if not isinstance(groups, list) or not all(
            isinstance(group, dict) and isinstance(group.get("params"), list)
            for group in groups):
        raise ValueError("its param_groups are not a list of groups with their params")
    indices = sorted(index for group in groups for index in group["params"])
    if indices != list(range(len(parameters))) or not isinstance(per_parameter, dict) or (
            not set(per_parameter) <= set(indices)):
        raise ValueError(f"it describes other parameters than the network's "
                         f"{len(parameters)}")
    flat = (sum(parameter.numel() for parameter in parameters),)
    for index, values in per_parameter.items():
        if not isinstance(values, dict):
            raise ValueError(f"the state of parameter {index} is not a dict")
        shape = tuple(parameters[index].shape)
        for key, value in values.items():
            for item in _items(value):
                if isinstance(item, float) and not math.isfinite(item) or (
                        isinstance(item, torch.Tensor) and item.is_floating_point()
                        and not bool(torch.isfinite(item).all())):
                    raise ValueError(f"{key} of parameter {index} is NaN or infinite")
                if isinstance(item, torch.Tensor) and item.ndim and (
                        tuple(item.shape) not in (shape, flat)):
                    raise ValueError(f"{key} of parameter {index} has shape "
                                     f"{tuple(item.shape)}, the parameter {shape}")
    settings = [{key: value for key, value in group.items() if key != "params"}
                for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    if keep_settings:
        for group, current in zip(optimizer.param_groups, settings, strict=True):
            group.update(current)


def _items(value):
    """``value`` and, for lists, tuples and dicts, everything inside."""
    yield value
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _items(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _items(item)


# -- the container --------------------------------------------------------------------------


def encode_safe_file(metadata, tensors):
    """The bytes of a safetensors file of ``tensors`` with the JSON ``metadata`` and its
    checksum in the header."""
    text = json.dumps(metadata, sort_keys=True)
    # Copies on the CPU: safetensors refuses tensors that share memory, as the LSTM's
    # weights do on a GPU.
    tensors = {name: tensor.detach().to("cpu", copy=True).contiguous()
               for name, tensor in tensors.items()}
    header = {"sktorchcw": text, "sha256": _digest(text, tensors)}
    return safetensors.torch.save(tensors, metadata=header)


def parse_safe_file(data, what):
    """``(metadata, tensors)`` of bytes written by :func:`encode_safe_file`.

    Raises ValueError with the reason (to follow the file's name) for anything else;
    ``what`` names the expected kind of file. Nothing here runs code from ``data``: it is
    checked to be a safetensors file before safetensors parses its JSON header and tensor
    bytes, and a pickle or torch.save archive is named and refused, never read.
    """
    _check_container(data, what)
    try:
        tensors = safetensors.torch.load(data)
    except Exception as error:  # safetensors' own error, or a dtype torch lacks
        raise ValueError(f"is not {what}: its safetensors data is malformed ({error}).") from None
    header_size = int.from_bytes(data[:_LENGTH_BYTES], "little")
    header = json.loads(data[_LENGTH_BYTES:_LENGTH_BYTES + header_size])  # safetensors read it
    ours = header.get("__metadata__")
    if not isinstance(ours, dict) or sorted(ours) != sorted(_HEADER_KEYS):
        raise ValueError(f"is not {what}: it is a safetensors file without sktorchcw's "
                         "metadata.")
    if not all(_storable(tensor) for tensor in tensors.values()):
        raise ValueError(f"is not {what}: it holds tensors of a type sktorchcw does not write.")
    if _digest(ours["sktorchcw"], tensors) != ours["sha256"]:
        raise ValueError("was changed or damaged after it was saved (its checksum does not "
                         "match); refused.")
    try:
        metadata = json.loads(ours["sktorchcw"])
    except (ValueError, RecursionError):
        raise ValueError("has unreadable metadata.") from None
    return metadata, tensors


def _check_container(data, what):
    """A ValueError unless ``data`` starts like a safetensors file (a header length that
    fits, then a JSON object); a pickle or torch.save archive gets a message of its own."""
    if not data:
        raise ValueError(f"is not {what}: it is empty.")
    header_size = int.from_bytes(data[:_LENGTH_BYTES], "little")
    available = len(data) - _LENGTH_BYTES
    if len(data) > _LENGTH_BYTES and header_size <= min(available, _MAX_HEADER_BYTES) and (
            data[_LENGTH_BYTES:_LENGTH_BYTES + 1] == b"{"):
        return
    if data.startswith(_ZIP_MAGIC) and FORMAT.encode() in data:
        raise ValueError(
            "was refused: it is a model file of model file format 1, written by a development "
            "version of sktorchcw 0.1.0 with torch.save. That format is read through pickle, "
            "which can run code on older torch versions, so it is no longer read. To convert "
            "a file you trust: with that sktorchcw version on torch>=2.10, "
            "joblib.dump(sktorchcw.load(path), 'model.joblib'); then, with this version, "
            "joblib.load('model.joblib').save(path)."
        )
    if data.startswith(_ZIP_MAGIC) or data[:2] in _PICKLE_PROTOCOLS:
        raise ValueError(
            f"was refused: it is a pickle or torch.save archive, not {what}. Such files can "
            "run code when read, so sktorchcw never reads them; nothing in it was executed."
        )
    if len(data) < _LENGTH_BYTES:
        raise ValueError(f"is not {what}: it is truncated ({len(data)} bytes).")
    if header_size > available or header_size > _MAX_HEADER_BYTES:
        raise ValueError(f"is not {what}: it declares a header of {header_size} bytes, but "
                         f"{available} bytes follow (a truncated file, or not a safetensors "
                         "file).")
    raise ValueError(f"is not {what}: its header is not a safetensors header.")


def _storable(tensor):
    """A dense tensor of the dtypes sktorchcw writes: nothing else is read or hashed."""
    return tensor.layout == torch.strided and tensor.dtype in _TENSOR_DTYPES


def _digest(metadata, tensors):
    digest = hashlib.sha256(metadata.encode())
    for name in sorted(tensors):
        tensor = tensors[name]
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _check_folder(target):
    """A FileNotFoundError naming the folder when a path's folder does not exist."""
    if hasattr(target, "write"):
        return
    folder = os.path.dirname(os.path.abspath(os.fspath(target)))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {os.fspath(target)}: the folder {folder} "
                                "does not exist. Create it first (os.makedirs).")


def _write(target, data):
    if hasattr(target, "write"):
        if isinstance(target, io.TextIOBase):
            raise _text_mode(target, "wb")
        target.write(data)
        return
    with open(target, "wb") as file:
        file.write(data)


def _read(source):
    if not hasattr(source, "read"):
        with open(source, "rb") as file:
            return file.read()
    if isinstance(source, io.TextIOBase):
        raise _text_mode(source, "rb")
    try:
        data = source.read()
    except UnicodeDecodeError:  # a text-mode file object that is no io.TextIOBase
        raise _text_mode(source, "rb") from None
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"{_name(source)} gave {type(data).__name__}, not bytes; open the "
                        "file in binary mode ('rb').")
    return bytes(data)


def _text_mode(file, mode):
    return TypeError(f"{_name(file)} is open in text mode, but a model file is binary (text "
                     f"mode would decode or encode its bytes); open it in binary mode "
                     f"({mode!r}).")


def _name(source):
    """How messages name a path or a file object."""
    if isinstance(source, (str, bytes, os.PathLike)):
        return str(os.fspath(source))
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else f"the {type(source).__name__} file object"
