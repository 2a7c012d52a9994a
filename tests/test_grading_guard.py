"""course_lib.grading.guard.forbidden_calls: library functions disabled inside hidden tests."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.geometry import find_mic

from course_lib.grading.guard import ForbiddenCallError, forbidden_calls, forbidden_functions


def _helper(x, scale=2.0):
    return scale * x


def test_direct_and_indirect_calls_raise_and_code_is_restored():
    atoms = bulk("NaCl", "rocksalt", a=5.64) * (2, 1, 1)
    want = atoms.get_all_distances(mic=True)
    with forbidden_calls(find_mic, reason="write the search yourself"):
        # Atoms.get_all_distances -> ase.geometry.get_distances -> find_mic
        with pytest.raises(ForbiddenCallError, match=r"ase\.geometry\.geometry\.find_mic.*write the search"):
            atoms.get_all_distances(mic=True)
        assert atoms.get_all_distances(mic=False).shape == (4, 4)  # other code still works
    assert np.array_equal(atoms.get_all_distances(mic=True), want)


def test_reference_taken_before_the_block_is_caught_too():
    alias = _helper  # as after `from module import function` in a student's cell
    with forbidden_calls(_helper):
        with pytest.raises(ForbiddenCallError, match="_helper"):
            alias(1.0)
    assert alias(1.5) == 3.0 and _helper(1.0, scale=3.0) == 3.0


def test_restored_after_an_exception_and_error_is_an_assertion():
    with pytest.raises(ZeroDivisionError):
        with forbidden_calls(_helper):
            1 / 0
    assert _helper(2.0) == 4.0
    assert issubclass(ForbiddenCallError, AssertionError)


def test_methods_and_properties():
    from pymatgen.core import Lattice, Structure

    s = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with forbidden_calls(Structure.distance_matrix, Structure.get_primitive_structure):
        with pytest.raises(ForbiddenCallError, match="distance_matrix"):
            s.distance_matrix
        with pytest.raises(ForbiddenCallError, match="get_primitive_structure"):
            s.get_primitive_structure()
    assert np.isclose(s.distance_matrix[0, 1], np.sqrt(12.0))


def test_bad_targets_are_refused():
    with pytest.raises(TypeError, match="can disable Python functions.*ufunc"):
        with forbidden_calls(np.sqrt):
            pass

    def outer():
        y = 1.0

        def inner():
            return y

        return inner

    with pytest.raises(TypeError, match="closure"):
        with forbidden_calls(outer()):
            pass


def _reference_step(x):
    """Stands for a course reference step built on the library (course_lib.grading.steps)."""
    return _helper(x) + 1.0


def _students_function(x, step=_reference_step):
    return step(x)


def test_allowed_callers_may_use_the_forbidden_function_the_student_may_not():
    with forbidden_calls(_helper, reason="part 1", allow=[_reference_step]):
        assert _students_function(1.0) == 3.0  # student -> reference step -> _helper: allowed
        with pytest.raises(ForbiddenCallError, match="_helper.*part 1"):
            _students_function(1.0, step=_helper)  # student -> _helper: forbidden
        with pytest.raises(ForbiddenCallError):
            _helper(1.0)
    assert _helper(1.0, scale=3.0) == 3.0 and _reference_step(1.0) == 3.0
    with pytest.raises(TypeError, match="allow takes Python functions"):
        with forbidden_calls(_helper, allow=[np.sqrt]):
            pass


def test_forbidden_functions_reads_the_names_back():
    with forbidden_calls(_helper, find_mic, reason="write it yourself"):
        try:
            _helper(1.0)
        except ForbiddenCallError as exc:
            message = f"ForbiddenCallError: {exc}"
    assert forbidden_functions(f"Traceback ...\n{message}\n{message}") == [
        f"{__name__}._helper"]
    assert forbidden_functions("AssertionError: expected 1.0, got 2.0") == []
