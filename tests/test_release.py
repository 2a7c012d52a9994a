"""The student release (``python -m course_lib.grading release OUT_DIR``) leaks nothing.

A release is written from the committed tree into a temporary folder once per module, then:

- every file of it, every string of every JSON file (notebook and cell metadata included) and
  every object of its git repository is searched for every solution and hidden-test line of every
  source notebook in ``solutions/`` (committed at the released commit). Which lines count: all
  stripped lines inside ``BEGIN/END SOLUTION`` and ``BEGIN/END HIDDEN TESTS`` regions and of
  solution cells without delimiters, except lines shorter than 12 characters, import statements,
  lines that the student copies, ``course_lib`` or its unit tests also contain (the student sees
  them anyway; the library is the published reference implementation), and, for solution lines
  only, lines of the lecture notebooks and pages (the lecture shows the steps an assignment asks
  to rebuild). The rule is :func:`course_lib.grading.release.searched_lines`; a test below checks
  that it still leaves most lines of every assignment to search for;
- it holds no ``solutions/``, no caches or build outputs, a git history of one commit, the
  committed ``exercises/`` byte for byte, and what ``scripts/build_book.sh`` needs;
- planted leaks (a hidden-test line in cell metadata and in a lecture notebook, a solution line
  in the README, a ``solutions/`` folder, a ``__pycache__``, a history that once held ``solutions/``) are found.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from course_lib.grading.__main__ import main
from course_lib.grading.release import (
    ReleaseError,
    find_leaks,
    public_lines,
    searched_lines,
    secret_lines,
    write_release,
)

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not (ROOT / ".git").exists(),
                                reason="the course is not a git checkout here; a release is "
                                "written from the committed files")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True).stdout


def _committed(ref: str, tree: str) -> dict[str, bytes]:
    """The files committed under ``tree`` at ``ref``: ``{path: content}``."""
    paths = _git(ROOT, "ls-tree", "-r", "--name-only", ref, "--", tree).split()
    return {p: subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:{p}"], check=True,
                              capture_output=True).stdout for p in paths}


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_release(tmp_path_factory.mktemp("release") / "course", root=ROOT)


@pytest.fixture(scope="module")
def sources(release) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for path, data in _committed(release.ref, "solutions").items():
        if path.endswith(".ipynb"):
            found.setdefault(path.split("/")[1], []).append(json.loads(data))
    assert found, "no source notebook committed in solutions/"
    return found


def test_release_has_no_solution_or_hidden_test_line(release, sources):
    assert find_leaks(release.path, sources) == []


def test_search_rule_keeps_most_lines_of_every_assignment(release, sources):
    """The exemptions of the rule must not empty the search: most lines are still looked for."""
    public, lecture = public_lines(release.path)
    for assignment, notebooks in sources.items():
        lines = {k: v for nb in notebooks for k, v in secret_lines(nb).items()}
        searched = searched_lines({assignment: notebooks}, public, lecture)
        for kind in ("solution", "hidden test"):
            total = [line for line, k in lines.items() if k == kind]
            kept = [line for line, (_, k) in searched.items() if k == kind]
            assert total, f"{assignment}: no {kind} lines found in the source notebook"
            assert len(kept) >= 0.5 * len(total), (
                f"{assignment}: only {len(kept)} of {len(total)} {kind} lines are searched for")


def test_secret_lines_of_a_notebook():
    nb = {"cells": [
        {"cell_type": "code", "metadata": {"nbgrader": {"solution": True}},
         "source": "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"},
        {"cell_type": "code", "metadata": {"nbgrader": {"grade": True}},
         "source": ["assert f(1) == 2\n", "### BEGIN HIDDEN TESTS\n", "assert f(2) == 3\n",
                    "\n", "### END HIDDEN TESTS\n", "print('visible')"]},
        {"cell_type": "markdown", "metadata": {"nbgrader": {"solution": True, "grade": True}},
         "source": "The sum is shift invariant.\n\nBecause ..."},
        {"cell_type": "code", "metadata": {}, "source": "return x + 1"},
    ]}
    assert secret_lines(nb) == {"return x + 1": "solution", "assert f(2) == 3": "hidden test",
                                "The sum is shift invariant.": "solution",
                                "Because ...": "solution"}


def test_search_rule_skips_table_rules_but_not_table_rows():
    """A rubric's Markdown table rule (``|---|---|``) is in every table of the book, so it is no secret."""
    nb = {"cells": [{"cell_type": "markdown", "metadata": {"nbgrader": {"solution": True, "grade": True}},
                     "source": "| size | error (eV/atom) |\n|---|:---:|---|---|\n| 40 | 0.573 +- 0.084 |\n"}]}
    searched = searched_lines({"chXX": [nb]}, set(), set())
    assert set(searched) == {"| size | error (eV/atom) |", "| 40 | 0.573 +- 0.084 |"}


