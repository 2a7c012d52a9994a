r"""Sine matrix (Faber, Lindmaa, von Lilienfeld & Armiento, Int. J. Quantum Chem. 115, 1094 (2015)).

The sine matrix is the periodic analogue of the Coulomb matrix. With the lattice vectors as the
rows of :math:`\mathbf{B}` and :math:`\hat{\mathbf{e}}_k` the unit vectors of the Cartesian axes,

.. math::

    S_{ij} = \begin{cases} \tfrac{1}{2} Z_i^{2.4} & i = j \\
             Z_i Z_j \, \Phi(\mathbf{r}_i, \mathbf{r}_j)^{-1} & i \neq j \end{cases}
    \qquad
    \Phi(\mathbf{r}_i, \mathbf{r}_j) = \Bigl\lVert \sum_{k=1}^{3} \mathbf{b}_k \,
    \sin^2\!\bigl(\pi \, [(\mathbf{r}_j - \mathbf{r}_i)\mathbf{B}^{-1}]_k\bigr) \Bigr\rVert

where :math:`\mathbf{b}_k` is the :math:`k`-th lattice vector and
:math:`(\mathbf{r}_j - \mathbf{r}_i)\mathbf{B}^{-1}` the fractional coordinates of the difference
vector. :math:`\Phi` is periodic in every lattice direction and behaves like the distance at short
range, so the matrix does not depend on which periodic image is used.

The permutation options and the zero-padding are those of
:func:`~course_lib.descriptors.coulomb_matrix`. The sine matrix is *not* invariant to the choice
of the unit cell: a supercell has a different (larger) matrix and a different eigenspectrum.

Conventions follow dscribe 2.1.2's ``SineMatrix`` exactly, including ``permutation="random"``
with an integer ``seed`` (noise drawn with ``numpy.random.RandomState(seed).normal``). Deliberate
deviations: a system that is periodic in no direction raises a :class:`ValueError` (dscribe
silently treats any cell as periodic), ``seed=None`` draws fresh entropy, and
``n_atoms_max=None`` means "the number of atoms". A partially periodic system (a slab) is treated
as periodic in all three directions, as in dscribe.
"""

from __future__ import annotations

import numpy as np

from ._systems import (
    MIN_DISTANCE,
    System,
    as_system,
    cell_is_singular,
    check_min_distance,
    check_pairs_min_distance,
)
from .coulomb import _check_matrix_args, _make_rng, _permute_batch

__all__ = ["sine_matrix"]


def sine_matrix(
    system,
    n_atoms_max: int | None = None,
    permutation: str = "sorted_l2",
    sigma: float | None = None,
    seed=None,
    flatten: bool = True,
) -> np.ndarray:
    """Sine matrix of one periodic structure.

    Parameters
    ----------
    system : ase.Atoms or pymatgen.core.Structure
        A periodic structure with a non-singular cell.
    n_atoms_max : int, optional
        Size after zero-padding; default: the number of atoms.
    permutation : str
        ``"sorted_l2"`` (default), ``"none"``, ``"eigenspectrum"`` or ``"random"``.
    sigma : float, optional
        Noise standard deviation for ``permutation="random"`` (and only for it).
    seed : int or numpy.random.RandomState, optional
        Seed of the random permutation (an integer reproduces dscribe's stream).
    flatten : bool
        Return a flat vector (default) or the square matrix.

    Returns
    -------
    numpy.ndarray
        ``(n_atoms_max**2,)`` (or ``(n_atoms_max, n_atoms_max)``), or ``(n_atoms_max,)`` for the
        eigenspectrum.

    Raises
    ------
    ValueError
        If the system is not periodic, its cell is singular, or two atoms (or an atom and a
        periodic image) are closer than 0.1 angstrom.
    """
    sysm = as_system(system)
    n_max = _check_matrix_args(n_atoms_max, permutation, sigma, [len(sysm)])
    rng = _make_rng(seed) if permutation == "random" else None
    return _sine_batch([sysm], n_max, permutation, sigma, rng, flatten)[0]


def _sine_one(s: System) -> np.ndarray:
    if not s.is_periodic:
        raise ValueError(
            f"{s.label} is not periodic (pbc={s.pbc.tolist()}): the sine matrix is a descriptor "
            "of crystals. Use coulomb_matrix for molecules, or give the structure a cell and "
            "pbc=True."
        )
    cell = s.cell
    if cell_is_singular(cell):
        raise ValueError(
            f"{s.label} has a singular cell {cell.tolist()} (zero or collinear lattice vectors); "
            "the sine matrix needs three independent lattice vectors."
        )
    inv = np.linalg.inv(cell)
    diff = s.positions[None, :, :] - s.positions[:, None, :]
    frac = diff @ inv
    # Close pairs: the nearest image is found by rounding the fractional difference; this is exact
    # for distances below half the smallest lattice-plane spacing, otherwise fall back to a
    # neighbour search.
    fr = frac - np.round(frac)
    cart = fr @ cell
    d_min = np.sqrt(np.einsum("ijk,ijk->ij", cart, cart))
    np.fill_diagonal(d_min, np.inf)
    heights = 1.0 / np.sqrt(np.einsum("ij,ij->j", inv, inv))  # lattice-plane spacings
    if heights.min() <= 2 * MIN_DISTANCE:
        check_min_distance(s.relabel(s.label))
    elif d_min.min() < MIN_DISTANCE:
        i, j = np.nonzero(d_min < MIN_DISTANCE)
        check_pairs_min_distance(s, i, j, d_min[i, j])
    phi = np.linalg.norm(np.sin(np.pi * frac) ** 2 @ cell, axis=2)
    np.fill_diagonal(phi, 1.0)
    z = s.numbers.astype(np.float64)
    mat = z[:, None] * z[None, :] / phi
    np.fill_diagonal(mat, 0.5 * z**2.4)
    return mat


def _sine_batch(systems, n_atoms_max, permutation, sigma, rng, flatten) -> np.ndarray:
    m = max(len(s) for s in systems)
    sizes = np.array([len(s) for s in systems])
    mats = np.zeros((len(systems), m, m))
    for k, s in enumerate(systems):
        mats[k, : len(s), : len(s)] = _sine_one(s)
    return _permute_batch(mats, sizes, n_atoms_max, permutation, sigma, rng, flatten, noise="numpy")
