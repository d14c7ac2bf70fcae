"""One-shot GPU check of sktorchcw: everything that needs a CUDA device, in one table.

No GPU had run this project when this script was written. It is meant for the first
session that has one (a few minutes of device time, one try): it runs every check that
needs CUDA in under 8 minutes, keeps going when one of them fails, and ends with one
table to paste into ``benchmarks/RESULTS.md``.

Usage
-----
From the repository root, with the project and its ``[dev]`` extra installed (or its
dependencies importable: the script puts the repository root first on ``PYTHONPATH`` of
itself and of its subprocesses, so the working tree is what gets checked)::

    python benchmarks/gpu_check.py                   # on a CUDA machine: everything
    python benchmarks/gpu_check.py --out "$OUT"      # write the table where it is kept
    python benchmarks/gpu_check.py --quick           # small sizes, a minute or two
    python benchmarks/gpu_check.py --device cpu --quick   # rehearsal without a GPU
    python benchmarks/gpu_check.py --only onnx stream     # some steps

On a GPU machine whose image lacks a dependency, put it on ``PYTHONPATH`` (skorch, pure
Python, is the one GPU images tend to lack; without it the script says so and exits 1).
With ``PYTHONUNBUFFERED=1`` its progress shows as it comes even through a pipe.

Without a CUDA device (and without ``--device cpu``) it says so, checks nothing and
exits 0. ``--device cpu`` is a rehearsal: the same steps on the CPU, so that every code
path of this script runs before the first GPU does (``tests/test_gpu_check.py`` runs it
with ``--quick``); its figures say nothing about a GPU. The exit code is 0 when every
check passed and 1 when one failed; a benchmark figure that misses its target is MISS,
not a failure.

Steps
-----
They run cheapest first, so that a run cut short still holds the most telling results.
Each check is isolated: an exception becomes a FAIL row with the error's last line (the
traceback is printed as it happens) and the next check runs; a step cut short by its
time limit keeps the checks it finished and adds a FAIL row named after the step. The
steps run in this process have a time limit each (60 s); the subprocesses have timeouts
taken from the budget (``--budget``, default 450 s, of which the tests and the
benchmarks get at most 180 s each), so the whole run stays within 8 minutes.

1. ``save_load``: a small :class:`~sktorchcw.LSTMBlinkClassifier` (on
   ``make_blink_dataset`` windows) and a small bidirectional
   :class:`~sktorchcw.LSTMBlinkTagger` (on ``make_blink_recordings`` recordings), fitted
   on the device, written with ``.save(path)`` and read back with
   ``sktorchcw.load(path, device="cpu")``. PASS when the loaded model is on the CPU and
   its ``predict_proba`` agrees with the device model's to 1e-4 (value: the largest
   absolute difference). Then a figure without a target: how far the device model's
   ``predict_proba`` with PyTorch's default precision is from float32. On Ampere and
   newer GPUs PyTorch runs cuDNN's LSTM in TF32 by default, which rounds far more than
   float32 (by how much for these models is what this figure measures), so every
   comparison of steps 1 to 3 (and every test marked ``gpu``, by ``tests/conftest.py``)
   runs cuDNN's LSTM in float32 (``sktorchcw._device.float32_rnn``).
2. ``onnx``: the same two device-trained models written by ``sktorchcw.export_onnx``
   and run by onnxruntime on the CPU (``CPUExecutionProvider``) on padded sequences
   with their ``lengths``; PASS when the valid frames agree with ``predict_proba`` to
   1e-4. A missing ``export_onnx`` or onnxruntime is a FAIL, never a silent skip.
3. ``stream``: a unidirectional tagger fitted on the device fed one recording through
   ``tagger.stream().update(frames)`` in chunks of 1, 7, 0 and 30 frames; PASS when the
   concatenated probabilities agree with ``predict_proba`` of the whole recording to
   1e-4. The detail gives the median time of a one-frame update on the device.
4. ``tests``: every test marked ``gpu``, in a subprocess:
   ``python -m pytest -m gpu -q -p no:cacheprovider tests`` (pyproject's ``addopts``
   apply). PASS when none failed or errored, at least one passed and none was skipped
   (on a CUDA machine a skipped gpu test is a check that did not happen: its reason is
   in the detail). In the rehearsal they all skip for want of CUDA, which is reported
   as such; the row then only shows that they are collected and that none errors.
5. ``benchmarks``: ``benchmarks/run.py --device cuda --only a_overhead b_class_weight
   g_fast_path d_memory`` in a subprocess (``--quick`` with ``--quick``), whose
   ``results.json`` gives one row per figure with the run's PASS/MISS against its
   target: a. an estimator epoch against a hand-written loop, b. weighted against
   unweighted epochs, g. the slicing iterator against DataLoaders and, on a GPU, the
   training data kept on the device against batches copied from the host, d. memory
   growth during a fit, the CUDA allocator's included. The ``benchmarks`` row itself
   passes when the run finished with finite figures.

Output
------
Progress lines as it goes (the subprocesses' output included, indented), then one
table: a header with the card, torch, CUDA, cuDNN, sktorchcw and skorch versions, the
date and the commit, and a row per check or figure (check | result | value | detail).
The same table goes, as markdown, to ``OUT/gpu_check.md`` (``--out``, default
``benchmarks/results/``, which git ignores) with ``OUT/gpu_check.json``, the logs of the
two subprocesses (``gpu_check_tests.log``, ``gpu_check_benchmarks.log``) and the
benchmarks' ``results.json`` and ``results.csv`` in ``OUT/gpu_check_benchmarks/``.

Recording the result
--------------------
Paste ``gpu_check.md`` into ``benchmarks/RESULTS.md`` under a heading such as "GPU
check" with the command that ran it and the machine (card, driver, CPU); say which
rows failed or missed and why, and that the GPU figures of sections a, b, d and g come
from ``benchmarks/run.py`` in full mode (``--quick`` figures mean nothing). A rehearsal
on the CPU is never a result.
"""

