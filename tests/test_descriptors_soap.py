"""SOAP: agreement with dscribe (GTO and polynomial), an independent numerical check of the
expansion, invariances, the average kernel and errors."""

import warnings

import numpy as np
from numpy.random import default_rng
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from scipy.special import gamma, sph_harm_y

from course_lib.descriptors import soap, soap_kernel, soap_n_features
from course_lib.grading.testing import random_crystal, random_molecule

dscribe = pytest.importorskip("dscribe.descriptors")
pytestmark = pytest.mark.filterwarnings("ignore:Please use atoms.calc:FutureWarning")

RTOL = 1e-6


CASES = {
    "water": (molecule("H2O"), ["H", "O"], False),
    "ethanol": (molecule("CH3CH2OH"), ["H", "C", "N", "O"], False),
    "nacl_primitive": (bulk("NaCl", "rocksalt", 5.64), ["Na", "Cl"], True),
    "nacl_conventional": (bulk("NaCl", "rocksalt", 5.64, cubic=True), ["Na", "Cl"], True),
    "random_molecule0": (random_molecule(default_rng(0), 7, ("H", "C", "O")), ["H", "C", "O"], False),
    "random_molecule1": (random_molecule(default_rng(1), 7, ("H", "C", "O")), ["H", "C", "O"], False),
    "random_crystal0": (random_crystal(default_rng(0), 5, ("H", "C", "O")), ["H", "C", "O"], True),
    "random_crystal1": (random_crystal(default_rng(1), 5, ("H", "C", "O")), ["H", "C", "O"], True),
}
HYPER = dict(r_cut=4.5, n_max=4, l_max=5, sigma=0.7)


def _ref(atoms, species, periodic, compression="off", **kw):
    return dscribe.SOAP(species=species, periodic=periodic, compression={"mode": compression}, **kw).create(atoms)


def _close(ours, ref, rtol=RTOL, atol=1e-12):
    """rtol on every feature; atol relative to the largest feature."""
    assert ours.shape == ref.shape
    assert np.allclose(ours, ref, rtol=rtol, atol=atol * np.abs(ref).max())


# The polynomial basis needs modified spherical Bessel functions i_l, which dscribe (and we, to
# follow it) obtain by upward recurrence: at high l and small arguments this returns rounding
# noise of about 1e-10 of the largest feature, so tiny features are compared with that atol.
POLY_ATOL = 1e-9


# -------------------------------------------------------------------------------- dscribe


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("average", ["off", "inner", "outer"])
@pytest.mark.parametrize("compression", ["off", "crossover"])
def test_gto_matches_dscribe(name, average, compression):
    atoms, species, periodic = CASES[name]
    ref = _ref(atoms, species, periodic, compression, average=average, **HYPER)
    ours = soap(atoms, species, periodic=periodic, compression=compression, average=average, **HYPER)
    _close(ours, ref)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("average", ["off", "outer"])
def test_polynomial_matches_dscribe(name, average):
    atoms, species, periodic = CASES[name]
    kw = dict(HYPER, rbf="polynomial", average=average)
    _close(soap(atoms, species, periodic=periodic, **kw), _ref(atoms, species, periodic, **kw), atol=POLY_ATOL)


@pytest.mark.parametrize("rbf", ["gto", "polynomial"])
@pytest.mark.parametrize("compression", ["mu2", "mu1nu1"])
def test_other_compressions_match_dscribe(rbf, compression):
    for name in ("ethanol", "random_crystal1"):
        atoms, species, periodic = CASES[name]
        kw = dict(HYPER, rbf=rbf)
        _close(soap(atoms, species, periodic=periodic, compression=compression, **kw),
               _ref(atoms, species, periodic, compression, **kw), atol=POLY_ATOL if rbf == "polynomial" else 1e-12)


WEIGHTINGS = [
    {"function": "poly", "r0": 4.5, "c": 1.0, "m": 2},
    {"function": "pow", "r0": 2.0, "c": 1.0, "d": 1.0, "m": 3, "w0": 0.3},
    {"function": "exp", "r0": 1.5, "c": 2.0, "d": 0.5},
    {"w0": 0.0},
]


