"""Warnings that point at the user's line, not at the library line that raised them."""

import os
import sys
import types
import warnings

__all__ = ["warn_at_caller"]

# Frames in these packages are skipped: the warning points at the first line outside them,
# the user's call (or, inside a cross-validation worker, the outermost frame there is).
_LIBRARY_PACKAGES = ("sktorchcw", "skorch", "torch", "sklearn", "joblib")


def _package_dirs():
    dirs = []
    for name in _LIBRARY_PACKAGES:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path:
            dirs.append(os.path.dirname(os.path.abspath(path)) + os.sep)
    return tuple(dirs)


def warn_at_caller(message, category=UserWarning):
    """Issue ``warnings.warn(message, category)`` attributed to the first frame outside
    sktorchcw, skorch, torch, scikit-learn and joblib.

    Examples
    --------
    >>> import warnings
    >>> from sktorchcw._warnings import warn_at_caller
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_at_caller("look here")
    >>> caught[0].filename.endswith("_warnings.py")  # it points here, at the doctest
    False
    """
    library = _package_dirs()
    frame: types.FrameType | None = sys._getframe(1)
    stacklevel = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(library):
        frame = frame.f_back
        stacklevel += 1
    if frame is None:  # called from library code only (a worker process): the outermost
        stacklevel -= 1
    warnings.warn(message, category, stacklevel=stacklevel + 1)
