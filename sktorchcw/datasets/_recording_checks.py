"""make_blink_recordings' arguments, checked, and the frames its events take."""

import math
import numbers
from typing import NamedTuple

import numpy as np

from ._checks import _check_integer, _check_real
from ._simulation import (
    _BLINK_SHAPE,
    _HARD_NEGATIVE_KINDS,
    _SQUINT_CLOSE_S,
    _SQUINT_HOLD_S,
    _SQUINT_REOPEN_S,
)
from ._subjects import _SLOWEST_SHAPE, _SUBJECT_BLINK_RATE

# Recordings: events and the gap after each, in seconds or frames; see make_blink_recordings.
_REFRACTORY_S = 0.5
_MAX_EVENT_SHARE = 0.75
_SQUINT_LONGEST_S = _SQUINT_CLOSE_S[1] + _SQUINT_HOLD_S[1] + _SQUINT_REOPEN_S[1]
_DEFAULT_DURATION_S = 30.0


class _RecordingSpec(NamedTuple):
    """make_blink_recordings' arguments, checked; ranges as (low, high) pairs."""

    n_recordings: int
    length_name: str  # "duration_s" or "n_frames", the unit of ``length``
    length: tuple
    fps: tuple[float, float]
    blink_rate: float
    hard_negative_rate: float
    noise: float
    subjects: int | None
    label_lead: tuple[int, int]
    missing_runs: tuple[int, int]

    @property
    def shape(self):
        """The eyelids whose longest blinks the event slots must hold."""
        return _BLINK_SHAPE if self.subjects is None else _SLOWEST_SHAPE

    @property
    def blink_rate_factor(self):
        """The largest factor a subject may put on ``blink_rate``."""
        return 1.0 if self.subjects is None else _SUBJECT_BLINK_RATE[1]


def _event_frames(kind, fps, shape=_BLINK_SHAPE):
    """Frames an event of ``kind`` may touch, from the frame before its onset.

    The onset lies within a frame of the slot's start and the last frame of an event
    lasting ``d`` seconds within ``ceil(d * fps) + 1`` frames of it (a blink's
    lagging eye one frame later); one frame is spare. Blinks and winks last as long
    as ``shape``'s eyelids let them.
    """
    if kind == "head_motion":
        return 4  # the spike starts on the slot's second frame and lasts up to 2 frames
    longest_s = {"blink": shape.longest_s, "squint": _SQUINT_LONGEST_S,
                 "wink": shape.longest_wink_s}[kind]
    extra = 3 if kind == "blink" else 2
    return math.ceil(longest_s * fps - 1e-9) + extra


def _refractory_frames(fps):
    return math.ceil(_REFRACTORY_S * fps - 1e-9)


def _busy_seconds_per_minute(fps, blink_rate, hard_negative_rate, shape=_BLINK_SHAPE):
    """Mean seconds per minute that events and their refractory gaps take."""
    gap = _refractory_frames(fps)
    blink = _event_frames("blink", fps, shape) + gap
    hard = np.mean([_event_frames(kind, fps, shape) + gap for kind in _HARD_NEGATIVE_KINDS])
    return (blink_rate * blink + hard_negative_rate * hard) / fps


def _check_recording_arguments(n_recordings, *, duration_s, n_frames, fps, blink_rate,
                               hard_negative_rate, noise, subjects, label_lead, missing_runs):
    """Validate make_blink_recordings' arguments; return them as a _RecordingSpec."""
    _check_integer("n_recordings", n_recordings, minimum=1)
    subjects = _check_subjects(subjects, n_recordings)
    fps_range = _check_range("fps", fps, "frames per second", "e.g. 30")
    lead = _check_label_lead(label_lead, fps_range[0])
    length_name, length = _check_length(duration_s, n_frames)
    spec = _RecordingSpec(n_recordings, length_name, length, fps_range, blink_rate,
                          hard_negative_rate, noise, subjects, lead,
                          _check_count_range("missing_runs", missing_runs, "runs"))
    _check_long_enough(spec, duration_s, n_frames)
    for name, rate in (("blink_rate", blink_rate), ("hard_negative_rate", hard_negative_rate)):
        _check_real(name, rate)
        if rate < 0:
            raise ValueError(f"{name}={rate!r} must be >= 0 (events per minute).")
    _check_real("noise", noise)
    if noise < 0:
        raise ValueError(f"noise={noise!r} must be >= 0 (the std of the Gaussian noise).")
    _check_rates_fit(spec)
    return spec


def _check_subjects(subjects, n_recordings):
    if subjects is None:
        return None
    _check_integer("subjects", subjects, minimum=1)
    if subjects > n_recordings:
        raise ValueError(
            f"subjects={subjects} must be <= n_recordings={n_recordings}: every subject has "
            "at least one recording. Ask for more recordings or fewer subjects."
        )
    return int(subjects)


def _check_label_lead(label_lead, low_fps):
    """At most the refractory gap at the lowest fps, so that labels never reach back to the
    previous event."""
    lead = _check_count_range("label_lead", label_lead, "frames")
    most = _refractory_frames(low_fps)
    if lead[1] > most:
        raise ValueError(
            f"label_lead={label_lead!r} must be at most {most} frames at fps={low_fps:g}: "
            f"labels may lead the signal by no more than the {_REFRACTORY_S} s refractory "
            "gap between events. Use a smaller lead or a higher fps."
        )
    return lead


