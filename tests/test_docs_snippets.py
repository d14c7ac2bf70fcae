"""Every Python block of README.md and of the docs' pages runs as written (issue 30).

The blocks of one file run in order, in one namespace, in a temporary working directory (so
what they write never lands in the repository), with torch and NumPy seeded. Which blocks:

- README.md: every ```` ```python ```` fenced block;
- docs/*.rst: every ``.. code-block:: python`` and every ``::`` literal block (Sphinx shows
  both as Python), and every doctest block (``>>>``), at any depth (inside a definition list,
  a note...). A block whose text starts with ``>>>`` is run as a doctest: its printed
  output is checked (``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``).

A block that is deliberately a fragment (code that cannot run here: the Keras call it
translates, a search on a Dask cluster, a sketch of a multi-process loop) is marked and
skipped: ``<!-- fragment -->`` on the line
before the fence in Markdown, an rst comment ``.. fragment`` (optionally ``.. fragment:
reason``) just before the ``.. code-block::`` in rst. Keep them few: a block a reader
copies should run.

Snippets keep their data small and their epochs few, so that all of them together take
well under a minute on two CPU cores. A page that needs an optional extra that is not
installed (onnxruntime, dask, matplotlib) is skipped.
"""

import doctest
import re
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.rst"))]
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
FRAGMENT_MARK = "<!-- fragment -->"
# Packages of the optional extras ("onnx", "dask", "plot"): a page that needs one is skipped
# where it is not installed (the "dev" extra, which CI installs, has them all).
OPTIONAL = {"onnx", "onnxruntime", "dask", "distributed", "matplotlib"}


class Block:
    def __init__(self, path, line, code, fragment):
        self.path, self.line, self.code, self.fragment = path, line, code, fragment

    @property
    def name(self):
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"


def markdown_blocks(path):
    lines = path.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```"))
        if opening.group(2) == "python":
            before = [line.strip() for line in lines[:i] if line.strip()]
            fragment = bool(before) and before[-1] == FRAGMENT_MARK
            code = textwrap.dedent("\n".join(lines[i + 1:end]))
            blocks.append(Block(path, i + 2, code + "\n", fragment))
        i = end + 1
    return blocks


def _inside(node, kind):
    while node is not None:
        if isinstance(node, kind):
            return True
        node = node.parent
    return False


def _is_fragment_mark(node):
    from docutils import nodes

    return isinstance(node, nodes.comment) and node.astext().strip().startswith("fragment")


def rst_blocks(path):
    from docutils import nodes
    from docutils.core import publish_doctree

    source = path.read_text()
    # Sphinx's roles and directives are unknown to docutils: they become error messages,
    # left out below; the blocks themselves parse as Sphinx reads them.
    tree = publish_doctree(source, source_path=str(path), settings_overrides={
        "report_level": 5, "halt_level": 5, "syntax_highlight": "none",
        "file_insertion_enabled": False, "raw_enabled": False})
    blocks, searched_from = [], 0
    for node in tree.findall(lambda n: isinstance(n, (nodes.literal_block,
                                                      nodes.doctest_block))):
        if _inside(node, nodes.system_message):
            continue
        classes = node["classes"]
        if isinstance(node, nodes.literal_block) and "code" in classes and \
                "python" not in classes:
            continue                             # bash, text...
        code = node.astext()
        lines = code.strip().splitlines()
        at = source.find(lines[0], searched_from)
        line = source.count("\n", 0, at) + 1 if at >= 0 else node.line
        if at >= 0:
            end = source.find(lines[-1], at)
            searched_from = end + len(lines[-1]) if end >= 0 else at + len(lines[0])
        previous = node.previous_sibling() if node.parent is not None else None
        blocks.append(Block(path, line, code + "\n", _is_fragment_mark(previous)))
    return blocks


def blocks_of(path):
    return markdown_blocks(path) if path.suffix == ".md" else rst_blocks(path)


def run_block(block, namespace):
    if block.code.lstrip().startswith(">>>"):
        parser = doctest.DocTestParser()
        test = parser.get_doctest(block.code, namespace, block.name, str(block.path),
                                  block.line - 1)
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        report = []
        runner.run(test, out=report.append, clear_globs=False)
        assert runner.failures == 0, "".join(report)
    else:
        exec(compile(block.code, block.name, "exec"), namespace)


@pytest.fixture
def quiet_seeded_torch():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                     # small models; a shared 2-core machine
    torch.manual_seed(0)
    np.random.seed(0)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_python_block_runs(page, tmp_path, monkeypatch, quiet_seeded_torch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__main__"}
    for block in blocks_of(page):
        if block.fragment:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                run_block(block, namespace)
            except ModuleNotFoundError as error:
                if error.name not in OPTIONAL:
                    raise AssertionError(f"the block at {block.name} failed: {error!r}") \
                        from error
                pytest.skip(f"{block.name} needs {error.name} (an optional extra)")
            except Exception as error:
                raise AssertionError(f"the block at {block.name} failed: {error!r}") from error


def test_fragments_are_few_and_the_readme_has_its_snippets():
    blocks = [block for page in PAGES for block in blocks_of(page)]
    fragments = [block.name for block in blocks if block.fragment]
    assert len(markdown_blocks(ROOT / "README.md")) >= 3
    assert len(fragments) <= 8, fragments


def test_fragment_marks_are_found(tmp_path):
    page = tmp_path / "page.rst"
    page.write_text("T\n=\n\n.. fragment\n\n.. code-block:: python\n\n   undefined_name\n\n"
                    "Text::\n\n    x = 1\n\n.. code-block:: bash\n\n   ls\n\n>>> 1 + 1\n2\n")
    found = rst_blocks(page)
    assert [(b.fragment, b.code.strip()) for b in found] == [
        (True, "undefined_name"), (False, "x = 1"), (False, ">>> 1 + 1\n2")]
    readme = tmp_path / "README.md"
    readme.write_text("<!-- fragment -->\n```python\nundefined_name\n```\n\n"
                      "```bash\nls\n```\n```python\nx = 1\n```\n")
    assert [(b.fragment, b.code.strip()) for b in markdown_blocks(readme)] == [
        (True, "undefined_name"), (False, "x = 1")]