import argparse
import dataclasses
import datetime
import functools
import importlib.util
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # check the working tree, installed or not

import numpy as np  # noqa: E402
import torch  # noqa: E402

TOLERANCE = 1e-4
BENCH_SECTIONS = ("a_overhead", "b_class_weight", "g_fast_path", "d_memory")
STEPS = ("save_load", "onnx", "stream", "tests", "benchmarks")
BUDGET_S = 450  # the whole run; leaves room for the interpreter's start within 8 minutes
TESTS_S = 180
BENCHMARKS_S = 180
IN_PROCESS_S = 60  # each step run in this process
RESERVE_S = 20  # kept back for each later step when a subprocess's timeout is set


@dataclasses.dataclass
class Check:
    """One row of the table."""

    check: str
    result: str  # PASS, FAIL, MISS, or "-" for a figure without a target
    value: str
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How big the models of the steps run in this process are."""

    windows: int
    seq_len: int
    recordings: int
    duration_s: tuple
    hidden_size: int
    epochs: int


FULL = Sizes(windows=1024, seq_len=30, recordings=12, duration_s=(10.0, 20.0), hidden_size=32,
             epochs=4)
QUICK = Sizes(windows=128, seq_len=20, recordings=4, duration_s=(2.0, 4.0), hidden_size=8,
              epochs=2)


def log(message):
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", flush=True)


def error_line(error):
    """The last line of an exception's message, as traceback prints it."""
    lines = traceback.format_exception_only(type(error), error)
    return lines[-1].strip() if lines else type(error).__name__


class StepTimeout(Exception):
    """A step run in this process outlasted its time limit."""


