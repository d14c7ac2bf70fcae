"""Divergence, interruption and resume, concurrent prediction."""

import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score

from sktorchcw import TrainingDivergedError
from sktorchcw._checkpoint import CHECKPOINT_PREFIX
from sktorchcw._safe_file import parse_safe_file

from helpers import CtrlCAt, fast_classifier


class NaNAfter:
    """A cross-entropy that returns NaN from its ``n``-th call on (a picklable callable)."""

    def __init__(self, n):
        self.n = n
        self.calls = 0

    def __call__(self, logits, target):
        self.calls += 1
        loss = torch.nn.functional.cross_entropy(logits, target, reduction="none")
        return loss * float("nan") if self.calls >= self.n else loss


def _nan_classifier(n, **params):
    return fast_classifier(criterion=NaNAfter(n), criterion__input_format="logits",
                           criterion__target_format="index", **params)


def test_divergence_names_epoch_and_batch_and_leaves_the_estimator_unfitted(blinks):
    X, y = blinks  # 160 samples, batch 32: 5 batches per epoch; call 8 is epoch 2, batch 3
    clf = fast_classifier(max_epochs=2).fit(X, y)  # an earlier fit must not survive either
    clf.set_params(criterion=NaNAfter(8), criterion__input_format="logits",
                   criterion__target_format="index", max_epochs=5)
    with pytest.raises(TrainingDivergedError, match="epoch 2, batch 3"):
        clf.fit(X, y)
    assert not [name for name in vars(clf) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_overflowing_weights_are_caught_in_the_first_batch(blinks):
    X, y = blinks
    clf = fast_classifier(class_weight={0: 3e38, 1: 3e38}, loss_reduction="sum")
    with pytest.raises(TrainingDivergedError, match="became inf at epoch 1, batch 1"):
        clf.fit(X, y)


def checkpoints_in(folder):
    """Checkpoint files, not the partial files a checkpoint is written to first."""
    return sorted(path for path in Path(folder).glob(f"{CHECKPOINT_PREFIX}*")
                  if not path.name.endswith(".partial"))


def test_ctrl_c_propagates_and_a_second_fit_resumes_to_the_same_model(blinks, tmp_path):
    X, y = blinks
    params = dict(max_epochs=6, dropout=0.2, checkpoint_dir=tmp_path)
    reference = fast_classifier(**params).fit(X, y)
    assert not checkpoints_in(tmp_path), "a completed fit removes its checkpoint"

    interrupted = fast_classifier(callbacks=[CtrlCAt(3)], **params)
    with pytest.raises(KeyboardInterrupt, match="interrupted after 3 of 6 epochs"):
        interrupted.fit(X, y)
    assert len(interrupted.history_) == 3
    assert len(checkpoints_in(tmp_path)) == 1

    resumed = fast_classifier(**params).fit(X, y)
    assert len(resumed.history_) == 6
    assert [row["epoch"] for row in resumed.history_] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(resumed.predict_proba(X), reference.predict_proba(X), atol=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resume_on_a_gpu_continues_dropout_as_an_uninterrupted_fit(blinks, tmp_path):
    X, y = blinks
    # One layer: the dropout before the output layer draws from the CUDA generator. (cuDNN's
    # dropout between LSTM layers keeps a state of its own, which is not checkpointed.)
    params = dict(max_epochs=5, dropout=0.3, device="cuda", checkpoint_dir=tmp_path)
    reference = fast_classifier(**params).fit(X, y)
    with pytest.raises(KeyboardInterrupt, match="interrupted after 2 of 5"):
        fast_classifier(callbacks=[CtrlCAt(2)], **params).fit(X, y)
    resumed = fast_classifier(**params).fit(X, y)
    np.testing.assert_allclose(resumed.predict_proba(X), reference.predict_proba(X), atol=1e-5)


def test_checkpoints_of_other_fits_in_the_folder_are_left_alone(blinks, tmp_path):
    X, y = blinks
    params = dict(max_epochs=4, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        fast_classifier(callbacks=[CtrlCAt(2)], **params).fit(X, y)
    [first] = checkpoints_in(tmp_path)
    other = fast_classifier(lr=0.5, **params).fit(X, y)  # other parameters: starts afresh
    assert [row["epoch"] for row in other.history_] == [1, 2, 3, 4]
    assert fast_classifier(**params).fit(X[:100], y[:100]).history_[0]["epoch"] == 1
    assert checkpoints_in(tmp_path) == [first]
    resumed = fast_classifier(**params).fit(X, y)
    assert [row["epoch"] for row in resumed.history_] == [1, 2, 3, 4]
    assert not checkpoints_in(tmp_path)


def interrupted_checkpoint(X, y, folder):
    with pytest.raises(KeyboardInterrupt):
        fast_classifier(max_epochs=4, checkpoint_dir=folder, callbacks=[CtrlCAt(2)]).fit(X, y)
    [path] = checkpoints_in(folder)
    return path


def test_a_corrupt_checkpoint_is_a_clear_error(blinks, tmp_path):
    X, y = blinks
    interrupted_checkpoint(X, y, tmp_path).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot be read as a checkpoint"):
        fast_classifier(max_epochs=4, checkpoint_dir=tmp_path).fit(X, y)


def test_a_checkpoint_renamed_to_another_fit_is_refused(blinks, tmp_path):
    X, y = blinks
    interrupted_checkpoint(X, y, tmp_path / "a")
    interrupted_checkpoint(X[:100], y[:100], tmp_path / "b").rename(
        checkpoints_in(tmp_path / "a")[0])
    with pytest.raises(ValueError, match="other parameters or data"):
        fast_classifier(max_epochs=4, checkpoint_dir=tmp_path / "a").fit(X, y)


def test_checkpoint_dir_that_is_a_file_fails_before_training(blinks, tmp_path):
    X, y = blinks
    path = tmp_path / "a_file"
    path.write_text("")
    clf = fast_classifier(checkpoint_dir=path, callbacks=[CtrlCAt(1)])
    with pytest.raises(ValueError, match="is a file, not a folder"):
        clf.fit(X, y)


def test_parallel_cross_validation_can_share_a_checkpoint_folder(blinks, tmp_path):
    X, y = blinks
    shared = cross_val_score(fast_classifier(max_epochs=3, checkpoint_dir=tmp_path), X, y,
                             cv=4, n_jobs=2, scoring="balanced_accuracy")
    alone = cross_val_score(fast_classifier(max_epochs=3), X, y, cv=4,
                            scoring="balanced_accuracy")
    np.testing.assert_allclose(shared, alone)
    assert not list(tmp_path.iterdir())


def test_ctrl_c_in_the_middle_of_an_epoch_keeps_the_last_finished_one(blinks):
    X, y = blinks
    one_epoch = fast_classifier(max_epochs=1).fit(X, y)
    interrupted = fast_classifier(max_epochs=4, callbacks=[CtrlCAt(2, 3)])
    with pytest.raises(KeyboardInterrupt, match="interrupted after 1 of 4 epochs"):
        interrupted.fit(X, y)
    assert [row["epoch"] for row in interrupted.history_] == [1]
    np.testing.assert_array_equal(interrupted.predict_proba(X), one_epoch.predict_proba(X))


def test_resume_works_in_a_new_process_with_a_function_criterion(blinks, tmp_path):
    """The fingerprint of an unpicklable parameter must not depend on memory addresses."""
    X, y = blinks
    np.savez(tmp_path / "data.npz", X=X, y=y)
    script = textwrap.dedent("""
        import sys
        import numpy as np
        sys.path.insert(0, {tests!r})
        from helpers import fast_classifier
        from sktorchcw._checkpoint import training_fingerprint
        from sktorchcw._data import check_fit_input
        data = np.load({data!r})
        clf = fast_classifier(criterion=lambda p, t: (p - t).abs(),
                              criterion__input_format="probabilities",
                              criterion__target_format="onehot")
        sequences, clf.classes_, y_encoded = check_fit_input(clf, data["X"], data["y"])
        print(training_fingerprint(clf, sequences, y_encoded, None))
    """).format(tests=os.path.dirname(__file__), data=str(tmp_path / "data.npz"))
    prints = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             check=True).stdout for _ in range(2)]
    assert prints[0] == prints[1] and len(prints[0].strip()) == 32


TRAIN_SLOWLY = textwrap.dedent("""
    import sys, time
    import numpy as np
    from skorch.callbacks import Callback
    sys.path.insert(0, {tests!r})
    from helpers import fast_classifier

    class Slow(Callback):  # from the third epoch on, time to be killed before the end
        def on_epoch_end(self, net, **kwargs):
            time.sleep(0.3 if len(net.history) < 3 else 1.0)

    data = np.load({data!r})
    fast_classifier(max_epochs=12, checkpoint_dir={folder!r}, callbacks=[Slow()]).fit(
        data["X"], data["y"])
""")


def test_a_killed_training_process_resumes_from_its_last_checkpoint(blinks, tmp_path):
    X, y = blinks
    np.savez(tmp_path / "data.npz", X=X, y=y)
    folder = tmp_path / "checkpoints"
    script = TRAIN_SLOWLY.format(tests=os.path.dirname(__file__), data=str(tmp_path / "data.npz"),
                                 folder=str(folder))
    process = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        while _epochs_in(folder) < 3:
            assert process.poll() is None, "the training process ended before it was killed"
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.1)
    finally:
        process.kill()
        process.wait()
    killed_at = _epochs_in(folder)
    assert 3 <= killed_at < 12

    resumed = fast_classifier(max_epochs=12, checkpoint_dir=folder).fit(X, y)
    assert len(resumed.history_) == 12
    reference = fast_classifier(max_epochs=12).fit(X, y)
    np.testing.assert_allclose(resumed.predict_proba(X), reference.predict_proba(X), atol=1e-5)
    assert not checkpoints_in(folder)


def _epochs_in(folder):
    paths = checkpoints_in(folder) if folder.exists() else []
    if not paths:
        return 0
    try:
        return parse_safe_file(paths[0].read_bytes(), "a checkpoint")[0]["epochs"]
    except Exception:  # being replaced right now
        return 0


def test_predictions_from_many_threads_are_identical(blinks):
    X, y = blinks
    clf = fast_classifier(max_epochs=3).fit(X, y)
    expected = clf.predict_proba(X)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: clf.predict_proba(X), range(32)))
        labels = list(pool.map(lambda _: clf.predict(X[:7]), range(32)))
    for proba in results:
        np.testing.assert_array_equal(proba, expected)
    for predicted in labels:
        np.testing.assert_array_equal(predicted, clf.classes_[expected[:7].argmax(axis=1)])
