"""Windows of eye aspect ratio with one label each: :func:`make_blink_dataset`."""

import math

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ._checks import _check_integer, _check_real
from ._simulation import (
    _ADD_EVENT,
    _HARD_NEGATIVE_KINDS,
    _LONGEST_BLINK_S,
    _add_blinks,
    _add_noise,
    _open_eye_signal,
)

_WINDOWS_PER_VIDEO = 10
_FRAME_COLUMNS = ["video", "frame", "ear_left", "ear_right", "blink"]


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


def _draw_labels(rng, n_samples, prevalence):
    n_positive = min(max(round(prevalence * n_samples), 1), n_samples - 1)
    y = np.zeros(n_samples, dtype=np.int64)
    y[rng.permutation(n_samples)[:n_positive]] = 1
    return y


def _add_hard_negatives(rng, ear, negatives, times, fps, rate):
    n_hard = round(rate * len(negatives))
    chosen = rng.permutation(negatives)[:n_hard]
    kinds = rng.randint(0, len(_HARD_NEGATIVE_KINDS), size=n_hard)
    for code, kind in enumerate(_HARD_NEGATIVE_KINDS):
        _ADD_EVENT[kind](rng, ear, chosen[kinds == code], times, fps)


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