class time_limit:
    """Raise StepTimeout in the main thread after ``seconds`` (SIGALRM; no limit where the
    platform has none). A call stuck inside C code is interrupted when it returns."""

    def __init__(self, seconds):
        self.seconds = max(1, int(seconds))
        self.armed = hasattr(signal, "SIGALRM") and threading.current_thread() is (
            threading.main_thread())

    def _expired(self, signum, frame):
        raise StepTimeout(f"step took longer than its limit of {self.seconds} s")

    def __enter__(self):
        if self.armed:
            self.previous = signal.signal(signal.SIGALRM, self._expired)
            signal.alarm(self.seconds)
        return self

    def __exit__(self, *exc_info):
        if self.armed:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


def max_abs_difference(first, second):
    """Largest absolute difference of two arrays, or of two lists (or object arrays) of
    arrays, one per recording."""
    if isinstance(first, list | tuple) or np.asarray(first).dtype == object:
        first = np.concatenate([np.ravel(item) for item in first])
        second = np.concatenate([np.ravel(item) for item in second])
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if first.shape != second.shape:
        raise ValueError(f"shapes differ: {first.shape} and {second.shape}")
    return float(np.max(np.abs(first - second))) if first.size else 0.0


def agreement(check, difference, detail):
    """PASS when the difference is finite and within TOLERANCE."""
    passed = math.isfinite(difference) and difference <= TOLERANCE
    return Check(check, "PASS" if passed else "FAIL", f"max abs diff {difference:.2g}",
                 f"{detail}; tolerance {TOLERANCE:g}")


# -- the models the in-process steps share ----------------------------------------------


class Models:
    """Small models fitted on the device, each fitted once when a step first needs it."""

    def __init__(self, device, sizes):
        self.device = device
        self.sizes = sizes
        self._cache = {}

    def _params(self, **extra):
        return {"hidden_size": self.sizes.hidden_size, "max_epochs": self.sizes.epochs,
                "batch_size": 32, "lr": 0.02, "device": self.device, "random_state": 0,
                "verbose": 0, **extra}

    def windows(self):
        if "windows" not in self._cache:
            from sktorchcw.datasets import make_blink_dataset

            self._cache["windows"] = make_blink_dataset(
                self.sizes.windows, seq_len=self.sizes.seq_len, prevalence=0.2,
                random_state=0)
        return self._cache["windows"]

    def recordings(self):
        if "recordings" not in self._cache:
            from sktorchcw.datasets import make_blink_recordings

            self._cache["recordings"] = make_blink_recordings(
                self.sizes.recordings, duration_s=self.sizes.duration_s, random_state=0)
        return self._cache["recordings"]

    def classifier(self):
        if "classifier" not in self._cache:
            from sktorchcw import LSTMBlinkClassifier

            X, y = self.windows()
            clf = LSTMBlinkClassifier(**self._params(class_weight="balanced"))
            self._cache["classifier"] = clf.fit(X, y)
        return self._cache["classifier"]

    def tagger(self, bidirectional=True):
        key = f"tagger_{'bi' if bidirectional else 'uni'}"
        if key not in self._cache:
            from sktorchcw import LSTMBlinkTagger

            X, y = self.recordings()
            tagger = LSTMBlinkTagger(**self._params(class_weight="balanced",
                                                    bidirectional=bidirectional,
                                                    batch_size=4))
            self._cache[key] = tagger.fit(X, y)
        return self._cache[key]

    def where(self, estimator):
        module_device = next(estimator.module_.parameters()).device
        return f"fitted on {module_device}"


def padded(sequences):
    """Sequences as one zero-padded float32 batch and their int64 lengths."""
    lengths = np.array([len(sequence) for sequence in sequences], dtype=np.int64)
    batch = np.zeros((len(sequences), lengths.max(), sequences[0].shape[1]), dtype=np.float32)
    for row, sequence in zip(batch, sequences, strict=True):
        row[:len(sequence)] = sequence
    return batch, lengths


# -- steps run in this process ----------------------------------------------------------


