"""Coulomb and sine matrices: hand-computed values, agreement with dscribe, invariances, errors."""

import numpy as np
from numpy.random import default_rng
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from course_lib.descriptors import coulomb_matrix, featurize, sine_matrix
from course_lib.grading.testing import random_crystal, random_molecule

dscribe = pytest.importorskip("dscribe.descriptors")
pytestmark = pytest.mark.filterwarnings("ignore:Please use atoms.calc:FutureWarning")

RTOL = 1e-6
PERMS = ["none", "sorted_l2", "eigenspectrum"]


MOLECULES = {"water": molecule("H2O"), "ethanol": molecule("CH3CH2OH"),
             **{f"random{k}": random_molecule(default_rng(k), 7) for k in range(3)}}
_conv = bulk("NaCl", "rocksalt", 5.64, cubic=True)
_rattled = _conv.copy()
_rattled.rattle(0.02, seed=4)
CRYSTALS = {"nacl_primitive": bulk("NaCl", "rocksalt", 5.64), "nacl_conventional": _conv,
            "nacl_rattled": _rattled, **{f"random{k}": random_crystal(default_rng(k), 5, ("Na", "Cl", "O")) for k in range(3)}}


def _dscribe_sine(**kw):
    try:
        dscribe.SineMatrix(n_atoms_max=1).create(bulk("Cu"))
    except TypeError as err:  # dscribe 2.1.2 + ase >= 3.27: "Use only one of momenta and velocities"
        pytest.skip(f"dscribe's SineMatrix does not work with this ase version: {err}")
    return dscribe.SineMatrix(**kw)


def _same_up_to_ties(ours, ref, n):
    """Sorted matrices that may differ only in the order of rows with equal norms."""
    a, b = ours.reshape(n, n), ref.reshape(n, n)
    assert np.allclose(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1), rtol=RTOL)
    assert np.allclose(np.linalg.eigvalsh(a), np.linalg.eigvalsh(b), rtol=RTOL, atol=1e-9)


# --------------------------------------------------------------------------- hand computed


def test_h2_coulomb_matrix_by_hand():
    h2 = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    cm = coulomb_matrix(h2, flatten=False, permutation="none")
    assert np.allclose(cm, [[0.5, 1 / 0.74], [1 / 0.74, 0.5]], rtol=1e-14)  # distances in angstrom
    hf = Atoms("HF", positions=[[0, 0, 0], [0, 0, 0.9]])
    cm = coulomb_matrix(hf, flatten=False, permutation="none")
    assert np.allclose(cm, [[0.5, 10.0], [10.0, 0.5 * 9**2.4]], rtol=1e-14)
    # sorted: F (larger row norm) first; eigenspectrum: eigenvalues of the 2x2 matrix
    assert np.allclose(coulomb_matrix(hf, flatten=False), [[0.5 * 9**2.4, 10.0], [10.0, 0.5]])
    ev = np.linalg.eigvalsh(cm)
    assert np.allclose(coulomb_matrix(hf, permutation="eigenspectrum", n_atoms_max=3), [ev[1], ev[0], 0.0])


def test_sine_matrix_by_hand():
    a = 4.0
    atoms = Atoms("NaCl", positions=[[0, 0, 0], [a / 2, 0, 0]], cell=[a, a, a], pbc=True)
    sm = sine_matrix(atoms, permutation="none", flatten=False)
    # Phi = |a_x sin^2(pi/2)| = a for a half-lattice-vector separation
    assert np.allclose(sm, [[0.5 * 11**2.4, 11 * 17 / a], [11 * 17 / a, 0.5 * 17**2.4]], rtol=1e-14)


def test_zero_padding_and_shapes():
    water = molecule("H2O")
    flat = coulomb_matrix(water, n_atoms_max=5, permutation="none")
    mat = coulomb_matrix(water, n_atoms_max=5, permutation="none", flatten=False)
    assert flat.shape == (25,) and mat.shape == (5, 5)
    assert np.array_equal(flat, mat.ravel())
    assert np.all(mat[3:] == 0) and np.all(mat[:, 3:] == 0)
    assert coulomb_matrix(water).shape == (9,)  # n_atoms_max defaults to the number of atoms
    assert coulomb_matrix(water, n_atoms_max=5, permutation="eigenspectrum").shape == (5,)


# -------------------------------------------------------------------------------- dscribe


@pytest.mark.parametrize("name", list(MOLECULES))
@pytest.mark.parametrize("perm", PERMS)
def test_coulomb_matches_dscribe(name, perm):
    atoms = MOLECULES[name]
    ref = dscribe.CoulombMatrix(n_atoms_max=12, permutation=perm).create(atoms)
    ours = coulomb_matrix(atoms, n_atoms_max=12, permutation=perm)
    assert np.allclose(ours, ref, rtol=RTOL, atol=1e-10)


@pytest.mark.parametrize("name", ["water", "ethanol", "random1"])
def test_coulomb_random_permutation_matches_dscribe_stream(name):
    atoms = MOLECULES[name]
    ref = dscribe.CoulombMatrix(n_atoms_max=10, permutation="random", sigma=8.0, seed=11)
    rng = np.random.RandomState(11)
    for _ in range(3):  # the same stream, call after call
        ours = coulomb_matrix(atoms, n_atoms_max=10, permutation="random", sigma=8.0, seed=rng)
        assert np.allclose(ours, ref.create(atoms), rtol=RTOL)
    # an integer seed reproduces the first call
    first = dscribe.CoulombMatrix(n_atoms_max=10, permutation="random", sigma=8.0, seed=5).create(atoms)
    assert np.allclose(coulomb_matrix(atoms, n_atoms_max=10, permutation="random", sigma=8.0, seed=5), first)


