"""Density correlations (chapter 9): agreement with featomic (spherical expansion, radial spectrum,
power spectrum, equivariant power spectrum) and with chapter 6's soap, Clebsch-Gordan
coefficients against sympy, invariance and equivariance under rotations (real Wigner matrices),
hand values, the incompleteness of ν = 1 and ν = 2 on degenerate pairs, compression, errors."""

from functools import lru_cache

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from numpy.random import default_rng
from scipy.spatial.transform import Rotation

from course_lib.descriptors import (
    alchemical_compression,
    bispectrum,
    bispectrum_from_coefficients,
    clebsch_gordan,
    contract,
    correlation_feature_count,
    density_coefficients,
    featomic_hypers,
    gfre,
    lambda_soap,
    lambda_soap_from_coefficients,
    mbtr,
    mbtr_n_features,
    mix_species,
    pca_radial_contraction,
    power_spectrum,
    power_spectrum_from_coefficients,
    radial_spectrum,
    real_clebsch_gordan,
    soap,
    wigner_d_real,
)
from course_lib.descriptors.soap import _gto_basis
from course_lib.grading.testing import random_crystal, random_molecule

pytestmark = pytest.mark.filterwarnings("ignore:Please use atoms.calc:FutureWarning")

SPECIES = ["H", "C", "O"]
HYPER = dict(r_cut=4.5, n_max=3, l_max=4, sigma=0.6)
ROT = Rotation.random(random_state=7).as_matrix()


def _molecules():
    return {
        "water": molecule("H2O"),
        "ethanol": molecule("CH3CH2OH"),
        "random0": random_molecule(default_rng(0), 7, ("H", "C", "O")),
        "random1": random_molecule(default_rng(1), 6, ("H", "C", "O")),
    }


def _rotated(atoms, rot=ROT, shift=(0.3, -1.2, 2.0)):
    out = atoms.copy()
    out.positions = atoms.positions @ np.asarray(rot).T + np.asarray(shift)
    return out


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


# ----------------------------------------------------------------------- soap, featurisation


@pytest.mark.parametrize("rbf", ["gto", "polynomial"])
def test_power_spectrum_is_soap(rbf):
    for atoms in _molecules().values():
        assert np.array_equal(power_spectrum(atoms, SPECIES, rbf=rbf, **HYPER), soap(atoms, SPECIES, rbf=rbf, **HYPER))
    crystal = random_crystal(default_rng(3), 5, ("H", "C", "O"))
    kw = dict(HYPER, periodic=True)
    assert np.allclose(power_spectrum(crystal, SPECIES, **kw), soap(crystal, SPECIES, **kw), rtol=1e-12, atol=1e-14)
    nacl = bulk("NaCl", "rocksalt", 5.64)
    assert np.allclose(power_spectrum(nacl, ["Na", "Cl"], centers=[1], **kw),
                       soap(nacl, ["Na", "Cl"], centers=[1], **kw), rtol=1e-12)


def test_list_input_concatenates_rows_and_scatters_species():
    mols = [molecule("H2O"), molecule("CH4"), molecule("CH3CH2OH")]  # H2O lacks C, CH4 lacks O
    batch = density_coefficients(mols, SPECIES, **HYPER)
    single = [density_coefficients(m, SPECIES, **HYPER) for m in mols]
    for l in range(HYPER["l_max"] + 1):
        assert np.allclose(batch[l], np.concatenate([s[l] for s in single]), rtol=1e-12, atol=1e-15)
    # the water rows have nothing in the carbon channel
    assert np.all(single[0][2][:, 1] == 0) and np.abs(single[0][2][:, 2]).max() > 0


def test_pymatgen_input():
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = molecule("CH3CH2OH")
    mol = AseAtomsAdaptor.get_molecule(atoms)
    assert np.allclose(bispectrum(mol, SPECIES, 4.0, 2, 2), bispectrum(atoms, SPECIES, 4.0, 2, 2), rtol=1e-12)


# ------------------------------------------------------------------------------- featomic

featomic = pytest.importorskip("featomic")


@lru_cache(maxsize=8)
def _featomic_hypers(r_cut, n_max, l_max, sigma):
    return featomic_hypers(r_cut, n_max, l_max, sigma)


FEAT = dict(r_cut=6.0, n_max=3, l_max=3, sigma=0.5)  # every neighbour inside r_cut (see module doc)
ZS = np.array([1, 6, 8])


def _sorted_block(block):
    order = np.lexsort((block.samples.column("atom"), block.samples.column("system")))
    return block.values[order]


def _featomic_molecules():
    mols = _molecules()
    for atoms in mols.values():
        d = np.linalg.norm(atoms.positions[:, None] - atoms.positions[None], axis=-1)
        assert d.max() < FEAT["r_cut"] - 0.5
    return mols


