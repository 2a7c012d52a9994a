r"""Atom-centred symmetry functions (Behler, J. Chem. Phys. 134, 074106 (2011)).

For every atom :math:`i` the symmetry functions sum smooth functions of the distances
:math:`r_{ij}` and angles :math:`\theta_{ijk}` (at :math:`i`) to the neighbours within the cutoff
:math:`r_c`, damped by the cutoff function

.. math::

    f_c(r) = \begin{cases} \tfrac{1}{2}\left[\cos(\pi r / r_c) + 1\right] & r \le r_c \\
             0 & r > r_c \end{cases}

Radial functions, one set per neighbour element :math:`Z` (the sums run over the neighbours
:math:`j` of element :math:`Z`):

.. math::

    G^1_i &= \sum_{j} f_c(r_{ij}) \\
    G^2_i(\eta, R_s) &= \sum_{j} e^{-\eta (r_{ij} - R_s)^2} f_c(r_{ij}) \\
    G^3_i(\kappa) &= \sum_{j} \cos(\kappa r_{ij}) f_c(r_{ij})

Angular functions, one set per unordered pair of neighbour elements :math:`(Z_1, Z_2)` (the sums
run over unordered pairs of distinct neighbours :math:`j \ne k` with elements
:math:`\{Z_j, Z_k\} = \{Z_1, Z_2\}`, each pair counted once):

.. math::

    G^4_i(\eta, \zeta, \lambda) &= 2^{1-\zeta} \sum_{j<k} (1 + \lambda\cos\theta_{ijk})^{\zeta}
        e^{-\eta (r_{ij}^2 + r_{ik}^2 + r_{jk}^2)} f_c(r_{ij}) f_c(r_{ik}) f_c(r_{jk}) \\
    G^5_i(\eta, \zeta, \lambda) &= 2^{1-\zeta} \sum_{j<k} (1 + \lambda\cos\theta_{ijk})^{\zeta}
        e^{-\eta (r_{ij}^2 + r_{ik}^2)} f_c(r_{ij}) f_c(r_{ik})

The species of the central atom is not encoded; train one model per central element if needed.

Output layout (dscribe's): with the species sorted by atomic number, first one block per species
:math:`Z` holding :math:`[G^1, G^2(\text{each row of g2\_params}), G^3(\text{each }\kappa)]`, then
one block per species pair holding :math:`[G^4(\text{each row}), G^5(\text{each row})]`; the pairs
of species indices :math:`(a, b)` are ordered :math:`(0,0), (1,0), (1,1), (2,0), (2,1), (2,2),
\dots`, i.e. block :math:`a(a+1)/2 + b` for :math:`a \ge b`. The number of features is
:math:`(1 + n_{G2} + n_{G3})\, n_s + (n_{G4} + n_{G5})\, n_s (n_s + 1)/2`.

Conventions (cutoff function, each angular pair counted once, the :math:`2^{1-\zeta}` prefactor,
the skipping of :math:`G^4` terms with :math:`r_{jk} > r_c`, periodic images within the cutoff)
follow dscribe 2.1.2's ``ACSF`` exactly; the results agree with dscribe to about 1e-15.
Deliberate deviations:

- :math:`\cos\theta_{ijk}` is computed from the dot product and clipped to :math:`[-1, 1]`
  (dscribe returns NaN for collinear atoms, e.g. an atom between two periodic images, when
  rounding pushes the cosine past :math:`\pm 1` and :math:`\zeta` is not an integer);
- periodic positions are wrapped into the cell before the images are generated, so atoms lying
  outside the cell are handled exactly (dscribe extends the unwrapped positions and then misses
  neighbours: moving an atom by a lattice vector changes its output);
- the parameters are validated (:math:`\eta \ge 0`, :math:`\zeta > 0`,
  :math:`-1 \le \lambda \le 1`).

Speed: with ``numba`` installed, the symmetry functions are summed by a compiled kernel, single
structures and batches alike (the same formulas as the NumPy code, summed in another order: equal
to ~1e-15 of the largest value; see ``course_lib/descriptors/_jit.py``). Without numba, or with
``COURSE_LIB_NUMBA=0``, the NumPy code runs.
"""

