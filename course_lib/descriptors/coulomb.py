r"""Coulomb matrix (Rupp et al., Phys. Rev. Lett. 108, 058301 (2012)).

The Coulomb matrix of a structure with atomic numbers :math:`Z_i` and positions
:math:`\mathbf{R}_i` (in angstrom) is

.. math::

    C_{ij} = \begin{cases} \tfrac{1}{2} Z_i^{2.4} & i = j \\
             \dfrac{Z_i Z_j}{\lVert \mathbf{R}_i - \mathbf{R}_j \rVert} & i \neq j \end{cases}

The diagonal is a fit of the free-atom energy to :math:`Z`, the off-diagonal is the Coulomb
repulsion of the nuclei. Distances are in angstrom (not bohr), as in dscribe.

The matrix depends on the order of the atoms. ``permutation`` selects how that is handled, with
the definitions of dscribe 2.1.2 (Himanen et al., Comput. Phys. Commun. 247, 106949 (2020)):

- ``"none"``: the atom order of the input;
- ``"sorted_l2"``: rows and columns sorted by decreasing row norm :math:`\lVert C_{i\cdot}\rVert_2`
  (a stable sort: ties keep the input order; see below for how ties are detected);
- ``"eigenspectrum"``: the eigenvalues, sorted by decreasing absolute value (Rupp et al.);
- ``"random"``: the row norms plus Gaussian noise of standard deviation ``sigma`` decide the
  order (Montavon et al., NIPS 25 (2012)); a new draw for every call, a data-augmentation device.

Structures with fewer than ``n_atoms_max`` atoms are zero-padded: the matrix is placed in the
top-left corner of an ``n_atoms_max x n_atoms_max`` zero matrix (flattened row by row), the
eigenspectrum is followed by zeros.

Conventions follow dscribe's ``CoulombMatrix`` exactly, including the random permutation: with an
integer ``seed`` the noise is drawn the way dscribe's C++ extension draws it (the Mersenne
twister ``std::mt19937`` seeded with ``seed`` and the polar method of libstdc++'s
``std::normal_distribution``), so ``coulomb_matrix(..., permutation="random", seed=s)`` equals the
first ``CoulombMatrix(..., seed=s).create`` call. Deliberate deviations: ``seed=None`` draws fresh
entropy (dscribe uses seed 0), ``n_atoms_max=None`` means "the number of atoms", and for
``"sorted_l2"`` the row norms are compared after rounding to 10 significant digits. Atoms related
by symmetry have mathematically equal norms; dscribe sorts the raw floating-point norms, so the
order among such atoms (and hence the matrix, when the tied atoms are not interchangeable) depends
on rounding noise and can change under a rigid translation. With the rounding, ties keep the input
order and the result is reproducible; without exact ties the output is identical to dscribe's.

Speed: with ``numba`` installed, a single structure with ``permutation="none"`` or
``"sorted_l2"`` is computed by a compiled kernel (bit-for-bit the numbers of the NumPy code; see
``course_lib/descriptors/_jit.py``; the first call of a Python process compiles it or loads it
from the on-disk cache). Without numba, or with ``COURSE_LIB_NUMBA=0``, the NumPy code runs.
"""

from __future__ import annotations

import math

import numpy as np

from . import _jit
from ._systems import MIN_DISTANCE, System, as_system, check_pairs_min_distance

__all__ = ["coulomb_matrix"]

PERMUTATIONS = ("none", "sorted_l2", "eigenspectrum", "random")


