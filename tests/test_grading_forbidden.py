"""A part whose answer calls the library function the assignment forbids scores 0, flagged.

Every assignment asks students to rebuild functions that a library already has; the hidden tests
call the student's function inside ``course_lib.grading.guard.forbidden_calls``. Here the
solution notebook gets answers that import the reference instead (ch05: part 1 through the course's
own reference step, part 5 through ``course_lib.descriptors.acsf``; ch03: part 2 through ASE; ch06:
part 5 through ``soap_kernel``; ch04: part 1 through ``coulomb_matrix``; ch01: parts 1 and 5 through
``course_lib.composition``; ch02: part 1 through ``cooccurrence_matrix``, part 4 through the
embedding's ``nearest`` method; ch07: part 1 through ``build_crystal_graph``, part 5 through
``course_lib.training.Normalizer``; ch08: parts 1 and 4 through ``course_lib.crysatom``) and is
graded with the real grader: those parts score 0, the report names the forbidden function in the
part's error, in ``forbidden_calls`` (JSON) and in the text summary, and every other part keeps
its points (the later ch05 parts run on reference steps built on the same library functions).
nbgrader's CSV export of that grading (the course's export plugin) names the flagged parts too.
"""

from __future__ import annotations

import copy
import csv
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("nbgrader")

from course_lib.grading import grade_notebook  # noqa: E402
from notebook_helpers import find_cell, load_notebook  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: assignment -> {solution cell: source that calls the reference}, {test cell: forbidden function}
CHEATS = {
    "ch05_acsf": (
        {
            "part1_cutoff_solution": (
                "def cutoff_function(r, r_cut):\n"
                "    from course_lib.grading.steps import REFERENCE_STEPS\n"
                "    return REFERENCE_STEPS['ch05_acsf']['cutoff_function'](r, r_cut)\n"
            ),
            "part5_matrix_solution": (
                "def acsf_matrix(positions, symbols, species, r_cut, g2_params, g4_params):\n"
                "    from ase import Atoms\n"
                "    from course_lib.descriptors import acsf\n"
                "    return acsf(Atoms(list(symbols), positions=positions), species, r_cut,\n"
                "                g2_params=g2_params or None, g4_params=g4_params or None)\n"
            ),
        },
        {"part1_cutoff": "course_lib.descriptors.acsf._cutoff_of_square",
         "part5_matrix": "course_lib.descriptors.acsf.acsf"},
    ),
    "ch06_soap": (
        {
            "part5_kernel_solution": (
                "def normalised_kernel(pa, pb, zeta):\n"
                "    from course_lib.descriptors import soap_kernel\n"
                "    return soap_kernel(pa, pb, zeta=zeta)\n"
            ),
        },
        {"part5_kernel": "course_lib.descriptors.soap.soap_kernel"},
    ),
    "ch04_coulomb": (
        {
            "part1_coulomb_solution": (
                "def coulomb(numbers, positions):\n"
                "    from ase import Atoms\n"
                "    from course_lib.descriptors import coulomb_matrix\n"
                "    return coulomb_matrix(Atoms(numbers=numbers, positions=positions), permutation='none',\n"
                "                          flatten=False)\n"
            ),
        },
        {"part1_coulomb": "course_lib.descriptors.coulomb.coulomb_matrix"},
    ),
    "ch03_invariances": (
        {
            "part2_mic_solution": (
                "def minimum_image_distances(positions, cell):\n"
                "    from ase.geometry import get_distances\n"
                "    return get_distances(positions, cell=cell, pbc=True)[1]\n"
            ),
        },
        {"part2_mic": "ase.geometry.geometry.get_distances"},
    ),
    "ch01_composition": (
        {
            "part1_one_hot_solution": (
                "def one_hot(symbol):\n"
                "    from course_lib.composition import one_hot as library_one_hot\n"
                "    return library_one_hot(symbol)\n"
            ),
            "part5_pool_solution": (
                "def pool(composition, embedding, stats):\n"
                "    import course_lib.composition\n"
                "    return course_lib.composition.composition_features(composition, embedding, stats)\n"
            ),
        },
        {"part1_one_hot": "course_lib.composition.one_hot",
         "part5_pool": "course_lib.composition.composition_features"},
    ),
    "ch02_embeddings": (
        {
            "part1_cooccurrence_solution": (
                "def cooccurrence_counts(pairs, symbols):\n"
                "    from course_lib.embeddings import cooccurrence_matrix\n"
                "    return cooccurrence_matrix(pairs, symbols=symbols).to_numpy()\n"
            ),
            "part4_nearest_solution": (
                "def nearest_neighbours(embedding, symbol, k):\n"
                "    return [s for s, _ in embedding.nearest(symbol, k)]\n"
            ),
        },
        {"part1_cooccurrence": "course_lib.embeddings.cooccurrence.cooccurrence_matrix",
         "part4_nearest": "course_lib.embeddings.metrics.KeyedVectorsMetrics.nearest"},
    ),
    "ch07_cgcnn": (
        {
            "part1_neighbors_solution": (
                "def neighbor_list(positions, cell, radius, max_neighbors):\n"
                "    from pymatgen.core import Lattice, Structure\n"
                "    from course_lib.graphs import build_crystal_graph\n"
                "    s = Structure(Lattice(cell), ['H'] * len(positions), positions, coords_are_cartesian=True)\n"
                "    g = build_crystal_graph(s, radius=radius, max_neighbors=max_neighbors, gaussian_step=0.5)\n"
                "    return g.neighbor_index.numpy(), g.distances.numpy()\n"
            ),
            "part5_step_solution": (
                "def training_step(model, batch, optimizer, mean, std):\n"
                "    from course_lib.training import Normalizer\n"
                "    optimizer.zero_grad()\n"
                "    loss = torch.nn.functional.mse_loss(model(batch), Normalizer(mean, std).norm(batch.target))\n"
                "    loss.backward()\n"
                "    optimizer.step()\n"
                "    return loss.item()\n"
            ),
        },
        {"part1_neighbors": "course_lib.graphs.build_crystal_graph",
         "part5_step": "course_lib.training.Normalizer.norm"},
    ),
    "ch08_crysatom": (
        {
            "part1_count_solution": (
                "def masked_count(fraction, n):\n"
                "    from course_lib import crysatom\n"
                "    return crysatom.masked_count(fraction, n)\n"
            ),
            "part4_barlow_solution": (
                "def barlow_twins_loss(z1, z2, lambd=0.0051, eps=1e-5):\n"
                "    import torch\n"
                "    from course_lib.crysatom import barlow_twins_loss as reference\n"
                "    return float(reference(torch.tensor(np.array(z1)), torch.tensor(np.array(z2)), lambd, eps))\n"
            ),
        },
        {"part1_count": "course_lib.crysatom.masked_count",
         "part4_barlow": "course_lib.crysatom.barlow_twins_loss"},
    ),
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forbidden")

    def grade(assignment):
        nb = copy.deepcopy(load_notebook(ROOT / "solutions" / assignment / f"{assignment}.ipynb"))
        for cell_id, source in CHEATS[assignment][0].items():
            find_cell(nb, cell_id)["source"] = source
        path = folder / f"{assignment}.ipynb"
        path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
        # keep the temporary nbgrader course (gradebook, autograded notebook) for the export test
        return assignment, grade_notebook(path, assignment, root=ROOT, keep=folder / f"{assignment}_course")

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(grade, CHEATS))


