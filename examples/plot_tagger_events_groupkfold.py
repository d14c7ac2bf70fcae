"""
Blink events from a per-frame table: a tagger, class weights and GroupKFold
===========================================================================

Blink data usually comes as one row per video frame, with a label per frame (1
inside a blink). ``frames_to_sequences`` turns such a table into one sequence per
video (split where frames are missing), :class:`~sktorchcw.LSTMBlinkTagger` labels
every frame, and a grid search chooses the class weighting by **event F1**: the
blinks found, matched one to one with the true blinks
(:func:`sktorchcw.events.event_f1_score`). :class:`~sklearn.model_selection.GroupKFold`
keeps each video on one side of every split.
"""

# %%
# A per-frame table: 24 generated recordings of 20 s at 30 fps, one row per frame.
# The face tracker "lost" three videos for a second: those frames are missing.
import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, make_scorer
from sklearn.model_selection import GridSearchCV, GroupKFold
from torch import nn

from sktorchcw import LSTMBlinkTagger
from sktorchcw.datasets import frames_to_sequences, make_blink_recordings
from sktorchcw.events import event_f1_score, event_scores

recordings, labels = make_blink_recordings(24, duration_s=20, random_state=0)
frames = pd.concat(
    [
        pd.DataFrame({"video": f"video_{index:02d}", "frame": np.arange(len(ear)),
                      "ear_left": ear[:, 0], "ear_right": ear[:, 1], "blink": blink})
        for index, (ear, blink) in enumerate(zip(recordings, labels, strict=True))
    ],
    ignore_index=True,
)
lost = frames["video"].isin(["video_03", "video_10", "video_17"]) & frames["frame"].between(
    300, 329)
frames = frames[~lost]
print(frames.head())
print(f"{len(frames)} frames in {frames['video'].nunique()} videos, "
      f"{frames['blink'].mean():.1%} of them inside a blink")

# %%
# One sequence per video, a new one after each gap, cut into chunks of at most
# 10 s (300 frames) so that batches hold several sequences.
X, y, groups = frames_to_sequences(
    frames, feature_cols=["ear_left", "ear_right"], label_col="blink",
    group_col="video", order_col="frame", max_len=300,
)
print(f"{len(X)} sequences of {min(map(len, X))} to {max(map(len, X))} frames "
      f"from {len(set(groups))} videos")

# %%
# A grid search over the class weighting, with the blog's L1 loss and few epochs.
# The scorers see the tagger's per-frame predictions for the held-out videos:
# event F1 (a detection matches a true blink when their intersection over union is
# at least 0.2) and the frame-level balanced accuracy.


def frame_balanced_accuracy(y_true, y_pred):
    return balanced_accuracy_score(np.concatenate(y_true), np.concatenate(y_pred))


search = GridSearchCV(
    LSTMBlinkTagger(criterion=nn.L1Loss, bidirectional=True, hidden_size=16, max_epochs=5,
                    batch_size=8, lr=0.02, device="cpu", random_state=0),
    {"class_weight": [None, "balanced"]},
    scoring={"event_f1": make_scorer(event_f1_score),
             "frame_bacc": make_scorer(frame_balanced_accuracy)},
    refit="event_f1",
    cv=GroupKFold(n_splits=4),
)
search.fit(X, y, groups=groups)
results = pd.DataFrame(search.cv_results_)
results.index = [repr(params["class_weight"]) for params in search.cv_results_["params"]]
results.index.name = "class_weight"
print(results[["mean_test_event_f1", "std_test_event_f1", "mean_test_frame_bacc",
               "mean_fit_time"]].round(3).to_string())
print("best:", search.best_params_)

# %%
# Event F1 forgives a detection that covers only part of a blink (an IoU of 0.2
# suffices); the frame balanced accuracy does not, and shows how much of each blink
# the tagger marks. Both count the blinks of held-out videos only.

# %%
# The chosen tagger on new recordings: the blinks it finds, matched one to one.
X_new, y_new = make_blink_recordings(6, duration_s=30, random_state=1)
found = event_scores(y_new, search.predict(X_new))
print(f"new recordings: {found['tp']} of {found['tp'] + found['fn']} blinks found, "
      f"{found['fp']} false detections, event F1 {found['f1']:.2f}")
