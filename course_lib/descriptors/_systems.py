"""Input conversion, validation and neighbour search shared by every descriptor.

Every public descriptor function accepts an :class:`ase.Atoms`, a :class:`pymatgen.core.Structure`
or a :class:`pymatgen.core.Molecule`. :func:`as_system` converts it *once* into the small
:class:`System` used internally (atomic numbers, Cartesian positions in angstrom, cell, periodicity),
and checks what every descriptor needs: at least one atom, finite coordinates, real elements.

The other helpers are shared building blocks:

- :func:`parse_species` turns ``["H", "O"]`` or ``[1, 8]`` into the sorted atomic numbers that fix
  the feature order (dscribe sorts the species by atomic number the same way);
- :func:`check_species` and :func:`check_pairs_min_distance` raise the errors that name what is
  wrong (an element missing from ``species``, two atoms on top of each other);
- :func:`neighbor_pairs` is the vectorised neighbour search (finite and periodic) used by ACSF and
  SOAP.
"""

from __future__ import annotations

import math
import pickle
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "MIN_DISTANCE",
    "NeighborPairs",
    "System",
    "as_system",
    "as_systems",
    "check_pairs_min_distance",
    "check_species",
    "neighbor_pairs",
    "parse_species",
]

#: Two atoms closer than this (in angstrom) are rejected as a broken structure (duplicated site,
#: wrong units, unwrapped copy). Real interatomic distances are never below ~0.5 angstrom.
MIN_DISTANCE = 0.1

# Chemical symbols indexed by atomic number (index 0 is the dummy "X"), taken from ASE, which every
# supported input type already depends on.
from ase.data import atomic_numbers as _ASE_NUMBERS  # noqa: E402
from ase.data import chemical_symbols as _SYMBOLS  # noqa: E402


class System:
    """An atomic structure reduced to what the descriptors need (treat it as read-only).

    Attributes
    ----------
    numbers : numpy.ndarray
        Atomic numbers, shape ``(n_atoms,)``, int.
    positions : numpy.ndarray
        Cartesian positions in angstrom, shape ``(n_atoms, 3)``.
    cell : numpy.ndarray
        Lattice vectors as rows, shape ``(3, 3)`` (zeros for a molecule).
    pbc : numpy.ndarray
        Periodicity along each lattice vector, shape ``(3,)``, bool.
    label : str
        How error messages name this structure, e.g. ``"the system"`` or ``"structure 12"``.
    """

    __slots__ = ("numbers", "positions", "cell", "pbc", "label")

    def __init__(self, numbers, positions, cell, pbc, label="the system"):
        self.numbers = numbers
        self.positions = positions
        self.cell = cell
        self.pbc = pbc
        self.label = label

    def __len__(self) -> int:
        return len(self.numbers)

    @property
    def symbols(self) -> list[str]:
        """Chemical symbols of the atoms."""
        return [_SYMBOLS[z] for z in self.numbers]

    @property
    def is_periodic(self) -> bool:
        """True if the system is periodic along at least one lattice vector."""
        return bool(self.pbc.any())

    def relabel(self, label: str) -> System:
        """The same system, named ``label`` in error messages."""
        return System(self.numbers, self.positions, self.cell, self.pbc, label)


def _pymatgen_kind(obj) -> str | None:
    """``"structure"``, ``"molecule"`` or None, without importing pymatgen ourselves."""
    mod = sys.modules.get("pymatgen.core.structure")
    if mod is None:
        return None
    if isinstance(obj, mod.IStructure):
        return "structure"
    if isinstance(obj, mod.IMolecule):
        return "molecule"
    return None


