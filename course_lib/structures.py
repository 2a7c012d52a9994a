r"""The same structure written in many ways, and a harness that checks a descriptor's invariances.

A crystal (or a molecule) is a physical object; a file describing it makes many arbitrary choices:
where the origin is, how the axes are oriented, in which order the atoms are listed and, for a
crystal, which unit cell is used. A representation for machine learning must give the same numbers
for every one of these descriptions. This module produces the descriptions and checks the numbers:

- :func:`random_rotation`, :func:`translate`, :func:`permute`: rigid motions and re-ordering of the
  atoms (for a crystal the fractional coordinates are wrapped back into the cell after a
  translation, as a file would store them);
- :func:`random_cell_choice`, :func:`supercell`, :func:`primitive`, :func:`conventional`: other unit
  cells of the same crystal (a different basis of the same lattice, an ``a x b x c`` supercell, and
  the primitive and conventional standard cells found by spglib, the symmetry library behind
  pymatgen's :class:`~pymatgen.symmetry.analyzer.SpacegroupAnalyzer`);
- :func:`equivalent_copies`: a stream of randomly re-written copies of one structure;
- :func:`check_invariance`: apply each transformation to a structure, recompute a descriptor and
  report, transformation by transformation, whether the result changed and by how much. For
  per-site descriptors (one row per atom) the rows are matched to the original atoms first.

Every function accepts an :class:`ase.Atoms`, a :class:`pymatgen.core.Structure` or a
:class:`pymatgen.core.Molecule` (converted and validated by the same code as the descriptors,
:func:`course_lib.descriptors._systems.as_system`) and returns an object of the same type; the input
is never modified. Lengths are in angstrom.

Examples
--------
>>> from ase.build import bulk
>>> from course_lib.descriptors import sine_matrix
>>> report = check_invariance(sine_matrix, bulk("NaCl", "rocksalt", a=5.64), rng=0)
>>> sorted(report.failed)
['cell_choice', 'conventional', 'supercell']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from .descriptors._systems import System, _pymatgen_kind, as_system

__all__ = [
    "InvarianceReport",
    "TRANSFORMS",
    "TransformResult",
    "check_invariance",
    "conventional",
    "equivalent_copies",
    "permute",
    "primitive",
    "random_cell_choice",
    "random_rotation",
    "random_rotation_matrix",
    "supercell",
    "translate",
]

#: Transformations known to :func:`check_invariance`; those marked periodic need a crystal.
TRANSFORMS = {
    "rotation": "rotate the whole structure (and its cell) by a random rotation",
    "translation": "shift every atom by the same random vector (wrapped into the cell for crystals)",
    "permutation": "list the atoms in a random order",
    "cell_choice": "describe the same lattice with other lattice vectors (random unimodular basis)",
    "supercell": "a random a x b x c supercell (2 to 8 times as many atoms)",
    "primitive": "the primitive standard cell (spglib)",
    "conventional": "the conventional standard cell (spglib)",
}
_PERIODIC_ONLY = ("cell_choice", "supercell", "primitive", "conventional")
_MOLECULE_DEFAULT = ("rotation", "translation", "permutation")
_CRYSTAL_DEFAULT = tuple(TRANSFORMS)


# ----------------------------------------------------------------------------------------------
# Conversion helpers: System (from the descriptors' as_system) <-> the caller's type
# ----------------------------------------------------------------------------------------------
def _kind(obj) -> str:
    """``"structure"``, ``"molecule"`` or ``"atoms"``; a clear TypeError otherwise."""
    kind = _pymatgen_kind(obj)
    if kind is not None:
        return kind
    as_system(obj)  # raises the TypeError naming the expected types
    return "atoms"


def _rebuild(template, numbers, positions, cell, pbc):
    """An object of the same type as ``template`` with these atoms (Cartesian, angstrom)."""
    kind = _kind(template)
    if kind == "atoms":
        from ase import Atoms

        return Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
    if kind == "molecule":
        from pymatgen.core import Molecule

        return Molecule([int(z) for z in numbers], positions, charge=template.charge,
                        spin_multiplicity=template.spin_multiplicity)
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(cell, pbc=tuple(bool(p) for p in pbc)), [int(z) for z in numbers],
                     positions, coords_are_cartesian=True)


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be a numpy.random.Generator, a non-negative integer seed or None; got {rng!r}. "
        "Create one with numpy.random.default_rng(seed)."
    )


def _require_periodic(sysm: System, what: str) -> None:
    if not sysm.pbc.all():
        raise ValueError(
            f"{what} needs a crystal periodic in all three directions, but {sysm.label} has "
            f"pbc={sysm.pbc.tolist()}. Pass a pymatgen Structure or an ase.Atoms with pbc=True "
            "and a cell; molecules have no unit cell to change."
        )
    lengths = np.linalg.norm(sysm.cell, axis=1)
    if lengths.min() == 0 or abs(np.linalg.det(sysm.cell)) <= 1e-10 * lengths.prod():
        raise ValueError(f"{sysm.label} has a singular cell {sysm.cell.tolist()}; {what} needs "
                         "three independent lattice vectors.")


def _wrap(positions: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Cartesian positions with fractional coordinates wrapped into [0, 1)."""
    frac = positions @ np.linalg.inv(cell)
    frac -= np.floor(frac)
    frac[frac >= 1.0 - 1e-12] = 0.0  # -1e-17 wraps to 1 - 1e-17; store it as 0
    return frac @ cell


