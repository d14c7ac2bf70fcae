"""Whole recordings of eye aspect ratio, labelled frame by frame:
:func:`make_blink_recordings`."""

from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ._recording_checks import (
    _check_recording_arguments,
    _event_frames,
    _refractory_frames,
)
from ._simulation import (
    _ADD_EVENT,
    _BLINK_SHAPE,
    _EVENT_KINDS,
    _HARD_NEGATIVE_KINDS,
    _add_noise,
    _open_eye_signal,
)
from ._subjects import _draw_subjects, _Subject, _subject_open_eye_signal

_NO_FACE = len(_EVENT_KINDS)  # the event code of a run of frames without a face
_NO_FACE_S = (0.2, 1.5)
_SHAPED_KINDS = ("blink", "wink")  # the events made by a subject's eyelids
_INFO_COLUMNS = ["subject", "fps", "n_frames", "label_lead", "blinks", "missing_frames"]


def make_blink_recordings(
    n_recordings,
    *,
    duration_s=None,
    n_frames=None,
    fps=30,
    blink_rate=15.0,
    hard_negative_rate=4.0,
    noise=0.02,
    subjects=None,
    label_lead=0,
    missing_runs=0,
    return_info=False,
    random_state=None,
):
    """Simulate whole recordings of left/right eye aspect ratio, labelled frame by frame.

    The per-frame counterpart of :func:`make_blink_dataset`, from the same generative
    model: blinks and blink-like distractors happen at random times over each
    recording, and every frame is labelled 1 when a blink's eyes are closing, closed
    or reopening, else 0. The data suits :class:`~sktorchcw.LSTMBlinkTagger` and
    :mod:`sktorchcw.events`.

    The defaults give clean, uniform recordings. What makes real recordings hard can be
    switched on one by one: several recordings per person, people with different
    eyes (``subjects``), mixed frame rates (an ``fps`` range), long recordings
    (``n_frames``), labels a frame or two ahead of the signal (``label_lead``) and
    stretches without a face (``missing_runs``); see the last example.

    Parameters
    ----------
    n_recordings : int
        Number of recordings, at least 1.
    duration_s : float or (float, float), default=None
        Length of each recording in seconds: a number for recordings of equal length,
        or a ``(low, high)`` pair for a length drawn uniformly in ``[low, high]`` per
        recording. A recording has ``round(duration * fps)`` frames and must hold the
        longest blink (0.40 s, plus up to two frames of onset and inter-eye lag:
        ``duration_s >= 0.5`` at 30 fps). ``None`` means 30 s, unless ``n_frames``
        is given; give at most one of the two.
    n_frames : int or (int, int), default=None
        Length of each recording in frames instead: a number, or a ``(low, high)``
        pair for a length drawn uniformly (integers) in ``[low, high]`` per
        recording, whatever its fps.
    fps : float or (float, float), default=30
        Frames per second; converts the durations of the model (in seconds) into
        frames. A ``(low, high)`` pair draws each recording's rate uniformly in
        ``[low, high]`` (e.g. ``(6, 30)`` for webcams and phones); ``return_info``
        tells the rate of each.
    blink_rate : float, default=15.0
        Mean number of blinks per minute (a resting adult blinks 10 to 20 times a
        minute, fewer at a screen); 0 gives recordings without blinks. With
        ``subjects``, each person blinks at 0.7 to 1.3 times this rate.
    hard_negative_rate : float, default=4.0
        Mean number of blink-like distractors per minute: squints, winks and
        head-motion spikes, in equal shares (see Notes).
    noise : float, default=0.02
        Standard deviation of the Gaussian noise added to every EAR value. With
        ``subjects``, each person's noise is 0.75 to 1.5 times this.
    subjects : int, default=None
        Number of people, from 1 to ``n_recordings``: the recordings are dealt out
        among them at random, each person getting ``n_recordings // subjects`` or one
        more, and a person's recordings share their eyes (open-eye level, blink depth
        and speed, blink rate, noise; see Notes). A third output, ``groups``, then
        tells whose each recording is. ``None``: every recording is of a new person,
        drawn as by :func:`make_blink_dataset`, and only ``X, y`` are returned.
    label_lead : int or (int, int), default=0
        Frames by which the labels lead the signal (an annotation offset): each
        blink's labels start and end this many frames before its eyes do. A
        ``(low, high)`` pair draws each recording's lead uniformly (integers) in
        ``[low, high]``. At most the refractory gap (``ceil(0.5 * fps)`` frames at the
        lowest fps), so that labels never reach back to the previous event.
    missing_runs : int or (int, int), default=0
        Runs of frames without a face per recording (a number, or a ``(low, high)``
        pair drawn uniformly per recording): both eyes' EAR is NaN there, for 0.2 to
        1.5 s each, and the labels are 0. Fit an estimator with ``missing='mask'`` on
        such data.
    return_info : bool, default=False
        If True, also return a table with a row per recording (see Returns).
    random_state : None, int or numpy.random.RandomState, default=None
        Seed or generator, as :func:`sklearn.utils.check_random_state` accepts;
        the same seed gives identical recordings.

    Returns
    -------
    X : list of n_recordings ndarrays of shape (T_i, 2), dtype float32
        EAR of the left (``[:, 0]``) and right (``[:, 1]``) eye in each frame, NaN in
        the frames without a face.
    y : list of n_recordings ndarrays of shape (T_i,), dtype int64
        1 on the frames where a blink's eyes are closing, closed or reopening (in
        either eye; ``label_lead`` frames earlier with a lead), else 0, as
        ``make_blink_dataset(return_frames=True)`` labels frames.
        :func:`sktorchcw.events.frames_to_events` turns them into one
        ``(start, stop)`` interval per blink.
    groups : ndarray of shape (n_recordings,), dtype int64
        Only with ``subjects``: the person (0 to ``subjects - 1``) of each recording,
        to pass to :class:`sklearn.model_selection.GroupKFold` so that a person stays
        on one side of each split.
    info : pandas.DataFrame
        Only with ``return_info=True``, last: one row per recording, with columns
        ``subject`` (its person, or its own index without ``subjects``), ``fps``,
        ``n_frames``, ``label_lead``, ``blinks`` (their number) and
        ``missing_frames`` (the number of NaN frames).

    Raises
    ------
    TypeError
        For a non-integer ``n_recordings``, ``subjects``, ``label_lead`` or
        ``missing_runs``, a non-numeric argument, or a ``duration_s``, ``n_frames`` or
        ``fps`` that is neither a number nor a pair of numbers.
    ValueError
        For an argument out of its range, both ``duration_s`` and ``n_frames``,
        more subjects than recordings, recordings too short for a blink, a
        ``label_lead`` beyond the refractory gap, or rates too high for the events to
        fit (see Notes).

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
    whose events would fill more than three quarters of the time on average (at the
    lowest fps, for the fastest-blinking subject) are refused. Blink frames are the
    frames inside a blink, about 9 per blink at 30 fps (0.3 s), so at the defaults
    about 7.7 % of the frames are blink frames; ``blink_rate=12`` gives about 6 %.
    At low frame rates a blink covers relatively more frames (a part-frame counts as
    a whole one): about 2.7 frames, 0.45 s, at 6 fps.

    With ``subjects``, a person's eyes replace the per-recording draws above:

    - Open eyes: a level drawn uniformly in [0.22, 0.35] per person, shifted per
      recording (normal, std 0.01: camera and light), with a per-person eye offset
      (normal, std 0.01) and, besides the sinusoidal drift, a slow wander shared by
      both eyes (values of std 0.01 every 10 s, joined linearly).
    - Blinks (and winks): a depth, drawn uniformly in [0.55, 0.85] per person, puts
      the closed EAR at ``level * (1 - depth)``, give or take 0.02 per blink; a
      speed, drawn uniformly in [0.8, 1.25], scales the three phases' durations.
    - A blink rate of ``blink_rate`` times a factor drawn uniformly in [0.7, 1.3], and
      noise of ``noise`` times a factor drawn uniformly in [0.75, 1.5].

    Runs without a face (``missing_runs``) are placed like events, between them and
    with the same refractory gap, so they never hide part of a blink; they are left
    out, like events, in a recording too full for them. Every new argument left at
    its default draws nothing, so the defaults give the recordings they always did.

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

    Harder, more realistic recordings: 10 people with 4 recordings each, of 1,000 to
    16,000 frames at 6 to 30 fps, labels up to 2 frames early and a few stretches
    without a face; ``groups`` keeps each person on one side of a split:

    >>> X, y, groups, info = make_blink_recordings(
    ...     40, subjects=10, n_frames=(1000, 16000), fps=(6, 30), blink_rate=9,
    ...     label_lead=(0, 2), missing_runs=(1, 4), return_info=True, random_state=0)
    >>> len(X), np.bincount(groups).tolist()
    (40, [4, 4, 4, 4, 4, 4, 4, 4, 4, 4])
    >>> info.round(1).head(3)
       subject   fps  n_frames  label_lead  blinks  missing_frames
    0        6  24.7      3732           2      17              28
    1        8   8.8     11799           0     246              17
    2        6  21.4     10845           1      88              24
    >>> round(float(np.concatenate(y).mean()), 3)  # the share of blink frames
    0.046
    >>> int(np.isnan(X[0][:, 0]).sum())  # frames without a face
    28
    >>> from sklearn.model_selection import GroupKFold
    >>> train, test = next(GroupKFold(n_splits=5).split(X, y, groups))
    >>> set(groups[train]) & set(groups[test])
    set()
    """
    spec = _check_recording_arguments(
        n_recordings, duration_s=duration_s, n_frames=n_frames, fps=fps,
        blink_rate=blink_rate, hard_negative_rate=hard_negative_rate, noise=noise,
        subjects=subjects, label_lead=label_lead, missing_runs=missing_runs,
    )
    _check_return_info(return_info)
    rng = check_random_state(random_state)
    plans = _plan_recordings(rng, spec)
    X, y, blinks, missing = [], [], [], []
    for plan in plans:
        ear, blink_frames, no_face, n_blinks = _simulate_recording(rng, plan, spec)
        X.append(_observed(rng, ear, no_face, plan.noise))
        y.append(_leading_labels(blink_frames, plan.lead))
        blinks.append(n_blinks)
        missing.append(int(no_face.sum()))
    outputs: list = [X, y]
    if spec.subjects is not None:
        outputs.append(np.array([plan.subject for plan in plans], dtype=np.int64))
    if return_info:
        outputs.append(_info_table(plans, blinks, missing))
    return tuple(outputs)


