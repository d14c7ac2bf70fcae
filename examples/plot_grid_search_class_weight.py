"""
Grid search over the class weighting
====================================

``class_weight`` is an ordinary hyperparameter, so :class:`~sklearn.model_selection.GridSearchCV`
can choose it. ``'balanced'`` is computed from each training fold only.
"""

# %%
import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from sktorchcw import LSTMBlinkClassifier
from sktorchcw.datasets import make_blink_dataset

X, y = make_blink_dataset(800, seq_len=40, prevalence=0.08, random_state=0)

# %%
# Four weightings, scored by balanced accuracy and by the F1 of the blink class;
# the best by balanced accuracy is refitted on all the data.
search = GridSearchCV(
    LSTMBlinkClassifier(max_epochs=15, random_state=0),
    param_grid={"class_weight": [None, "balanced", {1: 3.0}, {1: 30.0}]},
    scoring={"balanced_accuracy": "balanced_accuracy", "f1": "f1"},
    refit="balanced_accuracy",
    cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=0),
)
search.fit(X, y)

# %%
# The results as a DataFrame, best first.
results = pd.DataFrame(search.cv_results_)
columns = ["param_class_weight", "mean_test_balanced_accuracy", "std_test_balanced_accuracy",
           "mean_test_f1", "std_test_f1", "mean_fit_time"]
print(results[columns].sort_values("mean_test_balanced_accuracy", ascending=False)
      .to_string(index=False, float_format="{:.3f}".format))
print("best:", search.best_params_)
