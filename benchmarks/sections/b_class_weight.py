"""Section b, class weights: class-weighted vs unweighted.

Measures: the epoch time of LSTMBlinkClassifier with ``class_weight='balanced'``.
Anchor: the same estimator unweighted, epochs alternating.
Figure: balanced / unweighted epoch, target <= 1.03.

``class_weight='balanced'`` / unweighted epoch time, the two fitted
nets training one epoch each in turn. Target <= 1.03.
"""

from common import at_most, compare
from data import blink_data
from training import alternate_epochs

TITLE = "class-weighted vs unweighted"


def measure(sizes, device):
    """b. class_weight='balanced' against no class weights, epochs alternating."""
    X, y = blink_data(sizes.n_samples, sizes.seq_len)
    results = alternate_epochs(X, y, device, {"balanced": {"class_weight": "balanced"},
                                              "none": {}}, sizes.repeats * sizes.timed_epochs)
    labels = {"balanced": "class_weight='balanced' epoch", "none": "class_weight=None epoch"}
    return compare("b", results, labels, "balanced / unweighted", "s", at_most(1.03))