@pytest.mark.parametrize("rbf", ["gto", "polynomial"])
@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=lambda w: w.get("function", "w0"))
def test_weighting_matches_dscribe(rbf, weighting):
    for name in ("ethanol", "random_crystal0"):
        atoms, species, periodic = CASES[name]
        kw = dict(HYPER, rbf=rbf)
        ref = _ref(atoms, species, periodic, weighting=dict(weighting), **kw)
        _close(soap(atoms, species, periodic=periodic, weighting=weighting, **kw), ref,
               atol=POLY_ATOL if rbf == "polynomial" else 1e-12)


@pytest.mark.parametrize("rbf", ["gto", "polynomial"])
def test_wide_parameter_ranges_match_dscribe(rbf):
    atoms, species, periodic = CASES["random_crystal1"]
    for r_cut, n_max, l_max, sigma in [(2.5, 1, 0, 0.3), (6.0, 8, 9, 1.2), (3.3, 6, 7, 0.45)]:
        kw = dict(r_cut=r_cut, n_max=n_max, l_max=l_max, sigma=sigma, rbf=rbf)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # n_max = 8: ill-conditioned poly basis
            ours = soap(atoms, species, periodic=periodic, **kw)
        _close(ours, _ref(atoms, species, periodic, **kw), atol=POLY_ATOL if rbf == "polynomial" else 1e-12)


@pytest.mark.parametrize("l_max", [17, 18, 20])
def test_high_l_max_matches_dscribe_and_is_invariant(l_max):
    """Up to the largest l_max allowed (20). From l = 18 on, (2l-1)!! overflowed int64 once."""
    atoms, species, _ = CASES["random_molecule0"]
    kw = dict(r_cut=4.5, n_max=3, l_max=l_max, sigma=0.7)
    ours = soap(atoms, species, **kw)
    _close(ours, _ref(atoms, species, False, **kw), rtol=1e-6, atol=1e-11)
    moved = atoms.copy()
    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))
    moved.positions = moved.positions @ q.T
    for rbf in ("gto", "polynomial"):
        ref = ours if rbf == "gto" else soap(atoms, species, rbf=rbf, **kw)
        _close(soap(moved, species, rbf=rbf, **kw), ref, rtol=1e-7, atol=1e-10)


def test_repeated_centers_give_repeated_rows():
    atoms, species, _ = CASES["ethanol"]
    centers = [0, 0, 4, 0, 2, 4]
    for average in ("off", "inner", "outer"):
        ref = dscribe.SOAP(species=species, average=average, **HYPER).create(atoms, centers=centers)
        _close(soap(atoms, species, centers=centers, average=average, **HYPER), ref)
    ours = soap(atoms, species, centers=centers, **HYPER)
    assert np.array_equal(ours[0], ours[1]) and np.array_equal(ours[0], ours[3])
    assert np.array_equal(ours[[0, 2, 4]], soap(atoms, species, centers=[0, 4, 2], **HYPER))


def test_centers_match_dscribe():
    atoms, species, _ = CASES["ethanol"]
    ref = dscribe.SOAP(species=species, **HYPER).create(atoms, centers=[3, 0, 7])
    _close(soap(atoms, species, centers=[3, 0, 7], **HYPER), ref)
    ref = dscribe.SOAP(species=species, average="inner", **HYPER).create(atoms, centers=[3, 0])
    _close(soap(atoms, species, centers=[3, 0], average="inner", **HYPER), ref)


def test_polynomial_l_max_10_deviates_on_purpose():
    """dscribe 2.1.2 stores the Y_lm normalisations rounded, so that the constants of l >= 10,
    |m| = 10 are exactly 0: its l = 10 features are not rotation invariant. Ours use the exact
    constants: l < 10 agrees with dscribe, and everything is rotation invariant."""
    rng = np.random.default_rng(3)
    atoms = Atoms("H6", positions=rng.uniform(0, 3.0, (6, 3)))
    kw = dict(r_cut=4.0, n_max=3, l_max=10, sigma=0.5, rbf="polynomial", compression="crossover")
    ours = soap(atoms, ["H"], **kw)
    ref = _ref(atoms, ["H"], False, **kw)
    per_l = 3 * 4 // 2
    _close(ours[:, : 10 * per_l], ref[:, : 10 * per_l], atol=POLY_ATOL)
    rotated = atoms.copy()
    rotated.rotate(40, "x")
    rotated.rotate(65, "z")
    _close(soap(rotated, ["H"], **kw), ours, rtol=1e-8, atol=POLY_ATOL)


