"""Section m, fit memory: what one ``fit`` adds per byte of its training data (the slope).

Measures: the peak resident memory one ``fit`` adds (1 epoch, ``device='cpu'``, hidden
8, batches of 4096, ``class_weight='balanced'``, float32 frames of 2 features, int64
labels), in a fresh process per figure (``benchmarks/memory_probe.py``), at two sizes
of the data (100,000 and 200,000 recordings), for four inputs: the classifier and the
tagger on a 3-D array of 60 frames, the classifier on that array as a memory map whose
pages are resident, and the classifier on a list of ``(T_i, 2)`` arrays, ``T_i``
log-uniform in 1..60 (400,000 and 1,600,000 of them: 14 frames on average, so that
the difference in bytes, 139 MiB, dwarfs the peak's spread from run to run, 10 to 20
MiB; at 100,000 and 200,000 the same code measured slopes from 1.1 to 3.2).
Anchor: the bytes of X + y. The slope is (peak at the larger size - peak at the smaller)
/ (difference of their X + y bytes): what grows with the data. The intercept (peak at the
larger size - slope x its bytes) is the working memory that does not: one batch's
activations and copies.
Figures: slope, targets <= 0.5 (3-D arrays), <= 0.3 (memory map), <= 1.2 (list, which
fit copies once into one frame buffer); the intercept in MiB (no target).

Each size's peak is the median of ``memory_repeats`` fresh processes (3 in the full
run): the same fit of the same data peaked differently from process to process, by up
to 65 MiB for the larger list before its lengths, offsets and codes were narrowed
(2026-12-06), as the C heap's layout (glibc) differed from run to run. Every process's
peak is kept, and the slope of each repeat's pair of processes.

Each figure comes from a fresh process: the data built, one warm-up fit on 64
recordings, then the kernel's peak RSS (``VmHWM``, reset through
``/proc/self/clear_refs``, so building the data never counts) minus the RSS before the
fit. RSS counts the pages of a memory map the process has read, so the memory-map figure
reads every page before the fit and counts only what the fit adds. Linux only (skipped
elsewhere, with the reason).
"""

import statistics

from common import at_most, row, run_probes

TITLE = "fit memory per byte of training data: the slope"

MEMORY_HIDDEN = 8  # a small network, so that the data dominates the memory
MEMORY_BATCH = 4096

INPUTS = {  # label: (estimator, kind, frames, target slope)
    "classifier, 3-D array": ("classifier", "array", None, 0.5),
    "tagger, 3-D array": ("tagger", "array", None, 0.5),
    "classifier, memmap (resident)": ("classifier", "memmap", None, 0.3),
    "classifier, list of arrays": ("classifier", "ragged", (1, 60), 1.2),
}


def measure(sizes, device):
    """m. Peak RSS one fit adds at two sizes of the data: slope and intercept."""
    specs = [{"task": "fit", "estimator": estimator, "kind": kind, "n": n,
              "frames": list(frames) if frames else sizes.memory_frames,
              "hidden_size": MEMORY_HIDDEN, "batch_size": MEMORY_BATCH,
              "class_weight": "balanced"}
             for estimator, kind, frames, _ in INPUTS.values()
             for n in (sizes.memory_ragged_samples if kind == "ragged" else sizes.memory_samples)
             for _ in range(sizes.memory_repeats)]
    results = iter(run_probes(specs, sizes.probe_each))
    rows = []
    for label, (_, _, _, target) in INPUTS.items():
        (small, small_bytes, small_peaks), (large, large_bytes, large_peaks) = [
            _median_peak([next(results) for _ in range(sizes.memory_repeats)])
            for _ in range(2)]
        slope = (large - small) / (large_bytes - small_bytes)
        # Beside it, the slope of each repeat's pair of processes (the spread).
        pairs = [(high - low) * 2**20 / (large_bytes - small_bytes)
                 for low, high in zip(small_peaks, large_peaks, strict=True)]
        rows.append(row("m", f"{label}: slope, fit peak added / (X + y)", slope, "ratio",
                        at_most(target), samples=pairs))
        rows.append(row("m", f"{label}: intercept (working memory)",
                        (large - slope * large_bytes) / 2**20, "MiB"))
        rows.append(row("m", f"{label}: X + y, smaller and larger",
                        large_bytes / 2**20, "MiB", samples=[small_bytes / 2**20,
                                                            large_bytes / 2**20]))
        rows.append(row("m", f"{label}: peak added at the smaller size (median)",
                        small / 2**20, "MiB", samples=small_peaks))
        rows.append(row("m", f"{label}: peak added at the larger size (median)",
                        large / 2**20, "MiB", samples=large_peaks))
    return rows


def _median_peak(results):
    """The median peak one fit added (bytes) over fresh processes, the bytes of X + y,
    and every process's peak (MiB)."""
    peaks = [result["fit"]["added_mib"] for result in results]
    return (statistics.median(peaks) * 2**20,
            results[0]["x_bytes"] + results[0]["y_bytes"], peaks)