@pytest.mark.parametrize("assignment", sorted(CHEATS))
def test_forbidden_call_scores_zero_and_is_flagged(assignment, reports):
    report = reports[assignment]
    flagged = CHEATS[assignment][1]
    assert report.graded, report.errors
    assert report.forbidden_calls == {part: [fn] for part, fn in flagged.items()}, [
        (p.id, p.error) for p in report.parts if p.kind == "auto" and not p.passed]
    summary = report.summary()
    as_json = json.loads(report.to_json())
    for part_id, function in flagged.items():
        part = report.part(part_id)
        assert part.points == 0 and part.passed is False and part.forbidden_calls == [function]
        assert part.error.startswith(f"forbidden call: {function} ("), part.error
        assert f"{part_id}: 0/{part.max_points:g} FAILED -- forbidden call: {function}" in summary
        assert next(p for p in as_json["parts"] if p["id"] == part_id)["forbidden_calls"] == [function]
    others = [p for p in report.parts if p.kind == "auto" and p.id not in flagged]
    assert others and all(p.passed and not p.forbidden_calls for p in others), [
        (p.id, p.error) for p in others if not p.passed]
    assert report.score == report.max_score - sum(report.part(p).max_points for p in flagged)


def test_export_flags_the_forbidden_calls(reports, tmp_path):
    from nbgrader.api import Gradebook
    from traitlets.config import Config

    from course_lib.grading.course import use_alembic_api
    from course_lib.grading.export import CourseCsvExportPlugin

    use_alembic_api(force=True)  # what nbgrader_config.py does
    course = Path(reports["ch05_acsf"].submission).parent / "ch05_acsf_course"
    config = Config()
    config.CourseDirectory.root = str(course)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        CourseCsvExportPlugin(to=str(tmp_path / "grades.csv"), config=config).export(gb)
    with open(tmp_path / "grades.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert float(row["raw_score"]) == reports["ch05_acsf"].score == 8.0
    assert row["flags"] == ("forbidden call: part1_cutoff (course_lib.descriptors.acsf._cutoff_of_square); "
                            "forbidden call: part5_matrix (course_lib.descriptors.acsf.acsf)")


def test_cli_prints_the_text_summary(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.ipynb"
    bad.write_text("not a notebook", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "course_lib.grading", "grade", str(bad), "-a", "ch05_acsf",
                          "--text"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("ch05_acsf: 0 of 13 autograded points") and lines[0].endswith("NOT GRADED")
    assert "  part1_cutoff: 0/2 FAILED -- not graded: the submission could not be read" in lines
    assert any(line.startswith("  problem: the submitted file is not a notebook") for line in lines)
