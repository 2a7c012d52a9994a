"""Per-student random seeds, so that every student of an assignment can get different numbers."""

from __future__ import annotations

import hashlib
import os

__all__ = ["FALLBACK_STUDENT", "student_choice", "student_id", "student_seed"]

#: Environment variables read by :func:`student_id`, first match wins. The grader sets the first one
#: in the grading kernel (``course_lib.grading.testing.STUDENT_VARIABLE``) to the student whose
#: notebook it grades; JupyterHub sets the second in every user's server; the others are the user
#: name of a Jupyter Docker stack and of a Unix login (a laptop).
STUDENT_ID_VARIABLES = ("COURSE_GRADING_STUDENT", "JUPYTERHUB_USER", "NB_USER", "USER", "USERNAME")
#: The id when none of :data:`STUDENT_ID_VARIABLES` is set.
FALLBACK_STUDENT = "student"


def student_seed(student_id: str, assignment: str = "") -> int:
    """A stable random seed for one student (and optionally one assignment).

    The seed is derived from a SHA-256 hash, so it is the same on every machine, in every Python
    process and in every year, unlike Python's built-in ``hash``.

    Parameters
    ----------
    student_id
        The student's id, e.g. their hub user name. Surrounding white space and letter case are
        ignored.
    assignment
        Assignment id; different assignments give the same student different seeds.

    Returns
    -------
    int
        A seed between 0 and 2**32 - 1, usable with ``numpy.random.default_rng`` and every other
        NumPy or Python random generator.

    Notes
    -----
    nbgrader autogrades as the instructor, not as the student, so a notebook that draws its
    exercise data from ``student_seed`` must grade with tests that recompute the expected values
    from the same data (as this course's hidden tests do), not with stored numbers.
    """
    if not isinstance(student_id, str) or not student_id.strip():
        raise ValueError(f"student_seed needs a non-empty student id (e.g. student_id()), got {student_id!r}")
    key = f"{assignment.strip()}\0{student_id.strip().lower()}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big")


def student_id() -> str:
    """The id of the student whose exercise data a notebook draws (for :func:`student_seed`).

    The first non-empty variable of :data:`STUDENT_ID_VARIABLES`: ``COURSE_GRADING_STUDENT``
    (set by the course's grading, both ``python -m course_lib.grading grade`` and nbgrader's
    ``autograde``, to the nbgrader student id: the notebook is then graded with its owner's data,
    although it runs as the instructor), ``JUPYTERHUB_USER`` (the hub user name, which is the
    nbgrader student id on the hub), ``NB_USER``, ``USER``, ``USERNAME``; else
    :data:`FALLBACK_STUDENT` (``"student"``). Surrounding white space is dropped and letters are
    lower-cased, as :func:`student_seed` does.
    """
    for name in STUDENT_ID_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return value.lower()
    return FALLBACK_STUDENT


def student_choice(n_items: int, size: int, assignment: str, student: str | None = None):
    """The student's own sample of a data set: ``size`` distinct row numbers out of ``n_items``.

    Drawn with ``numpy.random.default_rng(student_seed(student, assignment))`` and sorted, so a
    notebook's set-up cell and its hidden tests, which call this with the same arguments, get the
    same rows, and two students (or two assignments) get different ones.

    Parameters
    ----------
    n_items
        Number of rows of the data set.
    size
        How many to draw (at most ``n_items``).
    assignment
        Assignment id, e.g. ``"ch01_composition"``.
    student
        The student id; by default :func:`student_id` (the graded student during grading).

    Returns
    -------
    numpy.ndarray
        Sorted integer row numbers, shape ``(size,)``.
    """
    import numpy as np

    if not 0 < size <= n_items:
        raise ValueError(f"student_choice draws between 1 and n_items = {n_items} rows, got size = {size}")
    seed = student_seed(student_id() if student is None else student, assignment)
    return np.sort(np.random.default_rng(seed).choice(n_items, size, replace=False))
