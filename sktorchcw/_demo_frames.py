"""The per-frame demo: a tagger with and without class weights on generated recordings,
scored by the blinks it finds."""

import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score

from ._batching import SequenceDataset
from ._demo import (
    CRITERIA,
    DemoResult,
    HeldOutProgress,
    _threads_line,
    check_demo_arguments,
    compare_weightings,
)
from ._tagger import LSTMBlinkTagger
from .datasets import make_blink_recordings
from .events import event_scores

__all__ = ["run_frames_demo", "FRAMES_FIGURE_NAME"]

FRAMES_FIGURE_NAME = "sktorchcw_demo_frames.png"
_SHOWN_SECONDS = 20  # the stretch of one test recording drawn in the figure


class HeldOutEvents(HeldOutProgress):
    """Event precision, recall and F1 and frame balanced accuracy on held-out recordings."""

    def record(self, net):
        predicted = predicted_frames(net, self.X_test)
        scores = event_scores(self.y_test, predicted, min_iou=self.options["min_iou"],
                              zero_division=0.0)
        for key in ("precision", "recall", "f1"):
            net.history.record(f"test_event_{key}", float(scores[key]))
        net.history.record("test_frame_bacc", float(balanced_accuracy_score(
            np.concatenate(self.y_test), np.concatenate(predicted))))

    def describe(self, row):
        return (f"blink events: precision {row['test_event_precision']:.2f} recall "
                f"{row['test_event_recall']:.2f} F1 {row['test_event_f1']:.2f}  frame balanced "
                f"accuracy {row['test_frame_bacc']:.3f}")


def predicted_frames(net, X):
    """Per-frame 0/1 predictions of a tagger's net for a list of recordings."""
    lengths = np.array([len(x) for x in X])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    dataset = SequenceDataset(np.concatenate(X).astype(np.float32), lengths,
                              offsets=offsets, frame_targets=True)
    predicted = [None] * len(X)
    for rows, logits in net.predict_batches(dataset, batch_size=len(X)):
        frames = logits.argmax(dim=1) if logits.ndim == 3 else (logits > 0).long()
        for row, labels in zip(rows, frames, strict=True):
            predicted[row] = labels[:lengths[row]].numpy()
    return predicted