@pytest.mark.parametrize("compression", ["off", "crossover", "mu2", "mu1nu1"])
def test_number_of_features(compression):
    species = ["H", "C", "O"]
    ref = dscribe.SOAP(species=species, compression={"mode": compression}, **HYPER).get_number_of_features()
    n = soap_n_features(species, HYPER["n_max"], HYPER["l_max"], compression)
    assert n == ref == soap(molecule("CH3CH2OH"), species, compression=compression, **HYPER).shape[1]


# ------------------------------------------------------------ independent numerical check


def _numerical_power_spectrum(positions, r_cut, n_max, l_max, sigma, rbf):
    """Integrate g_nl(r) Y_lm(r) rho(r) on a product grid (single species, centre at origin)."""
    eta = 1 / (2 * sigma**2)
    r_max = r_cut if rbf == "polynomial" else 2.5 * r_cut
    x, w = np.polynomial.legendre.leggauss(120)
    r, wr = r_max * (x + 1) / 2, r_max / 2 * w
    ct, wt = np.polynomial.legendre.leggauss(48)
    theta = np.arccos(ct)
    phi = np.arange(96) * 2 * np.pi / 96
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    w_ang = (wt[:, None] * np.full(96, 2 * np.pi / 96)[None, :]).ravel()
    unit = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], -1).reshape(-1, 3)
    pts = r[:, None, None] * unit[None]  # (r, omega, 3)
    rho = sum(np.exp(-eta * np.sum((pts - p) ** 2, -1)) for p in positions)
    if rbf == "gto":
        a = np.linspace(1, r_cut, n_max)
    ps = []
    for l in range(l_max + 1):
        ylm = []
        for m in range(-l, l + 1):
            y = sph_harm_y(l, abs(m), th.ravel(), ph.ravel())
            ylm.append(np.sqrt(2) * (-1) ** m * (y.imag if m < 0 else y.real) if m else y.real)
        ylm = np.array(ylm)  # (2l+1, omega)
        if rbf == "gto":
            alpha = -np.log(1e-3 / a**l) / a**2
            s = 0.5 * gamma(l + 1.5) * (alpha[:, None] + alpha[None, :]) ** (-l - 1.5)
            ev, vec = np.linalg.eigh(s)
            beta = vec @ np.diag(ev**-0.5) @ vec.T
            g = beta @ (r[None, :] ** l * np.exp(-alpha[:, None] * r[None, :] ** 2))
        else:
            k = np.arange(1, n_max + 1)
            s = 2 * r_cut ** (7.0 + k[:, None] + k[None, :]) / np.prod(
                [j + k[:, None] + k[None, :] for j in (5.0, 6.0, 7.0)], axis=0)
            ev, vec = np.linalg.eigh(s)
            beta = vec @ np.diag(ev**-0.5) @ vec.T
            g = beta @ ((r_cut - r)[None, :] ** (k[:, None] + 2))
        ang = rho @ (ylm * w_ang).T  # (r, 2l+1)
        c = (g * (wr * r**2)) @ ang  # (n, 2l+1)
        p = np.pi * np.sqrt(8 / (2 * l + 1)) * c @ c.T
        ps.append(p[np.triu_indices(n_max)])
    return np.concatenate(ps)


@pytest.mark.parametrize("rbf", ["gto", "polynomial"])
def test_expansion_against_numerical_integration(rbf):
    positions = np.array([[0.0, 0.0, 0.0], [1.1, 0.3, -0.2], [-0.4, 1.3, 0.9]])
    atoms = Atoms("H3", positions=positions)
    kw = dict(r_cut=2.6, n_max=3, l_max=4, sigma=0.55)
    ref = _numerical_power_spectrum(positions, rbf=rbf, **kw)
    ours = soap(atoms, ["H"], rbf=rbf, centers=[0], **kw)[0]
    assert np.allclose(ours, ref, rtol=1e-5, atol=1e-8 * np.abs(ref).max())


# ------------------------------------------------------------------------------ invariances


@pytest.mark.parametrize("rbf", ["gto", "polynomial"])
def test_rotation_translation_permutation(rbf):
    atoms, species, _ = CASES["random_molecule1"]
    kw = dict(HYPER, rbf=rbf)
    ref = soap(atoms, species, **kw)
    moved = atoms.copy()
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    moved.positions = moved.positions @ q.T + [2.0, -5.0, 1.0]
    _close(soap(moved, species, **kw), ref, rtol=1e-8, atol=POLY_ATOL if rbf == "polynomial" else 1e-12)
    order = np.random.default_rng(1).permutation(len(atoms))
    assert np.allclose(soap(atoms[order], species, **kw), ref[order], rtol=1e-10, atol=1e-14)
    assert np.allclose(soap(atoms[order], species, average="inner", **kw),
                       soap(atoms, species, average="inner", **kw), rtol=1e-10)


