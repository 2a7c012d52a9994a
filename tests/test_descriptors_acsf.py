"""ACSF: hand-computed values, agreement with dscribe, invariances, errors."""

import numpy as np
from numpy.random import default_rng
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from course_lib.descriptors import acsf, acsf_n_features
from course_lib.grading.testing import random_crystal, random_molecule

dscribe = pytest.importorskip("dscribe.descriptors")
pytestmark = pytest.mark.filterwarnings("ignore:Please use atoms.calc:FutureWarning")

G2 = [[0.05, 0.0], [0.4, 1.2], [1.0, 2.5]]
G3 = [0.8, 2.0]
G4 = [[0.01, 1.0, 1.0], [0.05, 2.0, -1.0], [0.02, 4.0, 1.0], [0.01, 2.5, 1.0]]
G5 = [[0.01, 1.0, -1.0], [0.08, 3.0, 1.0]]
PARAMS = dict(g2_params=G2, g3_params=G3, g4_params=G4, g5_params=G5)


CASES = {
    "water": (molecule("H2O"), ["H", "O"], False),
    "ethanol": (molecule("CH3CH2OH"), ["H", "C", "N", "O"], False),
    "nacl_primitive": (bulk("NaCl", "rocksalt", 5.64), ["Na", "Cl"], True),
    "nacl_conventional": (bulk("NaCl", "rocksalt", 5.64, cubic=True), ["Na", "Cl"], True),
    "random_molecule0": (random_molecule(default_rng(0), 8, box=4.5), ["H", "C", "N", "O"], False),
    "random_molecule1": (random_molecule(default_rng(1), 8, box=4.5), ["H", "C", "N", "O"], False),
    "random_crystal0": (random_crystal(default_rng(0), 5, ("H", "C", "O")), ["H", "C", "O"], True),
    "random_crystal1": (random_crystal(default_rng(1), 5, ("H", "C", "O")), ["H", "C", "O"], True),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("r_cut", [3.0, 6.0])
def test_matches_dscribe(name, r_cut):
    atoms, species, periodic = CASES[name]
    ref = dscribe.ACSF(r_cut=r_cut, species=species, periodic=periodic, **PARAMS).create(atoms)
    ours = acsf(atoms, species, r_cut, periodic=periodic, **PARAMS)
    assert ours.shape == ref.shape == (len(atoms), acsf_n_features(species, **PARAMS))
    # dscribe gives NaN for (nearly) collinear triplets with a non-integer zeta (the 4th G4);
    # everything else must agree, and we never return NaN
    finite = np.isfinite(ref)
    assert np.all(np.isfinite(ours))
    assert np.allclose(ours[finite], ref[finite], rtol=1e-6, atol=1e-12)
    n2b = (1 + len(G2) + len(G3)) * len(species)
    assert np.all((np.nonzero(~finite)[1] - n2b) % (len(G4) + len(G5)) == 3)


def test_subsets_of_functions_and_centers_match_dscribe():
    atoms, species, _ = CASES["ethanol"]
    for params in ({}, {"g3_params": G3}, {"g4_params": G4}, {"g2_params": G2, "g5_params": G5}):
        ref = dscribe.ACSF(r_cut=5.0, species=species, **params).create(atoms, centers=[4, 0, 2])
        assert np.allclose(acsf(atoms, species, 5.0, centers=[4, 0, 2], **params), ref, rtol=1e-6, atol=1e-12)


def test_repeated_centers_give_repeated_rows():
    atoms, species, _ = CASES["ethanol"]
    params = {"g2_params": G2, "g4_params": G4}
    centers = [0, 0, 4, 0, 2, 4]
    ref = dscribe.ACSF(r_cut=5.0, species=species, **params).create(atoms, centers=centers)
    ours = acsf(atoms, species, 5.0, centers=centers, **params)
    assert np.allclose(ours, ref, rtol=1e-6, atol=1e-12)
    assert np.array_equal(ours[0], ours[1]) and np.array_equal(ours[0], ours[3]) and ours[0].any()
    assert np.array_equal(ours[[0, 2, 4]], acsf(atoms, species, 5.0, centers=[0, 4, 2], **params))


def test_periodic_false_ignores_images():
    atoms, species, _ = CASES["nacl_primitive"]
    ref = dscribe.ACSF(r_cut=6.0, species=species, **PARAMS).create(atoms)
    assert np.allclose(acsf(atoms, species, 6.0, **PARAMS), ref, rtol=1e-6, atol=1e-12)


def test_two_atoms_by_hand():
    d, rc = 1.3, 4.0
    atoms = Atoms("HO", positions=[[0, 0, 0], [0, 0, d]])
    out = acsf(atoms, ["H", "O"], rc, g2_params=[[0.7, 0.5]], g3_params=[1.5], g4_params=G4, g5_params=G5)
    fc = 0.5 * (np.cos(np.pi * d / rc) + 1)
    radial = [fc, np.exp(-0.7 * (d - 0.5) ** 2) * fc, np.cos(1.5 * d) * fc]
    # layout: [H block: G1 G2 G3] [O block] then (H,H), (O,H), (O,O) angular blocks (all zero)
    assert np.allclose(out[0, :3], 0) and np.allclose(out[0, 3:6], radial)
    assert np.allclose(out[1, :3], radial) and np.allclose(out[1, 3:6], 0)
    assert np.allclose(out[:, 6:], 0) and out.shape == (2, 6 + 3 * 6)


def test_three_atoms_angular_terms_by_hand():
    rc = 5.0
    pos = np.array([[0, 0, 0], [1.1, 0, 0], [0.3, 1.4, 0]])
    atoms = Atoms("OHH", positions=pos)
    eta, zeta, lam = 0.1, 2.0, -1.0
    out = acsf(atoms, ["H", "O"], rc, g4_params=[[eta, zeta, lam]], g5_params=[[eta, zeta, lam]])
    rij, rik, rjk = np.linalg.norm(pos[1]), np.linalg.norm(pos[2]), np.linalg.norm(pos[2] - pos[1])
    cos = pos[1] @ pos[2] / (rij * rik)

    def fc(r):
        return 0.5 * (np.cos(np.pi * r / rc) + 1)

    ang = 2 ** (1 - zeta) * (1 + lam * cos) ** zeta
    g4 = ang * np.exp(-eta * (rij**2 + rik**2 + rjk**2)) * fc(rij) * fc(rik) * fc(rjk)
    g5 = ang * np.exp(-eta * (rij**2 + rik**2)) * fc(rij) * fc(rik)
    # centre O, neighbours H, H -> species pair (H, H) = block 0 after the 2 radial blocks
    assert np.allclose(out[0, 2:4], [g4, g5], rtol=1e-12)
    assert np.allclose(out[0, 4:], 0)


def test_collinear_atoms_give_finite_values():
    # dscribe returns NaN here (cos(theta) rounds past -1 and is raised to a non-integer power)
    atoms = Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [5.0, 0, 0]])
    out = acsf(atoms, ["Cu"], 6.0, g4_params=[[0.01, 2.5, -1.0]], g5_params=[[0.01, 2.5, -1.0]])
    assert np.all(np.isfinite(out))


