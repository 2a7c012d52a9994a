"""nbgrader's autograding preprocessors, with fixes for how nbgrader 0.9.6 handles damaged or
hostile submissions.

The course's ``nbgrader_config.py`` (and the single-notebook grader) puts these in place of
nbgrader's own classes in ``Autograde.sanitize_preprocessors`` and
``Autograde.autograde_preprocessors`` (the lists ``SANITIZE_PREPROCESSORS`` and
``AUTOGRADE_PREPROCESSORS`` of :mod:`course_lib.grading.course`); everything else about
autograding is nbgrader's.

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
  the grade id, and its metadata check then rejects the whole notebook. A cell whose ``grade``,
  ``solution`` or ``task`` flag was changed (say ``grade: true, points: 50`` added to an answer
  cell) gets the source's flags back, with a warning; nbgrader 0.9.6 looks the changed cell up as
  a grade cell, fails with ``MissingEntry`` and grades nothing.
- :class:`RecoveringExecute` runs the test cells in the grading process, not in the student's
  kernel (:mod:`course_lib.grading.trusted`): the student's functions they call run in the
  kernel, the reference values and the comparisons here, so the student's code cannot change how
  it is tested. nbgrader stops grading the whole notebook when the kernel dies
  (``os._exit``, a segfault, running out of memory) or a cell cannot be interrupted at the time
  limit (a loop that ignores ``KeyboardInterrupt``), and the submission scores 0. Here the cell
  gets an error output saying so, the kernel is restarted, the code cells above it other than
  test cells are run again (so the functions of the other parts exist again) and grading goes on
  with the next cell: only the part whose cell killed the kernel loses its points.
- :class:`StrictSaveAutoGrades`: nbgrader takes a test cell's ``execute_result`` as its partial
  credit, reads one it cannot parse as a number as full credit, and looks at it before any error
  of the same cell; so a student function that calls ``sys.displayhook('x')`` and then raises
  earned full marks. Here a test cell with an error (or other stderr output) scores 0, and an
  output that is not a number between 0 and the cell's points scores 0 too.
- :class:`ClearHiddenTestsFromFeedback`: the autograded notebook holds the restored test cells
  with their hidden tests, and nbgrader's feedback HTML shows them, and their code again in the
  tracebacks. This step of ``GenerateFeedback.preprocessors`` removes the hidden-test regions and
  cuts every traceback of a test cell to its last line (the error and its message).
"""

from __future__ import annotations

import copy
import os

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import (
    ClearHiddenTests,
    DeduplicateIds,
    Execute,
    OverwriteCells,
    SaveAutoGrades,
)
from traitlets import Integer

from .grader import KERNEL_DIED

__all__ = [
    "ClearHiddenTestsFromFeedback",
    "RecoveringExecute",
    "RobustDeduplicateIds",
    "RobustOverwriteCells",
    "StrictSaveAutoGrades",
    "strict_auto_score",
]



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
            self._restore_flags(cell, grade_id)
        return super().preprocess_cell(cell, resources, cell_index)

    def _restore_flags(self, cell, grade_id: str) -> None:
        """Give a known cell the source's grade/solution/task flags (and drop points it should not have)."""
        meta = cell.metadata.nbgrader
        finders = {"grade": self.gradebook.find_grade_cell, "solution": self.gradebook.find_solution_cell,
                   "task": self.gradebook.find_task_cell}
        for flag, find in finders.items():
            try:
                find(grade_id, self.notebook_id, self.assignment_id)
                should = True
            except MissingEntry:
                should = False
            if bool(meta.get(flag, False)) != should:
                self.report_change(grade_id, flag, should, bool(meta.get(flag, False)))
                meta[flag] = should
        if not (meta.get("grade") or meta.get("task")):
            meta.pop("points", None)

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


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _timed_out(cell) -> bool:
    return any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError"
               for o in cell.get("outputs", []))


def _has_error(cell) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


#: Seconds a call of the trusted tests may run past the test cell's time left (messaging).
_MESSAGE_MARGIN = 5.0


