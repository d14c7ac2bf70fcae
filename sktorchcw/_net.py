"""The class-weighted skorch net, one core for every net of sktorchcw:
:class:`ClassWeightedTraining` (weighted training loss, plain validation loss, sample
weights carried in the batch, divergence checks, the plain optimisation step) under both
:class:`SequenceNet`, which the sequence estimators drive, and
:mod:`sktorchcw.skorch`'s classifiers; and probabilities from logits."""

import contextlib
import copy
import inspect
import math
import signal
import threading
import warnings
from collections.abc import Mapping

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.utils import to_tensor

from ._batching import prediction_batches
from ._threads import torch_threads

__all__ = ["ClassWeightedTraining", "SequenceNet", "TrainingDivergedError", "DivergenceWarning",
           "SAMPLE_WEIGHT", "WRAPPED_INPUT", "logits_to_proba", "logits_to_log_proba",
           "frame_logits_to_proba", "frame_logits_to_log_proba", "frame_mask"]


class DivergenceWarning(RuntimeWarning):
    """The training loss or the weights became NaN or infinite and training went on
    (``on_divergence='warn'``, the default of :mod:`sktorchcw.skorch`'s nets, which train
    on as skorch does)."""


class TrainingDivergedError(FloatingPointError):
    """The training loss or the weights became NaN or infinite; the message names where.

    Raised by :meth:`LSTMBlinkClassifier.fit` before a broken loss reaches the weights,
    or at the end of the epoch whose optimizer step broke them; nothing of that fit is
    kept (a fresh fit leaves the estimator unfitted, a continued one keeps the model it
    continued).

    Examples
    --------
    >>> import numpy as np
    >>> from sktorchcw import LSTMBlinkClassifier, TrainingDivergedError
    >>> X = np.random.default_rng(0).normal(size=(32, 5, 1)).astype("float32")
    >>> y = np.array([0, 1] * 16)
    >>> clf = LSTMBlinkClassifier(class_weight={0: 3e38, 1: 3e38}, loss_reduction="sum",
    ...                           max_epochs=2, device="cpu")
    >>> try:
    ...     clf.fit(X, y)
    ... except TrainingDivergedError as error:
    ...     print(str(error).split(". ")[0])
    Training diverged: the loss became inf at epoch 1, batch 1
    """


def logits_to_proba(logits):
    """Softmax over classes; for a single logit, ``[1 - sigmoid, sigmoid]``."""
    if logits.ndim == 1 or logits.shape[1] == 1:
        positive = torch.sigmoid(logits.reshape(-1, 1))
        return torch.cat([1 - positive, positive], dim=1)
    return torch.softmax(logits, dim=1)


def logits_to_log_proba(logits):
    """Log-softmax over classes; for a single logit, ``[logsigmoid(-z), logsigmoid(z)]``.

    Computed from the logits, so very small probabilities keep their logarithm instead of
    becoming ``log(0) = -inf``.
    """
    if logits.ndim == 1 or logits.shape[1] == 1:
        logit = logits.reshape(-1, 1)
        return torch.cat([torch.nn.functional.logsigmoid(-logit),
                          torch.nn.functional.logsigmoid(logit)], dim=1)
    return torch.log_softmax(logits, dim=1)


def frame_logits_to_proba(logits):
    """Per-frame logits ``(N, C, T)`` (``(N, T)`` for one logit) -> probabilities
    ``(N, T, C)``."""
    if logits.ndim == 2:
        positive = torch.sigmoid(logits).unsqueeze(-1)
        return torch.cat([1 - positive, positive], dim=-1)
    return torch.softmax(logits, dim=1).transpose(1, 2)


def frame_logits_to_log_proba(logits):
    """Per-frame logits -> log-probabilities ``(N, T, C)``, computed from the logits."""
    if logits.ndim == 2:
        logit = logits.unsqueeze(-1)
        return torch.cat([torch.nn.functional.logsigmoid(-logit),
                          torch.nn.functional.logsigmoid(logit)], dim=-1)
    return torch.log_softmax(logits, dim=1).transpose(1, 2)


