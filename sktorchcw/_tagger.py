"""LSTMBlinkTagger: a scikit-learn estimator that labels every frame of a sequence."""

import numpy as np

from ._estimator import SequenceEstimator, document_parameters
from ._frame_data import check_frame_sample_weight, frame_rows
from ._module import GRUFrameLogits, LSTMFrameLogits
from ._stream import FrameStream
from ._targets import PER_FRAME
from .events import frame_balanced_accuracy_score

__all__ = ["LSTMBlinkTagger"]


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

    def score(self, X, y, sample_weight=None):
        """Balanced accuracy over the valid frames: the mean recall of the classes.

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
        predicted = self.classes_[proba.argmax(axis=-1)].reshape(-1)  # flat, frame by frame
        weights = check_frame_sample_weight(sample_weight, sequences)
        if sequences.has_missing:
            weights = np.where(sequences.observed, 1.0 if weights is None else weights, 0.0)
        return frame_balanced_accuracy_score(
            frame_rows(y, sequences, name="y"), _rows(predicted, sequences),
            sample_weight=None if weights is None else _rows(weights, sequences))

    def stream(self):
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

        Returns
        -------
        stream : FrameStream
            ``stream.update(frames)`` takes one frame ``(n_features,)`` or a block
            ``(k, n_features)`` and returns the probabilities ``(k, n_classes)``;
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
        return FrameStream(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _rows(values, sequences):
    """Per-frame values, flat in the order of ``sequences.frames``, as one row per
    recording."""
    return [values[start:start + length] for start, length
            in zip(sequences.frame_offsets, sequences.valid_lengths, strict=True)]
