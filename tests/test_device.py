"""float32_rnn: GPU comparisons run cuDNN's LSTM in float32 and leave PyTorch's setting as
it was."""

import pytest
import torch

from sktorchcw._device import float32_rnn


def test_float32_rnn_sets_ieee_inside_and_restores_the_setting():
    rnn = getattr(torch.backends.cudnn, "rnn", None)
    if not hasattr(rnn, "fp32_precision"):
        pytest.skip("torch < 2.9 has no per-operator TF32 setting; the legacy flag is used")
    before = rnn.fp32_precision
    with float32_rnn():
        assert rnn.fp32_precision == "ieee"
    assert rnn.fp32_precision == before
    with pytest.raises(RuntimeError, match="inside"), float32_rnn():
        raise RuntimeError("an error inside the block")
    assert rnn.fp32_precision == before


def test_float32_rnn_never_mixes_in_the_legacy_flag():
    """torch >= 2.9 raises when the legacy cuDNN flag is read after the new one was set."""
    with float32_rnn():
        pass
    assert isinstance(torch.backends.cudnn.allow_tf32, bool)
