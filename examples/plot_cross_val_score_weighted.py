"""
Weighted against unweighted, by cross-validation
================================================

:func:`~sklearn.model_selection.cross_val_score` compares the two on the same
folds. Plain accuracy is shown too: with 5 % blinks it says little.
"""

# %%
import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_validate
from torch import nn

from sktorchcw import LSTMBlinkClassifier
from sktorchcw.datasets import make_blink_dataset

X, y = make_blink_dataset(1000, seq_len=40, prevalence=0.05, random_state=1)
folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)

# %%
# The seed article's setting: a regression loss on probabilities, few epochs.
for class_weight in (None, "balanced"):
    clf = LSTMBlinkClassifier(class_weight=class_weight, criterion=nn.MSELoss, lr=0.005,
                              max_epochs=20, random_state=0)
    scores = cross_validate(clf, X, y, cv=folds,
                            scoring=["accuracy", "balanced_accuracy", "f1"])
    summary = ", ".join(
        f"{name} {np.mean(scores[f'test_{name}']):.3f} +/- {np.std(scores[f'test_{name}']):.3f}"
        for name in ("accuracy", "balanced_accuracy", "f1")
    )
    print(f"class_weight={class_weight!r:11} {summary}")
