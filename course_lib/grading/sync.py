"""Generate the student copies (``exercises/``) from the sources (``solutions/``) and check them.

:func:`generate_exercises` runs nbgrader's ``generate_assignment --force`` with the course's
``nbgrader_config.py`` in a temporary copy of the course (so the repository's gradebook is not
touched) and puts the result in ``exercises/<assignment>/``. :func:`check_sync` does the same
generation into a temporary folder and compares it with the committed ``exercises/``; CI runs it
so that a change to a solution notebook cannot be merged without its regenerated student copy.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .course import IGNORED, CourseError, CourseLayout, find_course, load_config

__all__ = ["GenerationError", "check_sync", "generate_exercises", "normalize_notebook"]

#: Notebook-level metadata that Jupyter rewrites on every save; not compared by :func:`check_sync`.
VOLATILE_NOTEBOOK_METADATA = ("language_info", "widgets", "vscode", "toc", "varInspector")

#: Cell-level metadata that Jupyter rewrites when a notebook is run or viewed; not compared.
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "jupyter", "ExecuteTime", "trusted")


class GenerationError(RuntimeError):
    """nbgrader could not generate the student copy of an assignment; the message holds its log."""


def _selected(layout: CourseLayout, assignments: Iterable[str] | None) -> list[str]:
    known = layout.assignments()
    if assignments is None:
        return known
    chosen = list(assignments)
    for name in chosen:
        layout.source_of(name)  # raises CourseError for an unknown assignment
    return chosen


def _generate(layout: CourseLayout, assignment: str, workdir: Path) -> Path:
    """Run nbgrader's generate_assignment for one assignment inside ``workdir``; return its output."""
    source = layout.source_of(assignment)
    shutil.copytree(source, workdir / "source" / assignment, ignore=shutil.ignore_patterns(*IGNORED))
    lines = ["c = get_config()  # noqa: F821"]
    if layout.config_file is not None:
        lines.append(f"load_subconfig({str(layout.config_file)!r})  # noqa: F821")
    lines += [
        f"c.CourseDirectory.root = {str(workdir)!r}",
        "c.CourseDirectory.source_directory = 'source'",
        "c.CourseDirectory.release_directory = 'release'",
        "c.CourseDirectory.directory_structure = '{nbgrader_step}/{student_id}/{assignment_id}'",
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(workdir / 'gradebook.db')!r}",
        # the equivalent of `nbgrader generate_assignment --no-db`: the output is the same
        "c.GenerateAssignment.no_database = True",
        "c.SaveCells.enabled = False",
    ]
    (workdir / "nbgrader_config.py").write_text("\n".join(lines) + "\n", encoding="utf-8")

    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    config = load_config(workdir / "nbgrader_config.py")
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    app = GenerateAssignment(coursedir=coursedir, config=config)
    app.force = True
    result = capture_log(app)
    output = workdir / "release" / assignment
    if not result["success"] or not output.is_dir():
        raise GenerationError(
            f"nbgrader generate_assignment failed for {assignment!r}:\n"
            f"{result.get('log', '')}\n{result.get('error', '')}".rstrip()
        )
    return output


def generate_exercises(
    assignments: Iterable[str] | None = None, root: str | os.PathLike | None = None
) -> list[Path]:
    """Regenerate ``exercises/<assignment>/`` from ``solutions/<assignment>/``.

    Parameters
    ----------
    assignments
        Assignment ids to generate; by default every assignment of the source tree.
    root
        Course root; found automatically by default (see :func:`find_course`).

    Returns
    -------
    list of Path
        The files written. Each assignment's release folder is replaced as a whole, so files
        that no longer exist in the source disappear from it.

    Raises
    ------
    CourseError
        For an unknown assignment.
    GenerationError
        If nbgrader rejects a source notebook (for example a solution region without an end).
    """
    layout = find_course(root)
    written: list[Path] = []
    for assignment in _selected(layout, assignments):
        with tempfile.TemporaryDirectory(prefix="course-generate-") as tmp:
            output = _generate(layout, assignment, Path(tmp))
            dest = layout.release_root / assignment
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(output, dest)
        written.extend(sorted(p for p in dest.rglob("*") if p.is_file()))
    return written


