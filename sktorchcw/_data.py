"""Check user input and hold it as float32 sequences: arrays as given, collections of
sequences as one frame buffer with offsets and lengths.

Accepted X:

- 2-D array or DataFrame ``(n_samples, n_timesteps)``: univariate sequences, one
  column per time step (layout ``"columns"``; scikit-learn's feature checks apply);
- 3-D array ``(n_samples, n_timesteps, n_features)`` (layout ``"sequences"``);
- a list (or 1-D object array) of ``(T_i, n_features)`` or ``(T_i,)`` NumPy arrays,
  of the same or different lengths (layout ``"sequences"``); a list of lists of one
  length is a table, as scikit-learn reads it, and of several lengths univariate
  sequences. A model fitted on a table (layout ``"columns"``) reads a list of lists of
  any lengths as univariate sequences (the table was read that way), so the layout of
  a cross-validation's training fold never decides whether its test fold can be read;
  2-D arrays and DataFrames must have the fitted columns.
"""

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils import check_array, column_or_1d
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, validate_data

__all__ = ["Sequences", "check_fit_input", "check_predict_input", "check_continued_input",
           "check_some_weight_positive", "check_sample_weight", "encode_labels",
           "check_sequences", "codes_dtype", "index_dtype", "check_label_types",
           "check_classes", "check_y_given",
           "check_weights_in_float32_range", "as_float32", "count_codes", "NEW_CLASS_HINT",
           "frame_percentiles", "median_and_iqr"]

COLUMNS = "columns"
SEQUENCES = "sequences"
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT32_LIMIT = 2**31  # index_dtype's bound (a module attribute: tests lower it)


@dataclass(frozen=True)
class Sequences:
    """Validated sequences, held as given.

    Array input: ``values`` ``(n, T, F)`` float32 (the caller's array itself when it is
    already C-contiguous float32, a memory map included) and ``lengths`` None: every
    sequence fills the T steps. A collection of sequences (``ragged``): ``values`` None
    and every sequence's frames one after the other in ``frame_buffer`` ``(n_frames, F)``,
    sequence ``i`` starting at ``offsets[i]``, with its ``lengths[i]`` frames: memory
    grows with the frames, never with the number of sequences times the longest one.
    ``missing``: ``(n_frames,)`` bool, True on the frames (in the order of :attr:`frames`)
    with a NaN feature, found once when X is checked; None when there are none (always
    with ``missing='raise'``).
    """

    values: np.ndarray | None
    lengths: np.ndarray | None
    layout: str
    ragged: bool = False
    missing: np.ndarray | None = None
    frame_buffer: np.ndarray | None = None
    offsets: np.ndarray | None = None

    @property
    def valid_lengths(self):
        """Valid steps of every sequence, also when they all fill the T steps."""
        if self.lengths is None:
            return np.full(self.n_samples, self._array.shape[1], dtype=np.int64)
        return self.lengths

    @property
    def frames(self):
        """``(n_frames, F)``: every valid frame, sequence after sequence (a view)."""
        if self.frame_buffer is not None:
            return self.frame_buffer
        return self._array.reshape(-1, self._array.shape[2])

    @property
    def frame_offsets(self):
        """``(n,)``: where each sequence starts in :attr:`frames`."""
        if self.offsets is not None:
            return self.offsets
        return np.arange(self.n_samples, dtype=np.int64) * self._array.shape[1]

    @property
    def observed(self):
        """``(n_frames,)`` bool, in the order of :attr:`frames`: True on frames without a
        missing (NaN) feature, the frames that enter the loss, the class counts and the
        scores."""
        if self.missing is None:
            return np.ones(len(self.frames), dtype=bool)
        return ~self.missing

    @property
    def has_missing(self):
        return self.missing is not None

    @property
    def n_samples(self):
        if self.values is None:
            assert self.lengths is not None
            return len(self.lengths)
        return self.values.shape[0]

    @property
    def _array(self):
        """``values``, for the properties that only array input reaches."""
        assert self.values is not None
        return self.values

    @property
    def n_features(self):
        return self.frames.shape[1]

    @property
    def longest(self):
        return int(self.valid_lengths.max()) if self.n_samples else 0


# Frames read at a time by the passes over all the data (NaN checks, statistics): the
# temporary arrays of a pass stay small whatever the size of X.
CHUNK_FRAMES = 2**18


