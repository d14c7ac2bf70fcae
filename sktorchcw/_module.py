"""The built-in networks: standardise inputs, run an LSTM or a GRU, map the last valid step
(LSTMLogits, GRULogits) or every step (LSTMFrameLogits, GRUFrameLogits) to logits.

:class:`StandardisedInput` holds the per-feature statistics (and the missing-frame fill)
that every network of the estimators applies first, built-in or the user's own (see
:mod:`._user_module`)."""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ._bidirectional import unpacked_bidirectional

__all__ = ["StandardisedInput", "LSTMLogits", "LSTMFrameLogits", "GRULogits", "GRUFrameLogits",
           "EXTRA_LSTM_ARGUMENTS", "EXTRA_GRU_ARGUMENTS"]

# nn.LSTM arguments a user may route through ``module__*``; the rest are set by the estimator.
EXTRA_LSTM_ARGUMENTS = ("bias", "proj_size")
EXTRA_GRU_ARGUMENTS = ("bias",)


class StandardisedInput(nn.Module):
    """Base of the estimators' networks: per-feature standardisation ``(x - mean) / scale``
    and the fill of missing frames, stored as buffers so that they travel with the
    weights (``input_mean``, ``input_scale``, ``missing_fill``)."""

    def _register_scaling(self, n_features, input_mean, input_scale, missing_fill):
        self.fills_missing = missing_fill is not None
        if self.fills_missing:
            fill = torch.as_tensor(missing_fill).to(torch.float32).reshape(n_features)
            self.register_buffer("missing_fill", fill)
        mean = torch.zeros(n_features) if input_mean is None else torch.as_tensor(input_mean)
        scale = torch.ones(n_features) if input_scale is None else torch.as_tensor(input_scale)
        self.register_buffer("input_mean", mean.to(torch.float32).reshape(n_features))
        self.register_buffer("input_scale", scale.to(torch.float32).reshape(n_features))

    def _standardised(self, x):
        """``x`` with missing frames filled, then standardised."""
        return (self._filled(x) - self.input_mean) / self.input_scale

    def _filled(self, x):
        """``x`` with every missing frame (one with a NaN feature) set to ``missing_fill``."""
        if not self.fills_missing:
            return x
        fill: torch.Tensor = self.missing_fill  # type: ignore[assignment]  # a buffer
        return torch.where(torch.isnan(x).any(dim=-1, keepdim=True), fill, x)


class LSTMLogits(StandardisedInput):
    """LSTM over ``(N, T, F)`` sequences whose last valid step feeds a linear layer of logits.

    Parameters
    ----------
    n_features : int
        Features per time step.
    n_outputs : int
        Logits per sequence: the number of classes, or 1 for a single-logit binary model.
    hidden_size, num_layers, bidirectional, dropout
        As in :class:`torch.nn.LSTM`; ``dropout`` also applies before the linear layer.
    input_mean, input_scale : array-like of shape (n_features,), default=None
        Per-feature standardisation ``(x - mean) / scale`` applied first; stored as
        buffers so that they travel with the weights.
    missing_fill : array-like of shape (n_features,), default=None
        When given, a frame with a NaN feature (a missing frame) is replaced by these
        values before standardisation (the estimators pass the standardisation's
        centre, so that it becomes zero); a buffer, as the statistics. None: inputs
        are taken as they are.
    **lstm_kwargs
        Further :class:`torch.nn.LSTM` arguments (``bias``, ``proj_size``).

    Examples
    --------
    >>> import torch
    >>> from sktorchcw import LSTMLogits
    >>> module = LSTMLogits(n_features=2, n_outputs=3, hidden_size=8)
    >>> x = torch.zeros(4, 10, 2)
    >>> module(x).shape
    torch.Size([4, 3])
    >>> module(x, lengths=torch.tensor([10, 7, 3, 1])).shape
    torch.Size([4, 3])
    """

    def __init__(
        self,
        n_features,
        n_outputs,
        hidden_size=32,
        num_layers=1,
        bidirectional=False,
        dropout=0.0,
        input_mean=None,
        input_scale=None,
        missing_fill=None,
        **lstm_kwargs,
    ):
        super().__init__()
        _check_rnn_kwargs(lstm_kwargs, self._rnn_arguments, self._rnn_class.__name__)
        self._register_scaling(n_features, input_mean, input_scale, missing_fill)
        rnn = self._rnn_class(
            n_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            # nn.LSTM applies dropout between layers only and warns when there is one layer.
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            **lstm_kwargs,
        )
        setattr(self, self._rnn_attribute, rnn)  # "lstm" or "gru": the state dict's names
        state_size = lstm_kwargs.get("proj_size") or hidden_size
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(state_size * (2 if bidirectional else 1), n_outputs)

    def forward(self, x, lengths=None):
        """Return logits ``(N, n_outputs)`` for sequences ``x`` ``(N, T, F)``.

        ``lengths`` ``(N,)`` gives each sequence's valid steps; the padding after
        them never enters the result. On the CPU nothing is packed: PyTorch's packed
        LSTM costs there time that grows with the batch's longest sequence times its
        frames in the backward pass. A unidirectional network reads the padded batch
        and takes each sequence's output at its last valid step; a bidirectional one
        reads each sequence backwards from its own last valid step (see
        :mod:`._bidirectional`); both give the packed network's states, to float32
        rounding. On another device (cuDNN's packed kernels are fast) a bidirectional
        batch is packed. A batch whose sequences all fill ``T`` steps is read as
        without ``lengths``.
        """
        if lengths is not None and self.rnn.bidirectional and _fills_every_step(lengths, x):
            lengths = None
        if lengths is not None and not self.rnn.bidirectional:
            output, _ = self.rnn(self._standardised(x))
            steps = lengths.to(output.device) - 1
            last = output[torch.arange(output.shape[0], device=output.device), steps]
            return self.head(self.dropout(last))
        if lengths is not None and _reads_unpacked(x):
            _, last = unpacked_bidirectional(self.rnn, self._standardised(x), lengths)
            return self.head(self.dropout(last))
        _, state = self.rnn(self._packed_input(x, lengths))
        h_n = state[0] if isinstance(state, tuple) else state  # an LSTM's (h, c); a GRU's h
        if self.rnn.bidirectional:
            last = torch.cat([h_n[-2], h_n[-1]], dim=1)
        else:
            last = h_n[-1]
        return self.head(self.dropout(last))

    _rnn_class: type = nn.LSTM
    _rnn_attribute = "lstm"
    _rnn_arguments: tuple[str, ...] = EXTRA_LSTM_ARGUMENTS

    @property
    def rnn(self):
        """The recurrent layer (:class:`torch.nn.LSTM` or :class:`torch.nn.GRU`)."""
        return getattr(self, self._rnn_attribute)

    def _packed_input(self, x, lengths):
        """Standardised ``x``, packed when ``lengths`` say where each sequence ends."""
        x = self._standardised(x)
        if lengths is None:
            return x
        return pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)


