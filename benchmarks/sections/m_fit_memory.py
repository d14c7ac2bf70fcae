"""Section m, fit memory: fit peak memory per byte of training data.

Measures: the peak resident memory one ``fit`` adds, in a fresh process per figure
(``benchmarks/memory_probe.py``), for both estimators and three kinds of X.
Anchor: the bytes of the training data, X plus y.
Figures: peak RSS added / (X + y), targets <= 0.5 (3-D array), <= 1.2 (ragged list) and
<= 0.3 (memory map, resident).

The peak resident memory one ``fit`` adds (1 epoch, ``device='cpu'``,
hidden 8, batches of 512), as a multiple of the bytes of X plus y (int64 labels: one
per recording for the classifier, one per frame for the tagger), for both estimators
and three kinds of X: a 3-D float32 C-contiguous array (400,000 x 60 x 2, 183 MiB;
target <= 0.5), a ragged list (200,000 recordings of 30 to 120 frames, log-uniform;
target <= 1.2) and the 3-D array saved to an ``.npy`` file and opened with
``np.load(path, mmap_mode='r')`` (target <= 0.3). Each figure comes from a fresh
process (``benchmarks/memory_probe.py``): the data built, one warm-up fit on 64
recordings, then the kernel's peak RSS (``VmHWM``, reset through
``/proc/self/clear_refs``, so building the data never counts) minus the RSS before the
fit. RSS counts the pages of a memory map that the process has read (a map read end to
end adds its size, though nothing was copied), so the targeted memmap figure reads
every page of the map before the fit and counts only what the fit adds; the "cold"
row (pages read during the fit) is what a plain ``ru_maxrss`` shows. Also X + y in
MiB and the fit's time. Linux only (skipped elsewhere, with the reason).
"""

from common import ESTIMATOR_NAMES, at_most, row, run_probes

TITLE = "fit peak memory per byte of training data"

MEMORY_HIDDEN = 8  # section m: a small network, so that the data dominates the memory
MEMORY_BATCH = 512


MEMORY_KINDS = {  # kind: (label, target of peak RSS added / (X + y))
    "array": ("3-D array", 0.5),
    "ragged": ("ragged list", 1.2),
    "memmap": ("memmap, resident", 0.3),
}


def measure(sizes, device):
    """m. Peak RSS one fit adds, per byte of its training data, in a fresh process."""
    n_ragged, shortest, longest = sizes.memory_ragged
    data = {"array": {"n": sizes.memory_samples, "frames": sizes.memory_frames},
            "ragged": {"n": n_ragged, "frames": [shortest, longest]},
            "memmap": {"n": sizes.memory_samples, "frames": sizes.memory_frames}}
    specs = [{"task": "fit", "estimator": name, "kind": kind, "hidden_size": MEMORY_HIDDEN,
              "batch_size": MEMORY_BATCH, **data[kind]}
             for name in ESTIMATOR_NAMES for kind in MEMORY_KINDS]
    rows = []
    for spec, result in zip(specs, run_probes(specs, sizes.probe_each), strict=True):
        kind = spec["kind"]
        label, target = MEMORY_KINDS[kind]
        label = f"{spec['estimator']}, {label}"
        data_bytes = result["x_bytes"] + result["y_bytes"]
        if kind != "memmap":  # the memory map holds the 3-D array's data
            rows.append(row("m", f"{label}: X + y", data_bytes / 2**20, "MiB"))
        rows.append(row("m", f"{label}: fit peak RSS added/(X+y)",
                        result["fit"]["added_mib"] * 2**20 / data_bytes, "ratio",
                        at_most(target)))
        if kind == "memmap":
            rows.append(row("m", f"{spec['estimator']}, memmap, cold: fit peak RSS added/(X+y)",
                            result["cold"]["added_mib"] * 2**20 / data_bytes, "ratio"))
        rows.append(row("m", f"{label}: fit time (1 epoch)", result["fit"]["seconds"], "s"))
    return rows
