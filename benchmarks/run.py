"""Benchmark suite of sktorchcw (issue 5): does LSTMBlinkClassifier cost anything?

Run it from the repository root, with the project installed::

    python benchmarks/run.py                # full suite, about 15 minutes on a 2-core CPU
    python benchmarks/run.py --quick        # smoke mode for CI: tiny sizes, under a minute
    python benchmarks/run.py --device cuda  # the same figures on a GPU
    python benchmarks/run.py --threads 2    # torch threads (default 1)
    python benchmarks/run.py --out DIR      # default benchmarks/results/ (gitignored)
    python benchmarks/run.py --only a_overhead g_fast_path  # some sections

It prints a table and writes ``results.json`` and ``results.csv`` to the ``--out`` folder.

Sections
--------
Each section is one module of ``benchmarks/sections/``, named by its key (what ``--only``
takes); its docstring says what it measures, the anchor it is compared against (a
hand-written loop, or another variant of the same estimator) and its targets.
``benchmarks/sections/__init__.py`` lists them in the order they run and says how to add
one (a module there and its key in ``ORDER``). What several sections share lies next to
this file: ``common.py`` (rows, targets, timing, alternating, memory), ``training.py``
(fitting the estimators, the hand-written loop ``HandLoop``), ``data.py`` (generated
data) and ``sizes.py`` (the sizes of the full and of the ``--quick`` run).

- ``a_overhead``: LSTMBlinkClassifier epoch / a hand-written loop
- ``b_class_weight``: ``class_weight='balanced'`` / unweighted epoch
- ``c_loss``: ``ClassWeightedLoss`` / the blog's Python loop over classes
- ``d_memory``: resident memory growth during a fit
- ``e_inference``: ``predict_proba`` latency of one window, throughput of many
- ``f_scaling``: epoch time against the number of samples and the sequence length
- ``g_fast_path``: ``SliceBatches`` / skorch's ``DataLoader`` iterators epoch
- ``h_prediction``: ``predict_proba`` / a ``torch.no_grad()`` loop on many sequences
- ``i_tagger``: LSTMBlinkTagger / a hand-written per-frame loop, weighted / unweighted,
  an hour of frames predicted
- ``j_onnx``: one window in onnxruntime / ``predict_proba``
- ``k_stream``: ``stream().update`` of one frame / of a 30-frame block
- ``l_robust``: event F1 with ``standardize='robust'`` / ``'standard'`` on spiky recordings
- ``m_fit_memory``: peak memory a fit adds / the bytes of its training data
- ``n_mixed_lengths``: one long recording among many short ones / the two parts
- ``o_loguniform``: log-uniform lengths / a length-sorted hand-written loop
- ``p_tagger_overhead``: LSTMBlinkTagger on 3-D input / a hand-written per-frame loop
- ``q_skorch_dropin``: ``sktorchcw.skorch.NeuralNetClassifier`` / skorch's own
- ``r_user_gru``: ``module='gru'`` / the same GRU as a user module
- ``s_bidirectional``: bidirectional / unidirectional tagger on long ragged recordings
- ``t_real_recordings``: event F1 of taggers on generated recordings like real ones

Method
------
Every figure is measured in this one process, except the peak memory of sections m and
n (a fresh process per figure, ``benchmarks/memory_probe.py``). Compared variants
alternate (A B, then B A, ...; epoch by epoch in sections a, b, g, i, o, p, q, r and s, call by
call or fit by fit elsewhere; strictly A B A B in j and k, whose calls are short enough
for caches to matter) and each
figure is the median over repeats; a ratio is the median of the ratios within
each round (paired, so slow drift cancels). Epoch times are wall-clock times between
the ends of consecutive epochs, so they include all of skorch's per-epoch work; the first
epoch of every fit (warm-up) is left out. torch runs single-threaded
(``torch.set_num_threads(1)``) unless ``--threads`` says otherwise. The load average before
and after the run is printed: other processes on the machine make every figure noisier.
The last column, the interquartile range of the repeats (of the per-round ratios for a
ratio), shows how noisy each figure was in this run.
The JSON keeps each figure's per-repeat samples. Timings are not tests:
``tests/test_benchmarks.py`` only checks that ``--quick`` runs and writes finite numbers.
"""

import argparse
import csv
import dataclasses
import datetime
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import sklearn
import skorch
import torch

