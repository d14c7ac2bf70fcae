"""A bidirectional ``nn.LSTM`` or ``nn.GRU`` over a padded batch of sequences of different
lengths, without packing.

PyTorch reads such a batch exactly when it is packed (``pack_padded_sequence``), but on the
CPU the packed layer's backward pass costs time that grows with the batch's longest
sequence times its frames: a bidirectional tagger on a few recordings of 5,000 to 11,000
frames took about 240 times the unidirectional epoch. The same computation, unpacked:

- the forward direction reads the padded batch as it is: the frames after a sequence's end
  come after its valid frames, so they never reach them;
- the backward direction reads each sequence reversed within its own length (as ONNX's
  recurrent operators do with ``sequence_lens``): the first ``length`` frames of every row
  are reversed by one ``index_select`` of frames, a unidirectional layer with the backward
  direction's weights reads them (the padding again comes last), and its output is
  reversed back the same way;
- layers are stacked by hand, the next one reading both directions' outputs side by side,
  with the dropout between layers that the module applies.

Each direction runs through ``torch._VF.lstm`` / ``torch._VF.gru`` (what the modules' own
``forward`` calls) on that direction's parameters, read from the module by name: the
parameters, their names in the state dict, saving, ONNX export and streaming are the
module's own, untouched. The valid frames' outputs and the final states equal the packed
module's up to float32 rounding, gradients included: the padding's steps are computed, but
nothing of them reaches a valid frame, and no gradient flows back into them.

The networks read a bidirectional batch this way on the CPU only; on a GPU, cuDNN's packed
kernels are fast and keep the module's flattened weight buffer whole.
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["unpacked_bidirectional"]


def unpacked_bidirectional(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor):
    """The bidirectional ``rnn`` (``batch_first``) over the padded batch ``x`` ``(N, T, F)``
    whose row ``i`` holds ``lengths[i] >= 1`` valid frames.

    Returns
    -------
    output : Tensor of shape (N, T, 2 * size)
        The last layer's output at every frame, the forward direction's then the backward
        one's, as the packed module gives it after ``pad_packed_sequence``: zero at the
        padding.
    last : Tensor of shape (N, 2 * size)
        The last layer's final hidden states, as the packed module's ``h_n[-2]`` and
        ``h_n[-1]`` side by side: the forward direction's at each row's last valid frame,
        the backward direction's after reading the row back to frame 0.
    """
    lengths = lengths.to(x.device)
    steps = x.shape[1]
    reversal = _reversal_index(lengths, steps)
    valid = torch.arange(steps, device=x.device)[None, :] < lengths[:, None]
    run = _lstm_direction if rnn.mode == "LSTM" else _gru_direction
    names = rnn._flat_weights_names
    per_direction = len(names) // (2 * rnn.num_layers)
    layer_input = x
    output = x
    for layer in range(rnn.num_layers):
        if layer:
            layer_input = F.dropout(output, rnn.dropout, rnn.training)
        outputs = []
        for direction in range(2):
            start = (2 * layer + direction) * per_direction
            weights = [getattr(rnn, name) for name in names[start:start + per_direction]]
            if direction:
                reversed_output = run(rnn, _reversed(layer_input, reversal), weights)
                outputs.append(_reversed(reversed_output, reversal))
            else:
                outputs.append(run(rnn, layer_input, weights))
        output = torch.cat(outputs, dim=2)
    forward_output, backward_output = outputs
    rows = torch.arange(x.shape[0], device=x.device)
    last = torch.cat([forward_output[rows, lengths - 1], backward_output[:, 0]], dim=1)
    # zero at the padding, as pad_packed_sequence gives it (a product: cheaper than a fill)
    return output * valid[:, :, None].to(output.dtype), last


def _reversal_index(lengths, steps):
    """``(N * T,)`` indices of the frames of a flattened ``(N, T, width)`` batch that reverse
    each row's first ``lengths[i]`` steps and leave the rest (the padding) in place;
    applied twice, they give the batch back."""
    positions = torch.arange(steps, device=lengths.device)[None, :]
    ends = lengths[:, None]
    within = torch.where(positions < ends, ends - 1 - positions, positions)
    rows = torch.arange(len(lengths), device=lengths.device)[:, None] * steps
    return (rows + within).reshape(-1)


def _reversed(values, reversal):
    """``values`` ``(N, T, width)`` with its frames reordered by ``reversal`` (a whole-frame
    ``index_select``: on the CPU far cheaper than a ``gather`` of every value, backward
    pass included)."""
    return values.reshape(-1, values.shape[2]).index_select(0, reversal).view(values.shape)


def _lstm_direction(rnn, x, weights):
    """One direction of one LSTM layer over ``x`` ``(N, T, F)`` from zero states."""
    real_hidden_size = rnn.proj_size if rnn.proj_size > 0 else rnn.hidden_size
    h0 = x.new_zeros(1, x.shape[0], real_hidden_size)
    c0 = x.new_zeros(1, x.shape[0], rnn.hidden_size)
    return torch._VF.lstm(x, (h0, c0), weights, rnn.bias, 1, 0.0, rnn.training, False,
                          True)[0]


def _gru_direction(rnn, x, weights):
    """One direction of one GRU layer over ``x`` ``(N, T, F)`` from a zero state."""
    h0 = x.new_zeros(1, x.shape[0], rnn.hidden_size)
    return torch._VF.gru(x, h0, weights, rnn.bias, 1, 0.0, rnn.training, False, True)[0]