def missing_frames(frames):
    """``(n_frames,)`` bool: rows of ``frames`` ``(n_frames, F)`` with a NaN feature, computed
    a chunk at a time."""
    missing = np.empty(len(frames), dtype=bool)
    for start in range(0, len(frames), CHUNK_FRAMES):
        missing[start:start + CHUNK_FRAMES] = np.isnan(
            frames[start:start + CHUNK_FRAMES]).any(axis=1)
    return missing


def check_fit_input(estimator, X, y, classes=None):
    """Validate training data; set ``n_features_in_`` (and ``feature_names_in_``).

    Returns the sequences, the classes in sorted order and y encoded as indices.
    ``classes`` (``partial_fit``'s argument) lists every class, also those absent from y.
    """
    check_y_given(estimator, y)
    sequences = _check_X(estimator, X, reset=True)
    classes, y_encoded = _check_target(y, sequences.n_samples, classes)
    return sequences, classes, y_encoded


NEW_CLASS_HINT = ("Fit afresh (warm_start=False) to learn new classes, or pass every class on "
                   "the first partial_fit (classes=...).")


def check_continued_input(estimator, X, y, *, hint=NEW_CLASS_HINT):
    """Validate data that continues a fitted model (warm start, ``partial_fit``, validation
    data): X as ``predict`` takes it, y encoded with the fitted ``classes_``."""
    check_y_given(estimator, y)
    sequences = _check_X(estimator, X, reset=False, fitted_layout=estimator.input_layout_)
    y = _check_labels(y, sequences.n_samples)
    return sequences, encode_labels(y, estimator.classes_, hint=hint)


def check_y_given(estimator, y):
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None."
        )


def encode_labels(y, classes, *, hint=NEW_CLASS_HINT):
    """Indices of ``y``'s labels in ``classes``, in the smallest unsigned integer type that
    holds them (:func:`codes_dtype`: one byte a label for up to 256 classes), found a
    chunk at a time; a ValueError names labels not among them."""
    y = np.asarray(y)
    try:
        unknown = np.setdiff1d(unique_labels_in_chunks(y), classes)
    except TypeError:
        unknown = np.asarray([label for label in y.tolist() if label not in classes.tolist()])
    if unknown.size:
        raise ValueError(
            f"y has labels {unknown.tolist()[:5]!r} that are not among the classes "
            f"{classes.tolist()!r}. {hint}"
        )
    return _codes_of(y, classes)


def _codes_of(y, classes):
    """The indices of ``y``'s labels, every one among the sorted ``classes``, in
    :func:`codes_dtype`, a chunk at a time."""
    codes = np.empty(y.shape, dtype=codes_dtype(len(classes)))
    for start in range(0, len(y), CHUNK_FRAMES):
        codes[start:start + CHUNK_FRAMES] = np.searchsorted(classes, y[start:start + CHUNK_FRAMES])
    return codes


def codes_dtype(n_classes):
    """The smallest unsigned integer type that holds the class codes ``0..n_classes-1``."""
    return np.min_scalar_type(max(int(n_classes) - 1, 0))


def unique_labels_in_chunks(y):
    """``np.unique(y)`` of a 1-D ``y``, a chunk at a time: ``np.unique`` sorts a copy of
    its whole input (with ``return_inverse``, several), 8 bytes and more a label."""
    parts = [np.unique(y[start:start + CHUNK_FRAMES]) for start in range(0, len(y), CHUNK_FRAMES)]
    return np.unique(np.concatenate(parts)) if parts else np.unique(y)


def check_sequences(estimator, X, *, fitted_layout=None):
    """Validate X alone: for fitting (``fitted_layout=None``; sets ``n_features_in_``) or
    against what ``fit`` saw."""
    return _check_X(estimator, X, reset=fitted_layout is None, fitted_layout=fitted_layout)


def check_predict_input(estimator, X, layout):
    """Validate data for prediction against what ``fit`` saw. Under ``missing='mask'`` a
    recording whose every frame is missing is accepted (its frames all read as the fill
    values, as ``stream()`` and the ONNX graph read them); training refuses it."""
    sequences = _check_X(estimator, X, reset=False, fitted_layout=layout, training=False)
    return sequences


