"""The skorch NeuralNet that LSTMBlinkClassifier drives: weighted training loss, plain
validation loss, probabilities from logits."""

import inspect
import math

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.utils import to_tensor

__all__ = ["SequenceNet", "TrainingDivergedError", "logits_to_proba"]


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the epoch and batch.

    Raised by :meth:`LSTMBlinkClassifier.fit` before the broken loss reaches the
    weights; the estimator is left unfitted.

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


class SequenceNet(NeuralNet):
    """skorch NeuralNet over :class:`~sktorchcw._batching.SequenceDataset` batches.

    The criterion is a :class:`~sktorchcw.ClassWeightedLoss`. Training batches carry
    their sample weights in ``X["sample_weight"]``; the validation loss is unweighted,
    as in Keras, so it stays comparable between weightings.
    """

    def infer(self, x, **fit_params):
        inputs = {key: value for key, value in x.items() if key != "sample_weight"}
        inputs = to_tensor(inputs, device=self.device)
        return self.module_(**inputs, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device)
        if not training:
            return self.criterion_.unweighted(y_pred, y_true)
        loss = self.criterion_(y_pred, y_true, X.get("sample_weight"))
        # Checked before backward and the optimizer step, so no update uses a broken loss.
        # skorch reads the loss value every batch anyway, so the check costs little.
        if not math.isfinite(loss.item()):
            raise TrainingDivergedError(self._divergence_message(loss))
        return loss

    def _divergence_message(self, loss):
        epoch = len(self.history)
        batch = len(self.history[-1]["batches"]) if epoch else 0
        return (
            f"Training diverged: the loss became {loss.item()} at epoch {epoch}, batch {batch}. "
            "Try a smaller lr, check X for extreme values, or use smaller class or sample "
            "weights. The estimator was left unfitted."
        )

    def train_step(self, batch, **fit_params):
        """One optimisation step; skorch's closure-based step only where it is needed.

        skorch wraps every step in a closure and tees the parameters to the
        ``on_grad_computed`` callbacks (about 2 % of an epoch in the benchmarks). The plain
        ``zero_grad``, forward, backward, ``step`` sequence does the same arithmetic, so it
        is used unless an optimizer requires a closure (LBFGS) or a callback reads the
        gradients (for example :class:`skorch.callbacks.GradientNormClipping`).
        """
        plain_step = getattr(self, "_plain_step", None)
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
        return any(map(_requires_closure, optimizers)) or any(
            type(listener).on_grad_computed is not base.on_grad_computed
            for listener, base in [(self, NeuralNet)] + [(cb, Callback) for cb in callbacks]
        )

    def _set_training(self, training=True):
        # skorch calls this every batch; Module.train walks every submodule through the
        # slow nn.Module.__setattr__, so only switch the modules not yet in that mode.
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if isinstance(module, torch.nn.Module) and any(
                submodule.training != training for submodule in module.modules()
            ):
                module.train(training)

    def on_train_begin(self, net, **kwargs):
        self._keep_finished_epoch()

    def on_epoch_end(self, net, **kwargs):
        self._keep_finished_epoch()

    def _keep_finished_epoch(self):
        """Remember the weights and history length of the last finished epoch."""
        state = self.module_.state_dict()
        weights = {name: value.detach().clone() for name, value in state.items()}
        self._finished_epoch = (len(self.history), weights)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        self.interrupted_ = False
        # Decided once per fit: inspecting the optimizers and callbacks every batch would
        # cost more than the closure it saves.
        self._plain_step = not self._needs_skorch_step()
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            # skorch ends training quietly on Ctrl-C; remember it so the estimator can say
            # so, and go back to the last finished epoch: batches of an unfinished one
            # must not be half in the weights.
            self.interrupted_ = True
            epochs_done, weights = self._finished_epoch
            self.module_.load_state_dict(weights)
            del self.history[epochs_done:]
            raise
        finally:
            del self._plain_step
            self.__dict__.pop("_finished_epoch", None)

    def predict(self, X):
        """Class indices (not labels) of the highest probability."""
        return np.argmax(self.predict_proba(X), axis=1)


def _requires_closure(optimizer):
    """True when ``optimizer.step`` has no default for its ``closure`` (LBFGS)."""
    closure = inspect.signature(optimizer.step).parameters.get("closure")
    return closure is not None and closure.default is inspect.Parameter.empty
