"""nbgrader's CSV export of the grades, with a column that marks submissions autograding missed.

A submission whose notebook nbgrader could not run to the end (the grading crashed, or was stopped)
keeps grades without an autograded score, and nbgrader's CSV shows it with ``raw_score`` 0, exactly
like a blank submission. :class:`CourseCsvExportPlugin` writes the same CSV with one more column,
``autograded``:

- ``yes``: every test cell of the submission has an autograded score;
- ``NO (k of n test cells have no score)``: autograding did not finish; grade it again or by hand;
- empty: nothing was submitted.

The course's ``nbgrader_config.py`` selects it (``ExportApp.plugin_class``), so ``nbgrader export``
writes the column.
"""

from __future__ import annotations

import csv

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import CsvExportPlugin

__all__ = ["CourseCsvExportPlugin", "autograded_status"]


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


class CourseCsvExportPlugin(CsvExportPlugin):
    """nbgrader's :class:`~nbgrader.plugins.CsvExportPlugin` plus the ``autograded`` column."""

    def export(self, gradebook: Gradebook) -> None:
        """Write nbgrader's CSV, then add the ``autograded`` column to every row."""
        super().export(gradebook)
        dest = self.to or "grades.csv"
        with open(dest, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            rows, columns = list(reader), [*(reader.fieldnames or []), "autograded"]
        for row in rows:
            row["autograded"] = autograded_status(gradebook, row["assignment"], row["student_id"])
        with open(dest, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
