"""Where the course's assignments live: the repository root, its nbgrader config and directories.

The course repository keeps nbgrader's *source* tree in ``solutions/`` and its *release* tree in
``exercises/`` (both set in the repository's ``nbgrader_config.py``). Every assignment is one
folder in each tree, named by its assignment id (``ch01_composition``), holding one notebook with
the same name and any data files the notebook needs.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CourseLayout", "CourseError", "find_course", "use_alembic_api"]

#: Name of nbgrader's configuration file at the course root.
CONFIG_FILE = "nbgrader_config.py"

#: Files and folders never treated as part of an assignment (nbgrader's own default ignore list).
IGNORED = (".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback")


#: ``Autograde.sanitize_preprocessors`` of the course (nbgrader's, with the classes of
#: :mod:`course_lib.grading.preprocessors`).
SANITIZE_PREPROCESSORS = [
    "nbgrader.preprocessors.ClearOutput",
    "course_lib.grading.preprocessors.RobustDeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "course_lib.grading.preprocessors.RobustOverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

#: ``Autograde.autograde_preprocessors`` of the course (nbgrader's, with the classes of
#: :mod:`course_lib.grading.preprocessors`).
AUTOGRADE_PREPROCESSORS = [
    "course_lib.grading.preprocessors.RecoveringExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "course_lib.grading.preprocessors.StrictSaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

#: ``GenerateFeedback.preprocessors`` of the course: nbgrader's, and the hidden tests removed.
FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "course_lib.grading.preprocessors.ClearHiddenTestsFromFeedback",
]


def use_alembic_api(force: bool = False) -> None:
    """Let nbgrader create a gradebook without running the ``alembic`` program.

    A new gradebook records the newest revision of nbgrader's database migrations; nbgrader 0.9.6
    finds it by starting ``alembic heads`` in a subprocess, which takes seconds and fails with
    ``FileNotFoundError: 'alembic'`` when nbgrader's environment is not on ``PATH`` (for example
    ``.venv/bin/nbgrader`` run from a shell without the environment activated). The same revision
    comes from alembic's Python API. The course's ``nbgrader_config.py`` calls this, so every
    ``nbgrader`` command run in the course gets it.

    Parameters
    ----------
    force
        Import nbgrader if it is not imported yet; by default nothing is done unless nbgrader's
        database module is already loaded (as it is when nbgrader reads its config), so reading
        the config elsewhere stays cheap.
    """
    if not force and "nbgrader.api" not in sys.modules:
        return
    import nbgrader.api
    from nbgrader.dbutil import ALEMBIC_DIR

    try:
        from alembic.script import ScriptDirectory

        head = ScriptDirectory(ALEMBIC_DIR).get_current_head()
    except Exception:  # keep nbgrader's own way
        return
    if head:
        nbgrader.api.get_alembic_version = lambda: head


class CourseError(Exception):
    """A problem with the course layout or the command line: unknown assignment, missing file."""


@dataclass(frozen=True)
class CourseLayout:
    """The directories of a course repository, as its nbgrader config defines them.

    Attributes
    ----------
    root : Path
        The course root (the folder holding ``nbgrader_config.py``).
    source_directory : str
        Name of nbgrader's source tree under ``root`` (``solutions`` in this course).
    release_directory : str
        Name of nbgrader's release tree under ``root`` (``exercises`` in this course).
    config_file : Path or None
        The course's ``nbgrader_config.py``, or None when the course has none.
    cell_timeout : int
        Per-cell time limit of autograding in seconds (``Execute.timeout``; nbgrader's default is
        30 s).
    """

    root: Path
    source_directory: str = "source"
    release_directory: str = "release"
    config_file: Path | None = None
    cell_timeout: int = 30

    @property
    def source_root(self) -> Path:
        """Path of the source tree (``<root>/solutions``)."""
        return self.root / self.source_directory

    @property
    def release_root(self) -> Path:
        """Path of the release tree (``<root>/exercises``)."""
        return self.root / self.release_directory

    def assignments(self) -> list[str]:
        """Assignment ids: the folders of the source tree that hold at least one notebook, sorted."""
        return _assignment_folders(self.source_root)

    def released_assignments(self) -> list[str]:
        """Assignment ids present in the release tree, sorted."""
        return _assignment_folders(self.release_root)

    def source_of(self, assignment: str) -> Path:
        """Source folder of ``assignment``.

        Raises
        ------
        CourseError
            If the source tree has no such assignment; the message lists the known ones.
        """
        path = self.source_root / assignment
        if not _notebooks_in(path):
            known = ", ".join(self.assignments()) or "none"
            raise CourseError(
                f"unknown assignment {assignment!r}: no notebook in {path} "
                f"(assignments in {self.source_root}: {known})"
            )
        return path


def _notebooks_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file())


def _assignment_folders(tree: Path) -> list[str]:
    if not tree.is_dir():
        return []
    return sorted(p.name for p in tree.iterdir() if p.is_dir() and _notebooks_in(p))


def notebooks_of(folder: Path) -> list[Path]:
    """The notebooks of an assignment folder, sorted by name."""
    return _notebooks_in(Path(folder))


def load_config(config_file: Path):
    """Load an ``nbgrader_config.py`` the way nbgrader does and return the traitlets ``Config``."""
    from traitlets.config.loader import PyFileConfigLoader

    config_file = Path(config_file)
    return PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()


def _layout_from_config(root: Path) -> CourseLayout:
    config_file = root / CONFIG_FILE
    if not config_file.is_file():
        return CourseLayout(root=root)
    cfg = load_config(config_file)
    course_dir = cfg.get("CourseDirectory", {})
    execute = cfg.get("Execute", {})
    configured_root = course_dir.get("root")
    if configured_root and Path(configured_root).resolve() != root.resolve():
        root = Path(configured_root)
    return CourseLayout(
        root=root,
        source_directory=str(course_dir.get("source_directory", "source")),
        release_directory=str(course_dir.get("release_directory", "release")),
        config_file=config_file,
        cell_timeout=int(execute.get("timeout", 30) or 30),
    )


def _looks_like_course(folder: Path) -> bool:
    return (folder / CONFIG_FILE).is_file()


def find_course(root: str | os.PathLike | None = None) -> CourseLayout:
    """Locate the course repository and read its layout from ``nbgrader_config.py``.

    Parameters
    ----------
    root : Path
        The course root. By default: the environment variable ``COURSE_ROOT`` if set, else the
        first of the current directory and its parents that holds an ``nbgrader_config.py``,
        else the folder above the installed ``course_lib`` package if that holds one.

    Returns
    -------
    CourseLayout
        The course's directories and autograding time limit.

    Raises
    ------
    CourseError
        If no course root can be found.
    """
    if root is None and os.environ.get("COURSE_ROOT"):
        root = os.environ["COURSE_ROOT"]
    if root is not None:
        root = Path(root).resolve()
        if not root.is_dir():
            raise CourseError(f"course root {root} is not a directory")
        return _layout_from_config(root)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if _looks_like_course(folder):
            return _layout_from_config(folder)
    package_parent = Path(__file__).resolve().parents[2]
    if _looks_like_course(package_parent):
        return _layout_from_config(package_parent)
    raise CourseError(
        "cannot find the course repository: run from inside it, pass --root DIR, or set "
        f"COURSE_ROOT (looked for {CONFIG_FILE} in {here} and its parents)"
    )
