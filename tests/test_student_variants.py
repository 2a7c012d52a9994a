"""Per-student exercise data (issue 13 part 4): who the student is, and grading with their data.

``course_lib.grading.student_id()`` names the student whose data a notebook draws; the grader puts
the graded student's id into the kernel's environment (``RecoveringExecute``), so nbgrader's real
``autograde`` runs each submission with its owner's data although it runs as the instructor. Here
two students' solutions get different molecules and full marks, two blank copies zero.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.grading import student_id, student_seed
from course_lib.grading.seed import FALLBACK_STUDENT, STUDENT_ID_VARIABLES
from notebook_helpers import cell_text, find_cell, load_notebook

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ch04_coulomb"
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
        student_seed(" ", ASSIGNMENT)


def _setup_names(monkeypatch, student: str) -> list[str]:
    monkeypatch.setenv("COURSE_GRADING_STUDENT", student)
    scope: dict = {}
    exec(cell_text(find_cell(load_notebook(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), "setup")), scope)
    return scope["my_names"]


@pytest.fixture(scope="module")
def autograded(tmp_path_factory):
    """nbgrader's own autograde (the course's nbgrader_config.py) of four submissions."""
    from nbgrader.api import Gradebook

    course = tmp_path_factory.mktemp("variants")
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for tree in ("solutions", "exercises"):
        shutil.copytree(ROOT / tree / ASSIGNMENT, course / tree / ASSIGNMENT)
    for student, tree in STUDENTS.items():
        target = course / "submitted" / student / ASSIGNMENT
        target.mkdir(parents=True)
        shutil.copy(ROOT / tree / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", target)
    nbgrader = [str(Path(sys.executable).parent / "nbgrader")]
    for step in (["generate_assignment", ASSIGNMENT, "--force"], ["autograde", ASSIGNMENT, "--force"]):
        run = subprocess.run(nbgrader + step, cwd=course, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, run.stdout + run.stderr
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: gb.find_submission(ASSIGNMENT, s).score for s in STUDENTS}
        max_score = gb.find_assignment(ASSIGNMENT).max_score
    printed = {s: json.dumps(find_cell(load_notebook(course / "autograded" / s / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"),
                                       "setup")["outputs"]) for s in STUDENTS}
    return scores, max_score, printed


def test_two_students_get_different_data(monkeypatch):
    alice, bob = _setup_names(monkeypatch, "alice"), _setup_names(monkeypatch, "bob")
    assert len(alice) == len(bob) == 4 and alice != bob, (alice, bob)


def test_autograde_uses_each_students_data_and_scores(autograded, monkeypatch):
    scores, max_score, printed = autograded
    for student in STUDENTS:  # the kernel drew the submitting student's molecules
        assert f"student id '{student}'" in printed[student], printed[student]
        assert all(name in printed[student] for name in _setup_names(monkeypatch, student)), printed[student]
    manual = 2 + 3  # part 7 and the open task, graded by hand
    assert scores["alice"] == scores["bob"] == max_score - manual, scores
    assert scores["carol"] == scores["dave"] == 0, scores
