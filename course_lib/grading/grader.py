"""Grade one submitted notebook with nbgrader and report the result as JSON.

:func:`grade_notebook` is what ``python -m course_lib.grading grade`` runs. It builds a throw-away
nbgrader course in a temporary folder (the assignment's source, a fresh gradebook, the submission
under ``submitted/<student>/<assignment>/``), runs nbgrader's ``generate_assignment`` and
``autograde`` there in a child process, and reads the scores from nbgrader's gradebook and the
error messages from the autograded notebook. Everything nbgrader does on the hub therefore happens
here too: locked cells and test cells are restored from the source, hidden tests run, every cell is
interrupted after the per-cell time limit, and a part scores its points only if its test cell runs
without error.

The child process is stopped, together with its kernel, if the whole run exceeds a total time
limit, and every failure (unreadable file, nbgrader error, dead kernel) still gives a complete
report with a score.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .course import (
    AUTOGRADE_PREPROCESSORS,
    IGNORED,
    SANITIZE_PREPROCESSORS,
    CourseError,
    CourseLayout,
    find_course,
    notebooks_of,
)
from .testing import ASSIGNMENT_VARIABLE, STUDENT_VARIABLE

#: ``ename`` of the error output the course's Execute gives a cell that killed the kernel.
KERNEL_DIED = "DeadKernelError"

__all__ = ["GradeReport", "PartResult", "grade_notebook"]

#: Delimiter of hidden tests in a source test cell (nbgrader's ``ClearHiddenTests`` default).
HIDDEN_TESTS_MARK = "BEGIN HIDDEN TESTS"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class PartResult:
    """The result of one graded part (one nbgrader grade cell) of a notebook.

    Attributes
    ----------
    id
        The cell's nbgrader ``grade_id``, e.g. ``"part1_one_hot"``.
    points
        Points earned. For a manually graded part: the points nbgrader has already assigned
        (0 for an unanswered question), or None while it awaits a grader.
    max_points
        Points the part is worth.
    passed
        Autograded parts: whether the part earned all its points. Manually graded parts: None.
    error
        Why the part did not pass (the test's error message, a time-out, a missing cell), or None.
    kind
        ``"auto"`` for a test cell, ``"manual"`` for an answer graded by hand.
    needs_manual_grading
        True for a manually graded answer that a grader still has to mark.
    forbidden_calls
        Library functions the part forbids that the student's code called (the test raised
        :class:`~course_lib.grading.guard.ForbiddenCallError`); the part scores 0 and ``error``
        starts with ``"forbidden call: <function>"``.
    """

    id: str
    points: float | None
    max_points: float
    passed: bool | None
    error: str | None = None
    kind: str = "auto"
    needs_manual_grading: bool = False
    forbidden_calls: list[str] = field(default_factory=list)


@dataclass
class GradeReport:
    """Everything :func:`grade_notebook` found out about one submission.

    Attributes
    ----------
    assignment
        Assignment id, e.g. ``"ch01_composition"``.
    notebook
        Name of the assignment notebook the submission was graded as (without ``.ipynb``).
    score
        Points earned on the autograded parts.
    max_score
        Points available on the autograded parts (manually graded parts are not included).
    parts
        One :class:`PartResult` per graded cell, in notebook order.
    errors
        Problems with the notebook as a whole, in plain words: cells that raised or timed out
        outside the test cells, cells that were deleted, copied or edited, and any reason why
        nbgrader could not grade the notebook at all.
    submission
        Path of the graded file.
    graded
        True if nbgrader ran the notebook and recorded grades; False if the file could not be
        read or grading failed (then every autograded part scores 0).
    hidden_tests
        True if the source the submission was graded against contains hidden tests (the
        instructors' ``solutions/``); False when only the student copy was available.
    manual_max_score
        Points available on the manually graded parts.
    needs_manual_grading
        Ids of the parts a grader still has to mark.
    cell_timeout
        Per-cell time limit used, in seconds.
    elapsed_s
        Wall-clock time of the grading, in seconds.
    nbgrader_version
        Version of nbgrader that graded the notebook ("" if it did not run).
    forbidden_calls
        ``{part id: [forbidden functions its code called]}`` for the parts flagged so.
    """

    assignment: str
    notebook: str
    score: float
    max_score: float
    parts: list[PartResult]
    errors: list[str] = field(default_factory=list)
    submission: str = ""
    graded: bool = False
    hidden_tests: bool = False
    manual_max_score: float = 0.0
    needs_manual_grading: list[str] = field(default_factory=list)
    cell_timeout: int = 0
    elapsed_s: float = 0.0
    nbgrader_version: str = ""
    forbidden_calls: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The report as a JSON-compatible dictionary (``parts`` as a list of dictionaries)."""
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """The report as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        """The report in a few lines of plain text: the score, one line per part (flags such as
        "forbidden call: <function>" included), and the notebook's problems."""
        lines = [f"{self.assignment}: {self.score:g} of {self.max_score:g} autograded points"
                 + (f" (+ {self.manual_max_score:g} graded by hand)" if self.manual_max_score else "")
                 + ("" if self.graded else " -- NOT GRADED")]
        for p in self.parts:
            if p.kind == "manual":
                state = ("to be graded by hand" if p.needs_manual_grading
                         else f"{p.points:g}/{p.max_points:g} (by hand)" if p.points is not None else "not graded")
            else:
                state = f"{p.points or 0.0:g}/{p.max_points:g}" + ("" if p.passed else " FAILED")
            lines.append(f"  {p.id}: {state}" + (f" -- {p.error}" if p.error else ""))
        lines += [f"  problem: {e}" for e in self.errors]
        return "\n".join(lines)

    def part(self, part_id: str) -> PartResult:
        """The :class:`PartResult` with id ``part_id``.

        Raises
        ------
        KeyError
            If there is no such part.
        """
        for p in self.parts:
            if p.id == part_id:
                return p
        raise KeyError(part_id)


# -- the source notebook --------------------------------------------------------------------------


@dataclass
class _SourceCell:
    grade_id: str
    cell_type: str
    kind: str  # "auto", "manual", "solution", "readonly"
    points: float
    hidden_tests: bool


def _nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def _source_text(cell: dict) -> str:
    src = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(src) if isinstance(src, list) else str(src)


def _source_cells(notebook: Path) -> tuple[list[_SourceCell], int]:
    """The nbgrader cells of a source notebook in order, and its number of code cells."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    cells, n_code = [], 0
    for cell in nb.get("cells", []):
        n_code += cell.get("cell_type") == "code"
        meta = _nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if not grade_id:
            continue
        if meta.get("task"):
            kind = "manual"
        elif meta.get("grade"):
            kind = "manual" if meta.get("solution") else "auto"
        elif meta.get("solution"):
            kind = "solution"
        elif meta.get("locked"):
            kind = "readonly"
        else:
            continue
        cells.append(_SourceCell(
            grade_id=grade_id, cell_type=cell.get("cell_type", "code"), kind=kind,
            points=float(meta.get("points", 0) or 0),
            hidden_tests=HIDDEN_TESTS_MARK in _source_text(cell),
        ))
    return cells, n_code


# -- reading the submission -----------------------------------------------------------------------


def _read_submission(path: Path) -> tuple[dict | None, str | None]:
    """Parse the submission; return ``(notebook, None)`` or ``(None, reason it is unusable)``."""
    raw = path.read_bytes()
    if not raw.strip():
        return None, "the submitted file is empty"
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "the submitted file is not a notebook (it is not UTF-8 text)"
    except json.JSONDecodeError as exc:
        return None, f"the submitted file is not a notebook: it is not valid JSON ({exc})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells", nb.get("worksheets")), list):
        return None, "the submitted file is JSON but not a Jupyter notebook (it has no list of cells)"
    if nb.get("nbformat") not in (3, 4):
        return None, f"unsupported notebook format version {nb.get('nbformat')!r} (expected 4)"
    return nb, None


def _edited_locked_cells(submitted: dict, versions: list[Path]) -> list[str]:
    """Locked cells whose submitted source matches neither the source nor the student copy.

    nbgrader restores a locked cell from the source whenever its checksum differs; the student
    copy never matches the source's test cells (its hidden tests are removed), so nbgrader's own
    warning cannot tell an edited cell from an untouched one.
    """
    allowed: dict[str, set[str]] = {}
    for path in versions:
        if not path.is_file():
            continue
        for cell in json.loads(path.read_text(encoding="utf-8")).get("cells", []):
            meta = _nbgrader_meta(cell)
            if meta.get("grade_id") and (meta.get("locked") or meta.get("grade")) and not meta.get("solution"):
                allowed.setdefault(meta["grade_id"], set()).add(_source_text(cell).strip())
    last: dict[str, str] = {}
    for cell in submitted.get("cells", []):
        grade_id = _nbgrader_meta(cell).get("grade_id")
        if grade_id in allowed:
            last[grade_id] = _source_text(cell).strip()
    return [
        f"locked cell '{grade_id}' was edited in the submission; nbgrader graded the original version"
        for grade_id, text in last.items() if text not in allowed[grade_id]
    ]


def _submission_notes(nb: dict, source: list[_SourceCell]) -> list[str]:
    """Problems visible in the submission itself that nbgrader does not log."""
    cells = nb.get("cells", [])
    if not isinstance(cells, list):
        return []
    present = {_nbgrader_meta(c).get("grade_id") for c in cells if isinstance(c, dict)}
    notes = []
    for cell in source:
        if cell.kind == "solution" and cell.grade_id not in present:
            notes.append(
                f"solution cell '{cell.grade_id}' is missing from the submission (deleted, or its "
                "metadata removed); the tests of the code it should hold cannot pass"
            )
        elif cell.kind == "readonly" and cell.grade_id not in present:
            notes.append(
                f"read-only cell '{cell.grade_id}' is missing from the submission (deleted?); "
                "nbgrader does not put it back"
            )
    return notes


# -- nbgrader's log and the autograded notebook -----------------------------------------------------

_LOG_NOTES = [
    (re.compile(r"Attribute 'cell_type' for cell (\S+) has changed! \(should be: (\w+), got: (\w+)\)"),
     "cell '{0}' was changed from a {1} cell to a {2} cell; nbgrader changed it back"),
    (re.compile(r"Attribute 'locked' for cell (\S+) has changed"),
     "the locked flag of cell '{0}' was changed; nbgrader restored it"),
    (re.compile(r"Attribute '(grade|solution|task)' for cell (\S+) has changed! \(should be: (\w+), got: (\w+)\)"),
     "the '{0}' flag of cell '{1}' was changed to {3} in the submission (edited metadata); the cell "
     "was graded as in the source ({0}: {2}) and the change ignored"),
    (re.compile(r"Attribute 'points' for cell (\S+) has changed! \(should be: ([\d.]+)"),
     "the points of cell '{0}' were changed; nbgrader used the original {1}"),
    (re.compile(r"Cell with id '(\S+)' exists multiple times"),
     "cell '{0}' appears more than once (a copied cell); only the last copy is graded, the "
     "other copies run as ordinary cells"),
    (re.compile(r"Missing grade cell (\S+) encountered"),
     "{kind} '{0}' was missing from the submission (deleted?); nbgrader put the original back"),
    (re.compile(r"Missing task cell (\S+) encountered"),
     "task cell '{0}' was missing from the submission; nbgrader put it back at the end"),
    (re.compile(r"Cell '(\S+)' does not exist in the database"),
     "a cell has the unknown grade id '{0}' (edited metadata?); it runs as an ordinary cell"),
    (re.compile(r"Cell (\d+) has nbgrader metadata without a grade id"),
     "cell {0} has nbgrader metadata without a grade id (edited metadata?); it runs as an "
     "ordinary cell"),
]


def _log_notes(log: str, source_cells: list[_SourceCell]) -> list[str]:
    """Plain-words notes on what nbgrader repaired, from the warnings in its log."""
    kinds = {c.grade_id: c.kind for c in source_cells}
    notes: list[str] = []
    for line in log.splitlines():
        for pattern, template in _LOG_NOTES:
            m = pattern.search(line)
            if m:
                kind = kinds.get(m.group(1))
                note = template.format(*m.groups(), kind=(
                    "test cell" if kind == "auto" else "answer cell" if kind == "manual" else "cell"
                ))
                if kind == "auto" and "put the original back" in note:
                    note += " and ran it"
                if note not in notes:
                    notes.append(note)
                break
    return notes


def _clean(text: str, limit: int = 600) -> str:
    text = _ANSI.sub("", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _cell_problem(cell: dict, timeout: int) -> str | None:
    """Why an executed cell failed (error output, time-out or stderr), or None if it ran cleanly."""
    outputs = cell.get("outputs") or []
    errors = [o for o in outputs if o.get("output_type") == "error"]
    died = [o for o in errors if o.get("ename") == KERNEL_DIED]
    if died:
        return _clean(_joined(died[0].get("evalue")))
    stuck = [o for o in errors if o.get("ename") == "CellTimeoutError" and o.get("evalue")]
    if stuck:
        return "timed out: " + _clean(_joined(stuck[0].get("evalue")))
    if any(o.get("ename") == "CellTimeoutError" for o in errors):
        return (
            f"timed out: the cell was still running after {timeout} s and was interrupted "
            "(an infinite loop, or code that is far too slow)"
        )
    for o in errors:
        if o.get("ename") == "KeyboardInterrupt" and len(errors) > 1:
            continue
        ename, evalue = o.get("ename", "Error"), _clean(_joined(o.get("evalue")))
        if ename == "NotImplementedError" and not evalue:
            return "NotImplementedError: the function still raises NotImplementedError (not answered yet)"
        return f"{ename}: {evalue}" if evalue else ename
    stderr = [_joined(o.get("text")) for o in outputs
              if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    if stderr:
        return (
            "the cell wrote to stderr, which nbgrader counts as a failure: "
            + _clean("".join(stderr), 300)
        )
    return None


def _forbidden_calls(cell: dict) -> list[str]:
    """Forbidden library functions that a test cell's errors report (ForbiddenCallError)."""
    from .guard import forbidden_functions

    texts = []
    for o in cell.get("outputs") or []:
        if o.get("output_type") == "error":
            texts += [f"{o.get('ename')}: {_joined(o.get('evalue'))}", _ANSI.sub("", _joined(o.get("traceback")))]
    return forbidden_functions("\n".join(texts))


def _describe(cell: dict, index: int) -> str:
    meta = _nbgrader_meta(cell)
    grade_id = meta.get("grade_id")
    if grade_id and meta.get("solution"):
        return f"solution cell '{grade_id}'"
    if grade_id:
        return f"cell '{grade_id}'"
    first = next((line.strip() for line in _source_text(cell).splitlines() if line.strip()), "")
    return f"cell {index + 1} (added or unlabelled: {_clean(first, 60)!r})"


def _nbgrader_failure(log: str, error: str) -> str:
    """One sentence on why nbgrader's autograde step failed, from its log and traceback."""
    text = _ANSI.sub("", f"{log}\n{error}")
    if "DeadKernelError" in text or "Kernel died" in text:
        return (
            "the kernel died while running the notebook (the code ended the Python process, "
            "crashed it, or ran out of memory), so nbgrader could not grade it"
        )
    if "UnresponsiveKernelError" in text or "kernel became unresponsive" in text:
        return "the kernel stopped responding and could not be interrupted, so nbgrader could not grade it"
    exception = re.compile(r"^\s*(?:\[\w+\]\s*)?([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$")
    candidates = [m for m in map(exception.match, text.splitlines()) if m]
    if candidates:
        m = candidates[-1]
        if m.group(1).endswith("NbGraderException") and len(candidates) > 1:
            m = candidates[-2]
        return f"nbgrader could not grade the notebook: {m.group(1)}: {_clean(m.group(2), 300)}"
    return "nbgrader could not grade the notebook (see its log with --keep)"


# -- running the child process ---------------------------------------------------------------------


def _kill_tree(proc: subprocess.Popen) -> None:
    """Stop ``proc`` and everything it started (the kernel runs in a session of its own)."""
    victims = []
    try:
        import psutil

        victims = psutil.Process(proc.pid).children(recursive=True)
    except Exception:  # psutil missing or the process already gone
        pass
    if hasattr(os, "killpg"):
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker's own session (start_new_session=True)
        except OSError:
            pass
    for child in victims:
        try:
            child.kill()
        except Exception:
            pass
    try:
        proc.kill()
    except OSError:
        pass
    proc.wait()


def _course_lib_parent() -> str:
    return str(Path(__file__).resolve().parents[2])


def _child_env(tmp: Path, assignment: str, student: str) -> dict[str, str]:
    env = dict(os.environ)
    # the hidden tests seed their random inputs from these (course_lib.grading.testing.hidden_rng)
    env[ASSIGNMENT_VARIABLE], env[STUDENT_VARIABLE] = assignment, student
    # the kernel must import course_lib (hidden tests compare with it) from this very copy
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (_course_lib_parent(), env.get("PYTHONPATH", "")) if p
    )
    # nbgrader creates its gradebook with the `alembic` command of its own environment
    env["PATH"] = os.pathsep.join(p for p in (str(Path(sys.executable).parent), env.get("PATH", "")) if p)
    # a fresh IPython profile: no start-up files of the grading account change the results
    env["IPYTHONDIR"] = str(tmp / ".ipython")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