@pytest.mark.parametrize("name", list(CRYSTALS))
@pytest.mark.parametrize("perm", PERMS)
def test_sine_matches_dscribe(name, perm):
    atoms = CRYSTALS[name]
    ref = _dscribe_sine(n_atoms_max=10, permutation=perm).create(atoms)
    ours = sine_matrix(atoms, n_atoms_max=10, permutation=perm)
    if perm == "sorted_l2" and name == "nacl_conventional":
        # symmetry-equivalent atoms: the order among equal row norms is a matter of rounding in
        # dscribe (our tie rule is documented); compare what does not depend on it
        _same_up_to_ties(ours.reshape(10, 10)[:8, :8], ref.reshape(10, 10)[:8, :8], 8)
    else:
        assert np.allclose(ours, ref, rtol=RTOL, atol=1e-10)


@pytest.mark.parametrize("name", ["nacl_conventional", "random0"])
def test_sine_random_permutation_matches_dscribe_stream(name):
    atoms = CRYSTALS[name]
    ref = _dscribe_sine(n_atoms_max=9, permutation="random", sigma=5.0, seed=3)
    rng = np.random.RandomState(3)
    for _ in range(3):
        ours = sine_matrix(atoms, n_atoms_max=9, permutation="random", sigma=5.0, seed=rng)
        assert np.allclose(ours, ref.create(atoms), rtol=RTOL)


def test_batch_random_matches_dscribe_list():
    mols = [MOLECULES[k] for k in ("water", "ethanol", "random0", "random2")]
    ref = dscribe.CoulombMatrix(n_atoms_max=9, permutation="random", sigma=4.0, seed=2).create(mols)
    ours = featurize(mols, "coulomb_matrix", n_atoms_max=9, permutation="random", sigma=4.0, seed=2,
                     progress=False, chunk_size=3)
    assert np.allclose(ours, ref, rtol=RTOL)


# ------------------------------------------------------------------------------ invariances


def _rotate(atoms, seed=0):
    out = atoms.copy()
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    out.positions = out.positions @ q.T + rng.uniform(-3, 3, 3)
    if out.pbc.any():
        out.cell = out.cell[:] @ q.T
    return out


@pytest.mark.parametrize("perm", ["sorted_l2", "eigenspectrum"])
def test_coulomb_invariances(perm):
    atoms = MOLECULES["random2"]
    ref = coulomb_matrix(atoms, permutation=perm)
    assert np.allclose(coulomb_matrix(_rotate(atoms), permutation=perm), ref, rtol=1e-10)
    order = np.random.default_rng(1).permutation(len(atoms))
    assert np.allclose(coulomb_matrix(atoms[order], permutation=perm), ref, rtol=1e-10)


def test_coulomb_none_permutes_with_the_atoms():
    atoms = MOLECULES["ethanol"]
    order = np.random.default_rng(2).permutation(len(atoms))
    ref = coulomb_matrix(atoms, permutation="none", flatten=False)
    assert np.allclose(coulomb_matrix(atoms[order], permutation="none", flatten=False), ref[np.ix_(order, order)])


def test_sine_invariances_and_periodicity():
    atoms = CRYSTALS["random1"]
    ref = sine_matrix(atoms, permutation="none", flatten=False)
    assert np.allclose(sine_matrix(_rotate(atoms), permutation="none", flatten=False), ref, rtol=1e-10)
    shifted = atoms.copy()
    shifted.positions[2] += atoms.cell[0] - 2 * atoms.cell[2]  # another periodic image of atom 2
    assert np.allclose(sine_matrix(shifted, permutation="none", flatten=False), ref, rtol=1e-10)
    order = np.random.default_rng(0).permutation(len(atoms))
    assert np.allclose(sine_matrix(atoms[order], permutation="eigenspectrum"),
                       sine_matrix(atoms, permutation="eigenspectrum"), rtol=1e-10)


def test_sine_eigenspectrum_is_not_supercell_invariant():
    prim = CRYSTALS["nacl_primitive"]
    conv = CRYSTALS["nacl_conventional"]
    ev_p = sine_matrix(prim, permutation="eigenspectrum", n_atoms_max=8)
    ev_c = sine_matrix(conv, permutation="eigenspectrum")
    ev_s = sine_matrix(prim.repeat((2, 2, 2)), permutation="eigenspectrum")
    assert not np.allclose(ev_p, ev_c, rtol=1e-3)
    assert not np.allclose(ev_c[:8], ev_s[:8], rtol=1e-3)
    # what is true: the diagonal (self term) and the number of atoms scale with the cell
    assert np.allclose(np.diag(sine_matrix(conv, permutation="none", flatten=False)),
                       0.5 * conv.numbers**2.4)


# ---------------------------------------------------------------------------------- errors


def test_matrix_errors():
    water = molecule("H2O")
    with pytest.raises(ValueError, match="more than n_atoms_max=2"):
        coulomb_matrix(water, n_atoms_max=2)
    with pytest.raises(ValueError, match="needs sigma > 0"):
        coulomb_matrix(water, permutation="random")
    with pytest.raises(ValueError, match="sigma is only used with permutation='random'"):
        coulomb_matrix(water, sigma=1.0)
    with pytest.raises(ValueError, match="permutation must be one of"):
        coulomb_matrix(water, permutation="sorted")
    with pytest.raises(ValueError, match="not periodic"):
        sine_matrix(water)
    flat = Atoms("H2", positions=[[0, 0, 0], [1, 0, 0]], cell=[[1, 0, 0], [2, 0, 0], [0, 0, 1]], pbc=True)
    with pytest.raises(ValueError, match="singular cell"):
        sine_matrix(flat)