@pytest.mark.parametrize("name", ["water", "ethanol", "random0", "random1"])
def test_density_coefficients_match_featomic(name):
    atoms = _featomic_molecules()[name]
    calc = featomic.SphericalExpansion(**_featomic_hypers(*FEAT.values()))
    ref = calc.compute(atoms).keys_to_samples("center_type").keys_to_properties("neighbor_type")
    ours = density_coefficients(atoms, SPECIES, **FEAT)
    norm = (np.pi * FEAT["sigma"] ** 2) ** -0.75
    for l in range(FEAT["l_max"] + 1):
        block = ref.block(o3_lambda=l)
        v = _sorted_block(block)
        mapped = np.zeros_like(ours[l])
        for k, (z, n) in enumerate(block.properties.values):
            mapped[:, np.searchsorted(ZS, z), n, :] = v[:, :, k]
        assert _rel(ours[l] * norm, mapped) < 1e-7, l


def test_radial_spectrum_matches_featomic():
    h = _featomic_hypers(FEAT["r_cut"], FEAT["n_max"], 0, FEAT["sigma"])
    calc = featomic.SoapRadialSpectrum(
        cutoff=h["cutoff"], density=h["density"], basis={"radial": h["basis"].by_angular[0], "spline_accuracy": None}
    )
    norm = (np.pi * FEAT["sigma"] ** 2) ** -0.75
    for atoms in _featomic_molecules().values():
        ref = calc.compute(atoms).keys_to_samples("center_type").keys_to_properties("neighbor_type").block()
        v = _sorted_block(ref)
        ours = radial_spectrum(atoms, SPECIES, FEAT["r_cut"], FEAT["n_max"], FEAT["sigma"]).reshape(len(atoms), 3, -1)
        mapped = np.zeros_like(ours)
        for k, (z, n) in enumerate(ref.properties.values):
            mapped[:, np.searchsorted(ZS, z), n] = v[:, k]
        assert _rel(ours * norm, mapped) < 1e-7


def test_power_spectrum_matches_featomic():
    calc = featomic.SoapPowerSpectrum(**_featomic_hypers(*FEAT.values()))
    n_max, l_max, sigma = FEAT["n_max"], FEAT["l_max"], FEAT["sigma"]
    # featomic's prefactor is (-1)^l/sqrt(2l+1) (the l, l -> 0 Clebsch-Gordan coefficient), ours
    # pi sqrt(8/(2l+1)); and the density normalisation squared
    factor = (np.pi * sigma**2) ** -1.5 / (np.pi * np.sqrt(8.0))
    for atoms in _featomic_molecules().values():
        ref = calc.compute(atoms).keys_to_samples("center_type")
        ref = ref.keys_to_properties(["neighbor_1_type", "neighbor_2_type"]).block()
        v = _sorted_block(ref)
        ours = power_spectrum(atoms, SPECIES, **FEAT)
        # our (dscribe) column of (a <= b, l, n, n'), with n <= n' when a == b
        col, k = {}, 0
        for a in range(3):
            for b in range(a, 3):
                for l in range(l_max + 1):
                    for n1 in range(n_max):
                        for n2 in range(n1 if a == b else 0, n_max):
                            col[(a, b, l, n1, n2)] = k
                            k += 1
        assert k == ours.shape[1]
        covered = set()
        for j, (z1, z2, l, n1, n2) in enumerate(ref.properties.values):
            a, b = np.searchsorted(ZS, z1), np.searchsorted(ZS, z2)
            key = (a, b, l, n1, n2) if (a != b or n1 <= n2) else (a, b, l, n2, n1)
            # featomic keeps one of (a, b) and (b, a), scaled by sqrt(2) so dot products count both
            want = (-1) ** l * factor * ours[:, col[key]] * (np.sqrt(2.0) if a != b else 1.0)
            assert np.allclose(v[:, j], want, rtol=1e-7, atol=1e-8 * np.abs(v).max())
            covered.add(col[key])
        # every feature is compared, except those of elements absent from the molecule (zero)
        missing = sorted(set(range(ours.shape[1])) - covered)
        assert np.all(ours[:, missing] == 0)


def test_lambda_soap_matches_featomic():
    from featomic.clebsch_gordan import EquivariantPowerSpectrum

    r_cut, n_max, l_max, sigma = FEAT.values()
    # EquivariantPowerSpectrum reads max_angular from a TensorProduct basis; build it on a
    # native calculator of the same l_max, then give it the calculator with our basis
    native = featomic.SphericalExpansion(
        cutoff={"radius": r_cut, "smoothing": {"type": "Step"}},
        density={"type": "Gaussian", "width": sigma},
        basis={"type": "TensorProduct", "max_angular": l_max, "radial": {"type": "Gto", "max_radial": n_max - 1}},
    )
    calc = EquivariantPowerSpectrum(native)
    calc.calculator_1 = featomic.SphericalExpansion(**_featomic_hypers(r_cut, n_max, l_max, sigma))
    norm = (np.pi * sigma**2) ** -1.5
    atoms = _featomic_molecules()["ethanol"]
    ref = calc.compute(atoms, neighbors_to_properties=True).keys_to_samples("center_type")
    for lam in range(2 * l_max + 1):
        pairs = [(l1, l2) for l1 in range(l_max + 1) for l2 in range(l1, l_max + 1)
                 if abs(l1 - l2) <= lam <= l1 + l2 and (l1 + l2 + lam) % 2 == 0]
        ours = lambda_soap(atoms, SPECIES, r_cut, n_max, l_max, lam, sigma)
        ours = ours.reshape(len(atoms), 2 * lam + 1, 3, 3, len(pairs), n_max, n_max) * norm
        block = ref.block(o3_lambda=lam, o3_sigma=1)
        v = _sorted_block(block)
        assert v.shape[2] == ours[0, 0].size  # same number of features
        for k, (l1, l2, z1, n1, z2, n2) in enumerate(block.properties.values):
            got = ours[:, :, np.searchsorted(ZS, z1), np.searchsorted(ZS, z2), pairs.index((l1, l2)), n1, n2]
            assert np.allclose(got, v[:, :, k], rtol=1e-7, atol=1e-8 * np.abs(v).max()), (lam, l1, l2)


