"""Child process of :func:`course_lib.grading.grade_notebook`: run nbgrader in a temporary course.

Usage (internal)::

    python -m course_lib.grading._worker COURSE_ROOT ASSIGNMENT STUDENT NOTEBOOK RESULT_JSON < KEY

In ``COURSE_ROOT`` (prepared by the parent: ``nbgrader_config.py``, ``source/<assignment>/`` and
``submitted/<student>/<assignment>/<notebook>.ipynb``) it runs nbgrader's ``generate_assignment``
(which fills a fresh gradebook with the source's cells, checksums and points) and ``autograde``
through nbgrader's Python classes, then copies the grades out of the gradebook. The result is
written to ``RESULT_JSON`` after every step, so the parent knows how far it got even if it has to
stop this process at its time limit.

The parent writes a one-time key to this process's standard input; every result written is signed
with it (HMAC-SHA256, :func:`signature`). The key is read before any kernel starts and is never
passed on (not in the environment, not in a file), so the student's code, which runs in a kernel
started by this process, cannot sign a result of its own: a result file it overwrites is rejected.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import sys
import traceback

from course_lib.grading.course import use_alembic_api


_KEY = b""


def signature(result: dict, key: bytes) -> str:
    """HMAC-SHA256 of a result (without its ``signature`` entry), as hexadecimal."""
    body = json.dumps({k: v for k, v in result.items() if k != "signature"}, sort_keys=True)
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def _write(path: str, result: dict) -> None:
    result["signature"] = signature(result, _KEY)
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    os.replace(tmp, path)


def run(root: str, assignment: str, student: str, notebook: str, result_path: str) -> dict:
    """Generate, autograde and read the gradebook; return (and write) the result dictionary."""
    result: dict = {"generate": None, "autograde": None, "grades": None, "error": None}
    try:
        from traitlets.config.loader import PyFileConfigLoader

        import nbgrader
        from nbgrader.api import Gradebook, MissingEntry
        from nbgrader.converters import Autograde, GenerateAssignment
        from nbgrader.coursedir import CourseDirectory
        from nbgrader.utils import capture_log

        result["nbgrader_version"] = nbgrader.__version__
        use_alembic_api(force=True)
        logging.getLogger("traitlets").setLevel(logging.INFO)
        config = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id = assignment

        generate = GenerateAssignment(coursedir=coursedir, config=config)
        generate.force = True
        generate.create_assignment = True
        result["generate"] = capture_log(generate)
        _write(result_path, result)
        if not result["generate"]["success"]:
            return result

        coursedir.student_id = student
        autograde = Autograde(coursedir=coursedir, config=config)
        autograde.force = True
        autograde.create_student = True
        result["autograde"] = capture_log(autograde)
        _write(result_path, result)

        with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
            try:
                submission = gb.find_submission_notebook(notebook, assignment, student)
            except MissingEntry:
                return result
            result["grades"] = [
                {
                    "name": grade.name,
                    "auto_score": grade.auto_score,
                    "manual_score": grade.manual_score,
                    "extra_credit": grade.extra_credit,
                    "score": grade.score,
                    "max_score": grade.max_score,
                    "needs_manual_grade": bool(grade.needs_manual_grade),
                }
                for grade in submission.grades
            ]
    except BaseException:  # report everything, including KeyboardInterrupt, to the parent
        result["error"] = traceback.format_exc()
    finally:
        _write(result_path, result)
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m course_lib.grading._worker``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    global _KEY
    _KEY = sys.stdin.readline().strip().encode("ascii")
    sys.stdin.close()
    run(*argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
