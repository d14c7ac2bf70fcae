"""Section n, mixed lengths: one long recording among many short ones.

Measures: ``predict_proba`` of many short recordings and one long one together, its peak
resident memory (a fresh process, as in m) and fits on the short ones and on all.
Anchor: the sum of predicting the short ones and the long one separately.
Figures: together / sum of the parts, target <= 1.5; peak RSS added predicting them
together, target <= 50 MiB.

2000 recordings of 10 frames and one of 10,000 (2 features); both
estimators (unidirectional, hidden 32, batches of 64) fitted 1 epoch on the short
ones. ``predict_proba`` of all of them together / the sum of predicting the short ones
and the long one separately (calls alternate; target <= 1.5); peak RSS added by
``predict_proba`` of all together (a fresh process, as in m; target <= 50 MiB) and,
for reference, of the long one alone; the time and peak RSS added of a 1-epoch fit on
the short ones and on all (no targets: all is 1.5 times the frames).
"""

import numpy as np

from common import BATCH_SIZE, HIDDEN_SIZE, alternate, at_most, now, row, run_probes
from training import fit_estimator, fit_tagger

TITLE = "one long recording among many short ones"


def short_and_long(n_short, short_frames, long_frames, seed=0):
    """Many short recordings and one long one (2 features), with labels per recording
    and per frame (both classes among the short ones)."""
    rng = np.random.default_rng(seed)
    short = [rng.standard_normal((short_frames, 2), dtype=np.float32) for _ in range(n_short)]
    long = [rng.standard_normal((long_frames, 2), dtype=np.float32)]
    y = rng.integers(0, 2, n_short)
    y[:2] = 0, 1
    y_frames = [(rng.random(short_frames) < 0.06).astype(np.int64) for _ in short]
    y_frames[0][:2] = 0, 1
    return short, long, y, y_frames


def measure(sizes, device):
    """n. predict_proba of many short recordings with one long one, against the two parts
    predicted separately (calls alternating); peak RSS and fits from fresh processes."""
    n_short, short_frames, long_frames = sizes.mixed_collection
    short, long, y, y_frames = short_and_long(*sizes.mixed_collection)
    mixed = short + long
    estimators = {
        "classifier": fit_estimator(short, y, device, 1),
        "tagger": fit_tagger(short, y_frames, device, 1, bidirectional=False,
                             batch_size=BATCH_SIZE),
    }
    probes = run_probes([{"task": "mixed", "estimator": name, "short": n_short,
                          "short_frames": short_frames, "long_frames": long_frames,
                          "hidden_size": HIDDEN_SIZE, "batch_size": BATCH_SIZE}
                         for name in estimators], sizes.probe_each)
    rows = []
    for (name, estimator), probe in zip(estimators.items(), probes, strict=True):
        def seconds(X, estimator=estimator):
            start = now(device)
            estimator.predict_proba(X)
            return now(device) - start

        estimator.predict_proba(short[:8] + [long[0][:100]])  # warm-up
        results = alternate({"short": lambda: seconds(short), "long": lambda: seconds(long),
                             "mixed": lambda: seconds(mixed)}, sizes.mixed_repeats)
        per_round = np.divide(results["mixed"], np.add(results["short"], results["long"]))
        parts = (f"{n_short} x {short_frames} frames", f"1 x {long_frames} frames")
        rows += [
            row("n", f"{name}: predict_proba, {parts[0]}", np.median(results["short"]), "s",
                samples=results["short"]),
            row("n", f"{name}: predict_proba, {parts[1]}", np.median(results["long"]), "s",
                samples=results["long"]),
            row("n", f"{name}: predict_proba, both together", np.median(results["mixed"]), "s",
                samples=results["mixed"]),
            row("n", f"{name}: together / sum of the parts", np.median(per_round), "ratio",
                at_most(1.5), per_round),
            row("n", f"{name}: predict_proba together, peak RSS added",
                probe["predict_mixed"]["added_mib"], "MiB", at_most(50)),
            row("n", f"{name}: predict_proba, long one, peak RSS added",
                probe["predict_long"]["added_mib"], "MiB"),
            row("n", f"{name}: fit (1 epoch), short ones", probe["fit_short"]["seconds"], "s"),
            row("n", f"{name}: fit (1 epoch), all", probe["fit_mixed"]["seconds"], "s"),
            row("n", f"{name}: fit, short ones, peak RSS added",
                probe["fit_short"]["added_mib"], "MiB"),
            row("n", f"{name}: fit, all, peak RSS added", probe["fit_mixed"]["added_mib"],
                "MiB"),
        ]
    return rows
