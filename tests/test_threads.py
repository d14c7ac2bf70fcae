"""n_threads: torch's intra-op threads during fit and prediction, restored afterwards;
'auto' follows the machine's load (simulated here: the readings are what a test can
control, not the machine's real load)."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback
from torch import nn

from sktorchcw import LSTMBlinkClassifier, LSTMBlinkTagger, TrainingDivergedError, _threads
from sktorchcw._net import SequenceNet
from sktorchcw._threads import threads_for_free_cores, torch_threads
from sktorchcw.datasets import make_blink_dataset, make_blink_recordings
from sktorchcw.skorch import NeuralNetClassifier


class ThreadsSeen(Callback):
    """Records torch's thread count in every training batch's history."""

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            net.history.record_batch("threads", torch.get_num_threads())


def threads_seen(estimator):
    net = getattr(estimator, "net_", estimator)
    return {count for epoch in net.history for count in
            (batch["threads"] for batch in epoch["batches"] if "threads" in batch)}


@pytest.fixture
def process_threads():
    """The process computes with 3 threads during the test (whatever the machine has),
    and gets its own setting back after."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def windows():
    return make_blink_dataset(n_samples=120, seq_len=20, prevalence=0.2, random_state=0)


def small(cls=LSTMBlinkClassifier, **params):
    return cls(hidden_size=4, max_epochs=2, batch_size=16, device="cpu",
               callbacks=[("threads", ThreadsSeen())], **params)


def test_fixed_count_during_fit_and_restored_after(windows, process_threads):
    clf = small(n_threads=1, random_state=0).fit(*windows)
    assert threads_seen(clf) == {1}
    assert torch.get_num_threads() == process_threads
    clf.predict_proba(windows[0])
    assert torch.get_num_threads() == process_threads


def test_negative_count_counts_back_from_the_cores(windows, process_threads, monkeypatch):
    monkeypatch.setattr(_threads, "usable_cores", lambda: 4)
    assert threads_seen(small(n_threads=-1).fit(*windows)) == {4}
    assert threads_seen(small(n_threads=-3).fit(*windows)) == {2}
    assert threads_seen(small(n_threads=-9).fit(*windows)) == {1}


def test_none_leaves_torch_alone(windows, process_threads):
    assert threads_seen(small(n_threads=None).fit(*windows)) == {process_threads}


def test_auto_with_a_seed_keeps_torch_setting_so_the_seed_repeats(windows, process_threads,
                                                                 monkeypatch):
    # Even when the machine reads as busy, a seeded fit computes with torch's setting.
    busy_machine(monkeypatch, cpus=3, others=2.0)
    first = small(random_state=0).fit(*windows)
    assert threads_seen(first) == {process_threads}
    second = small(random_state=0).fit(*windows)
    np.testing.assert_array_equal(first.predict_proba(windows[0]),
                                  second.predict_proba(windows[0]))


def busy_machine(monkeypatch, *, cpus, others):
    """Readings of a machine with ``cpus`` cores where other programs keep ``others`` of
    them busy, checked at every batch."""
    clock = {"now": 0.0}

    def reading(names):
        clock["now"] += 1.0
        own = clock["now"] * 0.5
        return clock["now"], clock["now"] * others + own, own

    monkeypatch.setattr(_threads, "_stat_cpus",
                        lambda: frozenset(f"cpu{index}" for index in range(cpus)))
    monkeypatch.setattr(_threads, "_cpu_reading", reading)
    monkeypatch.setattr(_threads, "FIRST_WINDOW", -1.0)
    monkeypatch.setattr(_threads.time, "monotonic", lambda: float("inf"))


@pytest.mark.parametrize("others, expected", [(0.0, 3), (1.0, 2), (1.6, 1), (2.9, 1)])
def test_auto_uses_the_cores_others_leave_free(windows, process_threads, monkeypatch,
                                               others, expected):
    busy_machine(monkeypatch, cpus=3, others=others)
    clf = small().fit(*windows)  # no random_state: 'auto' follows the load
    # The first batch runs with one thread (before the first reading).
    assert threads_seen(clf) - {1} == ({expected} - {1})
    assert expected in threads_seen(clf)
    assert torch.get_num_threads() == process_threads


def test_auto_never_exceeds_torch_setting(windows, monkeypatch):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        busy_machine(monkeypatch, cpus=8, others=0.0)
        assert threads_seen(small().fit(*windows)) == {1}
    finally:
        torch.set_num_threads(before)


def test_auto_without_a_reading_keeps_torch_setting(windows, process_threads, monkeypatch):
    monkeypatch.setattr(_threads, "_stat_cpus", lambda: None)  # not Linux
    assert threads_seen(small().fit(*windows)) == {process_threads}


class Fails(Callback):
    def on_batch_end(self, net, **kwargs):
        raise TrainingDivergedError("broken on purpose")