def _check_return_info(return_info):
    if not isinstance(return_info, (bool, np.bool_)):
        raise TypeError(
            f"return_info must be True or False; got {return_info!r} of type "
            f"{type(return_info).__name__}."
        )


class _Plan(NamedTuple):
    """What one recording is drawn from, fixed before any of it is simulated."""

    n_frames: int
    fps: float
    subject: int
    profile: _Subject | None  # the person's eyes; None: drawn for this recording alone
    lead: int
    missing_runs: int
    noise: float


def _plan_recordings(rng, spec):
    """Length, fps, subject, label lead and number of no-face runs of each recording.

    Only the ranges that are not single values draw from ``rng``, so that the defaults
    draw what they always did: the durations alone.
    """
    n = spec.n_recordings
    if spec.length_name == "duration_s":
        durations = rng.uniform(*spec.length, size=n)
        fps = _uniform(rng, spec.fps, n)
        n_frames = np.rint(durations * fps).astype(np.int64)
    else:
        n_frames = _integers(rng, spec.length, n)
        fps = _uniform(rng, spec.fps, n)
    if spec.subjects is None:
        subject_of, profiles = np.arange(n), [None] * n
    else:
        subject_of = rng.permutation(np.arange(n) % spec.subjects)
        people = _draw_subjects(rng, spec.subjects)
        profiles = [people[subject] for subject in subject_of]
    leads = _integers(rng, spec.label_lead, n)
    runs = _integers(rng, spec.missing_runs, n)
    return [
        _Plan(int(n_frames[i]), float(fps[i]), int(subject_of[i]), profiles[i],
              int(leads[i]), int(runs[i]), _noise_of(spec.noise, profiles[i]))
        for i in range(n)
    ]