def test_primitive_conventional_supercell():
    prim = bulk("NaCl", "rocksalt", 5.64)
    conv = bulk("NaCl", "rocksalt", 5.64, cubic=True)
    sup = prim.repeat((2, 1, 3))
    kw = dict(species=["Na", "Cl"], periodic=True, **HYPER)
    ref = soap(prim, **kw)
    for other in (conv, sup):
        out = soap(other, **kw)
        for z, row in zip(prim.numbers, ref):
            assert np.allclose(out[other.numbers == z], row, rtol=1e-9, atol=1e-14)
        for avg in ("inner", "outer"):
            assert np.allclose(soap(other, average=avg, **kw), soap(prim, average=avg, **kw), rtol=1e-9)


def test_atoms_outside_the_cell():
    """Moving an atom by lattice vectors changes nothing (dscribe 2.1.2 does not wrap, and differs)."""
    atoms, species, _ = CASES["random_crystal0"]
    moved = atoms.copy()
    moved.positions[2] += -2 * atoms.cell[1] + atoms.cell[2]
    kw = dict(species=species, periodic=True, **HYPER)
    _close(soap(moved, **kw), soap(atoms, **kw), rtol=1e-10)


# ---------------------------------------------------------------------------------- kernel


def test_soap_kernel():
    mols = [molecule(x) for x in ("H2O", "CH4", "CH3CH2OH", "CH3OH")]
    kw = dict(species=["H", "C", "O"], r_cut=4.0, n_max=3, l_max=3)
    k = soap_kernel(mols, zeta=2, **kw)
    assert k.shape == (4, 4) and np.allclose(np.diag(k), 1) and np.allclose(k, k.T)
    assert np.all((k >= 0) & (k <= 1 + 1e-12))
    p = np.stack([soap(m, average="outer", **kw) for m in mols])
    pn = p / np.linalg.norm(p, axis=1, keepdims=True)
    assert np.allclose(k, (pn @ pn.T) ** 2)
    assert np.allclose(soap_kernel(p, zeta=2), k)
    rotated = mols[2].copy()
    rotated.rotate(50, "y")
    assert soap_kernel(mols[2], rotated, **kw) == pytest.approx(1.0)
    assert soap_kernel(mols[0], mols[1], zeta=1, **kw) == pytest.approx(np.sqrt(k[0, 1]))
    with pytest.raises(ValueError, match="zeta"):
        soap_kernel(p, zeta=0)


# ---------------------------------------------------------------------------------- errors


def test_errors():
    water = molecule("H2O")
    sp = ["H", "O"]
    with pytest.raises(ValueError, match="> 1 angstrom for the GTO"):
        soap(water, sp, 0.9, 2, 2)
    with pytest.raises(ValueError, match="l_max must be <= 20"):
        soap(water, sp, 3.0, 2, 21)
    with pytest.raises(ValueError, match="rbf must be"):
        soap(water, sp, 3.0, 2, 2, rbf="spline")
    with pytest.raises(ValueError, match="compression must be one of"):
        soap(water, sp, 3.0, 2, 2, compression="mu3")
    with pytest.raises(ValueError, match="average must be one of"):
        soap(water, sp, 3.0, 2, 2, average="mean")
    with pytest.raises(ValueError, match="sigma must be a positive"):
        soap(water, sp, 3.0, 2, 2, sigma=0)
    with pytest.raises(ValueError, match="needs r0 > 0"):
        soap(water, sp, 3.0, 2, 2, weighting={"function": "poly", "c": 1, "m": 2})
    with pytest.raises(ValueError, match="centers must be atom indices"):
        soap(water, sp, 3.0, 2, 2, centers=[5])
    # r_cut may be inferred from a weighting function, as in dscribe
    w = {"function": "poly", "r0": 3.5, "c": 1, "m": 2}
    assert np.allclose(soap(water, sp, None, 2, 2, weighting=w), soap(water, sp, 3.5, 2, 2, weighting=w))