def test_bispectrum_matches_featomic():
    """featomic's DensityCorrelations (two Clebsch-Gordan products, coupled to λ = 0) is our
    bispectrum times (-1)^l3 / sqrt(2 l3 + 1) (the final l3, l3 -> 0 coupling) and the density
    normalisation cubed; the same (l1 <= l2 <= l3) combinations survive its redundancy filter."""
    from featomic.clebsch_gordan import DensityCorrelations
    from metatensor import Labels

    r_cut, n_max, l_max, sigma = 6.0, 2, 2, 0.5
    atoms = _featomic_molecules()["ethanol"]
    density = featomic.SphericalExpansion(**_featomic_hypers(r_cut, n_max, l_max, sigma)).compute(atoms)
    density = density.keys_to_samples("center_type").keys_to_properties("neighbor_type")
    ref = DensityCorrelations(n_correlations=2, max_angular=2 * l_max).compute(
        density, angular_cutoff=l_max, selected_keys=Labels(["o3_lambda", "o3_sigma"], np.array([[0, 1]], dtype=np.int32))
    )
    triplets = [(0, 0, 0), (0, 1, 1), (0, 2, 2), (1, 1, 2), (2, 2, 2)]
    ours = bispectrum(atoms, SPECIES, r_cut, n_max, l_max, sigma)
    ours = ours.reshape(len(atoms), 3, 3, 3, len(triplets), n_max, n_max, n_max) * (np.pi * sigma**2) ** -2.25
    seen = set()
    for key, block in ref.items():
        l1, l2, k2, l3 = (int(x) for x in key.values[2:])
        assert k2 == l3
        p = block.properties.values
        got = ours[:, np.searchsorted(ZS, p[:, 0]), np.searchsorted(ZS, p[:, 2]), np.searchsorted(ZS, p[:, 4]),
                   triplets.index((l1, l2, l3)), p[:, 1], p[:, 3], p[:, 5]]
        want = _sorted_block(block)[:, 0, :] * (-1) ** l3 * np.sqrt(2 * l3 + 1)
        assert np.allclose(got, want, rtol=1e-7, atol=1e-8 * np.abs(want).max()), (l1, l2, l3)
        seen.add((l1, l2, l3))
    assert seen == set(triplets)


# ------------------------------------------------------------------ Clebsch-Gordan, Wigner D


def test_clebsch_gordan_matches_sympy():
    from sympy.physics.wigner import clebsch_gordan as sympy_cg

    for l1 in range(4):
        for l2 in range(4):
            for L in range(abs(l1 - l2), l1 + l2 + 1):
                for m1 in range(-l1, l1 + 1):
                    for m2 in range(-l2, l2 + 1):
                        want = float(sympy_cg(l1, l2, L, m1, m2, m1 + m2)) if abs(m1 + m2) <= L else 0.0
                        assert abs(clebsch_gordan(l1, m1, l2, m2, L, m1 + m2) - want) < 1e-13
    # hand values: <1 0; 1 0 | 0 0> = -1/sqrt(3), <1 1; 1 -1 | 2 0> = 1/sqrt(6)
    assert np.isclose(clebsch_gordan(1, 0, 1, 0, 0, 0), -1 / np.sqrt(3))
    assert np.isclose(clebsch_gordan(1, 1, 1, -1, 2, 0), 1 / np.sqrt(6))
    assert clebsch_gordan(1, 1, 1, 1, 1, 1) == 0.0  # m1 + m2 != M