def frame_mask(y_true, X, *, missing=False):
    """``(N, T)`` True on the frames that enter a per-frame loss: valid (before each
    recording's end) and, with ``missing``, without a NaN feature. None for per-sequence
    targets, or when every frame of the batch enters."""
    if y_true.ndim < 2 or X is None:
        return None
    lengths = X.get("lengths")
    mask = None
    if lengths is not None:
        steps = torch.arange(y_true.shape[1], device=y_true.device)
        mask = steps[None, :] < lengths.to(y_true.device)[:, None]
    if missing:
        observed = ~torch.isnan(X["x"]).any(dim=-1).to(y_true.device)
        mask = observed if mask is None else mask & observed
    return mask


# A batch's sample weights travel in its X, a dict, under this key; an X that is no dict
# (an array, a list) travels under WRAPPED_INPUT beside them.
SAMPLE_WEIGHT = "sample_weight"
WRAPPED_INPUT = "__sktorchcw_input__"


def split_sample_weight(X):
    """``(inputs, sample_weight)`` of a batch's X: the weights it carries (None if none) and
    the module's inputs without them."""
    if not isinstance(X, Mapping) or SAMPLE_WEIGHT not in X:
        return X, None
    inputs = {key: value for key, value in X.items() if key != SAMPLE_WEIGHT}
    if set(inputs) == {WRAPPED_INPUT}:
        return inputs[WRAPPED_INPUT], X[SAMPLE_WEIGHT]
    return inputs, X[SAMPLE_WEIGHT]


