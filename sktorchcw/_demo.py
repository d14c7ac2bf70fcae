"""The demo: the blog's experiment on generated blinks, with and without class weights."""

import copy
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score
from skorch.callbacks import Callback
from torch import nn

from ._batching import SequenceDataset
from ._classifier import LSTMBlinkClassifier
from .datasets import make_blink_dataset

__all__ = ["run_demo", "DemoResult", "CRITERIA", "WEIGHTINGS", "HeldOutProgress",
           "compare_weightings", "check_demo_arguments"]

CRITERIA = {
    "mse": nn.MSELoss,
    "l1": nn.L1Loss,
    "huber": nn.HuberLoss,
    "cross-entropy": nn.CrossEntropyLoss,
}
WEIGHTINGS = {"class_weight=None": None, "class_weight='balanced'": "balanced"}
TEST_METRICS = {
    "test_accuracy": accuracy_score,
    "test_balanced_accuracy": balanced_accuracy_score,
    "test_f1": lambda y, p: f1_score(y, p, zero_division=0.0),
    "test_recall": lambda y, p: recall_score(y, p, zero_division=0.0),
}
FIGURE_NAME = "sktorchcw_demo.png"


@dataclass
class DemoResult:
    """What the demo measured: the comparison table, the fitted models, the PNG's path."""

    table: pd.DataFrame
    models: dict
    figure_path: Path | None


class HeldOutProgress(Callback):
    """After each epoch, score the model on held-out data, record the scores in the history
    and report progress every ``every`` epochs. Subclasses say what is scored
    (:meth:`record`) and how a row reads (:meth:`describe`)."""

    def __init__(self, X_test, y_test, label, stream, every, **options):
        self.X_test, self.y_test = X_test, y_test
        self.label, self.stream, self.every = label, stream, every
        self.options = options

    def __deepcopy__(self, memo):
        # The estimator copies its callbacks on every fit; the progress stream is shared.
        return copy.copy(self)

    def on_epoch_end(self, net, **kwargs):
        self.record(net)
        epoch = len(net.history)
        if epoch % self.every == 0 or epoch == net.max_epochs:
            row = net.history[-1]
            self.stream.write(f"{self.label:<26} epoch {epoch:>4}/{net.max_epochs}  train loss "
                              f"{row['train_loss']:.4f}  {self.describe(row)}\n")
            self.stream.flush()

    def record(self, net):
        raise NotImplementedError

    def describe(self, row):
        raise NotImplementedError


class HeldOutScores(HeldOutProgress):
    """Window scores: accuracy, balanced accuracy, blink F1 and recall."""

    def record(self, net):
        predicted = net.predict(SequenceDataset(self.X_test))
        for key, metric in TEST_METRICS.items():
            net.history.record(key, float(metric(self.y_test, predicted)))

    def describe(self, row):
        return (f"test accuracy {row['test_accuracy']:.3f}  balanced "
                f"{row['test_balanced_accuracy']:.3f}  blink F1 {row['test_f1']:.3f}")


def compare_weightings(make_estimator, X_train, y_train, summary):
    """Fit one estimator per weighting of :data:`WEIGHTINGS` (``make_estimator(label,
    class_weight)``); return the fitted models and a table of ``summary(model, seconds)``."""
    models, rows = {}, {}
    for label, class_weight in WEIGHTINGS.items():
        estimator = make_estimator(label, class_weight)
        started = time.perf_counter()
        estimator.fit(X_train, y_train)
        rows[label] = summary(estimator, time.perf_counter() - started)
        models[label] = estimator
    return models, pd.DataFrame.from_dict(rows, orient="index")