def as_system(obj, label: str = "the system", validate: bool = True) -> System:
    """Convert an ASE or pymatgen structure into a validated :class:`System`.

    Parameters
    ----------
    obj : ase.Atoms or pymatgen.core.Structure or pymatgen.core.Molecule or System
        The structure. ASE atoms keep their cell and ``pbc``; a pymatgen ``Structure`` is periodic
        along all three lattice vectors; a pymatgen ``Molecule`` is finite.
    label : str
        Name used in error messages.

    Returns
    -------
    System

    Raises
    ------
    TypeError
        For any other input type.
    ValueError
        For an empty structure, non-finite coordinates or cell, dummy atoms (atomic number 0) or a
        disordered (partially occupied) pymatgen structure.
    """
    if isinstance(obj, System):
        return obj if label == "the system" else obj.relabel(label)
    kind = _pymatgen_kind(obj)
    if kind is not None:
        if not obj.is_ordered:
            raise ValueError(
                f"{label} is a disordered pymatgen {kind} (partial occupancies); descriptors need "
                "one element per site. Order it first, e.g. with pymatgen's "
                "OrderDisorderedStructureTransformation."
            )
        numbers = np.array([site.specie.Z for site in obj], dtype=np.int64)
        positions = np.array(obj.cart_coords, dtype=np.float64).reshape(-1, 3)
        if kind == "structure":
            cell = np.array(obj.lattice.matrix, dtype=np.float64)
            pbc = np.array(getattr(obj.lattice, "pbc", (True, True, True)), dtype=bool)
        else:
            cell = np.zeros((3, 3))
            pbc = np.zeros(3, dtype=bool)
    elif hasattr(obj, "arrays") and hasattr(obj, "cell") and hasattr(obj, "pbc"):  # ase.Atoms
        # no copies: the System is used immediately and never modified
        arrays = obj.arrays
        numbers = np.asarray(arrays["numbers"], dtype=np.int64)
        positions = np.asarray(arrays["positions"], dtype=np.float64)
        cell = np.asarray(obj.cell.array, dtype=np.float64)
        pbc = np.asarray(obj.pbc, dtype=bool)
    else:
        raise TypeError(
            f"{label} is a {type(obj).__module__}.{type(obj).__name__}; expected an ase.Atoms, a "
            "pymatgen Structure or a pymatgen Molecule."
        )
    if len(numbers) == 0:
        raise ValueError(f"{label} has no atoms: every descriptor needs at least one atom.")
    system = System(numbers, positions, cell, pbc, label)
    if validate:
        _validate(system)
    return system


def _validate(system: System) -> None:
    """Finite coordinates and cell, and real elements (atomic numbers 1..118)."""
    numbers, positions, label = system.numbers, system.positions, system.label
    if not math.isfinite(positions.sum()) and not np.all(np.isfinite(positions)):
        bad = np.nonzero(~np.all(np.isfinite(positions), axis=1))[0]
        raise ValueError(f"{label} has non-finite (NaN or inf) coordinates for atoms {bad.tolist()}.")
    if not math.isfinite(system.cell.sum()):
        raise ValueError(
            f"{label} has a non-finite (NaN or inf) cell {system.cell.tolist()}; give finite lattice "
            "vectors (or a zero cell with pbc=False for a molecule)."
        )
    small = numbers.tolist() if len(numbers) <= 64 else None  # builtins beat numpy's reductions here
    lo, hi = (min(small), max(small)) if small is not None else (numbers.min(), numbers.max())
    if lo <= 0 or hi >= len(_SYMBOLS):
        bad = np.nonzero((numbers <= 0) | (numbers >= len(_SYMBOLS)))[0]
        raise ValueError(
            f"{label} has atoms {bad.tolist()} with atomic number {numbers[bad].tolist()}: dummy or "
            "unknown elements cannot be featurized; remove them first."
        )


def as_systems(objs, label: str = "structure") -> list[System]:
    """Convert a sequence of structures; error messages name them ``"structure <index>"``."""
    if _is_single_structure(objs):
        raise TypeError("expected a sequence of structures, got a single structure; wrap it in a list")
    systems = [as_system(o, f"{label} {k}", validate=False) for k, o in enumerate(objs)]
    # validate the whole batch with a few vectorised checks; locate the culprit only on failure
    numbers = np.concatenate([s.numbers for s in systems])
    positions = np.concatenate([s.positions for s in systems])
    cells = np.stack([s.cell for s in systems])
    if (
        numbers.min() <= 0
        or numbers.max() >= len(_SYMBOLS)
        or (not math.isfinite(positions.sum()) and not np.all(np.isfinite(positions)))
        or not math.isfinite(cells.sum())
    ):
        for s in systems:
            _validate(s)
    return systems


def _is_single_structure(obj) -> bool:
    return isinstance(obj, System) or _pymatgen_kind(obj) is not None or (
        hasattr(obj, "get_atomic_numbers") and hasattr(obj, "pbc")
    )


