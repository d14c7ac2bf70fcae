"""LSTMBlinkTagger: a scikit-learn estimator that labels every frame of a sequence."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._data import count_codes
from ._decision import Decision, check_decision_parameters, tune
from ._estimator import SequenceEstimator, document_parameters
from ._frame_data import check_frame_sample_weight, frame_rows, valid_frame_targets
from ._module import GRUFrameLogits, LSTMFrameLogits
from ._stream import FrameStream
from ._targets import PER_FRAME
from .events import frame_balanced_accuracy_score

__all__ = ["LSTMBlinkTagger"]


_DECISION_DOC = """\
    threshold : None, float in [0, 1) or 'auto', default=None
        ``predict``'s decision: a frame is positive (``positive_``) when the probability of
        that class exceeds this (binary taggers only; a ValueError for more classes). None:
        the most probable class. ``'auto'``: chosen after ``fit`` to maximise event F1 (see
        Notes) among 0.05, 0.10, ..., 0.95; the value used is ``threshold_``.
        ``predict_proba`` is never changed by it.
    min_event_frames : int >= 1 or 'auto', default=1
        ``predict`` drops detections (runs of positive frames, after gap merging) shorter
        than this; their frames get the most probable other class. ``'auto'``: chosen among
        1, 2, 3, 4, 5, 6, 8, 10 (``min_event_frames_``).
    max_gap_frames : int >= 0 or 'auto', default=0
        ``predict`` merges detections at most this many frames apart (the frames between
        become positive). ``'auto'``: chosen among 0, 1, 2, 3, 4, 6 (``max_gap_frames_``).
    event_min_iou : float in (0, 1], default=0.2
        The IoU at which a detection matches a true event when ``'auto'`` values are
        chosen (as :func:`sktorchcw.events.event_f1_score`'s ``min_iou``).
    positive : label or None, default=None
        The event label (the blink); None: the rarest class of the training frames. The
        chosen label is ``positive_``.
"""


@document_parameters
class LSTMBlinkTagger(SequenceEstimator):
    """LSTM tagger: one label per frame, with class weights for any PyTorch loss.

    An LSTM reads each sequence and a linear layer turns its output at every frame
    into logits, so each frame gets a label: 1 inside a blink, 0 elsewhere. The
    loss is a :class:`ClassWeightedLoss` on PyTorch's per-frame layout
    ``(N, C, T)`` with a mask for padding, so ``class_weight`` and ``sample_weight``
    (per sequence or per frame) work with every criterion, frame by frame: what
    Keras' ``class_weight`` cannot do for sequence targets. Training runs on
    skorch, as for :class:`LSTMBlinkClassifier`, with the same parameters.

    {parameters}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Frame labels, sorted.
    class_weight_ : ndarray of shape (n_classes,)
        The class weights used, aligned with ``classes_`` (``'balanced'`` counts the
        valid frames of the training data).
    training_weight_ : ndarray of shape (n_classes,)
        How much training weighted each class relative to its natural share (class
        weight x sampling rate x mean sample weight x the criterion's ``pos_weight``);
        ``prior_correction`` divides the probabilities by it.
    n_features_in_ : int
        For 2-D X, the number of columns (time steps); for 3-D or ragged X, the
        features per time step.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of a DataFrame X with string column names.
    input_layout_ : {{'columns', 'sequences'}}
        Whether fit saw 2-D X or 3-D / ragged X.
    device_ : str
        The device used, e.g. 'cpu' or 'cuda:0'.
    net_ : SequenceNet
        The fitted skorch net.
    history_ : skorch.History
        Per-epoch records: ``train_loss``, ``valid_loss`` (the unweighted per-frame
        loss over valid frames), ``valid_bacc`` (frame-level balanced accuracy)...
    module_ : LSTMFrameLogits
        The trained network; it returns logits ``(N, C, T)`` (``(N, T)`` for a
        single logit).
    positive_ : label
        The event label the decision rule and its tuning use.
    threshold_ : float or None
        The threshold ``predict`` uses (``threshold``, or the one ``'auto'`` chose).
    min_event_frames_, max_gap_frames_ : int
        The event cleaning ``predict`` uses (given, or chosen by ``'auto'``).
    decision_score_ : float or None
        The event F1 the ``'auto'`` values reached on the recordings they were chosen on
        (None without ``'auto'``).

    See Also
    --------
    LSTMBlinkClassifier : one label per sequence.
    sktorchcw.events : from frame labels to blink events, and event F1.

    Notes
    -----
    ``bidirectional=True`` reads every recording forwards and backwards, which
    suits offline detection. A unidirectional tagger is causal: the label of frame
    ``t`` depends on frames up to ``t`` only, which live streaming needs. Padding
    changes a result by float32 rounding at most (about 1e-7): ragged sequences are
    packed, and frames past a sequence's end are left out of the loss, the class
    weights and the scores. Frames with a NaN feature are missing under
    ``missing='mask'``: read as the training means, left out of the loss, the class
    weights and the scores, and still given an output by ``predict``.
    ``score`` is the balanced accuracy over the valid frames; for events use
    :func:`sktorchcw.events.event_f1_score` with ``make_scorer``.

    Probabilities and decisions are two things: ``predict_proba`` is the model's
    estimate; ``predict`` is a decision rule on it. Class weights widen detections
    (the probabilities move towards the rare class); a decision tuned for events
    (``threshold='auto'``, ``min_event_frames='auto'``, ``max_gap_frames='auto'``) takes
    that back where it costs event F1. The ``'auto'`` values are chosen after ``fit``,
    jointly over the grids above, to maximise event F1 (matched at ``event_min_iou``) on
    ``validation_data`` when given, else on the training recordings (missing frames left
    out); ties go to the fewest frames dropped and merged, then the threshold nearest
    0.5. With ``prior_correction`` the threshold is chosen on the corrected
    probabilities: after tuning, prior correction only moves the threshold. ``partial_fit``
    and ``warm_start`` choose them again after each call.

    Examples
    --------
    >>> import numpy as np
    >>> from sktorchcw import LSTMBlinkTagger
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(length, 2)) for length in (40, 55, 30, 60)]
    >>> y = [(x[:, 0] > 1).astype(int) for x in X]
    >>> tagger = LSTMBlinkTagger(class_weight="balanced", max_epochs=3, random_state=0)
    >>> tagger.fit(X, y).classes_
    array([0, 1])
    >>> [labels.shape for labels in tagger.predict(X[:2])]
    [(40,), (55,)]
    >>> tagger.predict_proba(np.stack([X[0], X[0]])).shape
    (2, 40, 2)
    """

    _builtin_modules = {"lstm": LSTMFrameLogits, "gru": GRUFrameLogits}
    _targets = PER_FRAME
    _own_parameters_doc = _DECISION_DOC
    _parameter_constraints: dict = {
        **SequenceEstimator._parameter_constraints,
        "threshold": [None, StrOptions({"auto"}), Interval(Real, 0, 1, closed="left")],
        "min_event_frames": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_gap_frames": [StrOptions({"auto"}), Interval(Integral, 0, None, closed="left")],
        "event_min_iou": [Interval(Real, 0, 1, closed="right")],
        "positive": "no_validation",
    }

    def __init__(
        self,
        *,
        class_weight=None,
        criterion=nn.CrossEntropyLoss,
        loss_reduction="mean",
        weighting="sample",
        hidden_size=32,
        num_layers=1,
        bidirectional=False,
        dropout=0.0,
        standardize=True,
        missing="raise",
        max_epochs=30,
        batch_size=64,
        lr=0.01,
        optimizer=torch.optim.Adam,
        train_split=None,
        callbacks=None,
        iterator_train=None,
        iterator_valid=None,
        device="auto",
        n_threads="auto",
        random_state=None,
        verbose=0,
        progress_bar="auto",
        checkpoint_dir=None,
        warm_start=False,
        predict_batch_size="auto",
        sampling=None,
        prior_correction=False,
        bucket_by_length=True,
        segment_frames=None,
        module=None,
        threshold=None,
        min_event_frames=1,
        max_gap_frames=0,
        event_min_iou=0.2,
        positive=None,
        **kwargs,
    ):
        # Every parameter in the signature, as scikit-learn reads them from it.
        super().__init__(class_weight=class_weight, criterion=criterion,
            loss_reduction=loss_reduction, weighting=weighting, hidden_size=hidden_size,
            num_layers=num_layers, bidirectional=bidirectional, dropout=dropout,
            standardize=standardize, missing=missing, max_epochs=max_epochs,
            batch_size=batch_size, lr=lr, optimizer=optimizer, train_split=train_split,
            callbacks=callbacks, iterator_train=iterator_train, iterator_valid=iterator_valid,
            device=device, n_threads=n_threads, random_state=random_state, verbose=verbose,
            progress_bar=progress_bar, checkpoint_dir=checkpoint_dir, warm_start=warm_start,
            predict_batch_size=predict_batch_size, sampling=sampling,
            prior_correction=prior_correction, bucket_by_length=bucket_by_length,
            segment_frames=segment_frames, module=module, **kwargs)
        self.threshold = threshold
        self.min_event_frames = min_event_frames
        self.max_gap_frames = max_gap_frames
        self.event_min_iou = event_min_iou
        self.positive = positive

    # -- the decision rule (see _decision.py) ------------------------------------------

    def _check_decision(self, y_encoded, sequences):
        check_decision_parameters(self.threshold, self.min_event_frames, self.max_gap_frames,
                                  self.event_min_iou, n_classes=len(self.classes_))
        self.positive_ = self._positive_label(y_encoded, sequences)

    def _positive_label(self, y_encoded, sequences):
        """``positive``, checked to be a class; by default the rarest class of the
        training frames (the blink)."""
        if self.positive is not None:
            if not np.isin(np.asarray([self.positive], dtype=object),
                           self.classes_.astype(object)).all():
                raise ValueError(f"positive={self.positive!r} is not a class; the classes are "
                                 f"{self.classes_.tolist()!r}.")
            return self.positive
        observed, _ = valid_frame_targets(y_encoded, None, sequences)
        counts = count_codes(observed, len(self.classes_))
        return self.classes_[int(np.argmin(counts))]

    def _tune_decision(self, sequences, y_encoded, validation_data):
        positive = int(np.flatnonzero(self.classes_ == self.positive_)[0])
        fixed = {"threshold": self.threshold, "min_event_frames": self.min_event_frames,
                 "max_gap_frames": self.max_gap_frames}
        if "auto" not in fixed.values():
            decision = Decision(positive, self.threshold, int(self.min_event_frames),
                                int(self.max_gap_frames))
            self.decision_score_ = None
        else:
            if validation_data is not None:
                sequences, y_encoded = self._targets.check_continued(
                    self, validation_data[0], validation_data[1],
                    hint="Validation labels must be classes of the training y.")
            proba, _ = self._probabilities_of(sequences, log=False)
            rows, truths = _labelled_rows(proba, y_encoded, sequences, positive)
            decision, self.decision_score_ = tune(rows, truths, positive, **fixed,
                                                  min_iou=self.event_min_iou)
        self.threshold_ = decision.threshold
        self.min_event_frames_ = decision.min_event_frames
        self.max_gap_frames_ = decision.max_gap_frames

    def _decision(self):
        positive = int(np.flatnonzero(self.classes_ == self.positive_)[0])
        return Decision(positive, self.threshold_, self.min_event_frames_,
                        self.max_gap_frames_)

    def predict(self, X):
        """The label of every frame, by the decision rule: the most probable class by
        default; with ``threshold``, ``min_event_frames`` or ``max_gap_frames`` (fixed, or
        tuned by ``'auto'``), frames whose positive probability exceeds ``threshold_``,
        runs ``max_gap_frames_`` apart merged and shorter than ``min_event_frames_``
        dropped (those frames get the most probable other class).

        Parameters
        ----------
        X : array-like, DataFrame or list of arrays
            Recordings in the layout used for ``fit``.

        Returns
        -------
        y_pred : ndarray
            ``(n_samples, n_timesteps)``, or for recordings given as a list a 1-D object
            array of ``(n_timesteps_i,)`` arrays.
        """
        check_is_fitted(self)
        decision = self._decision()
        if decision.is_argmax:
            return super().predict(X)
        proba, sequences = self._probabilities(X, log=False)
        codes = _decided_codes(decision, proba, sequences)
        if proba.ndim == 3:  # (n, T, C): every recording fills the T steps
            codes = codes.reshape(proba.shape[:2])
        return self._targets.in_structure_of_X(self.classes_[codes], sequences)

    def score(self, X, y, sample_weight=None):
        """Balanced accuracy over the valid frames of ``predict``'s labels: the mean
        recall of the classes.

        Plain accuracy says little when one class fills most frames (a detector that
        never finds a blink scores 0.95 where blinks are 5 % of the frames), so the
        tagger scores as :func:`sktorchcw.events.frame_balanced_accuracy_score` does,
        and as ``valid_bacc`` is recorded. Missing frames (``missing='mask'``) are
        left out.

        Parameters
        ----------
        X : array-like, DataFrame or list of arrays
            Recordings.
        y : array-like or list of arrays
            True frame labels, in any format ``fit`` takes (padding is never read).
        sample_weight : array-like, default=None
            Weights per recording or per frame.

        Returns
        -------
        score : float
        """
        proba, sequences = self._probabilities(X, log=False)
        # flat, frame by frame, by predict's decision rule
        predicted = self.classes_[_decided_codes(self._decision(), proba, sequences)]
        weights = check_frame_sample_weight(sample_weight, sequences)
        if sequences.has_missing:
            weights = np.where(sequences.observed, 1.0 if weights is None else weights, 0.0)
        return frame_balanced_accuracy_score(
            frame_rows(y, sequences, name="y"), _rows(predicted, sequences),
            sample_weight=None if weights is None else _rows(weights, sequences))

    def stream(self, *, recording_median=None):
        """Start predicting a live recording that arrives frame by frame.

        The returned stream carries the network's state from one
        :meth:`~FrameStream.update` to the next, so each call costs only its new
        frames, and the probabilities equal those of :meth:`predict_proba` on the
        whole recording, however the frames are chunked. It works on a snapshot of
        the fitted network, classes and prior correction: fitting again or
        ``set_params`` leaves it unchanged.

        Streams: the unidirectional built-in networks (``module='lstm'``, state
        ``(h, c)``; ``module='gru'``, state ``h``) and your own network when it
        defines ``forward_with_state(x, state) -> (logits, state)`` (``state`` None
        for a new recording; logits ``(N, T, n_outputs)``; chunks must give the
        logits of ``forward`` on the whole recording): see :class:`FrameStream`.

        Parameters
        ----------
        recording_median : array-like of shape (n_features,), default=None
            With ``standardize='recording'`` (or ``'recording_center'``), the live
            recording's own median per feature, which scales its frames (a stream
            cannot know it from frames not yet seen; give, for example, the median of a
            calibration stretch). Required for those options, refused otherwise;
            ``stream.reset(recording_median=...)`` gives the next recording's.

        Returns
        -------
        stream : FrameStream
            ``stream.update(frames)`` takes one frame ``(n_features,)`` or a block
            ``(k, n_features)`` and returns the probabilities ``(k, n_classes)``;
            ``stream.update_events(frames)`` returns the blink events those frames close,
            by ``predict``'s decision rule (``finish_events()`` at the recording's end);
            ``stream.reset()`` starts a new recording.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            For a tagger that is not fitted.
        ValueError
            For ``bidirectional=True``: the backward direction reads each recording
            from its end, so a frame's probability depends on frames not yet seen.
            For your own network without ``forward_with_state``, with the fix,
            before any frame is read.

        See Also
        --------
        FrameStream : the stream, its checks and attributes.
        predict_proba : the probabilities of whole recordings.

        Examples
        --------
        >>> import numpy as np
        >>> from sktorchcw import LSTMBlinkTagger
        >>> from sktorchcw.datasets import make_blink_recordings
        >>> X, y = make_blink_recordings(4, duration_s=4, random_state=0)
        >>> tagger = LSTMBlinkTagger(class_weight="balanced", hidden_size=8, max_epochs=2,
        ...                          device="cpu", random_state=0).fit(X, y)
        >>> stream = tagger.stream()
        >>> live = np.vstack([stream.update(X[0][start:start + 3])
        ...                   for start in range(0, len(X[0]), 3)])
        >>> live.shape
        (120, 2)
        >>> bool(np.allclose(live, tagger.predict_proba([X[0]])[0], atol=1e-5))
        True
        """
        return FrameStream(self, recording_median=recording_median)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _rows(values, sequences):
    """Per-frame values, flat in the order of ``sequences.frames``, as one row per
    recording."""
    return [values[start:start + length] for start, length
            in zip(sequences.frame_offsets, sequences.valid_lengths, strict=True)]


def _decided_codes(decision, proba, sequences):
    """The class codes of every frame, flat in the order of ``sequences.frames``, by
    ``decision`` (recording by recording: events never cross recordings)."""
    flat = proba.reshape(-1, proba.shape[-1])
    if decision.is_argmax or not len(flat):
        return flat.argmax(axis=-1)
    return np.concatenate([decision.codes(row) for row in _rows(flat, sequences)])


def _labelled_rows(proba, y_encoded, sequences, positive):
    """Per recording, the probabilities and whether each frame is an event frame, the
    missing frames (``missing='mask'``) taken out of both."""
    flat = proba.reshape(-1, proba.shape[-1])
    observed = sequences.observed
    rows, truths = [], []
    for start, length in zip(sequences.frame_offsets, sequences.valid_lengths, strict=True):
        keep = observed[start:start + length]
        rows.append(flat[start:start + length][keep])
        truths.append(y_encoded[start:start + length][keep] == positive)
    return rows, truths
