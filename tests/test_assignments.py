"""Round-trip tests of the graded assignments of chapters 2-10, one table row per assignment.

For every assignment: the solution scores full marks, the untouched student copy scores zero on
every autograded part, a submission that solves only some parts scores exactly those, the hidden
tests and solutions do not leak into the student copy, and exercises/ is in sync with solutions/.
Chapter 1's assignment has its own, longer file (tests/test_grading.py) that also covers the
grader's robustness (infinite loops, deleted and duplicated cells, the CLI).

Each assignment's three notebooks are graded once, in parallel, by a module-scoped fixture.
"""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("nbgrader")

from course_lib.grading import check_sync, find_course, grade_notebook  # noqa: E402
from notebook_helpers import cell_text as _text, find_cell as _cell, grade_id as _grade_id, load_notebook as _load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Assignment:
    name: str
    #: autograded test cell id -> points
    auto_parts: dict[str, int]
    #: the manually graded answer cell
    manual_part: str
    #: parts solved in the "partial" submission
    partial: tuple[str, ...]
    #: strings of the solutions or hidden tests that must not appear in the student copy
    secrets: tuple[str, ...]

    @property
    def solution(self) -> Path:
        return ROOT / "solutions" / self.name / f"{self.name}.ipynb"

    @property
    def exercise(self) -> Path:
        return ROOT / "exercises" / self.name / f"{self.name}.ipynb"

    @property
    def full(self) -> int:
        return sum(self.auto_parts.values())


ASSIGNMENTS = [
    Assignment(
        "ch02_embeddings",
        {
            "part1_cooccurrence": 2,
            "part2_svd": 3,
            "part3_skipgram": 3,
            "part4_nearest": 2,
            "part5_pool": 2,
            "part6_agreement": 3,
            "part8_species": 3,
        },
        "part7_dimension",
        ("part1_cooccurrence", "part3_skipgram", "part5_pool"),
        ("svd_embedding", "embedding_agreement", "cooccurrence_matrix", "SpeciesCompositionalEmbedding(amounts"),
    ),
    Assignment(
        "ch03_invariances",
        {"part1_fractional": 2, "part2_mic": 3, "part3_compare": 3, "part4_primitive": 3, "part5_shells": 2},
        "part6_invariances",
        ("part1_fractional", "part3_compare", "part4_primitive"),
        ("forbidden_calls", "_reference", "f[f >= 1.0] = 0.0", "np.histogram(d, bins=edges)",
         "kept = np.array", "check_invariance("),
    ),
    Assignment(
        "ch04_coulomb",
        {"part1_coulomb": 2, "part2_pad": 1, "part3_sort": 2, "part4_eigen": 2, "part5_sine": 3,
         "part6_random": 2},
        "part7_cell",
        ("part1_coulomb", "part3_sort", "part5_sine"),
        ("from course_lib.descriptors import", "assert_close", "_random_molecule", "_random_crystal",
         "np.sin(np.pi * frac) ** 2"),
    ),
    Assignment(
        "ch05_acsf",
        {"part1_cutoff": 2, "part2_g2": 3, "part3_g4": 3, "part4_channels": 2, "part5_matrix": 3},
        "part6_parameters",
        ("part1_cutoff", "part2_g2", "part4_channels"),
        ("from course_lib.descriptors import", "random_molecule", "np.cos(np.pi * r / r_cut)"),
    ),
    Assignment(
        "ch06_soap",
        {"part1_density": 2, "part2_radial": 3, "part3_coefficients": 3, "part4_power": 3, "part5_kernel": 2},
        "part6_invariance",
        ("part1_density", "part2_radial", "part4_power"),
        ("from course_lib.descriptors import", "_gto_basis", "sqrtm(inv(overlap))"),
    ),
    Assignment(
        "ch07_cgcnn",
        {"part1_neighbors": 3, "part2_gaussian": 1, "part3_conv": 3, "part4_pool": 2, "part5_step": 3},
        "part6_graph_limits",
        ("part1_neighbors", "part3_conv", "part5_step"),
        ("layer.fc_full.weight.copy_", "np.logaddexp(0.0, v + bn(messages))", "Trainer(", "gaussian_centres",
         "np.add.at", "_my_crystals", "within = {r: (dist <= r)", "Rubric"),
    ),
    Assignment(
        "ch08_crysatom",
        {"part1_count": 1, "part2_atoms": 2, "part3_edges": 2, "part4_barlow": 3, "part5_decoder": 3,
         "part6_average": 2},
        "part7_average",
        ("part1_count", "part2_atoms", "part4_barlow"),
        ("from course_lib.crysatom import", "_random_graph", "_reference_", "np.flatnonzero(real.ravel())",
         "np.logaddexp(0.0, u)"),
    ),
    Assignment(
        "ch09_correlations",
        {"part1_density": 3, "part2_radial": 1, "part3_power": 2, "part4_bispectrum": 3, "part5_lambda": 3,
         "part6_rotate": 2, "part7_pseudo": 3, "part8_separating": 2},
        "part9_body_order",
        ("part1_density", "part4_bispectrum", "part7_pseudo"),
        ("forbidden_calls", "lambda_soap_from_coefficients", "alchemical_compression(", "_homometric",
         "Mij,ani,bmj,ckM->abcnmk", "R[np.ix_(order, order)]", "Rubric"),
    ),
    Assignment(
        "ch10_text",
        {"part1_tfidf": 3, "part2_ranking": 2, "part3_recall": 3, "part4_robust": 2, "part5_text_recall": 3},
        "part6_definition",
        ("part1_tfidf", "part3_recall", "part4_robust"),
        ("forbidden_calls", "_reference_", "TfidfVectorizer(analyzer=list", "np.take_along_axis",
         "relevance_from_labels", "Rubric"),
    ),
]
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION", "fresh_rng")