def check_demo_arguments(criterion, output):
    """Fail before any training: an unknown criterion, no matplotlib, a bad output folder."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion={criterion!r} is not one of {sorted(CRITERIA)}.")
    if output is not None:
        require_matplotlib()
        check_output_folder(Path(output))


def run_demo(
    *,
    samples=2000,
    epochs=60,
    prevalence=0.05,
    seq_len=60,
    criterion="mse",
    lr=0.005,
    device="auto",
    threads=1,
    seed=0,
    threshold=0.8,
    output=".",
    stream=None,
):
    """Train one LSTM without and one with ``class_weight='balanced'``; compare them.

    Both models start from the same seed and see the same generated blink windows;
    a second generated set of ``samples // 2`` windows scores them after every epoch.

    Parameters
    ----------
    samples : int, default=2000
        Training windows.
    epochs : int, default=60
        Training epochs of each model.
    prevalence : float, default=0.05
        Fraction of windows with a blink.
    seq_len : int, default=60
        Frames per window (2 s at 30 fps).
    criterion : {'mse', 'l1', 'huber', 'cross-entropy'}, default='mse'
        The loss, on softmax outputs against one-hot targets for the first three.
    lr : float, default=0.005
        Adam's learning rate.
    device : str, default='auto'
        Where to train.
    threads : int or None, default=1
        torch's threads during each fit (the estimators' ``n_threads``). One thread
        gives the same curves on machines with any number of cores (torch rounds
        differently with different counts) and is never stalled by other programs; on
        an idle machine it costs about 1.2x. None: torch's own setting.
    seed : int, default=0
        Seed of the data and of both models.
    threshold : float, default=0.8
        The blink F1 whose first epoch the table reports.
    output : str or Path, default="."
        Folder for the PNG of the learning curves; None writes no figure.
    stream : file-like, default=None
        Where progress goes; standard output by default.

    Returns
    -------
    DemoResult

    Examples
    --------
    >>> import io
    >>> from sktorchcw._demo import run_demo
    >>> result = run_demo(samples=100, epochs=2, seq_len=20, prevalence=0.2, output=None,
    ...                   stream=io.StringIO())
    >>> list(result.table.index)
    ['class_weight=None', "class_weight='balanced'"]
    """
    stream = stream or sys.stdout
    check_demo_arguments(criterion, output)
    X_train, y_train = make_blink_dataset(
        samples, seq_len=seq_len, prevalence=prevalence, random_state=seed
    )
    X_test, y_test = make_blink_dataset(
        max(samples // 2, 2), seq_len=seq_len, prevalence=prevalence, random_state=seed + 1
    )
    stream.write(
        f"Generated {samples} training and {len(y_test)} test windows of {seq_len} frames, "
        f"{prevalence:.0%} with a blink. Loss: {CRITERIA[criterion].__name__}. "
        f"{_threads_line(threads)}\n"
    )

    def classifier(label, class_weight):
        scores = HeldOutScores(X_test, y_test, label, stream, every=max(1, epochs // 10))
        return LSTMBlinkClassifier(
            class_weight=class_weight, criterion=CRITERIA[criterion], max_epochs=epochs, lr=lr,
            device=device, n_threads=threads, random_state=seed,
            callbacks=[("test_scores", scores)],
        )

    models, table = compare_weightings(
        classifier, X_train, y_train,
        lambda clf, seconds: _summary(clf, seconds, threshold))
    figure_path = None if output is None else _save_figure(models, Path(output), threshold)
    return DemoResult(table=table, models=models, figure_path=figure_path)


def _threads_line(threads):
    if threads is None:
        return f"Threads: torch's setting ({torch.get_num_threads()})."
    return f"Threads: {threads} (--threads)."


def first_epoch_reaching(values, threshold):
    """The 1-based epoch where ``values`` first reach ``threshold``, or None."""
    reached = np.flatnonzero(np.asarray(values) >= threshold)
    return int(reached[0]) + 1 if len(reached) else None


def _summary(clf, seconds, threshold):
    history = clf.history_
    epochs_to_threshold = first_epoch_reaching(history[:, "test_f1"], threshold)
    return {
        "accuracy": history[-1, "test_accuracy"],
        "balanced_accuracy": history[-1, "test_balanced_accuracy"],
        "blink_f1": history[-1, "test_f1"],
        "blink_recall": history[-1, "test_recall"],
        f"epochs_to_f1>={threshold:g}": epochs_to_threshold or "never",
        "fit_seconds": round(seconds, 1),
    }


def require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            "The demo draws its learning curves with matplotlib: pip install 'sktorchcw[plot]' "
            "(or pass output=None / run without a figure)."
        ) from None


def check_output_folder(folder):
    """Make the output folder now, so a bad --output fails before minutes of training."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"output={os.fspath(folder)!r} cannot be used as a folder for the "
                         f"figure: {error.strerror}.") from None


def _save_figure(models, folder, threshold):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import plot_learning_curves

    folder.mkdir(parents=True, exist_ok=True)
    figure = plot_learning_curves(
        models,
        keys=["test_accuracy", "test_balanced_accuracy", "test_f1"],
        titles=["test accuracy", "test balanced accuracy", "test blink F1"],
    )
    figure.axes[2].axhline(threshold, color="grey", linestyle=":", linewidth=1)
    figure.suptitle("The same LSTM from the same seed, without and with class weights",
                    y=1.02)
    path = folder / FIGURE_NAME
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path
