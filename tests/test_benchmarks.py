"""The benchmark suite (benchmarks/run.py) keeps working: its smoke mode runs and writes every
section with finite numbers. Timings are not tests, so no target is asserted here."""

import csv
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).parents[1] / "benchmarks" / "run.py"
SECTIONS = ["a_overhead", "b_class_weight", "c_loss", "d_memory", "e_inference", "f_scaling",
            "g_fast_path", "h_prediction", "i_tagger", "j_onnx", "k_stream",
            "l_robust", "m_fit_memory", "n_mixed_lengths", "o_loguniform", "p_tagger_overhead",
            "q_skorch_dropin", "r_user_gru", "s_bidirectional", "t_real_recordings"]
# j_onnx needs the [onnx] extra; without it the section is skipped and says why.
ONNX = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("benchmarks")
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout


@pytest.fixture(scope="module")
def results(quick_run):
    out, _ = quick_run
    return json.loads((out / "results.json").read_text())


def test_every_section_has_finite_figures(results):
    assert list(results["sections"]) == SECTIONS
    for key in SECTIONS:
        if key == "j_onnx" and not ONNX:
            assert "not installed" in results["sections"][key]["skipped"]
            continue
        assert "skipped" not in results["sections"][key], key
        rows = results["sections"][key]["rows"]
        assert rows, key
        for item in rows:
            assert math.isfinite(item["value"]), (key, item)
            assert item["status"] in ("", "PASS", "MISS"), (key, item)


def test_every_target_gets_a_status(results):
    rows = [item for section in results["sections"].values() for item in section["rows"]]
    assert any(item["target"] for item in rows)
    assert all(bool(item["target"]) == bool(item["status"]) for item in rows)


def test_meta_says_how_it_was_measured(results):
    meta = results["meta"]
    assert meta["mode"] == "quick"
    assert meta["torch_threads"] == 1
    assert meta["device"] == "cpu"


def test_csv_holds_the_same_rows(quick_run, results):
    out, _ = quick_run
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = [item for section in results["sections"].values() for item in section["rows"]]
    assert [row["name"] for row in rows] == [item["name"] for item in expected]
    assert all(math.isfinite(float(row["value"])) for row in rows)


def test_table_is_printed(quick_run):
    _, stdout = quick_run
    assert "1 thread(s)" in stdout
    for key in SECTIONS:
        assert f"\n{key[0]}  " in stdout
