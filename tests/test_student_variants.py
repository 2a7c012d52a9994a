"""Per-student exercise data (issue 13 part 4): who the student is, and grading with their data.

``course_lib.grading.student_id()`` names the student whose data a notebook draws; the grader puts
the graded student's id into the kernel's environment (``RecoveringExecute``), so nbgrader's real
``autograde`` runs each submission with its owner's data although it runs as the instructor. For
every assignment that draws its data from the student id, two students' solutions get different
data and full autograded marks, two blank copies zero.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_lib.grading import find_course, student_choice, student_id, student_seed
from course_lib.grading.grader import _cell_problem
from course_lib.grading.seed import FALLBACK_STUDENT, STUDENT_ID_VARIABLES
from notebook_helpers import cell_text, find_cell, load_notebook

ROOT = Path(__file__).resolve().parents[1]
#: assignment -> the variable of its set-up cell that holds the student's own exercise data
VARIANTS = {"ch01_composition": "my_formulas", "ch04_coulomb": "my_names", "ch07_cgcnn": "my_formulas"}
STUDENTS = {"alice": "solutions", "bob": "solutions", "carol": "exercises", "dave": "exercises"}


def test_student_id_order(monkeypatch):
    for name in STUDENT_ID_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert student_id() == FALLBACK_STUDENT
    monkeypatch.setenv("USER", "laptop")
    assert student_id() == "laptop"
    monkeypatch.setenv("JUPYTERHUB_USER", " Alice ")
    assert student_id() == "alice"
    monkeypatch.setenv("COURSE_GRADING_STUDENT", "bob")  # set by the grader in the kernel
    assert student_id() == "bob"
    with pytest.raises(ValueError, match="non-empty student id"):
        student_seed(" ", "ch04_coulomb")


def test_student_choice(monkeypatch):
    monkeypatch.setenv("COURSE_GRADING_STUDENT", "alice")
    rows = student_choice(100, 10, "ch01_composition")
    assert rows.tolist() == sorted(set(rows.tolist())) and len(rows) == 10 and 0 <= rows.min() and rows.max() < 100
    assert np.array_equal(rows, student_choice(100, 10, "ch01_composition", "alice"))
    assert not np.array_equal(rows, student_choice(100, 10, "ch01_composition", "bob"))
    assert not np.array_equal(rows, student_choice(100, 10, "ch04_coulomb", "alice"))
    assert student_choice(5, 5, "x", "alice").tolist() == [0, 1, 2, 3, 4]
    for size in (0, 6):
        with pytest.raises(ValueError, match="between 1 and n_items = 5"):
            student_choice(5, size, "x", "alice")


def _run_setup(monkeypatch, assignment: str, student: str) -> tuple[list, str]:
    """The student's data and what the set-up cell prints, from the student copy's set-up cell."""
    monkeypatch.setenv("COURSE_GRADING_STUDENT", student)
    scope: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(cell_text(find_cell(load_notebook(ROOT / "exercises" / assignment / f"{assignment}.ipynb"), "setup")), scope)
    return list(scope[VARIANTS[assignment]]), out.getvalue()


def _manual_points(assignment: str) -> float:
    """Points of the parts graded by hand (Markdown answer cells)."""
    nb = load_notebook(ROOT / "solutions" / assignment / f"{assignment}.ipynb")
    return sum(c["metadata"]["nbgrader"].get("points", 0) for c in nb["cells"]
               if c["cell_type"] == "markdown" and c["metadata"].get("nbgrader", {}).get("grade"))


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def autograded(request, tmp_path_factory):
    """nbgrader's own autograde (the course's nbgrader_config.py) of four submissions."""
    from nbgrader.api import Gradebook

    assignment = request.param
    course = tmp_path_factory.mktemp(assignment)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for tree in ("solutions", "exercises"):
        shutil.copytree(ROOT / tree / assignment, course / tree / assignment)
    for student, tree in STUDENTS.items():
        target = course / "submitted" / student / assignment
        target.mkdir(parents=True)
        shutil.copy(ROOT / tree / assignment / f"{assignment}.ipynb", target)
    nbgrader = [str(Path(sys.executable).parent / "nbgrader")]
    for step in (["generate_assignment", assignment, "--force"], ["autograde", assignment, "--force"]):
        run = subprocess.run(nbgrader + step, cwd=course, capture_output=True, text=True, timeout=1200)
        assert run.returncode == 0, run.stdout + run.stderr
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: gb.find_submission(assignment, s).score for s in STUDENTS}
        max_score = gb.find_assignment(assignment).max_score
    printed, errors = {}, {}
    for s in STUDENTS:
        nb = load_notebook(course / "autograded" / s / assignment / f"{assignment}.ipynb")
        printed[s] = "".join(o["text"] if isinstance(o["text"], str) else "".join(o["text"])
                             for o in find_cell(nb, "setup")["outputs"] if o.get("name") == "stdout")
        errors[s] = {c["metadata"].get("nbgrader", {}).get("grade_id"): problem  # as the grader words a failure
                     for c in nb["cells"] if c["cell_type"] == "code"
                     if (problem := _cell_problem(c, find_course(ROOT).cell_timeout))}
    return assignment, scores, max_score, printed, errors


@pytest.mark.parametrize("assignment", sorted(VARIANTS))
def test_two_students_get_different_data(monkeypatch, assignment):
    (alice, _), (bob, _) = _run_setup(monkeypatch, assignment, "alice"), _run_setup(monkeypatch, assignment, "bob")
    assert len(alice) == len(bob) > 0 and alice != bob, (alice, bob)


def test_autograde_uses_each_students_data_and_scores(autograded, monkeypatch):
    assignment, scores, max_score, printed, errors = autograded
    for student in STUDENTS:  # the kernel drew the submitting student's data: it printed what the set-up cell prints for them
        assert f"student id '{student}'" in printed[student], printed[student]
        assert printed[student] == _run_setup(monkeypatch, assignment, student)[1], printed[student]
    assert scores["alice"] == scores["bob"] == max_score - _manual_points(assignment), (scores, errors["alice"], errors["bob"])
    assert scores["carol"] == scores["dave"] == 0, scores
