"""
A collection of recordings: string labels, lost frames, GroupKFold and blink events
===================================================================================

Real blink data comes as one row per video frame, labelled ``"open"`` or ``"blink"``,
with frames where the face tracker lost the face (NaN features). This example runs
the whole path on such a table: ``frames_to_sequences`` turns it into one sequence per
video, :class:`~sktorchcw.LSTMBlinkTagger` with ``missing='mask'`` labels every frame,
:class:`~sklearn.model_selection.GroupKFold` keeps each video on one side of every
split, a grid search chooses the class weighting by **event F1** (the blinks found,
matched one to one with the true blinks), and cross-validated predictions give each
video the blinks of the model that never saw it.
"""

# %%
# A per-frame table: 24 generated recordings of 20 s at 30 fps, one row per frame,
# string labels. The tracker lost the face for a second in three videos and for a
# few single frames elsewhere: those frames have NaN features.
import numpy as np
import pandas as pd
from sklearn.metrics import make_scorer
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    cross_val_predict,
    cross_val_score,
)
from torch import nn

from sktorchcw import LSTMBlinkTagger
from sktorchcw.datasets import frames_to_sequences, make_blink_recordings
from sktorchcw.events import event_f1_score, event_scores, frame_f1_score, frames_to_events
from sktorchcw.model_selection import cross_val_predict as frame_cross_val_predict

recordings, labels = make_blink_recordings(24, duration_s=20, random_state=0)
frames = pd.concat(
    [
        pd.DataFrame({"video": f"video_{index:02d}", "frame": np.arange(len(ear)),
                      "ear_left": ear[:, 0], "ear_right": ear[:, 1],
                      "state": np.where(blink == 1, "blink", "open")})
        for index, (ear, blink) in enumerate(zip(recordings, labels, strict=True))
    ],
    ignore_index=True,
)
lost = frames["video"].isin(["video_03", "video_10", "video_17"]) & frames["frame"].between(
    300, 329)
lost |= np.random.default_rng(0).random(len(frames)) < 0.005
frames.loc[lost, ["ear_left", "ear_right"]] = np.nan
print(frames.head())
print(f"{len(frames)} frames in {frames['video'].nunique()} videos, "
      f"{(frames['state'] == 'blink').mean():.1%} of them inside a blink, "
      f"{lost.sum()} lost by the tracker")

# %%
# One sequence per video, cut into chunks of at most 10 s (300 frames) so that
# batches hold several sequences. ``missing='mask'`` keeps the lost frames as NaN
# for the tagger, which reads them as missing.
X, y, groups = frames_to_sequences(
    frames, feature_cols=["ear_left", "ear_right"], label_col="state",
    group_col="video", order_col="frame", max_len=300, missing="mask",
)
print(f"{len(X)} sequences of {min(map(len, X))} to {max(map(len, X))} frames "
      f"from {len(set(groups))} videos")

# %%
# A grid search over the class weighting, with the seed article's L1 loss and few epochs,
# scored by event F1 (a detection matches a true blink when their intersection over
# union is at least 0.2) and by the F1 of blink frames. The labels are strings, so
# the scorers must be told which label is the event: ``positive="blink"`` (without
# it they raise, rather than score every candidate 1.0).
tagger = LSTMBlinkTagger(criterion=nn.L1Loss, bidirectional=True, hidden_size=16,
                         max_epochs=5, batch_size=8, lr=0.02, missing="mask",
                         device="cpu", random_state=0)
search = GridSearchCV(
    tagger,
    {"class_weight": [None, "balanced", {"open": 1.0, "blink": 30.0}]},
    scoring={"event_f1": make_scorer(event_f1_score, positive="blink"),
             "frame_f1": make_scorer(frame_f1_score, positive="blink")},
    refit="event_f1",
    cv=GroupKFold(n_splits=4),
)
search.fit(X, y, groups=groups)
results = pd.DataFrame(search.cv_results_)
results.index = [repr(params["class_weight"]) for params in search.cv_results_["params"]]
results.index.name = "class_weight"
print(results[["mean_test_event_f1", "std_test_event_f1", "mean_test_frame_f1",
               "mean_fit_time"]].round(3).to_string())
print("best:", search.best_params_)

# %%
# The chosen weighting, cross-validated on its own: one event F1 per fold.
best = search.best_estimator_
event_f1 = make_scorer(event_f1_score, positive="blink")
scores = cross_val_score(best, X, y, groups=groups, cv=GroupKFold(n_splits=4),
                         scoring=event_f1)
print("event F1 per fold:", scores.round(3))

# %%
# Cross-validated predictions: every sequence labelled by the model trained on the
# other videos' folds. scikit-learn's ``cross_val_predict`` gives the labels;
# probabilities per frame need sktorchcw's (scikit-learn re-encodes ``y`` for them).
held_out = cross_val_predict(best, X, y, groups=groups, cv=GroupKFold(n_splits=4))
found = event_scores(y, held_out, positive="blink")
print(f"held-out videos: {found['tp']} of {found['tp'] + found['fn']} blinks found, "
      f"{found['fp']} false detections, event F1 {found['f1']:.2f}")
proba = frame_cross_val_predict(best, X, y, groups=groups, cv=GroupKFold(n_splits=4),
                                method="predict_proba")
blink_column = list(best.classes_).index("blink")
print(f"sequence 0: {len(proba[0])} frames, largest blink probability "
      f"{proba[0][:, blink_column].max():.2f}")

# %%
# The blinks of one video as events: half-open frame intervals. The lost frames still
# get a label, from the frames around them.
print("sequence 0, true blinks:    ", frames_to_events(y[0], positive="blink"))
print("sequence 0, detected blinks:", frames_to_events(held_out[0], positive="blink",
                                                        min_frames=2))
