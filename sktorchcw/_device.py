"""Turn a ``device`` parameter ('auto', 'cpu', 'cuda', 'cuda:N', 'mps') into a usable device."""

import contextlib
from typing import Any

import torch

__all__ = ["resolve_device", "seeded_torch", "get_rng_state", "set_rng_state",
           "float32_rnn"]

_HOW_TO = "Use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."


def resolve_device(device):
    """Return the device ``device`` asks for as a string, or raise ValueError.

    ``'auto'`` picks CUDA, then MPS, then the CPU. An explicit device must exist
    on this machine.

    Examples
    --------
    >>> from sktorchcw._device import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("tpu")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: device='tpu' is not a device PyTorch knows. Use 'auto', 'cpu', ...
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string or torch.device; got {device!r}. {_HOW_TO}")
    if device == "auto":
        return _best_available()
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device={device!r} is not a device PyTorch knows. {_HOW_TO}") from None
    if parsed.type == "cpu":
        return "cpu"
    if parsed.type == "cuda":
        return _check_cuda(device, parsed)
    if parsed.type == "mps":
        if not _mps_available():
            raise ValueError(f"device={device!r} but MPS is not available here. {_HOW_TO}")
        return "mps"
    raise ValueError(f"device={device!r}: device type {parsed.type!r} is not supported. {_HOW_TO}")


def _best_available():
    if torch.cuda.is_available():
        return f"cuda:{torch.cuda.current_device()}"
    if _mps_available():
        return "mps"
    return "cpu"


def _mps_available():
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def _check_cuda(device, parsed):
    if not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available (this PyTorch "
            f"{'has no CUDA support' if torch.version.cuda is None else 'finds no GPU'}). "
            "Use device='auto' to fall back to what is there, or device='cpu'."
        )
    index = torch.cuda.current_device() if parsed.index is None else parsed.index
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"device={device!r} but only {torch.cuda.device_count()} CUDA device(s) exist "
            f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})."
        )
    return f"cuda:{index}"


@contextlib.contextmanager
def seeded_torch(seed, device):
    """Seed torch's generators for the block and restore them afterwards.

    Weight initialisation and dropout draw from torch's global generators; forking
    them keeps a fit reproducible without changing the random state a user sees.
    """
    device_type = torch.device(device).type
    if device_type == "cuda":
        devices, fork_type = list(range(torch.cuda.device_count())), "cuda"
    elif device_type == "mps":
        devices, fork_type = [0], "mps"
    else:
        devices, fork_type = [], "cuda"
    with torch.random.fork_rng(devices=devices, device_type=fork_type):
        torch.manual_seed(seed)
        yield


def get_rng_state(device):
    """torch's CPU random state, and the CUDA device's when training there (dropout on a
    GPU draws from its own generator)."""
    state = {"cpu": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state, device):
    """Put back what :func:`get_rng_state` returned (the CUDA part only on a CUDA device)."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


@contextlib.contextmanager
def float32_rnn():
    """Run cuDNN's LSTM in IEEE float32 inside the block, and restore the setting after.

    PyTorch lets cuDNN compute RNNs in TF32 by default on Ampere and newer GPUs
    (``torch.backends.cudnn.rnn.fp32_precision = 'tf32'`` from torch 2.9,
    ``torch.backends.cudnn.allow_tf32 = True`` before), which rounds the inputs of
    every matrix product to 10 mantissa bits; results then differ from the CPU's and
    from an ONNX runtime's far more than float32 rounding (TF32 keeps about 3 decimal
    digits of each product's inputs; the size for these models has not been measured
    yet). Comparisons of GPU results with those run inside this block. It changes
    nothing on the CPU.

    Examples
    --------
    >>> import torch
    >>> from sktorchcw._device import float32_rnn
    >>> with float32_rnn():
    ...     pass  # GPU LSTMs here compute in float32
    """
    rnn: Any = getattr(torch.backends.cudnn, "rnn", None)
    if hasattr(rnn, "fp32_precision"):  # torch >= 2.9; mixing in the old flag is an error
        previous = rnn.fp32_precision
        rnn.fp32_precision = "ieee"
        try:
            yield
        finally:
            rnn.fp32_precision = previous
        return
    previous = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = previous
