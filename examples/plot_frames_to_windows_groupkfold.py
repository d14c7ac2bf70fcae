"""
From a per-frame table to windows, cross-validated by video
===========================================================

Blink data usually comes as one row per video frame. ``frames_to_windows`` cuts
each video into labelled windows and returns the video of each window, so that
:class:`~sklearn.model_selection.GroupKFold` keeps a video's windows on one side
of every split (overlapping windows of one video on both sides would leak).
"""

# %%
# A per-frame table: video, frame, ear_left, ear_right, blink (per frame).
from sklearn.model_selection import GroupKFold, cross_val_score

from sktorchcw import LSTMBlinkClassifier
from sktorchcw.datasets import frames_to_windows, make_blink_dataset

frames = make_blink_dataset(600, seq_len=40, prevalence=0.1, return_frames=True,
                            random_state=0)
print(frames.head())
print(f"{len(frames)} frames in {frames['video'].nunique()} videos")

# %%
# Windows of 30 frames every 15 frames; a window is a blink when a blinking frame
# lies in its central half.
X, y, groups = frames_to_windows(
    frames, window=30, stride=15, feature_cols=["ear_left", "ear_right"],
    label_col="blink", group_col="video", order_col="frame", label_rule="center",
)
print(f"{len(y)} windows, {y.mean():.1%} blinks, {len(set(groups))} groups")

# %%
# Cross-validation by video.
scores = cross_val_score(
    LSTMBlinkClassifier(class_weight="balanced", max_epochs=10, random_state=0),
    X, y, groups=groups, cv=GroupKFold(n_splits=3), scoring="balanced_accuracy",
)
print("balanced accuracy per fold:", scores.round(3))