def _noise_of(noise, profile):
    return noise if profile is None else noise * profile.noise_factor


def _uniform(rng, value_range, n):
    low, high = value_range
    return np.full(n, low) if low == high else rng.uniform(low, high, size=n)


def _integers(rng, value_range, n):
    low, high = value_range
    if low == high:
        return np.full(n, low, dtype=np.int64)
    return rng.randint(low, high + 1, size=n)


def _simulate_recording(rng, plan, spec):
    """Noise-free EAR (n_frames, 2) of one recording, its blink-frame and no-face masks,
    and its number of blinks."""
    fps = plan.fps
    times = np.arange(plan.n_frames) / fps
    if plan.profile is None:
        ear = _open_eye_signal(rng, 1, times)[0]
        shape, blink_rate = _BLINK_SHAPE, spec.blink_rate
    else:
        ear = _subject_open_eye_signal(rng, times, plan.profile)
        shape = plan.profile.shape
        blink_rate = spec.blink_rate * plan.profile.blink_rate_factor
    minutes = plan.n_frames / fps / 60
    codes, slots = _draw_events(rng, minutes, fps, (blink_rate, spec.hard_negative_rate),
                                shape, plan.missing_runs)
    # The first ``lead`` frames stay free, so that leading labels are never cut off.
    starts = _place_events(rng, plan.n_frames - plan.lead, slots, fps) + plan.lead
    codes, slots = codes[: len(starts)], slots[: len(starts)]
    blink_frames = _add_events(rng, ear, starts, codes, fps, shape)
    no_face = _no_face_frames(plan.n_frames, starts[codes == _NO_FACE],
                              slots[codes == _NO_FACE])
    return ear, blink_frames, no_face, int(np.sum(codes == 0))