def check_sample_weight(sample_weight, sequences, *, name="sample_weight"):
    """Return sample weights as float64 (None stays None), or raise ValueError."""
    if sample_weight is None:
        return None
    try:
        sample_weight = _check_sample_weight(
            sample_weight, np.empty((sequences.n_samples, 0)), dtype=np.float64,
            ensure_non_negative=True
        )
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    check_weights_in_float32_range(sample_weight, name)
    return sample_weight


def check_weights_in_float32_range(weights, name):
    if weights.size and np.abs(weights).max() > _FLOAT32_MAX:
        raise ValueError(f"{name} has values too large for float32 (above 3.4e38).")


def check_some_weight_positive(class_weight, y_encoded, sample_weight):
    """A ValueError when class and sample weights leave no target with a positive weight."""
    if sample_weight is None:  # counted, without a per-target copy
        present = count_codes(y_encoded, len(class_weight)) > 0
        positive = bool(np.any(np.asarray(class_weight)[present] > 0))
    else:  # a chunk at a time: no per-target products of the whole data
        class_weight = np.asarray(class_weight)
        positive = any(
            np.any(class_weight[y_encoded[start:start + CHUNK_FRAMES]]
                   * sample_weight[start:start + CHUNK_FRAMES] > 0)
            for start in range(0, len(y_encoded), CHUNK_FRAMES))
    if not positive:
        raise ValueError(
            "Every training sample has weight zero (class_weight[y] * sample_weight), so there "
            "is nothing to learn from; give some samples a positive weight."
        )


def count_codes(codes, minlength=0):
    """``np.bincount(codes, minlength=minlength)`` (int64), counted a chunk at a time:
    ``np.bincount`` first copies its input to ``intp``, 8 bytes per value, which for the
    one-byte class codes of every frame would be 8 times their size."""
    counts = np.zeros(minlength, dtype=np.int64)
    for start in range(0, len(codes), CHUNK_FRAMES):
        part = np.bincount(codes[start:start + CHUNK_FRAMES], minlength=minlength)
        if len(part) > len(counts):
            counts = np.concatenate([counts, np.zeros(len(part) - len(counts), np.int64)])
        counts[:len(part)] += part
    return counts


# The exact percentiles of float32 frames: two passes over the frames, each reading one
# half of the 32 bits of every value's sort key (see frame_percentiles).
_HALF_BITS = 16
_BINS = 1 << _HALF_BITS


def median_and_iqr(frames, missing=None):
    """Per-feature median and interquartile range (float64) of the rows of ``frames``
    ``(n_frames, F)`` float32 that are not ``missing``: exactly ``np.percentile``'s
    (see :func:`frame_percentiles`), read a chunk of frames at a time."""
    low, median, high = frame_percentiles(frames, (25, 50, 75), missing)
    return median, high - low


def frame_percentiles(frames, q, missing=None):
    """``np.percentile(frames[~missing], q, axis=0)`` (method ``'linear'``), exactly,
    without a copy of a column.

    Parameters
    ----------
    frames : ndarray of shape (n_frames, n_features), dtype float32
        Finite values wherever ``missing`` is False (an array or a memory map; a chunk
        of ``CHUNK_FRAMES`` rows is read at a time).
    q : sequence of float
        Percentiles, in [0, 100].
    missing : ndarray of shape (n_frames,), dtype bool, default=None
        Rows left out (None: none).

    Returns
    -------
    percentiles : ndarray of shape (len(q), n_features), dtype float64
        Exact: the order statistics ``np.percentile`` interpolates, found exactly and
        interpolated with its formula in float64, so bit for bit what it returns for
        the rows as float64. On the float32 rows themselves numpy rounds the difference
        of the two neighbouring order statistics to float32 first, so its result may
        differ by up to ``2**-24`` times that difference (and overflows where the
        difference exceeds float32's range, which this does not).

    Raises
    ------
    ValueError
        When every row is missing.

    Notes
    -----
    A float32 maps to a 32-bit key that sorts as the value does (:func:`_sort_keys`).
    A first pass over the frames counts the keys' upper 16 bits (65,536 bins a feature),
    which names the bin of every order statistic needed; a second counts the lower 16
    bits of the keys in those bins only, which gives each order statistic's key, hence
    its value. Memory: the temporaries of one chunk and 512 KiB a feature per
    histogram (one, then at most ``2 * len(q)``), whatever the number of frames; time:
    two reads of ``frames``.
    """
    q = np.asarray(q, dtype=np.float64) / 100
    upper = _upper_histograms(frames, missing)  # (F, bins)
    count = int(upper[0].sum())
    if count == 0:
        raise ValueError("There is no frame without a missing value (NaN) to compute "
                         "percentiles over.")
    position = (count - 1) * q
    below = np.floor(position).astype(np.int64)
    ranks = np.concatenate([below, np.minimum(below + 1, count - 1)])  # order statistics
    cumulative = np.cumsum(upper, axis=1, out=upper)  # in place: no second (F, bins) array
    bins = np.stack([np.searchsorted(row, ranks, side="right") for row in cumulative])
    # Rows of each feature's key order before each rank's bin.
    before = np.where(bins > 0, np.take_along_axis(cumulative, np.maximum(bins - 1, 0),
                                                   axis=1), 0)
    del upper, cumulative
    values = _order_statistics(frames, missing, bins, ranks[None, :] - before)  # (F, ranks)
    gamma = (position - below)[:, None]
    return _lerp(values[:, :len(q)].T, values[:, len(q):].T, gamma)


