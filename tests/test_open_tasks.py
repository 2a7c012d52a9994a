"""Every graded assignment has one open-ended task, graded by hand, whose rubric stays with the instructors.

The convention (``book/instructors.md``, "Open tasks"): each assignment in ``solutions/`` has
exactly one nbgrader answer cell whose ``grade_id`` starts with ``open_task`` -- a Markdown cell
with ``grade: true, solution: true, task: false`` and points, whose whole source is one
``### BEGIN SOLUTION`` / ``### END SOLUTION`` region holding the rubric and a model answer. The
student designs and runs a small experiment (optionally in a code cell with ``solution: true,
grade: false``) and writes the answer there. Checked for every assignment found in ``solutions/``
(none is listed here):

- exactly one such cell, Markdown, manual (no test cell, no hidden tests), with points;
- the rubric (the word "rubric") and a model answer inside the solution region, nothing outside it;
- the student copy in ``exercises/`` shows only ``YOUR ANSWER HERE`` and none of the region's lines,
  and neither does any file of the student release (``python -m course_lib.grading release``);
- the grader reports an answered open task as a manual part that needs grading by hand, outside
  the autograded score.
"""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from course_lib.grading import find_course
from notebook_helpers import cell_text, grade_id, load_notebook

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = find_course(ROOT)
#: Assignments that do not have their open task yet (issue 13 part 5 is open for them). Their rows of
#: the two tests that require the task are expected failures, strictly: once a chapter gets its task,
#: its rows pass, fail as XPASS, and the name must come off this list. (The other tests check every
#: open task found, so they hold for these assignments too.)
WITHOUT_OPEN_TASK: set[str] = set()
ASSIGNMENTS = LAYOUT.assignments()
CASES = [
    pytest.param(a, marks=pytest.mark.xfail(strict=True, reason=f"{a} has no open task yet (issue 13 part 5)"))
    if a in WITHOUT_OPEN_TASK else a
    for a in ASSIGNMENTS
]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
#: region lines at least this long are looked for in the student copy and the release
MIN_LINE = 25


def _notebooks(tree: Path, assignment: str) -> list[Path]:
    return sorted((tree / assignment).glob("*.ipynb"))


def _open_tasks(assignment: str) -> list[tuple[Path, dict]]:
    """(notebook, cell) of every graded cell whose grade id starts with open_task."""
    return [(path, cell) for path in _notebooks(LAYOUT.source_root, assignment)
            for cell in load_notebook(path)["cells"]
            if (grade_id(cell) or "").startswith("open_task") and cell["metadata"]["nbgrader"].get("grade")]


def _region(text: str) -> str:
    return text.split(BEGIN, 1)[1].split(END, 1)[0] if BEGIN in text and END in text else ""


def _region_lines(cell: dict) -> list[str]:
    return [line.strip() for line in _region(cell_text(cell)).splitlines() if len(line.strip()) >= MIN_LINE]


def test_assignments_are_discovered():
    assert len(ASSIGNMENTS) >= 8 and all(_notebooks(LAYOUT.source_root, a) for a in ASSIGNMENTS)