class RecoveringExecute(Execute):
    """:class:`nbgrader.preprocessors.Execute` that goes on after a dead or stuck kernel."""

    max_restarts = Integer(
        20, help="Most kernel restarts for one notebook; after that a dead kernel ends grading."
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        """Execute the notebook (see :meth:`preprocess_cell` for what happens after a crash)."""
        self._restarts = 0
        self._skip: set[int] = set()
        self._trusted = self._trusted_tests(resources or {})
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._trusted = None

    def _trusted_tests(self, resources):
        """The runner of :mod:`course_lib.grading.trusted` for this notebook, with the setup cells
        of the assignment's source in the gradebook."""
        from nbgrader.api import Gradebook

        from .trusted import TrustedTests

        info = resources.get("nbgrader", {})
        assignment, notebook = info.get("assignment"), info.get("notebook")
        if not (assignment and notebook and info.get("db_url")):
            raise ValueError(
                "RecoveringExecute runs the test cells against the assignment's source in the "
                "gradebook and needs nbgrader's resources (assignment, notebook, db_url); run it "
                "through nbgrader autograde (or course_lib.grading.grade_notebook)")
        course = self.config.get("CourseDirectory", {}).get("course_id") or "default_course"
        with Gradebook(info["db_url"], course) as gb:
            source = gb.find_notebook(notebook, assignment)
            others = {c.name for c in source.grade_cells} | {c.name for c in source.solution_cells}
            setup = [c.source for c in source.source_cells
                     if c.cell_type == "code" and c.locked and c.name not in others]
        return TrustedTests(self._run_for_tests, setup, str(assignment), str(info.get("student", "")))

    def _run_for_tests(self, code: str) -> list:
        """Run one request of the trusted tests in the kernel, within the time the test cell has left."""
        import math

        from .trusted import KernelTimeout

        # the budget is the time the student's code ran (as the kernel reports it), so that many
        # short calls on a busy machine do not use it up with messaging; a call is interrupted
        # when it runs past what is left (plus a margin for the messages), whatever the kernel says
        limit = float(self.timeout or 30)  # the test cell's (set back after every call below)
        left = limit - self._trusted.connection.kernel_seconds
        timed_out = KernelTimeout(f"your code was still running after {limit:g} s, the time "
                                  "limit of the test cell for all its calls of your code together")
        if left <= 0:
            raise timed_out
        probe = NotebookNode(cell_type="code", source=code, metadata={}, outputs=[], execution_count=None)
        saved, self.timeout = self.timeout, max(1, math.ceil(left + _MESSAGE_MARGIN))
        cell = self.nb.cells[self._test_index]
        try:
            probe = self.execute_cell(probe, self._test_index, store_history=False)
        finally:
            self.nb.cells[self._test_index] = cell  # nbclient files the probe in the cell's place
            self.timeout = saved
        if _timed_out(probe):
            raise timed_out
        return list(probe.outputs)

    def __init__(self, *args, **kwargs):
        from .sandbox import SandboxedKernelManager

        # every kernel runs isolated from the grader (nbgrader's Execute would set its own class)
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    async def async_start_new_kernel(self, **kwargs):
        """Start the kernel with the assignment and student being graded in its environment.

        :func:`course_lib.grading.student_id` (the student's exercise data) and
        :func:`~course_lib.grading.testing.hidden_rng` (the hidden tests' inputs) read them, so a
        notebook is graded with its owner's data although nbgrader runs it as the instructor."""
        from .testing import ASSIGNMENT_VARIABLE, STUDENT_VARIABLE

        info = (self.resources or {}).get("nbgrader", {})
        if info.get("student") and info.get("assignment"):
            env = dict(kwargs.get("env") or os.environ)
            env[ASSIGNMENT_VARIABLE], env[STUDENT_VARIABLE] = str(info["assignment"]), str(info["student"])
            kwargs["env"] = env
        return await super().async_start_new_kernel(**kwargs)

    # nbclient binds the synchronous version to its own coroutine; setup_kernel calls this one
    start_new_kernel = run_sync(async_start_new_kernel)

    def preprocess_cell(self, cell, resources, index):
        """Run one cell; if it kills the kernel or cannot be interrupted, restart and recover.

        A test cell does not run in the kernel: it runs in this process
        (:mod:`course_lib.grading.trusted`), and the student's functions it calls run in the
        kernel, with the cell's time limit for all of them together (:meth:`_run_for_tests`)."""
        self._check_assign_resources(resources)
        test = cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)
        what = "this cell's calls of your code" if test else "this cell"
        try:
            if test:  # the cell's source runs here; the student's functions it calls, in the kernel
                self._test_index, cell.outputs = index, []
                cell.outputs = self._trusted.run_cell(cell.source, _grade_id(cell) or f"cell {index}")
            else:
                cell = self.execute_cell(cell, index, store_history=True)
        except DeadKernelError:
            cell.outputs.append(_error(KERNEL_DIED, (
                f"the kernel died while running {what} (the code ended or crashed the Python "
                "process, or ran out of memory); it was restarted and grading went on with the "
                "next cell")))
        except CellTimeoutError:
            cell.outputs.append(_error("CellTimeoutError", (
                f"{'your code' if test else 'the cell'} was still running after {self.timeout} s and "
                "could not be interrupted; the kernel was restarted and grading went on with the next cell")))
        else:
            if not _timed_out(cell):
                return cell, self.resources
        self.nb.cells[index] = cell
        self._recover(index)
        return cell, self.resources

    def _restart(self) -> None:
        self._restarts += 1
        if self._restarts > self.max_restarts:
            raise DeadKernelError(f"the kernel was restarted {self.max_restarts} times; giving up")
        self.log.warning("Restarting the kernel (restart %d)", self._restarts)
        try:
            run_sync(self.km.shutdown_kernel)(now=True)
        except Exception as exc:  # already dead
            self.log.debug("shutting the old kernel down: %s", exc)
        run_sync(self._async_cleanup_kernel)()
        self.km = self.create_kernel_manager()
        run_sync(self.async_start_new_kernel)()
        run_sync(self.async_start_new_kernel_client)()

    def _recover(self, index: int) -> None:
        """Restart the kernel and run the code cells before ``index`` again, except test cells
        and cells that killed the kernel (the outputs of the re-runs are discarded)."""
        self._skip.add(index)
        while True:
            self._restart()
            current = None
            try:
                for j in range(index):
                    original = self.nb.cells[j]
                    if (j in self._skip or original.cell_type != "code"
                            or (utils.is_grade(original) and not utils.is_solution(original))):
                        continue
                    current, replay = j, copy.deepcopy(original)
                    try:
                        self.execute_cell(replay, j, store_history=False)
                    finally:
                        self.nb.cells[j] = original
                    if _timed_out(replay):
                        raise CellTimeoutError(f"cell {j} timed out again")
                return
            except (DeadKernelError, CellTimeoutError):
                self._skip.add(current)