# The modules next to this file (common, data, sizes, training and the sections package)
# are imported by their own names, whether this file runs as a script or is loaded by its
# path (benchmarks/gpu_check.py does that).
HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from common import Row, SectionSkipped, format_value, rss_source  # noqa: E402
from data import blink_data  # noqa: E402
from sections import SECTIONS  # noqa: E402
from sizes import FULL, QUICK  # noqa: E402
from training import HandLoop, fit_estimator  # noqa: E402

# -- reporting --------------------------------------------------------------------------


def cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(args, sizes):
    device = torch.device(args.device)
    return {
        "command": " ".join(["python", *sys.argv]),
        "mode": "quick" if args.quick else "full",
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "device": args.device,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "scikit-learn": sklearn.__version__,
        "rss_source": rss_source(),
        "load_average_start": load_average(),
        "sizes": dataclasses.asdict(sizes),
    }


def load_average():
    """1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def print_table(meta, results):
    print(f"sktorchcw benchmarks, {meta['mode']} mode: device {meta['device']}, "
          f"torch {meta['torch']} with {meta['torch_threads']} thread(s) "
          f"(torch.set_num_threads), {meta['cpu']} ({meta['cpu_count']} CPUs)")
    print("Each figure: one process, variants alternating, median of repeats; epoch times "
          "leave out each fit's warm-up epoch.")
    print(f"Load average (1, 5, 15 min) before: {meta['load_average_start']}, after: "
          f"{meta['load_average_end']} (this run adds about 1).")
    if meta["mode"] == "quick":
        print("Quick mode: sizes are tiny, so PASS/MISS mean nothing here.")
    header = (f"{'':2} {'figure':48} {'value':>10} {'unit':9} {'target':12} {'status':6} "
              "IQR of repeats")
    print(header)
    print("-" * len(header))
    for key, section in results.items():
        print(f"{key[0]}  {section['title']}")
        if section.get("skipped"):
            print(f"{'':2} skipped: {section['skipped']}")
        for item in section["rows"]:
            print(f"{'':2} {item['name']:48} {format_value(item['value']):>10} "
                  f"{item['unit']:9} {item['target']:12} {item['status']:6} {item['spread']}")


def write_results(out, meta, results):
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.json", "w") as handle:
        json.dump({"meta": meta, "sections": results}, handle, indent=2)
    fields = [field.name for field in dataclasses.fields(Row) if field.name != "samples"]
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for section in results.values():
            writer.writerows(section["rows"])
    return out / "results.json", out / "results.csv"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and one or two repeats: a smoke run for CI")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads (default 1: single-threaded)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="folder for results.json and results.csv")
    parser.add_argument("--only", nargs="+", choices=sorted(SECTIONS), metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)})")
    return parser.parse_args(argv)


def warm_up(device):
    """Pay the one-off costs (lazy imports, first kernels) before anything is timed."""
    X, y = blink_data(128, 20)
    fit_estimator(X, y, device, 2).predict_proba(X)
    HandLoop(X, y, device).epoch_seconds()


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = QUICK if args.quick else FULL
    meta = describe(args, sizes)
    started = time.perf_counter()
    warm_up(args.device)
    results = {}
    for key, section in SECTIONS.items():
        if args.only and key not in args.only:
            continue
        section_start = time.perf_counter()
        try:
            rows = section.measure(sizes, args.device)
        except SectionSkipped as reason:
            print(f"{key} skipped: {reason}", flush=True)
            rows, skipped = [], {"skipped": str(reason)}
        else:
            skipped = {}
        results[key] = {
            "title": section.TITLE,
            "seconds": round(time.perf_counter() - section_start, 2),
            "rows": [dataclasses.asdict(item) for item in rows],
            **skipped,
        }
    meta["seconds"] = round(time.perf_counter() - started, 1)
    meta["load_average_end"] = load_average()
    print_table(meta, results)
    json_path, csv_path = write_results(args.out, meta, results)
    print(f"\n{meta['seconds']} s in all; wrote {json_path} and {csv_path}")
    misses = [item["name"] for section in results.values() for item in section["rows"]
              if item["status"] == "MISS"]
    if misses and not args.quick:
        print(f"Targets missed: {'; '.join(misses)}")
    return 0 if all(math.isfinite(item["value"]) for section in results.values()
                    for item in section["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
