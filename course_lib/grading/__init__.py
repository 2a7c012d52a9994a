"""nbgrader helpers and the single-notebook grader.

The course's graded assignments are nbgrader notebooks. The instructors' versions, with solutions
and hidden tests, live in ``solutions/<assignment>/``; the student copies in
``exercises/<assignment>/`` are generated from them and never edited by hand. This package holds
what the course adds to nbgrader:

- :func:`grade_notebook` -- grade one submitted notebook with nbgrader (for an LMS or CI) and
  return a :class:`GradeReport` with the score, every part's result and the notebook's problems;
- :func:`generate_exercises` and :func:`check_sync` -- regenerate ``exercises/`` from
  ``solutions/`` and check that the committed copy is up to date;
- :func:`find_course` -- the course's layout as its ``nbgrader_config.py`` defines it;
- :func:`~course_lib.grading.release.write_release` -- the student release: what students get,
  without ``solutions/`` or any hidden-test or solution line;
- :func:`student_seed` -- a stable per-student random seed, :func:`student_id` -- whose (the graded
  student during grading, else the hub or login user name), and :func:`student_choice` -- the
  student's own rows of a data set;
- :func:`hidden_rng`, :func:`fresh_rng`, :func:`random_composition`, :func:`assert_close` -- helpers
  for the hidden tests, which compare the students' functions with ``course_lib`` on random inputs
  seeded from the assignment, the student and the part (the same submission always gets the same
  score).

From the command line::

    python -m course_lib.grading grade SUBMISSION.ipynb --assignment ch01_composition
    python -m course_lib.grading generate [ASSIGNMENT ...]
    python -m course_lib.grading check-sync [ASSIGNMENT ...]
    python -m course_lib.grading release OUT_DIR

Importing this package is cheap: nbgrader is imported only when a function needs it.
"""

from .course import CourseError, CourseLayout, find_course
from .grader import GradeReport, PartResult, grade_notebook
from .seed import student_choice, student_id, student_seed
from .sync import GenerationError, check_sync, generate_exercises, normalize_notebook
from .testing import assert_close, fresh_rng, hidden_rng, random_composition

__all__ = [
    "CourseError",
    "CourseLayout",
    "GenerationError",
    "GradeReport",
    "PartResult",
    "assert_close",
    "check_sync",
    "find_course",
    "fresh_rng",
    "generate_exercises",
    "grade_notebook",
    "hidden_rng",
    "normalize_notebook",
    "random_composition",
    "student_choice",
    "student_id",
    "student_seed",
]