def coulomb_matrix(
    system,
    n_atoms_max: int | None = None,
    permutation: str = "sorted_l2",
    sigma: float | None = None,
    seed=None,
    flatten: bool = True,
) -> np.ndarray:
    r"""Coulomb matrix of one structure.

    Parameters
    ----------
    system : ase.Atoms or pymatgen.core.Structure or pymatgen.core.Molecule
        The structure (periodicity is ignored: the Coulomb matrix is a molecular descriptor; use
        :func:`~course_lib.descriptors.sine_matrix` for crystals).
    n_atoms_max : int, optional
        Size after zero-padding; default: the number of atoms.
    permutation : str
        ``"sorted_l2"`` (default), ``"none"``, ``"eigenspectrum"`` or ``"random"`` (see the module
        documentation).
    sigma : float, optional
        Standard deviation of the noise added to the row norms; required for, and only allowed
        with, ``permutation="random"``.
    seed : int or numpy.random.RandomState, optional
        Seed of the random permutation. An integer reproduces dscribe's stream; a
        ``RandomState`` continues its stream (use one for a sequence of structures);
        None draws fresh entropy.
    flatten : bool
        Return a flat vector (default) or the ``(n_atoms_max, n_atoms_max)`` matrix.

    Returns
    -------
    numpy.ndarray
        ``(n_atoms_max**2,)`` (or ``(n_atoms_max, n_atoms_max)``), or ``(n_atoms_max,)`` for the
        eigenspectrum.

    Examples
    --------
    >>> from ase import Atoms
    >>> coulomb_matrix(Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]]), flatten=False)
    array([[0.5       , 1.35135135],
           [1.35135135, 0.5       ]])
    """
    sysm = as_system(system)
    n_max = _check_matrix_args(n_atoms_max, permutation, sigma, [len(sysm)])
    if permutation in ("none", "sorted_l2"):
        if _jit.ENABLED:
            out = np.zeros(n_max * n_max)
            closest = _coulomb_kernel(sysm.positions, sysm.numbers, _HALF_Z24, permutation == "sorted_l2", n_max, out)
            if closest >= MIN_DISTANCE:
                return out if flatten else out.reshape(n_max, n_max)
            # too close a pair: the NumPy path names it in its error
        return _coulomb_single(sysm, n_max, permutation, flatten)
    rng = _make_rng(seed) if permutation == "random" else None
    return _coulomb_batch([sysm], n_max, permutation, sigma, rng, flatten)[0]


def _coulomb_single(s: System, n_atoms_max: int, permutation: str, flatten: bool) -> np.ndarray:
    """The same numbers as :func:`_coulomb_batch` for one system, with 2-D arrays (less overhead)."""
    pos = s.positions
    z = s.numbers.astype(np.float64)
    n = len(z)
    dist = None
    for coord in pos.T:  # same arithmetic as the batch kernel
        dc = coord[:, None] - coord[None, :]
        dc *= dc
        dist = dc if dist is None else dist + dc
    np.sqrt(dist, out=dist)
    diag = dist.reshape(-1)[:: n + 1]  # a view of the diagonal
    diag[:] = np.inf
    if n > 1 and dist.min() < MIN_DISTANCE:
        i, j = np.nonzero(dist < MIN_DISTANCE)
        check_pairs_min_distance(s, i, j, dist[i, j])
    mat = z[:, None] * z[None, :]
    mat /= dist
    mat.reshape(-1)[:: n + 1] = 0.5 * z**2.4
    if permutation == "sorted_l2":
        order = np.argsort(-_tie_key(np.sqrt(np.einsum("ij,ij->i", mat, mat))), kind="stable")
        mat = mat[order[:, None], order]
    if n == n_atoms_max:
        return mat.ravel() if flatten else mat
    out = np.zeros((n_atoms_max, n_atoms_max))
    out[:n, :n] = mat
    return out.ravel() if flatten else out


# 0.5 Z^2.4 for Z = 0..118, by numpy's power (the value the NumPy paths compute per structure)
_HALF_Z24 = 0.5 * np.arange(119, dtype=np.float64) ** 2.4
_HALF_Z24.flags.writeable = False


def _coulomb_kernel_py(pos, numbers, half_z24, sort, n_atoms_max, out):
    """Compiled form of :func:`_coulomb_single` (the same IEEE operations in the same order, so
    the same bits; the row norms only decide the order). Writes the (sorted) matrix zero-padded
    into the flat ``out`` and returns the smallest interatomic distance (inf for one atom)."""
    n = len(numbers)
    mat = np.empty((n, n))
    closest = np.inf
    for i in range(n):
        zi = float(numbers[i])
        mat[i, i] = half_z24[numbers[i]]
        for j in range(i + 1, n):
            dx = pos[i, 0] - pos[j, 0]
            dy = pos[i, 1] - pos[j, 1]
            dz = pos[i, 2] - pos[j, 2]
            d = np.sqrt(dx * dx + dy * dy + dz * dz)
            closest = min(closest, d)
            v = zi * float(numbers[j]) / d
            mat[i, j] = v
            mat[j, i] = v
    order = np.arange(n)
    if sort:
        norms = np.empty(n)
        for i in range(n):
            acc = 0.0
            for j in range(n):
                acc += mat[i, j] * mat[i, j]
            norms[i] = np.sqrt(acc)
        scale = norms.max()
        if scale == 0.0:
            scale = 1.0
        key = np.empty(n)
        for i in range(n):  # _tie_key: np.round (half to even), written out
            x = norms[i] / scale * 1e10
            rounded = math.floor(x)
            frac = x - rounded  # exact
            if frac > 0.5 or (frac == 0.5 and rounded % 2.0 == 1.0):
                rounded += 1.0
            key[i] = rounded
        # stable sort by decreasing key (insertion sort: ties keep the input order; n is small,
        # and np.argsort would triple the compile time)
        for a in range(1, n):
            moving = order[a]
            b = a
            while b > 0 and key[order[b - 1]] < key[moving]:
                order[b] = order[b - 1]
                b -= 1
            order[b] = moving
    for a in range(n):
        for b in range(n):
            out[a * n_atoms_max + b] = mat[order[a], order[b]]
    return closest


