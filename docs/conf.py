"""Sphinx configuration for the sktorchcw documentation.

Build (warnings are errors; works offline)::

    python -m sphinx -W -b html docs docs/_build/html

Needs ``sphinx``, ``numpydoc``, ``sphinx-gallery``, ``pydata-sphinx-theme`` and
``matplotlib``. The gallery executes every ``examples/plot_*.py`` script; add
``-D plot_gallery=0`` to build without running them.
"""


import sktorchcw

# -- Project -----------------------------------------------------------------------------

project = "sktorchcw"
author = "The sktorchcw developers"
copyright = "The sktorchcw developers"
version = sktorchcw.__version__
release = sktorchcw.__version__

# -- General -----------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_intersphinx", "Thumbs.db", ".DS_Store"]
default_role = "literal"
nitpicky = False

# -- API reference: autodoc, autosummary, numpydoc ---------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
# Show defaults as written in the source (``criterion=nn.CrossEntropyLoss``), not as reprs.
autodoc_preserve_defaults = True
autodoc_typehints = "none"

# As in scikit-learn: the class template lists the documented methods itself; numpydoc's
# member tables would list everything inherited from torch.nn.Module and BaseEstimator.
numpydoc_show_class_members = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- Cross-references to Python, scikit-learn, PyTorch and skorch ------------------------
#
# Each project is tried online first (its objects.inv); when that cannot be fetched
# (offline builds, CI without network) Sphinx falls back to the small hand-written
# inventory in docs/_intersphinx/, which lists only the objects these pages refer to, so
# the build passes with -W either way. The fallback files use Sphinx's plain-text
# inventory format 1: "# Sphinx inventory version 1", "# Project: ...", "# Version: ...",
# then "<full name> <class|function|method|...> <page relative to the project's URL>"
# lines (Python objects only). Add a line when the docs refer to a new external object.
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", (None, "_intersphinx/python.inv")),
    "sklearn": ("https://scikit-learn.org/stable/", (None, "_intersphinx/sklearn.inv")),
    "torch": ("https://docs.pytorch.org/docs/stable/", (None, "_intersphinx/torch.inv")),
    "skorch": ("https://skorch.readthedocs.io/en/stable/", (None, "_intersphinx/skorch.inv")),
}
intersphinx_timeout = 5

# -- Gallery -----------------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # execute every plot_*.py; other scripts are shown only
    "doc_module": ("sktorchcw",),
    "backreferences_dir": "gen_modules/backreferences",
    "remove_config_comments": True,
    "download_all_examples": False,
    # No sg_execution_times.rst files in the source tree; times are printed in the log.
    "write_computation_times": False,
}

# -- HTML --------------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sktorchcw {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"index": [], "quick_start": []}
html_show_sourcelink = False
