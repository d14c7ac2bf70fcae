import os
import signal

# One torch thread per test process and per process a test starts (examples, resumed fits,
# the demo): set before torch is imported, so subprocesses inherit it and round as this
# process does. The networks under test are tiny: a second intra-op thread gains nothing
# when the other core is free (a fit of helpers.fast_classifier on the blinks: 0.13 s with
# one thread or two, the fastest of 6), and when another program keeps a core busy every
# parallel operation waits for a descheduled thread (sktorchcw/_threads.py): that fit took
# up to 19 s with two, and test_classifier.py, test_common.py and test_tagger.py took 159 s
# instead of 31 s on a 2-core machine shared with other work. OMP_NUM_THREADS set by the
# caller wins; the tests of n_threads set torch's count themselves.
TORCH_THREADS = os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from sktorchcw._device import float32_rnn  # noqa: E402
from sktorchcw.datasets import make_blink_dataset  # noqa: E402

if TORCH_THREADS == "1":
    torch.set_num_threads(1)  # in case torch was imported before this file


@pytest.fixture(scope="session")
def blinks():
    """160 windows of 20 frames, 2 features, 25 % blinks."""
    X, y = make_blink_dataset(160, seq_len=20, prevalence=0.25, random_state=0)
    return X, y


@pytest.fixture(scope="session")
def three_classes():
    """Univariate sequences whose class is the sign pattern of a step: easy to learn."""
    rng = np.random.RandomState(0)
    y = np.repeat(["down", "flat", "up"], 30)
    steps = {"down": -1.0, "flat": 0.0, "up": 1.0}
    X = rng.normal(scale=0.3, size=(90, 10))
    X[:, 5:] += np.array([steps[label] for label in y])[:, None]
    return X, y


@pytest.fixture(autouse=True)
def ctrl_c_raises_keyboard_interrupt():
    """Tests press Ctrl-C by sending SIGINT to their own process. A shell that starts CI in
    the background sets SIGINT to be ignored, and Python then installs no handler; make
    SIGINT raise KeyboardInterrupt, as it does in a terminal."""
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture(autouse=True)
def gpu_tests_compute_in_float32(request):
    """Tests marked ``gpu`` compare GPU results with CPU (or onnxruntime) float32 results:
    run cuDNN's LSTM in float32 for them, not in TF32, PyTorch's default on Ampere and
    newer GPUs, which rounds far more than float32 does."""
    if request.node.get_closest_marker("gpu") is None:
        yield
        return
    with float32_rnn():
        yield