def _write_config(tmp: Path, layout: CourseLayout | None, cell_timeout: int) -> None:
    lines = [
        "# Temporary course written by course_lib.grading.grade_notebook.",
        "c = get_config()  # noqa: F821",
    ]
    if layout is not None and layout.config_file is not None:
        lines.append(f"load_subconfig({str(layout.config_file)!r})  # noqa: F821")
    lines += [
        f"c.CourseDirectory.root = {str(tmp)!r}",
        "c.CourseDirectory.source_directory = 'source'",
        "c.CourseDirectory.release_directory = 'release'",
        "c.CourseDirectory.submitted_directory = 'submitted'",
        "c.CourseDirectory.autograded_directory = 'autograded'",
        "c.CourseDirectory.feedback_directory = 'feedback'",
        "c.CourseDirectory.directory_structure = '{nbgrader_step}/{student_id}/{assignment_id}'",
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(tmp / 'gradebook.db')!r}",
        f"c.Execute.timeout = {int(cell_timeout)}",
        "c.Execute.interrupt_on_timeout = True",
        f"c.Autograde.sanitize_preprocessors = {SANITIZE_PREPROCESSORS!r}",
        f"c.Autograde.autograde_preprocessors = {AUTOGRADE_PREPROCESSORS!r}",
    ]
    (tmp / "nbgrader_config.py").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _resolve_source(
    assignment: str, source: str | os.PathLike | None, layout: CourseLayout | None
) -> Path:
    if source is not None:
        source = Path(source)
        for candidate in (source / assignment, source):
            if notebooks_of(candidate):
                return candidate
        raise CourseError(f"no notebook for assignment {assignment!r} in {source} or {source / assignment}")
    if layout is None:
        raise CourseError("no course root found; pass --root or --source")
    for tree in (layout.source_root, layout.release_root):
        if notebooks_of(tree / assignment):
            return tree / assignment
    known = sorted(set(layout.assignments()) | set(layout.released_assignments()))
    raise CourseError(
        f"unknown assignment {assignment!r}: neither {layout.source_root / assignment} nor "
        f"{layout.release_root / assignment} holds a notebook (known: {', '.join(known) or 'none'})"
    )


