"""A user's own network inside the sequence estimators: the contract and its checks.

The estimators hand a user module the same input as the built-in networks (float32
``(N, T, F)``, standardised, missing frames filled, zero after each recording's length)
and read its logits back in their own layout. :class:`UserNetwork` does both around the
user's module, so that the loss, the masks, prediction and deployment see one kind of
network whatever the user wrote.
"""

import inspect

import torch
from torch import nn

from ._module import StandardisedInput

__all__ = ["UserNetwork", "check_user_module", "user_module_arguments", "takes_lengths"]

# What the estimators pass a user module's constructor when it accepts them.
SUPPLIED_ARGUMENTS = ("n_features", "n_outputs")


def check_user_module(module, estimator_name):
    """A TypeError, with the fix, unless ``module`` is an ``nn.Module`` subclass."""
    if inspect.isclass(module) and issubclass(module, nn.RNNBase):
        # torch's own recurrent layers return (output, state), not logits.
        builtin = {nn.GRU: "'gru'", nn.LSTM: "'lstm'"}.get(module, "'lstm' or 'gru'")
        raise TypeError(
            f"{estimator_name}(module={module.__name__}) is torch's recurrent layer, which "
            "returns (output, state) rather than logits. Use the built-in network: "
            f"module={builtin} (hidden_size, num_layers, bidirectional and dropout set it), "
            "or a module of your own that wraps the layer and returns logits.")
    if inspect.isclass(module) and issubclass(module, nn.Module):
        return
    if isinstance(module, nn.Module):
        raise TypeError(
            f"{estimator_name}(module=...) takes the class of your network, not an instance "
            f"({type(module).__name__}(...) was given), so that clone, GridSearchCV and "
            f"warm starts build fresh networks: pass module={type(module).__name__} and its "
            "constructor arguments as module__<name>=value."
        )
    raise TypeError(
        f"{estimator_name}(module=...) must be None, 'lstm', 'gru' or a subclass of "
        f"torch.nn.Module; got {module!r}."
    )


def _parameters(module_class):
    return inspect.signature(module_class.__init__).parameters


def _accepts_any_keyword(module_class):
    return any(p.kind is inspect.Parameter.VAR_KEYWORD
               for p in _parameters(module_class).values())


def user_module_arguments(module_class, routed, n_features, n_outputs):
    """The constructor arguments of a user module: the ``module__*`` parameters, plus
    ``n_features`` and ``n_outputs`` where its constructor names them (or takes
    ``**kwargs``). A ValueError naming what it accepts when a routed one is unknown, or a
    supplied one is routed too."""
    parameters = _parameters(module_class)
    accepted = [name for name in parameters if name != "self"
                and parameters[name].kind not in (inspect.Parameter.VAR_POSITIONAL,
                                                  inspect.Parameter.VAR_KEYWORD)]
    any_keyword = _accepts_any_keyword(module_class)
    unknown = sorted(set(routed) - set(accepted))
    if unknown and not any_keyword:
        raise ValueError(
            f"{module_class.__name__} does not take the parameter(s) "
            f"{['module__' + name for name in unknown]}; its constructor accepts {accepted}."
        )
    clash = sorted(set(routed) & set(SUPPLIED_ARGUMENTS))
    if clash:
        raise ValueError(
            f"{['module__' + name for name in clash]} are set by the estimator from the data "
            "(the features per frame, and the logits the criterion needs); drop them."
        )
    supplied = {"n_features": n_features, "n_outputs": n_outputs}
    arguments = {name: value for name, value in supplied.items()
                 if name in accepted or any_keyword}
    arguments.update(routed)
    return arguments


