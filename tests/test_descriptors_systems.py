"""Input conversion, validation, error messages and the neighbour search of course_lib.descriptors."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.neighborlist import neighbor_list

from course_lib.descriptors import acsf, coulomb_matrix, featurize, sine_matrix, soap
from course_lib.descriptors import _systems
from course_lib.descriptors._systems import as_system, neighbor_pairs, parse_species

pmg = pytest.importorskip("pymatgen.core")
AseAtomsAdaptor = pytest.importorskip("pymatgen.io.ase").AseAtomsAdaptor


def random_cell(seed, n=6, skew=0.8):
    rng = np.random.default_rng(seed)
    while True:
        cell = np.diag(rng.uniform(3.5, 6.0, 3)) + rng.uniform(-skew, skew, (3, 3))
        atoms = Atoms(rng.choice(["H", "C", "O"], n), scaled_positions=rng.uniform(0, 1, (n, 3)),
                      cell=cell, pbc=True)
        d = atoms.get_all_distances(mic=True)
        if d[np.triu_indices(n, 1)].min() > 0.8:
            return atoms


# ----------------------------------------------------------------------------- conversion


def test_ase_and_pymatgen_inputs_give_identical_descriptors():
    water = molecule("H2O")
    mol = AseAtomsAdaptor.get_molecule(water)
    assert np.array_equal(coulomb_matrix(water), coulomb_matrix(mol))
    assert np.array_equal(acsf(water, ["H", "O"], 4.0, g2_params=[[1, 0]]), acsf(mol, ["H", "O"], 4.0, g2_params=[[1, 0]]))
    nacl = bulk("NaCl", "rocksalt", 5.64)
    struct = AseAtomsAdaptor.get_structure(nacl)
    assert np.allclose(sine_matrix(nacl), sine_matrix(struct), rtol=1e-12)
    kw = dict(species=["Na", "Cl"], r_cut=4.0, n_max=3, l_max=3, periodic=True)
    assert np.allclose(soap(nacl, **kw), soap(struct, **kw), rtol=1e-12)
    assert np.allclose(acsf(nacl, ["Na", "Cl"], 5.0, periodic=True), acsf(struct, ["Na", "Cl"], 5.0, periodic=True))


def test_pymatgen_molecule_is_finite_and_structure_periodic():
    s = as_system(AseAtomsAdaptor.get_molecule(molecule("NH3")))
    assert not s.is_periodic and s.symbols == ["N", "H", "H", "H"]
    s = as_system(pmg.Structure(np.eye(3) * 3, ["Cu"], [[0, 0, 0]]))
    assert s.is_periodic and np.allclose(s.cell, np.eye(3) * 3)


def test_disordered_pymatgen_structure_is_rejected():
    s = pmg.Structure(np.eye(3) * 3, [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]])
    with pytest.raises(ValueError, match="disordered"):
        soap(s, ["Cu", "Au"], 4.0, 2, 2)


def test_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="ase.Atoms"):
        coulomb_matrix(np.zeros((3, 3)))


def test_parse_species_sorts_and_accepts_symbols_or_numbers():
    assert parse_species(["O", 1, "H", 8]).tolist() == [1, 8]
    with pytest.raises(ValueError, match="not a chemical symbol"):
        parse_species(["Xx"])
    with pytest.raises(ValueError, match="empty"):
        parse_species([])
    with pytest.raises(ValueError, match="list of chemical symbols"):
        parse_species("H")


# --------------------------------------------------------------------------------- errors


def test_empty_structure():
    with pytest.raises(ValueError, match="no atoms"):
        coulomb_matrix(Atoms())
    with pytest.raises(ValueError, match="no atoms"):
        soap(Atoms(), ["H"], 3.0, 2, 2)


def test_close_atoms_are_named():
    atoms = Atoms("HOH", positions=[[0, 0, 0], [0, 0, 1.0], [0, 0, 1.05]])
    for call in (
        lambda: coulomb_matrix(atoms),
        lambda: acsf(atoms, ["H", "O"], 3.0),
        lambda: soap(atoms, ["H", "O"], 3.0, 2, 2),
    ):
        with pytest.raises(ValueError, match=r"atom 1 \(O\) and atom 2 \(H\) are 0.05 angstrom apart"):
            call()


def test_close_periodic_image_is_detected():
    atoms = Atoms("H2", positions=[[0, 0, 0.02], [0, 0, 1.5]], cell=[3.0, 3.0, 3.0], pbc=True)
    atoms.positions[1] = [0, 0, 2.97]  # 0.05 angstrom from the image of atom 0
    with pytest.raises(ValueError, match="atom 0 .* and atom 1 .* 0.05 angstrom"):
        sine_matrix(atoms)
    with pytest.raises(ValueError, match="0.05 angstrom"):
        acsf(atoms, ["H"], 2.0, periodic=True)
    # tiny lattice vector: an atom next to its own image
    tiny = Atoms("H", positions=[[0, 0, 0]], cell=[0.05, 3, 3], pbc=True)
    with pytest.raises(ValueError, match="periodic image of itself"):
        soap(tiny, ["H"], 3.0, 2, 2, periodic=True)


def test_unknown_species_is_named():
    with pytest.raises(ValueError, match=r"contains O \(Z=8\).*Add every element"):
        acsf(molecule("H2O"), ["H"], 3.0)
    with pytest.raises(ValueError, match=r"C \(Z=6\)"):
        soap(molecule("CH4"), ["H", "O"], 3.0, 2, 2)


def test_bad_numbers_are_rejected():
    water = molecule("H2O")
    with pytest.raises(ValueError, match="r_cut must be a positive"):
        acsf(water, ["H", "O"], 0.0)
    with pytest.raises(ValueError, match="r_cut must be a positive"):
        soap(water, ["H", "O"], -1.0, 2, 2)
    with pytest.raises(ValueError, match="n_max must be an integer >= 1"):
        soap(water, ["H", "O"], 3.0, 0, 2)
    with pytest.raises(ValueError, match="l_max must be an integer >= 0"):
        soap(water, ["H", "O"], 3.0, 2, -1)
    bad = water.copy()
    bad.positions[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        coulomb_matrix(bad)
    dummy = Atoms("XH", positions=[[0, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match="atomic number"):
        coulomb_matrix(dummy)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_cells_are_rejected_by_every_descriptor(value):
    crystal = bulk("NaCl", "rocksalt", 5.64)
    bad = crystal.copy()
    cell = bad.cell.array.copy()
    cell[1, 2] = value
    bad.set_cell(cell)
    calls = {
        "coulomb_matrix": lambda s: coulomb_matrix(s),
        "sine_matrix": lambda s: sine_matrix(s),
        "acsf": lambda s: acsf(s, ["Na", "Cl"], 4.0, periodic=True),
        "soap": lambda s: soap(s, ["Na", "Cl"], 4.0, 2, 2, periodic=True),
    }
    for name, call in calls.items():
        call(crystal)  # the finite cell works
        with pytest.raises(ValueError, match=r"the system has a non-finite \(NaN or inf\) cell"):
            call(bad)
    with pytest.raises(ValueError, match=r"structure 1 has a non-finite \(NaN or inf\) cell"):
        featurize([crystal, bad], "sine_matrix", progress=False)
    pmg_bad = AseAtomsAdaptor.get_structure(crystal)
    pmg_bad.lattice = pmg.Lattice(cell)
    with pytest.raises(ValueError, match="non-finite"):
        sine_matrix(pmg_bad)


def test_batch_errors_name_the_structure():
    good = molecule("H2O")
    bad = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.01]])
    with pytest.raises(ValueError, match="structure 2: atom 0"):
        featurize([good, good, bad], "coulomb_matrix", progress=False)
    with pytest.raises(ValueError, match="structure 1 contains O"):
        featurize([molecule("H2"), good], "soap", species=["H"], r_cut=3.0, n_max=2, l_max=2, progress=False)


# ------------------------------------------------------------------------- neighbour search


def _pair_set(i, j, d, digits=9):
    return sorted(zip(i.tolist(), j.tolist(), np.round(d, digits).tolist()))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_periodic_neighbour_pairs_match_ase(seed):
    atoms = random_cell(seed, n=5, skew=1.5)
    atoms.positions += np.random.default_rng(seed).uniform(-8, 8, 3)  # atoms outside the cell
    cutoff = 6.3
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    nl = neighbor_pairs([as_system(atoms)], cutoff, periodic=True)
    assert _pair_set(nl.i, nl.j, nl.d) == _pair_set(i, j, d)
    assert np.allclose(np.linalg.norm(nl.vec, axis=1), nl.d)


def test_kdtree_path_matches_brute_force(monkeypatch):
    atoms = random_cell(3, n=8).repeat((2, 2, 1))
    ref = neighbor_pairs([as_system(atoms)], 5.0, periodic=True)
    monkeypatch.setattr(_systems, "_BRUTE_FORCE_LIMIT", 10)
    tree = neighbor_pairs([as_system(atoms)], 5.0, periodic=True)
    assert _pair_set(ref.i, ref.j, ref.d) == _pair_set(tree.i, tree.j, tree.d)


def test_finite_batch_pairs_match_ase():
    mols = [molecule("CH3CH2OH"), molecule("H2O"), molecule("C6H6")]
    nl = neighbor_pairs([as_system(m) for m in mols], 2.5, periodic=False)
    offset = 0
    for m in mols:
        i, j, d = neighbor_list("ijd", m, 2.5)
        sel = (nl.i >= offset) & (nl.i < offset + len(m))
        assert _pair_set(nl.i[sel] - offset, nl.j[sel] - offset, nl.d[sel]) == _pair_set(i, j, d)
        offset += len(m)
