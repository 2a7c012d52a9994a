"""Command line of :mod:`course_lib.grading`: ``python -m course_lib.grading COMMAND``.

Commands
--------
grade NOTEBOOK --assignment NAME
    Grade one submitted notebook with nbgrader and print a JSON report (``--text``: a plain-text
    summary) on stdout. Exit status 0
    whenever a report was produced, even for a notebook that scores nothing or cannot be read;
    2 for usage errors (file not found, unknown assignment).
generate [ASSIGNMENT ...]
    Regenerate ``exercises/`` from ``solutions/`` (all assignments by default).
check-sync [ASSIGNMENT ...]
    Exit 1 and list the differences if ``exercises/`` is not what ``generate`` would write now.
list
    The course's assignments, their notebooks and points.
seed STUDENT_ID [--assignment NAME]
    Print the student's random seed (see :func:`course_lib.grading.student_seed`).
release OUT_DIR [--ref REF] [--no-git]
    Write the student release (no ``solutions/``, no hidden tests) from the committed tree into
    the new folder OUT_DIR (see :mod:`course_lib.grading.release`).
"""

from __future__ import annotations

import argparse
import json
import sys

from .course import CourseError, find_course, notebooks_of
from .sync import GenerationError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grading",
        description="nbgrader workflow of the course: grade one notebook, generate and check "
        "the student copies.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", help="course root (default: the folder holding nbgrader_config.py, "
                        "searched from the current folder upwards)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    grade = sub.add_parser("grade", parents=[common],
                           help="grade one submitted notebook, print a JSON report")
    grade.add_argument("notebook", help="the submitted .ipynb file")
    grade.add_argument("--assignment", "-a", required=True, help="assignment id, e.g. ch01_composition")
    grade.add_argument("--timeout", type=int, default=None,
                       help="per-cell time limit in seconds (default: the course's Execute.timeout)")
    grade.add_argument("--total-timeout", type=float, default=None,
                       help="time limit of the whole grading in seconds")
    grade.add_argument("--source", default=None,
                       help="folder with the assignment's source notebook (default: "
                       "solutions/<assignment>, else exercises/<assignment>)")
    grade.add_argument("--notebook-name", dest="notebook_name", default=None,
                       help="which notebook of a multi-notebook assignment this is")
    grade.add_argument("--student", default="student", help="student id for the gradebook")
    grade.add_argument("--keep", default=None, help="copy the temporary nbgrader course here")
    grade.add_argument("--compact", action="store_true", help="print the JSON on one line")
    grade.add_argument("--text", action="store_true",
                       help="print a plain-text summary instead of the JSON (score, parts, flags, problems)")

    gen = sub.add_parser("generate", parents=[common], help="regenerate exercises/ from solutions/")
    gen.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    gen.add_argument("--check", action="store_true", help="only check, like check-sync")

    check = sub.add_parser("check-sync", parents=[common], help="check that exercises/ is up to date")
    check.add_argument("assignments", nargs="*", help="assignment ids (default: all)")

    sub.add_parser("list", parents=[common], help="list the assignments")

    seed = sub.add_parser("seed", help="print a student's random seed")
    seed.add_argument("student_id")
    seed.add_argument("--assignment", default="")

    release = sub.add_parser("release", parents=[common],
                             help="write the student release (without solutions/) into a new folder")
    release.add_argument("out_dir", help="new (or empty) folder outside the course repository")
    release.add_argument("--ref", default="HEAD", help="commit to release (default: HEAD)")
    release.add_argument("--no-git", dest="git", action="store_false",
                         help="do not make the release a git repository with one commit")
    return parser


def _grade(args) -> int:
    from .grader import grade_notebook

    report = grade_notebook(
        args.notebook, args.assignment, root=args.root, source=args.source,
        notebook=args.notebook_name, timeout=args.timeout, total_timeout=args.total_timeout,
        student=args.student, keep=args.keep,
    )
    print(report.summary() if args.text else report.to_json(indent=None if args.compact else 2))
    if not report.hidden_tests:
        print("note: graded against a source without hidden tests (only the visible tests ran)",
              file=sys.stderr)
    return 0


def _check(args) -> int:
    from .sync import check_sync

    layout = find_course(args.root)
    diffs = check_sync(args.assignments or None, root=layout.root)
    if diffs:
        print(f"{layout.release_directory}/ is out of sync with {layout.source_directory}/:",
              file=sys.stderr)
        for line in diffs:
            print(f"  {line}", file=sys.stderr)
        print("run `python -m course_lib.grading generate` and commit the result", file=sys.stderr)
        return 1
    n = len(args.assignments) if args.assignments else len(layout.assignments())
    print(f"{layout.release_directory}/ is in sync with {layout.source_directory}/ "
          f"({n} assignment{'s' if n != 1 else ''})")
    return 0


def _generate(args) -> int:
    if args.check:
        return _check(args)
    from .sync import generate_exercises

    layout = find_course(args.root)
    for path in generate_exercises(args.assignments or None, root=layout.root):
        print(f"wrote {path.relative_to(layout.root)}")
    return 0


def _list(args) -> int:
    from .grader import _source_cells

    layout = find_course(args.root)
    for assignment in layout.assignments():
        for notebook in notebooks_of(layout.source_root / assignment):
            cells, _ = _source_cells(notebook)
            auto = [c for c in cells if c.kind == "auto"]
            manual = [c for c in cells if c.kind == "manual"]
            print(f"{assignment}/{notebook.name}: {len(auto)} autograded parts "
                  f"({sum(c.points for c in auto):g} points), {len(manual)} graded by hand "
                  f"({sum(c.points for c in manual):g} points)")
    return 0


def _seed(args) -> int:
    from .seed import student_seed

    print(student_seed(args.student_id, args.assignment))
    return 0


def _release(args) -> int:
    from .release import write_release

    rel = write_release(args.out_dir, root=args.root, ref=args.ref, git=args.git)
    print(f"wrote the student release of commit {rel.ref[:12]} to {rel.path}: {len(rel.files)} files, "
          f"{len(rel.assignments)} assignments ({', '.join(rel.assignments)})"
          f"{', a git repository with one commit' if rel.git else ''}")
    print(f"left out the tests that need the instructors' notebooks: {', '.join(rel.excluded_tests)}")
    print(f"checked: no path of the source tree, no cache or build output, and none of "
          f"{rel.secrets_checked} solution and hidden-test lines in any file or git object")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    handlers = {"grade": _grade, "generate": _generate, "check-sync": _check, "list": _list,
                "seed": _seed, "release": _release}
    try:
        return handlers[args.command](args)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(f"error: a source notebook is not valid JSON: {exc}", file=sys.stderr)
        return 2
    except GenerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
