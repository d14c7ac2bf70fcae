"""module=: the built-in GRU and the user's own network inside both estimators."""

import pickle
import re
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from skorch.callbacks import EarlyStopping
from torch import nn

from sktorchcw import (
    GRUFrameLogits,
    GRULogits,
    LSTMBlinkClassifier,
    LSTMBlinkTagger,
    LSTMFrameLogits,
    LSTMLogits,
)
from sktorchcw.datasets import make_blink_dataset

FAST = {"max_epochs": 2, "batch_size": 32, "device": "cpu", "random_state": 0}


class MeanPoolConv(nn.Module):
    """A Conv1d classifier that averages over each recording's valid frames."""

    def __init__(self, n_features, n_outputs, width=8):
        super().__init__()
        self.conv = nn.Conv1d(n_features, width, 3, padding=1)
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x, lengths):
        hidden = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        valid = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
        return self.head((hidden * valid).sum(dim=1) / lengths[:, None])


class LastFrame(nn.Module):
    """forward(x) only, no n_outputs argument: a fixed two-logit head."""

    def __init__(self, n_features):
        super().__init__()
        self.linear = nn.Linear(n_features, 2)

    def forward(self, x):
        return self.linear(x.mean(dim=1))


class FrameGRU(nn.Module):
    """A per-frame network: (N, T, F) -> (N, T, n_outputs)."""

    def __init__(self, n_features, n_outputs, hidden=8):
        super().__init__()
        self.gru = nn.GRU(n_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_outputs)

    def forward(self, x):
        return self.head(self.gru(x)[0])


class Recorder(nn.Module):
    """Keeps what it was given, to check the contract."""

    seen: list = []

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_features, n_outputs)

    def forward(self, x, lengths):
        Recorder.seen.append((x.detach().clone(), lengths.detach().clone()))
        return self.linear(x[:, 0])


@pytest.fixture(scope="module")
def data():
    return make_blink_dataset(120, seq_len=16, prevalence=0.25, random_state=0)


@pytest.fixture(scope="module")
def ragged():
    rng = np.random.default_rng(1)
    X = [rng.normal(size=(n, 2)).astype("float32") for n in rng.integers(5, 40, 40)]
    y_frames = [(x[:, 0] > 0.8).astype(int) for x in X]
    return X, y_frames


def test_lstm_by_name_is_the_default_network(data):
    X, y = data
    default = LSTMBlinkClassifier(**FAST).fit(X, y)
    named = LSTMBlinkClassifier(module="lstm", **FAST).fit(X, y)
    assert isinstance(named.module_, LSTMLogits)
    np.testing.assert_array_equal(default.predict_proba(X), named.predict_proba(X))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_builtin_gru_in_both_estimators(data, ragged, bidirectional):
    X, y = data
    clf = LSTMBlinkClassifier(module="gru", bidirectional=bidirectional, num_layers=2,
                              **FAST).fit(X, y)
    assert isinstance(clf.module_, GRULogits)
    assert isinstance(clf.module_.rnn, nn.GRU) and clf.module_.rnn.bidirectional is bidirectional
    assert clf.predict_proba(X).shape == (len(X), 2)
    Xr, yr = ragged
    tagger = LSTMBlinkTagger(module="gru", bidirectional=bidirectional, **FAST).fit(Xr, yr)
    assert isinstance(tagger.module_, GRUFrameLogits)
    assert not isinstance(tagger.module_, LSTMFrameLogits) or tagger.module_.rnn.mode == "GRU"
    outputs = tagger.predict_proba(Xr)
    assert [len(o) for o in outputs] == [len(x) for x in Xr]


def test_gru_ragged_equals_each_recording_alone(ragged):
    Xr, yr = ragged
    tagger = LSTMBlinkTagger(module="gru", bidirectional=True, **FAST).fit(Xr, yr)
    together = tagger.predict_proba(Xr)
    for x, out in zip(Xr[:5], together[:5], strict=True):
        np.testing.assert_allclose(tagger.predict_proba([x])[0], out, atol=1e-5)