class LSTMFrameLogits(LSTMLogits):
    """LSTM over ``(N, T, F)`` sequences whose every step feeds the linear layer: logits
    per frame, in PyTorch's K-dimensional layout ``(N, n_outputs, T)``.

    Parameters as for :class:`LSTMLogits`. A unidirectional network is causal: the
    logits of frame ``t`` depend on frames ``0..t`` only. With ``lengths``, frames past
    a sequence's end are padding, which the loss and the estimators leave out (a
    bidirectional network gives them the logits of a zero LSTM output, the head's bias;
    a unidirectional one reads on over the padding).

    Examples
    --------
    >>> import torch
    >>> from sktorchcw import LSTMFrameLogits
    >>> module = LSTMFrameLogits(n_features=2, n_outputs=2, hidden_size=8)
    >>> module(torch.zeros(4, 10, 2)).shape
    torch.Size([4, 2, 10])
    >>> LSTMFrameLogits(n_features=2, n_outputs=1)(torch.zeros(4, 10, 2)).shape
    torch.Size([4, 10])
    """

    def forward(self, x, lengths=None):
        """Return logits ``(N, n_outputs, T)`` (``(N, T)`` for one output) for ``x``
        ``(N, T, F)``; the backward direction of a bidirectional LSTM starts at each
        sequence's last valid frame. A unidirectional LSTM reads the padded batch, in
        which the frames before each sequence's end see only earlier frames, so padding
        cannot reach them; on the CPU a bidirectional one reads each sequence reversed
        within its own length for its backward direction (see :mod:`._bidirectional`),
        the packed network's logits to float32 rounding, and on another device it is
        packed. (On the CPU the packed LSTM's backward pass costs far more.)"""
        if (lengths is None or not self.rnn.bidirectional
                or _fills_every_step(lengths, x)):
            return self.forward_with_state(x)[0]
        if _reads_unpacked(x):
            output, _ = unpacked_bidirectional(self.rnn, self._standardised(x), lengths)
        else:
            output, _ = self.rnn(self._packed_input(x, lengths))
            output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
        return self._frame_logits(output)

    def forward_with_state(self, x, state=None):
        """Logits of the frames ``x``, continuing from the LSTM state of earlier frames.

        Feeding a sequence in consecutive chunks, each call with the state that the
        previous one returned, gives the logits of feeding it whole (this is how
        :meth:`LSTMBlinkTagger.stream` works).

        Parameters
        ----------
        x : Tensor of shape (N, T, F)
            Unpacked frames: every sequence fills all ``T >= 1`` steps.
        state : tuple of two Tensors or None, default=None
            The ``(h, c)`` a previous call returned, or None to start from zeros.
            Only a unidirectional LSTM can continue: its backward direction would
            start from the end of this chunk rather than the sequence's.

        Returns
        -------
        logits : Tensor of shape (N, n_outputs, T), or (N, T) for one output
            As :meth:`forward` returns them.
        state : tuple of two Tensors
            ``(h, c)`` after the last frame, each ``(num_layers, N, size)``
            (``(2 * num_layers, N, size)`` when bidirectional), as
            :class:`torch.nn.LSTM` returns them.

        Raises
        ------
        ValueError
            For a ``state`` given to a bidirectional network.

        Examples
        --------
        >>> import torch
        >>> from sktorchcw import LSTMFrameLogits
        >>> module = LSTMFrameLogits(n_features=2, n_outputs=2, hidden_size=8).eval()
        >>> x = torch.randn(1, 10, 2)
        >>> first, state = module.forward_with_state(x[:, :6])
        >>> rest, state = module.forward_with_state(x[:, 6:], state)
        >>> torch.allclose(torch.cat([first, rest], dim=2), module(x), atol=1e-6)
        True
        """
        if state is not None and self.rnn.bidirectional:
            raise ValueError(
                f"A bidirectional {type(self.rnn).__name__} cannot continue from a state: its "
                "backward direction reads each sequence from its end. Pass the whole sequence "
                "with state=None."
            )
        output, state = self.rnn(self._standardised(x), state)
        return self._frame_logits(output), state

    def _frame_logits(self, output):
        """The LSTM's output ``(N, T, width)`` -> logits ``(N, n_outputs, T)`` (``(N, T)``
        for one output)."""
        logits = self.head(self.dropout(output))  # (N, T, n_outputs)
        if logits.shape[-1] == 1:
            return logits.squeeze(-1)
        return logits.transpose(1, 2)