def strict_auto_score(cell) -> float | None:
    """The autograded score of a grade cell: nbgrader's rule, made strict for test cells.

    A test (code) cell scores 0 if any output is an error or other stderr output, its partial
    credit if it shows a number between 0 and its points as result, 0 for any other result, and
    its full points when it shows no result. Answer cells: as nbgrader decides.
    """
    if utils.is_solution(cell) or cell.cell_type != "code":
        return utils.determine_grade(cell)[0]
    max_points = float(cell.metadata["nbgrader"]["points"])
    outputs = cell.get("outputs", [])
    if any(o.get("output_type") == "error"
           or (o.get("output_type") == "stream" and o.get("name") == "stderr") for o in outputs):
        return 0.0
    results = [o for o in outputs if o.get("output_type") == "execute_result"]
    if not results:
        return max_points
    if len(results) > 1:
        return 0.0
    text = results[0].get("data", {}).get("text/plain", "")
    text = "".join(text) if isinstance(text, list) else str(text)
    try:
        value = float(text.strip())
    except ValueError:
        return 0.0
    return value if 0.0 <= value <= max_points else 0.0


class StrictSaveAutoGrades(SaveAutoGrades):
    """:class:`nbgrader.preprocessors.SaveAutoGrades` with :func:`strict_auto_score`."""

    def _add_score(self, cell, resources) -> None:
        grade = self.gradebook.find_grade(
            cell.metadata["nbgrader"]["grade_id"], self.notebook_id, self.assignment_id, self.student_id
        )
        grade.auto_score = strict_auto_score(cell)
        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        self.gradebook.db.commit()


class ClearHiddenTestsFromFeedback(ClearHiddenTests):
    """Remove the hidden tests, and the tracebacks that quote them, from the feedback notebook."""

    def preprocess_cell(self, cell, resources, cell_index):
        """Drop a grade cell's hidden-test region and reduce its tracebacks to ``ename: evalue``."""
        if utils.is_grade(cell) and cell.cell_type == "code":
            self._remove_hidden_test_region(cell)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
