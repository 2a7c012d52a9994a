"""The numba-compiled kernels of course_lib.descriptors give the numbers of the plain NumPy path.

Every case is computed twice in one process, with the compiled kernels and with
``_jit.ENABLED = False`` (the NumPy path, which is what runs when numba cannot be imported), on
QM7 molecules and JARVIS crystals from the course data. The Coulomb matrix is bit-for-bit equal;
ACSF and SOAP sum in another order and agree to 1e-12 of each structure's largest value. A
subprocess without numba checks the import fallback, and two fresh processes check that the
on-disk cache spares the second one the compilation.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from ase.build import molecule

from course_lib import data
from course_lib.descriptors import _jit, acsf, coulomb_matrix, featurize, soap
from course_lib.descriptors.correlations import power_spectrum

pytestmark = pytest.mark.skipif(not _jit.ENABLED, reason="numba is not installed: only the NumPy path exists")

QM7_SPECIES = ["H", "C", "N", "O", "S"]
G2 = [[1.0, 1.0], [1.0, 2.0], [1.0, 3.0], [0.1, 0.0]]
G3 = [1.0, 2.0]
G4 = [[0.05, 1.0, 1.0], [0.05, 2.0, 1.0], [0.05, 1.0, -1.0], [0.05, 2.5, -1.0], [0.2, 1.0, 1.0]]
G5 = [[0.05, 1.0, 1.0], [0.05, 1.0, -1.0]]
SOAP_M = dict(species=QM7_SPECIES, r_cut=5.0, n_max=8, l_max=6, sigma=1.0)


def _load(name, limit, column):
    try:
        return list(data.load_dataset(name, limit=limit, progress=False)[column])
    except data.DatasetUnavailableError as err:
        pytest.skip(f"{name} not available: {err}")


@pytest.fixture(scope="module")
def qm7():
    return _load("qm7", 120, "molecule")


@pytest.fixture(scope="module")
def jarvis():
    return _load("jarvis_dft3d_2021", 30, "structure")


def _both(fn, items, monkeypatch):
    fast = [fn(s) for s in items]
    with monkeypatch.context() as m:
        m.setattr(_jit, "ENABLED", False)
        slow = [fn(s) for s in items]
    return fast, slow


def _assert_close(fast, slow, rtol=1e-12):
    for k, (a, b) in enumerate(zip(fast, slow)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, k
        scale = np.abs(b).max()
        assert scale > 0, k
        assert np.abs(a - b).max() <= rtol * scale, (k, np.abs(a - b).max() / scale)


def test_coulomb_matrix_is_bit_identical(qm7, monkeypatch):
    for kw in (dict(n_atoms_max=23), dict(permutation="none", flatten=False)):
        fast, slow = _both(lambda s: coulomb_matrix(s, **kw), qm7, monkeypatch)
        assert all(np.array_equal(a, b) for a, b in zip(fast, slow))


def test_coulomb_matrix_close_atoms_still_named(monkeypatch):
    atoms = molecule("H2O")
    atoms.positions[2] = atoms.positions[0] + [0.05, 0.0, 0.0]
    with pytest.raises(ValueError, match="atom 0 .* and atom 2 .* closer than"):
        coulomb_matrix(atoms)


def test_acsf_molecules_and_crystals(qm7, jarvis, monkeypatch):
    fast, slow = _both(
        lambda s: acsf(s, QM7_SPECIES, 6.0, g2_params=G2, g3_params=G3, g4_params=G4, g5_params=G5), qm7, monkeypatch
    )
    _assert_close(fast, slow)
    species = sorted({e.symbol for s in jarvis for e in s.composition})
    fast, slow = _both(lambda s: acsf(s, species, 4.0, g2_params=G2, g4_params=G4, periodic=True), jarvis, monkeypatch)
    _assert_close(fast, slow)
    # selected (and repeated) centres
    fast, slow = _both(
        lambda s: acsf(s, QM7_SPECIES, 6.0, g2_params=G2, g4_params=G4, centers=[len(s) - 1, 0, 0]), qm7[:30], monkeypatch
    )
    _assert_close(fast, slow)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"centers": [2, 0, 2]},
        {"weighting": {"function": "pow", "r0": 3.0, "c": 1.0, "d": 1.0, "m": 2.0, "w0": 0.5}},
        {"rbf": "polynomial", "n_max": 5},
        {"average": "inner"},
        {"average": "outer"},
        {"compression": "crossover"},
    ],
    ids=["plain", "centers", "weighting", "polynomial", "inner", "outer", "crossover"],
)
def test_soap_molecules(qm7, monkeypatch, kw):
    params = dict(SOAP_M, **kw)
    fast, slow = _both(lambda s: soap(s, **params), qm7[:60], monkeypatch)
    _assert_close(fast, slow)


def test_soap_crystals_and_batches(qm7, jarvis, monkeypatch):
    species = sorted({e.symbol for s in jarvis for e in s.composition})
    params = dict(species=species, r_cut=4.0, n_max=4, l_max=3, periodic=True)
    for compression in ("off", "crossover"):
        fast, slow = _both(lambda s: soap(s, compression=compression, **params), jarvis[:12], monkeypatch)
        _assert_close(fast, slow)
    # the batched paths use the same kernels
    fast, slow = _both(lambda part: featurize(part, "soap", progress=False, **SOAP_M), [qm7], monkeypatch)
    _assert_close(fast[0], slow[0])
    acsf_kw = dict(species=QM7_SPECIES, r_cut=6.0, g2_params=G2, g4_params=G4, g5_params=G5)
    fast, slow = _both(lambda part: featurize(part, "acsf", progress=False, **acsf_kw), [qm7], monkeypatch)
    _assert_close(np.concatenate(fast[0]), np.concatenate(slow[0]))


def test_power_spectrum_equals_soap_bit_for_bit(qm7):
    # the compiled path forms every sum the same way whatever the species layout (the NumPy
    # path's BLAS products may differ in the last bit when a species is absent)
    params = dict(SOAP_M, n_max=4, l_max=4)
    for s in qm7[:10]:
        assert np.array_equal(power_spectrum(s, **params), soap(s, **params))


_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    {prelude}
    from ase.build import molecule
    from course_lib.descriptors import _jit, acsf, coulomb_matrix, soap
    from course_lib.descriptors.coulomb import _coulomb_kernel
    atoms = molecule("CH3CH2OH")
    start = time.perf_counter()
    cm = coulomb_matrix(atoms)
    seconds = time.perf_counter() - start
    out = {{
        "enabled": _jit.ENABLED,
        "seconds": seconds,
        "cm": cm.tolist(),
        "acsf": acsf(atoms, ["H", "C", "O"], 5.0, g2_params=[[1.0, 1.0]], g4_params=[[0.05, 2.0, 1.0]]).tolist(),
        "soap": soap(atoms, ["H", "C", "O"], 4.0, 4, 3).tolist(),
    }}
    if _coulomb_kernel is not None:
        out["misses"] = len(_coulomb_kernel.stats.cache_misses)
        out["hits"] = len(_coulomb_kernel.stats.cache_hits)
    print(json.dumps(out))
    """
)

