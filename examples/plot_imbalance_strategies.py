"""
Choosing an imbalance strategy with one grid search
===================================================

Class weights are one answer to a rare class; they make the model learn a reweighted
prior, so its probabilities lean towards the rare class. sktorchcw offers the others as
ordinary parameters, so one :class:`~sklearn.model_selection.GridSearchCV` can compare them:
plain training, ``class_weight='balanced'``, effective-number weights (Cui et al., 2019),
each with and without ``prior_correction``; class-balanced batches (``sampling``); and the
focal loss. Each is scored by balanced accuracy, log loss and the Brier score.
"""

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sktorchcw import FocalLoss, LSTMBlinkClassifier, effective_number_weights
from sktorchcw.datasets import make_blink_dataset

X, y = make_blink_dataset(900, seq_len=30, prevalence=0.08, noise=0.05,
                          hard_negative_rate=0.6, random_state=0)
print(f"{len(y)} windows, {y.mean():.0%} with a blink")

# %%
# One grid, three families of strategies. ``neg_log_loss`` and ``neg_brier_score`` score
# the probabilities; balanced accuracy the decisions.
grid = [
    {"class_weight": [None, "balanced", effective_number_weights(0.99)],
     "prior_correction": [False, True]},
    {"sampling": ["balanced"], "prior_correction": [False, True]},
    {"criterion": [FocalLoss]},
]
search = GridSearchCV(
    LSTMBlinkClassifier(max_epochs=12, hidden_size=16, device="cpu", random_state=0),
    grid,
    scoring={"balanced_accuracy": "balanced_accuracy", "log_loss": "neg_log_loss",
             "brier": "neg_brier_score"},
    refit="balanced_accuracy",
    cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=0),
    n_jobs=2,
)
started = time.perf_counter()
search.fit(X, y)
print(f"{len(search.cv_results_['params'])} strategies x 3 folds in "
      f"{time.perf_counter() - started:.0f} s")

# %%
# The results, one row per strategy.
def describe(params):
    parts = [f"{key}={value!r}" if key != "criterion" else "criterion=FocalLoss"
             for key, value in params.items()]
    return ", ".join(parts)


results = pd.DataFrame({
    "strategy": [describe(params) for params in search.cv_results_["params"]],
    "balanced accuracy": search.cv_results_["mean_test_balanced_accuracy"],
    "log loss": -search.cv_results_["mean_test_log_loss"],
    "Brier score": -search.cv_results_["mean_test_brier"],
    "fit seconds": search.cv_results_["mean_fit_time"],
})
print(results.to_string(index=False, float_format="{:.3f}".format))
print("best by balanced accuracy:", describe(search.best_params_))

# %%
# Balanced accuracy against log loss: the prior correction moves a weighted model's log
# loss back towards the unweighted one's without changing much else.
figure, axis = plt.subplots(figsize=(7, 4.5))
axis.scatter(results["log loss"], results["balanced accuracy"])
for _, row in results.iterrows():
    axis.annotate(row["strategy"].replace("prior_correction", "pc"),
                  (row["log loss"], row["balanced accuracy"]), fontsize=6)
axis.set_xlabel("log loss (lower is better)")
axis.set_ylabel("balanced accuracy")
axis.set_title("Imbalance strategies, 3-fold cross-validation")
figure.tight_layout()