def guarded(name, check, float32=True):
    """``check()``'s row, or a FAIL row named ``name`` with the error's last line (and the
    traceback printed) when it raises. A StepTimeout goes on: the step is over.

    With ``float32`` the check runs cuDNN's LSTM in float32 (:func:`float32_rnn`): its
    comparisons with CPU and onnxruntime results need it, since PyTorch's default on
    Ampere and newer GPUs, TF32, rounds far more than float32 (``precision_row``
    measures by how much)."""
    from sktorchcw._device import float32_rnn

    try:
        if not float32:
            return check()
        with float32_rnn():
            return check()
    except StepTimeout:
        raise
    except Exception as error:  # every failure is a row
        traceback.print_exc(file=sys.stdout)
        return Check(name, "FAIL", "-", error_line(error))


def step_save_load(models, context):
    """Models fitted on the device, saved, loaded on the CPU: the same probabilities."""
    import sktorchcw

    def check(name, fitted, data):
        estimator = fitted()
        path = Path(context["tmp"]) / f"{name}.sktorchcw"
        estimator.save(path)
        loaded = sktorchcw.load(path, device="cpu")
        on = {parameter.device.type for parameter in loaded.module_.parameters()}
        if on != {"cpu"} or not str(loaded.device_).startswith("cpu"):
            return Check(f"save/load {name}", "FAIL", f"on {sorted(on)}",
                         f"load(device='cpu') gave device_={loaded.device_!r}")
        difference = max_abs_difference(loaded.predict_proba(data()),
                                        estimator.predict_proba(data()))
        return agreement(
            f"save/load {name}", difference,
            f"{models.where(estimator)}, {path.stat().st_size / 1024:.0f} KiB file, "
            "loaded with device='cpu'")

    yield guarded("save/load classifier", lambda: check(
        "classifier", models.classifier, lambda: models.windows()[0]))
    yield guarded("save/load tagger", lambda: check(
        "tagger", models.tagger, lambda: models.recordings()[0]))
    yield guarded("default precision", lambda: precision_row(models), float32=False)


def rnn_precision_setting():
    """How PyTorch is set to run cuDNN's RNNs in float32: 'tf32', 'ieee'..."""
    rnn = getattr(torch.backends.cudnn, "rnn", None)
    if hasattr(rnn, "fp32_precision"):
        return f"torch.backends.cudnn.rnn.fp32_precision={rnn.fp32_precision!r}"
    return f"torch.backends.cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}"


def precision_row(models):
    """A figure, not a check: how far predict_proba on the device with PyTorch's default
    precision is from float32 (the other checks run in float32)."""
    from sktorchcw._device import float32_rnn

    estimator = models.classifier()
    X, _ = models.windows()
    with float32_rnn():
        exact = estimator.predict_proba(X)
    setting = rnn_precision_setting()
    difference = max_abs_difference(estimator.predict_proba(X), exact)
    return Check("predict_proba, default precision vs float32", "-",
                 f"max abs diff {difference:.2g}",
                 f"classifier {models.where(estimator)}; PyTorch's default here: {setting} "
                 "(TF32 on Ampere and newer GPUs); the other checks run in float32")


