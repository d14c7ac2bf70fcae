"""benchmarks/gpu_check.py, the one-shot GPU check, works before any GPU has run it: without
CUDA it says so and exits 0, and its CPU rehearsal runs every step to a table of PASS rows.
Its pieces (pytest summary parsing, timeouts, failing steps) are checked in this process."""

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu_check.py"
CHECKS = ["save/load classifier", "save/load tagger", "onnx classifier", "onnx tagger",
          "stream tagger", "gpu tests", "benchmarks"]
PRECISION = "predict_proba, default precision vs float32"  # a figure, not a check


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("gpu_check", None)


def run_script(*args, timeout):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout)


def table_rows(stdout):
    """``{check: result}`` of the final table (the lines after its header and rule)."""
    lines = stdout.rsplit("\ncheck ", 1)[1].splitlines()[2:]
    rows = {}
    for line in lines:
        if not line.strip():
            break
        check, result = line[:line.index("  ")], line[line.index("  "):].split()[0]
        rows[check.strip()] = result
    return rows


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_without_cuda_it_says_so_and_checks_nothing(tmp_path):
    done = run_script("--out", str(tmp_path), timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no CUDA device" in done.stdout
    assert "nothing was checked" in done.stdout
    assert not (tmp_path / "gpu_check.md").exists()


@pytest.mark.slow
def test_cpu_rehearsal_runs_every_step_to_a_table_of_passes(tmp_path):
    done = run_script("--device", "cpu", "--quick", "--out", str(tmp_path), timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    rows = table_rows(done.stdout)
    for check in CHECKS:
        assert rows.get(check) == "PASS", (check, rows)
    figures = {check: result for check, result in rows.items() if check.startswith("bench ")}
    assert {check.split(":")[0] for check in figures} == {"bench a", "bench b", "bench d",
                                                          "bench g"}
    assert set(figures.values()) <= {"PASS", "MISS", "-"}
    assert "rehearsal" in done.stdout and "All 7 checks passed" in done.stdout
    markdown = (tmp_path / "gpu_check.md").read_text()
    assert "| check | result | value | detail |" in markdown
    for check in CHECKS:
        assert f"| {check} | PASS |" in markdown
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    checks = [row["check"] for row in saved["rows"] if row["result"] != "-"]
    assert checks[:len(CHECKS)] == CHECKS
    precision = [row for row in saved["rows"] if row["check"] == PRECISION]
    assert [row["result"] for row in precision] == ["-"]
    # On the CPU both precisions are float32: the figure is 0 (on a GPU it is TF32's error).
    assert precision[0]["value"] == "max abs diff 0"
    assert saved["meta"]["device"] == "cpu" and saved["meta"]["torch"] == torch.__version__
    assert (tmp_path / "gpu_check_benchmarks" / "results.json").exists()
    assert "skipped" in (tmp_path / "gpu_check_tests.log").read_text()


@pytest.mark.parametrize("line, expected", [
    ("9 skipped, 1160 deselected in 2.63s", {"skipped": 9, "deselected": 1160}),
    ("===== 1 failed, 7 passed, 1 skipped, 3 warnings in 12.34s (0:00:12) =====",
     {"failed": 1, "passed": 7, "skipped": 1, "warnings": 3}),
    ("8 passed, 1 error in 40.1s", {"passed": 8, "errors": 1}),
    ("no tests ran in 0.12s", {}),
])
def test_pytest_summary_lines_are_counted(gpu_check, line, expected):
    counts = gpu_check.parse_pytest_summary(f"ss.F\nSKIPPED [1] a.py:1: why\n{line}\n")
    assert {kind: number for kind, number in counts.items() if number} == expected


def test_output_without_a_summary_has_no_counts(gpu_check):
    assert gpu_check.parse_pytest_summary("ImportError while loading conftest\n") is None


def test_a_subprocess_past_its_timeout_is_killed_and_its_output_kept(gpu_check, tmp_path):
    command = [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"]
    start = time.perf_counter()
    code, output, _ = gpu_check.run_logged(command, 2, tmp_path / "log")
    assert code is None
    assert time.perf_counter() - start < 30
    assert "started" in output and "started" in (tmp_path / "log").read_text()


def test_a_step_past_its_time_limit_raises(gpu_check):
    with pytest.raises(gpu_check.StepTimeout), gpu_check.time_limit(1):
        time.sleep(5)


def quick_rows(gpu_check, tmp_path, *steps):
    code = gpu_check.main(["--device", "cpu", "--quick", "--out", str(tmp_path), "--only",
                           *steps])
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    return code, {row["check"]: row for row in saved["rows"]}


def test_a_missing_export_onnx_is_a_failure_not_a_skip(gpu_check, tmp_path, monkeypatch):
    import sktorchcw

    monkeypatch.delattr(sktorchcw, "export_onnx", raising=False)
    code, rows = quick_rows(gpu_check, tmp_path, "onnx")
    assert code == 1
    for name in ("onnx classifier", "onnx tagger"):
        assert rows[name]["result"] == "FAIL"
        assert "export_onnx does not exist" in rows[name]["detail"]


def test_a_missing_onnxruntime_is_a_failure(gpu_check, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    code, rows = quick_rows(gpu_check, tmp_path, "onnx")
    assert code == 1
    assert rows["onnx classifier"]["result"] == "FAIL"
    assert "onnxruntime" in rows["onnx classifier"]["detail"]


def test_one_failing_check_leaves_the_others_running(gpu_check, tmp_path, monkeypatch):
    def broken(self):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(gpu_check.Models, "classifier", broken)
    code, rows = quick_rows(gpu_check, tmp_path, "save_load", "stream")
    assert code == 1
    assert rows["save/load classifier"]["result"] == "FAIL"
    assert rows["save/load classifier"]["detail"] == (
        "RuntimeError: CUDA error: an illegal memory access was encountered")
    assert rows["save/load tagger"]["result"] == "PASS"
    assert rows["stream tagger"]["result"] == "PASS"


def test_a_step_cut_short_keeps_its_finished_checks(gpu_check, tmp_path, monkeypatch):
    def stuck(self, bidirectional=True):
        time.sleep(30)

    monkeypatch.setattr(gpu_check, "IN_PROCESS_S", 3)
    monkeypatch.setattr(gpu_check.Models, "tagger", stuck)
    start = time.perf_counter()
    code, rows = quick_rows(gpu_check, tmp_path, "save_load")
    assert time.perf_counter() - start < 25
    assert code == 1
    assert rows["save/load classifier"]["result"] == "PASS"
    assert rows["save_load"]["result"] == "FAIL"
    assert "StepTimeout" in rows["save_load"]["detail"]