def parse_species(species, name: str = "species") -> np.ndarray:
    """Sorted, unique atomic numbers of a species list.

    Parameters
    ----------
    species : list of str or int
        Chemical symbols (``["H", "O"]``) and/or atomic numbers (``[1, 8]``).
    name : str
        Argument name used in error messages.

    Returns
    -------
    numpy.ndarray
        Sorted unique atomic numbers, int. The feature order of ACSF and SOAP follows this order
        (as in dscribe).
    """
    if species is None or isinstance(species, (str, bytes)) or not isinstance(species, Iterable):
        raise ValueError(
            f"{name} must be a list of chemical symbols or atomic numbers, e.g. ['H', 'O'] or "
            f"[1, 8]; got {species!r}."
        )
    numbers = []
    for s in species:
        if isinstance(s, (str, np.str_)):
            z = _ASE_NUMBERS.get(str(s))
            if z is None or z == 0:
                raise ValueError(f"{name} contains {s!r}, which is not a chemical symbol.")
        elif isinstance(s, (int, np.integer)) and not isinstance(s, bool):
            z = int(s)
            if not 1 <= z < len(_SYMBOLS):
                raise ValueError(f"{name} contains the atomic number {z}, which is not an element.")
        else:
            raise ValueError(f"{name} contains {s!r}: use chemical symbols or atomic numbers.")
        numbers.append(z)
    if not numbers:
        raise ValueError(f"{name} is empty: list every element that your structures contain.")
    return np.array(sorted(set(numbers)), dtype=np.int64)


def check_species(system: System, species: np.ndarray) -> np.ndarray:
    """Index of each atom's element in ``species``; raise if an element is missing.

    Returns
    -------
    numpy.ndarray
        ``species_index[i]`` is the position of atom ``i``'s element in the sorted ``species``.
    """
    idx = np.searchsorted(species, system.numbers)
    idx_c = np.minimum(idx, len(species) - 1)
    missing = species[idx_c] != system.numbers
    if missing.any():
        absent = sorted(set(system.numbers[missing].tolist()))
        names = ", ".join(f"{_SYMBOLS[z]} (Z={z})" for z in absent)
        first = int(np.nonzero(missing)[0][0])
        raise ValueError(
            f"{system.label} contains {names} (e.g. atom {first}), not in species="
            f"{[_SYMBOLS[z] for z in species]}. Add every element of your data set to `species`."
        )
    return idx


def _close_pair_error(system: System, i: int, j: int, d: float, tol: float) -> ValueError:
    sym = system.symbols
    what = "a periodic image of itself" if i == j else f"atom {j} ({sym[j]})"
    return ValueError(
        f"{system.label}: atom {i} ({sym[i]}) and {what} are {d:.4g} angstrom apart, closer than "
        f"{tol} angstrom. Remove duplicated sites or check the units (positions must be in angstrom)."
    )


def check_pairs_min_distance(system: System, i, j, d, tol: float = MIN_DISTANCE) -> None:
    """Raise a :class:`ValueError` naming the first pair ``(i[k], j[k])`` with ``d[k] < tol``.

    ``i``, ``j`` are atom indices local to ``system``; ``d`` the pair distances (self pairs with
    zero distance must not be passed).
    """
    d = np.asarray(d)
    bad = np.nonzero(d < tol)[0]
    if len(bad):
        k = bad[np.argmin(d[bad])]
        raise _close_pair_error(system, int(i[k]), int(j[k]), float(d[k]), tol)


def check_min_distance(system: System, tol: float = MIN_DISTANCE) -> None:
    """Raise if two atoms (or an atom and a periodic image) are closer than ``tol`` angstrom."""
    nl = neighbor_pairs([system], tol, periodic=True, check_distance=False)
    check_pairs_min_distance(system, nl.i, nl.j, nl.d, tol)


def cell_is_singular(cell: np.ndarray) -> bool:
    """True if the three lattice vectors do not span a volume (zero or collinear vectors)."""
    lengths = np.linalg.norm(cell, axis=1)
    if np.any(lengths == 0):
        return True
    return abs(np.linalg.det(cell)) <= 1e-10 * float(np.prod(lengths))