# ----------------------------------------------------------------------------------------------
# Transformations on System -> (System, index_map); index_map[k] = original atom of new atom k
# ----------------------------------------------------------------------------------------------
def random_rotation_matrix(rng=None) -> np.ndarray:
    """A rotation matrix drawn uniformly from SO(3) (Haar measure).

    Uses the QR decomposition of a 3x3 matrix of standard normal numbers, with the signs fixed so
    that the distribution is uniform and the determinant is +1 (a proper rotation, no mirror).

    Parameters
    ----------
    rng : numpy.random.Generator or int, optional
        Random generator or seed.

    Returns
    -------
    numpy.ndarray
        Shape ``(3, 3)``, orthogonal with determinant +1.
    """
    rng = _as_rng(rng)
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _rotate(s: System, rot: np.ndarray):
    return System(s.numbers, s.positions @ rot.T, s.cell @ rot.T, s.pbc, s.label), np.arange(len(s))


def _translate(s: System, vector: np.ndarray, wrap: bool):
    pos = s.positions + vector
    if wrap and s.pbc.all():
        pos = _wrap(pos, s.cell)
    return System(s.numbers, pos, s.cell, s.pbc, s.label), np.arange(len(s))


def _permute(s: System, order: np.ndarray):
    return System(s.numbers[order], s.positions[order], s.cell, s.pbc, s.label), order


def _unimodular(rng: np.random.Generator) -> np.ndarray:
    """A random integer 3x3 matrix with determinant +1 (a product of a few shears), not identity."""
    while True:
        m = np.eye(3, dtype=np.int64)
        for _ in range(3):
            i, j = rng.choice(3, size=2, replace=False)
            shear = np.eye(3, dtype=np.int64)
            shear[i, j] = rng.choice([-1, 1])
            m = shear @ m
        if not np.array_equal(m, np.eye(3, dtype=np.int64)):
            return m


def _cell_choice(s: System, matrix: np.ndarray):
    cell = matrix @ s.cell
    return System(s.numbers, _wrap(s.positions, cell), cell, s.pbc, s.label), np.arange(len(s))


def _supercell(s: System, reps) -> tuple[System, np.ndarray]:
    a, b, c = reps
    shifts = np.array([(i, j, k) for i in range(a) for j in range(b) for k in range(c)], dtype=float)
    trans = shifts @ s.cell  # (n_images, 3)
    n = len(s)
    # atom order: all images of atom 0, then of atom 1, ... (as pymatgen's make_supercell)
    pos = (s.positions[:, None, :] + trans[None, :, :]).reshape(-1, 3)
    index = np.repeat(np.arange(n), len(trans))
    cell = np.diag([a, b, c]).astype(float) @ s.cell
    return System(s.numbers[index], pos, cell, s.pbc, s.label), index


