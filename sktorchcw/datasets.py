"""Synthetic eye-blink data, and per-frame tables cut into windows or sequences.

:func:`make_blink_dataset` simulates the eye aspect ratio (EAR) of both eyes,
window by window, with rare blinks and blink-like distractors;
:func:`make_blink_recordings` simulates whole recordings from the same model, labelled
frame by frame. :func:`frames_to_windows` turns any per-frame table (one row per video
frame) into ``X, y, groups`` for a sequence classifier and
:class:`sklearn.model_selection.GroupKFold`; :func:`frames_to_sequences` into whole
sequences with per-frame labels for a tagger.
"""

import math
import numbers

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

__all__ = [
    "make_blink_dataset",
    "make_blink_recordings",
    "frames_to_windows",
    "frames_to_sequences",
]

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
_WINDOWS_PER_VIDEO = 10
_FRAME_COLUMNS = ["video", "frame", "ear_left", "ear_right", "blink"]

_LABEL_RULES = ("center", "any", "last")


def make_blink_dataset(
    n_samples=1000,
    *,
    seq_len=60,
    prevalence=0.05,
    fps=30,
    noise=0.02,
    hard_negative_rate=0.3,
    return_frames=False,
    random_state=None,
):
    """Simulate windows of left/right eye aspect ratio, labelled by whether a blink occurs.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of windows, at least 2.
    seq_len : int, default=60
        Frames per window. It must hold the longest blink, 0.40 s, i.e. at least
        ``ceil(0.40 * fps)`` frames (12 at 30 fps).
    prevalence : float, default=0.05
        Fraction of windows with a blink, in (0, 1). Exactly
        ``round(prevalence * n_samples)`` windows are positive, clipped to
        ``[1, n_samples - 1]`` so that both classes are always present.
    fps : float, default=30
        Frames per second; converts the durations of the model (in seconds) into frames.
    noise : float, default=0.02
        Standard deviation of the Gaussian noise added to every EAR value.
    hard_negative_rate : float, default=0.3
        Fraction, in [0, 1], of the negative windows that hold a blink-like
        distractor: a squint, a wink or a head-motion spike (see Notes).
    return_frames : bool, default=False
        If True, return a per-frame table instead of ``(X, y)`` (see Returns).
    random_state : None, int or numpy.random.RandomState, default=None
        Seed or generator, as :func:`sklearn.utils.check_random_state` accepts;
        the same seed gives identical arrays.

    Returns
    -------
    X : ndarray of shape (n_samples, seq_len, 2), dtype float32
        EAR of the left (``[..., 0]``) and right (``[..., 1]``) eye in each frame.
    y : ndarray of shape (n_samples,), dtype int64
        1 when a blink occurs in the window, else 0.
    frames : pandas.DataFrame
        Only with ``return_frames=True``, returned instead of ``(X, y)``: one row
        per frame, columns ``video``, ``frame`` (int64), ``ear_left``, ``ear_right``
        (float32) and ``blink`` (int64, 1 on the frames where a blink's eyes are
        closing, closed or reopening). Windows ``10 * v`` to ``10 * v + 9`` are laid
        end to end as video ``v`` (the last video may be shorter), so
        ``frames_to_windows(frames, window=seq_len, label_rule="any", ...)`` gives
        back ``X`` and ``y``.

    Raises
    ------
    TypeError
        For a non-integer ``n_samples`` or ``seq_len``, or a non-numeric rate.
    ValueError
        For an argument out of its range, or ``seq_len`` too short for a blink.

    Notes
    -----
    Each window is simulated independently; durations are drawn in seconds and
    sampled at ``fps``.

    - Open eyes: a baseline EAR drawn uniformly in [0.25, 0.35] per window, plus a
      per-eye offset (normal, std 0.01), plus a slow drift shared by both eyes (a
      sinusoid of amplitude up to 0.01 and frequency 0.05 to 0.5 Hz), plus
      Gaussian noise of std ``noise`` on every frame (EAR is floored at 0.01).
    - Blink (positive windows): a fast close (50-100 ms), a closure (30-120 ms)
      at an EAR of 0.05-0.12, and a slower reopening (100-180 ms), with cosine
      ramps; 180-400 ms in all. Both eyes blink to a similar depth (per-eye
      std 0.005), one lagging the other by 0 to 1 frame. The closure is centred
      on a frame of the window (anywhere in it), so the window always shows a
      closed eye, though the ramps may be cut off at the window's edges.
    - Hard negatives, an equal share of each kind in random windows:
      squints (both eyes lose only 20-40 % of their EAR, closing over 100-300 ms,
      holding 0.3-1 s, reopening over 150-400 ms); winks (one eye closes like a
      blink but holds 100-400 ms, the other loses at most 10 %); head-motion
      spikes (both eyes jump up or down by 0.05-0.12 for 1 or 2 frames).

    Within a video of the ``return_frames`` table, each window keeps its own
    baseline, so the EAR may step slightly at window boundaries.

    Examples
    --------
    >>> from sktorchcw.datasets import make_blink_dataset
    >>> X, y = make_blink_dataset(200, prevalence=0.1, random_state=0)
    >>> X.shape, X.dtype, y.shape, y.dtype
    ((200, 60, 2), dtype('float32'), (200,), dtype('int64'))
    >>> float(y.mean())
    0.1
    >>> frames = make_blink_dataset(200, prevalence=0.1, return_frames=True, random_state=0)
    >>> frames.shape, frames["video"].nunique()
    ((12000, 5), 20)
    >>> list(frames.columns)
    ['video', 'frame', 'ear_left', 'ear_right', 'blink']
    """
    _check_generator_arguments(n_samples, seq_len, prevalence, fps, noise, hard_negative_rate)
    rng = check_random_state(random_state)
    X, y, blink_frames = _simulate_windows(
        rng, n_samples, seq_len, prevalence, fps, noise, hard_negative_rate
    )
    if return_frames:
        return _windows_to_frame_table(X, blink_frames)
    return X, y


def _check_generator_arguments(n_samples, seq_len, prevalence, fps, noise, hard_negative_rate):
    _check_integer("n_samples", n_samples, minimum=2)
    _check_integer("seq_len", seq_len, minimum=1)
    _check_real("prevalence", prevalence)
    if not 0 < prevalence < 1:
        raise ValueError(
            f"prevalence={prevalence!r} must lie strictly between 0 and 1 (the fraction of "
            "windows with a blink); both classes are always generated."
        )
    _check_real("fps", fps)
    if fps <= 0:
        raise ValueError(f"fps={fps!r} must be positive (frames per second, e.g. 30).")
    min_seq_len = _min_seq_len(fps)
    if seq_len < min_seq_len:
        raise ValueError(
            f"seq_len={seq_len} is too short to hold a blink at fps={fps}: a blink lasts up "
            f"to {_LONGEST_BLINK_S:.2f} s, i.e. {min_seq_len} frames. Use seq_len >= "
            f"{min_seq_len}, or a lower fps."
        )
    _check_real("noise", noise)
    if noise < 0:
        raise ValueError(f"noise={noise!r} must be >= 0 (the std of the Gaussian noise).")
    _check_real("hard_negative_rate", hard_negative_rate)
    if not 0 <= hard_negative_rate <= 1:
        raise ValueError(
            f"hard_negative_rate={hard_negative_rate!r} must lie in [0, 1] (the fraction of "
            "negative windows holding a squint, wink or head-motion spike)."
        )