def normalize_notebook(nb: dict) -> dict:
    """The parts of a notebook that :func:`check_sync` compares.

    Kept: the format version, the kernelspec and other non-volatile notebook metadata, and for
    every cell its type, source (as one string), metadata other than
    ``VOLATILE_CELL_METADATA``, outputs and execution count (a student copy has neither).
    Dropped: cell ids and volatile metadata, which Jupyter rewrites when the file is opened.
    """
    def source(cell: dict) -> str:
        src = cell.get("source", "")
        return "".join(src) if isinstance(src, list) else src

    meta = {k: v for k, v in nb.get("metadata", {}).items() if k not in VOLATILE_NOTEBOOK_METADATA}
    cells = []
    for cell in nb.get("cells", []):
        entry = {
            "cell_type": cell.get("cell_type"),
            "source": source(cell),
            "metadata": {k: v for k, v in cell.get("metadata", {}).items()
                         if k not in VOLATILE_CELL_METADATA},
        }
        if cell.get("cell_type") == "code":
            entry["outputs"] = cell.get("outputs", [])
            entry["execution_count"] = cell.get("execution_count")
        cells.append(entry)
    return {"nbformat": nb.get("nbformat"), "metadata": meta, "cells": cells}


def _files(folder: Path) -> set[str]:
    found = set()
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if any(fnmatch.fnmatch(part, pattern) for part in rel.parts for pattern in IGNORED):
            continue
        if path.is_file():
            found.add(rel.as_posix())
    return found


def _label(cell: dict, index: int) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell {index + 1}" + (f" ('{grade_id}')" if grade_id else "")


def _compare_notebooks(expected: dict, actual: dict, name: str, limit: int = 10) -> list[str]:
    exp, act = normalize_notebook(expected), normalize_notebook(actual)
    diffs = []
    for key in ("nbformat", "metadata"):
        if exp[key] != act[key]:
            diffs.append(f"{name}: notebook {key} differs")
    if len(exp["cells"]) != len(act["cells"]):
        diffs.append(f"{name}: {len(act['cells'])} cells, the generated copy has {len(exp['cells'])}")
    for i, (e, a) in enumerate(zip(exp["cells"], act["cells"])):
        for key in ("cell_type", "source", "metadata", "outputs", "execution_count"):
            if e.get(key) != a.get(key):
                diffs.append(f"{name}: {_label(e, i)}: {key.replace('_', ' ')} differs")
        if len(diffs) >= limit:
            diffs.append(f"{name}: ... (stopping after {limit} differences)")
            break
    return diffs


def _compare_folders(expected: Path, actual: Path, prefix: str) -> list[str]:
    diffs = []
    exp_files, act_files = _files(expected), _files(actual)
    for rel in sorted(exp_files - act_files):
        diffs.append(f"{prefix}/{rel}: missing (it would be generated)")
    for rel in sorted(act_files - exp_files):
        diffs.append(f"{prefix}/{rel}: not generated from the source (extra file)")
    for rel in sorted(exp_files & act_files):
        e, a = expected / rel, actual / rel
        if rel.endswith(".ipynb"):
            try:
                actual_nb = json.loads(a.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                diffs.append(f"{prefix}/{rel}: not a readable notebook ({exc})")
                continue
            expected_nb = json.loads(e.read_text(encoding="utf-8"))
            diffs.extend(_compare_notebooks(expected_nb, actual_nb, f"{prefix}/{rel}"))
        elif e.read_bytes() != a.read_bytes():
            diffs.append(f"{prefix}/{rel}: content differs")
    return diffs


def check_sync(
    assignments: Iterable[str] | None = None, root: str | os.PathLike | None = None
) -> list[str]:
    """Compare ``exercises/`` with what :func:`generate_exercises` would write now.

    Parameters
    ----------
    assignments
        Assignment ids to check; by default every assignment in ``solutions/`` or
        ``exercises/``.
    root
        Course root; found automatically by default (see :func:`find_course`).

    Returns
    -------
    list of str
        One line per difference, naming the file and cell (for example
        ``"exercises/ch01_composition/ch01_composition.ipynb: cell 5 ('part1_one_hot'): source
        differs"``); empty if ``exercises/`` is in sync. Cell ids and the metadata Jupyter
        rewrites on save are ignored (see :func:`normalize_notebook`).
    """
    layout = find_course(root)
    if assignments is None:
        names = sorted(set(layout.assignments()) | set(layout.released_assignments()))
    else:
        names = list(assignments)
    release = layout.release_directory
    diffs: list[str] = []
    for assignment in names:
        has_source = assignment in layout.assignments()
        actual = layout.release_root / assignment
        if not has_source:
            if actual.is_dir():
                diffs.append(
                    f"{release}/{assignment}/: has no source in {layout.source_directory}/{assignment}/"
                )
                continue
            raise CourseError(f"unknown assignment {assignment!r}")
        if not actual.is_dir():
            diffs.append(f"{release}/{assignment}/: missing; run `python -m course_lib.grading generate`")
            continue
        with tempfile.TemporaryDirectory(prefix="course-check-") as tmp:
            expected = _generate(layout, assignment, Path(tmp))
            diffs.extend(_compare_folders(expected, actual, f"{release}/{assignment}"))
    return diffs