def test_real_clebsch_gordan_is_equivariant_and_orthonormal():
    rot = Rotation.random(random_state=3).as_matrix()
    for l1 in range(4):
        for l2 in range(4):
            stack = []
            for L in range(abs(l1 - l2), l1 + l2 + 1):
                cg = real_clebsch_gordan(l1, l2, L)
                assert cg.shape == (2 * L + 1, 2 * l1 + 1, 2 * l2 + 1)
                lhs = np.einsum("Mij,ia,jb->Mab", cg, wigner_d_real(l1, rot), wigner_d_real(l2, rot))
                rhs = np.einsum("MN,Nab->Mab", wigner_d_real(L, rot), cg)
                assert np.abs(lhs - rhs).max() < 1e-12
                stack.append(cg.reshape(2 * L + 1, -1))
            full = np.concatenate(stack)  # a real orthogonal matrix
            assert np.allclose(full @ full.T, np.eye(len(full)), atol=1e-12)
    # coupling two l = 1 vectors (our order y, z, x) to L = 0 is the dot product / -sqrt(3)
    a, b = np.array([0.3, -1.0, 2.0]), np.array([1.5, 0.2, -0.7])
    assert np.isclose(np.einsum("ij,i,j", real_clebsch_gordan(1, 1, 0)[0], a, b), -(a @ b) / np.sqrt(3))


def test_wigner_d_real():
    r1, r2 = ROT, Rotation.random(random_state=11).as_matrix()
    for l in range(6):
        d = wigner_d_real(l, r1)
        assert np.allclose(d @ d.T, np.eye(2 * l + 1), atol=1e-12)
        assert np.allclose(wigner_d_real(l, r1 @ r2), d @ wigner_d_real(l, r2), atol=1e-12)
        assert np.allclose(wigner_d_real(l, -np.eye(3)), (-1) ** l * np.eye(2 * l + 1), atol=1e-12)
    # l = 1 real harmonics are proportional to (y, z, x): D^1 is R in that order
    perm = [1, 2, 0]
    assert np.allclose(wigner_d_real(1, r1), r1[np.ix_(perm, perm)], atol=1e-13)
    assert np.allclose(wigner_d_real(0, r1), [[1.0]])


# ------------------------------------------------------------- invariance and equivariance


@pytest.mark.parametrize("name", ["ethanol", "random0"])
def test_coefficients_rotate_with_wigner_d(name):
    atoms = _molecules()[name]
    c = density_coefficients(atoms, SPECIES, **HYPER)
    cr = density_coefficients(_rotated(atoms), SPECIES, **HYPER)
    for l in range(HYPER["l_max"] + 1):
        assert np.abs(np.einsum("mk,rank->ranm", wigner_d_real(l, ROT), c[l]) - cr[l]).max() < 1e-12 * np.abs(c[0]).max()


@pytest.mark.parametrize("name", ["ethanol", "random1"])
def test_invariants_are_invariant(name):
    atoms = _molecules()[name]
    perm = default_rng(5).permutation(len(atoms))
    permuted = atoms[perm]
    inverted = _rotated(atoms, -np.eye(3))
    hyper = dict(HYPER, l_max=3)
    for func in (power_spectrum, bispectrum):
        x = func(atoms, SPECIES, **hyper)
        assert _rel(func(_rotated(atoms), SPECIES, **hyper), x) < 1e-11
        assert _rel(func(inverted, SPECIES, **hyper), x) < 1e-11  # only even l1 + l2 + l3 kept
        assert _rel(func(permuted, SPECIES, **hyper), x[perm]) < 1e-12
    rs = radial_spectrum(atoms, SPECIES, 4.5, 3, 0.6)
    assert _rel(radial_spectrum(_rotated(atoms), SPECIES, 4.5, 3, 0.6), rs) < 1e-12
    assert _rel(radial_spectrum(permuted, SPECIES, 4.5, 3, 0.6), rs[perm]) < 1e-12


def test_invariants_in_a_rotated_crystal():
    crystal = random_crystal(default_rng(2), 4, ("H", "C", "O"))
    turned = crystal.copy()
    turned.set_cell(crystal.cell[:] @ ROT.T, scale_atoms=True)
    kw = dict(r_cut=3.5, n_max=2, l_max=2, sigma=0.6, periodic=True)
    assert _rel(bispectrum(turned, SPECIES, **kw), bispectrum(crystal, SPECIES, **kw)) < 1e-10


@pytest.mark.parametrize("lam", [0, 1, 2, 3])
def test_lambda_soap_rotates_with_wigner_d(lam):
    atoms = _molecules()["ethanol"]
    x = lambda_soap(atoms, SPECIES, lam=lam, **HYPER)
    xr = lambda_soap(_rotated(atoms), SPECIES, lam=lam, **HYPER)
    assert x.shape[1] == 2 * lam + 1
    assert _rel(np.einsum("MN,rNf->rMf", wigner_d_real(lam, ROT), x), xr) < 1e-11
    if lam > 0:  # a genuinely covariant feature: it changes under the rotation
        assert _rel(xr, x) > 1e-2
    else:
        assert _rel(xr, x) < 1e-11


def test_lambda_zero_is_the_power_spectrum():
    atoms = _molecules()["water"]
    n_max, l_max = HYPER["n_max"], HYPER["l_max"]
    c = density_coefficients(atoms, SPECIES, **HYPER)
    x0 = lambda_soap_from_coefficients(c, 0)[:, 0].reshape(len(atoms), 3, 3, l_max + 1, n_max, n_max)
    for l in range(l_max + 1):
        want = np.einsum("ranm,rbkm->rabnk", c[l], c[l]) * (-1) ** l / np.sqrt(2 * l + 1)
        assert np.allclose(x0[:, :, :, l], want, atol=1e-14)
    ps = power_spectrum_from_coefficients(c)
    # first block: a = b = H, l = 0, n <= n'
    tri = np.triu_indices(n_max)
    assert np.allclose(ps[:, : len(tri[0])], np.pi * np.sqrt(8) * x0[:, 0, 0, 0][:, tri[0], tri[1]])