def step_onnx(models, context):
    """Device-trained models exported to ONNX, run by onnxruntime on the CPU."""
    import sktorchcw

    def check(name, fitted):
        import onnxruntime

        export_onnx = getattr(sktorchcw, "export_onnx", None)
        if export_onnx is None:
            raise AttributeError("sktorchcw.export_onnx does not exist")
        estimator = fitted()
        path = Path(context["tmp"]) / f"{name}.onnx"
        export_onnx(estimator, path)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        if name == "classifier":
            X, _ = models.windows()
            x, lengths = X.astype(np.float32), np.full(len(X), X.shape[1], dtype=np.int64)
            (proba,) = session.run(["probabilities"], {"x": x, "lengths": lengths})
            difference = max_abs_difference(proba, estimator.predict_proba(X))
        else:
            recordings, _ = models.recordings()
            x, lengths = padded(recordings)
            (proba,) = session.run(["probabilities"], {"x": x, "lengths": lengths})
            valid = [proba[row, :length] for row, length in enumerate(lengths)]
            difference = max_abs_difference(valid, estimator.predict_proba(recordings))
        return agreement(
            f"onnx {name}", difference,
            f"{models.where(estimator)}, onnxruntime {onnxruntime.__version__} "
            f"CPUExecutionProvider, {len(x)} sequences of up to {x.shape[1]} frames")

    yield guarded("onnx classifier", lambda: check("classifier", models.classifier))
    yield guarded("onnx tagger", lambda: check("tagger", models.tagger))


def step_stream(models, context):
    """A device tagger streamed in chunks gives predict_proba of the whole recording."""

    def check():
        tagger = models.tagger(bidirectional=False)
        recordings, _ = models.recordings()
        recording = max(recordings, key=len)
        stream = tagger.stream()
        chunks, start, sizes = [], 0, (1, 7, 0, 30)
        while start < len(recording):
            size = sizes[len(chunks) % len(sizes)]
            block = recording[start:start + size]
            proba = stream.update(block[0] if size == 1 else block)
            if np.shape(proba) != (len(block), len(tagger.classes_)):
                raise AssertionError(f"update of {len(block)} frames gave shape "
                                     f"{np.shape(proba)}")
            chunks.append(proba)
            start += size
        difference = max_abs_difference(np.vstack(chunks),
                                        tagger.predict_proba([recording])[0])
        stream.reset()
        seconds = []
        for frame in recording[:200]:
            begin = time.perf_counter()
            stream.update(frame)
            seconds.append(time.perf_counter() - begin)
        median_ms = float(np.median(seconds[10:] or seconds)) * 1e3
        return agreement(
            "stream tagger", difference,
            f"unidirectional, {models.where(tagger)}, {len(recording)} frames in chunks of "
            f"{'/'.join(map(str, sizes))}; one-frame update p50 {median_ms:.3g} ms")

    yield guarded("stream tagger", check)


# -- steps run in subprocesses ----------------------------------------------------------


def subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_logged(command, timeout, log_path):
    """Run ``command`` from the repository root, echo its output indented as it comes, save
    it to ``log_path``. Returns (return code or None on timeout, output, seconds)."""
    log(f"$ {' '.join(command)}  (timeout {timeout:.0f} s)")
    started = time.perf_counter()
    lines = []
    with open(log_path, "w") as handle:
        process = subprocess.Popen(
            command, cwd=ROOT, env=subprocess_env(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)

        def pump():
            for line in process.stdout:
                lines.append(line)
                handle.write(line)
                print(f"    | {line}", end="", flush=True)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the group this call started
            except OSError:
                process.kill()
            process.wait()
        reader.join(timeout=10)
    return code, "".join(lines), time.perf_counter() - started


_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed|"
                    r"warnings?)\b")


def parse_pytest_summary(output):
    """Counts from pytest's last summary line, e.g. ``{'passed': 8, 'skipped': 1, ...}``.

    Every key is present (0 when absent); None when no summary line was printed.
    """
    for line in reversed(output.splitlines()):
        if re.search(r"\bin [\d.]+s\b", line) and (_COUNT.search(line)
                                                   or "no tests ran" in line):
            counts = dict.fromkeys(("passed", "failed", "skipped", "errors", "deselected",
                                    "xfailed", "xpassed", "warnings"), 0)
            for number, kind in _COUNT.findall(line):
                kind = {"error": "errors", "warning": "warnings"}.get(kind, kind)
                counts[kind] += int(number)
            return counts
    return None