def _spglib_cell(s: System, which: str, symprec: float):
    """Primitive or conventional standard cell, in the orientation of the input, with the original
    atom behind every new atom.

    spglib (Togo & Tanaka) finds the standard lattice without idealising it (``no_idealize``), so
    the new lattice vectors are integer (or, for a primitive cell, rational) combinations of the old
    ones in the same orientation. The cell is then filled with the periodic images of the original
    atoms that fall inside it; ``index[k]`` is the original atom that new atom ``k`` is an image of.
    """
    import spglib

    cell = s.cell
    frac = s.positions @ np.linalg.inv(cell)
    import warnings

    try:
        with warnings.catch_warnings():  # spglib 2.x: DeprecationWarning about its error handling
            warnings.simplefilter("ignore", DeprecationWarning)
            result = spglib.standardize_cell((cell, frac, s.numbers), to_primitive=(which == "primitive"),
                                             no_idealize=True, symprec=symprec)
    except Exception as exc:  # spglib >= 2.5 raises instead of returning None
        result, error = None, exc
    else:
        error = None
    if result is None:
        raise ValueError(
            f"spglib could not find the symmetry of {s.label} (symprec={symprec} angstrom)"
            f"{': ' + str(error) if error else ''}. Try a larger symprec, or check the structure."
        )
    new_cell = np.array(result[0], dtype=float)
    ratio = abs(np.linalg.det(new_cell) / np.linalg.det(cell))
    n_new = int(round(ratio * len(s)))
    # lattice translations of the old cell that can bring an atom into the new cell
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float) @ new_cell
    corner_frac = corners @ np.linalg.inv(cell)
    lo = np.floor(corner_frac.min(axis=0)) - 1
    hi = np.ceil(corner_frac.max(axis=0)) + 1
    axes = [np.arange(a, b + 1) for a, b in zip(lo, hi)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    cand = (s.positions[:, None, :] + (grid @ cell)[None, :, :]).reshape(-1, 3)
    owner = np.repeat(np.arange(len(s)), len(grid))
    new_frac = cand @ np.linalg.inv(new_cell)
    inside = np.all((new_frac > -1e-6) & (new_frac < 1 - 1e-6), axis=1)
    new_frac, owner = new_frac[inside], owner[inside]
    new_frac -= np.floor(new_frac + 1e-6)  # -1e-7 -> ~0
    _, first = np.unique(np.round(new_frac * 1e4).astype(np.int64), axis=0, return_index=True)
    first = np.sort(first)
    if len(first) != n_new:
        raise ValueError(
            f"could not build the {which} cell of {s.label}: expected {n_new} atoms, found "
            f"{len(first)} (symprec={symprec} angstrom may be too large or too small for it)."
        )
    order = first[np.argsort(owner[first], kind="stable")]
    index = owner[order]
    positions = new_frac[order] @ new_cell
    return System(s.numbers[index], positions, new_cell, np.ones(3, dtype=bool), s.label), index


def _check_vector(vector) -> np.ndarray:
    try:
        v = np.asarray(vector, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"vector must be 3 numbers (angstrom), got {vector!r}.") from None
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise ValueError(f"vector must be 3 finite numbers (angstrom), got {vector!r}.")
    return v


# ----------------------------------------------------------------------------------------------
# Public transformations: same type in, same type out
# ----------------------------------------------------------------------------------------------
def random_rotation(system, rng=None):
    """The structure rotated rigidly about the origin by a uniformly random rotation.

    A crystal's lattice vectors are rotated with its atoms, so fractional coordinates do not
    change; Cartesian coordinates do.

    Parameters
    ----------
    system : ase.Atoms or pymatgen.core.Structure or pymatgen.core.Molecule
    rng : numpy.random.Generator or int, optional
        Random generator or seed (see :func:`random_rotation_matrix`).

    Returns
    -------
    The rotated copy, of the same type as ``system``.
    """
    s = as_system(system)
    new, _ = _rotate(s, random_rotation_matrix(rng))
    return _rebuild(system, new.numbers, new.positions, new.cell, new.pbc)


def translate(system, vector, wrap: bool = True):
    """The structure with every atom shifted by ``vector`` (angstrom).

    Parameters
    ----------
    system : ase.Atoms or pymatgen.core.Structure or pymatgen.core.Molecule
    vector : sequence of 3 floats
        The shift in angstrom (Cartesian).
    wrap : bool
        For a crystal, wrap the fractional coordinates back into [0, 1) (default), as a structure
        file would store them. Ignored for molecules.

    Returns
    -------
    The shifted copy, of the same type as ``system``.
    """
    s = as_system(system)
    new, _ = _translate(s, _check_vector(vector), wrap)
    return _rebuild(system, new.numbers, new.positions, new.cell, new.pbc)


def permute(system, rng=None, return_order: bool = False):
    """The structure with its atoms listed in a random order.

    Parameters
    ----------
    system : ase.Atoms or pymatgen.core.Structure or pymatgen.core.Molecule
    rng : numpy.random.Generator or int, optional
        Random generator or seed.
    return_order : bool
        Also return ``order``: atom ``k`` of the copy is atom ``order[k]`` of the input.

    Returns
    -------
    The permuted copy (same type as ``system``), and ``order`` if ``return_order``.
    """
    s = as_system(system)
    order = _as_rng(rng).permutation(len(s))
    new, _ = _permute(s, order)
    out = _rebuild(system, new.numbers, new.positions, new.cell, new.pbc)
    return (out, order) if return_order else out


def random_cell_choice(structure, rng=None):
    """The same crystal described by another set of lattice vectors.

    The new lattice vectors are integer combinations ``M @ cell`` with a random integer matrix
    ``M`` of determinant +1 (a unimodular matrix): they span the same lattice and the cell has the
    same volume and the same atoms, but a different shape. Atoms are wrapped into the new cell.

    Parameters
    ----------
    structure : ase.Atoms or pymatgen.core.Structure
        A crystal periodic in all three directions.
    rng : numpy.random.Generator or int, optional

    Returns
    -------
    The re-described crystal, of the same type as ``structure``.
    """
    s = as_system(structure)
    _require_periodic(s, "random_cell_choice")
    new, _ = _cell_choice(s, _unimodular(_as_rng(rng)))
    return _rebuild(structure, new.numbers, new.positions, new.cell, new.pbc)


def _check_reps(reps) -> tuple[int, int, int]:
    try:
        values = tuple(reps)
    except TypeError:
        values = ()
    if len(values) != 3 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        raise ValueError(f"supercell needs three positive integers (a, b, c), e.g. (2, 2, 1); got {reps!r}.")
    return tuple(int(v) for v in values)


def supercell(structure, reps=(2, 2, 2)):
    """The ``a x b x c`` supercell: lattice vectors ``(a a1, b a2, c a3)`` and ``abc`` times the atoms.

    Parameters
    ----------
    structure : ase.Atoms or pymatgen.core.Structure
        A crystal periodic in all three directions.
    reps : tuple of 3 positive ints
        Repetitions along the three lattice vectors.

    Returns
    -------
    The supercell, of the same type as ``structure``; all images of atom 0 come first, then those
    of atom 1, and so on.
    """
    s = as_system(structure)
    _require_periodic(s, "supercell")
    new, _ = _supercell(s, _check_reps(reps))
    return _rebuild(structure, new.numbers, new.positions, new.cell, new.pbc)


def _standard_cell(structure, kind: str, symprec: float):
    """spglib's ``kind`` ("primitive" or "conventional") cell filled with images of the input atoms."""
    s = as_system(structure)
    _require_periodic(s, kind)
    new, _ = _spglib_cell(s, kind, symprec)
    return _rebuild(structure, new.numbers, new.positions, new.cell, new.pbc)


def primitive(structure, symprec: float = 0.01):
    """The primitive cell of spglib's standard setting, in the orientation of the input.

    spglib (Togo & Tanaka), the symmetry finder behind pymatgen's ``SpacegroupAnalyzer``, chooses
    the lattice vectors; unlike ``SpacegroupAnalyzer.get_primitive_standard_structure`` the lattice
    is neither rotated nor idealised, and the atoms are the periodic images of the input atoms
    (wrapped into the new cell), so every new atom can be traced back to an input atom.

    Parameters
    ----------
    structure : ase.Atoms or pymatgen.core.Structure
        A crystal periodic in all three directions.
    symprec : float
        Symmetry tolerance in angstrom.

    Returns
    -------
    The primitive cell (possibly rotated), of the same type as ``structure``.
    """
    return _standard_cell(structure, "primitive", symprec)


def conventional(structure, symprec: float = 0.01):
    """The conventional standard cell, e.g. the cubic 4-atom cell of an fcc metal.

    As :func:`primitive`: spglib's standard lattice vectors, not rotated and not idealised, filled
    with the periodic images of the input atoms.

    Parameters
    ----------
    structure : ase.Atoms or pymatgen.core.Structure
        A crystal periodic in all three directions.
    symprec : float
        Symmetry tolerance in angstrom.

    Returns
    -------
    The conventional cell (possibly rotated), of the same type as ``structure``.
    """
    return _standard_cell(structure, "conventional", symprec)


def _apply(name: str, s: System, rng: np.random.Generator, symprec: float = 0.01):
    """Apply the named transformation to a System: ``(new System, index map)``."""
    if name in _PERIODIC_ONLY:
        _require_periodic(s, f"the {name!r} transformation")
    if name == "rotation":
        return _rotate(s, random_rotation_matrix(rng))
    if name == "translation":
        return _translate(s, rng.uniform(-5.0, 5.0, size=3), wrap=True)
    if name == "permutation":
        return _permute(s, rng.permutation(len(s)))
    if name == "cell_choice":
        return _cell_choice(s, _unimodular(rng))
    if name == "supercell":
        while True:
            reps = tuple(int(r) for r in rng.integers(1, 3, size=3))
            if reps != (1, 1, 1):
                return _supercell(s, reps)
    if name in ("primitive", "conventional"):
        return _spglib_cell(s, name, symprec)
    raise ValueError(f"unknown transformation {name!r}; choose from {sorted(TRANSFORMS)} or pass a function.")


def equivalent_copies(system, rng=None, n: int = 5, change_cell: bool = True) -> Iterator:
    """Yield ``n`` copies of the same structure, each written differently.

    Every copy is rotated, translated and permuted at random; for a crystal (with ``change_cell``)
    its unit cell is also replaced by another basis of the same lattice, and every second copy is
    a random supercell. All copies describe the same physical object.

    Parameters
    ----------
    system : ase.Atoms or pymatgen.core.Structure or pymatgen.core.Molecule
    rng : numpy.random.Generator or int, optional
    n : int
        Number of copies.
    change_cell : bool
        For crystals, also change the unit cell (ignored for molecules).

    Yields
    ------
    Copies of the same type as ``system``.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    s = as_system(system)
    rng = _as_rng(rng)
    cells = change_cell and s.pbc.all()
    if cells:
        _require_periodic(s, "changing the unit cell")
    for k in range(n):
        new = s
        steps = (("cell_choice", "supercell") if k % 2 else ("cell_choice",)) if cells else ()
        for name in (*steps, "rotation", "translation", "permutation"):
            new, _ = _apply(name, new, rng)
        yield _rebuild(system, new.numbers, new.positions, new.cell, new.pbc)


# ----------------------------------------------------------------------------------------------
# The invariance harness
# ----------------------------------------------------------------------------------------------
@dataclass
class TransformResult:
    """Outcome of one transformation in :func:`check_invariance`.

    Attributes
    ----------
    name : str
        The transformation.
    invariant : bool
        True if the descriptor agreed within the tolerance in every trial.
    max_abs_diff : float
        Largest absolute difference over all trials (``inf`` if the shape changed).
    max_rel_diff : float
        ``max_abs_diff`` divided by the largest absolute value of the original descriptor.
    note : str
        Why the check failed when it is not a plain numerical difference (a changed shape, an
        error raised by the descriptor).
    """

    name: str
    invariant: bool
    max_abs_diff: float
    max_rel_diff: float
    note: str = ""


@dataclass
class InvarianceReport:
    """What :func:`check_invariance` found, one :class:`TransformResult` per transformation.

    ``print(report)`` shows a table; ``report.passed`` / ``report.failed`` list the names;
    ``report["rotation"]`` is one result; ``bool(report)`` is True if every check passed.
    """

    descriptor: str
    system: str
    per_site: bool
    atol: float
    rtol: float
    results: list[TransformResult] = field(default_factory=list)

    @property
    def passed(self) -> list[str]:
        return [r.name for r in self.results if r.invariant]

    @property
    def failed(self) -> list[str]:
        return [r.name for r in self.results if not r.invariant]

    def __getitem__(self, name: str) -> TransformResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"{name!r} was not checked; checked: {[r.name for r in self.results]}")

    def __bool__(self) -> bool:
        return not self.failed

    def to_frame(self):
        """The results as a :class:`pandas.DataFrame` indexed by transformation."""
        import pandas as pd

        return pd.DataFrame([r.__dict__ for r in self.results]).set_index("name")

    def __str__(self) -> str:
        lines = [f"invariance of {self.descriptor} on {self.system}"
                 f" ({'per site, ' if self.per_site else ''}atol={self.atol:g}, rtol={self.rtol:g})"]
        for r in self.results:
            verdict = "invariant    " if r.invariant else "NOT invariant"
            lines.append(f"  {r.name:<14} {verdict}  max |diff| = {r.max_abs_diff:.3g}"
                         f" (relative {r.max_rel_diff:.3g}){'  ' + r.note if r.note else ''}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # shown as a table in notebooks
        return self.to_frame()._repr_html_()


def _describe(obj) -> str:
    s = as_system(obj)
    from collections import Counter

    counts = Counter(s.symbols)
    formula = "".join(f"{el}{'' if c == 1 else c}" for el, c in sorted(counts.items()))
    return f"{formula} ({'crystal' if s.pbc.any() else 'molecule'}, {len(s)} atoms)"


def _compare(ref: np.ndarray, got: np.ndarray, index, per_site: bool, atol: float, rtol: float):
    """``(ok, max_abs_diff, note)`` for one transformed copy."""
    if per_site:
        if got.ndim == 0 or got.shape[0] != len(index):
            return False, math.inf, (f"the descriptor returned {got.shape[0] if got.ndim else 0} rows "
                                     f"for {len(index)} atoms; per_site=True needs one row per atom")
        ref = ref[index]
    if ref.shape != got.shape:
        return False, math.inf, f"shape changed from {ref.shape} to {got.shape}"
    diff = float(np.max(np.abs(ref - got), initial=0.0))
    ok = bool(np.all(np.abs(ref - got) <= atol + rtol * np.abs(ref)))
    return ok, diff, ""


def check_invariance(
    descriptor_fn: Callable,
    system,
    transforms: Sequence | None = None,
    atol: float = 1e-8,
    rtol: float = 1e-6,
    per_site: bool = False,
    n_trials: int = 3,
    rng=None,
    symprec: float = 0.01,
) -> InvarianceReport:
    """Check which ways of re-writing ``system`` change ``descriptor_fn(system)``.

    For every transformation, ``n_trials`` randomly transformed copies are made and the
    descriptor of each is compared with the descriptor of the original structure, elementwise:
    the check passes if ``|d_copy - d_original| <= atol + rtol * |d_original|`` everywhere, in
    every trial.

    Parameters
    ----------
    descriptor_fn : callable
        ``descriptor_fn(structure) -> array``; it receives an object of the same type as
        ``system``. Use ``functools.partial`` or a lambda to fix its options.
    system : ase.Atoms or pymatgen.core.Structure or pymatgen.core.Molecule
    transforms : sequence, optional
        Names from :data:`TRANSFORMS` and/or ``(name, function)`` pairs, where
        ``function(structure, rng)`` returns a transformed copy (compared as a global descriptor,
        or row by row in the same atom order if ``per_site``). Default: rotation, translation and
        permutation for a molecule; every transformation of :data:`TRANSFORMS` for a crystal.
    atol, rtol : float
        Absolute and relative tolerance.
    per_site : bool
        The descriptor returns one row per atom (e.g. ACSF, SOAP). The rows of a transformed copy
        are compared with the rows of the *same* atoms of the original (after a permutation, a
        change of cell or in a supercell, every atom is traced back to the original atom it is a
        copy of).
    n_trials : int
        Random trials per transformation (``primitive`` and ``conventional`` are deterministic and
        run once).
    rng : numpy.random.Generator or int, optional
        Random generator or seed, for reproducible reports.
    symprec : float
        Symmetry tolerance (angstrom) for ``primitive`` and ``conventional``.

    Returns
    -------
    InvarianceReport
        One :class:`TransformResult` per transformation, in the order given.

    Raises
    ------
    ValueError
        For an unknown transformation name, a cell transformation of a molecule, or if the
        descriptor fails on the original structure.
    """
    if not callable(descriptor_fn):
        raise TypeError(f"descriptor_fn must be a function structure -> array, got {descriptor_fn!r}.")
    for name, value in (("atol", atol), ("rtol", rtol)):
        if not isinstance(value, (int, float, np.floating)) or not value >= 0:
            raise ValueError(f"{name} must be a non-negative number, got {value!r}.")
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive integer, got {n_trials!r}.")
    s = as_system(system)
    rng = _as_rng(rng)
    if transforms is None:
        transforms = _CRYSTAL_DEFAULT if s.pbc.all() else _MOLECULE_DEFAULT
    elif isinstance(transforms, str):
        transforms = (transforms,)
    steps = []
    for t in transforms:
        if isinstance(t, str):
            if t not in TRANSFORMS:
                raise ValueError(f"unknown transformation {t!r}; choose from {list(TRANSFORMS)}, or pass "
                                 "a (name, function) pair.")
            if t in _PERIODIC_ONLY:
                _require_periodic(s, f"the {t!r} transformation")
            steps.append((t, None))
        elif isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str) and callable(t[1]):
            steps.append(t)
        else:
            raise ValueError(f"each transformation must be a name from {list(TRANSFORMS)} or a (name, "
                             f"function) pair; got {t!r}.")
    name_fn = getattr(descriptor_fn, "__name__", None) or getattr(getattr(descriptor_fn, "func", None),
                                                                  "__name__", repr(descriptor_fn))
    try:
        ref = np.asarray(descriptor_fn(system), dtype=float)
    except Exception as exc:
        raise ValueError(f"{name_fn} failed on the original structure: {exc}") from exc
    if per_site and (ref.ndim == 0 or ref.shape[0] != len(s)):
        raise ValueError(f"per_site=True but {name_fn} returned shape {ref.shape} for {len(s)} atoms; "
                         "a per-site descriptor returns one row per atom.")
    scale = max(float(np.max(np.abs(ref), initial=0.0)), 1e-300)
    report = InvarianceReport(name_fn, _describe(system), per_site, float(atol), float(rtol))
    for name, fn in steps:
        trials = 1 if name in ("primitive", "conventional") else n_trials
        ok_all, worst, note = True, 0.0, ""
        for _ in range(trials):
            if fn is None:
                new, index = _apply(name, s, rng, symprec)
                copy = _rebuild(system, new.numbers, new.positions, new.cell, new.pbc)
            else:
                copy = fn(system, rng)
                index = np.arange(len(s))
            try:
                got = np.asarray(descriptor_fn(copy), dtype=float)
            except Exception as exc:
                ok_all, worst, note = False, math.inf, f"the descriptor raised {type(exc).__name__}: {exc}"
                break
            ok, diff, why = _compare(ref, got, index, per_site, atol, rtol)
            ok_all &= ok
            worst = max(worst, diff)
            note = note or why
        report.results.append(TransformResult(name, ok_all, worst, worst / scale, note))
    return report
