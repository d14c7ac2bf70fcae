"""Every script in examples/ runs to the end (they are the gallery; each takes seconds).

The docs build (sphinx-gallery, ``filename_pattern`` in docs/conf.py) executes every
``plot_*.py`` script too. CI (.ci/run) runs each example once: it sets
``SKTORCHCW_GALLERY_RUNS_EXAMPLES=1`` for the test run, which then skips the ``plot_*.py``
scripts (the docs build after it runs them, and fails on any that raises), and after the
build it points ``SKTORCHCW_GALLERY_OUTPUT`` at the gallery's pages for
``test_gallery_pages_show_what_each_example_printed``, which checks there what
``test_example_runs`` checks here: that each example printed what it found.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))
# The scripts the gallery executes (docs/conf.py: "filename_pattern": r"/plot_").
GALLERY = [path for path in EXAMPLES if path.name.startswith("plot_")]
GALLERY_RUNS_EXAMPLES = os.environ.get("SKTORCHCW_GALLERY_RUNS_EXAMPLES") == "1"
GALLERY_OUTPUT = os.environ.get("SKTORCHCW_GALLERY_OUTPUT")


def test_examples_exist():
    assert len(EXAMPLES) >= 5
    assert GALLERY


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs(script, tmp_path):
    if GALLERY_RUNS_EXAMPLES and script in GALLERY:
        pytest.skip("the docs build of this run executes it (SKTORCHCW_GALLERY_RUNS_EXAMPLES=1)")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
        timeout=300, env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip(), "an example should print what it found"


@pytest.mark.skipif(GALLERY_OUTPUT is None,
                    reason="needs SKTORCHCW_GALLERY_OUTPUT: the folder of a built gallery")
@pytest.mark.parametrize("script", GALLERY, ids=[path.stem for path in GALLERY])
def test_gallery_pages_show_what_each_example_printed(script):
    page = Path(GALLERY_OUTPUT) / f"{script.stem}.rst"
    assert page.exists(), f"the gallery has no page for {script.name}"
    # sphinx-gallery puts what a code block printed under this class; a failing example's
    # traceback would fail the build itself.
    assert ".. rst-class:: sphx-glr-script-out" in page.read_text(), (
        "an example should print what it found")
