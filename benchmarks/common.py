"""What every benchmark section shares: the figures (rows and their targets), timing and
alternating the compared variants, resident memory, skipped sections and the optional
extras (onnxruntime, the fresh processes of ``memory_probe.py``).

The estimators' fit helpers and the hand-written loops are in ``training.py``, the
generated data in ``data.py``, the sizes of the full and the smoke run in ``sizes.py``.
"""

import dataclasses
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

try:
    import psutil
except ImportError:  # optional: /proc/self/status is read instead
    psutil = None

HIDDEN_SIZE = 32
BATCH_SIZE = 64
LR = 0.01
ESTIMATOR_NAMES = ("classifier", "tagger")


# -- figures ----------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    """One figure of the table."""

    section: str
    name: str
    value: float
    unit: str
    target: str = ""
    status: str = ""
    spread: str = ""  # interquartile range of the repeats, where there are at least 4
    samples: list = dataclasses.field(default_factory=list)  # per repeat; JSON only


def row(section, name, value, unit, target=None, samples=()):
    """A Row; ``target`` is ``(text, predicate)`` and gives PASS or MISS."""
    samples = [float(sample) for sample in samples]
    spread = interquartile_range(samples)
    if target is None:
        return Row(section, name, float(value), unit, spread=spread, samples=samples)
    text, predicate = target
    status = "PASS" if predicate(value) else "MISS"
    return Row(section, name, float(value), unit, text, status, spread, samples)


def interquartile_range(samples):
    """``"q25..q75"`` of the samples: how much the repeats disagreed."""
    if len(samples) < 4:
        return ""
    low, high = np.percentile(samples, [25, 75])
    return f"{format_value(low)}..{format_value(high)}"


def format_value(value):
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"


def at_most(limit):
    return f"<= {limit:g}", lambda value: value <= limit


def above(limit):
    return f"> {limit:g}", lambda value: value > limit


def below(limit):
    return f"< {limit:g}", lambda value: value < limit


def near(center, tolerance):
    return f"{center:g} +- {tolerance:g}", lambda value: abs(value - center) <= tolerance


def within_factor(factor):
    return (f"{1 / factor:.3g}..{factor:g}",
            lambda value: 1 / factor <= value <= factor)


# -- measuring --------------------------------------------------------------------------


def now(device):
    """Wall-clock seconds, after the device has finished its queued work."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def alternate(variants, repeats):
    """Call each variant ``repeats`` times, reversing the order every round.

    Returns ``{name: [result, ...]}``; alternating spreads drift (heat, caches, other
    processes) evenly over the variants.
    """
    results = {name: [] for name in variants}
    order = list(variants)
    for _ in range(repeats):
        for name in order:
            gc.collect()
            results[name].append(variants[name]())
        order.reverse()
    return results


def medians(results):
    return {name: float(np.median(values)) for name, values in results.items()}


def compare(section, results, labels, ratio_label, unit, target):
    """Rows for two alternated variants: the median of each, then the median over rounds of
    the ratio of the first to the second within a round (paired, so drift cancels)."""
    (first, first_label), (second, second_label) = labels.items()
    times = medians(results)
    per_round = np.divide(results[first], results[second])
    return [
        row(section, first_label, times[first], unit, samples=results[first]),
        row(section, second_label, times[second], unit, samples=results[second]),
        row(section, ratio_label, np.median(per_round), "ratio", target, per_round),
    ]


def rss_mib():
    """Resident memory of this process in MiB (psutil, else /proc, else peak RSS)."""
    if psutil is not None:
        return psutil.Process().memory_info().rss / 2**20
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # not on Windows; peak RSS is the best left there

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def rss_source():
    if psutil is not None:
        return "psutil"
    return "/proc/self/status VmRSS" if Path("/proc/self/status").exists() else "peak ru_maxrss"


# -- what a section needs and may lack --------------------------------------------------


class SectionSkipped(Exception):
    """A section that cannot run here; its message says why."""


def import_onnxruntime():
    """onnxruntime, or SectionSkipped without the ``[onnx]`` extra (onnx and onnxruntime)."""
    try:
        import onnx  # noqa: F401 - export_onnx needs it
        import onnxruntime
    except ImportError as error:
        raise SectionSkipped(f"{error.name or error} is not installed (the optional extra: "
                             "pip install 'sktorchcw[onnx]')") from None
    return onnxruntime


def onnx_session(onnxruntime, estimator, folder, stateful=False):
    """An onnxruntime session (CPU provider, one intra-op thread) on ``estimator`` exported
    by ``sktorchcw.export_onnx``."""
    from sktorchcw import export_onnx

    path = Path(folder) / "model.onnx"
    export_onnx(estimator, path, stateful=stateful)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


PROBE = Path(__file__).with_name("memory_probe.py")


def run_probes(specs, each):
    """What ``memory_probe.py`` measures for every spec: a fresh process per spec
    (``each``), or one process for all of them (the smoke run, to start one process
    instead of eight). SectionSkipped where the peak RSS cannot be reset (not Linux)."""
    threads = torch.get_num_threads()
    specs = [{**spec, "threads": threads} for spec in specs]
    results = []
    for group in ([spec] for spec in specs) if each else [specs]:
        done = subprocess.run([sys.executable, str(PROBE), json.dumps(group)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{PROBE.name} failed on {group}:\n{done.stderr[-3000:]}")
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        if isinstance(answer, dict) and "unavailable" in answer:
            raise SectionSkipped(answer["unavailable"])
        results += answer
    return results
