"""The benchmark sections, in the order they run and are reported.

Each section is one module of this folder named by its key, the name ``run.py --only``
takes and ``results.json`` files it under (``a_overhead.py`` is section a, and so on). A
section module holds:

- a docstring: what it measures, its anchor (the hand-written loop or the variant it is
  compared against) and its figures with their targets;
- ``TITLE``: the one line the table prints under the section's letter;
- ``measure(sizes, device)``: runs the section and returns its rows (``common.row``;
  ``common.compare`` for two alternated variants and their ratio), each with the section's
  letter; it raises ``common.SectionSkipped`` with the reason where it cannot run here;
- the helpers, data and hand-written loops that only this section uses. What several
  sections use lives next to ``run.py``: ``common.py`` (rows, targets, timing,
  alternating, memory, onnxruntime, fresh processes), ``training.py`` (fitting the
  estimators, ``HandLoop`` and interleaving), ``data.py`` (generated data) and
  ``sizes.py`` (the sizes of the full and of the smoke run).

Adding a section (say ``u_threads``):

1. write ``u_threads.py`` here, with the docstring, ``TITLE`` and ``measure`` (its rows
   use the letter ``"u"``); if it needs sizes of its own, add them to ``sizes.Sizes`` with
   a value in both ``FULL`` and ``QUICK`` (small enough for the smoke run);
2. add ``"u_threads"`` to ``ORDER`` below.

``run.py`` then runs it (``--only u_threads`` too), ``tests/test_benchmarks.py`` checks
its smoke run, and ``benchmarks/RESULTS.md`` gets its figures by hand.
"""

import importlib

ORDER = (
    "a_overhead",
    "b_class_weight",
    "c_loss",
    "d_memory",
    "e_inference",
    "f_scaling",
    "g_fast_path",
    "h_prediction",
    "i_tagger",
    "j_onnx",
    "k_stream",
    "l_robust",
    "m_fit_memory",
    "n_mixed_lengths",
    "o_loguniform",
    "p_tagger_overhead",
    "q_skorch_dropin",
    "r_user_gru",
    "s_bidirectional",
    "t_real_recordings",
    "u_threads",
)

SECTIONS = {key: importlib.import_module(f"{__name__}.{key}") for key in ORDER}