@pytest.mark.parametrize("assignment", CASES)
def test_one_manual_open_task_with_points(assignment):
    tasks = _open_tasks(assignment)
    assert len(tasks) == 1, (
        f"{assignment}: expected exactly one graded cell with a grade_id starting 'open_task', found "
        f"{[grade_id(c) for _, c in tasks]}")
    path, cell = tasks[0]
    meta = cell["metadata"]["nbgrader"]
    assert cell["cell_type"] == "markdown", f"{grade_id(cell)}: an open task is a Markdown answer cell"
    assert meta.get("grade") is True and meta.get("solution") is True and not meta.get("task"), (
        f"{grade_id(cell)}: needs grade: true, solution: true, task: false (a manually graded answer), got {meta}")
    assert float(meta.get("points") or 0) > 0, f"{grade_id(cell)}: the open task has no points"
    assert "BEGIN HIDDEN TESTS" not in cell_text(cell)
    tests = [grade_id(c) for c in load_notebook(path)["cells"]
             if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("grade")
             and (grade_id(c) or "").startswith("open_task")]
    assert not tests, f"{assignment}: the open task must be graded by hand, not by the test cells {tests}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_rubric_and_model_answer_inside_the_solution_region(assignment):
    for _, cell in _open_tasks(assignment):
        text = cell_text(cell)
        region = _region(text)
        assert region.strip(), f"{grade_id(cell)}: no {BEGIN} / {END} region"
        outside = text.replace(f"{BEGIN}{region}{END}", "").strip()
        assert not outside, f"{grade_id(cell)}: text outside the solution region reaches students: {outside[:80]!r}"
        assert "rubric" in region.lower(), f"{grade_id(cell)}: the solution region holds no rubric"
        assert len(_region_lines(cell)) >= 5, f"{grade_id(cell)}: the rubric and model answer are too short"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_copy_shows_only_the_answer_stub(assignment):
    for path, cell in _open_tasks(assignment):
        exercise = load_notebook(LAYOUT.release_root / assignment / path.name)
        stub = next(c for c in exercise["cells"] if grade_id(c) == grade_id(cell))
        assert cell_text(stub).strip() == "YOUR ANSWER HERE", cell_text(stub)[:200]
        dumped = json.dumps(exercise, ensure_ascii=False)
        leaked = [line for line in _region_lines(cell) if json.dumps(line, ensure_ascii=False)[1:-1] in dumped]
        assert not leaked, f"{grade_id(cell)}: rubric lines in the student copy: {leaked[:3]}"


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)


@pytest.fixture(scope="module")
def release_texts(tmp_path_factory) -> dict[str, str]:
    """Every text file of the student release of HEAD (notebooks as their JSON strings)."""
    if not (ROOT / ".git").exists():
        pytest.skip("the release is written from the committed files of a git checkout")
    from course_lib.grading.release import write_release

    release = write_release(tmp_path_factory.mktemp("release") / "course", root=ROOT, git=False)
    texts = {}
    for name in release.files:
        path = release.path / name
        try:
            raw = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if name.endswith(".ipynb"):  # every string of the JSON: sources (one line each), metadata, outputs
            raw = "\n".join(_strings(json.loads(raw)))
        texts[name] = raw
    return texts


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_rubric_absent_from_the_student_release(assignment, release_texts):
    for _, cell in _open_tasks(assignment):
        leaks = [(line, name) for line in _region_lines(cell) for name, text in release_texts.items()
                 if line in text]
        assert not leaks, f"{grade_id(cell)}: rubric or model-answer lines in the release: {leaks[:3]}"


@pytest.fixture(scope="module")
def answered_reports(tmp_path_factory):
    """The grader's report of each student copy with only its open task answered."""
    pytest.importorskip("nbgrader")
    from course_lib.grading import grade_notebook

    folder = tmp_path_factory.mktemp("open_tasks")

    def grade(assignment):
        tasks = _open_tasks(assignment)
        if len(tasks) != 1:
            return assignment, None
        path, cell = tasks[0]
        nb = copy.deepcopy(load_notebook(LAYOUT.release_root / assignment / path.name))
        next(c for c in nb["cells"] if grade_id(c) == grade_id(cell))["source"] = (
            "I varied one setting, held the rest fixed, and the table shows the held-out error.")
        submission = folder / assignment / path.name
        submission.parent.mkdir()
        submission.write_text(json.dumps(nb, indent=1), encoding="utf-8")
        return assignment, grade_notebook(submission, assignment, root=ROOT, notebook=path.stem)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(grade, ASSIGNMENTS))


@pytest.mark.parametrize("assignment", CASES)
def test_grader_reports_the_open_task_for_manual_grading(assignment, answered_reports):
    report = answered_reports[assignment]
    assert report is not None, f"{assignment}: no single open task to grade"
    (_, cell), = _open_tasks(assignment)
    part = report.part(grade_id(cell))
    points = float(cell["metadata"]["nbgrader"]["points"])
    assert report.graded, report.errors
    assert part.kind == "manual" and part.needs_manual_grading and part.points is None, part
    assert part.max_points == points and grade_id(cell) in report.needs_manual_grading
    assert report.manual_max_score >= points
    assert report.score == 0  # nothing else was answered; the open task adds no autograded points