def run_frames_demo(
    *,
    recordings=48,
    duration_s=30.0,
    epochs=25,
    criterion="l1",
    lr=0.01,
    device="auto",
    threads=1,
    seed=0,
    min_iou=0.2,
    output=".",
    stream=None,
):
    """Train one tagger without and one with ``class_weight='balanced'``; compare their
    blinks.

    Both bidirectional taggers start from the same seed and train on the same
    generated recordings (:func:`~sktorchcw.datasets.make_blink_recordings`); a quarter
    more recordings, generated apart, score them after every epoch: event precision,
    recall and F1 (:func:`~sktorchcw.events.event_scores`) and frame balanced accuracy.

    Parameters
    ----------
    recordings : int, default=48
        Training recordings.
    duration_s : float, default=30.0
        Seconds per recording, at 30 frames per second.
    epochs : int, default=25
        Training epochs of each tagger.
    criterion : {'mse', 'l1', 'huber', 'cross-entropy'}, default='l1'
        The loss; L1 on softmax outputs against one-hot targets is the blog's.
    lr : float, default=0.01
        Adam's learning rate.
    device : str, default='auto'
        Where to train.
    threads : int or None, default=1
        torch's threads during each fit (``n_threads``); see
        :func:`sktorchcw._demo.run_demo`.
    seed : int, default=0
        Seed of the data and of both taggers.
    min_iou : float, default=0.2
        Overlap a detected blink needs with a true one to count as found.
    output : str or Path, default="."
        Folder for the PNG; None writes no figure.
    stream : file-like, default=None
        Where progress goes; standard output by default.

    Returns
    -------
    DemoResult

    Examples
    --------
    >>> import io
    >>> from sktorchcw._demo_frames import run_frames_demo
    >>> result = run_frames_demo(recordings=4, duration_s=5, epochs=1, output=None,
    ...                          device="cpu", stream=io.StringIO())
    >>> list(result.table.columns)[:3]
    ['event_precision', 'event_recall', 'event_f1']
    """
    stream = stream or sys.stdout
    check_demo_arguments(criterion, output)
    X_train, y_train = make_blink_recordings(recordings, duration_s=duration_s,
                                             random_state=seed)
    X_test, y_test = make_blink_recordings(max(recordings // 4, 1), duration_s=duration_s,
                                           random_state=seed + 1)
    share = np.concatenate(y_train).mean()
    stream.write(
        f"Generated {recordings} training and {len(X_test)} test recordings of "
        f"{duration_s:g} s at 30 fps; {share:.1%} of the frames are inside a blink. Loss: "
        f"{CRITERIA[criterion].__name__}, per frame. {_threads_line(threads)}\n"
    )

    def tagger(label, class_weight):
        scores = HeldOutEvents(X_test, y_test, label, stream, max(1, epochs // 5),
                               min_iou=min_iou)
        return LSTMBlinkTagger(
            class_weight=class_weight, criterion=CRITERIA[criterion], bidirectional=True,
            max_epochs=epochs, batch_size=8, lr=lr, device=device, n_threads=threads,
            random_state=seed,
            callbacks=[("test_events", scores)],
        )

    models, table = compare_weightings(tagger, X_train, y_train, _summary)
    figure_path = None
    if output is not None:
        figure_path = _save_figure(models, X_test[0], y_test[0], Path(output))
    return DemoResult(table=table, models=models, figure_path=figure_path)


def _summary(tagger, seconds):
    last = tagger.history_[-1]
    return {
        "event_precision": last["test_event_precision"],
        "event_recall": last["test_event_recall"],
        "event_f1": last["test_event_f1"],
        "frame_balanced_accuracy": last["test_frame_bacc"],
        "fit_seconds": round(seconds, 1),
    }


def _save_figure(models, x, y, folder):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .events import frames_to_events

    shown = slice(0, min(len(x), int(_SHOWN_SECONDS * 30)))
    seconds = np.arange(len(x))[shown] / 30
    figure, axes = plt.subplots(len(models) + 1, 1, figsize=(11, 2.2 * (len(models) + 1)),
                                sharex=True)
    axes[0].plot(seconds, x[shown, 0], linewidth=0.8, label="left eye")
    axes[0].plot(seconds, x[shown, 1], linewidth=0.8, label="right eye")
    axes[0].set_ylabel("EAR")
    axes[0].set_title("A test recording: eye aspect ratio and the true blinks")
    _shade(axes[0], frames_to_events(y[shown]), "tab:green", "true blink")
    axes[0].legend(loc="lower right", fontsize="small")
    for axis, (label, tagger) in zip(axes[1:], models.items(), strict=True):
        with torch.no_grad():
            proba = tagger.predict_proba([x])[0][:, -1]
        axis.plot(seconds, proba[shown], color="black", linewidth=0.8,
                  label="P(blink) per frame")
        _shade(axis, frames_to_events(y[shown]), "tab:green", "true blink", alpha=0.15)
        detected = frames_to_events((proba[shown] >= 0.5).astype(int))
        _shade(axis, detected, "tab:red", "detected blink", alpha=0.35)
        axis.set_ylim(-0.05, 1.05)
        axis.set_ylabel("P(blink)")
        axis.set_title(f"{label}: {len(detected)} blinks detected in this stretch")
        axis.legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel("seconds")
    figure.tight_layout()
    path = folder / FRAMES_FIGURE_NAME
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _shade(axis, events, color, label, alpha=0.25):
    for index, (start, stop) in enumerate(events):
        axis.axvspan(start / 30, stop / 30, color=color, alpha=alpha,
                     label=label if index == 0 else None)