class GRULogits(LSTMLogits):
    """GRU over ``(N, T, F)`` sequences whose last valid step feeds a linear layer of logits.

    Parameters and behaviour as for :class:`LSTMLogits`, with :class:`torch.nn.GRU` in
    place of the LSTM (``module__bias`` is its one further argument). What
    ``module='gru'`` builds for :class:`LSTMBlinkClassifier`.

    Examples
    --------
    >>> import torch
    >>> from sktorchcw import GRULogits
    >>> GRULogits(n_features=2, n_outputs=3, hidden_size=8)(torch.zeros(4, 10, 2)).shape
    torch.Size([4, 3])
    """

    _rnn_class = nn.GRU
    _rnn_attribute = "gru"
    _rnn_arguments = EXTRA_GRU_ARGUMENTS


class GRUFrameLogits(LSTMFrameLogits):
    """GRU over ``(N, T, F)`` sequences with logits at every frame ``(N, n_outputs, T)``.

    Parameters and behaviour as for :class:`LSTMFrameLogits`, with :class:`torch.nn.GRU`
    in place of the LSTM; :meth:`forward_with_state` takes and returns the GRU's hidden
    state ``h`` (one tensor, not a pair). What ``module='gru'`` builds for
    :class:`LSTMBlinkTagger`.

    Examples
    --------
    >>> import torch
    >>> from sktorchcw import GRUFrameLogits
    >>> module = GRUFrameLogits(n_features=2, n_outputs=2, hidden_size=8).eval()
    >>> x = torch.randn(1, 10, 2)
    >>> first, state = module.forward_with_state(x[:, :6])
    >>> rest, state = module.forward_with_state(x[:, 6:], state)
    >>> torch.allclose(torch.cat([first, rest], dim=2), module(x), atol=1e-6)
    True
    """

    _rnn_class = nn.GRU
    _rnn_attribute = "gru"
    _rnn_arguments = EXTRA_GRU_ARGUMENTS


def _reads_unpacked(x):
    """Whether a bidirectional network reads the padded batch ``x`` without packing: on the
    CPU, where the packed layer's backward pass costs time that grows with the batch's
    longest sequence times its frames. On a GPU, cuDNN's packed kernels are fast, and
    running one direction's weights alone would leave the module's flattened weight
    buffer."""
    return x.device.type == "cpu"


def _fills_every_step(lengths, x):
    """Whether every sequence of the batch ``x`` ``(N, T, F)`` has all ``T`` steps valid:
    then the bidirectional module reads it whole, as a batch without lengths."""
    return bool((lengths == x.shape[1]).all())


def _check_rnn_kwargs(rnn_kwargs, accepted, rnn_name):
    unknown = sorted(set(rnn_kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"Unknown module parameter(s) {unknown}: module__* of the built-in {rnn_name} "
            f"accepts {list(accepted)}; hidden_size, num_layers, bidirectional and dropout "
            "are parameters of the estimator itself."
        )
