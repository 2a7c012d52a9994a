"""nbgrader's CSV export of the grades, with a column that marks submissions autograding missed.

A submission whose notebook nbgrader could not run to the end (the grading crashed, or was stopped)
keeps grades without an autograded score, and nbgrader's CSV shows it with ``raw_score`` 0, exactly
like a blank submission. :class:`CourseCsvExportPlugin` writes the same CSV with one more column,
``autograded``:

- ``yes``: every test cell of the submission has an autograded score;
- ``NO (k of n test cells have no score)``: autograding did not finish; grade it again or by hand;
- empty: nothing was submitted.

A second column, ``flags``, names the parts whose hidden tests caught a call of a library function
the part forbids (``course_lib.grading.guard.forbidden_calls``), read from the autograded notebooks:
``forbidden call: part5_matrix (course_lib.descriptors.acsf.acsf)``, several joined by ``; ``, empty
if there are none. Those parts already score 0; the flag tells a low score from a forbidden shortcut.

The course's ``nbgrader_config.py`` selects it (``ExportApp.plugin_class``), so ``nbgrader export``
writes the columns.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.plugins import CsvExportPlugin

__all__ = ["CourseCsvExportPlugin", "autograded_status", "forbidden_call_flags"]


def autograded_status(gradebook: Gradebook, assignment: str, student: str) -> str:
    """``"yes"``, ``"NO (...)"`` or ``""`` for one student's submission of ``assignment`` (see the
    module docstring)."""
    try:
        submission = gradebook.find_submission(assignment, student)
    except MissingEntry:
        return ""
    missing = total = 0
    for notebook in submission.notebooks:
        answers = {cell.name for cell in notebook.notebook.solution_cells}
        for grade in notebook.grades:
            if grade.name in answers:  # answers graded by hand have no autograded score
                continue
            total += 1
            missing += grade.auto_score is None
    return "yes" if missing == 0 else f"NO ({missing} of {total} test cells have no score)"


def forbidden_call_flags(coursedir: CourseDirectory, assignment: str, student: str) -> str:
    """The ``flags`` column of one submission (see the module docstring); ``""`` if the student has
    no autograded notebooks of ``assignment`` or none of their test cells hit a forbidden call."""
    from .grader import _forbidden_calls, _nbgrader_meta

    folder = Path(coursedir.format_path(coursedir.autograded_directory, student, assignment))
    flags = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        for cell in cells if isinstance(cells, list) else []:
            meta = _nbgrader_meta(cell)
            names = _forbidden_calls(cell) if meta.get("grade") and not meta.get("solution") else []
            if names:
                flags.append(f"forbidden call: {meta.get('grade_id')} ({', '.join(names)})")
    return "; ".join(flags)


class CourseCsvExportPlugin(CsvExportPlugin):
    """nbgrader's :class:`~nbgrader.plugins.CsvExportPlugin` plus the ``autograded`` and ``flags``
    columns."""

    def export(self, gradebook: Gradebook) -> None:
        """Write nbgrader's CSV, then add the ``autograded`` and ``flags`` columns to every row."""
        super().export(gradebook)
        dest = self.to or "grades.csv"
        with open(dest, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows, columns = list(reader), [*(reader.fieldnames or []), "autograded", "flags"]
        coursedir = getattr(self.parent, "coursedir", None) or CourseDirectory(parent=self)
        for row in rows:
            row["autograded"] = autograded_status(gradebook, row["assignment"], row["student_id"])
            row["flags"] = forbidden_call_flags(coursedir, row["assignment"], row["student_id"])
        with open(dest, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
