"""Live prediction: a fitted unidirectional LSTMBlinkTagger fed a recording frame by frame,
carrying the network's state between calls (an LSTM's ``(h, c)``, a GRU's ``h``, or the
state of the user's own ``forward_with_state``)."""

import copy

import numpy as np
import pandas as pd
import torch
from sklearn.utils.validation import check_is_fitted

from ._data import as_float32
from ._estimator import prior_corrected
from ._recording_scaling import check_stream_median, is_per_recording
from ._user_module import UserNetwork

__all__ = ["FrameStream", "require_forward_with_state"]


def require_forward_with_state(module, purpose, *, otherwise):
    """A ValueError, with the fix, when ``module`` wraps a user's network without
    ``forward_with_state(x, state) -> (logits, state)``, which ``purpose`` needs: feeding
    a recording chunk by chunk. Nothing for the built-in networks."""
    if not isinstance(module, UserNetwork) or hasattr(module.network, "forward_with_state"):
        return
    name = type(module.network).__name__
    per_frame = "(N, T, n_outputs)" if module.per_frame else "(N, n_outputs)"
    raise ValueError(
        f"{purpose} feeds a recording chunk by chunk, each chunk from the state the previous "
        f"one left, which needs {name}.forward_with_state(x, state) -> (logits, state); "
        f"{name} has none. Add it: x as forward receives it (N, T, F), state None for a new "
        f"recording or what the previous call returned (a tensor or a tuple of tensors), "
        f"logits {per_frame}; chunks fed this way must give the logits of forward on the "
        f"whole recording (see the docs page 'Your own network'). Or {otherwise}."
    )


