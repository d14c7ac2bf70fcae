"""Per-frame tables cut into windows (:func:`frames_to_windows`) or whole sequences
(:func:`frames_to_sequences`), with one group per window or sequence."""

import math
import numbers

import numpy as np
import pandas as pd

from ._checks import _check_integer, _check_real

_LABEL_RULES = ("center", "any", "last")


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
