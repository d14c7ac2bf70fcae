"""Shared test helpers: fast estimator parameters."""

from sktorchcw import LSTMBlinkClassifier

# Small and fast: enough to learn the generated blinks, quick enough for many fits.
FAST = dict(max_epochs=8, batch_size=32, hidden_size=12, lr=0.02, device="cpu", random_state=0)


def fast_classifier(**params):
    return LSTMBlinkClassifier(**{**FAST, **params})