from __future__ import annotations

import math

import numpy as np

from . import _jit
from ._systems import (
    System,
    as_system,
    check_centers,
    check_cutoff,
    check_species,
    freeze,
    neighbor_pairs,
    parse_species,
)

__all__ = ["acsf", "acsf_n_features"]


def acsf(
    system,
    species,
    r_cut: float,
    g2_params=None,
    g3_params=None,
    g4_params=None,
    g5_params=None,
    periodic: bool = False,
    centers=None,
) -> np.ndarray:
    r"""Atom-centred symmetry functions of every atom (or of ``centers``).

    Parameters
    ----------
    system : ase.Atoms or pymatgen.core.Structure or pymatgen.core.Molecule
        The structure.
    species : list of str or int
        Every element that can occur in the data set (fixes the feature layout).
    r_cut : float
        Cutoff radius :math:`r_c` in angstrom.
    g2_params : array-like, optional
        Rows :math:`(\eta, R_s)` of the :math:`G^2` functions (:math:`\eta` in
        angstrom\ :sup:`-2`, :math:`R_s` in angstrom).
    g3_params : array-like, optional
        Values of :math:`\kappa` (angstrom\ :sup:`-1`) of the :math:`G^3` functions.
    g4_params, g5_params : array-like, optional
        Rows :math:`(\eta, \zeta, \lambda)` of the :math:`G^4` / :math:`G^5` functions.
    periodic : bool
        Include periodic images (along the directions where the structure's ``pbc`` is True).
    centers : list of int, optional
        Indices of the atoms whose functions are returned (default: all atoms, in order).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_centers, n_features)``, in dscribe's layout (see the module documentation).
    """
    params = _check_params(species, r_cut, g2_params, g3_params, g4_params, g5_params)
    sysm = as_system(system)
    if centers is not None:
        centers = check_centers(centers, len(sysm), allow_empty=True)
    return _acsf_batch([sysm], params, periodic, centers)[0]


def acsf_n_features(species, g2_params=None, g3_params=None, g4_params=None, g5_params=None) -> int:
    """Number of ACSF features for the given species and parameters."""
    p = _check_params(species, 1.0, g2_params, g3_params, g4_params, g5_params)
    return p["n_features"]


def _as_table(value, ncol: int, name: str, columns: str) -> np.ndarray:
    if value is None:
        return np.zeros((0, ncol))
    arr = np.asarray(value, dtype=np.float64)
    if ncol == 1:
        if arr.ndim != 1:
            raise ValueError(f"{name} must be a list of numbers ({columns}), got shape {arr.shape}.")
        arr = arr[:, None]
    elif arr.ndim != 2 or arr.shape[1] != ncol:
        raise ValueError(
            f"{name} must be a table with {ncol} columns ({columns}), one row per function; "
            f"got shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values.")
    return arr


_PARAM_CACHE: dict = {}


def _check_params(species, r_cut, g2, g3, g4, g5) -> dict:
    """Validated parameters (cached: repeated single-structure calls skip the validation)."""
    key = freeze((species, r_cut, g2, g3, g4, g5))
    if key is not None and key in _PARAM_CACHE:
        return _PARAM_CACHE[key]
    params = _validate_params(species, r_cut, g2, g3, g4, g5)
    if key is not None:
        if len(_PARAM_CACHE) > 64:
            _PARAM_CACHE.clear()
        _PARAM_CACHE[key] = params
    return params