@dataclass
class NeighborPairs:
    """Directed neighbour pairs of a batch of systems (atoms concatenated in input order).

    Attributes
    ----------
    i, j : numpy.ndarray
        Global atom indices: ``j`` (or one of its periodic images) is a neighbour of ``i``.
    vec : numpy.ndarray
        Shape ``(n_pairs, 3)``: the vector from atom ``i`` to the neighbour (image), angstrom.
    d2 : numpy.ndarray
        Squared distances ``|vec|^2``.
    d : numpy.ndarray
        Distances.
    offsets : numpy.ndarray
        ``offsets[k]`` is the global index of the first atom of system ``k`` (length n_systems+1).
    """

    i: np.ndarray
    j: np.ndarray
    vec: np.ndarray
    d2: np.ndarray
    d: np.ndarray
    offsets: np.ndarray


# Above this many candidate distances per system the neighbour search switches from brute force
# (numpy broadcasting) to scipy's cKDTree.
_BRUTE_FORCE_LIMIT = 2_000_000


@lru_cache(maxsize=256)
def _shift_grid(n0: int, n1: int, n2: int) -> np.ndarray:
    """All integer translations with |n_k| <= n_k, the zero shift first."""
    grid = np.stack(
        np.meshgrid(np.arange(-n0, n0 + 1), np.arange(-n1, n1 + 1), np.arange(-n2, n2 + 1), indexing="ij"),
        axis=-1,
    ).reshape(-1, 3)
    zero = np.all(grid == 0, axis=1)
    return np.concatenate([grid[zero], grid[~zero]])


def completed_cell(system: System) -> np.ndarray:
    """The cell with zero lattice vectors along non-periodic directions replaced by unit vectors
    orthogonal to the others (as :func:`ase.geometry.complete_cell` does)."""
    cell = system.cell
    if system.pbc.all():
        return cell
    zero = np.linalg.norm(cell, axis=1) == 0
    if zero.any() and not np.any(zero & system.pbc):
        from ase.geometry import complete_cell

        cell = np.array(complete_cell(cell), dtype=np.float64)
    return cell


def _periodic_setup(system: System, cutoff: float):
    """Inverse cell and the image translations needed for ``cutoff`` (positions wrapped)."""
    cell = completed_cell(system)
    lengths = np.sqrt(np.einsum("ij,ij->i", cell, cell))
    det = np.linalg.det(cell)
    if lengths.min() == 0 or abs(det) <= 1e-10 * lengths.prod():
        raise ValueError(
            f"{system.label} is periodic (pbc={system.pbc.tolist()}) but its cell "
            f"{system.cell.tolist()} is singular (zero or collinear lattice vectors). Give it a "
            "proper cell, or set pbc=False to treat it as a finite cluster."
        )
    inv = np.linalg.inv(cell)
    # spacing of the lattice planes: h_k = 1 / |k-th reciprocal vector| (columns of inv)
    heights = 1.0 / np.sqrt(np.einsum("ij,ij->j", inv, inv))
    # with fractional coordinates in [0, 1), images up to ceil(cutoff / h_k) are needed
    reps = [int(math.ceil(cutoff / h)) if p else 0 for h, p in zip(heights, system.pbc)]
    return cell, inv, heights, _shift_grid(*reps)