def _min_seq_len(fps):
    # The small tolerance keeps 0.4 * 30 = 12.000000000000002 at 12 frames.
    return max(1, math.ceil(_LONGEST_BLINK_S * fps - 1e-9))


def _check_integer(name, value, *, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int; got {value!r} of type {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{name}={value} must be >= {minimum}.")


def _check_real(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; got {value!r} of type {type(value).__name__}.")
    if not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be finite.")


def _simulate_windows(rng, n_samples, seq_len, prevalence, fps, noise, hard_negative_rate):
    """Return ``X`` (float32), ``y`` and a (n_samples, seq_len) mask of blink frames."""
    times = np.arange(seq_len) / fps
    y = _draw_labels(rng, n_samples, prevalence)
    ear = _open_eye_signal(rng, n_samples, times)
    positives = np.flatnonzero(y == 1)
    blink_frames = np.zeros((n_samples, seq_len), dtype=bool)
    blink_frames[positives] = _add_blinks(rng, ear, positives, times, fps)
    _add_hard_negatives(rng, ear, np.flatnonzero(y == 0), times, fps, hard_negative_rate)
    return _add_noise(rng, ear, noise), y, blink_frames


def _add_noise(rng, ear, noise):
    """Gaussian noise on every value, then the EAR floor; returns float32."""
    ear += rng.normal(0.0, noise, size=ear.shape)
    np.maximum(ear, _MIN_EAR, out=ear)
    return ear.astype(np.float32)


def _draw_labels(rng, n_samples, prevalence):
    n_positive = min(max(round(prevalence * n_samples), 1), n_samples - 1)
    y = np.zeros(n_samples, dtype=np.int64)
    y[rng.permutation(n_samples)[:n_positive]] = 1
    return y


def _open_eye_signal(rng, n_samples, times):
    """Baseline per window and eye, plus a slow sinusoidal drift shared by both eyes."""
    baseline = rng.uniform(*_OPEN_EAR, size=(n_samples, 1))
    eye_offset = rng.normal(0.0, _EYE_OFFSET_STD, size=(n_samples, 2))
    amplitude = rng.uniform(0.0, _DRIFT_AMPLITUDE_MAX, size=(n_samples, 1))
    frequency = rng.uniform(*_DRIFT_FREQUENCY_HZ, size=(n_samples, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n_samples, 1))
    drift = amplitude * np.sin(2 * np.pi * frequency * times + phase)
    return (baseline + eye_offset)[:, None, :] + drift[:, :, None]


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
# (windows); an array gives the onsets in seconds instead (recordings).


def _add_blinks(rng, ear, windows, times, fps, onset=None):
    """Close both eyes of ``windows`` in place; return their blink-frame mask."""
    n = len(windows)
    close_s = rng.uniform(*_BLINK_CLOSE_S, size=n)
    hold_s = rng.uniform(*_BLINK_HOLD_S, size=n)
    reopen_s = rng.uniform(*_BLINK_REOPEN_S, size=n)
    if onset is None:
        onset = _onset_closed_on_a_frame(rng, n, times, fps, close_s, hold_s)
    lag_s = rng.uniform(0.0, 1.0, size=n) / fps
    lagging_eye = rng.randint(0, 2, size=n)
    closed_ear = rng.uniform(*_BLINK_CLOSED_EAR, size=(n, 1)) + rng.normal(
        0.0, _BLINK_EYE_DEPTH_STD, size=(n, 2)
    )
    closed_ear = np.clip(closed_ear, _BLINK_CLOSED_EAR[0] - 0.02, _BLINK_CLOSED_EAR[1] + 0.02)
    blink_frames = np.zeros((n, len(times)), dtype=bool)
    for eye in (0, 1):
        eye_onset = onset + lag_s * (lagging_eye == eye)
        closure = _closure_profile(times, eye_onset, close_s, hold_s, reopen_s)
        open_ear = ear[windows, :, eye]
        ear[windows, :, eye] = open_ear * (1 - closure) + closed_ear[:, eye, None] * closure
        blink_frames |= closure > 0
    return blink_frames


def _add_hard_negatives(rng, ear, negatives, times, fps, rate):
    n_hard = round(rate * len(negatives))
    chosen = rng.permutation(negatives)[:n_hard]
    kinds = rng.randint(0, len(_HARD_NEGATIVE_KINDS), size=n_hard)
    for code, kind in enumerate(_HARD_NEGATIVE_KINDS):
        _ADD_EVENT[kind](rng, ear, chosen[kinds == code], times, fps)


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


def _add_winks(rng, ear, windows, times, fps, onset=None):
    """One eye closes like a long blink; the other narrows by at most 10 %."""
    n = len(windows)
    close_s = rng.uniform(*_BLINK_CLOSE_S, size=n)
    hold_s = rng.uniform(*_WINK_HOLD_S, size=n)
    reopen_s = rng.uniform(*_BLINK_REOPEN_S, size=n)
    if onset is None:
        onset = _onset_closed_on_a_frame(rng, n, times, fps, close_s, hold_s)
    winking_eye = rng.randint(0, 2, size=n)
    closed_ear = rng.uniform(*_BLINK_CLOSED_EAR, size=(n, 1))
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


def make_blink_recordings(
    n_recordings,
    *,
    duration_s=30.0,
    fps=30,
    blink_rate=15.0,
    hard_negative_rate=4.0,
    noise=0.02,
    random_state=None,
):
    """Simulate whole recordings of left/right eye aspect ratio, labelled frame by frame.

    The per-frame counterpart of :func:`make_blink_dataset`, from the same generative
    model: blinks and blink-like distractors happen at random times over each
    recording, and every frame is labelled 1 when a blink's eyes are closing, closed
    or reopening, else 0. The data suits :class:`~sktorchcw.LSTMBlinkTagger` and
    :mod:`sktorchcw.events`.

    Parameters
    ----------
    n_recordings : int
        Number of recordings, at least 1.
    duration_s : float or (float, float), default=30.0
        Length of each recording in seconds: a number for recordings of equal length,
        or a ``(low, high)`` pair for a length drawn uniformly in ``[low, high]`` per
        recording. A recording has ``round(duration * fps)`` frames and must hold the
        longest blink (0.40 s, plus up to two frames of onset and inter-eye lag:
        ``duration_s >= 0.5`` at 30 fps).
    fps : float, default=30
        Frames per second; converts the durations of the model (in seconds) into frames.
    blink_rate : float, default=15.0
        Mean number of blinks per minute (a resting adult blinks 10 to 20 times a
        minute); 0 gives recordings without blinks.
    hard_negative_rate : float, default=4.0
        Mean number of blink-like distractors per minute: squints, winks and
        head-motion spikes, in equal shares (see Notes).
    noise : float, default=0.02
        Standard deviation of the Gaussian noise added to every EAR value.
    random_state : None, int or numpy.random.RandomState, default=None
        Seed or generator, as :func:`sklearn.utils.check_random_state` accepts;
        the same seed gives identical recordings.

    Returns
    -------
    X : list of n_recordings ndarrays of shape (T_i, 2), dtype float32
        EAR of the left (``[:, 0]``) and right (``[:, 1]``) eye in each frame.
    y : list of n_recordings ndarrays of shape (T_i,), dtype int64
        1 on the frames where a blink's eyes are closing, closed or reopening (in
        either eye), else 0, as ``make_blink_dataset(return_frames=True)`` labels
        frames. :func:`sktorchcw.events.frames_to_events` turns them into one
        ``(start, stop)`` interval per blink.

    Raises
    ------
    TypeError
        For a non-integer ``n_recordings``, a non-numeric argument, or a
        ``duration_s`` that is neither a number nor a pair of numbers.
    ValueError
        For an argument out of its range, recordings too short for a blink, or rates
        too high for the events to fit (see Notes).

    See Also
    --------
    make_blink_dataset : windows with one label each, from the same model.
    frames_to_sequences : recordings from a per-frame table.

    Notes
    -----
    Each recording is simulated independently, with the model of
    :func:`make_blink_dataset` (durations in seconds, sampled at ``fps``):

    - Open eyes: a baseline EAR drawn uniformly in [0.25, 0.35] per recording, plus
      a per-eye offset (normal, std 0.01), plus a slow drift shared by both eyes (a
      sinusoid of amplitude up to 0.01 and frequency 0.05 to 0.5 Hz), plus Gaussian
      noise of std ``noise`` on every frame (EAR is floored at 0.01).
    - Blinks: a fast close (50-100 ms), a closure (30-120 ms) at an EAR of
      0.05-0.12 and a slower reopening (100-180 ms), with cosine ramps; 180-400 ms
      in all. Both eyes blink to a similar depth (per-eye std 0.005), one lagging
      the other by 0 to 1 frame.
    - Hard negatives, an equal share of each kind: squints (both eyes lose only
      20-40 % of their EAR, closing over 100-300 ms, holding 0.3-1 s, reopening over
      150-400 ms); winks (one eye closes like a blink but holds 100-400 ms, the
      other loses at most 10 %); head-motion spikes (both eyes jump up or down by
      0.05-0.12 for 1 or 2 frames).

    When events happen: a recording of ``m`` minutes holds a Poisson number of
    blinks, of mean ``blink_rate * m``, and a Poisson number of hard negatives, of
    mean ``hard_negative_rate * m``. They come in a random order, at uniformly
    random times under one constraint: no two overlap. Each event takes the frames
    its kind can last at most (e.g. 15 frames for a blink at 30 fps), followed by a
    refractory gap of 0.5 s before the next one, and lies wholly inside the
    recording (none is cut off at either end). In the rare recording whose drawn
    events do not all fit, the last ones (in the random order) are left out; rates
    whose events would fill more than three quarters of the time on average are
    refused. Blink frames are the frames inside a blink, about 9 per blink at
    30 fps (0.3 s), so at the defaults about 7.7 % of the frames are blink
    frames; ``blink_rate=12`` gives about 6 %.

    Examples
    --------
    >>> import numpy as np
    >>> from sktorchcw.datasets import make_blink_recordings
    >>> X, y = make_blink_recordings(3, duration_s=20, random_state=0)
    >>> [x.shape for x in X], X[0].dtype, y[0].dtype
    ([(600, 2), (600, 2), (600, 2)], dtype('float32'), dtype('int64'))
    >>> X, y = make_blink_recordings(4, duration_s=(10, 60), random_state=0)
    >>> [len(x) for x in X]
    [1123, 1373, 1204, 1117]

    Each run of blink frames is one blink, in which both eyes close:

    >>> from sktorchcw.events import frames_to_events
    >>> blinks = frames_to_events(y[0])  # (start, stop) frame intervals
    >>> len(blinks), all((X[0][start:stop].min(axis=0) < 0.2).all() for start, stop in blinks)
    (6, True)
    """
    duration_range = _check_recording_arguments(
        n_recordings, duration_s, fps, blink_rate, hard_negative_rate, noise
    )
    rng = check_random_state(random_state)
    durations = rng.uniform(*duration_range, size=n_recordings)
    X, y = [], []
    for n_frames in np.rint(durations * fps).astype(np.int64):
        ear, blink_frames = _simulate_recording(
            rng, int(n_frames), fps, blink_rate, hard_negative_rate
        )
        X.append(_add_noise(rng, ear, noise))
        y.append(blink_frames.astype(np.int64))
    return X, y


# Recordings: events and the gap after each, in seconds or frames; see make_blink_recordings.
_REFRACTORY_S = 0.5
_MAX_EVENT_SHARE = 0.75
_SQUINT_LONGEST_S = _SQUINT_CLOSE_S[1] + _SQUINT_HOLD_S[1] + _SQUINT_REOPEN_S[1]
_WINK_LONGEST_S = _BLINK_CLOSE_S[1] + _WINK_HOLD_S[1] + _BLINK_REOPEN_S[1]


def _event_frames(kind, fps):
    """Frames an event of ``kind`` may touch, from the frame before its onset.

    The onset lies within a frame of the slot's start and the last frame of an event
    lasting ``d`` seconds within ``ceil(d * fps) + 1`` frames of it (a blink's
    lagging eye one frame later); one frame is spare.
    """
    if kind == "head_motion":
        return 4  # the spike starts on the slot's second frame and lasts up to 2 frames
    longest_s = {"blink": _LONGEST_BLINK_S, "squint": _SQUINT_LONGEST_S,
                 "wink": _WINK_LONGEST_S}[kind]
    extra = 3 if kind == "blink" else 2
    return math.ceil(longest_s * fps - 1e-9) + extra


def _refractory_frames(fps):
    return math.ceil(_REFRACTORY_S * fps - 1e-9)


def _busy_seconds_per_minute(fps, blink_rate, hard_negative_rate):
    """Mean seconds per minute that events and their refractory gaps take."""
    gap = _refractory_frames(fps)
    blink = _event_frames("blink", fps) + gap
    hard = np.mean([_event_frames(kind, fps) + gap for kind in _HARD_NEGATIVE_KINDS])
    return (blink_rate * blink + hard_negative_rate * hard) / fps


def _check_recording_arguments(n_recordings, duration_s, fps, blink_rate, hard_negative_rate,
                               noise):
    """Validate make_blink_recordings' arguments; return the duration range (low, high)."""
    _check_integer("n_recordings", n_recordings, minimum=1)
    _check_real("fps", fps)
    if fps <= 0:
        raise ValueError(f"fps={fps!r} must be positive (frames per second, e.g. 30).")
    low, high = _check_duration(duration_s)
    min_frames = _event_frames("blink", fps)
    if low * fps < min_frames:
        raise ValueError(
            f"duration_s={duration_s!r} is too short to hold a blink at fps={fps}: a "
            f"recording needs at least {min_frames} frames ({min_frames / fps:.2f} s). Use "
            f"duration_s >= {min_frames / fps:.2f}, or a lower fps."
        )
    for name, rate in (("blink_rate", blink_rate), ("hard_negative_rate", hard_negative_rate)):
        _check_real(name, rate)
        if rate < 0:
            raise ValueError(f"{name}={rate!r} must be >= 0 (events per minute).")
    _check_real("noise", noise)
    if noise < 0:
        raise ValueError(f"noise={noise!r} must be >= 0 (the std of the Gaussian noise).")
    busy = _busy_seconds_per_minute(fps, blink_rate, hard_negative_rate)
    allowed = 60 * _MAX_EVENT_SHARE
    if busy > allowed:
        per_blink = _busy_seconds_per_minute(fps, 1, 0)
        most = max(0, math.floor((allowed - (busy - blink_rate * per_blink)) / per_blink))
        raise ValueError(
            f"blink_rate={blink_rate!r} and hard_negative_rate={hard_negative_rate!r} events "
            f"per minute, each followed by a refractory gap of {_REFRACTORY_S} s, would "
            f"take {busy:.1f} s of every minute on average; at most {allowed:.0f} s may. "
            f"Lower the rates (with this hard_negative_rate, blink_rate <= {most})."
        )
    return low, high


def _check_duration(duration_s):
    """``duration_s`` as a (low, high) range in seconds."""
    if isinstance(duration_s, (tuple, list, np.ndarray)):
        if len(duration_s) != 2:
            raise TypeError(
                f"duration_s must be a number of seconds or a (low, high) pair; got "
                f"{duration_s!r} with {len(duration_s)} items."
            )
        low, high = duration_s
        _check_real("duration_s[0]", low)
        _check_real("duration_s[1]", high)
        if not 0 < low <= high:
            raise ValueError(
                f"duration_s={tuple(duration_s)!r} must satisfy 0 < low <= high (seconds)."
            )
        return float(low), float(high)
    if isinstance(duration_s, bool) or not isinstance(duration_s, numbers.Real):
        raise TypeError(
            "duration_s must be a number of seconds or a (low, high) pair; got "
            f"{duration_s!r} of type {type(duration_s).__name__}."
        )
    _check_real("duration_s", duration_s)
    if duration_s <= 0:
        raise ValueError(f"duration_s={duration_s!r} must be positive (seconds).")
    return float(duration_s), float(duration_s)


def _simulate_recording(rng, n_frames, fps, blink_rate, hard_negative_rate):
    """Noise-free EAR (n_frames, 2) of one recording and its blink-frame mask."""
    ear = _open_eye_signal(rng, 1, np.arange(n_frames) / fps)[0]
    minutes = n_frames / fps / 60
    # Event codes index _EVENT_KINDS: 0 for a blink, then the hard-negative kinds.
    n_blinks = rng.poisson(blink_rate * minutes)
    n_hard = rng.poisson(hard_negative_rate * minutes)
    hard = 1 + rng.randint(0, len(_HARD_NEGATIVE_KINDS), size=n_hard)
    codes = rng.permutation(np.concatenate([np.zeros(n_blinks, dtype=np.int64), hard]))
    slot_frames = np.array([_event_frames(kind, fps) for kind in _EVENT_KINDS])
    starts, codes = _place_events(rng, n_frames, slot_frames[codes], fps, codes)
    blink_frames = np.zeros(n_frames, dtype=bool)
    for code, kind in enumerate(_EVENT_KINDS):
        first = starts[codes == code]
        if len(first) == 0:
            continue
        slot = first[:, None] + np.arange(slot_frames[code])
        segments = ear[slot]  # (n_events, slot frames, 2), a copy
        onset = rng.uniform(0.0, 1.0 / fps, size=len(first))
        closed = _ADD_EVENT[kind](rng, segments, np.arange(len(first)),
                                  np.arange(slot_frames[code]) / fps, fps, onset=onset)
        ear[slot] = segments  # slots never overlap
        if kind == "blink":
            blink_frames[slot] = closed
    return ear, blink_frames


def _place_events(rng, n_frames, slot_frames, fps, codes):
    """Start frames of the events' slots and the codes of the events that fit.

    The events keep their order, each slot followed by a refractory gap; those past
    the first that does not fit are dropped. The free frames are spread at random
    between them: sorted uniform offsets (the spacings of uniform order statistics).
    """
    gap = _refractory_frames(fps)
    taken = slot_frames + gap
    fits = np.cumsum(taken) - gap <= n_frames
    codes, taken = codes[fits], taken[fits]
    free = n_frames - (taken.sum() - gap) if len(codes) else n_frames
    offsets = np.sort(rng.randint(0, free + 1, size=len(codes)))
    return offsets + np.cumsum(taken) - taken, codes


def _windows_to_frame_table(X, blink_frames):
    n_samples, seq_len, _ = X.shape
    window_index = np.repeat(np.arange(n_samples), seq_len)
    frame_in_window = np.tile(np.arange(seq_len), n_samples)
    return pd.DataFrame(
        {
            "video": (window_index // _WINDOWS_PER_VIDEO).astype(np.int64),
            "frame": ((window_index % _WINDOWS_PER_VIDEO) * seq_len + frame_in_window).astype(
                np.int64
            ),
            "ear_left": X[:, :, 0].ravel(),
            "ear_right": X[:, :, 1].ravel(),
            "blink": blink_frames.ravel().astype(np.int64),
        },
        columns=_FRAME_COLUMNS,
    )


def frames_to_windows(
    frames,
    *,
    window,
    stride=None,
    feature_cols,
    label_col,
    group_col,
    order_col=None,
    frame_step=None,
    label_rule="center",
    center_fraction=0.5,
    positive=None,
):
    """Cut a per-frame table into fixed-length windows, one label and group per window.

    Windows never cross two groups, nor a gap of missing frames within a group.

    Parameters
    ----------
    frames : pandas.DataFrame
        One row per frame: a group (video or subject) column, feature columns, a
        per-frame label column and, optionally, a frame-index column. Not modified.
    window : int
        Frames per window, at least 1.
    stride : int, default=None
        Frames between the starts of consecutive windows; ``None`` means ``window``
        (windows side by side, no overlap).
    feature_cols : str or list of str
        The numeric columns that become the features, in this order.
    label_col : str
        The per-frame label column (e.g. 0/1 for "blinking in this frame").
    group_col : str
        The column identifying each video; windows never cross two groups.
    order_col : str, default=None
        The frame number (integers) or time stamp (numbers, datetimes or
        timedeltas, with ``frame_step``) of each frame. The frames are sorted by
        it within each group, windows never span a gap in it (see Notes), and two
        rows of a group with the same value are an error. ``None`` keeps the
        table's row order and takes the rows of a group as consecutive frames.
    frame_step : int, float, timedelta or str, default=None
        The difference in ``order_col`` between two consecutive frames: ``None``
        means 1, for frame numbers, and works only for an integer ``order_col``.
        Give it for other order columns: a number for float columns (e.g.
        ``1 / 30`` for seconds at 30 fps, or ``1`` for frame numbers stored as
        floats), a time for datetime and timedelta columns (anything
        :class:`pandas.Timedelta` takes, e.g. ``pd.Timedelta(milliseconds=40)``
        or ``"40ms"``). Needs ``order_col``.
    label_rule : {'center', 'any', 'last'} or callable, default='center'
        How a window's frame labels become its label:

        - ``'center'``: ``positive`` when a ``positive`` frame lies among the
          central ``center_fraction`` of the frames, otherwise the most common
          label there. The central part is the ``ceil(center_fraction * window)``
          middle frames (one frame left of centre when they cannot be centred
          exactly).
        - ``'any'``: ``positive`` when any frame of the window is ``positive``,
          otherwise the window's most common label.
        - ``'last'``: the label of the window's last frame.
        - callable: called with the window's labels, a 1-D array in frame
          order, and returns the window's label.

        Without ``positive``, ``'center'`` and ``'any'`` take the largest label
        (for 0/1 labels, 1 when a positive frame lies there): for numbers and
        bools, and for an ordered Categorical by its order (its last category is
        the event). Strings and unordered Categoricals have no order that tells
        the event apart ("open" sorts after "blink"), so with more than one label
        these rules need ``positive``.
    center_fraction : float, default=0.5
        Fraction, in (0, 1], of the window's frames that count for ``'center'``
        (0.5 is the middle half). Checked but not used by the other rules.
    positive : label, default=None
        The event label (``"blink"``, 1, ...) for ``'center'`` and ``'any'``: a
        window holding an event frame there is labelled ``positive``, any other
        one the most common of its labels there (ties go to the label that sorts
        first, the first category for a Categorical). It must be one of the
        labels in ``label_col`` (or a category of a Categorical column, which
        can also name a label absent from these frames). Checked but not used by
        the other rules. For 0/1 or boolean labels ``positive=1`` gives the same
        windows as ``None``.

    Returns
    -------
    X : ndarray of shape (n_windows, window, n_features), dtype float32
        The windows' features.
    y : ndarray of shape (n_windows,)
        The windows' labels, in the label column's dtype for the built-in rules.
    groups : ndarray of shape (n_windows,)
        The group of each window, to pass to
        :class:`sklearn.model_selection.GroupKFold` so that a video stays on one
        side of each split.

    Raises
    ------
    TypeError
        For ``frames`` not a DataFrame, a non-integer ``window`` or ``stride``, a
        non-numeric feature column, a ``label_rule`` neither a string nor
        callable, an ``order_col`` that holds neither numbers nor times, or a
        ``frame_step`` of the wrong kind for it.
    ValueError
        For a missing column, NaN or infinite features, NaN labels, groups or orders,
        ``window`` or ``stride`` below 1, ``center_fraction`` outside (0, 1], an
        unknown ``label_rule``, two rows of a group with the same ``order_col``
        value, a ``frame_step`` that is not positive, missing (for a non-integer
        ``order_col``) or given without ``order_col``, no run of consecutive
        frames long enough for one window, a ``positive`` that is not a label of
        ``label_col``, or ``'center'``/``'any'`` without ``positive`` on strings
        or an unordered Categorical of more than one label.

    Notes
    -----
    Within a group, two frames are consecutive when their ``order_col`` values
    differ by at most ``1.5 * frame_step``: for frame numbers, by exactly 1; for
    time stamps, by one step give or take half a step of jitter. A larger
    difference is a gap (missing frames): the group is split there into runs of
    consecutive frames, and windows are cut in each run separately, never across
    a gap. Fill short gaps first (e.g. by reindexing and interpolating) to keep
    the windows around them.

    Groups come out in the order of their first row in ``frames``, and runs in
    frame order within a group; within a run, windows start at its frames 0,
    ``stride``, ``2 * stride``, ... and only full windows are made, so the last
    frames of a run may be left out and a run shorter than ``window`` yields
    none.

    Examples
    --------
    >>> import pandas as pd
    >>> from sktorchcw.datasets import frames_to_windows
    >>> frames = pd.DataFrame({
    ...     "video": ["a"] * 6 + ["b"] * 4,
    ...     "ear": [0.3, 0.3, 0.1, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.1],
    ...     "blink": [0, 0, 1, 0, 0, 0, 0, 0, 0, 1],
    ... })
    >>> X, y, groups = frames_to_windows(
    ...     frames, window=4, stride=2, feature_cols=["ear"], label_col="blink",
    ...     group_col="video")
    >>> X.shape, X.dtype
    ((3, 4, 1), dtype('float32'))
    >>> y, groups
    (array([1, 0, 0]), array(['a', 'a', 'b'], dtype=object))
    >>> frames_to_windows(
    ...     frames, window=4, stride=2, feature_cols=["ear"], label_col="blink",
    ...     group_col="video", label_rule="any")[1]
    array([1, 1, 1])

    With frame numbers, windows stop at missing frames: video ``a`` lacks its
    frame 3, which leaves the runs 0-2 and 4-6, one window of 3 frames each
    (the frame numbers are the feature here, to show which frames each window
    holds).

    >>> frames = pd.DataFrame({
    ...     "video": ["a"] * 6, "frame": [0, 1, 2, 4, 5, 6], "blink": [0, 1, 1, 0, 0, 0],
    ... })
    >>> X, y, groups = frames_to_windows(
    ...     frames, window=3, stride=1, feature_cols="frame", label_col="blink",
    ...     group_col="video", order_col="frame")
    >>> X[:, :, 0].tolist(), y.tolist(), groups.tolist()
    ([[0.0, 1.0, 2.0], [4.0, 5.0, 6.0]], [1, 0], ['a', 'a'])

    String labels need the event named: a window with a ``"blink"`` frame is
    ``"blink"`` however the labels sort.

    >>> frames["state"] = frames["blink"].map({0: "open", 1: "blink"})
    >>> frames_to_windows(
    ...     frames, window=3, stride=1, feature_cols="frame", label_col="state",
    ...     group_col="video", order_col="frame", label_rule="any", positive="blink")[1]
    array(['blink', 'open'], dtype=object)
    """
    feature_cols = _check_frames(frames, feature_cols, label_col, group_col, order_col)
    window, stride = _check_window_and_stride(window, stride)
    label_rule = _check_label_rule(label_rule)
    _check_center_fraction(center_fraction)
    label_values, choose_labels = _label_chooser(frames[label_col], label_col, label_rule,
                                                 positive)
    frame_step = _check_frame_step(frames, order_col, frame_step)
    group_codes, group_ids = pd.factorize(frames[group_col], sort=False)
    group_sizes = np.bincount(group_codes, minlength=len(group_ids))
    _check_some_window_fits(group_sizes, window)
    row_order, run_starts, run_lengths = _sorted_runs(
        frames, group_codes, group_col, order_col, frame_step
    )
    _check_some_run_fits(run_lengths, group_sizes, window, order_col)

    starts = _window_starts(run_starts, run_lengths, window, stride)
    features = frames[feature_cols].to_numpy(dtype=np.float32)[row_order]
    X = np.ascontiguousarray(_windows_at(features, starts, window), dtype=np.float32)
    label_windows = _windows_at(label_values[row_order], starts, window)
    y = choose_labels(_window_labels(label_windows, label_rule, center_fraction))
    groups = np.asarray(group_ids.take(group_codes[row_order[starts]]))
    return X, y, groups


def frames_to_sequences(
    frames,
    *,
    feature_cols,
    label_col,
    group_col,
    order_col=None,
    max_len=None,
    frame_step=None,
    missing="raise",
):
    """Turn a per-frame table into whole sequences with per-frame labels, one group each.

    The per-frame counterpart of :func:`frames_to_windows`, for
    :class:`~sktorchcw.LSTMBlinkTagger`: each group (video) becomes one sequence in
    frame order, split where frames are missing and, optionally, cut into chunks of
    at most ``max_len`` frames. Every frame of the table lands in exactly one
    sequence.

    Parameters
    ----------
    frames : pandas.DataFrame
        One row per frame: a group (video or subject) column, feature columns, a
        per-frame label column and, optionally, a frame-index column. Not modified.
    feature_cols : str or list of str
        The numeric columns that become the features, in this order.
    label_col : str
        The per-frame label column (e.g. 0/1 for "blinking in this frame"); labels of
        any type (ints, strings, bools) come back as given.
    group_col : str
        The column identifying each video; a sequence never crosses two groups.
    order_col : str, default=None
        The frame number (integers) or time stamp (numbers, datetimes or timedeltas,
        with ``frame_step``) of each frame. The frames are sorted by it within each
        group, a gap in it starts a new sequence, and two rows of a group with the
        same value are an error (as in :func:`frames_to_windows`). ``None`` keeps the
        table's row order and takes the rows of a group as consecutive frames.
    max_len : int, default=None
        Longest sequence, in frames, at least 1: longer runs of consecutive frames
        are cut into chunks of ``max_len`` frames, the last chunk of a run holding
        what is left (``1`` to ``max_len`` frames). ``None`` keeps each run whole.
    frame_step : int, float, timedelta or str, default=None
        The difference in ``order_col`` between two consecutive frames, as in
        :func:`frames_to_windows`: ``None`` means 1 and works only for an integer
        ``order_col``; a number for float columns (e.g. ``1 / 30`` for seconds at 30
        fps), a time for datetime and timedelta columns (e.g. ``"40ms"``). Needs
        ``order_col``.
    missing : {'raise', 'mask'}, default='raise'
        Frames whose features hold NaN (a tracker that lost the face): ``'raise'``
        refuses them, naming the first row; ``'mask'`` keeps them, NaN and all, in
        their sequences, for an estimator fitted with ``missing='mask'``, which reads
        them as missing frames. Their labels are kept as given (any value; the
        estimator never reads them). Infinity is refused either way.

    Returns
    -------
    X : list of ndarrays of shape (T_i, n_features), dtype float32
        The sequences' features, frame by frame.
    y : list of ndarrays of shape (T_i,)
        The sequences' frame labels, in the label column's dtype.
    groups : ndarray of shape (n_sequences,)
        The group of each sequence, to pass to
        :class:`sklearn.model_selection.GroupKFold` so that a video's sequences stay
        on one side of each split.

    Raises
    ------
    TypeError
        For ``frames`` not a DataFrame, a non-numeric feature column, a non-integer
        ``max_len``, an ``order_col`` that holds neither numbers nor times, or a
        ``frame_step`` of the wrong kind for it.
    ValueError
        For an empty table, a missing column, NaN (with ``missing='raise'``) or
        infinite features (naming the first such row), NaN labels, groups or orders,
        ``max_len`` below 1, two rows
        of a group with the same ``order_col`` value, or a ``frame_step`` that is
        not positive, missing (for a non-integer ``order_col``) or given without
        ``order_col``.

    See Also
    --------
    frames_to_windows : fixed-length windows with one label each.
    make_blink_recordings : generated recordings with per-frame labels.

    Notes
    -----
    Within a group, two frames are consecutive when their ``order_col`` values
    differ by at most ``1.5 * frame_step`` (for frame numbers, by exactly 1); a
    larger difference is a gap, where the sequence ends and the next one starts.
    Sequences come out group by group, in the order of each group's first row in
    ``frames``, then in frame order: concatenating a group's sequences gives back
    its rows, sorted by ``order_col``. A run of ``n`` consecutive frames gives
    ``ceil(n / max_len)`` sequences, all of ``max_len`` frames but the last.

    Examples
    --------
    >>> from sktorchcw.datasets import frames_to_sequences, make_blink_dataset
    >>> frames = make_blink_dataset(40, prevalence=0.1, return_frames=True, random_state=0)
    >>> frames.shape, frames["video"].nunique()
    ((2400, 5), 4)
    >>> X, y, groups = frames_to_sequences(
    ...     frames, feature_cols=["ear_left", "ear_right"], label_col="blink",
    ...     group_col="video", order_col="frame", max_len=250)
    >>> len(X), X[0].shape, X[0].dtype, y[0].shape
    (12, (250, 2), dtype('float32'), (250,))
    >>> [len(x) for x in X[:3]], groups[:4].tolist()
    ([250, 250, 100], [0, 0, 0, 1])

    A gap in the frame numbers starts a new sequence; labels come back as given:

    >>> import pandas as pd
    >>> frames = pd.DataFrame({
    ...     "video": ["a"] * 5 + ["b"] * 2, "frame": [0, 1, 2, 5, 6, 0, 1],
    ...     "ear": [0.25, 0.125, 0.25, 0.25, 0.25, 0.125, 0.25],
    ...     "state": ["open", "blink", "open", "open", "open", "blink", "open"],
    ... })
    >>> X, y, groups = frames_to_sequences(
    ...     frames, feature_cols="ear", label_col="state", group_col="video",
    ...     order_col="frame")
    >>> [x[:, 0].tolist() for x in X]
    [[0.25, 0.125, 0.25], [0.25, 0.25], [0.125, 0.25]]
    >>> [labels.tolist() for labels in y], groups.tolist()
    ([['open', 'blink', 'open'], ['open', 'open'], ['blink', 'open']], ['a', 'a', 'b'])
    """
    feature_cols = _check_frames(frames, feature_cols, label_col, group_col, order_col,
                                 missing=missing)
    if max_len is not None:
        _check_integer("max_len", max_len, minimum=1)
    frame_step = _check_frame_step(frames, order_col, frame_step)
    if len(frames) == 0:
        raise ValueError("frames has no rows; a sequence needs at least one frame.")
    group_codes, group_ids = pd.factorize(frames[group_col], sort=False)
    row_order, run_starts, run_lengths = _sorted_runs(
        frames, group_codes, group_col, order_col, frame_step
    )
    starts, lengths = _chunks(run_starts, run_lengths, max_len)
    # The chunks tile the sorted rows, so splitting at their ends cuts out every sequence.
    ends = (starts + lengths)[:-1]
    features = frames[feature_cols].to_numpy(dtype=np.float32)[row_order]
    labels = frames[label_col].to_numpy()[row_order]
    X = np.split(features, ends)
    y = np.split(labels, ends)
    groups = np.asarray(group_ids.take(group_codes[row_order[starts]]))
    return X, y, groups


def _chunks(run_starts, run_lengths, max_len):
    """Start and length of every chunk of at most ``max_len`` frames, run after run."""
    if max_len is None:
        return run_starts, run_lengths
    per_run = -(-run_lengths // max_len)
    first_chunk_of_run = np.cumsum(per_run) - per_run
    chunk_in_run = np.arange(per_run.sum()) - np.repeat(first_chunk_of_run, per_run)
    offset = max_len * chunk_in_run
    starts = np.repeat(run_starts, per_run) + offset
    lengths = np.minimum(np.repeat(run_lengths, per_run) - offset, max_len)
    return starts, lengths


def _check_frames(frames, feature_cols, label_col, group_col, order_col, missing="raise"):
    """Validate the table and its columns; return ``feature_cols`` as a list."""
    if missing not in ("raise", "mask"):
        raise ValueError(f"missing must be 'raise' or 'mask'; got {missing!r}.")
    if not isinstance(frames, pd.DataFrame):
        raise TypeError(
            f"frames must be a pandas DataFrame (one row per frame); got {type(frames).__name__}."
        )
    feature_cols = [feature_cols] if isinstance(feature_cols, str) else list(feature_cols)
    if not feature_cols:
        raise ValueError("feature_cols is empty; name at least one feature column.")
    needed = [*feature_cols, label_col, group_col] + ([] if order_col is None else [order_col])
    absent = [name for name in needed if name not in frames.columns]
    if absent:
        raise ValueError(
            f"frames has no column(s) {absent}; its columns are {list(frames.columns)}."
        )
    non_numeric = [name for name in feature_cols if not pd.api.types.is_numeric_dtype(frames[name])]
    if non_numeric:
        raise TypeError(f"feature columns must be numeric; {non_numeric} are not.")
    values = frames[feature_cols].to_numpy(dtype=np.float64)
    finite = ~np.isinf(values) if missing == "mask" else np.isfinite(values)
    if not finite.all():
        not_finite = [name for name, ok in zip(feature_cols, finite.all(axis=0), strict=True)
                      if not ok]
        row = int(np.argmin(finite.all(axis=1)))
        raise ValueError(
            f"feature column(s) {not_finite} hold NaN or infinite values, first in row "
            f"{row} (index {_plain(frames.index[row])!r}: "
            f"{', '.join(f'{name}={_plain(frames[name].iloc[row])!r}' for name in not_finite)}"
            "); fill or drop those frames first (e.g. frames.interpolate() or "
            "frames.dropna())"
            + (", or pass missing='mask' to keep NaN frames for an estimator fitted with "
               "missing='mask'." if missing == "raise" else ".")
        )
    float32_max = np.finfo(np.float32).max
    too_large = [name for name in feature_cols
                 if (np.abs(frames[name].to_numpy(dtype=np.float64)) > float32_max).any()]
    if too_large:
        raise ValueError(
            f"feature column(s) {too_large} hold values beyond float32's range "
            f"(+-{float32_max:.3g}), which the windows are made of; rescale them first."
        )
    roles = [("label_col", label_col), ("group_col", group_col), ("order_col", order_col)]
    for role, name in roles:
        if name is not None and frames[name].isna().any():
            raise ValueError(f"{role} column {name!r} holds NaN; every frame needs a value.")
    return feature_cols


def _check_window_and_stride(window, stride):
    _check_integer("window", window, minimum=1)
    if stride is None:
        return window, window
    _check_integer("stride", stride, minimum=1)
    return window, stride


def _check_label_rule(label_rule):
    if callable(label_rule):
        return label_rule
    if not isinstance(label_rule, str):
        raise TypeError(
            f"label_rule must be one of {list(_LABEL_RULES)} or a callable; "
            f"got {type(label_rule).__name__}."
        )
    if label_rule not in _LABEL_RULES:
        raise ValueError(
            f"label_rule={label_rule!r} is unknown; use one of {list(_LABEL_RULES)} or a "
            "callable taking a window's frame labels."
        )
    return label_rule


def _check_center_fraction(center_fraction):
    _check_real("center_fraction", center_fraction)
    if not 0 < center_fraction <= 1:
        raise ValueError(
            f"center_fraction={center_fraction!r} must lie in (0, 1] (0.5 is the "
            "middle half of the window)."
        )


def _check_frame_step(frames, order_col, frame_step):
    """``frame_step`` checked against ``order_col``'s dtype: a positive number or time."""
    if order_col is None:
        if frame_step is not None:
            raise ValueError(
                f"frame_step={frame_step!r} needs order_col, the column it is a step of; "
                "name the frame-number or time column with order_col=..."
            )
        return None
    dtype = frames[order_col].dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return _time_step(order_col, dtype, frame_step)
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise TypeError(
            f"order_col {order_col!r} holds {dtype} values; it must hold frame numbers "
            "(integers), numeric time stamps or datetimes, which give the frame order and "
            f"show the gaps. Convert it, e.g. frames[{order_col!r}].astype(int)."
        )
    return _number_step(order_col, dtype, frame_step)


def _number_step(order_col, dtype, frame_step):
    if frame_step is None:
        if pd.api.types.is_integer_dtype(dtype):
            return 1
        raise ValueError(
            f"order_col {order_col!r} holds {dtype} values, not integer frame numbers, so "
            "the step between frames is unknown; pass frame_step (e.g. frame_step=1 / 30 "
            "for seconds at 30 fps, or frame_step=1 for frame numbers stored as floats)."
        )
    if isinstance(frame_step, bool | np.timedelta64) or not isinstance(frame_step, numbers.Real):
        raise TypeError(
            f"order_col {order_col!r} holds numbers, so frame_step must be a number; got "
            f"{frame_step!r} of type {type(frame_step).__name__}."
        )
    if not (math.isfinite(frame_step) and float(frame_step) > 0):
        raise ValueError(f"frame_step={frame_step!r} must be a positive, finite number.")
    return frame_step


def _time_step(order_col, dtype, frame_step):
    example = "e.g. frame_step=pd.Timedelta(milliseconds=40) or frame_step='40ms'"
    if frame_step is None:
        raise ValueError(
            f"order_col {order_col!r} holds {dtype} values, so the step between frames is "
            f"unknown; pass frame_step, the time from one frame to the next ({example})."
        )
    if isinstance(frame_step, numbers.Number) and not isinstance(frame_step, np.timedelta64):
        raise TypeError(
            f"order_col {order_col!r} holds times, so frame_step must be a time, not the "
            f"number {frame_step!r}; {example}."
        )
    try:
        step = pd.Timedelta(frame_step)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"frame_step={frame_step!r} is not a time for the {dtype} column {order_col!r}; "
            f"{example}."
        ) from exc
    if pd.isna(step) or step <= pd.Timedelta(0):
        raise ValueError(f"frame_step={frame_step!r} must be a positive time.")
    return step


def _sorted_runs(frames, group_codes, group_col, order_col, frame_step):
    """The rows sorted by group then order, and the runs of consecutive frames in them.

    Returns ``row_order`` (row positions) and the start (in sorted-row positions) and
    length of each run; duplicate frames are refused (see
    :func:`_runs_of_consecutive_frames`).
    """
    row_order = _rows_by_group(frames, group_codes, order_col)
    run_starts, run_lengths = _runs_of_consecutive_frames(
        frames, group_codes[row_order], row_order, (group_col, order_col), frame_step
    )
    return row_order, run_starts, run_lengths


def _rows_by_group(frames, group_codes, order_col):
    """Row positions sorted by group (first-appearance order), then by ``order_col``."""
    if order_col is None:
        return np.argsort(group_codes, kind="stable")
    # Ranks give lexsort a numeric key for any sortable column (ints, floats, dates).
    order_rank = frames[order_col].rank(method="first").to_numpy()
    return np.lexsort((order_rank, group_codes))


def _check_some_window_fits(group_sizes, window):
    longest = int(group_sizes.max()) if len(group_sizes) else 0
    if longest < window:
        raise ValueError(
            f"no window of {window} frames fits: the longest group has {longest} frames. "
            "Use a smaller window, or check group_col."
        )


def _runs_of_consecutive_frames(frames, sorted_codes, row_order, columns, frame_step):
    """Start and length of each run of consecutive frames, in sorted-row positions.

    ``sorted_codes`` are the group codes of the rows in sorted order (``row_order``) and
    ``columns`` the ``(group_col, order_col)`` names. A run ends where its group does and,
    with an ``order_col``, at a gap; two rows of a group for one frame are refused.
    """
    n_rows = len(sorted_codes)
    same_group = np.zeros(n_rows, dtype=bool)
    same_group[1:] = sorted_codes[1:] == sorted_codes[:-1]
    breaks = ~same_group
    order_col = columns[1]
    if order_col is not None:
        steps = frames[order_col].iloc[row_order].diff()
        duplicate = same_group & (steps == frame_step * 0).to_numpy(dtype=bool, na_value=False)
        if duplicate.any():
            row = row_order[int(np.argmax(duplicate))]
            _raise_duplicate_frame(frames, row, columns)
        gap = (steps > 1.5 * frame_step).to_numpy(dtype=bool, na_value=False)
        breaks |= same_group & gap
    run_starts = np.flatnonzero(breaks)
    run_lengths = np.diff(np.append(run_starts, n_rows))
    return run_starts, run_lengths


def _raise_duplicate_frame(frames, row, columns):
    group_col, order_col = columns
    group, order = (_plain(frames[name].iloc[row]) for name in columns)
    raise ValueError(
        f"frames has more than one row for {group_col}={group!r} at {order_col}={order!r}; "
        "each frame of a group needs exactly one row. Drop or merge the duplicates first, "
        f"e.g. frames.drop_duplicates(subset=[{group_col!r}, {order_col!r}])."
    )


def _plain(value):
    """A numpy scalar as the Python value it holds, for messages."""
    return value.item() if isinstance(value, np.generic) else value


def _check_some_run_fits(run_lengths, group_sizes, window, order_col):
    longest_run = int(run_lengths.max())
    if longest_run < window:
        raise ValueError(
            f"no window of {window} frames fits without spanning a gap: the longest group "
            f"has {int(group_sizes.max())} frames but the longest run of consecutive frames "
            f"(by {order_col!r}) has {longest_run}. Use a smaller window, fill the missing "
            "frames (e.g. reindex and interpolate), or check frame_step."
        )


def _window_starts(run_starts, run_lengths, window, stride):
    """Sorted-row position of the first frame of every window, run after run."""
    per_run = np.where(run_lengths >= window, (run_lengths - window) // stride + 1, 0)
    first_window_of_run = np.cumsum(per_run) - per_run
    window_in_run = np.arange(per_run.sum()) - np.repeat(first_window_of_run, per_run)
    return np.repeat(run_starts, per_run) + stride * window_in_run


def _windows_at(values, starts, window):
    """The windows of ``values`` (sorted rows) starting at ``starts``, frames on axis 1."""
    windows = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)[starts]
    # sliding_window_view puts the window axis last; move it next to the window index.
    return np.moveaxis(windows, -1, 1)


def _window_labels(label_windows, label_rule, center_fraction):
    """The label of each window by the rule; for 'center' and 'any', the frames the
    rule looks at (the central part, or all), for the chooser to reduce."""
    if callable(label_rule):
        return np.asarray([label_rule(labels) for labels in label_windows])
    if label_rule == "last":
        return label_windows[:, -1].copy()
    if label_rule == "center":
        window = label_windows.shape[1]
        n_central = max(1, math.ceil(center_fraction * window - 1e-9))
        first = (window - n_central) // 2
        label_windows = label_windows[:, first : first + n_central]
    return label_windows


def _label_chooser(labels, label_col, label_rule, positive):
    """The label column's values to cut windows from, and the function that turns what
    :func:`_window_labels` returns into the windows' labels.

    'last' and callables cut the labels themselves. 'center' and 'any' reduce each
    window's frames: to ``positive`` when one is there, else to the most common label
    (ties to the smallest code: the label that sorts first, the first category); without
    ``positive``, to the largest label, where the labels have an order that puts the
    event last (numbers, bools, an ordered Categorical).
    """
    categorical = isinstance(labels.dtype, pd.CategoricalDtype)
    if positive is not None:
        _check_positive_label(labels, label_col, positive, categorical)
    if callable(label_rule) or label_rule == "last":
        return labels.to_numpy(), _unchanged
    if categorical and (positive is not None or labels.cat.ordered):
        codes = labels.cat.codes.to_numpy()
        uniques = labels.cat.categories.to_numpy()
        if positive is None:
            return codes, _largest_of(uniques)
        return codes, _event_or_most_common(uniques, labels.cat.categories.get_loc(positive))
    if positive is not None:
        codes, uniques = _sorted_codes(labels.to_numpy())
        position = int(np.flatnonzero(_equals(uniques, positive))[0])
        return codes, _event_or_most_common(uniques, position)
    if not categorical and _holds_numbers(labels):
        return labels.to_numpy(), _largest
    present = labels.unique()
    if len(present) > 1:
        _raise_labels_without_order(label_col, label_rule, present, categorical)
    return labels.to_numpy(), _largest


def _unchanged(window_labels):
    return window_labels


def _largest(label_windows):
    return label_windows.max(axis=1)


def _largest_of(uniques):
    def choose(code_windows):
        return uniques[code_windows.max(axis=1)]

    return choose


def _event_or_most_common(uniques, positive_code):
    def choose(code_windows):
        n_windows, n_codes = len(code_windows), len(uniques)
        has_event = (code_windows == positive_code).any(axis=1)
        # Counts of each code per window: one bincount over codes offset per window.
        offsets = n_codes * np.arange(n_windows)[:, None]
        counts = np.bincount((code_windows + offsets).ravel(), minlength=n_windows * n_codes)
        counts = counts.reshape(n_windows, n_codes)
        counts[:, positive_code] = -1
        return uniques[np.where(has_event, positive_code, counts.argmax(axis=1))]

    return choose


def _sorted_codes(values):
    """Codes of ``values`` into their distinct values, sorted where they can be."""
    try:
        return pd.factorize(values, sort=True)
    except TypeError:  # labels of types that do not compare: first-appearance order
        return pd.factorize(values, sort=False)


def _equals(values, label):
    """``values == label`` element by element, False for values of another type."""
    equal = np.asarray(values) == label
    if np.ndim(equal) == 0:  # a comparison numpy could not make element-wise
        return np.zeros(np.shape(values), dtype=bool)
    return equal.astype(bool, copy=False)


def _holds_numbers(labels):
    dtype = labels.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return True
    kind = pd.api.types.infer_dtype(labels, skipna=True)
    return kind in ("integer", "floating", "boolean", "mixed-integer-float", "decimal")


def _label_list(values, most=10):
    """Distinct labels as plain values, sorted where they can be, for messages."""
    values = [_plain(value) for value in values]
    try:
        values = sorted(values)
    except TypeError:
        pass
    return values if len(values) <= most else [*values[:most], "..."]


def _check_positive_label(labels, label_col, positive, categorical):
    if categorical:
        if positive in labels.cat.categories:
            return
        raise ValueError(
            f"positive={positive!r} is not a category of label_col {label_col!r}: "
            f"{_label_list(labels.cat.categories)}. Name the event label, one of those "
            "(e.g. positive='blink'), or add it to the categories."
        )
    if _equals(labels.to_numpy(), positive).any():
        return
    raise ValueError(
        f"positive={positive!r} is not among the labels of label_col {label_col!r}: "
        f"{_label_list(labels.unique())}. Name the event label, one of those (e.g. "
        "positive='blink'); to name a label absent from these frames, make the column a "
        "Categorical that lists it."
    )


def _raise_labels_without_order(label_col, label_rule, present, categorical):
    kind = "an unordered Categorical of the labels" if categorical else "the labels"
    raise ValueError(
        f"label_rule={label_rule!r} needs to know which label is the event, but label_col "
        f"{label_col!r} holds {kind} {_label_list(present)}, whose order does not tell "
        "(the largest is not necessarily the event: 'open' sorts after 'blink'). Name the "
        "event label with positive=, e.g. positive='blink', or make the column an ordered "
        "Categorical whose last category is the event."
    )