class ClassWeightedTraining(NeuralNet):
    """What every class-weighted skorch net of sktorchcw does: a skorch NeuralNet, put
    first among the bases (``class Net(ClassWeightedTraining, skorch.NeuralNetClassifier)``)
    so that its methods come before the other skorch class's.

    The criterion (``criterion_``) is a :class:`~sktorchcw.ClassWeightedLoss`. A training
    batch's sample weights come in its X (see :func:`split_sample_weight`); the
    validation loss has no class weights, as in Keras, so it stays comparable between
    weightings. A loss or weights that become NaN or infinite raise
    :class:`TrainingDivergedError` before they reach the model. Hooks:
    ``_loss_mask(y_true, X)`` (elements left out of the loss) and ``_loss_input(y_pred)``
    (what the criterion receives).
    """

    # torch's threads during fit and prediction (see sktorchcw._threads): None leaves
    # torch's setting alone, as skorch does.
    n_threads = None

    def forward_iter(self, X, training=False, device="cpu"):
        with torch_threads(self.n_threads) as threads:
            for output in super().forward_iter(X, training=training, device=device):
                yield output
                threads.update()

    def infer(self, x, **fit_params):
        x = split_sample_weight(x)[0]
        if not fit_params and _tensors_on(x, self.__dict__.get("torch_device_")):
            return self.module_(**x)  # what skorch's infer does, without its conversions
        return super().infer(x, **fit_params)

    def notify(self, method_name, **cb_kwargs):
        # Per batch, skorch calls every callback's on_batch_begin/on_batch_end, most of
        # them the base class's empty method; during a fit only the others are called
        # (the net's own first, then the callbacks in order, as skorch does).
        listeners = self.__dict__.get("batch_listeners_")
        if listeners is None or method_name not in listeners:
            return super().notify(method_name, **cb_kwargs)
        for listener in listeners[method_name]:
            listener(self, **cb_kwargs)
        return None

    def _batch_listeners(self):
        """The net's own and the callbacks' batch methods that do something, by event."""
        return {event: [getattr(self, event)] + [
            getattr(callback, event) for _, callback in self.callbacks_
            if _overrides(callback, event, Callback)]
            for event in ("on_batch_begin", "on_batch_end")}

    def get_loss(self, y_pred, y_true, X=None, training=False):
        criterion = self._weighted_criterion(y_pred, X)
        if criterion is None:  # skorch's own loss
            loss = super().get_loss(y_pred, y_true, X=X, training=training)
            if training:
                self._check_finite_loss(loss)
            return loss
        y_pred = self._loss_input(y_pred)
        if not _tensor_on(y_true, self.__dict__.get("torch_device_")):
            y_true = to_tensor(y_true, device=self.device)
        sample_weight = split_sample_weight(X)[1]
        if sample_weight is not None:
            sample_weight = to_tensor(sample_weight, device=self.device)
        mask = self._loss_mask(y_true, X)
        if not training:
            # As Keras reports it: no class weights, the validation samples' own weights.
            return criterion.unweighted(y_pred, y_true, sample_weight, mask=mask)
        loss = criterion(y_pred, y_true, sample_weight, mask=mask)
        self._check_finite_loss(loss)
        return loss

    # What a NaN or infinite loss or weight does: 'raise' a TrainingDivergedError (the
    # estimators), 'warn' once per fit and train on (the skorch drop-in: skorch trains on)
    # or 'ignore'.
    on_divergence = "raise"

    def _check_finite_loss(self, loss):
        # Checked before backward and the optimizer step, so no update uses a broken loss.
        # skorch reads the loss value every batch anyway, so the check costs little.
        if self.on_divergence != "ignore" and not math.isfinite(loss.item()):
            self._diverged(self._divergence_message(loss))

    def _diverged(self, message):
        if self.on_divergence == "raise":
            raise TrainingDivergedError(message)
        if self.on_divergence == "warn" and not self.__dict__.get("divergence_warned_"):
            self.divergence_warned_ = True
            warnings.warn(message.replace(" Nothing of this fit was kept.", " Training goes "
                                          "on (on_divergence='warn')."),
                          DivergenceWarning, stacklevel=2)

    def _weighted_criterion(self, y_pred, X):
        """The :class:`~sktorchcw.ClassWeightedLoss` that weighs this batch, or None for
        skorch's own ``get_loss``."""
        return self.criterion_

    def _loss_mask(self, y_true, X):
        return None

    def _loss_input(self, y_pred):
        return y_pred

    def _divergence_message(self, loss):
        epoch = len(self.history)
        batch = len(self.history[-1]["batches"]) if epoch else 0
        return (
            f"Training diverged: the loss became {loss.item()} at epoch {epoch}, batch {batch}. "
            "Try a smaller lr, check X for extreme values, or use smaller class or sample "
            "weights. Nothing of this fit was kept."
        )

    def train_step(self, batch, **fit_params):
        """One optimisation step; skorch's closure-based step only where it is needed.

        skorch wraps every step in a closure and tees the parameters to the
        ``on_grad_computed`` callbacks (about 2 % of an epoch in the benchmarks). The plain
        ``zero_grad``, forward, backward, ``step`` sequence does the same arithmetic, so it
        is used unless an optimizer requires a closure (LBFGS) or a callback reads the
        gradients (for example :class:`skorch.callbacks.GradientNormClipping`).
        """
        threads = self.__dict__.get("thread_chooser_")
        if threads is not None:
            threads.update()
        plain_step = self.__dict__.get("plain_step_")
        if plain_step is None:
            plain_step = not self._needs_skorch_step()
        if not plain_step:
            return super().train_step(batch, **fit_params)
        self._zero_grad_optimizer()
        step = self.train_step_single(batch, **fit_params)
        self._step_optimizer(None)
        return step

    def _needs_skorch_step(self):
        optimizers = [getattr(self, name + "_") for name in self._optimizers]
        callbacks = [callback for _, callback in self.callbacks_]
        return (not all(map(_steps_without_closure, optimizers))
                or _overrides(self, "get_train_step_accumulator", NeuralNet)
                or "get_train_step_accumulator" in self.__dict__
                or any(_overrides(listener, "on_grad_computed", base)
                       for listener, base in [(self, NeuralNet)]
                       + [(cb, Callback) for cb in callbacks]))

    def _set_training(self, training=True):
        # skorch calls this every batch; Module.train walks every submodule through the
        # slow nn.Module.__setattr__, so only switch the modules not yet in that mode
        # (during a fit, their submodules are listed once, in fit_loop).
        submodules = self.__dict__.get("mode_submodules_")
        if submodules is not None and all(module.training == training
                                          for module in submodules):
            return
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if isinstance(module, torch.nn.Module) and any(
                submodule.training != training for submodule in module.modules()
            ):
                module.train(training)

    def _mode_submodules(self):
        return [submodule for name in self._modules + self._criteria
                for submodule in _modules_of(getattr(self, name + "_"))]

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        self._check_finite_weights()

    def _check_finite_weights(self):
        """A TrainingDivergedError when an optimizer step left NaN or infinite weights.

        The loss check in :meth:`get_loss` runs before each step; a finite loss can still
        produce broken weights in the step itself (a huge learning rate), and no later
        loss would reveal it when that step is the last one.
        """
        if self.on_divergence == "ignore":
            return
        broken = [name for name, parameter in self.module_.named_parameters()
                  if not bool(torch.isfinite(parameter).all())]
        if broken:
            self._diverged(
                f"Training diverged: the weights {broken[:3]} became NaN or infinite in epoch "
                f"{len(self.history)}. Try a smaller lr, check X for extreme values, or use "
                "smaller class or sample weights. Nothing of this fit was kept."
            )

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # Decided once per fit: inspecting the optimizers and callbacks every batch would
        # cost more than the closure it saves. (A name ending in "_": skorch takes every
        # other attribute for a parameter.)
        self.plain_step_ = not self._needs_skorch_step()
        self.batch_listeners_ = self._batch_listeners()
        self.mode_submodules_ = self._mode_submodules()
        # The device tensors live on ('cuda' names 'cuda:0' there), for infer and get_loss.
        self.torch_device_ = torch.empty(0, device=self.device).device
        try:
            with torch_threads(self.n_threads) as self.thread_chooser_:
                return super().fit_loop(X, y, epochs=epochs, **fit_params)
        finally:
            for name in ("plain_step_", "batch_listeners_", "mode_submodules_",
                         "torch_device_", "divergence_warned_", "thread_chooser_"):
                self.__dict__.pop(name, None)