def _pairs_one_periodic(system: System, cutoff: float):
    """Local pairs (i, j, vec, d2) of one periodic system, self pair at zero distance excluded."""
    cell, inv, _, shifts = _periodic_setup(system, cutoff)
    frac = system.positions @ inv
    pos = system.positions - np.where(system.pbc, np.floor(frac), 0.0) @ cell
    n = len(pos)
    trans = shifts.astype(np.float64) @ cell  # (n_img, 3), zero shift first
    # keep the translations whose copy of the atoms' bounding box comes within the cutoff
    extent = pos.max(axis=0) - pos.min(axis=0)
    gap = np.maximum(np.abs(trans) - extent, 0.0)
    trans = trans[np.einsum("ij,ij->i", gap, gap) <= cutoff * cutoff]
    c2 = cutoff * cutoff
    if n * n * len(trans) <= _BRUTE_FORCE_LIMIT:
        # |r_b + T_s - r_a|^2 = |base_ab|^2 + 2 base_ab . T_s + |T_s|^2 as one small matrix
        # product to select the candidates, then the exact vectors for the selected pairs only
        base = (pos[None, :, :] - pos[:, None, :]).reshape(-1, 3)  # row a*n + b: r_b - r_a
        approx = base @ (2.0 * trans.T)
        approx += np.einsum("ij,ij->i", base, base)[:, None]
        approx += np.einsum("ij,ij->i", trans, trans)[None, :]
        approx[:: n + 1, 0] = np.inf  # the atom itself (zero shift is column 0)
        ab, sh = np.nonzero(approx <= c2 * (1.0 + 1e-10) + 1e-10)
        vec = base[ab] + trans[sh]
        d2 = np.einsum("ij,ij->i", vec, vec)
        keep = d2 <= c2
        a, b = np.divmod(ab[keep], n)
        return a, b, vec[keep], d2[keep]
    from scipy.spatial import cKDTree

    ext = (pos[None, :, :] + trans[:, None, :]).reshape(-1, 3)
    sdm = cKDTree(pos).sparse_distance_matrix(cKDTree(ext), cutoff, output_type="ndarray")
    a = sdm["i"].astype(np.int64)
    e = sdm["j"].astype(np.int64)
    s, b = np.divmod(e, n)
    v = ext[e] - pos[a]
    dd = np.einsum("ij,ij->i", v, v)
    keep = (dd <= c2) & ~((a == b) & (s == 0))
    a, b, s, v, dd = a[keep], b[keep], s[keep], v[keep], dd[keep]
    order = np.lexsort((b, s, a))
    return a[order], b[order], v[order], dd[order]


def _pairs_finite_batch(systems: Sequence[System], cutoff: float):
    """Local pairs of consecutive finite systems, one padded vectorised distance computation.

    Returns ``(b, i, j, vec, d2)`` sorted by system ``b``, then ``i``, then ``j``.
    """
    sizes = np.fromiter((len(s) for s in systems), dtype=np.int64, count=len(systems))
    m = int(sizes.max())
    b_n = len(systems)
    pos = np.full((b_n, m, 3), np.nan)
    for k, s in enumerate(systems):
        pos[k, : sizes[k]] = s.positions
    vec = pos[:, None, :, :] - pos[:, :, None, :]  # vec[b, i, j] = r_j - r_i
    d2 = np.einsum("bijk,bijk->bij", vec, vec)
    idx = np.arange(m)
    d2[:, idx, idx] = np.inf
    with np.errstate(invalid="ignore"):
        mask = d2 <= cutoff * cutoff  # NaN (padding) compares False
    b, i, j = np.nonzero(mask)
    return b, i, j, vec[b, i, j], d2[b, i, j]