def test_restored_when_the_fit_fails(windows, process_threads):
    clf = small(n_threads=1, random_state=0)
    clf.callbacks.append(("fails", Fails()))
    with pytest.raises(TrainingDivergedError, match="on purpose"):
        clf.fit(*windows)
    assert torch.get_num_threads() == process_threads


def test_tagger_and_its_decision_tuning(process_threads, monkeypatch):
    X, y = make_blink_recordings(n_recordings=4, n_frames=200, random_state=0)
    inferred = []
    infer = SequenceNet.infer
    monkeypatch.setattr(SequenceNet, "infer", lambda self, x, **kw: inferred.append(
        torch.get_num_threads()) or infer(self, x, **kw))
    tagger = small(LSTMBlinkTagger, n_threads=2, threshold="auto", random_state=0)
    tagger.fit(X, y)
    assert threads_seen(tagger) == {2}
    assert set(inferred) == {2}  # training, and the predictions that tune the decision
    assert torch.get_num_threads() == process_threads
    tagger.set_params(n_threads=1).predict(X)
    assert inferred[-1] == 1


@pytest.mark.parametrize("value, error, words", [
    (0, ValueError, "n_threads"), (1.5, ValueError, "n_threads"),
    ("fast", ValueError, "n_threads"), (True, TypeError, "an int"),
])
def test_bad_values_are_refused_before_training(windows, value, error, words):
    clf = small(n_threads=value)
    with pytest.raises(error, match=words):
        clf.fit(*windows)
    assert not hasattr(clf, "net_")


def test_a_clone_keeps_n_threads():
    assert clone(LSTMBlinkClassifier(n_threads=1)).get_params()["n_threads"] == 1
    assert LSTMBlinkTagger().get_params()["n_threads"] == "auto"


class Logits(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, X):
        return self.linear(X)


def dropin(**params):
    return NeuralNetClassifier(Logits, criterion=nn.CrossEntropyLoss, max_epochs=2,
                               batch_size=16, train_split=None, verbose=0,
                               callbacks=[("threads", ThreadsSeen())], **params)


def tabular():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    return X, (X[:, 0] > 0.5).astype(np.int64)


def test_dropin_leaves_torch_alone_by_default_as_skorch(process_threads):
    net = dropin().fit(*tabular())
    assert net.n_threads is None
    assert threads_seen(net) == {process_threads}


def test_dropin_fixed_count_in_fit_and_predict(process_threads, monkeypatch):
    net = dropin(n_threads=1).fit(*tabular())
    assert threads_seen(net) == {1}
    seen = []
    forward = Logits.forward
    monkeypatch.setattr(Logits, "forward",
                        lambda self, X: seen.append(torch.get_num_threads()) or forward(self, X))
    net.predict_proba(tabular()[0])
    assert set(seen) == {1}
    assert torch.get_num_threads() == process_threads


def test_dropin_refuses_a_bad_value():
    with pytest.raises(ValueError, match="n_threads=0"):
        dropin(n_threads=0).fit(*tabular())


def test_nested_blocks_leave_the_outer_in_charge(process_threads):
    with torch_threads(1) as outer:
        with torch_threads(2) as inner:
            assert inner is outer
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == process_threads


def test_free_cores_rounding():
    assert threads_for_free_cores(1.05, 2) == 1
    assert threads_for_free_cores(0.0, 2) == 1
    assert threads_for_free_cores(7.6, 16) == 8


def threads_in_fit(estimator, X, y):
    """A scorer: the most threads a training batch of this fit computed with."""
    return max(threads_seen(estimator))


@pytest.mark.slow
def test_parallel_grid_search_does_not_oversubscribe(windows):
    # joblib's workers limit each one's threads to cores // n_jobs (OMP_NUM_THREADS,
    # read by torch at start); 'auto' never goes above a process's setting.
    import os
    search = GridSearchCV(small(), {"class_weight": [None, "balanced"]}, cv=2, n_jobs=2,
                          scoring=threads_in_fit, refit=False)
    search.fit(*windows)
    limit = max(1, (os.cpu_count() or 1) // 2)
    assert search.cv_results_["mean_test_score"].max() <= limit


def test_demo_states_and_uses_its_threads():
    import io

    from sktorchcw.__main__ import build_parser
    from sktorchcw._demo import run_demo

    out = io.StringIO()
    result = run_demo(samples=60, epochs=1, seq_len=20, prevalence=0.2, output=None,
                      device="cpu", stream=out)
    assert "Threads: 1 (--threads)." in out.getvalue()
    assert {model.n_threads for model in result.models.values()} == {1}
    assert build_parser().parse_args(["demo", "--threads", "torch"]).threads is None
    assert build_parser().parse_args(["demo"]).threads == 1
