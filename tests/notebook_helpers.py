"""Reading nbgrader notebooks in the grading tests (test_grading.py, test_assignments.py)."""

from __future__ import annotations

import json
from pathlib import Path


def load_notebook(path: Path) -> dict:
    """The notebook's JSON."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def grade_id(cell: dict) -> str | None:
    """The cell's nbgrader id, or None for a cell nbgrader does not track."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def find_cell(nb: dict, cell_id: str) -> dict:
    """The cell with nbgrader id ``cell_id`` (StopIteration if there is none)."""
    return next(c for c in nb["cells"] if grade_id(c) == cell_id)


def cell_text(cell: dict) -> str:
    """The cell's source as one string (nbformat stores it as a string or a list of lines)."""
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src