def neighbor_pairs(
    systems: Sequence[System],
    cutoff: float,
    periodic: bool,
    check_distance: bool = True,
    tol: float = MIN_DISTANCE,
) -> NeighborPairs:
    """All directed pairs closer than ``cutoff`` (``d <= cutoff``) in a batch of systems.

    Parameters
    ----------
    systems : list of System
        The batch; atom indices in the result are global (systems concatenated in order).
    cutoff : float
        Cutoff radius in angstrom.
    periodic : bool
        Use periodic images along the directions where a system's ``pbc`` is True. When False,
        every system is treated as a finite cluster.
    check_distance : bool
        Raise a :class:`ValueError` naming the atoms if a pair is closer than ``tol``.
    tol : float
        Minimum allowed distance (angstrom).

    Returns
    -------
    NeighborPairs
        Pairs sorted by ``i``. The trivial self pair ``(i, i)`` at zero distance is excluded;
        periodic images of an atom itself are included.
    """
    if len(systems) == 1 and len(systems[0]) <= 1500 and not (periodic and systems[0].is_periodic):
        # one small finite system (the common single-structure call): no batch bookkeeping
        s = systems[0]
        vec = s.positions[None, :, :] - s.positions[:, None, :]  # vec[i, j] = r_j - r_i
        d2 = np.einsum("ijk,ijk->ij", vec, vec)
        d2.flat[:: len(s) + 1] = np.inf
        i, j = np.nonzero(d2 <= cutoff * cutoff)
        vec, d2 = vec[i, j], d2[i, j]
        if check_distance and len(d2) and d2.min() < tol * tol:
            check_pairs_min_distance(s, i, j, np.sqrt(d2), tol)
        return NeighborPairs(i, j, vec, d2, np.sqrt(d2), np.array([0, len(s)]))
    sizes = np.fromiter((len(s) for s in systems), dtype=np.int64, count=len(systems))
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    parts = []  # (global i, global j, vec, d2) in system order

    def add(k_systems, b, i, j, v, d2):
        off = offsets[np.asarray(k_systems)][b]
        parts.append((i + off, j + off, v.reshape(-1, 3), d2))

    k = 0
    n = len(systems)
    while k < n:
        s = systems[k]
        if periodic and s.is_periodic:
            i, j, v, d2 = _pairs_one_periodic(s, cutoff)
            add([k], np.zeros(len(i), dtype=np.int64), i, j, v, d2)
            k += 1
        elif sizes[k] > 1500:
            from scipy.spatial import cKDTree

            tree = cKDTree(s.positions)
            sdm = tree.sparse_distance_matrix(tree, cutoff, output_type="ndarray")
            i, j = sdm["i"].astype(np.int64), sdm["j"].astype(np.int64)
            sel = i != j
            i, j = i[sel], j[sel]
            order = np.lexsort((j, i))
            i, j = i[order], j[order]
            v = s.positions[j] - s.positions[i]
            d2 = np.einsum("ij,ij->i", v, v)
            keep = d2 <= cutoff * cutoff
            add([k], np.zeros(int(keep.sum()), dtype=np.int64), i[keep], j[keep], v[keep], d2[keep])
            k += 1
        else:
            # a run of consecutive small finite systems, padded arrays of bounded size
            stop, m = k, 0
            while stop < n and not (periodic and systems[stop].is_periodic) and sizes[stop] <= 1500:
                m_new = max(m, int(sizes[stop]))
                if stop > k and (stop - k + 1) * m_new * m_new > 400_000:
                    break
                m = m_new
                stop += 1
            b, i, j, v, d2 = _pairs_finite_batch(systems[k:stop], cutoff)
            add(list(range(k, stop)), b, i, j, v, d2)
            k = stop
    if parts:
        gi, gj, vec, d2 = (np.concatenate(x) for x in zip(*parts))
    else:
        gi = gj = np.zeros(0, dtype=np.int64)
        vec, d2 = np.zeros((0, 3)), np.zeros(0)
    gi = gi.astype(np.int64)
    gj = gj.astype(np.int64)
    if check_distance and len(d2) and d2.min() < tol * tol:
        bad = int(np.argmin(d2))
        ks = int(np.searchsorted(offsets, gi[bad], side="right") - 1)
        sel = (gi >= offsets[ks]) & (gi < offsets[ks + 1])
        check_pairs_min_distance(systems[ks], gi[sel] - offsets[ks], gj[sel] - offsets[ks], np.sqrt(d2[sel]), tol)
    return NeighborPairs(gi, gj, vec, d2, np.sqrt(d2), offsets)


def freeze(value):
    """A cache key for nested lists/tuples/arrays/dicts of numbers and strings (their pickle, which
    keeps types and values exactly: 1, 1.0 and True differ), or None if it cannot be pickled.

    Equal values may give different keys (a dict in another order, an object repeated): that only
    costs a cache miss, never a wrong hit.
    """
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - anything unpicklable is simply not cached
        return None


def check_centers(centers, n_atoms: int, allow_empty: bool = False) -> np.ndarray:
    """Centre atom indices as int64 in ``[0, n_atoms)`` (negative indices count from the end)."""
    c = np.asarray(centers)
    if c.ndim != 1 or (len(c) and not np.issubdtype(c.dtype, np.integer)) or not (len(c) or allow_empty):
        raise ValueError(f"centers must be a {'' if allow_empty else 'non-empty '}list of atom indices.")
    if len(c) and (c.min() < -n_atoms or c.max() >= n_atoms):
        raise ValueError(f"centers must be atom indices in [0, {n_atoms}); got {c.tolist()}.")
    return c.astype(np.int64) % n_atoms


def check_cutoff(r_cut, name: str = "r_cut") -> float:
    """Validate a cutoff radius (a positive, finite number of angstrom)."""
    try:
        value = float(r_cut)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number of angstrom, got {r_cut!r}.") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of angstrom, got {r_cut!r}.")
    return value


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Validate an integer parameter ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)