_coulomb_kernel = _jit.jit(_coulomb_kernel_py)


def _check_matrix_args(n_atoms_max, permutation, sigma, sizes) -> int:
    if permutation not in PERMUTATIONS:
        raise ValueError(f"permutation must be one of {PERMUTATIONS}, got {permutation!r}.")
    if permutation == "random":
        if sigma is None or not (isinstance(sigma, (int, float, np.number)) and sigma > 0):
            raise ValueError(
                "permutation='random' needs sigma > 0, the standard deviation of the noise added "
                f"to the row norms (e.g. sigma=1.0); got sigma={sigma!r}."
            )
    elif sigma is not None:
        raise ValueError(
            f"sigma is only used with permutation='random' (got permutation={permutation!r}); "
            "remove sigma or set permutation='random'."
        )
    biggest = max(sizes)
    if n_atoms_max is None:
        return int(biggest)
    if isinstance(n_atoms_max, bool) or not isinstance(n_atoms_max, (int, np.integer)) or n_atoms_max < 1:
        raise ValueError(f"n_atoms_max must be a positive integer, got {n_atoms_max!r}.")
    if biggest > n_atoms_max:
        k = int(np.argmax(sizes))
        where = "the system" if len(sizes) == 1 else f"structure {k}"
        raise ValueError(
            f"{where} has {biggest} atoms, more than n_atoms_max={n_atoms_max}. Increase "
            "n_atoms_max to the largest structure of your data set."
        )
    return int(n_atoms_max)


def _make_rng(seed):
    if isinstance(seed, np.random.RandomState):
        return seed
    if seed is None:
        return np.random.RandomState()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and 0 <= seed < 2**32:
        return np.random.RandomState(int(seed))
    raise ValueError(f"seed must be None, an integer in [0, 2**32) or a numpy RandomState; got {seed!r}.")


_TWO32 = 4294967296.0
_TWO64 = 18446744073709551616.0


def _canonical(raw_lo: int, raw_hi: int) -> float:
    """libstdc++ ``generate_canonical<double, 53>`` from two 32-bit Mersenne-twister outputs."""
    value = (float(raw_lo) + float(raw_hi) * _TWO32) / _TWO64
    return math.nextafter(1.0, 0.0) if value >= 1.0 else value


def _cxx_normal(rng: np.random.RandomState, mean: float, sigma: float) -> float:
    """One draw of a *fresh* libstdc++ ``std::normal_distribution(mean, sigma)`` (polar method).

    ``rng`` supplies the raw 32-bit outputs of MT19937 (numpy's legacy ``RandomState`` seeds it
    exactly as ``std::mt19937(seed)`` does).
    """
    while True:
        raw = rng.randint(0, 2**32, size=4, dtype=np.uint64)
        x = 2.0 * _canonical(int(raw[0]), int(raw[1])) - 1.0
        y = 2.0 * _canonical(int(raw[2]), int(raw[3])) - 1.0
        r2 = x * x + y * y
        if 0.0 < r2 <= 1.0:
            return y * math.sqrt(-2.0 * math.log(r2) / r2) * sigma + mean


