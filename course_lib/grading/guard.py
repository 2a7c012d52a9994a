"""Hidden tests that check a student did not call the library function they were asked to rebuild.

Some parts of an assignment ask for a function that a library already provides (a minimum-image
distance, a primitive cell). :func:`forbidden_calls` makes those library functions raise while the
hidden test calls the student's function, so a submission that merely wraps the library fails its
part with a message that says which function it called.

The function objects themselves are disabled (their code is swapped for code that raises), not only
the module attribute, so every reference to them is caught: ``from ase.geometry import find_mic``
in the student's cell, a method such as ``Atoms.get_all_distances``, or a library function that
calls the forbidden one internally.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["ForbiddenCallError", "forbidden_calls"]


class ForbiddenCallError(AssertionError):
    """A forbidden library function was called by the student's code (an AssertionError, so the
    test cell fails like any other failed check)."""


#: id of the code object of a disabled function -> the message its call raises
_MESSAGES: dict[int, str] = {}


def _raise_forbidden(*args, **kwargs):
    # Copies of this code replace the forbidden functions' own; they run with those functions'
    # module globals, so they reach this module only through sys.modules.
    sys_ = __import__("sys")
    guard = sys_.modules["course_lib.grading.guard"]
    raise guard.ForbiddenCallError(guard._MESSAGES[id(sys_._getframe().f_code)])


def _function(target) -> types.FunctionType:
    fn = target.fget if isinstance(target, property) else target
    fn = getattr(fn, "__func__", fn)  # classmethod / staticmethod / bound method
    if not isinstance(fn, types.FunctionType):
        raise TypeError(
            f"forbidden_calls can disable Python functions, methods and properties, not {target!r} "
            f"({type(target).__name__}); forbid the Python function that calls it instead."
        )
    if fn.__code__.co_freevars:
        raise TypeError(
            f"{fn.__qualname__} is a closure (it uses the variables {fn.__code__.co_freevars} of an "
            "enclosing function); forbid the function that creates or calls it instead."
        )
    return fn


@contextmanager
def forbidden_calls(*targets: Callable, reason: str = "") -> Iterator[None]:
    """Make ``targets`` raise :class:`ForbiddenCallError` while the ``with`` block runs.

    Parameters
    ----------
    *targets
        Python functions, methods (``Atoms.get_all_distances``) or properties
        (``Structure.distance_matrix``) to disable. C functions cannot be disabled; forbid the
        Python function that wraps them.
    reason
        Appended to the error message, e.g. ``"part 2 asks you to write the minimum-image search
        yourself"``.

    Raises
    ------
    ForbiddenCallError
        Inside the block, when any target is called; the message names the function.
    TypeError
        For a target that is not a Python function without free variables.

    Notes
    -----
    Compute the reference values *before* entering the block: inside it the library functions do
    not work for anybody. The original code is restored on exit, also after an exception. The
    block is not thread-safe (nothing else may call the targets meanwhile), which is the case in a
    notebook's test cell.
    """
    functions = list(dict.fromkeys(_function(t) for t in targets))
    saved = [fn.__code__ for fn in functions]
    try:
        for fn in functions:
            code = _raise_forbidden.__code__.replace(co_name=fn.__name__, co_qualname=fn.__qualname__)
            _MESSAGES[id(code)] = (
                f"your code called {fn.__module__}.{fn.__qualname__}, which this part does not allow"
                f"{': ' + reason if reason else ''}"
            )
            fn.__code__ = code
        yield
    finally:
        for fn, code in zip(functions, saved):
            _MESSAGES.pop(id(fn.__code__), None)
            fn.__code__ = code