def _check_length(duration_s, n_frames):
    """("duration_s", (low, high) seconds) or ("n_frames", (low, high) frames)."""
    if n_frames is None:
        if duration_s is None:
            duration_s = _DEFAULT_DURATION_S
        return "duration_s", _check_range("duration_s", duration_s, "seconds")
    if duration_s is not None:
        raise ValueError(
            f"duration_s={duration_s!r} and n_frames={n_frames!r} both give the recordings' "
            "length; pass one of them (n_frames in frames, duration_s in seconds)."
        )
    return "n_frames", _check_count_range("n_frames", n_frames, "frames", minimum=1)


def _check_long_enough(spec, duration_s, n_frames):
    """Every recording must hold a blink's slot, after ``label_lead`` spare frames."""
    low_fps, high_fps = spec.fps
    lead = spec.label_lead[1]
    if spec.length_name == "n_frames":
        need = _event_frames("blink", high_fps, spec.shape) + lead
        if spec.length[0] < need:
            raise ValueError(
                f"n_frames={n_frames!r} is too short to hold a blink at fps={high_fps:g}: a "
                f"recording needs at least {need} frames. Use n_frames >= {need}, or a "
                "lower fps."
            )
        return
    need = _event_frames("blink", low_fps, spec.shape) + lead
    if low_fps == high_fps:
        too_short, need_s, fps = spec.length[0] * low_fps < need, need / low_fps, f"{low_fps:g}"
    else:  # ceil(L * f) + 3 + lead <= f * (L + (4 + lead) / low) for every f in the range
        need_s = spec.shape.longest_s + (4 + lead) / low_fps
        too_short, fps = spec.length[0] < need_s, repr(spec.fps)
    if too_short:
        raise ValueError(
            f"duration_s={duration_s!r} is too short to hold a blink at fps={fps}: a "
            f"recording needs at least {need} frames ({need_s:.2f} s). Use duration_s >= "
            f"{need_s:.2f}, or a lower fps."
        )


def _check_rates_fit(spec):
    """Refuse rates whose events would fill more than 3/4 of the time on average, at the
    lowest fps (where rounding to whole frames costs most) and for the busiest subject."""
    blink_rate = spec.blink_rate * spec.blink_rate_factor
    low_fps = spec.fps[0]
    busy = _busy_seconds_per_minute(low_fps, blink_rate, spec.hard_negative_rate, spec.shape)
    allowed = 60 * _MAX_EVENT_SHARE
    if busy > allowed:
        per_blink = _busy_seconds_per_minute(low_fps, spec.blink_rate_factor, 0, spec.shape)
        most = max(0, math.floor((allowed - (busy - spec.blink_rate * per_blink)) / per_blink))
        raise ValueError(
            f"blink_rate={spec.blink_rate!r} and hard_negative_rate="
            f"{spec.hard_negative_rate!r} events per minute, each followed by a refractory "
            f"gap of {_REFRACTORY_S} s, would take {busy:.1f} s of every minute on average; "
            f"at most {allowed:.0f} s may. Lower the rates (with this hard_negative_rate, "
            f"blink_rate <= {most})."
        )


def _check_range(name, value, unit, example=None):
    """A positive number, or a ``(low, high)`` pair of them, as a (low, high) range."""
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != 2:
            raise TypeError(
                f"{name} must be a number of {unit} or a (low, high) pair; got {value!r} "
                f"with {len(value)} items."
            )
        low, high = value
        _check_real(f"{name}[0]", low)
        _check_real(f"{name}[1]", high)
        if not 0 < low <= high:
            raise ValueError(f"{name}={tuple(value)!r} must satisfy 0 < low <= high ({unit}).")
        return float(low), float(high)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a number of {unit} or a (low, high) pair; got {value!r} of "
            f"type {type(value).__name__}."
        )
    _check_real(name, value)
    if value <= 0:
        raise ValueError(f"{name}={value!r} must be positive "
                         f"({unit}{'' if example is None else ', ' + example}).")
    return float(value), float(value)


def _check_count_range(name, value, unit, *, minimum=0):
    """An int, or a ``(low, high)`` pair of ints, each >= minimum, as (low, high)."""
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != 2:
            raise TypeError(
                f"{name} must be an int ({unit}) or a (low, high) pair of ints; got "
                f"{value!r} with {len(value)} items."
            )
        low, high = value
        _check_integer(f"{name}[0]", low, minimum=minimum)
        _check_integer(f"{name}[1]", high, minimum=minimum)
        if low > high:
            raise ValueError(f"{name}={tuple(value)!r} must satisfy low <= high ({unit}).")
    else:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(
                f"{name} must be an int ({unit}) or a (low, high) pair of ints; got "
                f"{value!r} of type {type(value).__name__}."
            )
        _check_integer(name, value, minimum=minimum)
        low = high = value
    return int(low), int(high)