def _permute_batch(mats, sizes, n_atoms_max, permutation, sigma, rng, flatten, noise) -> np.ndarray:
    """Apply the permutation option and zero-padding to a padded batch of matrices.

    ``mats`` has shape ``(B, M, M)`` with zeros beyond each structure's size. ``noise`` selects the
    random stream: ``"cxx"`` (Coulomb matrix, dscribe's C++) or ``"numpy"`` (sine matrix, dscribe's
    Python code: ``RandomState.normal``).
    """
    b_n, m, _ = mats.shape
    if permutation == "eigenspectrum":
        ev = np.linalg.eigvalsh(mats) if m else np.zeros((b_n, 0))
        order = np.argsort(-np.abs(ev), axis=1, kind="stable")
        ev = np.take_along_axis(ev, order, axis=1)
        out = np.zeros((b_n, n_atoms_max))
        out[:, :m] = ev
        return out
    if permutation in ("sorted_l2", "random"):
        norms = np.sqrt(np.einsum("bij,bij->bi", mats, mats))
        if permutation == "random":
            noisy = np.full_like(norms, -np.inf)
            for b in range(b_n):
                n = sizes[b]
                if noise == "cxx":
                    noisy[b, :n] = [_cxx_normal(rng, float(v), float(sigma)) for v in norms[b, :n]]
                else:
                    noisy[b, :n] = rng.normal(norms[b, :n], sigma)
            if noise == "cxx":
                order = np.argsort(-noisy, axis=1, kind="stable")
            else:
                order = np.empty((b_n, m), dtype=np.int64)
                for b in range(b_n):
                    n = sizes[b]
                    order[b, :n] = np.argsort(noisy[b, :n])[::-1]
                    order[b, n:] = np.arange(n, m)
        else:
            order = np.argsort(-_tie_key(norms), axis=1, kind="stable")
        bidx = np.arange(b_n)[:, None, None]
        mats = mats[bidx, order[:, :, None], order[:, None, :]]
    out = np.zeros((b_n, n_atoms_max, n_atoms_max))
    out[:, :m, :m] = mats
    return out.reshape(b_n, -1) if flatten else out


def _tie_key(norms: np.ndarray) -> np.ndarray:
    """Row norms rounded to ~10 significant digits, so that mathematically equal norms (atoms
    related by symmetry) tie exactly and keep the input order whatever the rounding noise.

    ``norms``: one structure's row norms ``(n,)`` or a batch's ``(structures, n)``."""
    if norms.ndim == 1:  # one structure: a Python scale is cheaper than the masked array below
        scale = float(norms.max()) or 1.0
    else:
        scale = norms.max(axis=1, keepdims=True)
        scale[scale == 0] = 1.0
    return np.round(norms / scale * 1e10)


def _padded_positions(systems):
    """Positions and atomic numbers in padded arrays; padding atoms (Z = 0) sit far apart."""
    sizes = np.fromiter((len(s) for s in systems), dtype=np.int64, count=len(systems))
    m = int(sizes.max())
    if len(systems) == 1:
        return sizes, systems[0].positions[None], systems[0].numbers[None].astype(np.float64)
    pos = np.empty((len(systems), m, 3))
    pos[:] = (np.arange(m) * 1e6 + 1e7)[None, :, None]
    z = np.zeros((len(systems), m))
    for k, s in enumerate(systems):
        n = sizes[k]
        pos[k, :n] = s.positions
        z[k, :n] = s.numbers
    return sizes, pos, z


def _coulomb_batch(systems: list[System], n_atoms_max, permutation, sigma, rng, flatten) -> np.ndarray:
    """Coulomb matrices of a batch of systems in one vectorised pass."""
    sizes, pos, z = _padded_positions(systems)
    m = pos.shape[1]
    dist = None
    for coord in np.ascontiguousarray(pos.transpose(2, 0, 1)):  # x, y, z: (B, M) each
        dc = coord[:, :, None] - coord[:, None, :]
        dc *= dc
        dist = dc if dist is None else dist + dc
    np.sqrt(dist, out=dist)
    idx = np.arange(m)
    dist[:, idx, idx] = np.inf
    if dist.min() < MIN_DISTANCE:
        b, i, j = np.nonzero(dist < MIN_DISTANCE)
        sel = b == b[0]
        check_pairs_min_distance(systems[b[0]], i[sel], j[sel], dist[b[0], i[sel], j[sel]])
    mats = z[:, :, None] * z[:, None, :] / dist
    mats[:, idx, idx] = 0.5 * z**2.4
    return _permute_batch(mats, sizes, n_atoms_max, permutation, sigma, rng, flatten, noise="cxx")