class SequenceNet(ClassWeightedTraining):
    """skorch NeuralNet over :class:`~sktorchcw._batching.SequenceDataset` batches.

    The class-weighted core (:class:`ClassWeightedTraining`) plus what the sequence
    estimators need: ``mask_missing`` leaves frames with a NaN feature out of per-frame
    losses (``missing='mask'``), padding is left out of them, a Ctrl-C goes back to the
    last finished epoch and reaches the caller, and prediction runs in batches padded
    each to its own longest recording.
    """

    def __init__(self, module, criterion, *args, mask_missing=False, n_threads=None,
                 **kwargs):
        super().__init__(module, criterion, *args, **kwargs)
        self.mask_missing = mask_missing
        self.n_threads = n_threads

    def _loss_mask(self, y_true, X):
        return frame_mask(y_true, X, missing=self.mask_missing)

    def on_train_begin(self, net, **kwargs):
        self._keep_finished_epoch()

    def on_epoch_end(self, net, **kwargs):
        super().on_epoch_end(net, **kwargs)
        self._keep_finished_epoch()

    def _keep_finished_epoch(self):
        """Remember the weights and history length of the last finished epoch."""
        state = self.module_.state_dict()
        # A network's get_extra_state may put other objects than tensors in its state.
        weights = {name: value.detach().clone() if isinstance(value, torch.Tensor)
                   else copy.deepcopy(value) for name, value in state.items()}
        self._finished_epoch = (len(self.history), weights)

    def notify(self, method_name, **cb_kwargs):
        # skorch's convention: a callback ends training by raising KeyboardInterrupt in
        # on_epoch_end (EarlyStopping does). Tell that apart from a real Ctrl-C, which
        # must reach the caller: the SIGINT handler of fit_loop records real ones.
        if method_name != "on_epoch_end":
            return super().notify(method_name, **cb_kwargs)
        self.on_epoch_end(self, **cb_kwargs)
        for _, callback in self.callbacks_:
            try:
                callback.on_epoch_end(self, **cb_kwargs)
            except KeyboardInterrupt:
                self._stop_requested = not self._sigint_received
                raise

    _sigint_received = False
    _stop_requested = False

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        self.interrupted_ = False
        self.stopped_early_ = False
        self._stop_requested = False
        self._sigint_received = False
        try:
            with _recording_sigint(self):
                return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            # skorch ends training quietly on any KeyboardInterrupt. A callback's request to
            # stop is a normal end; a Ctrl-C is recorded so the estimator can re-raise it,
            # after going back to the last finished epoch: batches of an unfinished one
            # must not be half in the weights.
            if self._stop_requested:
                self.stopped_early_ = True
                raise
            self.interrupted_ = True
            epochs_done, weights = self._finished_epoch
            self.module_.load_state_dict(weights)
            del self.history[epochs_done:]
            raise
        finally:
            self.__dict__.pop("_finished_epoch", None)

    def predict_batches(self, dataset, *, batch_size=None, frame_budget=None):
        """``[(rows, logits), ...]``: the logits (float64, on the CPU) of every recording of
        ``dataset``, batch by batch, with the batch's positions in ``dataset``.

        One pass without autograd, the module in evaluation mode, in the batches of
        :func:`~sktorchcw._batching.prediction_batches` (a ragged batch padded to its own
        longest recording; ``rows`` say where each row belongs).
        """
        self._set_training(False)
        batches = prediction_batches(dataset, batch_size=batch_size, frame_budget=frame_budget,
                                     device=self.device)
        outputs = []
        with torch.no_grad(), torch_threads(self.n_threads) as threads:
            for rows, (inputs, _) in batches:
                outputs.append((rows, self.infer(inputs).to("cpu", torch.float64)))
                threads.update()
        return outputs

    def predict(self, X):
        """Class indices (not labels) of the highest probability."""
        return np.argmax(self.predict_proba(X), axis=1)


