"""
Live blink detection: streaming a tagger frame by frame
=======================================================

A camera delivers a recording a few frames at a time, and a blink should be reported
while it happens, not when the recording ends. A unidirectional
:class:`~sktorchcw.LSTMBlinkTagger` is causal (the probability of frame ``t`` depends
on frames ``0..t`` only), so :meth:`~sktorchcw.LSTMBlinkTagger.stream` can carry the
LSTM's state from one chunk to the next: each chunk costs only its own frames, and the
probabilities are exactly those of ``predict_proba`` on the whole recording.

A threshold with hysteresis turns the probability of a blink into events: a blink
starts when P(blink) reaches 0.6 and ends when it falls below 0.4, so a probability
that wavers around one threshold does not split a blink or report flickers.
"""

# %%
# Train a unidirectional tagger (``bidirectional=False``, the default) on generated
# recordings of the left and right eye aspect ratio, 30 frames per second, with
# ``class_weight='balanced'``: blink frames are rare.
import time

import matplotlib.pyplot as plt
import numpy as np

from sktorchcw import LSTMBlinkTagger
from sktorchcw.datasets import make_blink_recordings
from sktorchcw.events import event_scores, frames_to_events

FPS = 30
X_train, y_train = make_blink_recordings(60, duration_s=30, fps=FPS, random_state=0)
tagger = LSTMBlinkTagger(class_weight="balanced", hidden_size=32, max_epochs=40,
                         batch_size=8, lr=0.02, device="cpu", random_state=0)
tagger.fit(X_train, y_train)
print(f"trained on {len(X_train)} recordings, "
      f"{np.concatenate(y_train).mean():.1%} of the frames inside a blink")

# %%
# The live detector: it sees one probability at a time and reports a blink's onset
# when the probability reaches ``enter``, and its end when it falls below ``leave``.


class HysteresisDetector:
    """Blink events from a stream of probabilities, with two thresholds.

    ``update(p_blink, first_frame)`` takes the probabilities of consecutive frames,
    the first of which has index ``first_frame``, and returns what happened in them:
    ``("onset", frame)`` and ``("end", frame)`` pairs, an end's frame being the first
    frame after the blink. ``events`` holds the finished blinks as half-open
    ``(start, stop)`` intervals, as :func:`sktorchcw.events.frames_to_events` gives them.
    """

    def __init__(self, enter=0.6, leave=0.4):
        if not 0 <= leave <= enter <= 1:
            raise ValueError("The thresholds need 0 <= leave <= enter <= 1.")
        self.enter, self.leave = enter, leave
        self.start = None  # the onset of the blink in progress, or None
        self.events = []

    def update(self, p_blink, first_frame):
        happened = []
        for frame, p in enumerate(p_blink, start=first_frame):
            if self.start is None and p >= self.enter:
                self.start = frame
                happened.append(("onset", frame))
            elif self.start is not None and p < self.leave:
                self.events.append((self.start, frame))
                self.start = None
                happened.append(("end", frame))
        return happened

    def close(self, n_frames):
        """End a blink still in progress when the recording ends."""
        if self.start is not None:
            self.events.append((self.start, n_frames))
            self.start = None


# %%
# Simulate the camera: a held-out recording of a minute arrives in chunks of 1 to 5
# frames. Each chunk goes through the stream and the detector, and every onset and end
# is printed as soon as it is detected.
X_live, y_live = make_blink_recordings(1, duration_s=60, fps=FPS, random_state=1)
recording, truth = X_live[0], y_live[0]

stream = tagger.stream()
blink = list(stream.classes_).index(1)
detector = HysteresisDetector(enter=0.6, leave=0.4)
rng = np.random.default_rng(0)
trace, seconds_per_chunk = [], []
while stream.n_frames_ < len(recording):
    first = stream.n_frames_
    chunk = recording[first:first + rng.integers(1, 6)]
    started = time.perf_counter()
    p_blink = stream.update(chunk)[:, blink]
    seconds_per_chunk.append(time.perf_counter() - started)
    trace.append(p_blink)
    for kind, frame in detector.update(p_blink, first):
        if kind == "onset":
            print(f"frame {frame:5d} ({frame / FPS:6.2f} s): blink starts")
        else:
            start = detector.events[-1][0]
            print(f"frame {frame:5d} ({frame / FPS:6.2f} s): blink ends after "
                  f"{frame - start} frames ({(frame - start) / FPS:.2f} s)")
detector.close(len(recording))
trace = np.concatenate(trace)
print(f"{len(seconds_per_chunk)} chunks, median {np.median(seconds_per_chunk) * 1e3:.2f} ms "
      f"per chunk ({1e3 / FPS:.1f} ms between frames at {FPS} fps)")

# %%
# The live probabilities are those of the whole recording, however the frames came.
offline = tagger.predict_proba([recording])[0][:, blink]
print(f"largest difference from predict_proba: {np.abs(trace - offline).max():.1e}")

# %%
# Compare the blinks found live with the true ones: a detection matches a true blink
# when their intersection over union is at least 0.2.
true_events = frames_to_events(truth)
detected = np.zeros(len(recording), dtype=int)
for start, stop in detector.events:
    detected[start:stop] = 1
scores = event_scores([truth], [detected])
print(f"{len(true_events)} true blinks, {len(detector.events)} detected: "
      f"{scores['tp']} found, {scores['fn']} missed, {scores['fp']} false alarms; "
      f"event precision {scores['precision']:.2f}, recall {scores['recall']:.2f}, "
      f"F1 {scores['f1']:.2f}")
assert detector.events == frames_to_events(detected)

# %%
# The probability trace with the two thresholds, the detected blinks (shaded) and the
# true ones (bars below), over the whole minute and over its first ten seconds.
# ``class_weight='balanced'`` favours recall; the generator mixes blink-like squints,
# winks and head motions into the recording, and some of them pass for blinks.
time_s = np.arange(len(recording)) / FPS
figure, axes = plt.subplots(2, 1, figsize=(10, 6))
for axis, (low, high) in zip(axes, [(0, len(recording) / FPS), (0, 10)], strict=True):
    axis.plot(time_s, trace, lw=1, color="tab:blue", label="P(blink), live")
    axis.axhline(0.6, color="tab:red", ls="--", lw=1, label="enter 0.6")
    axis.axhline(0.4, color="tab:orange", ls="--", lw=1, label="leave 0.4")
    for index, (start, stop) in enumerate(detector.events):
        axis.axvspan(start / FPS, stop / FPS, color="tab:green", alpha=0.25,
                     label="detected" if index == 0 else None)
    for index, (start, stop) in enumerate(true_events):
        axis.hlines(-0.06, start / FPS, stop / FPS, color="black", lw=4,
                    label="true blink" if index == 0 else None)
    axis.set_xlim(low, high)
    axis.set_ylim(-0.12, 1.3)
    axis.set_ylabel("P(blink)")
axes[0].set_title(f"Live detection of a held-out minute, event F1 {scores['f1']:.2f}")
axes[0].legend(loc="upper center", fontsize=7, ncol=5)
axes[1].set_title("The first ten seconds")
axes[1].set_xlabel("time (s)")
figure.tight_layout()
plt.show()
