"""The student release: what students get, written from the course repository's git tree.

The course repository holds the instructors' source notebooks (``solutions/``, with the solutions
and the hidden tests). Students must never see them, so they do not clone the repository: the
instructor publishes the folder that :func:`write_release` writes (as a separate repository, a zip
file, or the content of the hub image)::

    python -m course_lib.grading release OUT_DIR

What goes in (an allow-list, applied to the files committed at ``ref``, never to the working
folder, so no caches, build outputs or uncommitted files can slip in):

- the book sources ``book/`` (without ``book/_build``), the lecture notebooks ``notebooks/``, the
  student copies ``exercises/`` (byte for byte as committed), the library ``course_lib/`` and
  ``benchmarks/`` (the book's API pages cite its scripts and results);
- the library's tests in ``tests/``: every ``test_*.py`` there except those that name the source
  tree (``solutions``) -- the grading round-trips, the sync check of ``exercises/`` and this
  release's own test need the instructors' notebooks -- and the helper modules that a released
  test imports;
- ``README.md``, ``pyproject.toml``, ``environment.yml``, ``nbgrader_config.py`` (the grader finds
  the course through it; it holds settings only), ``.gitignore``, a licence file if there is one,
  and ``scripts/build_book.sh`` with the ``scripts/setup_env.sh`` it sources.

Left out: ``solutions/``, ``.ci/`` and ``scripts/run_tests.sh`` (they run the
solution notebooks), and anything not on the list.

Before the folder is given its final name, :func:`find_leaks` checks it: no path of the source tree
or of a cache or build output, and no line of a solution or hidden-test region of any source
notebook in any file, JSON string (notebook metadata included) or git object. By default the
release is a new git repository with a single commit, so it has no history of ``solutions/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .course import CourseError, find_course, load_config

__all__ = ["MIN_SECRET_CHARS", "Release", "ReleaseError", "find_leaks", "public_lines", "released_path",
           "searched_lines", "secret_lines", "write_release"]

#: Top-level files copied into the release when they are committed.
RELEASED_FILES = ("README.md", "pyproject.toml", "environment.yml", "nbgrader_config.py",
                  ".gitignore", "scripts/build_book.sh", "scripts/setup_env.sh")

#: Top-level folders copied whole (minus :data:`FORBIDDEN_PARTS`); ``tests/`` is filtered apart.
RELEASED_FOLDERS = ("book", "notebooks", "course_lib", "benchmarks")

#: Path components that must never appear in a release (caches, build outputs, nbgrader's
#: per-student folders); the source tree's name is added from the course's config.
FORBIDDEN_PARTS = ("__pycache__", ".ipynb_checkpoints", "_build", ".pytest_cache", "submitted",
                   "autograded", "feedback", ".jupyter_cache")

#: File names that must never appear in a release.
FORBIDDEN_NAMES = ("gradebook.db", ".nbgrader.log")

#: Pattern of a licence file at the top level (copied if committed).
_LICENCE = re.compile(r"^(LICEN[CS]E|COPYING)(\.[A-Za-z]+)?$")

#: Secret lines shorter than this (after stripping) are not searched for: ``)``, ``pass``,
#: ``else:``, ``return x`` occur in any Python file and prove nothing.
MIN_SECRET_CHARS = 12


class ReleaseError(CourseError):
    """The release cannot be written: bad output folder, not a git repository, or a leak found."""


@dataclass
class Release:
    """What :func:`write_release` wrote.

    Attributes
    ----------
    path : Path
        The release folder.
    ref : str
        The commit of the course repository it was written from (full hash).
    files : list of str
        Every file of the release, as a POSIX path relative to ``path`` (symlinks included).
    assignments : list of str
        Assignment ids whose student copies are in the release.
    excluded_tests : list of str
        Files of ``tests/`` left out because they need the source tree.
    git : bool
        Whether the release is a git repository (with a single commit).
    secrets_checked : int
        How many distinct solution and hidden-test lines were searched for.
    """

    path: Path
    ref: str
    files: list[str] = field(default_factory=list)
    assignments: list[str] = field(default_factory=list)
    excluded_tests: list[str] = field(default_factory=list)
    git: bool = False
    secrets_checked: int = 0


# -- reading the course's git tree ------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    mode: str
    sha: str
    path: str


def _git(root: Path, *args: str, input: bytes | None = None, env: dict | None = None) -> bytes:
    proc = subprocess.run(["git", "-C", str(root), *args], input=input, capture_output=True,
                          env=env)
    if proc.returncode != 0:
        raise ReleaseError(f"`git {' '.join(args)}` failed in {root}: "
                           f"{proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _tree(root: Path, ref: str) -> list[_Entry]:
    out = _git(root, "ls-tree", "-r", "-z", "--full-tree", ref)
    entries = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, path = record.split(b"\t", 1)
        mode, kind, sha = meta.decode().split()
        if kind == "blob":
            entries.append(_Entry(mode, sha, path.decode("utf-8", errors="surrogateescape")))
    return entries


def _blobs(root: Path, shas: list[str]) -> dict[str, bytes]:
    """Contents of the blobs ``shas``, read with one ``git cat-file --batch``."""
    if not shas:
        return {}
    out = _git(root, "cat-file", "--batch", input="".join(f"{s}\n" for s in shas).encode())
    contents, pos = {}, 0
    for sha in shas:
        end = out.index(b"\n", pos)
        _, _, size = out[pos:end].decode().split()
        start = end + 1
        contents[sha] = out[start:start + int(size)]
        pos = start + int(size) + 1
    return contents


# -- what goes in -----------------------------------------------------------------------------------


def released_path(path: str, source_directory: str = "solutions",
                  release_directory: str = "exercises") -> bool:
    """Whether the committed file ``path`` (POSIX, relative to the course root) is released.

    Files of ``tests/`` are all accepted here; :func:`write_release` then keeps the ``test_*.py``
    files that do not name the source tree and the helper modules those import.
    """
    parts = PurePosixPath(path).parts
    if not parts or _forbidden(path, source_directory):
        return False
    if path in RELEASED_FILES or (len(parts) == 1 and _LICENCE.match(parts[0])):
        return True
    return parts[0] in (*RELEASED_FOLDERS, release_directory, "tests") and len(parts) > 1


def _student_tests(tests: dict[str, str], source_directory: str) -> set[str]:
    """The files of ``tests/`` (``{path: text}``) that go to the students.

    A ``test_*.py`` file goes unless its text names the source tree (then it reads the
    instructors' notebooks); another file (a helper module) goes if a released test names it.
    """
    def names(text: str, word: str) -> bool:
        return re.search(rf"\b{re.escape(word)}\b", text) is not None

    kept = {path for path, text in tests.items() if PurePosixPath(path).name.startswith("test_")
            and not names(text, source_directory)}
    return kept | {path for path, text in tests.items() if path not in kept
                   and not PurePosixPath(path).name.startswith("test_")
                   and not names(text, source_directory)
                   and any(names(tests[k], PurePosixPath(path).stem) for k in kept)}


# -- what must not leak -----------------------------------------------------------------------------


def _delimiters(config_file: Path | None) -> dict[str, tuple[str, str]]:
    """The solution and hidden-test delimiters of the course's config (nbgrader's defaults)."""
    cfg = load_config(config_file) if config_file is not None else {}
    sol, hid = cfg.get("ClearSolutions", {}), cfg.get("ClearHiddenTests", {})
    return {
        "solution": (str(sol.get("begin_solution_delimeter", "BEGIN SOLUTION")),
                     str(sol.get("end_solution_delimeter", "END SOLUTION"))),
        "hidden test": (str(hid.get("begin_test_delimeter", "BEGIN HIDDEN TESTS")),
                        str(hid.get("end_test_delimeter", "END HIDDEN TESTS"))),
    }


def _cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def secret_lines(notebook: dict, delimiters: dict[str, tuple[str, str]] | None = None
                 ) -> dict[str, str]:
    """The lines of a source notebook that the student copy must not contain.

    Parameters
    ----------
    notebook : dict
        The source notebook's JSON (``solutions/<assignment>/<assignment>.ipynb``).
    delimiters : dict, optional
        ``{"solution": (begin, end), "hidden test": (begin, end)}``; nbgrader's defaults if None.

    Returns
    -------
    dict
        Every stripped, non-blank line inside a solution region (``### BEGIN SOLUTION`` ...
        ``### END SOLUTION``) or a hidden-test region, and every line of a solution cell without
        delimiters (nbgrader replaces the whole cell, e.g. a written answer), mapped to its kind
        (``"solution"`` or ``"hidden test"``). The delimiter lines themselves are not included.
    """
    delimiters = delimiters or _delimiters(None)
    found: dict[str, str] = {}
    for cell in notebook.get("cells", []):
        lines = _cell_source(cell).splitlines()
        marked = any(d in line for begin_end in delimiters.values() for d in begin_end
                     for line in lines)
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and not marked:
            for line in lines:
                if line.strip():
                    found.setdefault(line.strip(), "solution")
            continue
        kind = None
        for line in lines:
            for name, (begin, end) in delimiters.items():
                if begin in line:
                    kind = name
                    break
                if end in line:
                    kind = None
                    break
            else:
                if kind is not None and line.strip():
                    found.setdefault(line.strip(), kind)
    return found


def _lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip()}


def _strings(value) -> list[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _texts(name: str, data: bytes) -> list[str]:
    """The texts to search in a file: its decoded bytes and, for JSON, every string in it."""
    text = data.decode("utf-8", errors="replace")
    texts = [text]
    if name.endswith((".ipynb", ".json")) or text.lstrip().startswith(("{", "[")):
        try:
            texts += _strings(json.loads(text))
        except ValueError:
            pass
    return texts


_IMPORT = re.compile(r"^(from\s+[\w.]+\s+)?import\s")
#: A Markdown table's rule line (``|---|:---:|``): no content, and every table has one.
_TABLE_RULE = re.compile(r"^[|:\- ]+$")


def _notebook_lines(data: bytes) -> set[str]:
    try:
        cells = json.loads(data).get("cells", [])
    except (ValueError, AttributeError):
        return set()
    return set().union(*(_lines(_cell_source(c)) for c in cells))


def public_lines(release: str | os.PathLike, release_directory: str = "exercises"
                 ) -> tuple[set[str], set[str]]:
    """The lines of a release that students are meant to read, as :func:`find_leaks` uses them.

    Returns
    -------
    (public, lecture) : tuple of set of str
        ``public``: stripped lines of the student copies' cell sources (``exercises/``), of the
        library's source (``course_lib/**/*.py``) and of its tests (``tests/*.py``).
        ``lecture``: stripped lines of the lecture notebooks' cell sources (``notebooks/``) and of
        the book's pages (``book/**/*.md``).
    """
    release = Path(release)
    public: set[str] = set()
    lecture: set[str] = set()
    for path in release.glob(f"{release_directory}/*/*.ipynb"):
        public |= _notebook_lines(path.read_bytes())
    for path in [*release.glob("course_lib/**/*.py"), *release.glob("tests/*.py")]:
        public |= _lines(path.read_text(encoding="utf-8", errors="replace"))
    for path in release.glob("notebooks/*.ipynb"):
        lecture |= _notebook_lines(path.read_bytes())
    for path in release.glob("book/**/*.md"):
        if not path.is_symlink():
            lecture |= _lines(path.read_text(encoding="utf-8", errors="replace"))
    return public, lecture


def searched_lines(sources: dict[str, list[dict]], public: set[str], lecture: set[str],
                   delimiters: dict[str, tuple[str, str]] | None = None
                   ) -> dict[str, tuple[str, str]]:
    """The secret lines :func:`find_leaks` searches for: ``{line: (assignment, kind)}``.

    Every line of :func:`secret_lines` of every source notebook, except

    - lines shorter than :data:`MIN_SECRET_CHARS` characters (``)``, ``pass``, ``else:``);
    - import statements (they name public modules; the student copy imports the same);
    - the rule lines of Markdown tables (``|---|---|``, in rubrics and model answers);
    - lines in ``public`` (see :func:`public_lines`): the student copies show them anyway, and
      ``course_lib`` is the published reference implementation that the solutions rebuild and the
      hidden tests call, so its own code, and its tests' idioms, may coincide with a line;
    - solution lines (not hidden-test lines) in ``lecture``: the lecture shows the steps that an
      assignment asks the student to rebuild.
    """
    secrets: dict[str, tuple[str, str]] = {}
    for assignment, notebooks in sorted(sources.items()):
        found: dict[str, str] = {}
        for notebook in notebooks:
            for line, kind in secret_lines(notebook, delimiters).items():
                found.setdefault(line, kind)
        for line, kind in found.items():
            if len(line) < MIN_SECRET_CHARS or _IMPORT.match(line) or _TABLE_RULE.match(line) or line in public:
                continue
            if kind == "solution" and line in lecture:
                continue
            secrets.setdefault(line, (assignment, kind))
    return secrets


def _forbidden(path: str, source_directory: str) -> bool:
    parts = PurePosixPath(path).parts
    return (source_directory in parts or any(p in FORBIDDEN_PARTS for p in parts)
            or parts[-1] in FORBIDDEN_NAMES or parts[-1].endswith(".pyc"))


def find_leaks(release: str | os.PathLike, sources: dict[str, list[dict]],
               source_directory: str = "solutions", release_directory: str = "exercises",
               delimiters: dict[str, tuple[str, str]] | None = None) -> list[str]:
    """Search a release folder for anything of the instructors' source notebooks.

    Parameters
    ----------
    release : path
        The release folder (a git repository in it is searched too: every object's content).
    sources : dict
        ``{assignment: [source notebook JSON, ...]}``, the notebooks with solutions and hidden
        tests.
    source_directory, release_directory : str
        Names of the source tree (no path of the release may contain it) and of the student
        copies' tree.
    delimiters : dict, optional
        As in :func:`secret_lines`.

    Returns
    -------
    list of str
        One message per problem: a forbidden path (the source tree, ``__pycache__``,
        ``.ipynb_checkpoints``, ``_build``, a gradebook, ...), a git history of more than one
        commit, or a secret line found in a file, in a JSON string of it (notebook and cell
        metadata included) or in a git object. Empty if the release is clean.

    Notes
    -----
    The lines searched for are those of :func:`searched_lines`, with the release's own
    :func:`public_lines`. A line is found when it equals a stripped line of a searched text.
    """
    release = Path(release)
    public, lecture = public_lines(release, release_directory)
    secrets = searched_lines(sources, public, lecture, delimiters)
    problems: list[str] = []

    def search(where: str, name: str, data: bytes) -> None:
        hits = set().union(*(_lines(t) for t in _texts(name, data))) & secrets.keys()
        for line in sorted(hits):
            assignment, kind = secrets[line]
            problems.append(f"{where}: {kind} line of {assignment}: {line[:120]!r}")

    for folder, dirs, files in os.walk(release):
        rel = Path(folder).relative_to(release)
        if rel == Path(".") and ".git" in dirs:
            dirs.remove(".git")
        for name in sorted(dirs + files):
            path = (rel / name).as_posix()
            if _forbidden(path, source_directory):
                problems.append(f"{path}: must not be in a student release")
        for name in sorted(files):
            full = Path(folder) / name
            if not full.is_symlink():
                search((rel / name).as_posix(), name, full.read_bytes())
    if (release / ".git").exists():
        problems += _git_leaks(release, source_directory, search)
    return problems


def _git_leaks(release: Path, source_directory: str, search) -> list[str]:
    """Problems of the release's git repository: history, paths, and every object's content."""
    problems = []
    commits = _git(release, "rev-list", "--all").split()
    if len(commits) != 1:
        problems.append(f".git: {len(commits)} commits; a release has exactly one (no history)")
    for commit in commits:
        for path in _git(release, "ls-tree", "-r", "--name-only", "-z", commit.decode()).split(b"\0"):
            if path and _forbidden(path.decode(errors="replace"), source_directory):
                problems.append(f".git: commit {commit.decode()[:10]} holds {path.decode()}")
    listing = _git(release, "cat-file", "--batch-all-objects", "--batch-check")
    shas = [line.split()[0].decode() for line in listing.splitlines()
            if line.split()[1] in (b"blob", b"commit", b"tag")]
    for sha, data in _blobs(release, shas).items():
        search(f".git object {sha[:10]}", "", data)
    return problems


# -- writing ----------------------------------------------------------------------------------------


def _check_out_dir(out_dir: Path, root: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ReleaseError(f"{out_dir} exists and is not an empty folder: a release is written into "
                           "a new folder; choose one that does not exist yet, or empty it")
    if out_dir.resolve() == root.resolve() or root.resolve() in out_dir.resolve().parents:
        raise ReleaseError(f"{out_dir} is inside the course repository {root}; write the release "
                           "to a folder outside it (it must not be committed with the solutions)")


def _write_entry(base: Path, entry: _Entry, data: bytes) -> None:
    target = base / entry.path
    target.parent.mkdir(parents=True, exist_ok=True)
    if entry.mode == "120000":  # a symlink: it must stay inside the release
        link = data.decode()
        if os.path.isabs(link) or not (target.parent / link).resolve().is_relative_to(base.resolve()):
            raise ReleaseError(f"{entry.path} is a symlink to {link}, outside the release")
        os.symlink(link, target)
        return
    target.write_bytes(data)
    if entry.mode == "100755":
        target.chmod(0o755)


def _git_init(path: Path, source_commit: str, date: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date,
           "GIT_AUTHOR_NAME": "course release", "GIT_AUTHOR_EMAIL": "release@course.invalid",
           "GIT_COMMITTER_NAME": "course release", "GIT_COMMITTER_EMAIL": "release@course.invalid"}
    for args in (["init", "-q"], ["add", "--all", "--force", "--", "."],
                 ["-c", "commit.gpgsign=false", "commit", "-q", "--no-verify", "-m",
                  f"Student release of the course (from commit {source_commit[:12]})"]):
        _git(path, *args, env=env)


def write_release(out_dir: str | os.PathLike, root: str | os.PathLike | None = None,
                  ref: str = "HEAD", git: bool = True) -> Release:
    """Write the student release of the course into the new folder ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Where to write; must not exist or be an empty folder, outside the course repository.
    root : path, optional
        The course repository (default: found as by :func:`~course_lib.grading.find_course`).
    ref : str
        The commit to release (default ``HEAD``): only files committed there are read, never the
        working folder.
    git : bool
        Make the release a git repository with a single commit (default True).

    Returns
    -------
    Release
        The folder, the commit, the files, the assignments and the tests left out.

    Raises
    ------
    ReleaseError
        If ``out_dir`` is not a new folder, ``root`` is not a git repository or ``ref`` is not a
        commit, or :func:`find_leaks` finds anything (then nothing is left at ``out_dir``).
    """
    layout = find_course(root)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, layout.root)
    if not (layout.root / ".git").exists():
        raise ReleaseError(f"{layout.root} is not a git repository: the release is written from the "
                           "committed files of the course repository")
    try:
        commit = _git(layout.root, "rev-parse", "--verify", "--end-of-options",
                      f"{ref}^{{commit}}").decode().strip()
    except ReleaseError:
        raise ReleaseError(f"{ref!r} is not a commit of {layout.root}; pass --ref with a branch, tag "
                           "or commit hash") from None
    date = _git(layout.root, "show", "-s", "--format=%cI", commit).decode().strip()
    entries = _tree(layout.root, commit)
    contents = _blobs(layout.root, sorted({e.sha for e in entries}))
    src, rel = layout.source_directory, layout.release_directory

    chosen = [e for e in entries if released_path(e.path, src, rel)]
    tests = {e.path: contents[e.sha].decode("utf-8", errors="replace") for e in chosen
             if PurePosixPath(e.path).parts[0] == "tests"}
    kept = _student_tests(tests, src)
    excluded = sorted(set(tests) - kept)
    chosen = [e for e in chosen if e.path not in tests or e.path in kept]

    def notebooks(tree: str) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for e in entries:
            parts = PurePosixPath(e.path).parts
            if len(parts) == 3 and parts[0] == tree and parts[2].endswith(".ipynb"):
                found.setdefault(parts[1], []).append(json.loads(contents[e.sha]))
        return found

    sources, students = notebooks(src), notebooks(rel)
    delimiters = _delimiters(layout.config_file)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for entry in chosen:
            _write_entry(work, entry, contents[entry.sha])
        if git:
            _git_init(work, commit, date)
        leaks = find_leaks(work, sources, src, rel, delimiters)
        secrets = len(searched_lines(sources, *public_lines(work, rel), delimiters))
        if leaks:
            raise ReleaseError("the release would leak the instructors' notebooks; nothing was "
                               "written:\n  " + "\n  ".join(dict.fromkeys(leaks)))
        if out_dir.exists():
            out_dir.rmdir()
        work.rename(out_dir)
    finally:
        if work.exists():
            shutil.rmtree(work)

    return Release(
        path=out_dir, ref=commit, files=sorted(e.path for e in chosen),
        assignments=sorted(students), excluded_tests=sorted(excluded), git=git,
        secrets_checked=secrets,
    )
