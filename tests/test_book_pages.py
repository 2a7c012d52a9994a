"""The lecture pages and lecture notebooks, read as text (fast; nothing is executed or built).

- Every self-check (a page's *Exercises*, a notebook's *Quiz* or *Exercise*) has a collapsed
  answer (``<details>``) for each of its questions; items that only point to the graded
  assignment are not questions (its answers stay hidden).
- Every ``{glue:...}`` reference names a key that the referenced document glues, and the numbers
  that once were typed into the prose (and drifted from the outputs) are glued now.
- Progress bars can be switched off, so that the built book shows no empty widgets.
- Every chapter page states its prerequisites and expected time; the intro lists every chapter;
  README, the students' page and the intro name the same chapters with a full-size switch as the
  notebooks' parameter cells.

New chapter pages and notebooks are picked up by their file names (``NN_*.md``, ``NN_*.ipynb``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTER_PAGES = sorted((BOOK / "chapters").glob("[0-9][0-9]_*.md"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ALL_PAGES = CHAPTER_PAGES + NOTEBOOKS

SELF_CHECK = re.compile(r"^(#{2,3}) (Exercises?|Quiz)\s*$")
ITEM = re.compile(r"^(\d+)\. ")
ASSIGNMENT_ITEM = re.compile(r"graded assignment|\*Assignments\* tab|`ch\d\d_\w+`")
CODE_CELL = re.compile(r"```\{code-cell\}[^\n]*\n(.*?)```", re.S)
FENCE = re.compile(r"```.*?```", re.S)
GLUE_ROLE = re.compile(r"\{glue(?::(\w+))?\}`([^`]+)`")
GLUE_CALL = re.compile(r"""\bglue\(\s*(f?)(["'])(.+?)\2""")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _markdown_blocks(path: Path) -> list[str]:
    """The prose of a page: the markdown cells of a notebook, or a MyST page without its code."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    return [FENCE.sub("", path.read_text())]


def _code_cells(path: Path) -> list[str]:
    """The source of every code cell (MyST cell options such as ``:tags:`` removed)."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    return [re.sub(r"\A(?::[^\n]*\n)+", "", body) for body in CODE_CELL.findall(path.read_text())]


def _code(path: Path) -> str:
    return "\n".join(_code_cells(path))


def self_checks(path: Path) -> list[dict]:
    """Every self-check section of a page: its heading, question numbers and answer numbers.

    A section runs from its heading to the next heading of the same or a higher level (or the end
    of the notebook cell). Questions are the numbered items before the ``<details>`` block (one
    question if the section is a single paragraph); answers are the numbered items inside it (one
    answer if it is a single paragraph).
    """
    sections = []
    for block in _markdown_blocks(path):
        lines = block.splitlines()
        for start, line in enumerate(lines):
            m = SELF_CHECK.match(line)
            if not m:
                continue
            level = len(m.group(1))
            end = next((k for k in range(start + 1, len(lines))
                        if re.match(rf"^#{{1,{level}}} ", lines[k])), len(lines))
            body = lines[start + 1:end]
            in_details, questions, answers, prose, answer_prose = False, [], [], False, False
            skipped = []
            current = None
            for text in body:
                if text.strip().startswith("<details"):
                    in_details, current = True, None
                    continue
                if text.strip().startswith("</details"):
                    in_details = False
                    continue
                item = ITEM.match(text)
                if in_details:
                    if item:
                        answers.append(int(item.group(1)))
                    elif text.strip() and not text.strip().startswith("<summary"):
                        answer_prose = True
                elif item:
                    current = int(item.group(1))
                    questions.append(current)
                    if ASSIGNMENT_ITEM.search(text):
                        skipped.append(current)
                elif current is not None and text.startswith("   ") and ASSIGNMENT_ITEM.search(text):
                    skipped.append(current)  # the continuation line of an item
                elif text.strip():
                    prose = True
            questions = [q for q in questions if q not in skipped]
            if not questions and prose:
                questions = [1]
            if not answers and answer_prose:
                answers = [1]
            sections.append({"heading": line, "questions": questions, "answers": answers})
    return sections


@pytest.mark.parametrize("path", ALL_PAGES, ids=_rel)
def test_every_self_check_question_has_an_answer(path):
    sections = self_checks(path)
    assert sections, f"{_rel(path)} has no Exercises/Quiz section"
    for s in sections:
        assert s["questions"], f"{_rel(path)}: {s['heading']!r} has no question"
        assert s["answers"] == s["questions"], (
            f"{_rel(path)}: {s['heading']!r} asks {s['questions']} but answers {s['answers']} "
            "(write one numbered answer per question in a <details> block after the questions)")


def test_self_check_counter_counts_what_it_should(tmp_path):
    page = tmp_path / "99_x.md"
    page.write_text(
        "## Exercises\n\n1. One?\n2. Two,\n   on two lines?\n3. The graded assignment **`ch99_x`** asks\n"
        "   you to rebuild it.\n\n<details>\n<summary>Answers</summary>\n\n1. Yes.\n\n</details>\n\n"
        "## References\n\n1. Not a question.\n")
    (section,) = self_checks(page)
    assert section["questions"] == [1, 2] and section["answers"] == [1]


def _glue_keys(path: Path) -> tuple[set[str], list[re.Pattern]]:
    literal, patterns = set(), []
    for is_f, _, key in GLUE_CALL.findall(_code(path)):
        if is_f:
            patterns.append(re.compile("^" + re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(key)) + "$"))
        else:
            literal.add(key)
    return literal, patterns


def glue_references(path: Path) -> list[tuple[Path, str, str]]:
    """``(document, key, format)`` of every glue role in the prose of ``path``."""
    refs = []
    for block in _markdown_blocks(path):
        for _, content in GLUE_ROLE.findall(block):
            doc = path
            if "::" in content:
                rel, content = content.split("::", 1)
                doc = (path.parent / rel).resolve()
            key, _, fmt = content.partition(":")
            refs.append((doc, key, fmt))
    return refs


@pytest.mark.parametrize("path", ALL_PAGES, ids=_rel)
def test_every_glue_reference_is_glued(path):
    for block in _markdown_blocks(path):
        for _, content in GLUE_ROLE.findall(block):
            if "::" in content:
                # myst-nb splits 'doc::key' from the right at ':' first: without a format the
                # key would lose its last character
                assert re.search(r"::[^:]+:[^:]+$", content), (
                    f"{_rel(path)}: cross-document glue {content!r} needs a format, e.g. ':.2f' or ':s'")
    for doc, key, fmt in glue_references(path):
        assert doc.is_file(), f"{_rel(path)}: glue reference to a missing document {doc}"
        literal, patterns = _glue_keys(doc)
        assert key in literal or any(p.match(key) for p in patterns), (
            f"{_rel(path)}: {{glue}} key {key!r} is not glued in {doc.name}")


# Numbers that the prose once quoted by hand and that had drifted from (or contradicted) the
# executed cells beside them: they must come from glue now.
FORMERLY_TYPED = [
    ("book/chapters/01_composition.md", "0.15–0.17", "ch01_mae_mat2vec"),
    ("book/chapters/02_embeddings.md", "0.54 at 10", "ch02_agree_k10"),
    ("book/chapters/02_embeddings.md", "at 0.3–0.5", "ch02_others_max"),
    ("book/chapters/01_composition.md", "0.25–0.28", "ch01_mae_random_200"),
    ("notebooks/01_composition.ipynb", "Random vectors are no better than one-hot", "ch01_mae_one_hot"),
    ("book/chapters/06_soap.md", "The alkanes are most similar", "ch06_k_CH4_CH3OH"),
    ("book/chapters/07_cgcnn.md", "about 0.15-0.25 eV/atom", "ch07_dev_sio2"),
]


@pytest.mark.parametrize("page, typed, key", FORMERLY_TYPED)
def test_formerly_typed_numbers_are_glued(page, typed, key):
    path = ROOT / page
    prose = "\n".join(_markdown_blocks(path))
    assert typed not in prose, f"{page}: {typed!r} is back in the prose; glue the number instead"
    assert key in {k for _, k, _ in glue_references(path)}, f"{page}: {key!r} is no longer glued"


def test_pages_do_not_talk_about_the_course_copy_of_a_source():
    for path in ALL_PAGES:
        prose = "\n".join(_markdown_blocks(path)).lower()
        for phrase in ("our copy", "in our pdf", "our download"):
            assert phrase not in prose, f"{_rel(path)}: {phrase!r}"


def _strip_magics(code: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())


def _progress_callables(tree: ast.AST) -> set[str]:
    """Names imported from course_lib whose ``progress`` argument defaults to True."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_lib"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                obj = getattr(module, alias.name, None)
                target = obj.__init__ if inspect.isclass(obj) else obj
                try:
                    param = inspect.signature(target).parameters.get("progress")
                except (TypeError, ValueError):
                    continue
                if param is not None and param.default is True:
                    names.add(alias.asname or alias.name)
    return names


def _dataset_has_progress(call: ast.Call) -> bool:
    """Whether ``load_dataset(name, ...)`` accepts ``progress`` (True when the name is not a literal)."""
    from course_lib.data import dataset_info
    from course_lib.data import loaders

    if not call.args or not isinstance(call.args[0], ast.Constant):
        return True
    info = dataset_info(call.args[0].value)
    loader = loaders._LOADERS.get(info.name) or loaders._KIND_LOADERS[info.kind]
    return "progress" in inspect.signature(loader).parameters


@pytest.mark.parametrize("path", ALL_PAGES, ids=_rel)
def test_progress_bars_can_be_switched_off(path):
    """The book executes the default run; a tqdm widget there renders as an empty box.

    So every progress bar of a page has its switch set explicitly (``progress=`` for course_lib,
    ``disable=`` for tqdm), and the notebooks turn bars on only for the long run.
    """
    tree = ast.Module(body=[node for cell in _code_cells(path)
                            for node in ast.parse(_strip_magics(cell)).body], type_ignores=[])
    progress = _progress_callables(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        keywords = {k.arg for k in node.keywords}
        if name == "tqdm":
            assert "disable" in keywords, f"{_rel(path)} line {node.lineno}: tqdm(...) without disable="
        if name == "load_dataset" and not _dataset_has_progress(node):
            assert "progress" not in keywords, (
                f"{_rel(path)} line {node.lineno}: this dataset's loader has no progress option")
        elif name in progress or name == "load_dataset":
            assert "progress" in keywords, (
                f"{_rel(path)} line {node.lineno}: {name}(...) shows a progress bar by default; "
                "pass progress=... (False, or a parameter that is True only for the long run)")


@pytest.mark.parametrize("path", CHAPTER_PAGES, ids=_rel)
def test_chapter_pages_state_prerequisites_and_time(path):
    text = path.read_text()
    for label in ("**Prerequisites:**", "**Expected time:**"):
        assert label in text, f"{_rel(path)} has no {label} line"
    intro = (BOOK / "intro.md").read_text()
    assert f"chapters/{path.stem}" in intro, f"book/intro.md does not list {path.stem}"


def _parameter_cell(path: Path) -> str:
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{_rel(path)}: expected one cell tagged 'parameters', found {len(cells)}"
    return "".join(cells[0]["source"])


def _chapter_list(text: str) -> set[int]:
    m = re.search(r"[Cc]hapters? ((?:\d+, )*\d+(?: and \d+)?)", text)
    assert m, f"no chapter list in {text[:120]!r}"
    return {int(n) for n in re.findall(r"\d+", m.group(1))}


def test_one_statement_of_the_full_size_switch():
    switch, gpu = set(), set()
    for path in NOTEBOOKS:
        line = next((l for l in _parameter_cell(path).splitlines() if l.startswith("FULL_SIZE")), None)
        if line is not None:
            switch.add(int(path.name[:2]))
            if "GPU" in line:
                gpu.add(int(path.name[:2]))
    assert switch, "no notebook has a FULL_SIZE switch"
    for doc in ("README.md", "book/students.md", "book/intro.md"):
        text = re.sub(r"\s+", " ", (ROOT / doc).read_text())
        sentences = re.split(r"(?<=[.;:|])\s", text)
        named = [s for s in sentences if "full-size switch" in s]
        assert named, f"{doc} does not say which chapters have a full-size switch"
        assert _chapter_list(named[0]) == switch, (doc, named[0], sorted(switch))
        on_gpu = [s for s in sentences if "need a GPU" in s]
        assert on_gpu, f"{doc} does not say which full-size runs need a GPU"
        listed = re.search(r"chapters? ((?:\d+, )*\d+(?: and \d+)?) need a GPU", on_gpu[0])
        assert listed and {int(n) for n in re.findall(r"\d+", listed.group(1))} == gpu, (
            doc, on_gpu[0], sorted(gpu))