def _resolve_notebook(source_dir: Path, submission: Path, notebook: str | None) -> str:
    names = [p.stem for p in notebooks_of(source_dir)]
    if notebook is not None:
        notebook = notebook[:-6] if notebook.endswith(".ipynb") else notebook
        if notebook not in names:
            raise CourseError(f"assignment has no notebook {notebook!r} (it has: {', '.join(names)})")
        return notebook
    if len(names) == 1:
        return names[0]
    if submission.stem in names:
        return submission.stem
    raise CourseError(
        f"the assignment has several notebooks ({', '.join(names)}); name the one to grade with "
        "--notebook-name"
    )


def grade_notebook(
    submission: str | os.PathLike,
    assignment: str,
    *,
    root: str | os.PathLike | None = None,
    source: str | os.PathLike | None = None,
    notebook: str | None = None,
    timeout: int | None = None,
    total_timeout: float | None = None,
    student: str = "student",
    keep: str | os.PathLike | None = None,
) -> GradeReport:
    """Grade one submitted notebook with nbgrader and return a :class:`GradeReport`.

    Parameters
    ----------
    submission
        Path of the submitted notebook (any file name).
    assignment
        Assignment id, e.g. ``"ch01_composition"``.
    root
        Course root; found automatically by default (see :func:`find_course`).
    source
        Folder holding the assignment's source notebook, either the assignment folder itself or
        the tree that contains it. By default ``solutions/<assignment>`` (with hidden tests); if
        that does not exist, ``exercises/<assignment>`` (visible tests only).
    notebook
        Which notebook of the assignment the submission is; needed only for an assignment with
        several notebooks whose name the submission's file name does not match.
    timeout
        Per-cell time limit in seconds; by default the course's ``Execute.timeout``.
    total_timeout
        Time limit of the whole grading in seconds, after which nbgrader and the kernel are
        stopped. By default 120 s plus the per-cell limit for every code cell of the source and
        two more.
    student
        Student id recorded in the temporary gradebook.
    keep
        If given, the temporary course (gradebook, autograded notebook, nbgrader's log) is
        copied to this folder for inspection.

    Returns
    -------
    GradeReport
        Always a complete report: a notebook that cannot be read or graded scores 0, with the
        reason in :attr:`GradeReport.errors`.

    Raises
    ------
    CourseError
        For usage errors only: the submission file does not exist, or the assignment (or its
        notebook) is unknown.
    """
    started = time.monotonic()
    submission = Path(submission)
    if not submission.is_file():
        raise CourseError(f"submission not found: {submission}")
    layout: CourseLayout | None
    try:
        layout = find_course(root)
    except CourseError:
        if source is None:
            raise
        layout = None
    source_dir = _resolve_source(assignment, source, layout).resolve()
    notebook_id = _resolve_notebook(source_dir, submission, notebook)
    source_cells, n_code = _source_cells(source_dir / f"{notebook_id}.ipynb")
    cell_timeout = int(timeout if timeout is not None else (layout.cell_timeout if layout else 30))
    if cell_timeout < 1 or (total_timeout is not None and total_timeout <= 0):
        raise CourseError("time limits must be positive numbers of seconds")
    if total_timeout is None:
        total_timeout = 120 + cell_timeout * (n_code + 2)

    report = GradeReport(
        assignment=assignment, notebook=notebook_id, score=0.0,
        max_score=sum(c.points for c in source_cells if c.kind == "auto"), parts=[],
        submission=str(submission), hidden_tests=any(c.hidden_tests for c in source_cells),
        manual_max_score=sum(c.points for c in source_cells if c.kind == "manual"),
        cell_timeout=cell_timeout,
    )
    from .sandbox import isolation_problem

    unisolated = isolation_problem()  # e.g. grading without root: said in the report, never silently
    if unisolated:
        report.errors.append(unisolated)
    nb, unreadable = _read_submission(submission)
    if unreadable:
        report.errors.append(unreadable)
        _fill_ungraded(report, source_cells, "not graded: the submission could not be read")
        report.elapsed_s = round(time.monotonic() - started, 2)
        return report
    report.errors.extend(_submission_notes(nb, source_cells))

    tmp = Path(tempfile.mkdtemp(prefix="course-grade-"))
    try:
        shutil.copytree(source_dir, tmp / "source" / assignment,
                        ignore=shutil.ignore_patterns(*IGNORED))
        target = tmp / "submitted" / student / assignment / f"{notebook_id}.ipynb"
        target.parent.mkdir(parents=True)
        shutil.copyfile(submission, target)
        _write_config(tmp, layout, cell_timeout)
        result_path = tmp / "result.json"
        result, stopped = _run_worker(tmp, assignment, student, notebook_id, result_path,
                                      total_timeout)
        autograded = tmp / "autograded" / student / assignment / f"{notebook_id}.ipynb"
        report.errors.extend(_edited_locked_cells(nb, [
            tmp / "source" / assignment / f"{notebook_id}.ipynb",
            tmp / "release" / assignment / f"{notebook_id}.ipynb",
        ]))
        _build_report(report, source_cells, result, stopped, autograded, total_timeout, tmp)
        if keep is not None:
            shutil.copytree(tmp, keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.elapsed_s = round(time.monotonic() - started, 2)
    return report


def _run_worker(
    tmp: Path, assignment: str, student: str, notebook: str, result_path: Path, total_timeout: float
) -> tuple[dict | None, bool]:
    """Run the worker; return its result (None if missing or not signed with this run's key)."""
    from ._worker import signature

    cmd = [sys.executable, "-m", "course_lib.grading._worker", str(tmp), assignment, student,
           notebook, str(result_path)]
    key = secrets.token_hex(32)
    with open(tmp / "worker.out", "wb") as out, open(tmp / "worker.err", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=tmp, env=_child_env(tmp, assignment, student), stdout=out,
                                stderr=err, stdin=subprocess.PIPE, start_new_session=True)
        stopped = False
        try:
            proc.stdin.write(key.encode("ascii") + b"\n")
            proc.stdin.close()
            proc.wait(timeout=total_timeout)
        except subprocess.TimeoutExpired:
            stopped = True
        except OSError:  # the worker ended before reading its key
            pass
        finally:
            if stopped or proc.poll() is None:
                _kill_tree(proc)
    result = None
    if result_path.is_file():
        try:
            result = json.loads(result_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            result = None
    if isinstance(result, dict) and result.get("signature") != signature(result, key.encode("ascii")):
        result = {"forged": True}
    return result, stopped


def _fill_ungraded(report: GradeReport, source_cells: list[_SourceCell], reason: str) -> None:
    for cell in source_cells:
        if cell.kind == "auto":
            report.parts.append(PartResult(cell.grade_id, 0.0, cell.points, False, reason))
        elif cell.kind == "manual":
            report.parts.append(PartResult(cell.grade_id, 0.0, cell.points, None, reason,
                                           kind="manual"))
    report.score = 0.0


def _build_report(
    report: GradeReport, source_cells: list[_SourceCell], result: dict | None, stopped: bool,
    autograded: Path, total_timeout: float, tmp: Path,
) -> None:
    if result is not None:
        report.nbgrader_version = result.get("nbgrader_version", "")
    generate = (result or {}).get("generate") or {}
    autograde = (result or {}).get("autograde") or {}
    report.errors.extend(
        n for n in _log_notes(autograde.get("log", ""), source_cells) if n not in report.errors
    )

    reason = None
    if stopped:
        reason = (
            f"grading did not finish within the total time limit of {total_timeout:.0f} s and "
            "was stopped"
        )
    elif result.get("forged") if result else False:
        reason = ("the grading process's result file was written by someone else (the submission's "
                  "code?): it does not carry this grading's signature, so nothing was graded")
    elif result is None:
        stderr = (tmp / "worker.err").read_text(errors="replace") if (tmp / "worker.err").exists() else ""
        reason = "the grading process failed: " + (_clean(stderr.strip().splitlines()[-1], 300)
                                                 if stderr.strip() else "no result")
    elif result.get("error") and not result.get("grades"):
        reason = "the grading process failed: " + _clean(result["error"].strip().splitlines()[-1], 300)
    elif not generate.get("success"):
        reason = ("nbgrader could not prepare the assignment from its source: "
                  + _nbgrader_failure(generate.get("log", ""), generate.get("error", "")))
    elif not autograde.get("success") or result.get("grades") is None:
        reason = _nbgrader_failure(autograde.get("log", ""), autograde.get("error", ""))
    if reason is not None:
        report.errors.append(reason)
        _fill_ungraded(report, source_cells, "not graded: " + (
            "grading was stopped at the total time limit" if stopped
            else "nbgrader could not grade this notebook (see errors)"
        ))
        return

    report.graded = True
    grades = {g["name"]: g for g in result["grades"]}
    executed: dict[str, dict] = {}
    cells: list[dict] = []
    if autograded.is_file():
        cells = json.loads(autograded.read_text(encoding="utf-8")).get("cells", [])
        for cell in cells:
            grade_id = _nbgrader_meta(cell).get("grade_id")
            if grade_id and (_nbgrader_meta(cell).get("grade") or _nbgrader_meta(cell).get("task")):
                executed[grade_id] = cell
    for index, cell in enumerate(cells):  # problems outside the graded cells
        meta = _nbgrader_meta(cell)
        if cell.get("cell_type") != "code" or meta.get("grade"):
            continue
        problem = _cell_problem(cell, report.cell_timeout)
        if problem:
            report.errors.append(f"{_describe(cell, index)}: {problem}")

    for sc in source_cells:
        if sc.kind not in ("auto", "manual"):
            continue
        grade = grades.get(sc.grade_id)
        cell = executed.get(sc.grade_id)
        if sc.kind == "manual":
            needs = bool(grade and grade["needs_manual_grade"])
            points = None if needs or grade is None else float(grade["score"])
            error = None
            if grade is not None and not needs and grade["auto_score"] == 0 and grade["manual_score"] is None:
                error = "no answer given (the cell is unchanged)"
            if grade is None or cell is None:
                error = "answer cell missing from the submission"
            part = PartResult(sc.grade_id, points, sc.points, None, error, kind="manual",
                              needs_manual_grading=needs)
            if needs:
                report.needs_manual_grading.append(sc.grade_id)
            report.parts.append(part)
            continue
        # the autograded score only: a fresh gradebook has no manual score the code could not have set
        points = (float(grade["auto_score"]) if grade is not None and grade["auto_score"] is not None
                  else 0.0)
        passed = grade is not None and grade["auto_score"] is not None and points >= sc.points - 1e-9
        error = None
        forbidden = _forbidden_calls(cell) if cell is not None else []
        if forbidden:  # the part forbids these library functions: 0 points, flagged
            points, passed = 0.0, False
            report.forbidden_calls[sc.grade_id] = forbidden
        if not passed:
            if cell is None:
                error = "the test cell is missing from the submission and was not graded"
            else:
                error = _cell_problem(cell, report.cell_timeout) or (
                    f"scored {points:g} of {sc.points:g} points" if grade is not None
                    else "no grade was recorded for this part"
                )
            if forbidden:
                error = f"forbidden call: {', '.join(forbidden)} ({error})"
        report.parts.append(PartResult(sc.grade_id, points, sc.points, passed, error,
                                       forbidden_calls=forbidden))
    report.score = sum(p.points or 0.0 for p in report.parts if p.kind == "auto")
