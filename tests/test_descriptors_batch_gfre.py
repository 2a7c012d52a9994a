"""Batch featurization (same numbers as single calls, parallel, progress bar) and the GFRE."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from course_lib.descriptors import acsf, coulomb_matrix, featurize, gfre, sine_matrix, soap

MOLS = [molecule(x) for x in ("H2O", "CH3CH2OH", "NH3", "CH4", "C6H6", "CH3OH", "HCN")]
CRYSTALS = [bulk("NaCl", "rocksalt", 5.64), bulk("NaCl", "rocksalt", 5.64, cubic=True),
            bulk("Na", "bcc", 4.2), bulk("NaCl", "rocksalt", 5.5).repeat((1, 1, 2))]
SOAP_KW = dict(species=["H", "C", "N", "O", "Na", "Cl"], r_cut=4.0, n_max=3, l_max=3)


def test_matrices_equal_single_calls():
    X = featurize(MOLS, "coulomb_matrix", n_atoms_max=12, progress=False, chunk_size=3)
    assert X.shape == (len(MOLS), 144)
    for x, m in zip(X, MOLS):
        assert np.array_equal(x, coulomb_matrix(m, n_atoms_max=12))
    X = featurize(MOLS, "coulomb_matrix", permutation="eigenspectrum", progress=False)
    assert X.shape == (len(MOLS), 12)  # n_atoms_max defaults to the largest structure
    S = featurize(CRYSTALS, "sine_matrix", progress=False)
    for x, c in zip(S, CRYSTALS):
        assert np.allclose(x, sine_matrix(c, n_atoms_max=8), rtol=1e-14)


def test_local_descriptors_equal_single_calls_on_mixed_input():
    mixed = MOLS[:4] + CRYSTALS
    out = featurize(mixed, "soap", periodic=True, progress=False, chunk_size=3, **SOAP_KW)
    assert isinstance(out, list) and len(out) == len(mixed)
    for o, s in zip(out, mixed):
        assert np.allclose(o, soap(s, periodic=True, **SOAP_KW), rtol=1e-12, atol=1e-14)
    avg = featurize(mixed, "soap", periodic=True, average="inner", progress=False, **SOAP_KW)
    assert avg.shape == (len(mixed), out[0].shape[1])
    stacked = featurize(mixed, "acsf", species=SOAP_KW["species"], r_cut=5.0, g2_params=[[0.5, 1.0]],
                        g4_params=[[0.01, 1, 1]], periodic=True, stack=True, progress=False)
    ref = np.concatenate([acsf(s, SOAP_KW["species"], 5.0, g2_params=[[0.5, 1.0]], g4_params=[[0.01, 1, 1]],
                               periodic=True) for s in mixed])
    assert np.allclose(stacked, ref, rtol=1e-12)


def test_random_permutation_stream_and_parallel_jobs():
    rng = np.random.RandomState(7)
    serial = featurize(MOLS, "coulomb_matrix", permutation="random", sigma=3.0, seed=7, progress=False,
                       chunk_size=2)
    singles = [coulomb_matrix(m, n_atoms_max=12, permutation="random", sigma=3.0, seed=rng) for m in MOLS]
    assert np.allclose(serial, singles)
    # two worker processes give the same numbers as one (deterministic descriptors)
    par = featurize(MOLS * 3, "acsf", species=SOAP_KW["species"], r_cut=4.0, g2_params=[[1.0, 0.0]],
                    n_jobs=2, chunk_size=4, progress=False)
    ser = featurize(MOLS * 3, "acsf", species=SOAP_KW["species"], r_cut=4.0, g2_params=[[1.0, 0.0]],
                    progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(par, ser))


def test_progress_bar_and_callable(capsys):
    out = featurize(MOLS[:3], lambda s, scale: scale * np.ones(len(s)), scale=2.0, progress=True)
    assert [o.tolist() for o in out[:1]] == [[2.0, 2.0, 2.0]]
    featurize(MOLS[:3], "coulomb_matrix", progress=True)
    assert "coulomb_matrix" in capsys.readouterr().err


def test_featurize_errors():
    with pytest.raises(ValueError, match="empty"):
        featurize([], "soap")
    with pytest.raises(ValueError, match="unknown descriptor"):
        featurize(MOLS, "mbtr")
    with pytest.raises(TypeError, match="sequence of structures"):
        featurize(MOLS[0], "coulomb_matrix")
    with pytest.raises(ValueError, match="unknown parameters for soap"):
        featurize(MOLS, "soap", n_jobs=1, progress=False, cutoff=3.0, **SOAP_KW)
    with pytest.raises(ValueError, match="structure 4 has 12 atoms, more than n_atoms_max=5"):
        featurize(MOLS, "coulomb_matrix", n_atoms_max=5, progress=False)


# ------------------------------------------------------------------------------------ GFRE


def test_gfre_limits_and_asymmetry():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6))
    assert gfre(x, x @ rng.normal(size=(6, 4))) < 1e-8  # linear function of A: perfect
    assert gfre(x, rng.normal(size=(2000, 3))) == pytest.approx(1.0, abs=0.05)  # independent
    rich, poor = x, x[:, :3]
    assert gfre(rich, poor) < 1e-8
    # poor -> rich misses half of the (unit) variance: GFRE ~ sqrt(1/2), up to sampling noise
    assert gfre(poor, rich) == pytest.approx(np.sqrt(0.5), abs=0.04)


def test_gfre_is_scale_and_shift_invariant_and_seeded():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(120, 4))
    b = np.tanh(a[:, :2]) + 0.1 * rng.normal(size=(120, 2))
    ref = gfre(a, b)
    assert gfre(10 * a + 3, 0.01 * b - 7) == pytest.approx(ref, rel=1e-6)
    assert gfre(a, b, seed=0) == ref
    assert 0 < ref < 1
    idx = np.arange(60)
    assert gfre(a, b, train_idx=idx) == gfre(a, b, train_idx=idx, test_idx=np.arange(60, 120))


def test_gfre_on_descriptors():
    """Radial-only ACSF cannot reconstruct the angular (SOAP) information completely."""
    rng = np.random.default_rng(2)
    envs = []
    for _ in range(60):
        pos = rng.uniform(-1.6, 1.6, (5, 3))
        pos[0] = 0
        envs.append(Atoms("H5", positions=pos * 1.2))
    envs = [e for e in envs if np.min(e.get_all_distances() + 9 * np.eye(5)) > 0.5]
    soap_x = np.stack([soap(e, ["H"], 3.5, 4, 4, centers=[0])[0] for e in envs])
    g2 = [[eta, 0.0] for eta in (0.1, 0.5, 1, 2, 4)]
    acsf_x = np.stack([acsf(e, ["H"], 3.5, g2_params=g2, centers=[0])[0] for e in envs])
    assert gfre(soap_x, acsf_x) < gfre(acsf_x, soap_x)


def test_gfre_errors():
    with pytest.raises(ValueError, match="same samples"):
        gfre(np.ones((10, 2)), np.ones((9, 2)))
    with pytest.raises(ValueError, match="NaN"):
        gfre(np.full((10, 2), np.nan), np.ones((10, 2)))
    with pytest.raises(ValueError, match="constant"):
        gfre(np.ones((10, 2)), np.random.default_rng(0).normal(size=(10, 2)))