def _columns(frames, missing):
    """The sort keys of every feature's values on the rows of ``frames`` that are not
    ``missing``, a chunk of rows at a time: lists of ``F`` 1-D uint32 arrays."""
    for start in range(0, len(frames), CHUNK_FRAMES):
        keys = _sort_keys(frames[start:start + CHUNK_FRAMES])
        kept = None if missing is None else ~missing[start:start + CHUNK_FRAMES]
        if kept is None or kept.all():
            yield [keys[:, feature] for feature in range(keys.shape[1])]
        else:  # a column at a time: far faster than selecting rows of a 2-D array
            yield [keys[:, feature][kept] for feature in range(keys.shape[1])]


def _sort_keys(values):
    """uint32 keys of float32 ``values`` that order as the values do: the sign bit set on
    positive values, every bit flipped on negative ones (-0.0 just below +0.0)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.ndarray).view(np.uint32)
    keys = (bits.view(np.int32) >> 31).view(np.uint32)  # all ones where negative
    keys |= np.uint32(1 << 31)
    keys ^= bits
    return keys


def _key_values(keys):
    """The float32 values (as float64) whose sort keys are ``keys``: the inverse of
    :func:`_sort_keys`."""
    keys = np.asarray(keys, dtype=np.uint32)
    positive = keys >= np.uint32(1 << 31)
    bits = np.where(positive, keys ^ np.uint32(1 << 31), ~keys)
    return bits.view(np.float32).astype(np.float64)


def _upper_histograms(frames, missing):
    """``(F, 65536)`` int64: per feature, the counts of the keys' upper 16 bits."""
    counts = np.zeros((frames.shape[1], _BINS), dtype=np.int64)
    for columns in _columns(frames, missing):
        for feature, column in enumerate(columns):
            counts[feature] += np.bincount(column >> _HALF_BITS, minlength=_BINS)
    return counts


def _order_statistics(frames, missing, bins, within):
    """``(F, k)`` float64: per feature, the values whose keys' upper 16 bits are ``bins``
    ``(F, k)``, each the ``within``-th (0-based) of its bin: the keys' lower 16 bits
    counted, in those bins only, in one more pass over the frames."""
    targets = [np.unique(row) for row in bins]  # a few bins a feature
    lower = [np.zeros((len(row), _BINS), dtype=np.int64) for row in targets]
    for columns in _columns(frames, missing):
        for column, feature_targets, counts in zip(columns, targets, lower, strict=True):
            upper = column >> _HALF_BITS
            for index, target in enumerate(feature_targets):
                counts[index] += np.bincount(column[upper == target] & np.uint32(_BINS - 1),
                                             minlength=_BINS)
    found = np.empty(bins.shape, dtype=np.uint32)
    for feature, feature_targets in enumerate(targets):
        cumulative = np.cumsum(lower[feature], axis=1, out=lower[feature])
        for index, (target, rank) in enumerate(zip(bins[feature], within[feature],
                                                   strict=True)):
            row = cumulative[np.searchsorted(feature_targets, target)]
            low_bits = np.searchsorted(row, rank, side="right")
            found[feature, index] = (int(target) << _HALF_BITS) | int(low_bits)
    return _key_values(found)