def _validate_params(species, r_cut, g2, g3, g4, g5) -> dict:
    sp = parse_species(species)
    rc = check_cutoff(r_cut)
    g2 = _as_table(g2, 2, "g2_params", "eta, R_s")
    g3 = _as_table(g3, 1, "g3_params", "kappa")[:, 0]
    g4 = _as_table(g4, 3, "g4_params", "eta, zeta, lambda")
    g5 = _as_table(g5, 3, "g5_params", "eta, zeta, lambda")
    if np.any(g2[:, 0] < 0):
        raise ValueError("g2_params: eta (first column) must be >= 0.")
    for name, g in (("g4_params", g4), ("g5_params", g5)):
        if np.any(g[:, 0] < 0):
            raise ValueError(f"{name}: eta (first column) must be >= 0.")
        if np.any(g[:, 1] <= 0):
            raise ValueError(f"{name}: zeta (second column) must be > 0.")
        if np.any(np.abs(g[:, 2]) > 1):
            raise ValueError(f"{name}: lambda (third column) must lie in [-1, 1] (usually +1 or -1).")
    n_s = len(sp)
    n2b = 1 + len(g2) + len(g3)
    n3b = len(g4) + len(g5)
    # for the compiled kernel: the three-body functions as one table (G4 rows, then G5 rows),
    # each G4 row's index into the distinct G4 etas
    eta4, eta4_idx = np.unique(g4[:, 0], return_inverse=True)
    return {
        "g45": np.concatenate([g4, g5]),
        "eta4": eta4,
        "eta4_idx": eta4_idx.astype(np.int64).reshape(-1),
        "species": sp,
        "r_cut": rc,
        "g2": g2,
        "g3": g3,
        "g4": g4,
        "g5": g5,
        "n2b": n2b,
        "n3b": n3b,
        "n_features": n2b * n_s + n3b * n_s * (n_s + 1) // 2,
    }


def _acsf_batch(systems: list[System], p: dict, periodic: bool, centers=None) -> list[np.ndarray]:
    """ACSF of a batch of systems; ``centers`` (only for a single system) selects output rows."""
    species = p["species"]
    n_s = len(species)
    sp_idx = np.concatenate([check_species(s, species) for s in systems])
    rc = p["r_cut"]
    nl = neighbor_pairs(systems, rc, periodic)
    n_atoms = int(nl.offsets[-1])
    repeat = None
    if centers is None:
        rows = np.arange(n_atoms)
        n_rows = n_atoms
    else:
        # each distinct centre is computed once; repeated centres get copies of its row
        unique, repeat = np.unique(np.asarray(centers, dtype=np.int64), return_inverse=True)
        rows = np.full(n_atoms, -1, dtype=np.int64)
        rows[unique] = np.arange(len(unique))
        n_rows = len(unique)
    i, j, vec, d = nl.i, nl.j, nl.vec, nl.d
    if centers is not None:
        keep = rows[i] >= 0
        i, j, vec, d = i[keep], j[keep], vec[keep], d[keep]
    n_feat, n2b, n3b = p["n_features"], p["n2b"], p["n3b"]
    out = np.zeros((n_rows, n_feat))
    if len(i) and _jit.ENABLED:
        _acsf_kernel(
            i, j, vec, d, sp_idx, rows, rc, p["g2"], p["g3"], p["g45"], len(p["g4"]), p["eta4"],
            p["eta4_idx"], n_s, n2b, n3b, out,
        )
    elif len(i):
        fc = 0.5 * (np.cos(np.pi / rc * d) + 1.0)
        row_i = rows[i]
        # --- two-body terms: per (centre, neighbour species) block [G1, G2..., G3...]
        g2, g3 = p["g2"], p["g3"]
        key = row_i * n_s + sp_idx[j]
        size = n_rows * n_s
        block = np.empty((n_rows * n_s, n2b))
        block[:, 0] = np.bincount(key, weights=fc, minlength=size)
        for col, (eta, r_s) in enumerate(g2, start=1):
            block[:, col] = np.bincount(key, weights=np.exp(-eta * (d - r_s) ** 2) * fc, minlength=size)
        for col, kappa in enumerate(g3, start=1 + len(g2)):
            block[:, col] = np.bincount(key, weights=np.cos(kappa * d) * fc, minlength=size)
        out[:, : n_s * n2b] = block.reshape(n_rows, n_s * n2b)
        # --- three-body terms
        if n3b:
            owner = np.searchsorted(nl.offsets, i, side="right") - 1  # structure of each pair
            _three_body(out, i, j, row_i, owner, vec, d, fc, p, sp_idx, nl.offsets)
    if centers is not None:
        return [out[repeat]]
    return [out[nl.offsets[k] : nl.offsets[k + 1]] for k in range(len(systems))]