def test_release_contents(release):
    files = set(release.files)
    on_disk = {p.relative_to(release.path).as_posix() for p in release.path.rglob("*")
               if (p.is_file() or p.is_symlink()) and ".git" not in p.relative_to(release.path).parts}
    assert on_disk == files
    for required in ("README.md", "pyproject.toml", "environment.yml", "nbgrader_config.py",
                     "book/_toc.yml", "book/_config.yml", "book/students.md",
                     "course_lib/__init__.py", "course_lib/grading/__main__.py",
                     "scripts/build_book.sh", "scripts/setup_env.sh", "tests/test_composition.py"):
        assert required in files, required
    for path in files:
        parts = Path(path).parts
        assert parts[0] not in ("solutions", ".ci"), path
        assert not {"__pycache__", ".ipynb_checkpoints", "_build", ".pytest_cache"} & set(parts), path
        assert not path.endswith(".pyc") and path != "scripts/run_tests.sh", path
    # the tests that read solutions/ stay behind; the library's unit tests go to the students
    assert {"tests/test_grading.py", "tests/test_assignments.py"} <= set(release.excluded_tests)
    committed_tests = _committed(release.ref, "tests")
    for path, data in committed_tests.items():
        needs_sources = re.search(rb"\bsolutions\b", data) is not None
        if Path(path).name.startswith("test_"):
            assert (path in files) != needs_sources, path
        else:
            assert path in files or path in release.excluded_tests, path


def test_release_exercises_equal_the_committed_exercises(release):
    committed = _committed(release.ref, "exercises")
    released = {p.relative_to(release.path).as_posix(): p.read_bytes()
                for p in (release.path / "exercises").rglob("*") if p.is_file()}
    assert released == committed
    assert release.assignments == sorted({p.split("/")[1] for p in committed})


def test_release_builds_the_book_from_its_own_files(release):
    """What scripts/build_book.sh reads is in the release: setup_env.sh, the toc's every page."""
    script = (release.path / "scripts" / "build_book.sh").read_text()
    assert "setup_env.sh" in script and "jupyter-book build book" in script
    assert (release.path / "book" / "notebooks").resolve() == (release.path / "notebooks").resolve()
    toc = (release.path / "book" / "_toc.yml").read_text()
    for entry in re.findall(r"file:\s*(\S+)", toc):
        candidates = [release.path / "book" / f"{entry}{ext}" for ext in ("", ".md", ".ipynb")]
        assert any(c.is_file() for c in candidates), f"{entry} of book/_toc.yml is not in the release"


def test_release_is_a_git_repository_with_one_commit(release):
    assert _git(release.path, "rev-list", "--all").split() == [
        _git(release.path, "rev-parse", "HEAD").strip()]
    assert _git(release.path, "status", "--porcelain") == ""
    assert sorted(_git(release.path, "ls-files").split()) == sorted(release.files)
    assert "solutions/" not in _git(release.path, "log", "--all", "--name-only", "--format=")