def _lerp(below, above, gamma):
    """numpy's linear interpolation between neighbouring order statistics (float64)."""
    difference = above - below
    return np.where(gamma >= 0.5, above - difference * (1 - gamma), below + difference * gamma)


def _check_X(estimator, X, *, reset, fitted_layout=None, training=True):
    """X as :class:`Sequences`; ``training`` refuses a recording with no observed frame
    (under ``missing='mask'``), which prediction accepts."""
    allow_nan = _masks_missing(estimator)
    missing = functools.partial(_with_missing, allow_nan=allow_nan, training=training)
    finite = "allow-nan" if allow_nan else True
    ragged = _ragged_items(X, fitted_layout)
    from_list = ragged is not None
    if from_list:
        sequences = _from_ragged(ragged, allow_nan=allow_nan)
    elif _looks_tabular(X):
        shape = X.shape if hasattr(X, "shape") else np.asarray(X).shape
        if shape[0] == 0:  # as check_array says it, before any complaint about columns
            raise ValueError(f"Found array with 0 sample(s) (shape={shape}) while a "
                             f"minimum of 1 is required by {type(estimator).__name__}.")
        if fitted_layout == SEQUENCES:
            return missing(_univariate_for_sequence_model(estimator, X, finite))
        values = validate_data(estimator, X, reset=reset, dtype=[np.float64, np.float32],
                               ensure_all_finite=finite)
        return missing(Sequences(as_float32(values)[:, :, None], None, COLUMNS))
    else:
        values = check_array(X, allow_nd=True, ensure_2d=False, dtype=[np.float64, np.float32],
                             ensure_all_finite=finite)
        if values.ndim == 1:
            raise ValueError(
                f"X is 1-D (shape {values.shape}). Reshape your data: X.reshape(1, -1) for one "
                "univariate sequence, X.reshape(-1, 1) for sequences of one time step."
            )
        if values.ndim != 3:
            raise ValueError(
                f"X must be 2-D (n_samples, n_timesteps), 3-D (n_samples, n_timesteps, "
                f"n_features) or a list of (n_timesteps, n_features) arrays; got an array "
                f"with {values.ndim} dimension(s), shape {values.shape}."
            )
        if values.shape[1] == 0 or values.shape[2] == 0:
            raise ValueError(f"X has shape {values.shape}; it needs at least one time step and "
                             "one feature.")
        sequences = Sequences(as_float32(values), None, SEQUENCES)
    _check_sequence_features(estimator, sequences, reset=reset, fitted_layout=fitted_layout,
                             from_list=from_list)
    return missing(sequences)


def _masks_missing(estimator):
    return getattr(estimator, "missing", "raise") == "mask"


def _with_missing(sequences, *, allow_nan, training):
    """``sequences`` with their ``missing`` frames; for ``training``, a ValueError names a
    recording whose every frame is missing (nothing of it can be learnt)."""
    if not allow_nan:
        return sequences
    missing = missing_frames(sequences.frames)
    if not missing.any():
        return sequences
    if training:
        _check_some_frame_observed(missing, sequences.frame_offsets)
    return dataclasses.replace(sequences, missing=missing)


def _check_some_frame_observed(missing, offsets):
    """A ValueError naming the recordings (starting at ``offsets`` in the frames) whose
    every frame is ``missing``."""
    unobserved = np.flatnonzero(~np.logical_or.reduceat(~missing, offsets))
    if unobserved.size:
        raise ValueError(
            f"Recording(s) {unobserved[:5].tolist()} of X have a missing value (NaN) in every "
            "frame, so there is nothing in them to learn from; drop them from the training "
            "data. (Prediction accepts such a recording: it reads every frame as the fitted "
            "fill values, as stream() and the ONNX graph do.)"
        )


def _looks_tabular(X):
    if hasattr(X, "iloc") or hasattr(X, "tocsr") or hasattr(X, "__dataframe__"):
        return True
    try:
        return np.asarray(X).ndim == 2
    except ValueError:  # inhomogeneous nesting: let check_array report it
        return False


def _has_uniform_shape(X):
    try:
        np.shape(X)
    except ValueError:
        return False
    return True


