"""
Recordings like real ones: class weights, per-recording scaling and a decision tuned for events
===============================================================================================

Real blink recordings differ from person to person (the open-eye level of the eye
aspect ratio), come at 6 to 30 frames per second, have labels that lead the signal by a
frame or two, and lose the face now and then. This example generates such recordings
(:func:`~sktorchcw.datasets.make_blink_recordings` with ``subjects=``), holds out two
people, and compares three taggers by **event F1**, the blinks found:

- unweighted, the most probable class of every frame;
- ``class_weight='balanced'``, the most probable class;
- ``class_weight='balanced'`` with ``standardize='recording'`` (each recording divided
  by its own median) and the decision tuned for events (``threshold``,
  ``min_event_frames`` and ``max_gap_frames`` chosen by ``'auto'`` on the training
  recordings).

See the docs page "Real recordings" for the recipe and what it did on real data.
"""

# %%
# Recordings of 6 people; the last two are the test set.
import matplotlib.pyplot as plt
import numpy as np

from sktorchcw import LSTMBlinkTagger
from sktorchcw.datasets import make_blink_recordings
from sktorchcw.events import event_f1_score, frames_to_events

X, y, groups = make_blink_recordings(
    12, subjects=6, fps=(6, 30), n_frames=(800, 1500), label_lead=(0, 2),
    missing_runs=(1, 3), blink_rate=9, random_state=0)
train = [i for i, person in enumerate(groups) if person < 4]
test = [i for i, person in enumerate(groups) if person >= 4]
X_train, y_train = [X[i] for i in train], [y[i] for i in train]
X_test, y_test = [X[i] for i in test], [y[i] for i in test]
print(f"{len(train)} training and {len(test)} test recordings; "
      f"{np.mean(np.concatenate(y)):.1%} of the frames inside a blink")

# %%
# Three taggers: the same bidirectional LSTM, seed and epochs.
common = dict(bidirectional=True, hidden_size=16, max_epochs=8, batch_size=16, lr=0.01,
              missing="mask", random_state=0)
taggers = {
    "unweighted, argmax": LSTMBlinkTagger(**common),
    "'balanced', argmax": LSTMBlinkTagger(class_weight="balanced", **common),
    "'balanced', per recording, tuned": LSTMBlinkTagger(
        class_weight="balanced", standardize="recording", threshold="auto",
        min_event_frames="auto", max_gap_frames="auto", **common),
}
for name, tagger in taggers.items():
    tagger.fit(X_train, y_train)
    f1 = event_f1_score(y_test, tagger.predict(X_test), zero_division=0.0)
    print(f"{name:36s} event F1 on held-out people {f1:.3f}, "
          f"frame balanced accuracy {tagger.score(X_test, y_test):.3f}")
tuned = taggers["'balanced', per recording, tuned"]
print(f"tuned decision: threshold {tuned.threshold_}, min_event_frames "
      f"{tuned.min_event_frames_}, max_gap_frames {tuned.max_gap_frames_}")

# %%
# One held-out recording: the signal, the true blinks, the blink probability of the
# tuned tagger and the detections of each tagger.
recording, labels = X_test[0], y_test[0]
stop = min(len(recording), 400)
fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
axes[0].plot(recording[:stop, 0], color="black", linewidth=0.8, label="EAR (left eye)")
for start, end in frames_to_events(labels[:stop]):
    axes[0].axvspan(start, end, color="tab:green", alpha=0.3)
axes[0].set_ylabel("EAR; true blinks shaded")
axes[1].plot(tuned.predict_proba([recording])[0][:stop, 1], color="tab:blue",
             label="blink probability (tuned tagger)")
if tuned.threshold_ is not None:
    axes[1].axhline(tuned.threshold_, color="tab:blue", linestyle=":", label="threshold_")
for row, (name, tagger) in enumerate(taggers.items()):
    for start, end in frames_to_events(tagger.predict([recording])[0][:stop]):
        axes[1].plot([start, end], [1.05 + 0.07 * row] * 2, color=f"C{row + 1}",
                     linewidth=4, label=name if start == frames_to_events(
                         tagger.predict([recording])[0][:stop])[0][0] else None)
axes[1].set_xlabel("frame")
axes[1].set_ylabel("probability; detections")
axes[1].legend(loc="lower right", fontsize=7)
fig.tight_layout()
plt.show()
