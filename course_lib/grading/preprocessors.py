"""Two of nbgrader's autograding preprocessors, with fixes for how nbgrader 0.9.6 handles damaged
submissions.

The course's ``nbgrader_config.py`` puts these in place of nbgrader's own classes in
``Autograde.sanitize_preprocessors``; everything else about autograding is nbgrader's.

- :class:`RobustDeduplicateIds`: when a student copies a graded cell, nbgrader keeps the last copy
  and strips the nbgrader metadata of the others, but it leaves an empty ``nbgrader`` dictionary
  behind; the metadata check then fails with a misleading "old version of the nbgrader metadata
  format" error and the whole notebook goes ungraded (jupyter/nbgrader#1083; with
  ``OverwriteCells.add_missing_cells`` on, it is a ``KeyError`` instead). Here the metadata is
  removed completely, so the other copies run as ordinary cells, as nbgrader intends.
- :class:`RobustOverwriteCells`: with ``add_missing_cells`` on, nbgrader puts a deleted test cell
  back after the cell that precedes it in the source, and raises ``KeyError`` when that cell is
  missing too (for example a part whose solution *and* test cells were both deleted) or is a
  read-only cell. Here the cell goes after the nearest preceding source cell that is present
  (or before the nearest following one), so the rest of the notebook is still graded. A cell whose
  grade id is not in the source (a student edited the metadata, or pasted a cell from another
  notebook) loses its nbgrader metadata and runs as an ordinary cell; nbgrader 0.9.6 removes only
  the grade id, and its metadata check then rejects the whole notebook.
"""

from __future__ import annotations

from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import DeduplicateIds, OverwriteCells

__all__ = ["RobustDeduplicateIds", "RobustOverwriteCells"]


def _make_ordinary(cell) -> None:
    """Remove a cell's nbgrader metadata: it then runs as an ordinary, editable cell."""
    del cell.metadata["nbgrader"]
    cell.metadata.pop("deletable", None)
    cell.metadata.pop("editable", None)


class RobustDeduplicateIds(DeduplicateIds):
    """:class:`nbgrader.preprocessors.DeduplicateIds` that removes the duplicates' metadata entirely."""

    def preprocess_cell(self, cell, resources, cell_index):
        """Keep the last cell with each grade id; turn earlier copies into ordinary cells."""
        if not (utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell)):
            return cell, resources
        grade_id = cell.metadata.nbgrader.get("grade_id")
        if grade_id in self.grade_ids:
            self.log.warning("Cell with id '%s' exists multiple times!", grade_id)
            _make_ordinary(cell)
        else:
            self.grade_ids.add(grade_id)
        return cell, resources


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


class RobustOverwriteCells(OverwriteCells):
    """:class:`nbgrader.preprocessors.OverwriteCells` that can always put a deleted test cell back."""

    def preprocess_cell(self, cell, resources, cell_index):
        """Restore a known cell from the source; make a cell with an unknown grade id ordinary."""
        if "nbgrader" in cell.metadata:
            grade_id = _grade_id(cell)
            if grade_id is None:
                if utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell):
                    self.log.warning("Cell %d has nbgrader metadata without a grade id", cell_index)
                    _make_ordinary(cell)
                return cell, resources
            try:
                self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                self.log.warning("Cell '%s' does not exist in the database", grade_id)
                _make_ordinary(cell)
                return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)

    def add_missing_grade_cells(self, nb, resources):
        """Put every grade cell missing from ``nb`` back, next to its neighbours in the source."""
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = list(source_nb.source_cells)
        order = [cell.name for cell in source_cells]
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        grade_cells = sorted(
            (cell for cell in source_nb.grade_cells if cell.name in order),
            key=lambda cell: order.index(cell.name),
        )
        for grade_cell in grade_cells:
            present = {_grade_id(cell): i for i, cell in enumerate(nb.cells) if _grade_id(cell)}
            if grade_cell.name in present:
                continue
            self.log.warning("Missing grade cell %s encountered, adding to notebook", grade_cell.name)
            k = order.index(grade_cell.name)
            new_cell = self.missing_cell_transform(
                source_cells[k], grade_cell.max_score, is_solution=grade_cell.name in solution_ids
            )
            before = [present[name] for name in reversed(order[:k]) if name in present]
            after = [present[name] for name in order[k + 1:] if name in present]
            if before:
                position = before[0] + 1
            elif after:
                position = after[0]
            else:
                position = len(nb.cells)
            nb.cells.insert(position, new_cell)
        return nb, resources

    def add_missing_task_cells(self, nb, resources):
        """Put every task cell missing from ``nb`` back, at the end of the notebook (as nbgrader)."""
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = {cell.name: cell for cell in source_nb.source_cells}
        present = {_grade_id(cell) for cell in nb.cells}
        for task_cell in source_nb.task_cells:
            if task_cell.name not in present:
                self.log.warning("Missing task cell %s encountered, adding to notebook", task_cell.name)
                nb.cells.append(self.missing_cell_transform(
                    source_cells[task_cell.name], task_cell.max_score, is_task=True
                ))
        return nb, resources