def _univariate_for_sequence_model(estimator, X, finite=True):
    if estimator.n_features_in_ != 1:
        raise ValueError(
            f"X is 2-D, read as univariate sequences (one feature per time step), but "
            f"{type(estimator).__name__} was fitted on sequences with {estimator.n_features_in_} "
            "features per time step; pass a 3-D array (n_samples, n_timesteps, n_features) or a "
            "list of (n_timesteps, n_features) arrays."
        )
    values = check_array(X, dtype=[np.float64, np.float32], ensure_all_finite=finite)
    return Sequences(as_float32(values)[:, :, None], None, SEQUENCES)


def _check_sequence_features(estimator, sequences, *, reset, fitted_layout, from_list=False):
    name = type(estimator).__name__
    if reset:
        estimator.n_features_in_ = sequences.n_features
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    if fitted_layout == COLUMNS and from_list and sequences.n_features == 1:
        return  # univariate sequences, as the fitted table was read
    if fitted_layout == COLUMNS:
        raise ValueError(
            f"{name} was fitted on 2-D X (a row per sequence, a column per time step); pass 2-D "
            f"X with {estimator.n_features_in_} columns, not 3-D or ragged sequences."
        )
    if sequences.n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {sequences.n_features} features per time step, but {name} is expecting "
            f"{estimator.n_features_in_} features per time step as input."
        )


def _ragged_items(X, fitted_layout=None):
    """Return X's sequences as a list when X is a ragged collection, else None."""
    if isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1:
        items = list(X)
    elif isinstance(X, (list, tuple)):
        items = list(X)
    else:
        return None
    if not items or all(np.ndim(item) == 0 for item in items if _has_uniform_shape(item)):
        return None
    if isinstance(X, (list, tuple)) and all(
        isinstance(item, np.ndarray) and item.ndim >= 1 for item in items
    ):
        # A list of arrays is a list of sequences even when they happen to share a length
        # (say, in one cross-validation fold); a list of lists stays a table.
        return items
    if fitted_layout == COLUMNS and isinstance(X, (list, tuple)):
        # A model fitted on a table of univariate sequences (a list of lists whose rows
        # happened to share a length, say one cross-validation fold) reads any list of
        # univariate sequences: the table was read the same way.
        return items
    shapes = set()
    for item in items:
        if not _has_uniform_shape(item):
            return items
        shapes.add(np.shape(item))
    return items if len(shapes) > 1 or isinstance(X, np.ndarray) else None


def _from_ragged(items, *, allow_nan=False):
    """The sequences copied once into one frame buffer: their shapes first, then each
    sequence checked and converted on its own, straight into its place (so no second
    copy of the whole data exists at any time). Lengths and offsets are int32 where
    they fit (:func:`index_dtype`; batches give the networks int64 lengths)."""
    lengths = np.empty(len(items), dtype=np.int32)
    first = _sequence_shape(0, items[0], allow_nan)[1]
    for index, item in enumerate(items):
        length, n_features = _sequence_shape(index, item, allow_nan)
        if n_features != first:
            raise ValueError(
                f"All sequences must have the same number of features per time step: "
                f"sequence 0 has {first}, sequence {index} has {n_features}."
            )
        if lengths.dtype != index_dtype(length) == np.int64:
            lengths = lengths.astype(np.int64)  # once: no recording is that long in practice
        lengths[index] = length
    n_frames = int(lengths.sum(dtype=np.int64))
    offsets = np.zeros(len(items), dtype=index_dtype(n_frames))
    np.cumsum(lengths[:-1], dtype=offsets.dtype, out=offsets[1:])
    frames = np.empty((n_frames, first), dtype=np.float32)
    for index, (item, start, length) in enumerate(zip(items, offsets, lengths, strict=True)):
        frames[start:start + length] = _sequence_array(index, item, allow_nan)
    return Sequences(None, lengths, SEQUENCES, ragged=True, frame_buffer=frames,
                     offsets=offsets)


def index_dtype(n):
    """int32 where it holds ``0..n`` (4 bytes a value rather than 8), else int64: for the
    lengths and offsets of a collection of sequences, and a pass's order of them."""
    return np.dtype(np.int32) if n < _INT32_LIMIT else np.dtype(np.int64)


