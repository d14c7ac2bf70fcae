"""The generative model shared by the window and recording generators.

Open eyes (a baseline per eye with a slow drift), blinks and the blink-like
distractors (squints, winks, head-motion spikes) that change rows of EAR in place,
and the noise added last; see :func:`sktorchcw.datasets.make_blink_dataset`'s Notes.
"""

from typing import NamedTuple

import numpy as np

# Generative model constants (seconds, or EAR units); see make_blink_dataset's Notes.
_OPEN_EAR = (0.25, 0.35)
_EYE_OFFSET_STD = 0.01
_DRIFT_AMPLITUDE_MAX = 0.01
_DRIFT_FREQUENCY_HZ = (0.05, 0.5)
_BLINK_CLOSE_S = (0.05, 0.10)
_BLINK_HOLD_S = (0.03, 0.12)
_BLINK_REOPEN_S = (0.10, 0.18)
_BLINK_CLOSED_EAR = (0.05, 0.12)
_BLINK_EYE_DEPTH_STD = 0.005
_LONGEST_BLINK_S = _BLINK_CLOSE_S[1] + _BLINK_HOLD_S[1] + _BLINK_REOPEN_S[1]
_SQUINT_CLOSE_S = (0.10, 0.30)
_SQUINT_HOLD_S = (0.30, 1.00)
_SQUINT_REOPEN_S = (0.15, 0.40)
_SQUINT_DROP = (0.20, 0.40)
_WINK_HOLD_S = (0.10, 0.40)
_WINK_OTHER_EYE_DROP = (0.0, 0.10)
_HEAD_MOTION_JUMP = (0.05, 0.12)
_MIN_EAR = 0.01
_HARD_NEGATIVE_KINDS = ("squint", "wink", "head_motion")
_EVENT_KINDS = ("blink", *_HARD_NEGATIVE_KINDS)


class _BlinkShape(NamedTuple):
    """The ranges a blink's (and a wink's) phases, in seconds, and closed EAR are drawn
    from: one person's eyelids. The defaults are the model's; a subject of
    :func:`~sktorchcw.datasets.make_blink_recordings` has its own."""

    close_s: tuple[float, float] = _BLINK_CLOSE_S
    hold_s: tuple[float, float] = _BLINK_HOLD_S
    reopen_s: tuple[float, float] = _BLINK_REOPEN_S
    closed_ear: tuple[float, float] = _BLINK_CLOSED_EAR

    @property
    def longest_s(self):
        """The longest blink, in seconds."""
        return self.close_s[1] + self.hold_s[1] + self.reopen_s[1]

    @property
    def longest_wink_s(self):
        return self.close_s[1] + _WINK_HOLD_S[1] + self.reopen_s[1]


_BLINK_SHAPE = _BlinkShape()


def _add_noise(rng, ear, noise):
    """Gaussian noise on every value, then the EAR floor; returns float32."""
    ear += rng.normal(0.0, noise, size=ear.shape)
    np.maximum(ear, _MIN_EAR, out=ear)
    return ear.astype(np.float32)


def _open_eye_signal(rng, n_samples, times):
    """Baseline per window and eye, plus a slow sinusoidal drift shared by both eyes."""
    baseline = rng.uniform(*_OPEN_EAR, size=(n_samples, 1))
    eye_offset = rng.normal(0.0, _EYE_OFFSET_STD, size=(n_samples, 2))
    drift = _sinusoidal_drift(rng, n_samples, times)
    return (baseline + eye_offset)[:, None, :] + drift[:, :, None]


def _sinusoidal_drift(rng, n_samples, times):
    """A slow sinusoid per row, of amplitude up to 0.01: shape (n_samples, len(times))."""
    amplitude = rng.uniform(0.0, _DRIFT_AMPLITUDE_MAX, size=(n_samples, 1))
    frequency = rng.uniform(*_DRIFT_FREQUENCY_HZ, size=(n_samples, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n_samples, 1))
    return amplitude * np.sin(2 * np.pi * frequency * times + phase)


def _closure_profile(times, onset, close_s, hold_s, reopen_s):
    """Eye closure over time: 0 open, 1 fully closed, with cosine ramps.

    ``times`` has shape (seq_len,); the others (n_events,); returns (n_events, seq_len).
    """
    elapsed = times[None, :] - onset[:, None]
    closing = np.clip(elapsed / close_s[:, None], 0.0, 1.0)
    reopening = np.clip((elapsed - (close_s + hold_s)[:, None]) / reopen_s[:, None], 0.0, 1.0)
    return _ease(closing) * (1.0 - _ease(reopening))


def _ease(fraction):
    return 0.5 - 0.5 * np.cos(np.pi * fraction)


