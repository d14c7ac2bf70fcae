"""Synthetic eye-blink data, and per-frame tables cut into windows or sequences.

:func:`make_blink_dataset` simulates the eye aspect ratio (EAR) of both eyes,
window by window, with rare blinks and blink-like distractors;
:func:`make_blink_recordings` simulates whole recordings from the same model, labelled
frame by frame. :func:`frames_to_windows` turns any per-frame table (one row per video
frame) into ``X, y, groups`` for a sequence classifier and
:class:`sklearn.model_selection.GroupKFold`; :func:`frames_to_sequences` into whole
sequences with per-frame labels for a tagger.
"""

# Layout (data flows one way, top to bottom): ``_checks`` (argument checks) and
# ``_simulation`` (the generative model: open eyes, blinks and distractors, noise) are
# shared; ``_windows`` (make_blink_dataset) builds on them; ``_recordings``
# (make_blink_recordings) too, through ``_subjects`` (people's eyes) and
# ``_recording_checks`` (its arguments, the frames its events take); ``_frames``
# (frames_to_windows, frames_to_sequences) builds on ``_checks`` alone. No module imports
# a generator or ``_frames`` but this one.
from ._frames import frames_to_sequences, frames_to_windows
from ._recordings import make_blink_recordings
from ._windows import make_blink_dataset

__all__ = [
    "make_blink_dataset",
    "make_blink_recordings",
    "frames_to_windows",
    "frames_to_sequences",
]
