"""Helpers for the hidden tests of the graded assignments.

Convention for every hidden test: ``rng, seed = hidden_rng("<grade id of the test cell>")`` (not
``fresh_rng()``), so that regrading the same notebook draws the same inputs and gives the same score.
A test cell whose part uses an earlier part's function runs its tests inside
``with reference_steps(globals(), "<assignment>", "<earlier function>", ...):`` (see
:mod:`course_lib.grading.steps`), so one wrong part cannot fail the parts after it.

Hidden tests compare a student's function with the reference implementation in :mod:`course_lib`
on random inputs. The helpers here draw those inputs and produce failure messages that name
the input and the random seed, so a failing case can be reproduced exactly with
``fresh_rng(seed)``. The inputs of a hidden test are seeded from the assignment, the student and
the part (:func:`hidden_rng`): every student sees different inputs, and the same submission
always gets the same score.

This module imports only NumPy at import time (ASE is imported by the structure generators when they
are called), so importing it inside a notebook kernel is fast.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .seed import STUDENT_ID_VARIABLES, student_seed
from .steps import reference_steps

__all__ = [
    "assert_close",
    "fresh_rng",
    "grading_context",
    "hidden_rng",
    "random_composition",
    "random_crystal",
    "random_molecule",
    "reference_steps",
]

#: Environment variables through which the grader names the assignment and the student to the kernel.
ASSIGNMENT_VARIABLE = "COURSE_GRADING_ASSIGNMENT"
STUDENT_VARIABLE = STUDENT_ID_VARIABLES[0]  # "COURSE_GRADING_STUDENT", also read by student_id()


def fresh_rng(seed: int | None = None) -> tuple[np.random.Generator, int]:
    """A NumPy random generator and the seed that created it.

    Parameters
    ----------
    seed
        Seed to reuse (to reproduce a failure); by default a new random 63-bit seed is drawn.
        Hidden tests use :func:`hidden_rng` instead, whose seed is fixed per student and part.

    Returns
    -------
    tuple
        ``(rng, seed)``: the :class:`numpy.random.Generator` and its seed, to quote in failure
        messages.
    """
    if seed is None:
        seed = secrets.randbits(63)
    return np.random.default_rng(seed), int(seed)


def grading_context(cwd: str | os.PathLike | None = None) -> tuple[str, str]:
    """The ``(assignment, student)`` whose notebook is being graded.

    Read from the environment variables ``COURSE_GRADING_ASSIGNMENT`` and
    ``COURSE_GRADING_STUDENT`` when the grader sets them; otherwise from the notebook's folder,
    which nbgrader lays out as ``<step>/<student>/<assignment>`` (the kernel runs in that folder).
    A student running the notebook in their own folder gets that folder's names; either way the
    result depends only on where the notebook is, never on the time or on chance.

    Parameters
    ----------
    cwd
        Folder of the notebook; by default the current working directory.
    """
    folder = Path(cwd if cwd is not None else os.getcwd()).resolve()
    assignment = os.environ.get(ASSIGNMENT_VARIABLE) or folder.name
    student = os.environ.get(STUDENT_VARIABLE) or folder.parent.name
    return assignment, student


def hidden_rng(part: str) -> tuple[np.random.Generator, int]:
    """The random generator of one hidden test, seeded from the assignment, student and part.

    The seed is :func:`course_lib.grading.student_seed` of the student (see
    :func:`grading_context`) and ``"<assignment>/<part>"``: regrading a submission draws exactly
    the same inputs (so it gets exactly the same score), two students get different inputs, and
    the parts of one notebook get independent inputs.

    Parameters
    ----------
    part
        The grade id of the test cell, e.g. ``"part1_one_hot"``.

    Returns
    -------
    tuple
        ``(rng, seed)`` as :func:`fresh_rng` returns them; ``fresh_rng(seed)`` reproduces the
        inputs of a failure message.
    """
    if not isinstance(part, str) or not part.strip():
        raise ValueError(f"hidden_rng needs the grade id of the test cell (e.g. 'part1_one_hot'), got {part!r}")
    assignment, student = grading_context()
    return fresh_rng(student_seed(student, f"{assignment}/{part.strip()}"))


def random_composition(
    rng: np.random.Generator, symbols: Sequence[str], max_elements: int = 5
) -> dict[str, float]:
    """A random composition ``{symbol: amount}`` drawn from ``symbols``.

    Parameters
    ----------
    rng
        The random generator (see :func:`fresh_rng`).
    symbols
        Element symbols to choose from, e.g. ``course_lib.elements.SYMBOLS`` or an embedding's
        ``symbols``.
    max_elements
        Largest number of distinct elements (at least one is always drawn).

    Returns
    -------
    dict
        Between 1 and ``max_elements`` distinct elements; with probability 1/2 the amounts are
        integers from 1 to 8 (like Fe2O3), otherwise positive decimals between 0.05 and 5 with three
        digits (like Li0.5CoO2). Amounts are Python floats.
    """
    n = int(rng.integers(1, min(max_elements, len(symbols)) + 1))
    chosen = rng.choice(len(symbols), size=n, replace=False)
    if rng.random() < 0.5:
        amounts = rng.integers(1, 9, size=n).astype(float)
    else:
        amounts = np.round(rng.uniform(0.05, 5.0, size=n), 3)
    return {str(symbols[i]): float(a) for i, a in zip(chosen, amounts)}


def random_molecule(
    rng: np.random.Generator,
    n_atoms: int = 7,
    symbols: Sequence[str] = ("H", "C", "N", "O"),
    box: float = 4.0,
    min_distance: float = 0.8,
):
    """A random molecule: ``n_atoms`` atoms placed uniformly in a cube, no two closer than
    ``min_distance``.

    Parameters
    ----------
    rng
        The random generator (see :func:`fresh_rng`); the same generator state gives the same
        molecule.
    n_atoms
        Number of atoms.
    symbols
        Elements to draw from (with replacement).
    box
        Edge of the cube, in angstrom, in which the positions are drawn.
    min_distance
        Smallest allowed interatomic distance, in angstrom; positions are redrawn until it holds.

    Returns
    -------
    ase.Atoms
        A non-periodic :class:`ase.Atoms` without a cell.
    """
    from ase import Atoms

    _check_room(n_atoms, box**3, min_distance)
    while True:
        pos = rng.uniform(0.0, box, (n_atoms, 3))
        if n_atoms < 2 or _min_distance(pos) > min_distance:
            return Atoms(list(rng.choice(symbols, n_atoms)), positions=pos)


def random_crystal(
    rng: np.random.Generator,
    n_atoms: int = 5,
    symbols: Sequence[str] = ("H", "C", "O"),
    edge: tuple[float, float] = (3.5, 6.0),
    shear: float = 0.8,
    min_distance: float = 0.8,
):
    """A random periodic crystal: a skewed cell with ``n_atoms`` atoms at random fractional
    positions, no two atoms (or periodic images) closer than ``min_distance``.

    Parameters
    ----------
    rng
        The random generator (see :func:`fresh_rng`).
    n_atoms
        Number of atoms in the cell.
    symbols
        Elements to draw from (with replacement).
    edge
        Range of the diagonal of the cell matrix, in angstrom.
    shear
        Off-diagonal cell entries are drawn from ``[-shear, shear]`` angstrom (added to the
        diagonal too).
    min_distance
        Smallest allowed distance, with the minimum-image convention, in angstrom.

    Returns
    -------
    ase.Atoms
        A periodic :class:`ase.Atoms` (``pbc=True``).
    """
    from ase import Atoms

    _check_room(n_atoms, edge[0] ** 3 / 2, min_distance)
    while True:
        cell = np.diag(rng.uniform(edge[0], edge[1], 3)) + rng.uniform(-shear, shear, (3, 3))
        atoms = Atoms(
            list(rng.choice(symbols, n_atoms)),
            scaled_positions=rng.uniform(0.0, 1.0, (n_atoms, 3)),
            cell=cell,
            pbc=True,
        )
        if n_atoms < 2:
            return atoms
        d = atoms.get_all_distances(mic=True)[np.triu_indices(n_atoms, 1)]
        if d.min() > min_distance:
            return atoms


def _min_distance(pos: np.ndarray) -> float:
    n = len(pos)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=2)
    return float(d[np.triu_indices(n, 1)].min())


def _check_room(n_atoms: int, volume: float, min_distance: float) -> None:
    """Refuse requests that would make the rejection sampling loop (almost) forever."""
    if n_atoms < 1:
        raise ValueError(f"n_atoms must be at least 1, got {n_atoms}")
    packed = n_atoms * (4 / 3) * np.pi * (min_distance / 2) ** 3
    if packed > 0.2 * volume:
        raise ValueError(
            f"{n_atoms} atoms at least {min_distance} angstrom apart do not fit comfortably in "
            f"{volume:.1f} cubic angstrom; use fewer atoms, a larger box or a smaller min_distance"
        )


def assert_close(got, want, what: str, rtol: float = 1e-6) -> None:
    """Assert that an array returned by a student's function matches the reference.

    Parameters
    ----------
    got
        The student's result (anything :func:`numpy.asarray` accepts).
    want
        The reference result.
    what
        Description of the call and its inputs, used in the failure message.
    rtol
        Relative tolerance; the absolute tolerance is ``1e-9`` times the largest reference value
        (at least ``1e-9``), which allows for the round-off of other correct formulas.

    Raises
    ------
    AssertionError
        If the shapes differ or any element differs by more than the tolerance; the message names
        the first differing index.
    """
    want = np.asarray(want, dtype=float)
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what}: the result is not a numeric array ({exc})") from None
    if got.shape != want.shape:
        raise AssertionError(f"{what}: expected shape {want.shape}, got {got.shape}")
    atol = 1e-9 * max(1.0, float(np.abs(want).max(initial=0.0)))
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol)
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        index = i[0] if len(i) == 1 else i
        raise AssertionError(
            f"{what}: element {index} is {got[i]!r}, expected {want[i]!r} "
            f"({int(bad.sum())} of {bad.size} elements differ)"
        )