# makes ``import numba`` fail, as on a machine without it
_BLOCK_NUMBA = """
class _NoNumba:
    def find_spec(self, name, path=None, target=None):
        if name == "numba" or name.startswith("numba."):
            raise ImportError("numba blocked for this test")
sys.meta_path.insert(0, _NoNumba())
"""


def _run(prelude="", env=None):
    code = _SCRIPT.format(prelude=prelude)
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_fallback_without_numba_gives_the_same_numbers():
    without = _run(_BLOCK_NUMBA)
    assert without["enabled"] is False and "misses" not in without
    atoms = molecule("CH3CH2OH")
    assert np.array_equal(np.array(without["cm"]), coulomb_matrix(atoms))
    ref_acsf = acsf(atoms, ["H", "C", "O"], 5.0, g2_params=[[1.0, 1.0]], g4_params=[[0.05, 2.0, 1.0]])
    _assert_close([np.array(without["acsf"])], [ref_acsf])
    _assert_close([np.array(without["soap"])], [soap(atoms, ["H", "C", "O"], 4.0, 4, 3)])
    assert _run(env={"COURSE_LIB_NUMBA": "0"})["enabled"] is False


def test_second_process_loads_the_compiled_kernels_from_the_disk_cache():
    _run()  # compiles (or already finds the cache)
    second = _run()
    assert second["enabled"] is True
    assert second["misses"] == 0 and second["hits"] >= 1
