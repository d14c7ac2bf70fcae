"""skorch's own classifier tests, run against sktorchcw.skorch (issue 27).

Fetches the source distribution of the installed skorch version from the package index,
runs its ``skorch/tests/test_classifier.py`` and ``skorch/tests/test_net.py`` twice - as
shipped, and with every ``NeuralNetClassifier`` / ``NeuralNetBinaryClassifier`` they import
replaced by ``sktorchcw.skorch``'s - and prints the tests that pass with skorch and fail
with the drop-in. The deliberate differences are listed, one line and one reason each, in
``skorch_suite_differences.txt`` beside this file; any other such test fails the run (exit
status 1), and so does a listed test that now passes (the list must not go stale).

Usage::

    python tools/skorch_suite.py            # fetch, run both, compare
    python tools/skorch_suite.py --sdist skorch-1.4.0.tar.gz   # an already fetched sdist
    python tools/skorch_suite.py -k restore # only the tests whose name matches

It needs ``pytest`` and ``flaky`` (skorch's tests import it); both come with the ``dev``
extra.
"""

import argparse
import importlib.metadata
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TEST_FILES = ("conftest.py", "test_classifier.py", "test_net.py")
DIFFERENCES = Path(__file__).with_name("skorch_suite_differences.txt")

# Import lines of skorch's two classifiers, as skorch's tests write them.
_IMPORT = re.compile(
    r"from skorch(?:\.classifier)? import (NeuralNetClassifier|NeuralNetBinaryClassifier)\b")


def substituted(source):
    """``source`` with skorch's two classifiers imported from sktorchcw.skorch."""
    return _IMPORT.sub(r"from sktorchcw.skorch import \1", source)


def fetch_sdist(version, folder):
    """The path of skorch's source distribution ``version``, downloaded into ``folder``."""
    subprocess.run([sys.executable, "-m", "pip", "download", f"skorch=={version}",
                    "--no-binary", ":all:", "--no-deps", "--quiet", "-d", str(folder)],
                   check=True)
    (sdist,) = Path(folder).glob(f"skorch-{version}.tar.gz")
    return sdist


def unpack_tests(sdist, target, *, ours):
    """Copy the test files out of ``sdist`` into ``target`` (substituted when ``ours``)."""
    target.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            name = Path(member.name)
            if name.parent.parts[-2:] == ("skorch", "tests") and name.name in TEST_FILES:
                source = archive.extractfile(member).read().decode()
                (target / name.name).write_text(substituted(source) if ours else source)
    missing = [name for name in TEST_FILES if not (target / name).exists()]
    if missing:
        raise RuntimeError(f"{sdist} has no skorch/tests/{missing}")
    (target / "pytest.ini").write_text("[pytest]\n")  # none of this project's options


def run_tests(folder, selection):
    """``{test id: outcome}`` of pytest run in ``folder``; outcome is 'passed', 'failed',
    'error' or 'skipped'."""
    report = folder / "report.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--junitxml={report}", "test_classifier.py", "test_net.py"]
    if selection:
        command += ["-k", selection]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run(command, cwd=folder, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return outcomes(report)


def outcomes(report):
    results = {}
    for case in ElementTree.parse(report).iter("testcase"):
        module, _, klass = case.get("classname").rpartition(".")
        test_id = f"{module or klass}.py::{klass}::{case.get('name')}" if module \
            else f"{klass}.py::{case.get('name')}"
        kinds = {child.tag for child in case}
        results[test_id] = ("failed" if "failure" in kinds else "error" if "error" in kinds
                            else "skipped" if "skipped" in kinds else "passed")
    return results


def read_differences(path=DIFFERENCES):
    """``{test id: reason}`` from the list of deliberate differences."""
    differences = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        test_id, _, reason = line.partition(" # ")
        if not reason.strip():
            raise ValueError(f"{path.name}: {test_id!r} has no reason")
        differences[test_id.strip()] = reason.strip()
    return differences


def compare(shipped, ours, differences):
    """``(unexpected, stale)``: tests that pass with skorch and not with ours and are not
    listed, and listed tests that pass with ours (or no longer pass with skorch)."""
    broken = sorted(test for test, outcome in shipped.items()
                    if outcome == "passed" and ours.get(test) != "passed")
    unexpected = [test for test in broken if test not in differences]
    stale = sorted(test for test in differences if test in shipped and test not in broken)
    return unexpected, stale


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", type=Path, help="skorch's source distribution (.tar.gz)")
    parser.add_argument("-k", dest="selection", help="pytest -k expression")
    args = parser.parse_args(argv)
    version = importlib.metadata.version("skorch")
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        sdist = args.sdist or fetch_sdist(version, work)
        unpack_tests(sdist, work / "shipped", ours=False)
        unpack_tests(sdist, work / "ours", ours=True)
        with ThreadPoolExecutor(2) as pool:
            shipped, ours = pool.map(lambda name: run_tests(work / name, args.selection),
                                     ("shipped", "ours"))
    differences = read_differences()
    unexpected, stale = compare(shipped, ours, differences)
    passed = [test for test, outcome in shipped.items() if outcome == "passed"]
    also = sum(ours.get(test) == "passed" for test in passed)
    print(f"skorch {version}: {len(shipped)} tests; {len(passed)} pass with skorch's "
          f"classes; {also} of them also with sktorchcw.skorch's; "
          f"{len(passed) - also - len(unexpected)} listed differences, "
          f"{len(unexpected)} unexpected failures.")
    for test in unexpected:
        print(f"FAILS WITH OURS ({ours.get(test, 'not run')}): {test}")
    if not args.selection:
        for test in stale:
            print(f"LISTED BUT NOT A DIFFERENCE (remove it from {DIFFERENCES.name}): {test}")
    return 1 if unexpected or (stale and not args.selection) else 0


if __name__ == "__main__":
    sys.exit(main())