@contextlib.contextmanager
def _recording_sigint(net):
    """Note a real Ctrl-C (SIGINT) on ``net`` before Python raises KeyboardInterrupt.

    Only in the main thread and only over Python's own handler; elsewhere (worker
    threads, a handler of the user's) nothing changes and every KeyboardInterrupt that
    a callback raises in ``on_epoch_end`` counts as a request to stop.
    """
    previous = signal.getsignal(signal.SIGINT)
    if (threading.current_thread() is not threading.main_thread()
            or previous is not signal.default_int_handler):
        yield
        return

    def record_and_raise(signum, frame):
        net._sigint_received = True
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, record_and_raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _tensor_on(value, device):
    """Whether ``value`` is a tensor on ``device`` (None: never)."""
    return device is not None and isinstance(value, torch.Tensor) and value.device == device


def _tensors_on(x, device):
    """Whether ``x`` is a dict of tensors all on ``device`` (None: never)."""
    return type(x) is dict and all(_tensor_on(value, device) for value in x.values())


def _overrides(listener, method, base):
    """Whether ``listener``'s ``method`` may do something: its class overrides ``base``'s, or
    it is no subclass of ``base`` at all (skorch takes any object with the methods, e.g. a
    ``Mock``)."""
    return getattr(type(listener), method, None) is not getattr(base, method)


def _modules_of(value):
    """Every submodule of a torch module (itself included); nothing for other values."""
    return list(value.modules()) if isinstance(value, torch.nn.Module) else []


def _steps_without_closure(optimizer):
    """True for torch's own optimizers whose ``step`` needs no closure (not LBFGS); an
    optimizer of the user's may use the closure skorch always passes, and a trimmed net
    has none (skorch's step tells so)."""
    step = getattr(type(optimizer), "step", None)
    if step is None or not getattr(step, "__module__", "").startswith("torch.optim"):
        return False
    closure = inspect.signature(optimizer.step).parameters.get("closure")
    return closure is None or closure.default is not inspect.Parameter.empty