def takes_lengths(module):
    """Whether ``module.forward`` takes a second argument (the recordings' lengths)."""
    kinds = [p.kind for p in inspect.signature(module.forward).parameters.values()]
    positional = [kind for kind in kinds if kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                     inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or inspect.Parameter.VAR_POSITIONAL in kinds


class UserNetwork(StandardisedInput):
    """A user's network, given the estimators' input and read back in their layout.

    The user's ``forward(x)`` or ``forward(x, lengths)`` receives ``x`` float32
    ``(N, T, F)``, standardised with the training statistics, missing frames filled,
    and zero after each recording's length; ``lengths`` int64 ``(N,)``. It returns raw
    logits ``(N, n_outputs)`` (per recording) or ``(N, T, n_outputs)`` (per frame); they
    are checked on every call (a ValueError names the expected and the received shape)
    and given to the loss as the built-in networks give them: ``(N, n_outputs)``, or
    ``(N, n_outputs, T)`` (``(N, T)`` for one output) per frame.

    Parameters
    ----------
    network : nn.Module subclass
        The user's network.
    network_arguments : dict
        Its constructor's arguments (see :func:`user_module_arguments`).
    n_features, n_outputs : int
        Features per frame, logits per recording or frame.
    per_frame : bool
        Whether the network gives logits per frame (the tagger) or per recording.
    input_mean, input_scale, missing_fill : array-like of shape (n_features,), default=None
        As for :class:`~sktorchcw.LSTMLogits`.
    """

    def __init__(self, network, network_arguments, n_features, n_outputs, per_frame,
                 input_mean=None, input_scale=None, missing_fill=None):
        super().__init__()
        self._register_scaling(n_features, input_mean, input_scale, missing_fill)
        self.network = network(**network_arguments)
        self.n_outputs = n_outputs
        self.per_frame = per_frame
        self.passes_lengths = takes_lengths(self.network)

    def forward(self, x, lengths=None):
        x = self._standardised(x)
        if lengths is not None:
            steps = torch.arange(x.shape[1], device=x.device)
            padding = steps[None, :] >= lengths.to(x.device)[:, None]
            x = x.masked_fill(padding[:, :, None], 0.0)
        if self.passes_lengths:
            if lengths is None:
                lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.int64,
                                     device=x.device)
            logits = self.network(x, lengths.to(torch.int64))
        else:
            logits = self.network(x)
        if not torch.jit.is_tracing():
            self._check_logits(logits, x)
        return self._in_loss_layout(logits)

    def forward_with_state(self, x, state=None):
        """The user's ``forward_with_state(x, state) -> (logits, state)`` on standardised
        frames, logits in the estimators' layout (what streaming calls)."""
        stateful = getattr(self.network, "forward_with_state", None)
        if stateful is None:
            raise TypeError(
                f"{type(self.network).__name__} has no forward_with_state(x, state) -> "
                "(logits, state), which streaming needs: it feeds each chunk of frames "
                "with the state the previous chunk left. Implement it (see the docs page "
                "'Your own network'), or predict whole recordings with predict_proba."
            )
        x = self._standardised(x)
        logits, state = stateful(x, state)
        self._check_logits(logits, x)
        return self._in_loss_layout(logits), state

    def _expected_shape(self, x):
        if self.per_frame:
            return (x.shape[0], x.shape[1], self.n_outputs), "(N, T, n_outputs)"
        return (x.shape[0], self.n_outputs), "(N, n_outputs)"

    def _check_logits(self, logits, x):
        expected, layout = self._expected_shape(x)
        name = type(self.network).__name__
        if not isinstance(logits, torch.Tensor):
            raise TypeError(f"{name}.forward must return a tensor of logits {layout}; it "
                            f"returned {type(logits).__name__}.")
        if tuple(logits.shape) != expected:
            raise ValueError(
                f"{name}.forward returned logits of shape {tuple(logits.shape)} for x of shape "
                f"{tuple(x.shape)}; expected {layout} = {expected}: one logit per class (one "
                f"in all for a single-logit binary criterion such as BCEWithLogitsLoss)"
                + (" at every frame" if self.per_frame else " per recording") + "."
            )
        if not logits.is_floating_point():
            raise TypeError(f"{name}.forward must return floating-point logits; it returned "
                            f"{logits.dtype}.")

    def _in_loss_layout(self, logits):
        if not self.per_frame:
            return logits
        if logits.shape[-1] == 1:
            return logits.squeeze(-1)
        return logits.transpose(1, 2)
