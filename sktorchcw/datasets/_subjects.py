"""People for ``make_blink_recordings(subjects=...)``.

Each subject has eyes of their own: an open-eye EAR level and a left/right asymmetry,
eyelids that close to a depth and at a speed of their own (a :class:`_BlinkShape`), a
blink rate and a noise level; each of their recordings shifts the level a little (camera,
light) and wanders slowly around it. See
:func:`~sktorchcw.datasets.make_blink_recordings`'s Notes.
"""

from typing import NamedTuple

import numpy as np

from ._simulation import (
    _BLINK_CLOSE_S,
    _BLINK_HOLD_S,
    _BLINK_REOPEN_S,
    _EYE_OFFSET_STD,
    _MIN_EAR,
    _BlinkShape,
    _sinusoidal_drift,
)

# Subject model constants (EAR units, seconds or factors); see make_blink_recordings' Notes.
_SUBJECT_OPEN_EAR = (0.22, 0.35)
_SUBJECT_BLINK_DEPTH = (0.55, 0.85)  # share of the open EAR a full blink closes
_SUBJECT_CLOSED_EAR_SPREAD = 0.02  # a blink's closed EAR around the subject's
_SUBJECT_BLINK_SPEED = (0.8, 1.25)  # factor on the blink phases' durations
_SUBJECT_BLINK_RATE = (0.7, 1.3)  # factor on blink_rate
_SUBJECT_NOISE = (0.75, 1.5)  # factor on noise
_SESSION_EAR_STD = 0.01  # a recording's open-eye level around its subject's
_WANDER_STEP_S = 10.0  # the slow wander: a random value every 10 s, linearly joined
_WANDER_STD = 0.01


class _Subject(NamedTuple):
    open_ear: float
    eye_offset: tuple[float, float]
    shape: _BlinkShape
    blink_rate_factor: float
    noise_factor: float


def _scaled(seconds, factor):
    return (seconds[0] * factor, seconds[1] * factor)


def _subject_shape(open_ear, depth, speed):
    """The eyelids of a subject with this open-eye level, blink depth and speed."""
    closed = open_ear * (1.0 - depth)
    spread = _SUBJECT_CLOSED_EAR_SPREAD
    return _BlinkShape(
        close_s=_scaled(_BLINK_CLOSE_S, speed),
        hold_s=_scaled(_BLINK_HOLD_S, speed),
        reopen_s=_scaled(_BLINK_REOPEN_S, speed),
        closed_ear=(max(closed - spread, 2 * _MIN_EAR), closed + spread),
    )


# The longest blinks any subject makes: what an event slot must hold.
_SLOWEST_SHAPE = _subject_shape(_SUBJECT_OPEN_EAR[1], _SUBJECT_BLINK_DEPTH[0],
                                _SUBJECT_BLINK_SPEED[1])


def _draw_subjects(rng, n_subjects):
    """``n_subjects`` people, each drawn from the subject model."""
    open_ear = rng.uniform(*_SUBJECT_OPEN_EAR, size=n_subjects)
    eye_offset = rng.normal(0.0, _EYE_OFFSET_STD, size=(n_subjects, 2))
    depth = rng.uniform(*_SUBJECT_BLINK_DEPTH, size=n_subjects)
    speed = rng.uniform(*_SUBJECT_BLINK_SPEED, size=n_subjects)
    rate = rng.uniform(*_SUBJECT_BLINK_RATE, size=n_subjects)
    noise = rng.uniform(*_SUBJECT_NOISE, size=n_subjects)
    return [
        _Subject(float(open_ear[i]), (float(eye_offset[i, 0]), float(eye_offset[i, 1])),
                 _subject_shape(open_ear[i], depth[i], speed[i]), float(rate[i]),
                 float(noise[i]))
        for i in range(n_subjects)
    ]


def _subject_open_eye_signal(rng, times, subject):
    """Open-eye EAR (len(times), 2) of one recording of ``subject``: their level, shifted
    for this recording, and eye offsets, plus the model's sinusoidal drift and a slow
    wander, both shared by the eyes."""
    level = subject.open_ear + rng.normal(0.0, _SESSION_EAR_STD)
    drift = _sinusoidal_drift(rng, 1, times)[0] + _wander(rng, times)
    return (level + np.asarray(subject.eye_offset))[None, :] + drift[:, None]


def _wander(rng, times):
    """Random values (std 0.01) every 10 s from a random phase, linearly interpolated."""
    duration = times[-1] if len(times) else 0.0
    n_knots = int(duration // _WANDER_STEP_S) + 3
    knot_times = (np.arange(n_knots) - rng.uniform(0.0, 1.0)) * _WANDER_STEP_S
    return np.interp(times, knot_times, rng.normal(0.0, _WANDER_STD, size=n_knots))
