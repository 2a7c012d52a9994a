"""The invariance harness: hand-checked transformations, known (non-)invariances, errors."""

from functools import partial

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from pymatgen.core import Lattice, Molecule, Structure

from course_lib.descriptors import acsf, coulomb_matrix, sine_matrix
from course_lib.structures import (
    TRANSFORMS,
    check_invariance,
    conventional,
    equivalent_copies,
    permute,
    primitive,
    random_cell_choice,
    random_rotation,
    random_rotation_matrix,
    supercell,
    translate,
)


def random_molecule(seed, n=7):
    """Random cluster without symmetry: all Coulomb-matrix row norms differ."""
    rng = np.random.default_rng(seed)
    while True:
        pos = rng.uniform(0, 4.0, (n, 3))
        d = np.linalg.norm(pos[:, None] - pos[None], axis=2)[np.triu_indices(n, 1)]
        if d.min() > 0.8:
            return Atoms(rng.choice(["H", "C", "N", "O"], n), positions=pos)


def random_crystal(seed, n=4):
    rng = np.random.default_rng(seed)
    while True:
        cell = np.diag(rng.uniform(3.5, 5.0, 3)) + rng.uniform(-0.5, 0.5, (3, 3))
        atoms = Atoms(rng.choice(["Na", "Cl", "O"], n), scaled_positions=rng.uniform(0, 1, (n, 3)),
                      cell=cell, pbc=True)
        d = atoms.get_all_distances(mic=True)[np.triu_indices(n, 1)]
        if d.min() > 1.0:
            return atoms


def cartesian(system):
    return np.asarray(system.positions if isinstance(system, Atoms) else system.cart_coords)


def sorted_distances(system):
    pos = cartesian(system)
    return np.sort(np.linalg.norm(pos[:, None] - pos[None], axis=2).ravel())


def distances_to_others(system):
    """Per-site: each atom's sorted distances to all atoms (a per-site invariant of a molecule)."""
    pos = cartesian(system)
    return np.sort(np.linalg.norm(pos[:, None] - pos[None], axis=2), axis=1)


NACL = bulk("NaCl", "rocksalt", a=5.64)
CU = bulk("Cu", "fcc", a=3.61)


# ---------------------------------------------------------------------------------------------
# the transformations themselves
# ---------------------------------------------------------------------------------------------
def test_rotation_matrix_is_proper_rotation():
    for seed in range(20):
        r = random_rotation_matrix(seed)
        assert np.allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(r), 1.0)


def test_random_rotation_keeps_distances_and_changes_coordinates():
    mol = random_molecule(0)
    rot = random_rotation(mol, 1)
    assert isinstance(rot, Atoms)
    assert np.allclose(sorted_distances(rot), sorted_distances(mol))
    assert not np.allclose(rot.positions, mol.positions)
    # a crystal's cell turns with it: fractional coordinates are unchanged
    s = random_crystal(1)
    r = random_rotation(s, 2)
    assert np.allclose(r.get_scaled_positions(wrap=False), s.get_scaled_positions(wrap=False))
    assert np.isclose(abs(np.linalg.det(r.cell)), abs(np.linalg.det(s.cell)))
    assert np.allclose(r.cell.lengths(), s.cell.lengths())


