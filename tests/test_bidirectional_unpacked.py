"""Issue 28: the built-in networks read a padded batch of recordings of different lengths
without packing, bidirectional ones included (the forward direction over the padded batch,
the backward one over each recording reversed within its own length). What they give, and
the gradients, must be the packed network's and each recording's run alone, to float32
rounding, with the module's parameters and their names unchanged."""

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from sktorchcw import LSTMBlinkTagger
from sktorchcw._bidirectional import unpacked_bidirectional
from sktorchcw._module import GRUFrameLogits, GRULogits, LSTMFrameLogits, LSTMLogits

NETWORKS = [LSTMLogits, LSTMFrameLogits, GRULogits, GRUFrameLogits]
LENGTHS = [7, 12, 3, 12, 1, 9]
ATOL = 1e-5


def per_frame(network):
    return issubclass(network, LSTMFrameLogits)


def make(network, num_layers, bidirectional, seed=0, **kwargs):
    torch.manual_seed(seed)
    return network(3, 2, hidden_size=8, num_layers=num_layers, bidirectional=bidirectional,
                   input_mean=[0.1, -0.2, 0.3], input_scale=[1.5, 0.5, 2.0], **kwargs)


def padded_batch(lengths=LENGTHS, seed=1, fill=None):
    """Random rows of ``lengths`` frames padded to the longest, the padding set to ``fill``
    (random values unlike the frames when None: no result may depend on them)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), 3, generator=generator)
    padding = torch.arange(max(lengths))[None, :] >= torch.tensor(lengths)[:, None]
    values = (100 * torch.randn(x.shape, generator=generator) if fill is None
              else torch.full(x.shape, fill))
    return torch.where(padding[:, :, None], values, x), torch.tensor(lengths)


def packed_reference(module, x, lengths):
    """What the networks computed before issue 28: the batch packed."""
    packed = pack_padded_sequence(module._standardised(x), lengths, batch_first=True,
                                  enforce_sorted=False)
    output, state = module.rnn(packed)
    if isinstance(module, LSTMFrameLogits):
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
        return module._frame_logits(output)
    h_n = state[0] if isinstance(state, tuple) else state
    last = torch.cat([h_n[-2], h_n[-1]], dim=1) if module.rnn.bidirectional else h_n[-1]
    return module.head(module.dropout(last))


def valid_rows(logits, lengths, frames):
    """Each row's logits at its valid frames (the whole row for the classifier), as a list."""
    if not frames:
        return list(logits)
    if logits.dim() == 2:  # one output: (N, T)
        return [row[:length] for row, length in zip(logits, lengths.tolist(), strict=True)]
    return [row[:, :length] for row, length in zip(logits, lengths.tolist(), strict=True)]


def loss_of(rows, seed=2):
    """A loss that weighs every valid logit differently, so that no gradient cancels."""
    generator = torch.Generator().manual_seed(seed)
    return sum((row * torch.randn(row.shape, generator=generator)).sum() for row in rows)


def gradients(module, loss):
    module.zero_grad()
    loss.backward()
    return {name: parameter.grad.clone() for name, parameter in module.named_parameters()}


def assert_gradients_close(first, second):
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name], second[name], atol=ATOL, rtol=1e-4,
                                   msg=lambda text, name=name: f"{name}: {text}")


@pytest.mark.parametrize("network", NETWORKS, ids=lambda network: network.__name__)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [True, False], ids=["bi", "uni"])
def test_padded_batch_matches_packing_and_each_recording_alone(network, num_layers,
                                                               bidirectional):
    frames = per_frame(network)
    module = make(network, num_layers, bidirectional).train()  # dropout 0: deterministic
    x, lengths = padded_batch()

    ours = valid_rows(module(x, lengths), lengths, frames)
    ours_gradients = gradients(module, loss_of(ours))

    packed = valid_rows(packed_reference(module, x, lengths), lengths, frames)
    packed_gradients = gradients(module, loss_of(packed))

    alone = [module(x[i:i + 1, :length])[0] for i, length in enumerate(lengths.tolist())]
    alone_gradients = gradients(module, loss_of(alone))

    for mine, theirs, single in zip(ours, packed, alone, strict=True):
        torch.testing.assert_close(mine, theirs, atol=ATOL, rtol=1e-4)
        torch.testing.assert_close(mine, single, atol=ATOL, rtol=1e-4)
    assert_gradients_close(ours_gradients, packed_gradients)
    assert_gradients_close(ours_gradients, alone_gradients)
    # every direction's parameters learn: the backward direction's too
    assert all(gradient.abs().sum() > 0 for gradient in ours_gradients.values())


@pytest.mark.parametrize("network", [LSTMLogits, LSTMFrameLogits])
def test_lstm_with_projections_and_without_bias(network):
    x, lengths = padded_batch()
    for kwargs in ({"proj_size": 3}, {"bias": False}):
        module = make(network, 2, True, **kwargs)
        frames = per_frame(network)
        ours = valid_rows(module(x, lengths), lengths, frames)
        ours_gradients = gradients(module, loss_of(ours))
        packed = valid_rows(packed_reference(module, x, lengths), lengths, frames)
        packed_gradients = gradients(module, loss_of(packed))
        for mine, theirs in zip(ours, packed, strict=True):
            torch.testing.assert_close(mine, theirs, atol=ATOL, rtol=1e-4)
        assert_gradients_close(ours_gradients, packed_gradients)


