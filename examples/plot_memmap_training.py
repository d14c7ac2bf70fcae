"""
Training on a memory-mapped file
================================

A collection of recordings can be larger than the memory you want to spend on it. Saved
once as a 3-D float32 ``.npy`` file and opened with ``np.load(path, mmap_mode="r")``, it
trains and predicts without being read into memory: the estimators use a float32
C-contiguous array as it is given (a memory map included), compute the
standardisation's statistics a chunk of frames at a time, and read only the recordings
of the current batch.

This example writes such a file chunk by chunk (never holding it all), trains
:class:`~sktorchcw.LSTMBlinkClassifier` on it, predicts in batches, and prints the
memory each step added next to the size of the data. The file here is small (50,000
recordings of 60 frames x 2 features, 23 MiB) so that the example runs in seconds; the
same code with a larger ``N_RECORDINGS`` writes and trains on a file of any size (100
million recordings make 45 GiB), and the memory the fit adds stays a small fraction of
it. See :ref:`scaling` for the rules.
"""

# %%
# Write the file a chunk at a time
# --------------------------------
# ``np.lib.format.open_memmap`` creates an ``.npy`` file of the final shape on disk and
# maps it; each chunk of windows from :func:`~sktorchcw.datasets.make_blink_dataset`
# (one label per window: does a blink occur?) is written into its rows and dropped, so
# only one chunk is ever in memory. The labels, one byte per recording, stay in memory
# (they could be a second ``.npy`` file).
import ctypes
import ctypes.util
import gc
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from sktorchcw import LSTMBlinkClassifier
from sktorchcw.datasets import make_blink_dataset

N_RECORDINGS = 50_000  # 23 MiB on disk; the loop writes any number the same way
SEQ_LEN, N_FEATURES = 60, 2
CHUNK = 10_000  # recordings generated and written at a time (2.3 MiB)

folder = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
path = Path(folder.name) / "windows.npy"
started = time.perf_counter()
out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                shape=(N_RECORDINGS, SEQ_LEN, N_FEATURES))
y = np.empty(N_RECORDINGS, dtype=np.int8)
for start in range(0, N_RECORDINGS, CHUNK):
    stop = min(start + CHUNK, N_RECORDINGS)
    X_chunk, y_chunk = make_blink_dataset(stop - start, seq_len=SEQ_LEN, prevalence=0.1,
                                          noise=0.04, hard_negative_rate=0.6,
                                          random_state=start)
    out[start:stop] = X_chunk
    y[start:stop] = y_chunk
out.flush()
del out, X_chunk  # unmap the file: from here on it is read as a user would read it
print(f"wrote {N_RECORDINGS:,} recordings of {SEQ_LEN} frames x {N_FEATURES} features: "
      f"{path.stat().st_size / 2**20:.1f} MiB in {time.perf_counter() - started:.1f} s, "
      f"{y.mean():.1%} with a blink")

# %%
# Measuring memory
# ----------------
# On Linux, ``/proc/self/status`` gives the process's resident memory in two parts:
# ``RssAnon``, the process's own memory (what a copy of X would cost), and ``RssFile``,
# the pages of mapped files that it has read (they belong to the operating system's
# page cache, are shared, and are taken back under memory pressure). ``VmHWM`` is the
# peak of the two together; writing ``5`` to ``/proc/self/clear_refs`` resets it to the
# current value, so the peak a call adds is exact, not sampled. Freed heap memory is
# given back to the system first (glibc's ``malloc_trim``), so that a call cannot
# reuse memory freed before it unseen. Where these are not available (another system,
# or ``clear_refs`` not writable) the figures are skipped.


