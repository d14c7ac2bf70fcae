"""The benchmark suite (benchmarks/run.py) keeps working: its smoke mode runs and writes every
section with finite numbers. Timings are not tests, so no target is asserted here. Every
module of benchmarks/sections/ is registered and says what it measures."""

import ast
import csv
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).parents[1] / "benchmarks" / "run.py"
SECTIONS_DIR = RUN.parent / "sections"


def registered_sections():
    """The keys of ``ORDER`` in benchmarks/sections/__init__.py, read without importing it."""
    tree = ast.parse((SECTIONS_DIR / "__init__.py").read_text())
    for node in tree.body:
        targets = [getattr(target, "id", None) for target in getattr(node, "targets", [])]
        if targets == ["ORDER"]:
            return list(ast.literal_eval(node.value))
    raise AssertionError("benchmarks/sections/__init__.py has no ORDER")


SECTIONS = registered_sections()
# j_onnx needs the [onnx] extra; without it the section is skipped and says why.
ONNX = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))


def test_every_section_module_is_registered():
    modules = sorted(path.stem for path in SECTIONS_DIR.glob("*.py") if path.stem != "__init__")
    assert sorted(SECTIONS) == modules
    assert len({key[0] for key in SECTIONS}) == len(SECTIONS)  # one letter each, as printed


def test_every_section_module_says_what_it_measures():
    for key in SECTIONS:
        tree = ast.parse((SECTIONS_DIR / f"{key}.py").read_text())
        docstring = ast.get_docstring(tree) or ""
        assert "Measures:" in docstring and "Anchor:" in docstring, key
        names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        names |= {target.id for node in tree.body if isinstance(node, ast.Assign)
                  for target in node.targets if isinstance(target, ast.Name)}
        assert {"TITLE", "measure"} <= names, key


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


@pytest.mark.slow
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
            assert item["section"] == key[0], (key, item)
            assert item["status"] in ("", "PASS", "MISS"), (key, item)


@pytest.mark.slow
def test_every_target_gets_a_status(results):
    rows = [item for section in results["sections"].values() for item in section["rows"]]
    assert any(item["target"] for item in rows)
    assert all(bool(item["target"]) == bool(item["status"]) for item in rows)


@pytest.mark.slow
def test_meta_says_how_it_was_measured(results):
    meta = results["meta"]
    assert meta["mode"] == "quick"
    assert meta["torch_threads"] == 1
    assert meta["device"] == "cpu"


@pytest.mark.slow
def test_csv_holds_the_same_rows(quick_run, results):
    out, _ = quick_run
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = [item for section in results["sections"].values() for item in section["rows"]]
    assert [row["name"] for row in rows] == [item["name"] for item in expected]
    assert all(math.isfinite(float(row["value"])) for row in rows)


@pytest.mark.slow
def test_table_is_printed(quick_run):
    _, stdout = quick_run
    assert "1 thread(s)" in stdout
    for key in SECTIONS:
        assert f"\n{key[0]}  " in stdout