# ------------------------------------------------------------------------------ invariances


def test_rotation_translation_and_permutation():
    atoms, species, _ = CASES["random_molecule1"]
    ref = acsf(atoms, species, 5.0, **PARAMS)
    moved = atoms.copy()
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    moved.positions = moved.positions @ q.T + [3.0, -1.0, 7.0]
    assert np.allclose(acsf(moved, species, 5.0, **PARAMS), ref, rtol=1e-9, atol=1e-12)
    order = np.random.default_rng(1).permutation(len(atoms))
    assert np.allclose(acsf(atoms[order], species, 5.0, **PARAMS), ref[order], rtol=1e-9, atol=1e-12)


def test_primitive_conventional_and_supercell_sites_agree():
    prim = bulk("NaCl", "rocksalt", 5.64)
    conv = bulk("NaCl", "rocksalt", 5.64, cubic=True)
    sup = prim.repeat((2, 3, 1))
    kw = dict(species=["Na", "Cl"], r_cut=6.0, periodic=True, **PARAMS)
    ref = acsf(prim, **kw)
    for other in (conv, sup):
        out = acsf(other, **kw)
        for z, row in zip(prim.numbers, ref):
            assert np.allclose(out[other.numbers == z], row, rtol=1e-9)


def test_atoms_outside_the_cell():
    """Moving an atom by lattice vectors changes nothing (dscribe 2.1.2 does not wrap, and differs)."""
    atoms = bulk("NaCl", "rocksalt", 5.64)
    moved = atoms.copy()
    moved.positions[1] += 3 * atoms.cell[0] - 2 * atoms.cell[2]
    kw = dict(species=["Na", "Cl"], r_cut=5.0, periodic=True, **PARAMS)
    assert np.allclose(acsf(moved, **kw), acsf(atoms, **kw), rtol=1e-12, atol=1e-14)


def test_errors():
    water = molecule("H2O")
    with pytest.raises(ValueError, match="g2_params must be a table with 2 columns"):
        acsf(water, ["H", "O"], 3.0, g2_params=[1.0, 2.0])
    with pytest.raises(ValueError, match="lambda"):
        acsf(water, ["H", "O"], 3.0, g4_params=[[0.1, 1.0, 2.0]])
    with pytest.raises(ValueError, match="zeta"):
        acsf(water, ["H", "O"], 3.0, g5_params=[[0.1, 0.0, 1.0]])
    with pytest.raises(ValueError, match="eta"):
        acsf(water, ["H", "O"], 3.0, g2_params=[[-1.0, 0.0]])
    with pytest.raises(ValueError, match="r_cut"):
        acsf(water, ["H", "O"], -2.0)
    with pytest.raises(ValueError, match="not in species"):
        acsf(water, ["O"], 3.0)