# ----------------------------------------------------------------------------- hand values


def test_two_atom_radial_spectrum_by_quadrature():
    """c_{n00} of the centre of an H2 pair by a direct radial integral of the angular average."""
    d, r_cut, n_max, sigma = 1.3, 4.0, 4, 0.5
    atoms = Atoms("H2", positions=[[0, 0, 0], [0.6, -0.8, 0.9]])
    atoms.positions[1] *= d / np.linalg.norm(atoms.positions[1])
    alphas, betas = _gto_basis(r_cut, n_max, 0)
    r = np.linspace(1e-6, 12.0, 200001)
    # angular integral of the two Gaussians (centre atom and neighbour at distance d)
    centre = 4 * np.pi * np.exp(-(r**2) / (2 * sigma**2))
    neighbour = 2 * np.pi * sigma**2 / (r * d) * (
        np.exp(-((r - d) ** 2) / (2 * sigma**2)) - np.exp(-((r + d) ** 2) / (2 * sigma**2))
    )
    g = betas[0] @ np.exp(-alphas[0][:, None] * r**2)  # (n, r)
    want = np.trapezoid(g * (centre + neighbour) * r**2, r, axis=1) / np.sqrt(4 * np.pi)
    got = radial_spectrum(atoms, ["H"], r_cut, n_max, sigma)
    assert np.allclose(got[0], want, rtol=1e-8)
    assert np.allclose(got[1], want, rtol=1e-8)  # the pair is symmetric


def test_bispectrum_special_triplets():
    atoms = _molecules()["random0"]
    n_max, l_max = 2, 3
    c = density_coefficients(atoms, SPECIES, 4.5, n_max, l_max, 0.6)
    b = bispectrum_from_coefficients(c)
    triplets = [(l1, l2, l3) for l1 in range(l_max + 1) for l2 in range(l1, l_max + 1)
                for l3 in range(l2, min(l1 + l2, l_max) + 1) if (l1 + l2 + l3) % 2 == 0]
    b = b.reshape(len(atoms), 3, 3, 3, len(triplets), n_max, n_max, n_max)
    # (0, 0, 0): the product of three radial-spectrum entries times Y00 coupling 1
    c0 = c[0][..., 0]
    assert np.allclose(b[..., 0, :, :, :], np.einsum("ran,rbm,rck->rabcnmk", c0, c0, c0), atol=1e-14)
    # (0, l, l): coupling l = 0 with l to l is the identity, so c_{n00} sum_m c_{n'lm} c_{n''lm}
    for l in range(1, l_max + 1):
        t = triplets.index((0, l, l))
        want = np.einsum("ran,rbmq,rckq->rabcnmk", c0, c[l], c[l])
        assert np.allclose(b[..., t, :, :, :], want, atol=1e-14)


# ---------------------------------------------------------------- incompleteness (degenerate pairs)


def _environment(vectors, symbol="C"):
    """A centre at the origin and neighbours at ``vectors`` (angstrom), all of one element."""
    vectors = np.asarray(vectors, dtype=float)
    return Atoms(symbol * (len(vectors) + 1), positions=np.vstack([[0, 0, 0], vectors]))


def _ring(steps, radius=1.5, n=8):
    phi = 2 * np.pi * np.asarray(steps) / n
    return _environment(np.stack([radius * np.cos(phi), radius * np.sin(phi), np.zeros_like(phi)], axis=1))


def test_radial_spectrum_cannot_see_angles_power_spectrum_can():
    # two neighbours at the same distance, at 60 and 120 degrees: same distances to the centre
    a = _environment([[1.4, 0, 0], [1.4 * np.cos(np.pi / 3), 1.4 * np.sin(np.pi / 3), 0]])
    b = _environment([[1.4, 0, 0], [1.4 * np.cos(2 * np.pi / 3), 1.4 * np.sin(2 * np.pi / 3), 0]])
    kw = dict(r_cut=4.0, sigma=0.4, centers=[0])
    ra, rb = radial_spectrum(a, ["C"], n_max=6, **kw), radial_spectrum(b, ["C"], n_max=6, **kw)
    assert _rel(ra, rb) < 1e-13
    pa, pb = power_spectrum(a, ["C"], n_max=6, l_max=4, **kw), power_spectrum(b, ["C"], n_max=6, l_max=4, **kw)
    assert _rel(pa, pb) > 1e-2


