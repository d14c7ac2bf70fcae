"""
From Keras to sktorchcw: the seed article's ``model.fit`` call, one to one
==========================================================================

The :term:`seed article` trained its blink detector in Keras with::

    early_stopping = EarlyStopping(monitor="val_accuracy", patience=PATIENCE,
                                   restore_best_weights=True)
    checkpoint = ModelCheckpoint("checkpoints/blink.keras")
    model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=EPOCHS,
              validation_data=(x_test, y_test), callbacks=[early_stopping, checkpoint],
              class_weight=class_weight)

Each argument has its place in :class:`~sktorchcw.LSTMBlinkClassifier`:

========================================  ==================================================
Keras                                     sktorchcw
========================================  ==================================================
``batch_size=``, ``epochs=``              ``batch_size=``, ``max_epochs=`` (parameters)
``class_weight=class_weight``             ``class_weight=`` (a parameter: a dict, or
                                          ``'balanced'``, which Keras does not have)
``validation_data=(x_test, y_test)``      ``fit(..., validation_data=(X_val, y_val))``;
                                          the validation loss is not class-weighted, as in
                                          Keras
``EarlyStopping(restore_best_weights)``   ``skorch.callbacks.EarlyStopping(load_best=True)``
                                          on ``valid_bacc`` (balanced accuracy, which says
                                          more than accuracy on rare blinks)
``ModelCheckpoint``                       ``checkpoint_dir=``: a checkpoint after every
                                          epoch, to resume a fit that was stopped
``fit`` again to continue                 ``warm_start=True`` or ``partial_fit``
========================================  ==================================================
"""

# %%
import tempfile

import numpy as np
from skorch.callbacks import EarlyStopping

from sktorchcw import LSTMBlinkClassifier
from sktorchcw.datasets import make_blink_dataset

X, y = make_blink_dataset(1200, seq_len=40, prevalence=0.1, random_state=0)
X_train, y_train, X_val, y_val = X[:900], y[:900], X[900:], y[900:]
print(f"{len(y_train)} training windows ({y_train.mean():.0%} blinks), "
      f"{len(y_val)} validation windows")

# %%
# The Keras call, translated. ``sink=print`` makes EarlyStopping say when it stops and
# which epoch it restores; training ends normally then, and the checkpoint is deleted.
checkpoints = tempfile.mkdtemp()
clf = LSTMBlinkClassifier(
    class_weight={0: 1.0, 1: 9.0},
    batch_size=64,
    max_epochs=60,
    callbacks=[EarlyStopping(monitor="valid_bacc", lower_is_better=False, patience=5,
                             load_best=True, sink=print)],
    checkpoint_dir=checkpoints,
    random_state=0,
    verbose=1,
)
clf.fit(X_train, y_train, validation_data=(X_val, y_val))

# %%
# The history holds what Keras' ``History`` holds: per-epoch losses and the metric.
best = int(np.argmax(clf.history_[:, "valid_bacc"]))
print(f"trained {len(clf.history_)} epochs; best valid_bacc "
      f"{clf.history_[best, 'valid_bacc']:.3f} at epoch {best + 1}, whose weights the model "
      "now holds")

# %%
# Continuing training, as calling Keras' ``fit`` again does: ``warm_start=True`` keeps the
# weights, the optimizer state and the history, and trains ``max_epochs`` more epochs.
clf.set_params(warm_start=True, max_epochs=3, callbacks=None, verbose=0)
clf.fit(X_train, y_train, validation_data=(X_val, y_val))
print(f"after 3 more epochs: {len(clf.history_)} epochs in the history, "
      f"valid_bacc {clf.history_[-1, 'valid_bacc']:.3f}")

# %%
# The validation loss is the plain (unweighted) cross-entropy of the validation data, so it
# equals scikit-learn's log loss of the probabilities, whatever the class weights.
from sklearn.metrics import log_loss  # noqa: E402

print(f"valid_loss {clf.history_[-1, 'valid_loss']:.4f} = log loss "
      f"{log_loss(y_val, clf.predict_proba(X_val)):.4f}")