@pytest.mark.parametrize("network", NETWORKS, ids=lambda network: network.__name__)
def test_padding_never_changes_a_result(network):
    module = make(network, 2, True).eval()
    frames = per_frame(network)
    results = []
    for fill in (None, 0.0, 1e3):
        x, lengths = padded_batch(fill=fill)
        results.append(valid_rows(module(x, lengths), lengths, frames))
    for rows in results[1:]:
        for first, other in zip(results[0], rows, strict=True):
            torch.testing.assert_close(first, other, atol=ATOL, rtol=1e-4)


@pytest.mark.parametrize("network", [LSTMFrameLogits, GRUFrameLogits])
def test_padding_frames_get_the_heads_bias_as_when_packed(network):
    module = make(network, 1, True)
    x, lengths = padded_batch()
    logits = module(x, lengths)
    torch.testing.assert_close(logits, packed_reference(module, x, lengths), atol=ATOL,
                               rtol=1e-4)
    assert torch.equal(logits[4, :, 1:], module.head.bias[:, None].expand(-1, 11).detach())


@pytest.mark.parametrize("network", NETWORKS, ids=lambda network: network.__name__)
def test_equal_lengths_read_as_without_lengths(network):
    module = make(network, 2, True)
    x, _ = padded_batch(lengths=[10, 10, 10])
    torch.testing.assert_close(module(x, torch.tensor([10, 10, 10])), module(x), atol=0, rtol=0)


@pytest.mark.parametrize("network", NETWORKS, ids=lambda network: network.__name__)
def test_parameters_and_their_names_are_the_modules(network):
    module = make(network, 2, True)
    attribute = "lstm" if "LSTM" in network.__name__ else "gru"
    names = set(module.state_dict())
    for layer in range(2):
        for suffix in ("", "_reverse"):
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                assert f"{attribute}.{kind}_l{layer}{suffix}" in names
    assert sum(name.startswith(f"{attribute}.") for name in names) == 16
    # the weights are read from the module by name: a loaded state dict is what runs
    other = make(network, 2, True, seed=5)
    x, lengths = padded_batch()
    assert not torch.allclose(module(x, lengths), other(x, lengths))
    other.load_state_dict(module.state_dict())
    torch.testing.assert_close(other(x, lengths), module(x, lengths), atol=0, rtol=0)
    # and so are parameters swapped in by torch.func.functional_call
    swapped = torch.func.functional_call(other, dict(make(network, 2, True, seed=5)
                                                     .named_parameters()), (x, lengths))
    torch.testing.assert_close(swapped, make(network, 2, True, seed=5)(x, lengths), atol=0,
                               rtol=0)


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_dropout_between_layers_only_while_training(mode):
    network = LSTMFrameLogits if mode == "LSTM" else GRUFrameLogits
    module = make(network, 2, True, dropout=0.5)
    x, lengths = padded_batch()
    module.eval()
    first = valid_rows(module(x, lengths), lengths, True)
    packed = valid_rows(packed_reference(module, x, lengths), lengths, True)
    for mine, theirs in zip(first, packed, strict=True):
        torch.testing.assert_close(mine, theirs, atol=ATOL, rtol=1e-4)
    module.train()
    module.dropout.p = 0.0  # the head's dropout off: what differs is between the layers
    torch.manual_seed(0)
    one = module(x, lengths)
    torch.manual_seed(1)
    two = module(x, lengths)
    assert not torch.allclose(one, two)
    module.rnn.dropout = 0.0
    torch.testing.assert_close(module(x, lengths), module.eval()(x, lengths), atol=ATOL,
                               rtol=1e-4)


def test_final_states_are_the_packed_ones():
    torch.manual_seed(0)
    rnn = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    x, lengths = padded_batch()
    output, last = unpacked_bidirectional(rnn, x, lengths)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    packed_output, (h_n, _) = rnn(packed)
    packed_output, _ = pad_packed_sequence(packed_output, batch_first=True,
                                           total_length=x.shape[1])
    torch.testing.assert_close(output, packed_output, atol=ATOL, rtol=1e-4)
    torch.testing.assert_close(last, torch.cat([h_n[-2], h_n[-1]], dim=1), atol=ATOL,
                               rtol=1e-4)


def test_a_bidirectional_tagger_predicts_each_recording_as_alone():
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(length, 2)).astype(np.float32) for length in (40, 95, 17, 60)]
    y = [(x[:, 0] > 1.0).astype(np.int64) for x in X]
    tagger = LSTMBlinkTagger(hidden_size=8, num_layers=2, bidirectional=True, max_epochs=2,
                             batch_size=4, random_state=0).fit(X, y)
    together = tagger.predict_proba(X)
    for recording, probabilities in zip(X, together, strict=True):
        np.testing.assert_allclose(probabilities, tagger.predict_proba([recording])[0],
                                   atol=1e-5)