def _copy(release, tmp_path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(release.path, copy, symlinks=True)
    return copy


def _a_line(sources, public, lecture, kind):
    return next(line for line, (_, k) in searched_lines(sources, public, lecture).items() if k == kind)


def test_planted_leaks_are_found(release, sources, tmp_path):
    copy = _copy(release, tmp_path)
    public, lecture = public_lines(copy)
    hidden, solution = (_a_line(sources, public, lecture, k) for k in ("hidden test", "solution"))
    notebook = next((copy / "exercises").glob("*/*.ipynb"))
    nb = json.loads(notebook.read_text())
    nb["cells"][1]["metadata"]["nbgrader"]["source"] = f"x = 1\n{hidden}\n"
    notebook.write_text(json.dumps(nb))
    with open(copy / "README.md", "a") as readme:
        readme.write(f"\n```python\n    {solution}\n```\n")
    lecture_nb = next((copy / "notebooks").glob("*.ipynb"))
    nb = json.loads(lecture_nb.read_text())
    nb["cells"][-1]["source"] = hidden  # hidden tests are not exempt in lecture notebooks
    lecture_nb.write_text(json.dumps(nb))
    (copy / "solutions").mkdir()
    (copy / "course_lib" / "__pycache__").mkdir()
    problems = find_leaks(copy, sources)
    rel = notebook.relative_to(copy).as_posix()
    assert any(p.startswith(f"{rel}: hidden test line") and hidden[:40] in p for p in problems)
    assert any(p.startswith("README.md: solution line") for p in problems)
    lecture_rel = lecture_nb.relative_to(copy).as_posix()
    assert any(p.startswith(f"{lecture_rel}: hidden test line") for p in problems)
    assert "solutions: must not be in a student release" in problems
    assert "course_lib/__pycache__: must not be in a student release" in problems


def test_history_holding_solutions_is_found(release, sources, tmp_path):
    copy = _copy(release, tmp_path)
    public, lecture = public_lines(copy)
    hidden = _a_line(sources, public, lecture, "hidden test")
    (copy / "solutions").mkdir()
    (copy / "solutions" / "a.py").write_text(hidden + "\n")
    ident = ["-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "commit.gpgsign=false"]
    _git(copy, "add", "solutions")
    _git(copy, *ident, "commit", "-q", "-m", "add")
    _git(copy, "rm", "-q", "-r", "solutions")
    _git(copy, *ident, "commit", "-q", "-m", "remove")
    problems = find_leaks(copy, sources)
    assert ".git: 3 commits; a release has exactly one (no history)" in problems
    assert any(re.match(r"\.git: commit \w+ holds solutions/a\.py", p) for p in problems)
    assert any(p.startswith(".git object") and "hidden test line" in p for p in problems)


def test_release_refuses_a_used_folder(tmp_path, capsys):
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    with pytest.raises(ReleaseError, match="exists and is not an empty folder"):
        write_release(used, root=ROOT)
    assert [p.name for p in used.iterdir()] == ["notes.txt"]
    assert main(["release", str(used), "--root", str(ROOT)]) == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err
    with pytest.raises(ReleaseError, match="inside the course repository"):
        write_release(ROOT / "build" / "release-test", root=ROOT)
    with pytest.raises(ReleaseError, match="is not a commit"):
        write_release(tmp_path / "new", root=ROOT, ref="no-such-branch")
    assert not (tmp_path / "new").exists()


def test_release_command_line(tmp_path, capsys):
    out = tmp_path / "empty"
    out.mkdir()  # an empty folder is accepted
    assert main(["release", str(out), "--root", str(ROOT), "--no-git"]) == 0
    printed = capsys.readouterr().out
    assert f"to {out}:" in printed and "git repository" not in printed
    assert (out / "exercises").is_dir() and not (out / ".git").exists()
    assert not list(tmp_path.glob(".empty-*")), "the temporary folder was left behind"


def test_release_is_reproducible(release, tmp_path):
    """The same commit gives the same release commit (fixed author, date and message)."""
    again = write_release(tmp_path / "again", root=ROOT, ref=release.ref)
    assert _git(again.path, "rev-parse", "HEAD") == _git(release.path, "rev-parse", "HEAD")