def _sequence_shape(index, item, allow_nan):
    """``(T_i, F)`` of a sequence; one that is not a 1-D or 2-D non-empty array of numbers
    is checked in full, for its error."""
    shape = np.shape(item) if _has_uniform_shape(item) else None
    if shape is None or len(shape) not in (1, 2) or 0 in shape or not isinstance(
            item, np.ndarray) or item.dtype.kind not in "biuf":
        shape = _sequence_array(index, item, allow_nan).shape
    return (shape[0], 1) if len(shape) == 1 else shape


def _sequence_array(index, item, allow_nan=False):
    if isinstance(item, np.ndarray) and item.dtype == np.float32:
        array = item  # converted exactly either way: spare the float64 copy
    else:
        try:
            array = np.asarray(item, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"Sequence {index} of X is not numeric: {error}") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(
            f"Sequence {index} of X has shape {array.shape}; each sequence must be "
            "(n_timesteps, n_features) or (n_timesteps,)."
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"Sequence {index} of X has shape {array.shape}; it needs at least one time step "
            "and one feature."
        )
    if np.isinf(array).any():
        raise ValueError(f"Sequence {index} of X contains infinity; give finite values.")
    if not allow_nan and np.isnan(array).any():
        raise ValueError(
            f"Sequence {index} of X contains NaN. Frames with a missing value (a tracker "
            "that lost the face) can be masked: pass missing='mask' to the estimator."
        )
    return as_float32(array)


def as_float32(values, name="X"):
    """``values`` as a C-contiguous float32 array, or a ValueError for values float32
    cannot hold.

    The largest and smallest values are found without a temporary the size of X, and
    NaN (missing frames) never hides them (``fmax``/``fmin`` skip NaN)."""
    if values.dtype != np.float32 and values.size and (
            np.fmax.reduce(values, axis=None) > _FLOAT32_MAX
            or np.fmin.reduce(values, axis=None) < -_FLOAT32_MAX):
        raise ValueError(f"{name} has values too large for float32 (above 3.4e38 in "
                         "magnitude).")
    return np.ascontiguousarray(values, dtype=np.float32)


def _check_target(y, n_samples, classes=None):
    y = _check_labels(y, n_samples)
    check_classification_targets(y)
    if classes is None:
        classes = unique_labels_in_chunks(y)
        y_encoded = _codes_of(y, classes)  # every label is a class: nothing to check
    else:
        classes = check_classes(classes)
        y_encoded = encode_labels(y, classes, hint="List every label of y in classes.")
    if len(classes) < 2:
        raise ValueError(
            f"y has only one class ({classes[0]!r}); a classifier needs samples of at least "
            "two classes (with partial_fit, list them all in classes=...)."
        )
    return classes, y_encoded


def _check_labels(y, n_samples):
    """y as a 1-D array of one label type, or a ValueError saying what is wrong."""
    if isinstance(getattr(y, "dtype", None), pd.CategoricalDtype):
        # scikit-learn's column_or_1d turns a Categorical of bools into floats; the labels
        # must come back as given.
        y = np.asarray(y)
    y = column_or_1d(y, warn=True)
    if len(y) != n_samples:
        raise ValueError(f"X has {n_samples} samples but y has {len(y)}; give one label per "
                         "sample.")
    if y.dtype == object:
        check_label_types(y)
    return y


def check_label_types(y):
    labels = y.tolist()
    missing = [i for i, label in enumerate(labels) if label is None or label != label]
    if missing:
        raise ValueError(
            f"y has no label at position(s) {missing[:5]} (None or NaN); every sample needs a "
            "label. Drop those samples or give them one."
        )
    kinds = {_label_kind(label) for label in labels}
    if len(kinds) > 1:
        examples: dict[str, object] = {}
        for label in labels:
            examples.setdefault(_label_kind(label), label)
        raise ValueError(
            f"y mixes label types ({', '.join(f'{k} such as {v!r}' for k, v in examples.items())}"
            "); labels of one type are needed to order the classes. Convert them, e.g. "
            "y.astype(str)."
        )


def _label_kind(label):
    if isinstance(label, (bool, np.bool_)):
        return "bool"
    if isinstance(label, (int, float, np.number)):
        return "number"
    return type(label).__name__


def check_classes(classes):
    classes = column_or_1d(np.asarray(classes))
    check_label_types(classes)
    unique = np.unique(classes)
    if len(unique) != len(classes):
        raise ValueError(f"classes={classes.tolist()!r} lists a class twice.")
    return unique