def report_lines(output, prefix):
    """pytest's ``-ra`` lines of one kind (``FAILED``, ``ERROR``, ``SKIPPED``)."""
    return [line.strip() for line in output.splitlines() if line.startswith(prefix)]


def step_tests(context):
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
               "tests"]
    timeout = context["timeout"](TESTS_S, later_steps=1)
    code, output, seconds = run_logged(command, timeout,
                                       context["out"] / "gpu_check_tests.log")
    if code is None:
        return [Check("gpu tests", "FAIL", "timed out",
                      f"no result within {timeout:.0f} s; see gpu_check_tests.log")]
    counts = parse_pytest_summary(output)
    if counts is None:
        tail = output.strip().splitlines()[-1:] or ["no output"]
        return [Check("gpu tests", "FAIL", f"exit {code}", f"no pytest summary: {tail[0]}")]
    value = ", ".join([f"{counts['passed']} passed"] + [
        f"{counts[kind]} {kind}" for kind in ("failed", "errors", "skipped") if counts[kind]])
    failures = report_lines(output, "FAILED") + report_lines(output, "ERROR")
    skips = report_lines(output, "SKIPPED")
    collected = counts["passed"] + counts["failed"] + counts["errors"] + counts["skipped"]
    if counts["failed"] or counts["errors"] or code not in (0, 5):
        detail = "; ".join(failures[:3]) or f"pytest exit code {code}"
        return [Check("gpu tests", "FAIL", value, detail)]
    if not context["cuda"]:
        ok = collected > 0 and counts["passed"] == 0 and counts["skipped"] == collected
        return [Check("gpu tests", "PASS" if ok else "FAIL", value,
                      f"rehearsal without CUDA: all {counts['skipped']} gpu tests skip, so "
                      f"this only shows they are collected ({seconds:.0f} s)")]
    if counts["skipped"] or not counts["passed"]:
        detail = "; ".join(skips[:3]) or "no gpu test ran"
        return [Check("gpu tests", "FAIL", value, f"skipped on a CUDA machine: {detail}")]
    return [Check("gpu tests", "PASS", value, f"pytest -m gpu tests, {seconds:.0f} s")]


def step_benchmarks(context):
    format_value = benchmark_suite().format_value
    out = context["out"] / "gpu_check_benchmarks"
    command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--device",
               context["device"], "--only", *BENCH_SECTIONS, "--out", str(out)]
    if context["quick"]:
        command.append("--quick")
    (out / "results.json").unlink(missing_ok=True)  # never read an earlier run's figures
    timeout = context["timeout"](BENCHMARKS_S, later_steps=0)
    code, output, seconds = run_logged(command, timeout,
                                       context["out"] / "gpu_check_benchmarks.log")
    if code is None:
        return [Check("benchmarks", "FAIL", "timed out",
                      f"no result within {timeout:.0f} s; see gpu_check_benchmarks.log")]
    results_path = out / "results.json"
    if code != 0 and not results_path.exists():
        tail = output.strip().splitlines()[-1:] or ["no output"]
        return [Check("benchmarks", "FAIL", f"exit {code}", tail[0])]
    results = json.loads(results_path.read_text())
    figures = []
    for key, section in results["sections"].items():
        for item in section["rows"]:
            spread = f"; IQR {item['spread']}" if item["spread"] else ""
            target = f"target {item['target']}" if item["target"] else "no target"
            figures.append(Check(
                f"bench {key[0]}: {item['name']}", item["status"] or "-",
                f"{format_value(item['value'])} {item['unit']}", f"{target}{spread}"))
    finite = all(math.isfinite(float(value)) for value in (
        item["value"] for section in results["sections"].values() for item in section["rows"]))
    missing = [key for key in BENCH_SECTIONS if key not in results["sections"]]
    met = sum(row.result == "PASS" for row in figures)
    missed = sum(row.result == "MISS" for row in figures)
    passed = code == 0 and finite and not missing
    mode = results["meta"].get("mode", "?")
    detail = (f"run.py {mode} mode on {results['meta'].get('device')}, {seconds:.0f} s"
              + (f"; sections missing: {', '.join(missing)}" if missing else "")
              + ("" if finite else "; some figures are not finite")
              + ("; quick sizes: PASS/MISS mean nothing" if mode == "quick" else ""))
    summary = Check("benchmarks", "PASS" if passed else "FAIL",
                    f"{len(figures)} figures, {met} targets met, {missed} missed", detail)
    return [summary, *figures]