def _draw_events(rng, minutes, fps, rates, shape, n_no_face):
    """The events of a recording, in a random order: their codes and slots (frames).

    Codes index ``_EVENT_KINDS`` (0 for a blink, then the hard-negative kinds), or are
    ``_NO_FACE`` for a run of frames without a face.
    """
    blink_rate, hard_negative_rate = rates
    n_blinks = rng.poisson(blink_rate * minutes)
    n_hard = rng.poisson(hard_negative_rate * minutes)
    hard = 1 + rng.randint(0, len(_HARD_NEGATIVE_KINDS), size=n_hard)
    no_face = np.full(n_no_face, _NO_FACE, dtype=np.int64)
    codes = rng.permutation(np.concatenate([np.zeros(n_blinks, dtype=np.int64), hard, no_face]))
    slots = _slot_frames(fps, shape)[codes]
    if n_no_face:
        no_face_s = rng.uniform(*_NO_FACE_S, size=n_no_face)
        slots[codes == _NO_FACE] = np.maximum(1, np.rint(no_face_s * fps)).astype(np.int64)
    return codes, slots


def _slot_frames(fps, shape):
    """The slot of each event code, in frames (that of _NO_FACE is drawn per run)."""
    return np.array([_event_frames(kind, fps, shape) for kind in _EVENT_KINDS] + [0])


def _place_events(rng, n_frames, slot_frames, fps):
    """Start frames of the slots of the events that fit: the first ``len(starts)``.

    The events keep their order, each slot followed by a refractory gap; those past
    the first that does not fit are dropped. The free frames are spread at random
    between them: sorted uniform offsets (the spacings of uniform order statistics).
    """
    gap = _refractory_frames(fps)
    taken = slot_frames + gap
    taken = taken[np.cumsum(taken) - gap <= n_frames]
    free = n_frames - (taken.sum() - gap) if len(taken) else n_frames
    offsets = np.sort(rng.randint(0, free + 1, size=len(taken)))
    return offsets + np.cumsum(taken) - taken


def _add_events(rng, ear, starts, codes, fps, shape):
    """Add the events to ``ear`` (n_frames, 2) in place; return the blink-frame mask."""
    slot_frames = _slot_frames(fps, shape)
    blink_frames = np.zeros(len(ear), dtype=bool)
    for code, kind in enumerate(_EVENT_KINDS):
        first = starts[codes == code]
        if len(first) == 0:
            continue
        slot = first[:, None] + np.arange(slot_frames[code])
        segments = ear[slot]  # (n_events, slot frames, 2), a copy
        onset = rng.uniform(0.0, 1.0 / fps, size=len(first))
        extra = {"shape": shape} if kind in _SHAPED_KINDS else {}
        closed = _ADD_EVENT[kind](rng, segments, np.arange(len(first)),
                                  np.arange(slot_frames[code]) / fps, fps, onset=onset,
                                  **extra)
        ear[slot] = segments  # slots never overlap
        if kind == "blink":
            blink_frames[slot] = closed
    return blink_frames


def _no_face_frames(n_frames, starts, lengths):
    mask = np.zeros(n_frames, dtype=bool)
    for start, length in zip(starts, lengths, strict=True):
        mask[start : start + length] = True
    return mask


def _observed(rng, ear, no_face, noise):
    """The EAR as a tracker sees it: noisy, float32, NaN where there is no face."""
    ear = _add_noise(rng, ear, noise)
    ear[no_face] = np.nan
    return ear


def _leading_labels(blink_frames, lead):
    """Blink-frame labels, ``lead`` frames ahead of the signal."""
    labels = blink_frames.astype(np.int64)
    if lead == 0:
        return labels
    return np.concatenate([labels[lead:], np.zeros(lead, dtype=np.int64)])


def _info_table(plans, blinks, missing):
    return pd.DataFrame(
        {
            "subject": np.array([plan.subject for plan in plans], dtype=np.int64),
            "fps": np.array([plan.fps for plan in plans], dtype=np.float64),
            "n_frames": np.array([plan.n_frames for plan in plans], dtype=np.int64),
            "label_lead": np.array([plan.lead for plan in plans], dtype=np.int64),
            "blinks": np.array(blinks, dtype=np.int64),
            "missing_frames": np.array(missing, dtype=np.int64),
        },
        columns=_INFO_COLUMNS,
    )
