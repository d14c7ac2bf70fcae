"""Progress bar, learning curves, and scikit-learn's display classes on the estimator."""

import matplotlib
import numpy as np
import pytest
from skorch.history import History

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay  # noqa: E402

from sktorchcw.plotting import plot_learning_curves  # noqa: E402

from helpers import fast_classifier  # noqa: E402


def test_progress_bar_on_request_and_off_by_default_without_a_terminal(blinks, capsys):
    X, y = blinks
    fast_classifier(max_epochs=2, verbose=1).fit(X, y)  # 'auto' and stdout is not a terminal
    quiet = capsys.readouterr()
    assert "it/s" not in quiet.err + quiet.out
    fast_classifier(max_epochs=2, progress_bar=True).fit(X, y)
    captured = capsys.readouterr()
    assert "/5 [" in captured.err + captured.out  # 160 samples in batches of 32: 5 per epoch


def test_learning_curves_from_estimators(blinks):
    X, y = blinks
    models = {name: fast_classifier(class_weight=weight, max_epochs=3).fit(X, y)
              for name, weight in (("None", None), ("balanced", "balanced"))}
    figure = plot_learning_curves(models, keys=["train_loss"])
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["None", "balanced"]
    np.testing.assert_allclose(lines[1].get_ydata(), models["balanced"].history_[:, "train_loss"])
    with pytest.raises(ValueError, match="no 'valid_loss'"):
        plot_learning_curves(models, keys=["valid_loss"])


def test_sklearn_displays_work_on_the_estimator(blinks):
    X, y = blinks
    clf = fast_classifier(class_weight="balanced").fit(X, y)
    matrix = ConfusionMatrixDisplay.from_estimator(clf, X, y)
    assert matrix.confusion_matrix.sum() == len(y)
    curve = PrecisionRecallDisplay.from_estimator(clf, X, y)
    assert 0 < curve.average_precision <= 1


def recorded_history(**per_epoch):
    """A skorch History with the given per-epoch values."""
    history = History()
    n_epochs = len(next(iter(per_epoch.values())))
    for epoch in range(n_epochs):
        history.new_epoch()
        history.record("epoch", epoch + 1)
        for key, values in per_epoch.items():
            history.record(key, values[epoch])
    return history


def test_a_single_key_string_is_one_panel_not_one_per_letter():
    history = recorded_history(train_loss=[0.9, 0.5, 0.4])
    figure = plot_learning_curves(history, keys="train_loss")
    assert [ax.get_title() for ax in figure.axes] == ["train_loss"]
    np.testing.assert_allclose(figure.axes[0].get_lines()[0].get_ydata(), [0.9, 0.5, 0.4])
    plt.close(figure)


def test_a_single_title_string_names_the_single_panel():
    history = recorded_history(valid_bacc=[0.6, 0.7])
    figure = plot_learning_curves(history, keys="valid_bacc", titles="balanced accuracy")
    assert [ax.get_title() for ax in figure.axes] == ["balanced accuracy"]
    plt.close(figure)


def test_a_list_of_keys_still_gives_one_panel_per_key():
    history = recorded_history(train_loss=[0.9, 0.5], valid_loss=[1.0, 0.8])
    figure = plot_learning_curves(history, keys=("train_loss", "valid_loss"))
    assert [ax.get_title() for ax in figure.axes] == ["train_loss", "valid_loss"]
    plt.close(figure)