def test_gru_refuses_lstm_only_arguments(data):
    X, y = data
    with pytest.raises(ValueError, match=r"built-in GRU accepts \['bias'\]"):
        LSTMBlinkClassifier(module="gru", module__proj_size=4, **FAST).fit(X, y)


def test_user_module_receives_the_contract(data):
    X, y = data
    lengths = np.random.default_rng(0).integers(3, 17, len(X))
    Xr = [x[:n] for x, n in zip(X, lengths, strict=True)]
    Recorder.seen = []
    clf = LSTMBlinkClassifier(module=Recorder, **FAST).fit(Xr, y)
    x, given = Recorder.seen[0]
    assert x.dtype == torch.float32 and given.dtype == torch.int64
    assert x.ndim == 3 and x.shape[2] == X.shape[2] and x.shape[0] == len(given)
    steps = torch.arange(x.shape[1])
    padding = steps[None, :] >= given[:, None]
    assert padding.any(), "the batch should hold recordings of several lengths"
    assert bool((x[padding] == 0).all()), "frames after a recording's end must be zero"
    # Standardised with the training statistics: the valid frames have mean ~0, std ~1.
    frames = torch.cat([s[0][~(torch.arange(s[0].shape[1])[None] >= s[1][:, None])]
                        for s in Recorder.seen[: len(Recorder.seen) // 2]])
    assert abs(float(frames.mean())) < 0.2 and abs(float(frames.std()) - 1) < 0.2
    assert clf.predict(Xr).shape == (len(Xr),)


def test_user_module_without_lengths_or_n_outputs(data):
    X, y = data
    clf = LSTMBlinkClassifier(module=LastFrame, **FAST).fit(X, y)
    assert isinstance(clf.module_.network, LastFrame)
    assert clf.predict_proba(X).shape == (len(X), 2)


def test_missing_frames_never_reach_the_user_module(data):
    X, y = data
    X = X.copy()
    X[::3, 2:5] = np.nan
    Recorder.seen = []
    LSTMBlinkClassifier(module=Recorder, missing="mask", **FAST).fit(X, y)
    assert all(bool(torch.isfinite(x).all()) for x, _ in Recorder.seen)


@pytest.mark.parametrize("forward_output, match", [
    (lambda x: x[:, 0, :1].repeat(1, 3), r"expected \(N, n_outputs\) = \(\d+, 2\)"),
    (lambda x: x[:, :, :1].repeat(1, 1, 2), r"returned logits of shape \(\d+, 16, 2\)"),
])
def test_wrong_logits_are_refused_before_training(data, forward_output, match):
    X, y = data

    class Wrong(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))

        def forward(self, x):
            return forward_output(x) * self.scale

    clf = LSTMBlinkClassifier(module=Wrong, **FAST)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


def test_single_logit_user_module_with_bce(data):
    X, y = data
    clf = LSTMBlinkClassifier(module=MeanPoolConv, criterion=nn.BCEWithLogitsLoss,
                              **FAST).fit(X, y)
    assert clf.module_.network.head.out_features == 1
    assert clf.predict_proba(X).shape == (len(X), 2)


def test_user_module_parameter_errors(data):
    X, y = data
    with pytest.raises(ValueError, match=r"does not take the parameter\(s\) \['module__depth'\]"):
        LSTMBlinkClassifier(module=MeanPoolConv, module__depth=3, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="set by the estimator"):
        LSTMBlinkClassifier(module=MeanPoolConv, module__n_outputs=3, **FAST).fit(X, y)
    with pytest.raises(TypeError, match="takes the class of your network"):
        LSTMBlinkClassifier(module=MeanPoolConv(1, 2), **FAST).fit(X, y)
    with pytest.raises(TypeError, match="subclass of torch.nn.Module"):
        LSTMBlinkClassifier(module=len, **FAST).fit(X, y)


def test_user_tagger_per_frame_logits(ragged):
    Xr, yr = ragged
    tagger = LSTMBlinkTagger(module=FrameGRU, module__hidden=4, class_weight="balanced",
                             **FAST).fit(Xr, yr)
    outputs = tagger.predict_proba(Xr)
    assert [o.shape for o in outputs] == [(len(x), 2) for x in Xr]
    single = LSTMBlinkTagger(module=FrameGRU, criterion=nn.BCEWithLogitsLoss, **FAST).fit(Xr, yr)
    assert single.module_.network.head.out_features == 1
    assert 0 <= single.score(Xr, yr) <= 1


def test_user_module_learns_with_class_weights():
    # Labels independent of X: the best a network can do is the (weighted) prior, 0.25
    # unweighted and 20 * 0.25 / (20 * 0.25 + 0.75) = 0.87 with the rare class weighing 20.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8, 2)).astype("float32")
    y = (rng.random(200) < 0.25).astype(int)
    params = {**FAST, "max_epochs": 30, "lr": 0.02}
    plain = LSTMBlinkClassifier(module=MeanPoolConv, **params).fit(X, y)
    weighted = LSTMBlinkClassifier(module=MeanPoolConv, class_weight={0: 1.0, 1: 20.0},
                                   **params).fit(X, y)
    assert plain.predict_proba(X)[:, 1].mean() < 0.45
    assert weighted.predict_proba(X)[:, 1].mean() > 0.7


def test_user_module_in_searches_and_pickle(data):
    X, y = data
    clf = LSTMBlinkClassifier(module=MeanPoolConv, module__width=4, **FAST)
    assert clone(clf).get_params()["module__width"] == 4
    search = GridSearchCV(clf, {"module__width": [2, 6], "class_weight": [None, "balanced"]},
                          cv=2, scoring="balanced_accuracy").fit(X, y)
    assert search.best_estimator_.module_.network.conv.out_channels in (2, 6)
    scores = cross_val_score(clf, X, y, cv=3, scoring="balanced_accuracy")
    assert scores.shape == (3,)
    fitted = clf.fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))