def test_power_spectrum_degenerate_pair_separated_by_bispectrum():
    """Homometric rings: {0,1,2,5} and {0,1,3,4} (in steps of 45 degrees) have the same multiset
    of pair angles, so every ν = 2 feature (a sum over neighbour pairs of a function of two
    distances and their angle) agrees; they are not related by any rotation or reflection (the
    first has three consecutive sites), and the ν = 3 features, which see triplets, differ."""
    a, b = _ring([0, 1, 2, 5]), _ring([0, 1, 3, 4])
    kw = dict(species=["C"], r_cut=4.0, n_max=6, l_max=6, sigma=0.4, centers=[0])
    assert _rel(radial_spectrum(a, ["C"], 4.0, 6, 0.4, centers=[0]), radial_spectrum(b, ["C"], 4.0, 6, 0.4, centers=[0])) < 1e-13
    pa, pb = power_spectrum(a, **kw), power_spectrum(b, **kw)
    assert _rel(pa, pb) < 1e-12
    ba, bb = bispectrum(a, **kw), bispectrum(b, **kw)
    assert _rel(ba, bb) > 1e-3
    # a rotated copy of the first ring is not separated (the difference is real, not noise)
    assert _rel(bispectrum(_rotated(a), **kw), ba) < 1e-11


# ------------------------------------------------------------------------------ compression


def _training_coefficients(n_structures=6, n_max=4, l_max=3):
    mols = [random_molecule(default_rng(s), 8, ("H", "C", "O")) for s in range(n_structures)]
    return density_coefficients(mols, SPECIES, 4.0, n_max, l_max, 0.5)


def test_alchemical_compression_is_pca_of_the_species_channels():
    c = _training_coefficients()
    u = alchemical_compression(c, 2)
    assert u.shape == (2, 3) and np.allclose(u @ u.T, np.eye(2), atol=1e-12)
    x = np.concatenate([cl.transpose(0, 2, 3, 1).reshape(-1, 3) for cl in c])
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    assert np.allclose(np.abs(u), np.abs(vt[:2]), atol=1e-10)  # leading right singular vectors
    # kept second moment = the two largest squared singular values
    mixed = mix_species(c, u)
    assert np.isclose(sum((m**2).sum() for m in mixed), (s[:2] ** 2).sum())
    # all three pseudo-elements: an orthogonal change of basis, undone by u.T
    full = alchemical_compression(c, 3)
    back = mix_species(mix_species(c, full), full.T)
    assert all(np.allclose(x1, x2, atol=1e-12) for x1, x2 in zip(back, c))


