r"""Many-body tensor representation (MBTR): a global descriptor of k-body geometry distributions.

Reference: Huo & Rupp, Mach. Learn.: Sci. Technol. 3, 045017 (2022) (arXiv:1704.06439, 2017);
conventions of dscribe 2.1.2's ``MBTR`` (Himanen et al., Comput. Phys. Commun. 247, 106949 (2020)),
which the tests compare with.

For each k-term, every k-tuple of atoms contributes a Gaussian of width :math:`\sigma` centred
on a geometry value :math:`g_k`, with a weight :math:`w_k`, in the channel of its elements:

.. math::

    \mathrm{MBTR}_k^{(Z_1 \dots Z_k)}(x) = \sum_{\text{tuples}} w_k\,
    \mathcal N(x;\, g_k, \sigma^2)

- k = 1: each atom, :math:`g_1 = Z` (``"atomic_number"``), :math:`w_1 = 1` (``"unity"``).
- k = 2: each pair of atoms, :math:`g_2 = r_{ij}` (``"distance"``, angstrom) or :math:`1/r_{ij}`
  (``"inverse_distance"``, 1/angstrom); :math:`w_2 = 1`, :math:`e^{-s r_{ij}}` (``"exp"``) or
  :math:`1/r_{ij}^2` (``"inverse_square"``).
- k = 3: each angle :math:`\angle(i, j, k)` at a centre :math:`j` (neighbours :math:`i \ne k`
  unordered), :math:`g_3` in degrees (``"angle"``) or its cosine (``"cosine"``);
  :math:`w_3 = 1`, :math:`e^{-s (r_{ij} + r_{jk} + r_{ki})}` (``"exp"``) or
  :math:`f(r_{ij}) f(r_{jk})` with :math:`f(r) = 1 + p (r/r_c)^{p+1} - (p+1)(r/r_c)^p`
  (``"smooth_cutoff"``, sharpness :math:`p`, default 2).

With ``"exp"``, either ``scale`` :math:`s` or ``r_cut`` is given with a ``threshold`` :math:`t`:
pairs with :math:`r \le r_c = -\ln t / s` (k = 2) and triplets with perimeter
:math:`\le -\ln t / s = 2 r_c` (k = 3) are kept. The Gaussian is discretised on the grid
``linspace(min, max, n)`` as the mean over each grid cell (width :math:`\Delta = (\max-\min)/(n-1)`,
centred on the grid point) of the normal density, i.e. differences of its cumulative
distribution divided by :math:`\Delta`, which preserves the area on coarse grids; with
``normalize_gaussians=False`` it is multiplied by :math:`\sigma\sqrt{2\pi}` (peak 1).

**Periodic systems** (``periodic=True``, a weighting other than unity is then required): k = 1
counts the atoms of the cell; k = 2 sums :math:`\tfrac12 w` over every atom of the cell and every
neighbour image within the cutoff (each distinct pair of the infinite crystal once per cell);
k = 3 sums over every atom of the cell as the centre and the unordered pairs of its neighbour
images. This is dscribe's multiplicity correction, written per centre atom: the result is the
same for any choice of cell of the same crystal, and a supercell of :math:`N` cells gives
:math:`N` times the values.

**Output** (dscribe's order, one vector per structure): k = 1: for :math:`Z_1`, the grid;
k = 2: for :math:`Z_1 \le Z_2`, the grid; k = 3: for the centre element :math:`Z_2`, for
:math:`Z_1 \le Z_3`, the grid (:math:`n_s^2 (n_s + 1)/2` blocks). ``normalization``:
``"none"``, ``"l2"`` (unit Euclidean norm), ``"n_atoms"`` (divided by the number of atoms) or
``"valle_oganov"`` (periodic only: k = 2 blocks times :math:`V/(4\pi N_{Z_1} N_{Z_2})` with
:math:`N_{Z}^2/2` for equal elements, k = 3 blocks times :math:`V/(N_{Z_1} N_{Z_2} N_{Z_3})`,
as in dscribe 2.1.2).

Compared with the atom-centred densities of :mod:`course_lib.descriptors.correlations`: MBTR
histograms the k-body geometry of the whole structure directly (no angular basis, no
rotational integral), so it is invariant by construction, global and easy to read, but its size
grows with the number of element tuples and it has no per-atom decomposition.

Deviation from dscribe: none intended for these options. dscribe's extended cell is replaced by
this package's periodic neighbour list (the same pairs and triplets).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse
from scipy.special import erf

from ._systems import as_system, cell_is_singular, check_species, neighbor_pairs, parse_species

__all__ = ["mbtr", "mbtr_n_features"]

_GEOMETRY = {"atomic_number": 1, "distance": 2, "inverse_distance": 2, "angle": 3, "cosine": 3}
_WEIGHTING = {1: ("unity",), 2: ("unity", "exp", "inverse_square"), 3: ("unity", "exp", "smooth_cutoff")}
_NORMALIZATION = ("none", "l2", "n_atoms", "valle_oganov")


def mbtr_n_features(species, k: int, n: int) -> int:
    """Number of MBTR features of a k-term on a grid of ``n`` points (dscribe's formula)."""
    n_s = len(parse_species(species))
    return {1: n_s, 2: n_s * (n_s + 1) // 2, 3: n_s * n_s * (n_s + 1) // 2}[k] * int(n)


def mbtr(
    system,
    species,
    geometry: dict,
    grid: dict,
    weighting: dict | None = None,
    periodic: bool = False,
    normalize_gaussians: bool = True,
    normalization: str = "none",
) -> np.ndarray:
    r"""MBTR k-term of one structure (k from the geometry function), shape ``(n_features,)``.

    Parameters
    ----------
    system : ase.Atoms or pymatgen.core.Structure or pymatgen.core.Molecule
        The structure.
    species : list of str or int
        Every element of the data set (fixes the layout; sorted by atomic number).
    geometry : dict
        ``{"function": name}``: ``"atomic_number"`` (k = 1), ``"distance"`` or
        ``"inverse_distance"`` (k = 2), ``"angle"`` or ``"cosine"`` (k = 3).
    grid : dict
        ``{"min": ..., "max": ..., "n": ..., "sigma": ...}`` in the units of the geometry value
        (angstrom, 1/angstrom, degrees, or none).
    weighting : dict, optional
        ``{"function": "unity"}`` (default), ``{"function": "exp", "scale" or "r_cut": ...,
        "threshold": ...}``, ``{"function": "inverse_square", "r_cut": ...}`` (k = 2) or
        ``{"function": "smooth_cutoff", "r_cut": ..., "sharpness": 2}`` (k = 3); angstrom.
    periodic : bool
        Treat the structure as periodic (needs a weighting other than ``"unity"`` for k > 1).
    normalize_gaussians : bool
        Gaussians of unit area (True) or of unit height (False).
    normalization : str
        ``"none"``, ``"l2"``, ``"n_atoms"`` or ``"valle_oganov"`` (periodic only).

    Returns
    -------
    numpy.ndarray
        The k-term, in dscribe's order (see the module docstring).
    """
    k, func, start, stop, n, sigma, wfunc, wpar, radius = _check(geometry, grid, weighting, periodic, normalization)
    sp = parse_species(species)
    sysm = as_system(system)
    idx = check_species(sysm, sp)
    n_s = len(sp)
    if periodic and not sysm.is_periodic:
        raise ValueError("periodic=True needs a structure with a cell and pbc; use periodic=False for a molecule.")
    if periodic and cell_is_singular(sysm.cell):
        raise ValueError("periodic=True needs a cell of three independent lattice vectors.")
    if k == 1:
        values, weights, blocks = sysm.numbers.astype(np.float64), np.ones(len(sysm)), idx
    else:
        if not periodic:
            # every pair of a finite structure lies within its diameter
            span = np.ptp(sysm.positions, axis=0)
            radius = min(radius, float(np.linalg.norm(span)) + 1.0)
        nl = neighbor_pairs([sysm], radius, periodic)
        if k == 2:
            values, weights, blocks = _k2(nl, idx, n_s, func, wfunc, wpar)
        else:
            values, weights, blocks = _k3(nl, idx, n_s, func, wfunc, wpar)
    out = np.zeros((mbtr_n_features(sp, k, 1), n))
    dx = (stop - start) / (n - 1)
    edges = start - dx / 2 + dx * np.arange(n + 1)
    if len(values):
        cdf = 0.5 * (1.0 + erf((edges[None, :] - values[:, None]) / (sigma * math.sqrt(2.0))))
        gauss = np.diff(cdf, axis=1) / dx * weights[:, None]
        # sum the Gaussians of each element block (a sparse one-hot matrix; faster than add.at)
        onehot = scipy.sparse.csr_matrix(
            (np.ones(len(values)), (blocks, np.arange(len(values)))), shape=(len(out), len(values))
        )
        out += onehot @ gauss
    if not normalize_gaussians:
        out *= sigma * math.sqrt(2.0 * math.pi)
    if normalization == "valle_oganov":
        out *= _valle_oganov(sysm, idx, n_s, k)[:, None]
    out = out.reshape(-1)
    if normalization == "l2":
        norm = np.linalg.norm(out)
        if norm > 0:
            out /= norm
    elif normalization == "n_atoms":
        out /= len(sysm)
    return out


def _check(geometry, grid, weighting, periodic, normalization):
    if not isinstance(geometry, dict) or geometry.get("function") not in _GEOMETRY:
        raise ValueError(f"geometry must be a dict {{'function': name}} with name in {sorted(_GEOMETRY)}; got {geometry!r}.")
    func = geometry["function"]
    k = _GEOMETRY[func]
    if not isinstance(grid, dict) or any(key not in grid for key in ("min", "max", "n", "sigma")):
        raise ValueError(f"grid must be a dict with 'min', 'max', 'n' and 'sigma'; got {grid!r}.")
    start, stop, n, sigma = float(grid["min"]), float(grid["max"]), int(grid["n"]), float(grid["sigma"])
    if not start < stop:
        raise ValueError(f"grid 'min' ({start}) must be smaller than 'max' ({stop}).")
    if n < 2:
        raise ValueError(f"grid 'n' must be >= 2, got {n}.")
    if not sigma > 0:
        raise ValueError(f"grid 'sigma' must be > 0, got {sigma}.")
    if normalization not in _NORMALIZATION:
        raise ValueError(f"normalization must be one of {_NORMALIZATION}, got {normalization!r}.")
    if normalization == "valle_oganov" and not periodic:
        raise ValueError("normalization='valle_oganov' needs a periodic system (periodic=True).")
    w = dict(weighting or {"function": "unity"})
    wfunc = w.get("function", "unity")
    if wfunc not in _WEIGHTING[k]:
        raise ValueError(f"weighting function {wfunc!r} is not available for k={k}; use one of {_WEIGHTING[k]}.")
    if periodic and k > 1 and wfunc == "unity":
        raise ValueError("periodic systems need a weighting function other than 'unity' (the sums would diverge).")
    radius, wpar = math.inf, {}
    if wfunc == "exp":
        if "threshold" not in w or ("scale" in w) == ("r_cut" in w):
            raise ValueError("weighting 'exp' needs 'threshold' and exactly one of 'scale' or 'r_cut'.")
        t = float(w["threshold"])
        if not 0 < t < 1:
            raise ValueError(f"weighting 'threshold' must be in (0, 1), got {t}.")
        # k = 2: pairs up to r_c = -ln t / s;  k = 3: perimeters up to -ln t / s = 2 r_c
        factor = 1.0 if k == 2 else 0.5
        if "scale" in w:
            scale = float(w["scale"])
            if not scale > 0:
                raise ValueError(f"weighting 'scale' must be > 0, got {scale}.")
            radius = -factor * math.log(t) / scale
        else:
            radius = float(w["r_cut"])
            if not radius > 0:
                raise ValueError(f"weighting 'r_cut' must be > 0, got {radius}.")
            scale = -factor * math.log(t) / radius
        wpar = {"scale": scale, "perimeter": 2.0 * radius}
    elif wfunc in ("inverse_square", "smooth_cutoff"):
        if "r_cut" not in w or not float(w["r_cut"]) > 0:
            raise ValueError(f"weighting {wfunc!r} needs 'r_cut' > 0 (angstrom).")
        radius = float(w["r_cut"])
        wpar = {"r_cut": radius, "sharpness": float(w.get("sharpness", 2))}
    return k, func, start, stop, n, sigma, wfunc, wpar, radius


def _k2(nl, idx, n_s, func, wfunc, wpar):
    d = nl.d
    values = d if func == "distance" else 1.0 / d
    if wfunc == "unity":
        w = np.ones_like(d)
    elif wfunc == "exp":
        w = np.exp(-wpar["scale"] * d)
    else:
        w = 1.0 / (d * d)
    # each directed pair with weight 1/2: every distinct pair once (see the module docstring)
    zi, zj = np.minimum(idx[nl.i], idx[nl.j]), np.maximum(idx[nl.i], idx[nl.j])
    block = zj + zi * n_s - zi * (zi + 1) // 2
    return values, 0.5 * w, block


def _k3(nl, idx, n_s, func, wfunc, wpar):
    """Angles at every centre j between unordered pairs of its neighbour images i != k."""
    # pairs are sorted by centre: pair p combines with the later pairs q > p of the same centre
    ends = np.searchsorted(nl.i, np.arange(len(idx)), side="right")
    n_pairs = len(nl.i)
    later = ends[nl.i] - np.arange(n_pairs) - 1 if n_pairs else np.zeros(0, dtype=np.int64)
    pa = np.repeat(np.arange(n_pairs), later)
    first = np.repeat(np.cumsum(later) - later, later)
    pb = pa + 1 + (np.arange(len(pa)) - first)
    d_ij, d_jk = nl.d[pa], nl.d[pb]
    d_ki = np.linalg.norm(nl.vec[pa] - nl.vec[pb], axis=1)
    if wfunc == "exp":
        keep = d_ij + d_jk + d_ki <= wpar["perimeter"]
        pa, pb, d_ij, d_jk, d_ki = pa[keep], pb[keep], d_ij[keep], d_jk[keep], d_ki[keep]
    cos = np.clip((d_ij**2 + d_jk**2 - d_ki**2) / (2.0 * d_ij * d_jk), -1.0, 1.0)
    values = cos if func == "cosine" else np.degrees(np.arccos(cos))
    if wfunc == "unity":
        w = np.ones_like(cos)
    elif wfunc == "exp":
        w = np.exp(-wpar["scale"] * (d_ij + d_jk + d_ki))
    else:
        rc, p = wpar["r_cut"], wpar["sharpness"]

        def f(r):
            x = r / rc
            return 1.0 + p * x ** (p + 1) - (p + 1) * x**p

        w = f(d_ij) * f(d_jk)
    zi, zj, zk = idx[nl.j[pa]], idx[nl.i[pa]], idx[nl.j[pb]]
    z1, z3 = np.minimum(zi, zk), np.maximum(zi, zk)
    block = zj * n_s * (n_s + 1) // 2 + z3 + z1 * n_s - z1 * (z1 + 1) // 2
    return values, w, block


def _valle_oganov(sysm, idx, n_s, k):
    """Per-block factors of dscribe 2.1.2's Valle-Oganov normalisation."""
    volume = abs(float(np.linalg.det(sysm.cell)))
    counts = np.bincount(idx, minlength=n_s).astype(np.float64)
    if k == 1:
        return np.ones(n_s)
    if k == 2:
        z1, z2 = np.triu_indices(n_s)
        prod = counts[z1] * counts[z2] * np.where(z1 == z2, 0.5, 1.0)
        return np.where(prod > 0, volume / (4 * math.pi * np.where(prod > 0, prod, 1.0)), 1.0)
    factors = np.ones(n_s * n_s * (n_s + 1) // 2)
    z1, z3 = np.triu_indices(n_s)
    for z2 in range(n_s):
        prod = counts[z1] * counts[z2] * counts[z3]
        block = z2 * n_s * (n_s + 1) // 2 + z3 + z1 * n_s - z1 * (z1 + 1) // 2
        factors[block] = np.where(prod > 0, volume / np.where(prod > 0, prod, 1.0), 1.0)
    return factors