def test_user_module_with_the_estimator_features(data, tmp_path):
    X, y = data
    weights = np.linspace(0.5, 1.5, len(X))
    clf = LSTMBlinkClassifier(module=MeanPoolConv, sampling="balanced", prior_correction=True,
                              callbacks=[EarlyStopping(monitor="valid_bacc", patience=1,
                                                       lower_is_better=False)],
                              **{**FAST, "max_epochs": 5})
    clf.fit(X[:90], y[:90], sample_weight=weights[:90], validation_data=(X[90:], y[90:]))
    assert "valid_bacc" in clf.history_[-1]
    assert np.allclose(clf.predict_proba(X).sum(axis=1), 1)
    warm = LSTMBlinkClassifier(module=MeanPoolConv, warm_start=True, **FAST).fit(X, y)
    warm.fit(X, y)
    assert len(warm.history_) == 4
    partial = LSTMBlinkClassifier(module=MeanPoolConv, **FAST)
    partial.partial_fit(X, y).partial_fit(X, y)
    assert len(partial.history_) == 2
    resumed = LSTMBlinkClassifier(module=MeanPoolConv, checkpoint_dir=tmp_path, **FAST).fit(X, y)
    assert len(resumed.history_) == 2


def test_builtin_network_parameters_warn_with_a_user_module(data):
    X, y = data
    with pytest.warns(UserWarning, match=r"\['hidden_size'\] set the built-in"):
        LSTMBlinkClassifier(module=MeanPoolConv, hidden_size=64, **FAST).fit(X, y)


@pytest.mark.parametrize("layer, builtin", [(nn.GRU, "module='gru'"), (nn.LSTM, "module='lstm'")])
def test_torchs_recurrent_layer_points_to_the_builtin_network(layer, builtin):
    X = np.random.default_rng(0).normal(size=(20, 5, 1)).astype("float32")
    y = np.array([0, 1] * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "hidden_size not used" warning on the way
        with pytest.raises(TypeError, match=re.escape(builtin)):
            LSTMBlinkClassifier(module=layer, hidden_size=8, max_epochs=1,
                                device="cpu").fit(X, y)