def test_compression_gfre_decreases_to_zero():
    # 240 centres, 63 power-spectrum features: the linear maps of the GFRE are well determined
    c = _training_coefficients(30, n_max=2, l_max=2)
    ref = power_spectrum_from_coefficients(c)
    errors = [gfre(power_spectrum_from_coefficients(mix_species(c, alchemical_compression(c, k))), ref)
              for k in (1, 2, 3)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-6
    u = pca_radial_contraction(c, 6)  # 6 = 3 species x 2 radial: lossless
    assert all(ul.shape == (6, 6) and np.allclose(ul @ ul.T, np.eye(6), atol=1e-12) for ul in u)
    small = contract(c, pca_radial_contraction(c, 2))
    assert small[2].shape == (len(c[0]), 1, 2, 5)
    e_small = gfre(power_spectrum_from_coefficients(small), ref)
    e_full = gfre(power_spectrum_from_coefficients(contract(c, u)), ref)
    assert e_small > 0.05 and e_full < 1e-6


# ----------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("n_species, n_max, l_max", [(1, 2, 0), (2, 3, 2), (3, 2, 3)])
def test_correlation_feature_count_is_the_output_length(n_species, n_max, l_max):
    species = ["H", "C", "O"][:n_species]
    atoms = Atoms("".join(species) + "H", positions=default_rng(3).normal(scale=1.2, size=(n_species + 1, 3)))
    c = density_coefficients(atoms, species, 4.0, n_max, l_max, 0.5)
    assert radial_spectrum(atoms, species, 4.0, n_max, 0.5).shape[1] == correlation_feature_count(1, n_max, l_max, n_species)
    assert power_spectrum_from_coefficients(c).shape[1] == correlation_feature_count(2, n_max, l_max, n_species)
    assert soap(atoms, species, 4.0, n_max, l_max, 0.5).shape[1] == correlation_feature_count(2, n_max, l_max, n_species)
    assert bispectrum_from_coefficients(c).shape[1] == correlation_feature_count(3, n_max, l_max, n_species)
    for lam in range(2 * l_max + 1):
        assert lambda_soap_from_coefficients(c, lam).shape[1:] == (
            2 * lam + 1, correlation_feature_count(2, n_max, l_max, n_species, lam=lam))
    u = alchemical_compression(c, 1)
    assert bispectrum_from_coefficients(mix_species(c, u)).shape[1] == correlation_feature_count(3, n_max, l_max, 1)
    # hand counts: 2 species, n_max = 3, l_max = 2 -> 6 channels; triplets (000), (011), (022), (112), (222)
    assert correlation_feature_count(2, 3, 2, 2) == 21 * 3 and correlation_feature_count(3, 3, 2, 2) == 216 * 5


def test_correlation_feature_count_errors():
    with pytest.raises(ValueError, match="nu must be 1, 2 or 3"):
        correlation_feature_count(4, 2, 2, 1)
    with pytest.raises(ValueError, match="lam is only defined for nu = 2"):
        correlation_feature_count(3, 2, 2, 1, lam=1)
    with pytest.raises(ValueError, match="lam must be an integer"):
        correlation_feature_count(2, 2, 1, 1, lam=3)
    with pytest.raises(ValueError, match="n_species must be an integer >= 1"):
        correlation_feature_count(2, 2, 1, 0)


def test_errors():
    water = molecule("H2O")
    with pytest.raises(ValueError, match="not in species"):
        power_spectrum(water, ["H"], 4.0, 2, 2)
    with pytest.raises(ValueError, match="r_cut must be > 1"):
        bispectrum(water, ["H", "O"], 0.9, 2, 2)
    with pytest.raises(ValueError, match="n_max"):
        radial_spectrum(water, ["H", "O"], 4.0, 0)
    with pytest.raises(ValueError, match="centers must be atom indices"):
        density_coefficients(water, ["H", "O"], 4.0, 2, 2, centers=[5])
    with pytest.raises(ValueError, match="single structure"):
        density_coefficients([water, water], ["H", "O"], 4.0, 2, 2, centers=[0])
    with pytest.raises(ValueError, match="empty list"):
        density_coefficients([], ["H", "O"], 4.0, 2, 2)
    with pytest.raises(ValueError, match=r"lam must be an integer in \[0, 2\*l_max\] = \[0, 4\]"):
        lambda_soap(water, ["H", "O"], 4.0, 2, 2, lam=5)
    with pytest.raises(ValueError, match="cannot couple"):
        real_clebsch_gordan(1, 1, 3)
    with pytest.raises(ValueError, match="orthogonal 3x3"):
        wigner_d_real(1, np.ones((3, 3)))
    c = density_coefficients(water, ["H", "O"], 4.0, 2, 2)
    with pytest.raises(ValueError, match=r"coeffs\[1\] must have shape"):
        power_spectrum_from_coefficients([c[0], c[2]])
    with pytest.raises(ValueError, match=r"n_pseudo must be an integer in \[1, 2\]"):
        alchemical_compression(c, 3)
    with pytest.raises(ValueError, match="one column per species"):
        mix_species(c, np.eye(3))
    with pytest.raises(ValueError, match=r"shape \(k, 4\)"):
        contract(c, [np.eye(3)] * 3)


# ------------------------------------------------------------------------------------ MBTR

MBTR_TERMS = {
    "k1": dict(geometry={"function": "atomic_number"}, grid={"min": 0, "max": 9, "n": 50, "sigma": 0.3}),
    "k2_distance": dict(geometry={"function": "distance"}, grid={"min": 0, "max": 5, "n": 60, "sigma": 0.1}),
    "k2_inverse_exp": dict(geometry={"function": "inverse_distance"}, grid={"min": 0, "max": 1.2, "n": 60, "sigma": 0.05},
                           weighting={"function": "exp", "scale": 0.5, "threshold": 1e-3}),
    "k2_inverse_square": dict(geometry={"function": "distance"}, grid={"min": 0, "max": 5, "n": 60, "sigma": 0.1},
                              weighting={"function": "inverse_square", "r_cut": 3.0}),
    "k3_angle": dict(geometry={"function": "angle"}, grid={"min": 0, "max": 180, "n": 90, "sigma": 5}),
    "k3_cosine_exp": dict(geometry={"function": "cosine"}, grid={"min": -1, "max": 1, "n": 50, "sigma": 0.05},
                          weighting={"function": "exp", "r_cut": 5.0, "threshold": 1e-3}),
    "k3_smooth": dict(geometry={"function": "angle"}, grid={"min": 0, "max": 180, "n": 90, "sigma": 5},
                      weighting={"function": "smooth_cutoff", "r_cut": 3.2}),
}
PERIODIC_TERMS = ["k1", "k2_inverse_exp", "k2_inverse_square", "k3_cosine_exp", "k3_smooth"]


def _dscribe_mbtr(atoms, species, **kw):
    from dscribe.descriptors import MBTR

    return MBTR(species=species, **kw).create(atoms)


@pytest.mark.parametrize("term", list(MBTR_TERMS))
@pytest.mark.parametrize("normalization", ["none", "l2", "n_atoms"])
def test_mbtr_matches_dscribe_molecules(term, normalization):
    pytest.importorskip("dscribe")
    for atoms in (_molecules()["ethanol"], _molecules()["random0"]):
        kw = dict(MBTR_TERMS[term], normalization=normalization)
        ref = _dscribe_mbtr(atoms, SPECIES, **kw)
        ours = mbtr(atoms, SPECIES, **kw)
        assert ours.shape == ref.shape == (mbtr_n_features(SPECIES, int(term[1]), kw["grid"]["n"]),)
        assert np.allclose(ours, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("term", PERIODIC_TERMS)
@pytest.mark.parametrize("normalization", ["none", "valle_oganov"])
def test_mbtr_matches_dscribe_crystals(term, normalization):
    pytest.importorskip("dscribe")
    crystals = [(random_crystal(default_rng(0), 5, ("H", "C", "O")), SPECIES),
                (bulk("NaCl", "rocksalt", 5.64, cubic=True), ["Na", "Cl"])]
    for atoms, species in crystals:
        kw = dict(MBTR_TERMS[term], normalization=normalization, periodic=True)
        ref = _dscribe_mbtr(atoms, species, **kw)
        ours = mbtr(atoms, species, **kw)
        # 1e-14 except smooth_cutoff (1e-8: neighbours right at r_cut, whose weight is ~0)
        assert np.abs(ours - ref).max() <= 1e-7 * np.abs(ref).max()


def test_mbtr_hand_values_and_invariances():
    # k2 of H2: one Gaussian of area 1 at the bond length; the grid is the cell average
    atoms = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    grid = {"min": 0.0, "max": 2.0, "n": 201, "sigma": 0.05}
    x = mbtr(atoms, ["H"], {"function": "distance"}, grid)
    xs = np.linspace(0, 2, 201)
    assert np.isclose(x.sum() * 0.01, 1.0) and xs[np.argmax(x)] == pytest.approx(0.74)
    peak = mbtr(atoms, ["H"], {"function": "distance"}, grid, normalize_gaussians=False).max()
    assert peak == pytest.approx(1.0, abs=2e-3)  # unit height, up to the cell average
    # k3 of a water molecule: one angle (at O), in the O-centred H-H block
    water = molecule("H2O")
    k3 = mbtr(water, ["H", "O"], {"function": "angle"}, {"min": 0, "max": 180, "n": 181, "sigma": 1.0})
    blocks = k3.reshape(6, 181)  # centre H: (H,H), (H,O), (O,O); centre O: (H,H), (H,O), (O,O)
    assert np.argmax(blocks[3]) == round(water.get_angle(1, 0, 2))
    assert np.isclose(blocks[3].sum(), 1.0, atol=1e-6)
    assert np.isclose(blocks[1].sum(), 2.0, atol=1e-6)  # two H-H-O angles, centred on an H
    # invariance: rotation, translation, permutation
    ethanol = _molecules()["ethanol"]
    for term in ("k2_inverse_exp", "k3_angle"):
        ref = mbtr(ethanol, SPECIES, **MBTR_TERMS[term])
        assert _rel(mbtr(_rotated(ethanol), SPECIES, **MBTR_TERMS[term]), ref) < 1e-10
        assert _rel(mbtr(ethanol[::-1], SPECIES, **MBTR_TERMS[term]), ref) < 1e-12
    # a crystal: the conventional NaCl cell (4 primitive cells) gives 4 times the primitive values
    prim, conv = bulk("NaCl", "rocksalt", 5.64), bulk("NaCl", "rocksalt", 5.64, cubic=True)
    for term in ("k2_inverse_exp", "k3_cosine_exp"):
        kw = dict(MBTR_TERMS[term], periodic=True)
        assert _rel(mbtr(conv, ["Na", "Cl"], **kw), 4 * mbtr(prim, ["Na", "Cl"], **kw)) < 1e-10


def test_mbtr_errors():
    water = molecule("H2O")
    grid = {"min": 0, "max": 5, "n": 50, "sigma": 0.1}
    with pytest.raises(ValueError, match="geometry must be a dict"):
        mbtr(water, ["H", "O"], {"function": "volume"}, grid)
    with pytest.raises(ValueError, match="grid must be a dict"):
        mbtr(water, ["H", "O"], {"function": "distance"}, {"min": 0, "max": 5})
    with pytest.raises(ValueError, match="smaller than 'max'"):
        mbtr(water, ["H", "O"], {"function": "distance"}, dict(grid, min=6))
    with pytest.raises(ValueError, match="not available for k=2"):
        mbtr(water, ["H", "O"], {"function": "distance"}, grid, weighting={"function": "smooth_cutoff", "r_cut": 3})
    with pytest.raises(ValueError, match="exactly one of 'scale' or 'r_cut'"):
        mbtr(water, ["H", "O"], {"function": "distance"}, grid, weighting={"function": "exp", "threshold": 1e-3})
    with pytest.raises(ValueError, match="not in species"):
        mbtr(water, ["O"], {"function": "distance"}, grid)
    nacl = bulk("NaCl", "rocksalt", 5.64)
    with pytest.raises(ValueError, match="other than 'unity'"):
        mbtr(nacl, ["Na", "Cl"], {"function": "distance"}, grid, periodic=True)
    with pytest.raises(ValueError, match="valle_oganov"):
        mbtr(water, ["H", "O"], {"function": "distance"}, grid, normalization="valle_oganov")
    with pytest.raises(ValueError, match="structure with a cell"):
        mbtr(water, ["H", "O"], {"function": "distance"}, grid, weighting={"function": "inverse_square", "r_cut": 3},
             periodic=True)
