"""Tests of assignment 2 (learned element embeddings): the solution scores full marks, the
untouched student copy zero, a partial submission only its parts; hidden tests stay hidden.

Follows tests/test_grading.py; the notebooks are graded once, in parallel, by a module fixture.
"""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("nbgrader")

from course_lib.grading import check_sync, grade_notebook  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ch02_embeddings"
SOLUTION = ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
EXERCISE = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
AUTO_PARTS = {
    "part1_cooccurrence": 2,
    "part2_svd": 3,
    "part3_skipgram": 3,
    "part4_nearest": 2,
    "part5_pool": 2,
    "part6_agreement": 3,
}
MANUAL_PART = "part7_dimension"
FULL = sum(AUTO_PARTS.values())
PARTIAL = ["part1_cooccurrence", "part3_skipgram", "part5_pool"]


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _cell(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if _grade_id(c) == grade_id)


def _text(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ch02")
    solution, exercise = _load(SOLUTION), _load(EXERCISE)
    partial = copy.deepcopy(exercise)
    for part in PARTIAL:
        _cell(partial, f"{part}_solution")["source"] = _text(_cell(solution, f"{part}_solution"))
    partial_path = folder / "partial.ipynb"
    partial_path.write_text(json.dumps(partial, indent=1), encoding="utf-8")
    paths = {"solution": SOLUTION, "student": EXERCISE, "partial": partial_path}

    def grade(name):
        return name, grade_notebook(paths[name], ASSIGNMENT, root=ROOT)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(grade, paths))


def _passed(report) -> set[str]:
    return {p.id for p in report.parts if p.kind == "auto" and p.passed}


def test_assignment_has_at_least_five_autograded_parts():
    nb = _load(SOLUTION)
    grades = {
        _grade_id(c): c["metadata"]["nbgrader"]["points"]
        for c in nb["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade") and not c["metadata"]["nbgrader"]["solution"]
    }
    assert grades == AUTO_PARTS and len(grades) >= 5


def test_hidden_tests_draw_fresh_random_cases():
    nb = _load(SOLUTION)
    for part in AUTO_PARTS:
        hidden = _text(_cell(nb, part)).split("### BEGIN HIDDEN TESTS")[1]
        assert "fresh_rng()" in hidden and "seed" in hidden
        assert any(f"range({n})" in hidden for n in range(20, 40))


def test_hidden_tests_and_solutions_absent_from_exercises():
    solution, exercise = _load(SOLUTION), _load(EXERCISE)
    text = json.dumps(exercise)
    for marker in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION",
                   "fresh_rng", "svd_embedding", "embedding_agreement", "cooccurrence_matrix"):
        assert marker not in text, marker
    for part in AUTO_PARTS:
        visible = _text(_cell(solution, part)).split("### BEGIN HIDDEN TESTS")[0].strip()
        assert _text(_cell(exercise, part)).strip().startswith(visible)
        stub = _text(_cell(exercise, f"{part}_solution"))
        assert "# YOUR CODE HERE" in stub and "raise NotImplementedError()" in stub
    assert _text(_cell(exercise, MANUAL_PART)) == "YOUR ANSWER HERE"
    for nb in (solution, exercise):
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None


def test_exercises_in_sync_with_solutions():
    assert not [d for d in check_sync(root=ROOT) if ASSIGNMENT in d]


def test_solution_scores_full_marks(reports):
    report = reports["solution"]
    assert report.graded and report.hidden_tests and report.errors == []
    assert report.score == report.max_score == FULL
    assert _passed(report) == set(AUTO_PARTS)
    manual = report.part(MANUAL_PART)
    assert manual.kind == "manual" and manual.needs_manual_grading


def test_untouched_student_copy_scores_zero(reports):
    report = reports["student"]
    assert report.graded and report.score == 0 and report.max_score == FULL
    for part in (p for p in report.parts if p.kind == "auto"):
        assert not part.passed and part.points == 0 and "NotImplementedError" in part.error
    assert report.part(MANUAL_PART).points == 0


def test_partial_submission_scores_only_its_parts(reports):
    report = reports["partial"]
    assert _passed(report) == set(PARTIAL)
    assert report.score == sum(AUTO_PARTS[p] for p in PARTIAL)