def _int_power(base, zeta: float):
    """``base ** zeta``, by repeated squaring when zeta is a small integer (much faster); for
    arrays and, compiled, for numbers (the same squarings in the same order)."""
    k = int(zeta)
    if k != zeta or not 1 <= k <= 64:
        return base**zeta
    result = base  # placeholder until the first set bit (k >= 1 has one)
    first = True
    sq = base
    while True:
        if k & 1:
            result = sq if first else result * sq
            first = False
        k >>= 1
        if not k:
            return result
        sq = sq * sq


# cos(sqrt(u)) = sum_k (-1)^k u^k / (2k)!, to 4e-15 for u in [0, pi^2 / 4] (10 terms)
_COS_SQRT_COEFFS = np.array([(-1) ** k / math.factorial(2 * k) for k in range(10)])


def _cutoff_of_square(r2, rc: float):
    """f_c(r) from r^2 without sqrt or np.cos (which has no vectorised float64 path here):
    f_c(r) = cos^2(pi r / (2 r_c)), with the cosine as a power series in
    u = (pi r / (2 r_c))^2, exact to ~1e-15 for r <= r_c. Beyond r_c, u is clamped to the
    value at r_c, where the series gives cos^2(pi / 2) < 1e-31 instead of exactly 0.
    For arrays and, compiled, for numbers."""
    u = np.minimum(r2, rc * rc) * (0.5 * math.pi / rc) ** 2
    z = u * _COS_SQRT_COEFFS[-1] + _COS_SQRT_COEFFS[-2]
    for k in range(len(_COS_SQRT_COEFFS) - 3, -1, -1):
        z = z * u + _COS_SQRT_COEFFS[k]
    return z * z


_GROUP_BUDGET = 40_000  # elements of the padded (centres, K, K) arrays processed at once