# -- running and reporting --------------------------------------------------------------


@functools.cache
def benchmark_suite():
    """``benchmarks/run.py`` as a module, loaded by its path (a package named
    ``benchmarks`` installed elsewhere cannot stand in for it). It imports sktorchcw: call
    it once ``main`` has checked that sktorchcw imports."""
    spec = importlib.util.spec_from_file_location("sktorchcw_benchmark_suite",
                                                  ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def describe(device, args, cuda):
    """The header: what ran where."""
    import skorch

    import sktorchcw

    info = {
        "mode": ("full" if not args.quick else "quick") + ("" if cuda else ", CPU rehearsal"),
        "device": device,
        "card": (torch.cuda.get_device_name(torch.device(device)) if cuda
                 else benchmark_suite().cpu_model()),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "sktorchcw": sktorchcw.__version__,
        "skorch": skorch.__version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "command": " ".join(["python", *sys.argv]),
    }
    if cuda:
        properties = torch.cuda.get_device_properties(torch.device(device))
        info["gpu_memory_gib"] = round(properties.total_memory / 2**30, 1)
    return info


def git_commit():
    """The short commit, with '+ changes' for a dirty tree; 'unknown' without git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, timeout=10,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, timeout=10, capture_output=True, text=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" + uncommitted changes" if dirty.strip() else "")


def header_lines(info):
    card = info["card"] + (f" ({info['gpu_memory_gib']} GiB)" if "gpu_memory_gib" in info
                           else "")
    return [
        f"sktorchcw GPU check, {info['mode']} mode, device {info['device']}: {card}",
        f"torch {info['torch']}, CUDA {info['cuda']}, cuDNN {info['cudnn']}, "
        f"sktorchcw {info['sktorchcw']}, skorch {info['skorch']}, Python {info['python']}",
        f"{info['date']}, commit {info['commit']}, {info.get('seconds', '?')} s; "
        f"command: {info['command']}",
    ]


def print_table(info, rows):
    print()
    for line in header_lines(info):
        print(line)
    widths = [max([len(title), *(len(getattr(row, title)) for row in rows)])
              for title in ("check", "result", "value")]
    widths[0] = min(widths[0], 60)
    head = (f"{'check':{widths[0]}}  {'result':{widths[1]}}  {'value':{widths[2]}}  detail")
    print(head)
    print("-" * len(head))
    for row in rows:
        print(f"{row.check:{widths[0]}}  {row.result:{widths[1]}}  {row.value:{widths[2]}}  "
              f"{row.detail}")


def markdown(info, rows):
    def cell(text):
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = [f"- {cell(line)}" for line in header_lines(info)]
    lines += ["", "| check | result | value | detail |", "| --- | --- | --- | --- |"]
    lines += [f"| {cell(row.check)} | {cell(row.result)} | {cell(row.value)} | "
              f"{cell(row.detail)} |" for row in rows]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda",
                        help="cuda (default) or cuda:N; cpu rehearses every step without a GPU")
    parser.add_argument("--quick", action="store_true",
                        help="small models and the benchmarks' --quick sizes")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                        help="folder for gpu_check.md, gpu_check.json and the logs")
    parser.add_argument("--only", nargs="+", choices=STEPS, metavar="STEP",
                        help=f"run only these steps ({', '.join(STEPS)})")
    parser.add_argument("--budget", type=float, default=BUDGET_S,
                        help=f"seconds for the whole run (default {BUDGET_S}); the "
                             "subprocesses' timeouts are cut to fit it")
    return parser.parse_args(argv)


def cuda_device_available(device):
    if not torch.cuda.is_available():
        return False
    index = torch.device(device).index
    return index is None or index < torch.cuda.device_count()


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    deadline = started + args.budget
    kind = torch.device(args.device).type
    if kind not in ("cuda", "cpu"):
        raise SystemExit(f"--device must be cuda, cuda:N or cpu, not {args.device!r}")
    cuda = kind == "cuda"
    if cuda and not cuda_device_available(args.device):
        print(f"gpu_check: no CUDA device here ({args.device} is not available: "
              f"torch {torch.__version__}, CUDA build {torch.version.cuda}); nothing was "
              "checked. Use --device cpu --quick to rehearse the steps on the CPU.")
        return 0
    try:
        import skorch  # noqa: F401

        import sktorchcw  # noqa: F401
    except ImportError as error:
        print(f"gpu_check: sktorchcw cannot be imported ({error_line(error)}); nothing was "
              "checked. Install the project with its [dev] extra, or put its dependencies "
              "on PYTHONPATH (skorch is pure Python: its wheel can be carried).")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    info = describe(args.device, args, cuda)
    steps = [step for step in STEPS if not args.only or step in args.only]
    log(f"{info['mode']} mode on {args.device} ({info['card']}); steps: {', '.join(steps)}; "
        f"budget {args.budget:.0f} s")
    if not cuda:
        log("rehearsal on the CPU: these figures say nothing about a GPU")

    def timeout(nominal, later_steps):
        left = deadline - time.perf_counter() - RESERVE_S * later_steps
        return max(10.0, min(nominal, left))

    rows = []
    models = Models(args.device, QUICK if args.quick else FULL)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        context = {"tmp": tmp, "out": args.out, "device": args.device, "cuda": cuda,
                   "quick": args.quick, "timeout": timeout}
        in_process = {"save_load": step_save_load, "onnx": step_onnx, "stream": step_stream}
        for number, step in enumerate(steps, 1):
            log(f"step {number}/{len(steps)}: {step}")
            step_start = time.perf_counter()
            new_rows = []  # kept as they come: a step cut short keeps its finished checks
            try:
                if step in in_process:
                    limit = min(IN_PROCESS_S, max(10, deadline - time.perf_counter()))
                    with time_limit(limit):
                        for item in in_process[step](models, context):
                            new_rows.append(item)
                            log(f"  {item.result} {item.check}: {item.value} ({item.detail})")
                else:
                    new_rows = {"tests": step_tests, "benchmarks": step_benchmarks}[step](context)
                    for item in new_rows:
                        if not item.check.startswith("bench "):
                            log(f"  {item.result} {item.check}: {item.value} ({item.detail})")
            except Exception as error:  # a failing step is a row
                traceback.print_exc(file=sys.stdout)
                new_rows.append(Check(step, "FAIL", "-", error_line(error)))
                log(f"  FAIL {step}: {error_line(error)}")
            log(f"step {step} done in {time.perf_counter() - step_start:.1f} s")
            rows += new_rows
    info["seconds"] = round(time.perf_counter() - started)
    print_table(info, rows)
    (args.out / "gpu_check.md").write_text(markdown(info, rows))
    (args.out / "gpu_check.json").write_text(json.dumps(
        {"meta": info, "rows": [dataclasses.asdict(item) for item in rows]}, indent=2))
    failed = [item.check for item in rows if item.result == "FAIL"]
    print(f"\nWrote {args.out / 'gpu_check.md'} and {args.out / 'gpu_check.json'}.")
    if failed:
        print(f"FAILED: {'; '.join(failed)}")
        return 1
    checks = sum(item.result == "PASS" and not item.check.startswith("bench ") for item in rows)
    print(f"All {checks} checks passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