class FrameStream:
    """Per-frame probabilities of a recording that arrives a few frames at a time.

    Made by :meth:`LSTMBlinkTagger.stream`. Each :meth:`update` runs the new frames
    through the network from the state where the previous call left it, so feeding a
    recording in any chunks (single frames, blocks of any size, empty blocks) gives
    the probabilities that ``predict_proba`` gives for the whole recording, at the
    cost of the new frames only. A unidirectional tagger is causal, which makes this
    exact: the probabilities of frame ``t`` depend on frames ``0..t`` only.

    Which networks stream:

    - ``module='lstm'`` (the default) and ``module='gru'``, unidirectional: the state
      is the LSTM's ``(h, c)`` or the GRU's ``h``.
    - ``module=MyNet``, your own network, when it defines
      ``forward_with_state(x, state) -> (logits, state)``: ``x`` float32 ``(N, T, F)``
      standardised as ``forward`` receives it (missing frames filled), ``state`` None
      for a new recording, then whatever the previous call returned; logits
      ``(N, T, n_outputs)``. Feeding chunks this way must give the logits that
      ``forward`` gives for the whole recording (a causal network: a recurrent layer,
      or a convolution padded on the left only, keeping its last frames as the
      state); that promise is yours, and the tests of your network should check it.
      Without ``forward_with_state``, making the stream raises a ValueError with this
      fix, before any frame is read.

    The stream holds a snapshot of the tagger taken when it was made: a copy of the
    network in evaluation mode on the tagger's device, the classes and the prior
    correction (``prior_correction`` and ``training_weight_``). Fitting the tagger
    again, or changing its parameters, leaves an existing stream as it was.

    Parameters
    ----------
    tagger : LSTMBlinkTagger
        A fitted tagger with ``bidirectional=False``, or with your own network that
        defines ``forward_with_state``.
    recording_median : array-like of shape (n_features,), default=None
        For a tagger fitted with ``standardize='recording'`` (or
        ``'recording_center'``) only, which needs it: the recording's own per-feature
        median over its observed frames, which the frames are divided by (from which
        it is subtracted) before the network's global standardisation, as
        ``predict_proba`` does with the median of the whole recording. A live
        recording's median is not known before it ends: take it from a calibration
        period of the same person and session (e.g. the first seconds,
        ``np.median(frames[~np.isnan(frames).any(axis=1)], axis=0)``), or from an
        earlier recording; the probabilities equal ``predict_proba``'s where it is the
        whole recording's median. Each :meth:`reset` takes the next recording's.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The tagger's classes (a read-only copy), the order of the probabilities.
    n_frames_ : int
        Frames seen since the stream was made or last :meth:`reset`.
    n_features : int
        Features per frame that :meth:`update` expects (1 for a tagger fitted on 2-D
        X, whose columns are time steps).

    Raises
    ------
    sklearn.exceptions.NotFittedError
        For a tagger that is not fitted.
    ValueError
        For a bidirectional tagger, your own network without ``forward_with_state``,
        or with ``prior_correction=True`` when a class had weight 0 in training.

    See Also
    --------
    LSTMBlinkTagger.predict_proba : the same probabilities, from whole recordings.

    Notes
    -----
    Frames are converted to float32 as ``fit`` and ``predict`` convert them, and
    standardised by the network with the statistics of the training data. Keep one
    stream per live recording; :meth:`reset` starts a new recording.

    Examples
    --------
    >>> import numpy as np
    >>> from sktorchcw import LSTMBlinkTagger
    >>> from sktorchcw.datasets import make_blink_recordings
    >>> X, y = make_blink_recordings(4, duration_s=4, random_state=0)
    >>> tagger = LSTMBlinkTagger(hidden_size=8, max_epochs=2, device="cpu",
    ...                          random_state=0).fit(X, y)
    >>> stream = tagger.stream()
    >>> recording = X[0]
    >>> first = stream.update(recording[0])  # one frame of 2 features
    >>> first.shape
    (1, 2)
    >>> rest = stream.update(recording[1:50])  # a block of 49 frames
    >>> rest.shape, stream.n_frames_
    ((49, 2), 50)
    >>> offline = tagger.predict_proba([recording[:50]])[0]
    >>> bool(np.allclose(np.vstack([first, rest]), offline, atol=1e-5))
    True
    >>> stream.reset()
    >>> stream.n_frames_
    0
    """

    def __init__(self, tagger, *, recording_median=None):
        check_is_fitted(tagger, msg=(
            "This %(name)s instance is not fitted yet: call fit before stream(), which "
            "streams a trained network."))
        module = tagger.module_
        require_forward_with_state(module, "stream()", otherwise="call predict_proba on "
                                                                 "whole recordings")
        if not isinstance(module, UserNetwork) and module.rnn.bidirectional:
            raise ValueError(
                "stream() needs a unidirectional tagger, but this one is bidirectional: its "
                "backward direction reads each recording from its end, so a frame's "
                "probability depends on frames not yet seen. Fit with bidirectional=False "
                "to stream, or call predict_proba on whole recordings."
            )
        tagger._check_prior_correction()
        self._training_weight = (np.array(tagger.training_weight_, dtype=np.float64)
                                 if tagger.prior_correction else None)
        self._device = torch.device(tagger.device_)
        self._module = copy.deepcopy(module).to(self._device).eval()
        self._module.requires_grad_(False)
        self._to_proba = tagger._targets.to_proba
        self._classes = np.array(tagger.classes_, copy=True)
        self._classes.flags.writeable = False
        self._n_features = int(self._module.input_mean.shape[0])
        self._masks_missing = tagger.missing == "mask"
        self._decision = tagger._decision()
        self._standardize = tagger.standardize
        self.reset(recording_median=recording_median)

    @property
    def classes_(self):
        return self._classes

    @property
    def n_features(self):
        return self._n_features

    @property
    def n_frames_(self):
        return self._n_frames

    def reset(self, recording_median=None):
        """Start a new recording: no state (zeros for the built-in networks, None for
        your own ``forward_with_state``), ``n_frames_`` back to 0.

        ``recording_median``: the new recording's per-feature median, for a tagger
        fitted with ``standardize='recording'`` or ``'recording_center'`` (see the
        class's parameters); such a stream refuses frames until it has one. A ValueError
        for one of the wrong shape, not finite, not positive (``'recording'``), or given
        to a tagger without per-recording scaling; the stream is then left as it was."""
        median = check_stream_median(self._standardize, recording_median, self._n_features)
        self._recording_median = median
        self._state = None
        self._n_frames = 0
        self._open_event = None  # (start, stop) of the detection not yet closed

    def update_events(self, frames):
        """The blink events that the next frames close, by the tagger's decision rule.

        Runs :meth:`update` on ``frames`` and applies ``predict``'s rule
        (``threshold_``, then ``max_gap_frames_`` merging and ``min_event_frames_``
        filtering, on the ``positive_`` class): a detection is reported once no later
        frame can change it, ``max_gap_frames_ + 1`` frames after its last positive
        frame, and only when it lasts ``min_event_frames_`` frames or more. Events are
        half-open ``(start, stop)`` frame intervals counted from the recording's start
        (:meth:`reset`); the events of a whole recording, with :meth:`finish_events`,
        are those of ``predict`` on it, however the frames are chunked.

        Parameters
        ----------
        frames : array-like of shape (n_features,) or (k, n_features)
            As for :meth:`update`.

        Returns
        -------
        events : list of (int, int)
            The events closed by these frames, in order.
        """
        start = self._n_frames
        positive = self._decision.positive_frames(self.update(frames))
        closed = []
        for index in (start + np.flatnonzero(positive)).tolist():
            closed += self._close_events_before(index)
            if self._open_event is None:
                self._open_event = (index, index + 1)
            else:
                self._open_event = (self._open_event[0], index + 1)
        return closed + self._close_events_before(self._n_frames)

    def finish_events(self):
        """The event still open at the recording's end (a list of at most one), closed;
        call it when the recording ends, before :meth:`reset`."""
        return self._close_events_before(None)

    def _close_events_before(self, index):
        """Close the open detection when frame ``index`` (None: the end) is too far from
        it to be merged with it."""
        if self._open_event is None:
            return []
        start, stop = self._open_event
        if index is not None and index - stop <= self._decision.max_gap_frames:
            return []
        self._open_event = None
        return [(start, stop)] if stop - start >= self._decision.min_event_frames else []

    def update(self, frames):
        """Probabilities of the next frames of the recording.

        Parameters
        ----------
        frames : array-like of shape (n_features,) or (k, n_features)
            One frame, or a block of ``k >= 0`` consecutive frames (a NumPy array of
            any numeric dtype, a list, a pandas Series or DataFrame). It is read, never
            changed.

        Returns
        -------
        proba : ndarray of shape (k, n_classes), dtype float64
            The probabilities of each frame, in ``classes_`` order (``k = 1`` for one
            frame; an empty block gives ``(0, n_classes)``).

        Raises
        ------
        TypeError
            For frames that are not numbers.
        ValueError
            For frames of the wrong shape, with infinity, with NaN (unless the tagger
            was fitted with ``missing='mask'``: those frames are missing), or too large for
            float32. A refused call leaves the stream as it was.
        """
        values = self._check_frames(frames)
        values = self._per_recording(values)
        if values.shape[0] == 0:
            return np.empty((0, len(self._classes)), dtype=np.float64)
        x = torch.from_numpy(values)[None]
        if self._device.type != "cpu":
            x = x.to(self._device)
        with torch.inference_mode():
            logits, self._state = self._module.forward_with_state(x, self._state)
            proba = self._to_proba(logits.to("cpu", torch.float64)).numpy()[0]
        self._n_frames += values.shape[0]
        if self._training_weight is None:
            return proba
        return prior_corrected(proba, self._training_weight, log=False)

    def _per_recording(self, values):
        """``values`` divided by (reduced by) the recording's median, as
        ``predict_proba`` scales a recording under ``standardize='recording'``
        (``'recording_center'``); as they are otherwise."""
        if not is_per_recording(self._standardize):
            return values
        if self._recording_median is None:
            raise ValueError(
                f"This tagger was fitted with standardize={self._standardize!r}: each "
                "recording is scaled by its own median, which a stream cannot know from "
                "the frames seen so far. Give it: stream.reset(recording_median=median) "
                "(or FrameStream(tagger, recording_median=median)), with the recording's "
                "per-feature median over its observed frames, e.g. from a calibration "
                "period.")
        if self._standardize == "recording_center":
            return values - self._recording_median
        return values / self._recording_median

    def _check_frames(self, frames):
        """``frames`` as a C-contiguous float32 ``(k, n_features)`` array, or the error
        that says what is wrong with them."""
        array = frames if isinstance(frames, np.ndarray) else _as_array(frames)
        if array.dtype.kind not in "biuf":
            array = _numeric(array, self._masks_missing)
        n_features = self._n_features
        if array.ndim == 2:
            if array.shape[1] != n_features:
                raise ValueError(
                    f"frames have {array.shape[1]} features, but the tagger expects "
                    f"{n_features}: pass one frame of shape ({n_features},) or a block of "
                    f"shape (k, {n_features})."
                )
        elif array.ndim == 1:
            if array.shape[0] != n_features:
                if n_features == 1:
                    raise ValueError(
                        f"frames is 1-D of length {array.shape[0]}, but the tagger expects one "
                        "feature per frame, so it is unclear whether these are frames or "
                        f"features: pass a block of {array.shape[0]} frames with shape "
                        f"({array.shape[0]}, 1), e.g. frames.reshape(-1, 1)."
                    )
                raise ValueError(
                    f"frames is one frame of {array.shape[0]} features, but the tagger "
                    f"expects {n_features}: pass one frame of shape ({n_features},) or a "
                    f"block of shape (k, {n_features})."
                )
            array = array[None]
        else:
            raise ValueError(
                f"frames must be one frame of shape ({n_features},) or a block of shape "
                f"(k, {n_features}); got {array.ndim} dimension(s), shape {array.shape}."
            )
        if array.dtype != np.float32:
            # As fit and predict convert: to float64 first (exact for every numeric dtype
            # but large integers, which round the same way there), then to float32.
            array = np.asarray(array, dtype=np.float64)
        if np.isinf(array).any():
            raise ValueError("frames contain infinity; the tagger needs finite values.")
        if not self._masks_missing and np.isnan(array).any():
            raise ValueError(
                "frames contain a missing value (NaN), but the tagger was fitted with "
                "missing='raise'. Fit it with missing='mask' to score frames with missing "
                "features (they are read as the training means), or drop those frames."
            )
        array = as_float32(array, name="frames")
        # torch.from_numpy warns about read-only memory.
        return array if array.flags.writeable else array.copy()

    def __repr__(self):
        return (f"{type(self).__name__}(n_features={self._n_features}, "
                f"classes={self._classes.tolist()!r}, n_frames_={self._n_frames})")


def _as_array(frames):
    try:
        return np.asarray(frames)
    except ValueError as error:  # ragged nesting
        raise ValueError(
            f"frames must be one frame or a block of frames of equal length: {error}"
        ) from None


def _numeric(array, masks_missing):
    """A numeric array from an object array of numbers (pandas' nullable dtypes, whose
    missing values become NaN); a TypeError for anything else, a ValueError for a missing
    value that the tagger does not mask."""
    if array.dtype.kind == "O":
        missing = pd.isna(array)
        if missing.any() and not masks_missing:
            raise ValueError(
                "frames contain a missing value (pd.NA, None or NaN), but the tagger was "
                "fitted with missing='raise'. Fit it with missing='mask' to score frames "
                "with missing features, or drop those frames."
            )
        try:
            return np.where(missing, np.nan, array).astype(np.float64)
        except (TypeError, ValueError):
            pass
    raise TypeError(
        f"frames must be numbers (ints or floats), got an array of dtype {array.dtype}."
    )