def memory_mib():
    """Memory fields of /proc/self/status in MiB, or {} where there is none."""
    try:
        with open("/proc/self/status") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}
    fields = {}
    for line in lines:
        key, _, value = line.partition(":")
        if value.strip().endswith("kB"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def reset_peak():
    """Give freed heap back and reset the peak (VmHWM); False where it cannot be reset."""
    gc.collect()
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass  # not glibc
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def measured(what, call):
    """Run ``call()`` and print its time and the memory it added.

    Returns the result and the peak resident memory added in MiB (None if unknown)."""
    peak_known = reset_peak()
    before = memory_mib()
    started = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - started
    after = memory_mib()
    peak, figures = None, []
    if peak_known and "VmHWM" in after:
        peak = after["VmHWM"] - before["VmRSS"]
        figures.append(f"peak resident memory added {peak:.1f} MiB")
    if "RssFile" in after:
        figures.append(f"file pages added {after['RssFile'] - before['RssFile']:.1f} MiB")
    print(f"{what}: {seconds:.2f} s" + "".join(f"; {figure}" for figure in figures))
    if not figures:
        print("  (memory figures need Linux's /proc/self/status and clear_refs)")
    return result, peak


# %%
# Open the file
# -------------
# ``np.load(path, mmap_mode="r")`` reads only the header; ``X`` is a read-only
# ``numpy.memmap`` of the whole file. The first 80 % of the recordings (40,000) train
# and the last 20 % are held out: a slice of a memory map is a memory map of part of
# the file, whereas fancy indexing (as :func:`~sklearn.model_selection.train_test_split`
# does) would copy the rows into memory.
X = np.load(path, mmap_mode="r")
n_train = N_RECORDINGS * 4 // 5
X_train, y_train = X[:n_train], y[:n_train]
X_test, y_test = X[n_train:], y[n_train:]
print(type(X).__name__, X.shape, X.dtype, "C-contiguous:", X.flags.c_contiguous)
print(f"training part {X_train.nbytes / 2**20:.1f} MiB, held-out part "
      f"{X_test.nbytes / 2**20:.1f} MiB")

# %%
# Train
# -----
# Before the first epoch a fit reads the training data through, a chunk at a time, for
# its checks (no NaN or infinity) and the standardisation's statistics; every epoch
# then reads every recording once more, in a random order. The file's pages it reads
# count in the process's resident memory (``RssFile``), although nothing is copied.
#
# A short fit on a few generated recordings pays the one-off costs first (imports, the
# libraries' pages, the first kernels). The first fit on the file then reads it cold,
# and its pages become resident; the same model is fitted again on a quarter of the
# training part and on all of it: what these fits add is their own memory, and what
# grows with the data is the difference between the two.
clf = LSTMBlinkClassifier(class_weight="balanced", hidden_size=16, batch_size=256,
                          max_epochs=1, lr=0.02, device="cpu", random_state=0)
clf.fit(*make_blink_dataset(512, seq_len=SEQ_LEN, random_state=1))
measured(f"first fit, 1 epoch on {n_train:,} recordings (the file not read yet)",
         lambda: clf.fit(X_train, y_train))
n_quarter = n_train // 4
_, peak_quarter = measured(f"fit, 1 epoch on {n_quarter:,} recordings "
                           f"({X_train[:n_quarter].nbytes / 2**20:.1f} MiB)",
                           lambda: clf.fit(X_train[:n_quarter], y_train[:n_quarter]))
_, peak_all = measured(f"fit, 1 epoch on {n_train:,} recordings "
                       f"({X_train.nbytes / 2**20:.1f} MiB)",
                       lambda: clf.fit(X_train, y_train))
if peak_all is not None:
    more = (X_train.nbytes - X_train[:n_quarter].nbytes) / 2**20
    print(f"4 times the recordings ({more:.1f} MiB more data): the fit's peak went from "
          f"{peak_quarter:.1f} to {peak_all:.1f} MiB")

# %%
# The first fit added the training part's pages (about its size) to the resident
# memory: the file, read once, not a copy; its peak also holds the allocator's first
# growth. The fits after it added no file pages, and their peaks are mostly fixed: the
# network and its optimizer, one batch of 256 recordings with its activations and
# gradients, and the temporaries of one chunk of frames for the statistics. At this
# size the fixed part is of the order of the data itself, and the two peaks differ by
# little more than they vary from run to run (a MiB or two, the memory allocator's
# doing). What grows with the data is a few tens of bytes per recording (the labels as
# one-byte codes, an epoch's shuffled order) against the 480 bytes of a recording
# here: no copy of X.
#
# The same script with ``N_RECORDINGS = 500_000`` (a 229 MiB file) printed: first
# fit 216 MiB, of which 184 MiB the file's pages; 22.7 MiB for the fit on 100,000
# recordings (0.50 times their 45.8 MiB) and 33.4 MiB for the fit on 400,000 (0.18
# times their 183.1 MiB), 37 bytes more per recording; ``benchmarks/RESULTS.md``,
# section m ("memory map, pages already read"), measures 0.16 for one epoch on 400,000
# recordings, each figure in a fresh process.
#
# Predict in batches
# ------------------
# ``predict_batch_size`` sets the recordings per prediction batch (``"auto"`` takes as
# many as fit a small memory budget); only the outputs, one row per recording, are
# held for the whole data. The held-out part has not been read yet, so this time the
# peak counts its pages too: the file pages the prediction added are the held-out
# part, read once; the rest is per batch (one batch's inputs, the LSTM's workspace
# and outputs), whatever the size of the data.
clf.set_params(predict_batch_size=1024)
y_pred, _ = measured(f"predict on {len(X_test):,} held-out recordings "
                     f"({X_test.nbytes / 2**20:.1f} MiB)", lambda: clf.predict(X_test))
print(f"balanced accuracy on the held-out recordings: "
      f"{balanced_accuracy_score(y_test, y_pred):.3f}")

# %%
# Advice for large files
# ----------------------
# - **float32, C-contiguous, 3-D** ``(n_recordings, n_frames, n_features)``: such an
#   array is used as it is. float64 data, a transposed or otherwise strided view, or a
#   list of recordings are converted first, into a float32 copy in memory (a float64
#   file of 92 MiB added 92 MiB to the fit's peak); write the file as float32 in its
#   final layout instead.
# - **Recordings of different lengths**: pad them to a common length in the file (with
#   NaN frames and ``missing='mask'``), since a list of recordings is held in memory,
#   as one buffer of frames.
# - **Standardisation** (``standardize=True``, the default) needs each feature's mean
#   and standard deviation over the training data: they are computed a chunk of frames
#   at a time, in one pass through the file, and stored in the model, which
#   standardises each batch as it reads it (in training and in prediction).
#   ``standardize='robust'`` (median and interquartile range) copies one feature's
#   column at a time, ``1 / n_features`` of X.
# - **Shuffling reads random pages**: every training batch gathers recordings from all
#   over the file, so on a slow or network disk each batch waits for many small reads.
#   Keep the file on a fast local disk (an SSD), ideally small enough to stay in the
#   operating system's page cache, so that the epochs after the first read from memory
#   (memory that the kernel can still take back).
# - **Select rows with slices** (``X[:n]``, ``X[n:]``), not index arrays or boolean
#   masks, which copy. scikit-learn's cross-validation and searches select each fold's
#   rows with index arrays, so each fit there gets a copy of its training rows; for a
#   file that should not be copied, split it with slices yourself (write the rows in a
#   random order, or grouped by video, so that contiguous blocks make fair folds).
# - **On a GPU** the training data is copied to the GPU's memory once when it takes at
#   most half of the GPU's free memory; a larger file stays on the host and is read
#   batch by batch.
#
# :class:`~sktorchcw.LSTMBlinkTagger` trains on a memory map too (its per-frame labels
# ``(n_recordings, n_frames)`` may be a second one; ``benchmarks/RESULTS.md``, section
# m, gives the memory its fit adds). Its outputs are per frame, though:
# ``predict_proba`` returns a float64 array of ``(n_recordings, n_frames, n_classes)``,
# four times the size of X with two features and two classes. To label a large file,
# predict a slice of it at a time and write each slice's labels to another file.
X = X_train = X_test = None  # unmap the file before its folder is removed
folder.cleanup()
