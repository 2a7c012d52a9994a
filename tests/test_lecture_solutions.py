"""No lecture page or lecture notebook hands out an assignment's solution line by line.

For every assignment in ``solutions/`` (found, not listed), every line of its solution regions
(``### BEGIN SOLUTION`` / ``### END SOLUTION``, and answer cells without delimiters; the rule of
:func:`course_lib.grading.release.secret_lines`) that is longer than 30 characters and not an
import statement must not appear, stripped, as a line of a lecture notebook (``notebooks/*.ipynb``)
or a book page (``book/**/*.md``). A lecture may teach the same formula, but a student must not be
able to copy the assignment's answer from it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_lib.grading import find_course
from course_lib.grading.release import secret_lines

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = find_course(ROOT)
MIN_LENGTH = 30


def _lecture_lines() -> dict[str, set[str]]:
    pages = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        pages[path.relative_to(ROOT).as_posix()] = {
            line.strip() for cell in cells
            for line in "".join(cell["source"] if isinstance(cell["source"], list) else [cell["source"]]).splitlines()}
    for path in sorted((ROOT / "book").rglob("*.md")):
        if "_build" not in path.parts:
            pages[path.relative_to(ROOT).as_posix()] = {
                line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    return pages


LECTURES = _lecture_lines()


def _solution_lines(assignment: str) -> list[str]:
    lines = {}
    for path in sorted((LAYOUT.source_root / assignment).glob("*.ipynb")):
        lines.update(secret_lines(json.loads(path.read_text(encoding="utf-8"))))
    return [line for line, kind in lines.items() if kind == "solution" and len(line) > MIN_LENGTH
            and not line.startswith(("import ", "from "))]


def test_lectures_and_solutions_are_found():
    assert len(LECTURES) >= 16 and any(p.startswith("notebooks/") for p in LECTURES)
    assert all(_solution_lines(a) for a in LAYOUT.assignments())


@pytest.mark.parametrize("assignment", LAYOUT.assignments())
def test_no_solution_line_in_a_lecture(assignment):
    found = [(page, line) for line in _solution_lines(assignment)
             for page, lines in LECTURES.items() if line in lines]
    assert not found, (
        f"{assignment}: {len(found)} solution line(s) appear verbatim in the lectures; rewrite the "
        f"lecture's version (or the assignment's part): " + "; ".join(f"{p}: {line!r}" for p, line in found[:5]))
