"""sktorchcw.datasets as a package: its public names, one-way imports, and outputs equal to
those of the single module it replaced."""

import ast
import importlib.util
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sktorchcw.datasets as datasets
from sktorchcw.datasets import (
    frames_to_sequences,
    frames_to_windows,
    make_blink_dataset,
    make_blink_recordings,
)

PACKAGE = Path(datasets.__file__).parent
PUBLIC = ["make_blink_dataset", "make_blink_recordings", "frames_to_windows",
          "frames_to_sequences"]
# The last commit with sktorchcw/datasets.py, a single module, before it became a package.
COMMIT_WITH_THE_MODULE = "02a2ab47539ede4d4de922e13c69f31d78ac8e31"
# Which modules of the package each may import: data flows one way.
ALLOWED_IMPORTS = {
    "_checks": set(),
    "_simulation": set(),
    "_subjects": {"_simulation"},
    "_windows": {"_checks", "_simulation"},
    "_recording_checks": {"_checks", "_simulation", "_subjects"},
    "_recordings": {"_recording_checks", "_simulation", "_subjects"},
    "_frames": {"_checks"},
    "__init__": {"_windows", "_recordings", "_frames"},
}


def test_the_package_exports_exactly_the_public_names_of_the_module():
    assert datasets.__all__ == PUBLIC
    for name in PUBLIC:
        assert callable(getattr(datasets, name))
        assert getattr(datasets, name).__module__.startswith("sktorchcw.datasets.")
    public = {name for name, value in vars(datasets).items()
              if not name.startswith("_") and callable(value)}
    assert public == set(PUBLIC)


def package_imports(module):
    """The modules of the package that ``module`` (a file name without .py) imports."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    return {node.module for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module}


def test_every_module_of_the_package_is_known():
    assert {path.stem for path in PACKAGE.glob("*.py")} == set(ALLOWED_IMPORTS)


@pytest.mark.parametrize("module", sorted(ALLOWED_IMPORTS))
def test_data_flows_one_way_between_the_modules(module):
    assert package_imports(module) <= ALLOWED_IMPORTS[module]


def test_setuptools_discovery_finds_the_subpackage():
    from setuptools import find_packages

    root = Path(__file__).parents[1]
    assert 'include = ["sktorchcw*"]' in (root / "pyproject.toml").read_text()
    assert "sktorchcw.datasets" in find_packages(str(root), include=["sktorchcw*"])


def module_before_the_package(tmp_path):
    """sktorchcw/datasets.py as it was before it became a package, or skip."""
    root = Path(__file__).parents[1]
    try:
        source = subprocess.run(
            ["git", "show", f"{COMMIT_WITH_THE_MODULE}:sktorchcw/datasets.py"], cwd=root,
            capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("git or the commit with sktorchcw/datasets.py is not available")
    path = tmp_path / "datasets_module.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("datasets_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DATASET_CASES = [
    {"n_samples": 300, "random_state": 0},
    {"n_samples": 120, "seq_len": 40, "prevalence": 0.3, "hard_negative_rate": 1.0,
     "fps": 25, "random_state": 3},
    {"n_samples": 200, "seq_len": 10, "fps": 7.5, "random_state": 5},
]
RECORDING_CASES = [
    {"n_recordings": 5, "random_state": 0},
    {"n_recordings": 4, "duration_s": (10, 60), "random_state": 0},
    {"n_recordings": 6, "duration_s": (2, 200), "fps": 12, "blink_rate": 25,
     "hard_negative_rate": 8, "noise": 0.05, "random_state": 7},
    {"n_recordings": 3, "fps": 6, "duration_s": 100, "blink_rate": 0, "random_state": 9},
]


def test_generators_give_what_the_module_gave(tmp_path):
    before = module_before_the_package(tmp_path)
    for kwargs in DATASET_CASES:
        for got, expected in zip(make_blink_dataset(**kwargs),
                                 before.make_blink_dataset(**kwargs), strict=True):
            np.testing.assert_array_equal(got, expected)
        pd.testing.assert_frame_equal(make_blink_dataset(**kwargs, return_frames=True),
                                      before.make_blink_dataset(**kwargs, return_frames=True))
    for kwargs in RECORDING_CASES:
        got, expected = make_blink_recordings(**kwargs), before.make_blink_recordings(**kwargs)
        assert len(got) == len(expected) == 2
        for got_part, expected_part in zip(got, expected, strict=True):
            assert len(got_part) == len(expected_part)
            for a, b in zip(got_part, expected_part, strict=True):
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)


def test_frame_tables_give_what_the_module_gave(tmp_path):
    before = module_before_the_package(tmp_path)
    frames = make_blink_dataset(120, prevalence=0.2, return_frames=True, random_state=1)
    frames = frames.drop(index=frames.index[50:53])  # a gap in video 0
    kwargs = {"feature_cols": ["ear_left", "ear_right"], "label_col": "blink",
              "group_col": "video", "order_col": "frame"}
    for got, expected in zip(frames_to_windows(frames, window=20, stride=7, **kwargs),
                             before.frames_to_windows(frames, window=20, stride=7, **kwargs),
                             strict=True):
        np.testing.assert_array_equal(got, expected)
    got = frames_to_sequences(frames, max_len=77, **kwargs)
    expected = before.frames_to_sequences(frames, max_len=77, **kwargs)
    for got_part, expected_part in zip(got[:2], expected[:2], strict=True):
        for a, b in zip(got_part, expected_part, strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got[2], expected[2])