def test_translate_by_hand_and_wrapping():
    mol = Molecule(["O", "H", "H"], [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    moved = translate(mol, [1.0, -2.0, 0.5])
    assert isinstance(moved, Molecule)
    assert np.allclose(moved.cart_coords, mol.cart_coords + [1.0, -2.0, 0.5])
    s = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    t = translate(s, [3.0, 0.0, -1.0])
    assert isinstance(t, Structure)
    assert np.allclose(t.frac_coords, [[0.75, 0.0, 0.75], [0.25, 0.5, 0.25]])
    unwrapped = translate(s, [3.0, 0.0, -1.0], wrap=False)
    assert np.allclose(unwrapped.frac_coords, [[0.75, 0.0, -0.25], [1.25, 0.5, 0.25]])


def test_permute_returns_order():
    mol = random_molecule(3)
    p, order = permute(mol, 5, return_order=True)
    assert sorted(order) == list(range(len(mol)))
    assert np.allclose(p.positions, mol.positions[order])
    assert list(p.numbers) == list(mol.numbers[order])


def test_supercell_by_hand():
    s = supercell(NACL, (2, 1, 3))
    assert isinstance(s, Atoms) and len(s) == 12
    assert np.isclose(s.get_volume(), 6 * NACL.get_volume())
    assert np.allclose(s.cell[0], 2 * NACL.cell[0]) and np.allclose(s.cell[2], 3 * NACL.cell[2])
    assert sorted(s.get_chemical_symbols()) == ["Cl"] * 6 + ["Na"] * 6
    ps = supercell(Structure.from_ase_atoms(NACL) if hasattr(Structure, "from_ase_atoms") else
                   Structure(Lattice(NACL.cell.array), ["Na", "Cl"], NACL.positions,
                             coords_are_cartesian=True), (2, 2, 2))
    assert isinstance(ps, Structure) and len(ps) == 16


def test_primitive_and_conventional_cells_of_fcc_copper():
    conv = conventional(CU)
    assert len(conv) == 4 and np.allclose(sorted(conv.cell.lengths()), [3.61] * 3, atol=1e-6)
    assert np.allclose(conv.cell.angles(), [90, 90, 90])
    prim = primitive(conv)
    assert len(prim) == 1 and np.isclose(prim.get_volume(), 3.61**3 / 4)


def test_random_cell_choice_is_same_lattice():
    s = random_crystal(2)
    for seed in range(5):
        c = random_cell_choice(s, seed)
        m = c.cell.array @ np.linalg.inv(s.cell.array)  # integer matrix with det +1
        assert np.allclose(m, np.round(m), atol=1e-9) and np.isclose(np.linalg.det(m), 1.0)
        assert not np.allclose(c.cell.array, s.cell.array)
        frac = c.get_scaled_positions(wrap=False)
        assert frac.min() >= 0 and frac.max() < 1
        # each atom moved by a lattice vector of the original cell
        shift = (c.positions - s.positions) @ np.linalg.inv(s.cell.array)
        assert np.allclose(shift, np.round(shift), atol=1e-9)


def test_equivalent_copies_describe_the_same_object():
    mol = random_molecule(4)
    copies = list(equivalent_copies(mol, rng=0, n=4))
    assert len(copies) == 4 and all(isinstance(c, Atoms) for c in copies)
    for c in copies:
        assert np.allclose(sorted_distances(c), sorted_distances(mol))
        assert not np.allclose(c.positions, mol.positions)
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    sizes = []
    for c in equivalent_copies(s, rng=1, n=4):
        assert isinstance(c, Structure)
        assert np.isclose(c.volume / len(c), s.volume / len(s))
        assert c.composition.reduced_formula == "NaCl"
        sizes.append(len(c))
    assert sizes[0] == 8 and max(sizes) > 8  # every second copy is a supercell


def test_molecule_stays_molecule_and_input_unchanged():
    mol = Molecule(["C", "O"], [[0, 0, 0], [0, 0, 1.13]], charge=1, spin_multiplicity=2)
    before = mol.cart_coords.copy()
    r = random_rotation(mol, 0)
    assert isinstance(r, Molecule) and r.charge == 1
    assert np.array_equal(mol.cart_coords, before)


# ---------------------------------------------------------------------------------------------
# the harness: known invariances
# ---------------------------------------------------------------------------------------------
def test_raw_cartesian_coordinates_fail():
    report = check_invariance(cartesian, random_molecule(0), rng=0)
    assert report.failed == ["rotation", "translation", "permutation"] and not report
    assert report["rotation"].max_abs_diff > 0.1
    assert "NOT invariant" in str(report)


def test_distances_are_invariant_and_distance_matrix_is_not_under_permutation():
    mol = random_molecule(1)
    assert check_invariance(sorted_distances, mol, rng=0).passed == ["rotation", "translation", "permutation"]
    raw = check_invariance(lambda m: np.linalg.norm(cartesian(m)[:, None] - cartesian(m)[None], axis=2),
                           mol, rng=0)
    assert raw.passed == ["rotation", "translation"] and raw.failed == ["permutation"]


def test_per_site_matching_follows_the_atoms():
    mol = random_molecule(2)
    assert check_invariance(distances_to_others, mol, per_site=True, rng=0)
    # the same rows without matching (as a global descriptor) change under permutation
    assert check_invariance(distances_to_others, mol, rng=0).failed == ["permutation"]
    # a per-site "descriptor" that is just the atom's index is not invariant to permutation
    idx = check_invariance(lambda m: np.arange(len(m))[:, None], mol, per_site=True, rng=0)
    assert idx.failed == ["permutation"]


def test_sorted_coulomb_matrix_and_eigenspectrum_pass_rigid_motions_and_permutation():
    for seed in range(3):
        mol = random_molecule(seed)
        for perm in ("sorted_l2", "eigenspectrum"):
            report = check_invariance(partial(coulomb_matrix, permutation=perm), mol, rng=seed)
            assert report.failed == [], str(report)
        plain = check_invariance(partial(coulomb_matrix, permutation="none"), mol, rng=seed)
        assert plain.failed == ["permutation"]
        assert plain["permutation"].max_rel_diff > 0.01


def test_sine_matrix_fails_supercell_and_cell_choice_and_the_report_says_so():
    report = check_invariance(sine_matrix, NACL, rng=0)
    assert set(report.passed) == {"rotation", "translation", "permutation", "primitive"}
    assert set(report.failed) == {"cell_choice", "supercell", "conventional"}
    assert report["supercell"].max_abs_diff == np.inf and "shape changed" in report["supercell"].note
    assert 0 < report["cell_choice"].max_abs_diff < np.inf
    # even the eigenspectrum padded to a common size changes in a supercell
    ev = check_invariance(partial(sine_matrix, permutation="eigenspectrum", n_atoms_max=16), NACL,
                          transforms=["supercell"], rng=0)
    assert not ev and np.isfinite(ev["supercell"].max_abs_diff) and ev["supercell"].max_abs_diff > 1e-3
    frame = report.to_frame()
    assert list(frame.index) == list(TRANSFORMS) and not frame.loc["supercell", "invariant"]


def test_periodic_acsf_is_invariant_to_every_cell_choice_per_site():
    s = random_crystal(5)
    f = partial(acsf, species=["Na", "Cl", "O"], r_cut=5.0, g2_params=[[1.0, 0.0], [0.5, 2.0]], periodic=True)
    report = check_invariance(f, s, per_site=True, rng=0, n_trials=2)
    assert report.passed == list(TRANSFORMS), str(report)
    # finite (non-periodic) ACSF of the same atoms depends on the cell the atoms are wrapped into
    finite = check_invariance(partial(f, periodic=False), s, per_site=True, rng=0,
                              transforms=["cell_choice", "supercell"])
    assert finite.failed == ["cell_choice", "supercell"]


def test_custom_transform_and_descriptor_errors_are_reported():
    mol = random_molecule(0)
    mirror = ("mirror", lambda m, rng: Atoms(m.numbers, positions=m.positions * [-1, 1, 1]))
    r = check_invariance(sorted_distances, mol, transforms=["rotation", mirror], rng=0)
    assert r.passed == ["rotation", "mirror"]

    def picky(m):
        if not np.allclose(m.positions, mol.positions):
            raise RuntimeError("only the original")
        return m.positions

    r = check_invariance(picky, mol, transforms=["rotation"], rng=0)
    assert r.failed == ["rotation"] and "RuntimeError" in r["rotation"].note


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
def test_bad_input_errors():
    mol = molecule("H2O")
    with pytest.raises(ValueError, match="pbc"):
        supercell(mol, (2, 2, 2))
    with pytest.raises(ValueError, match="molecules have no unit cell"):
        check_invariance(sorted_distances, mol, transforms=["supercell"])
    with pytest.raises(ValueError, match="three positive integers"):
        supercell(NACL, (2, 0, 1))
    with pytest.raises(ValueError, match="unknown transformation 'shear'"):
        check_invariance(sorted_distances, mol, transforms=["shear"])
    with pytest.raises(ValueError, match="per_site=True"):
        check_invariance(sorted_distances, mol, per_site=True)
    with pytest.raises(ValueError, match="3 finite numbers"):
        translate(mol, [1.0, 2.0])
    with pytest.raises(TypeError, match="rng must be"):
        permute(mol, rng="abc")
    with pytest.raises(TypeError, match="expected an ase.Atoms"):
        random_rotation(np.zeros((3, 3)), 0)
    with pytest.raises(ValueError, match="failed on the original"):
        check_invariance(sine_matrix, mol)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        list(equivalent_copies(mol, n=0))


def test_per_site_matching_through_conventional_and_primitive_cells():
    f = partial(acsf, species=["Na", "Cl"], r_cut=6.0, g2_params=[[1.0, 0.0]], periodic=True)
    conv = conventional(NACL)
    assert len(conv) == 8
    report = check_invariance(f, conv, per_site=True, transforms=["primitive", "supercell"], rng=0)
    assert report.passed == ["primitive", "supercell"], str(report)
    # matching is needed: without it, the rows of the 8-atom cell are not those of the 2-atom cell
    assert not check_invariance(f, conv, transforms=["primitive"], rng=0)


STANDARD_CELLS = {
    # name: (structure, atoms in the primitive cell, atoms in the conventional cell)
    "diamond Si": (bulk("Si", "diamond", a=5.43), 2, 8),
    "bcc Fe (cubic)": (bulk("Fe", "bcc", a=2.87, cubic=True), 1, 2),
    "wurtzite ZnO": (bulk("ZnO", "wurtzite", a=3.25, c=5.2), 4, 4),
    "calcite R-3c": (Structure.from_spacegroup("R-3c", Lattice.hexagonal(4.99, 17.06), ["Ca", "C", "O"],
                                               [[0, 0, 0], [0, 0, 0.25], [0.257, 0, 0.25]]), 10, 30),
}


@pytest.mark.parametrize("name", list(STANDARD_CELLS))
def test_standard_cells_keep_every_atom_environment(name):
    s, n_prim, n_conv = STANDARD_CELLS[name]
    assert len(primitive(s)) == n_prim and len(conventional(s)) == n_conv
    symbols = [site.specie.symbol for site in s] if isinstance(s, Structure) else s.get_chemical_symbols()
    species = sorted(set(symbols))
    f = partial(acsf, species=species, r_cut=4.0, g2_params=[[1.0, 0.0]], periodic=True)
    report = check_invariance(f, s, per_site=True, transforms=["primitive", "conventional"], rng=0)
    assert report.failed == [], str(report)
