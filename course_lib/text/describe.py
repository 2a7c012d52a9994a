"""Structure -> text: a deterministic description of a crystal (chapter 10).

The description follows the plan of Robocrystallographer's (Ganose & Jain, *MRS Commun.* 9, 874
(2019)): formula, space group and crystal system, then one sentence per symmetry-inequivalent
site with its coordination number, the geometry of its neighbours and its bond lengths. It is
built here from pymatgen's tools (:class:`~pymatgen.symmetry.analyzer.SpacegroupAnalyzer` for the
symmetry, :class:`~pymatgen.analysis.local_env.CrystalNN` or
:class:`~pymatgen.analysis.local_env.MinimumDistanceNN` for the neighbours and
:class:`~pymatgen.analysis.local_env.LocalStructOrderParams` for the geometry) rather than with
the ``robocrys`` package, which installs and runs offline but takes seconds per structure
(condensing, mineral and component matching) where a lecture notebook describes hundreds.

The text is the same for the same crystal whatever the order of its sites or its orientation in
space: only symmetry-derived and distance-derived quantities enter it, the representative of a
set of equivalent sites is chosen by its fractional coordinates (not by its index), site
sentences are sorted, and numbers are rounded.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

__all__ = ["DescriptionError", "GEOMETRIES", "describe_structure", "describe_structures", "number_word"]

_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen")

#: Coordination geometries tried for each coordination number: order-parameter type of
#: :class:`~pymatgen.analysis.local_env.LocalStructOrderParams` -> name used in the text.
GEOMETRIES: dict[int, dict[str, str]] = {
    1: {"sgl_bd": "single-bond"},
    2: {"bent": "linear"},  # pymatgen's "bent" with its default target angle of 180 degrees
    3: {"tri_plan": "trigonal planar", "tri_pyr": "trigonal pyramidal", "T": "T-shaped"},
    4: {"tet": "tetrahedral", "sq_plan": "square planar", "see_saw_rect": "see-saw"},
    5: {"sq_pyr": "square pyramidal", "tri_bipyr": "trigonal bipyramidal", "pent_plan": "pentagonal planar"},
    6: {"oct": "octahedral", "pent_pyr": "pentagonal pyramidal", "hex_plan_max": "hexagonal planar"},
    7: {"pent_bipyr": "pentagonal bipyramidal", "hex_pyr": "hexagonal pyramidal"},
    8: {"bcc": "body-centred cubic", "hex_bipyr": "hexagonal bipyramidal", "sq_face_cap_trig_pris": "capped trigonal prismatic"},
    12: {"cuboct": "cuboctahedral"},
}
_MIN_ORDER = 0.5  # below this best order parameter the geometry is called "irregular"


class DescriptionError(ValueError):
    """The structure cannot be described (no sites, unordered sites, unknown neighbour method)."""


def number_word(n: int) -> str:
    """``6 -> "six"`` (numbers above sixteen stay digits)."""
    return _WORDS[n] if 0 <= n < len(_WORDS) else str(n)


def _neighbor_finder(neighbors: str):
    from pymatgen.analysis.local_env import CrystalNN, MinimumDistanceNN

    if neighbors == "crystalnn":
        return CrystalNN()
    if neighbors == "nearest":
        return MinimumDistanceNN(tol=0.1, cutoff=5.0)
    raise DescriptionError(f"unknown neighbors={neighbors!r}; use 'crystalnn' or 'nearest'")


def _geometry(structure, index: int, neighbor_sites, order_params_cache: dict) -> str:
    from pymatgen.analysis.local_env import LocalStructOrderParams

    cn = len(neighbor_sites)
    types = GEOMETRIES.get(cn)
    if not types:
        return ""
    if cn not in order_params_cache:
        order_params_cache[cn] = LocalStructOrderParams(list(types))
    ops = order_params_cache[cn]
    # a small local cluster: the centre plus its neighbours (periodic images as Cartesian points)
    from pymatgen.core import Molecule

    centre = structure[index]
    species = [centre.specie] + [n.specie for n in neighbor_sites]
    coords = [centre.coords] + [n.coords for n in neighbor_sites]
    cluster = Molecule(species, coords)
    values = ops.get_order_parameters(cluster, 0, indices_neighs=list(range(1, cn + 1)))
    values = [(-1.0 if v is None or not np.isfinite(v) else float(v)) for v in values]
    best = int(np.argmax(values))
    if values[best] < _MIN_ORDER:
        return "bent" if cn == 2 else "irregular"
    return list(types.values())[best]


def _format_lengths(lengths: list[float], decimals: int) -> str:
    rounded = sorted({round(x, decimals) for x in lengths})
    fmt = f"{{:.{decimals}f}}"
    if len(rounded) == 1:
        return fmt.format(rounded[0]) + " Å"
    return f"{fmt.format(rounded[0])}–{fmt.format(rounded[-1])} Å"


def describe_structure(structure, *, neighbors: str = "crystalnn", symprec: float = 0.1,
                       decimals: int = 2) -> str:
    """A deterministic English description of a crystal.

    Parameters
    ----------
    structure : pymatgen.core.Structure
        An ordered periodic structure (every site one element).
    neighbors : str
        ``"crystalnn"`` (default; pymatgen's CrystalNN, Pan et al. 2021) or ``"nearest"``
        (every atom within 10% of the shortest distance from the site, at most 5 Å; faster).
    symprec : float
        Symmetry tolerance of spglib, in Å.
    decimals : int
        Decimals of the bond lengths (Å).

    Returns
    -------
    str
        For rock salt: ``"NaCl crystallizes in the cubic Fm-3m space group (number 225).
        Cl is bonded to six Na atoms in an octahedral geometry; bond lengths Cl–Na 2.82 Å.
        Na is bonded to six Cl atoms in an octahedral geometry; bond lengths Na–Cl 2.82 Å."``
        One sentence per set of symmetry-equivalent sites, sorted; identical sentences of
        several sets are merged ("(for two inequivalent sites)").

    Raises
    ------
    DescriptionError
        For a structure without sites, with partial occupancies, or an unknown ``neighbors``.
    TypeError
        For something that is not a pymatgen ``Structure``.
    """
    from pymatgen.core import Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    if not isinstance(structure, Structure):
        raise TypeError(
            f"describe_structure needs a pymatgen Structure, got {type(structure).__name__}; "
            "convert ase.Atoms with pymatgen.io.ase.AseAtomsAdaptor.get_structure")
    if len(structure) == 0:
        raise DescriptionError("the structure has no sites")
    if not structure.is_ordered:
        raise DescriptionError(
            "the structure has partial occupancies; describe an ordered approximant "
            "(e.g. pymatgen's OrderDisorderedStructureTransformation) instead")
    if not isinstance(decimals, int) or decimals < 0:
        raise DescriptionError(f"decimals must be a non-negative integer, got {decimals!r}")
    finder = _neighbor_finder(neighbors)
    sga = SpacegroupAnalyzer(structure, symprec=symprec)
    symmetrized = sga.get_symmetrized_structure()
    formula = structure.composition.reduced_formula
    head = (f"{formula} crystallizes in the {sga.get_crystal_system()} "
            f"{sga.get_space_group_symbol()} space group (number {sga.get_space_group_number()}).")
    sentences = []
    cache: dict = {}
    for group in symmetrized.equivalent_indices:
        # the representative: within symprec the members' environments agree, but not to the
        # last digit; take the member with the smallest wrapped fractional coordinates so that
        # the choice depends neither on the order of the sites nor on a rotation
        index = min(group, key=lambda i: tuple(np.round(structure[i].frac_coords % 1.0, 6) % 1.0))
        element = structure[index].specie.symbol
        info = finder.get_nn_info(structure, index)
        nsites = [n["site"] for n in info]
        counts = Counter(n.specie.symbol for n in nsites)
        cn = len(nsites)
        if cn == 0:
            sentences.append(f"{element} has no bonded neighbours.")
            continue
        words = [f"{number_word(counts[e])} {e}" for e in sorted(counts)]
        partners = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
        geometry = _geometry(structure, index, nsites, cache)
        geo = f" in {'an' if geometry[:1] in 'aeiou' else 'a'} {geometry} geometry" if geometry else ""
        bonds = []
        for e in sorted(counts):
            lengths = [float(np.linalg.norm(n.coords - structure[index].coords)) for n in nsites
                       if n.specie.symbol == e]
            bonds.append(f"{element}–{e} {_format_lengths(lengths, decimals)}")
        atom_word = "atom" if cn == 1 else "atoms"
        sentences.append(f"{element} is bonded to {partners} {atom_word}{geo}; bond lengths {', '.join(bonds)}.")
    multiplicity = Counter(sentences)
    body = [s if multiplicity[s] == 1 else f"{s[:-1]} (for {number_word(multiplicity[s])} inequivalent sites)."
            for s in sorted(multiplicity)]
    return " ".join([head] + body)


def describe_structures(structures, *, progress: bool = False, **options) -> list[str]:
    """:func:`describe_structure` for a list of structures (``options`` as there)."""
    from tqdm.auto import tqdm

    structures = list(structures)
    if not structures:
        raise DescriptionError("no structures given")
    return [describe_structure(s, **options) for s in tqdm(structures, disable=not progress, desc="describe")]
