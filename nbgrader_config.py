"""nbgrader configuration of the course "Machine-learning representations of materials".

nbgrader reads this file when it runs in this folder (the course root). The layout:

- ``solutions/<assignment>/<assignment>.ipynb``: instructors' source notebooks, with solutions and
  hidden tests (nbgrader's *source* tree);
- ``exercises/<assignment>/<assignment>.ipynb``: the student copies, generated from the source by
  ``python -m course_lib.grading generate`` (nbgrader's *release* tree; never edited by hand);
- ``submitted/``, ``autograded/``, ``feedback/`` and ``gradebook.db``: created by nbgrader on the hub
  and ignored by git.

See book/instructors.md for the workflow. Settings that the hub must provide itself (the exchange
folder, the list of students) belong in the hub's own ``/etc/jupyter/nbgrader_config.py``.
"""

import os

c = get_config()  # noqa: F821 -- provided by traitlets when nbgrader loads this file

_here = os.path.dirname(os.path.abspath(__file__))

# -- course and directory layout ------------------------------------------------------------------
c.CourseDirectory.course_id = "ml-representations-of-materials"
c.CourseDirectory.root = _here
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_here, "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".DS_Store"]

# -- student copies -------------------------------------------------------------------------------
# nbgrader's defaults, stated explicitly because the committed exercises/ depend on them
# (the sync test regenerates exercises/ with exactly these settings).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"
c.LockCells.lock_solution_cells = True
c.LockCells.lock_grade_cells = True
c.LockCells.lock_readonly_cells = True

# -- autograding ----------------------------------------------------------------------------------
# Every cell is interrupted after this many seconds (an infinite loop fails its part, the rest of
# the notebook still runs). The assignments' slowest cell takes a few seconds.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120
# A test cell the student deleted is put back from the source and run, instead of scoring nothing.
c.OverwriteCells.add_missing_cells = True
# nbgrader's sanitizing steps, with two bug fixes of nbgrader 0.9.6 from course_lib.grading:
# a copied graded cell no longer stops the whole notebook from being graded (jupyter/nbgrader#1083),
# and a deleted test cell is restored even when the cell before it was deleted too.
# (course_lib must be importable where nbgrader runs: it is installed in the hub image.)
# Executing and scoring, with two more fixes (course_lib/grading/preprocessors.py): a cell that
# kills the kernel or cannot be interrupted fails its own part only (the kernel is restarted and
# grading goes on), and a test cell that raised, or shows a result that is not a number, scores 0.
# The feedback sent back to students leaves out the hidden tests (and tracebacks that quote them).
from course_lib.grading.course import (  # noqa: E402
    AUTOGRADE_PREPROCESSORS,
    FEEDBACK_PREPROCESSORS,
    SANITIZE_PREPROCESSORS,
    use_alembic_api,
)

# a new gradebook works without nbgrader's `alembic` program on PATH (e.g. .venv/bin/nbgrader)
use_alembic_api()

c.Autograde.sanitize_preprocessors = SANITIZE_PREPROCESSORS
c.Autograde.autograde_preprocessors = AUTOGRADE_PREPROCESSORS
c.GenerateFeedback.preprocessors = FEEDBACK_PREPROCESSORS
# `nbgrader export` adds a column `autograded` ("yes", or "NO (...)" for a submission autograding
# did not finish, which would otherwise look like a blank one with raw_score 0).
c.ExportApp.plugin_class = "course_lib.grading.export.CourseCsvExportPlugin"
# nbgrader fails a test cell that writes anything to stderr. Warnings (a DeprecationWarning of a
# library, a RuntimeWarning of the student's code) say nothing about whether the tests passed, so
# stderr outputs that contain a warning are removed before grading; other stderr output still fails.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w*Warning: "
# Long outputs and tracebacks are cut in the autograded notebook and the feedback.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