def _onset_closed_on_a_frame(rng, n_events, times, fps, close_s, hold_s):
    """Onsets that put the middle of each closure on a random frame (within the hold).

    Centring on a frame guarantees that a frame of the window shows the eye fully
    closed, even at a low fps.
    """
    frame = rng.randint(0, len(times), size=n_events)
    jitter = rng.uniform(-1.0, 1.0, size=n_events) * np.minimum(hold_s / 2, 0.5 / fps)
    return times[frame] + jitter - close_s - hold_s / 2


# The event adders below change ``ear[windows]`` (rows of shape (len(times), 2)) in place,
# one event per row. ``onset=None`` centres each closure on a random frame of its row
# (windows); an array gives the onsets in seconds instead (recordings). Blinks and winks
# take a ``shape`` (a subject's eyelids); the defaults draw exactly what they always did.


def _add_blinks(rng, ear, windows, times, fps, onset=None, shape=_BLINK_SHAPE):
    """Close both eyes of ``windows`` in place; return their blink-frame mask."""
    n = len(windows)
    close_s = rng.uniform(*shape.close_s, size=n)
    hold_s = rng.uniform(*shape.hold_s, size=n)
    reopen_s = rng.uniform(*shape.reopen_s, size=n)
    if onset is None:
        onset = _onset_closed_on_a_frame(rng, n, times, fps, close_s, hold_s)
    lag_s = rng.uniform(0.0, 1.0, size=n) / fps
    lagging_eye = rng.randint(0, 2, size=n)
    closed_ear = rng.uniform(*shape.closed_ear, size=(n, 1)) + rng.normal(
        0.0, _BLINK_EYE_DEPTH_STD, size=(n, 2)
    )
    closed_ear = np.clip(closed_ear, shape.closed_ear[0] - 0.02, shape.closed_ear[1] + 0.02)
    blink_frames = np.zeros((n, len(times)), dtype=bool)
    for eye in (0, 1):
        eye_onset = onset + lag_s * (lagging_eye == eye)
        closure = _closure_profile(times, eye_onset, close_s, hold_s, reopen_s)
        open_ear = ear[windows, :, eye]
        ear[windows, :, eye] = open_ear * (1 - closure) + closed_ear[:, eye, None] * closure
        blink_frames |= closure > 0
    return blink_frames


def _add_squints(rng, ear, windows, times, fps, onset=None):
    """Both eyes narrow by 20-40 %, slower and longer than a blink."""
    n = len(windows)
    close_s = rng.uniform(*_SQUINT_CLOSE_S, size=n)
    hold_s = rng.uniform(*_SQUINT_HOLD_S, size=n)
    reopen_s = rng.uniform(*_SQUINT_REOPEN_S, size=n)
    if onset is None:
        onset = _onset_closed_on_a_frame(rng, n, times, fps, close_s, hold_s)
    drop = rng.uniform(*_SQUINT_DROP, size=(n, 1))
    closure = _closure_profile(times, onset, close_s, hold_s, reopen_s)
    ear[windows] *= (1 - drop * closure)[:, :, None]


def _add_winks(rng, ear, windows, times, fps, onset=None, shape=_BLINK_SHAPE):
    """One eye closes like a long blink; the other narrows by at most 10 %."""
    n = len(windows)
    close_s = rng.uniform(*shape.close_s, size=n)
    hold_s = rng.uniform(*_WINK_HOLD_S, size=n)
    reopen_s = rng.uniform(*shape.reopen_s, size=n)
    if onset is None:
        onset = _onset_closed_on_a_frame(rng, n, times, fps, close_s, hold_s)
    winking_eye = rng.randint(0, 2, size=n)
    closed_ear = rng.uniform(*shape.closed_ear, size=(n, 1))
    other_drop = rng.uniform(*_WINK_OTHER_EYE_DROP, size=(n, 1))
    closure = _closure_profile(times, onset, close_s, hold_s, reopen_s)
    for eye in (0, 1):
        winks = winking_eye == eye
        open_ear = ear[windows, :, eye]
        winked = open_ear * (1 - closure) + closed_ear * closure
        narrowed = open_ear * (1 - other_drop * closure)
        ear[windows, :, eye] = np.where(winks[:, None], winked, narrowed)


def _add_head_motion(rng, ear, windows, times, fps, onset=None):
    """Both eyes jump up or down together for 1 or 2 frames, from a random frame of the
    row or, with ``onset``, from its first frame after the onset."""
    n = len(windows)
    if onset is None:
        start = rng.randint(0, len(times), size=(n, 1))
    else:
        start = np.searchsorted(times, onset, side="right")[:, None]
    width = rng.randint(1, 3, size=(n, 1))
    jump = rng.uniform(*_HEAD_MOTION_JUMP, size=(n, 1)) * rng.choice([-1.0, 1.0], size=(n, 1))
    frame = np.arange(len(times))
    spike = ((frame >= start) & (frame < start + width)) * jump
    ear[windows] += spike[:, :, None]


_ADD_EVENT = {
    "blink": _add_blinks,
    "squint": _add_squints,
    "wink": _add_winks,
    "head_motion": _add_head_motion,
}