def _three_body(out, i, j, row_i, owner, vec, d, fc, p, sp_atom, offsets) -> None:
    """Add G4/G5 to ``out``: for each centre, the functions of all neighbour pairs (j, k) are
    evaluated on a padded K x K matrix, and summed per pair of neighbour species with two small
    one-hot matrix products."""
    rc = p["r_cut"]
    n_s = len(p["species"])
    n2b, n3b = p["n2b"], p["n3b"]
    g4, g5 = p["g4"], p["g5"]
    # local species of every structure (sorted like the global ones)
    loc_of_atom = np.empty(len(sp_atom), dtype=np.int64)
    maps = []
    for k in range(len(offsets) - 1):
        present, inverse = np.unique(sp_atom[offsets[k] : offsets[k + 1]], return_inverse=True)
        loc_of_atom[offsets[k] : offsets[k + 1]] = inverse
        maps.append(present)
    s_loc = max(len(m) for m in maps)
    gmap = np.full((len(maps), s_loc), -1, dtype=np.int64)
    for k, m in enumerate(maps):
        gmap[k, : len(m)] = m
    # pair-species block of the output for every pair of local species (a >= b)
    a_loc, b_loc = np.tril_indices(s_loc)
    ga, gb = gmap[:, a_loc], gmap[:, b_loc]  # (structures, n_local_pairs)
    valid = (ga >= 0) & (gb >= 0)
    pair_col = n2b * n_s + (ga * (ga + 1) // 2 + gb) * n3b
    half = np.where(a_loc == b_loc, 0.5, 1.0)  # unordered pairs of equal species: M_aa / 2
    loc_pair = loc_of_atom[j]  # local species of every neighbour
    unit = vec / d[:, None]
    # centres sorted by neighbour count, cut into groups of similar size
    counts = np.bincount(i, minlength=int(i.max()) + 1)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    centres = np.nonzero(counts >= 2)[0]
    centres = centres[np.argsort(-counts[centres], kind="stable")]
    pos = 0
    while pos < len(centres):
        k_max = int(counts[centres[pos]])
        n_group = max(1, _GROUP_BUDGET // (k_max * k_max))
        grp = centres[pos : pos + n_group]
        pos += len(grp)
        n_c = counts[grp]
        a_n = len(grp)
        a_idx = np.repeat(np.arange(a_n), n_c)
        q_idx = np.arange(int(n_c.sum())) - np.repeat(np.cumsum(n_c) - n_c, n_c)
        p_idx = np.repeat(start[grp], n_c) + q_idx
        u = np.zeros((a_n, k_max, 3))
        u[a_idx, q_idx] = unit[p_idx]
        r = np.zeros((a_n, k_max))
        r[a_idx, q_idx] = d[p_idx]
        f = np.zeros((a_n, k_max))
        f[a_idx, q_idx] = fc[p_idx]
        onehot = np.zeros((a_n, k_max, s_loc))
        onehot[a_idx, q_idx, loc_pair[p_idx]] = 1.0
        cos = np.matmul(u, u.transpose(0, 2, 1))
        np.clip(cos, -1.0, 1.0, out=cos)
        diag = np.arange(k_max)
        r2 = r * r
        angular = {}

        def ang(lam, zeta, cos=cos, angular=angular):
            """(1 + lambda cos)^zeta on the K x K matrix, zero on the diagonal (j != k); the
            factor 2^(1 - zeta) is applied to the per-neighbour weights."""
            key = (lam, zeta)
            if key not in angular:
                base = angular.get((lam, None))
                if base is None:
                    base = lam * cos
                    base += 1.0
                    base[:, diag, diag] = 0.0
                    angular[(lam, None)] = base
                angular[key] = _int_power(base, zeta)
            return angular[key]

        # The radial factors exp(-eta r_ij^2) f_c(r_ij) of the two legs are per-neighbour
        # weights: they go into the one-hot species matrices, so only the j-k coupling
        # (angle, r_jk) is evaluated on the K x K matrices.
        terms = []  # (K x K core, per-neighbour weights) for every function, G4 then G5
        if len(g4):
            rjk2 = r[:, :, None] * r[:, None, :]
            rjk2 *= -2.0 * cos
            rjk2 += r2[:, :, None]
            rjk2 += r2[:, None, :]
            np.maximum(rjk2, 0.0, out=rjk2)
            fc_jk = _cutoff_of_square(rjk2, rc)
            core = {}
            for eta, zeta, lam in g4:
                if eta not in core:
                    core[eta] = np.exp(-eta * rjk2) * fc_jk
                scale = math.sqrt(2.0 ** (1.0 - zeta))  # on both legs: 2^(1 - zeta) in total
                terms.append((ang(lam, zeta) * core[eta], np.exp(-eta * r2) * f * scale))
        for eta, zeta, lam in g5:
            scale = math.sqrt(2.0 ** (1.0 - zeta))
            terms.append((ang(lam, zeta), np.exp(-eta * r2) * f * scale))
        g_rows = row_i[start[grp]]
        g_struct = owner[start[grp]]
        cols0 = pair_col[g_struct]  # (A, n_local_pairs)
        ok = valid[g_struct]
        rr = np.broadcast_to(g_rows[:, None], ok.shape)[ok]
        for col, (core_kk, weight) in enumerate(terms):
            w_oh = onehot * weight[:, :, None]  # (A, K, S_loc)
            m = np.matmul(w_oh.transpose(0, 2, 1), np.matmul(core_kk, w_oh))  # (A, S_loc, S_loc)
            out[rr, (cols0 + col)[ok]] = (m[:, a_loc, b_loc] * half)[ok]



def _acsf_kernel_py(i, j, vec, d, sp_atom, rows, rc, g2, g3, g45, n4, eta4, eta4_idx, n_s, n2b, n3b, out):
    """Compiled ACSF of the pairs ``(i, j)`` (sorted by ``i``): the formulas of the NumPy path
    (:func:`_acsf_batch`, :func:`_three_body`) as loops over the pairs of each centre, added to
    ``out[rows[i]]`` (centres with ``rows[i] < 0`` are skipped)."""
    n_pairs = len(i)
    n2, n3, n45 = len(g2), len(g3), len(g45)
    fc = np.empty(n_pairs)
    for p in range(n_pairs):
        fc[p] = 0.5 * (np.cos(np.pi / rc * d[p]) + 1.0)
    # per neighbour and three-body function: exp(-eta r^2) f_c(r) sqrt(2^(1 - zeta)) (one leg)
    leg = np.empty((n_pairs, n45))
    for f in range(n45):
        eta = g45[f, 0]
        scale = math.sqrt(2.0 ** (1.0 - g45[f, 1]))
        for p in range(n_pairs):
            leg[p, f] = np.exp(-eta * (d[p] * d[p])) * fc[p] * scale
    core = np.empty(len(eta4))
    ang = np.empty(n45)
    start = 0
    while start < n_pairs:
        centre = i[start]
        stop = start
        while stop < n_pairs and i[stop] == centre:
            stop += 1
        row = rows[centre]
        if row >= 0:
            for p in range(start, stop):  # two-body: G1, G2, G3 per neighbour species
                col = sp_atom[j[p]] * n2b
                out[row, col] += fc[p]
                for c in range(n2):
                    diff = d[p] - g2[c, 1]
                    out[row, col + 1 + c] += np.exp(-g2[c, 0] * (diff * diff)) * fc[p]
                for c in range(n3):
                    out[row, col + 1 + n2 + c] += np.cos(g3[c] * d[p]) * fc[p]
            if n3b:
                for q in range(start, stop):
                    uq0, uq1, uq2 = vec[q, 0] / d[q], vec[q, 1] / d[q], vec[q, 2] / d[q]
                    a = sp_atom[j[q]]
                    r2q = d[q] * d[q]
                    for t in range(q + 1, stop):
                        cos = uq0 * (vec[t, 0] / d[t]) + uq1 * (vec[t, 1] / d[t]) + uq2 * (vec[t, 2] / d[t])
                        cos = min(max(cos, -1.0), 1.0)
                        b = sp_atom[j[t]]
                        hi, lo = max(a, b), min(a, b)
                        col = n2b * n_s + (hi * (hi + 1) // 2 + lo) * n3b
                        if n4:
                            rjk2 = max(d[q] * d[t] * (-2.0 * cos) + r2q + d[t] * d[t], 0.0)
                            fc_jk = _cutoff_of_square_jit(rjk2, rc)
                            for e in range(len(eta4)):
                                core[e] = np.exp(-eta4[e] * rjk2) * fc_jk
                        for f in range(n45):
                            ang[f] = _int_power_jit(g45[f, 2] * cos + 1.0, g45[f, 1])
                        for f in range(n45):
                            v = ang[f] * leg[q, f] * leg[t, f]
                            if f < n4:
                                v *= core[eta4_idx[f]]
                            out[row, col + f] += v
        start = stop


_int_power_jit = _jit.jit(_int_power)
_cutoff_of_square_jit = _jit.jit(_cutoff_of_square)
_acsf_kernel = _jit.jit(_acsf_kernel_py)