def _passed(report) -> set[str]:
    return {p.id for p in report.parts if p.kind == "auto" and p.passed}


@pytest.fixture(scope="module", params=ASSIGNMENTS, ids=[a.name for a in ASSIGNMENTS])
def assignment(request) -> Assignment:
    return request.param


@pytest.fixture(scope="module")
def reports(assignment, tmp_path_factory):
    """The grader's reports of the solution, the untouched student copy and a partial submission."""
    folder = tmp_path_factory.mktemp(assignment.name)
    solution, exercise = _load(assignment.solution), _load(assignment.exercise)
    partial = copy.deepcopy(exercise)
    for part in assignment.partial:
        _cell(partial, f"{part}_solution")["source"] = _text(_cell(solution, f"{part}_solution"))
    partial_path = folder / "partial.ipynb"
    partial_path.write_text(json.dumps(partial, indent=1), encoding="utf-8")
    paths = {"solution": assignment.solution, "student": assignment.exercise, "partial": partial_path}

    def grade(name):
        return name, grade_notebook(paths[name], assignment.name, root=ROOT)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(grade, paths))


def test_table_lists_every_assignment():
    """A new assignment in solutions/ must get a row here (chapter 1 is tested in test_grading.py)."""
    found = set(find_course(ROOT).assignments()) - {"ch01_composition"}
    assert found == {a.name for a in ASSIGNMENTS}


def test_assignment_has_at_least_five_autograded_parts(assignment):
    nb = _load(assignment.solution)
    grades = {
        _grade_id(c): c["metadata"]["nbgrader"]["points"]
        for c in nb["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade") and not c["metadata"]["nbgrader"]["solution"]
    }
    assert grades == assignment.auto_parts and len(grades) >= 5


def test_hidden_tests_draw_fresh_random_cases(assignment):
    nb = _load(assignment.solution)
    for part in assignment.auto_parts:
        hidden = _text(_cell(nb, part)).split("### BEGIN HIDDEN TESTS")[1]
        # seeded per student and part (course_lib.grading.testing.hidden_rng): regrading is reproducible
        assert f'hidden_rng("{part}")' in hidden and "seed" in hidden, part
        assert any(f"range({n})" in hidden for n in range(10, 40)), f"{part}: too few random cases"


def test_hidden_tests_and_solutions_absent_from_exercises(assignment):
    solution, exercise = _load(assignment.solution), _load(assignment.exercise)
    text = json.dumps(exercise)
    for marker in HIDDEN_MARKERS + assignment.secrets:
        assert marker not in text, marker
    for part in assignment.auto_parts:
        visible = _text(_cell(solution, part)).split("### BEGIN HIDDEN TESTS")[0].strip()
        assert _text(_cell(exercise, part)).strip().startswith(visible)
        stub = _text(_cell(exercise, f"{part}_solution"))
        assert "# YOUR CODE HERE" in stub and "raise NotImplementedError()" in stub
    assert _text(_cell(exercise, assignment.manual_part)) == "YOUR ANSWER HERE"
    for nb in (solution, exercise):
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None


def test_exercises_in_sync_with_solutions(assignment):
    assert not [d for d in check_sync(root=ROOT) if assignment.name in d]


def test_solution_scores_full_marks(assignment, reports):
    report = reports["solution"]
    assert report.graded and report.hidden_tests and report.errors == []
    assert report.score == report.max_score == assignment.full
    assert _passed(report) == set(assignment.auto_parts)
    manual = report.part(assignment.manual_part)
    assert manual.kind == "manual" and manual.needs_manual_grading


def test_untouched_student_copy_scores_zero(assignment, reports):
    report = reports["student"]
    assert report.graded and report.score == 0 and report.max_score == assignment.full
    for part in (p for p in report.parts if p.kind == "auto"):
        assert not part.passed and part.points == 0 and "NotImplementedError" in part.error
    assert report.part(assignment.manual_part).points == 0


def test_partial_submission_scores_only_its_parts(assignment, reports):
    report = reports["partial"]
    assert _passed(report) == set(assignment.partial)
    assert report.score == sum(assignment.auto_parts[p] for p in assignment.partial)
