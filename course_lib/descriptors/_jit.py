"""Optional numba compilation of the single-structure kernels.

Students call the descriptors one structure at a time (a loop, a list comprehension). For the
small molecules of a course (tens of atoms) a NumPy implementation spends most of its time in the
fixed cost of each array operation, not in arithmetic; the kernels marked with :func:`jit` do the
same arithmetic in compiled loops. They are compiled with ``numba`` (a pinned dependency of
``course_lib``) on the first call of a Python process, and the machine code is cached on disk
(``cache=True``: in ``__pycache__`` beside this package, or numba's user cache directory when that
is not writable), so a later process loads it instead of compiling.

If ``numba`` cannot be imported, :data:`ENABLED` is False and every descriptor uses its plain
NumPy path: the same numbers (to ~1e-15 of the largest value), only slower for single calls.
Setting the environment variable ``COURSE_LIB_NUMBA=0`` before the import does the same
(useful to compare the two paths, or on a platform where numba misbehaves).
"""

from __future__ import annotations

import os

try:  # pragma: no cover - which branch runs depends on the environment
    if os.environ.get("COURSE_LIB_NUMBA", "1") == "0":
        raise ImportError("disabled by COURSE_LIB_NUMBA=0")
    import numba as _numba
except ImportError:
    _numba = None

#: True when the compiled kernels are used; the descriptors check it on every call, so tests may
#: set it to False to run the NumPy path.
ENABLED = _numba is not None


def jit(fn):
    """``numba.njit(cache=True)`` of ``fn``, or None without numba (callers then never use it)."""
    if _numba is None:
        return None
    return _numba.njit(cache=True, nogil=True, error_model="numpy")(fn)
