"""Species (ion) embeddings: one vector per element *and oxidation state* (chapter 2).

An element embedding gives Fe one vector whether it sits in FeO (Fe2+) or Fe2O3 (Fe3+). A species
embedding keys its vectors by :class:`Species`, e.g. ``"Fe2+"`` and ``"Fe3+"``. The published
ones are SkipSpecies (Onwuli, Butler & Walsh, *APL Mach. Learn.* 2, 036112 (2024)): SkipAtom's
skip-gram objective (Antunes, Grau-Crespo & Butler, *npj Comput. Mater.* 8, 44 (2022)) applied
to bonded pairs of ions in oxidation-state-decorated Materials Project structures, shipped by
ElementEmbeddings as ``skipspecies`` and ``skipspecies_induced`` (200-d, dimensionless).

- :class:`Species` -- the key: element + oxidation state, written ``"Fe3+"``, ``"O2-"``,
  ``"H+"``, ``"B0+"`` (neutral), the notation of pymatgen and of the SkipSpecies files.
- :class:`SpeciesEmbedding` -- the table, with the same metric methods as
  :class:`~course_lib.embeddings.ElementEmbedding`.
- :func:`species_composition` -- a composition with oxidation states, as given by the user or
  guessed by pymatgen (``Composition.add_charges_from_oxi_state_guesses``) where none is given.
- :func:`species_composition_features` -- pooling over species, exactly as ElementEmbeddings'
  ``SpeciesCompositionalEmbedding.feature_vector`` does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..elements import SYMBOLS, FormulaError, atomic_number, check_symbol
from .metrics import KeyedVectorsMetrics, table_matrix

__all__ = [
    "MissingSpeciesError",
    "Species",
    "SpeciesEmbedding",
    "load_species_embedding",
    "species_composition",
    "species_composition_features",
]

_SPECIES_RE = re.compile(r"^([A-Z][a-z]{0,2})(?:(\d+(?:\.\d+)?)?([+-])|([+-])(\d+(?:\.\d+)?)|(0))$")
_HOW = ("write an element symbol followed by its oxidation state and sign, e.g. 'Fe3+', 'O2-', "
        "'H+' (charge 1) or 'Cu0+' (neutral)")


class MissingSpeciesError(KeyError):
    """A species that a species embedding has no vector for."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, order=True)
class Species:
    """An ion: an element and its oxidation state.

    Attributes
    ----------
    element
        Element symbol, e.g. ``"Fe"``.
    oxidation_state
        Formal charge in units of the elementary charge, e.g. ``3`` (integers are stored as
        ``int``; pymatgen's guesses can be fractional for mixed valence only on average, and
        :func:`species_composition` splits those into integer species).

    ``str(Species("Fe", 3))`` is ``"Fe3+"``; ``Species.parse("O2-")`` reads the same notation
    back (also ``"O-2"`` and pymatgen ``Species`` objects).
    """

    element: str
    oxidation_state: float

    def __post_init__(self) -> None:
        check_symbol(self.element, f" in species {self.element}{self.oxidation_state}")
        q = float(self.oxidation_state)
        if not math.isfinite(q):
            raise ValueError(f"oxidation state of {self.element} must be finite, got {q}")
        object.__setattr__(self, "oxidation_state", int(q) if q.is_integer() else q)

    @classmethod
    def parse(cls, species) -> Species:
        """Read ``"Fe3+"``, ``"Fe+3"``, ``"H+"``, ``"Cu0+"``, a :class:`Species` or a pymatgen
        ``Species``.

        Raises
        ------
        ValueError
            If the text is not an element symbol with an oxidation state (the message says how to
            write one); a bare element symbol such as ``"Fe"`` is refused, since its oxidation
            state is unknown.
        """
        if isinstance(species, Species):
            return species
        if hasattr(species, "oxi_state") and hasattr(species, "symbol"):  # pymatgen Species
            if species.oxi_state is None:
                raise ValueError(f"pymatgen species {species} has no oxidation state; {_HOW}")
            return cls(str(species.symbol), species.oxi_state)
        if not isinstance(species, str):
            raise TypeError(f"a species must be a string such as 'Fe3+' or a Species, got {species!r}")
        m = _SPECIES_RE.match(species.strip())
        if m is None:
            extra = (" -- that is an element without an oxidation state"
                     if species.strip() in SYMBOLS else "")
            raise ValueError(f"cannot read species {species!r}{extra}; {_HOW}")
        element, n1, sign1, sign2, n2, zero = m.groups()
        if zero:
            return cls(element, 0)
        number, sign = (n1, sign1) if sign1 else (n2, sign2)
        magnitude = float(number) if number else 1.0
        return cls(element, magnitude if sign == "+" else -magnitude)

    def __str__(self) -> str:
        q = self.oxidation_state
        if q == 0:
            return f"{self.element}0+"
        magnitude = abs(q)
        text = "" if magnitude == 1 else (f"{magnitude:d}" if isinstance(magnitude, int)
                                          else f"{magnitude:.4f}".rstrip("0").rstrip("."))
        return f"{self.element}{text}{'+' if q > 0 else '-'}"

    @property
    def atomic_number(self) -> int:
        """Atomic number of the element."""
        return atomic_number(self.element)


@dataclass(frozen=True, eq=False)
class SpeciesEmbedding(KeyedVectorsMetrics):
    """A table of species vectors: row ``i`` of :attr:`matrix` is the vector of ``species[i]``.

    Rows are ordered by atomic number, then oxidation state. Lookups accept ``"Fe3+"``, a
    :class:`Species` or a pymatgen ``Species``. The metric methods (``similarity``,
    ``distance``, ``similarity_matrix``, ``distance_matrix``, ``nearest``) are those of
    :class:`~course_lib.embeddings.metrics.KeyedVectorsMetrics`.

    Attributes
    ----------
    name
        Short name, e.g. ``"skipspecies"``.
    species
        The species that have a vector, as canonical strings (``str(Species)``).
    matrix
        Array of shape ``(len(species), dim)``, dimensionless for SkipSpecies.
    citation, description
        The paper to cite and what the vectors are.
    """

    name: str
    species: tuple[str, ...]
    matrix: np.ndarray
    citation: str = ""
    description: str = ""
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        matrix = table_matrix(self.matrix, len(self.species), f"species embedding {self.name!r}", "species")
        parsed = [Species.parse(s) for s in self.species]
        keys = [str(p) for p in parsed]
        if len(set(keys)) != len(keys):
            raise ValueError(f"species embedding {self.name!r} lists a species twice")
        order = sorted(range(len(parsed)), key=lambda i: (parsed[i].atomic_number, parsed[i].oxidation_state))
        matrix = matrix[order]
        matrix.setflags(write=False)
        object.__setattr__(self, "species", tuple(keys[i] for i in order))
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.species)})

    @classmethod
    def from_mapping(cls, name: str, vectors: Mapping, **kwargs) -> SpeciesEmbedding:
        """Build from ``{species: vector}``; every vector must have the same length."""
        lengths = {len(np.atleast_1d(v)) for v in vectors.values()}
        if len(lengths) != 1:
            raise ValueError(f"species embedding {name!r}: vectors have different lengths {sorted(lengths)}")
        keys = [str(Species.parse(s)) for s in vectors]
        return cls(name, tuple(keys), np.array([np.atleast_1d(v) for v in vectors.values()]), **kwargs)

    @property
    def dim(self) -> int:
        """Length of every vector."""
        return self.matrix.shape[1]

    def __len__(self) -> int:
        return len(self.species)

    def __contains__(self, species: object) -> bool:
        try:
            return str(Species.parse(species)) in self._index
        except (TypeError, ValueError):
            return False

    def __repr__(self) -> str:
        return f"SpeciesEmbedding({self.name!r}, {len(self)} species of {len(self.elements)} elements, dim={self.dim})"

    def _labels(self) -> tuple[str, ...]:
        return self.species

    @property
    def elements(self) -> tuple[str, ...]:
        """Elements with at least one species, ordered by atomic number."""
        return tuple(dict.fromkeys(Species.parse(s).element for s in self.species))

    def oxidation_states(self, element: str) -> tuple[int | float, ...]:
        """Oxidation states of ``element`` that have a vector, ascending (empty if none)."""
        check_symbol(element)
        return tuple(p.oxidation_state for p in map(Species.parse, self.species) if p.element == element)

    def vector(self, species) -> np.ndarray:
        """The vector of one species, shape ``(dim,)`` (a read-only view).

        Raises
        ------
        MissingSpeciesError
            If the table has no vector for it; the message lists the oxidation states it has for
            that element and what to do.
        ValueError
            If ``species`` is not a species (e.g. a bare element symbol).
        """
        key = str(Species.parse(species))
        try:
            return self.matrix[self._index[key]]
        except KeyError:
            pass
        sp = Species.parse(key)
        states = self.oxidation_states(sp.element)
        if states:
            have = ", ".join(str(Species(sp.element, q)) for q in states)
            hint = f"it has {have} for {sp.element}; give one of these oxidation states"
        else:
            hint = f"it has no species of {sp.element} at all; leave the compounds containing it out"
        if sp.oxidation_state == 0:
            hint += (" (neutral species are left out by default, as ElementEmbeddings does; "
                     "load_species_embedding(name, include_neutral=True) keeps the few it has)")
        raise MissingSpeciesError(
            f"species {key!r} has no vector in species embedding {self.name!r} "
            f"({len(self)} species); {hint}"
        ) from None

    def vectors(self, species: Iterable) -> np.ndarray:
        """Stack the vectors of several species into shape ``(n, dim)``."""
        return np.array([self.vector(s) for s in species]).reshape(-1, self.dim)

    def to_dataframe(self) -> pd.DataFrame:
        """The table as a DataFrame: index = species strings, one column per dimension."""
        return pd.DataFrame(np.array(self.matrix), index=list(self.species))


_SPECIES_CACHE: dict[tuple[str, bool], SpeciesEmbedding] = {}


def load_species_embedding(name: str = "skipspecies", include_neutral: bool = False) -> SpeciesEmbedding:
    """Load a published species embedding (``skipspecies`` or ``skipspecies_induced``).

    Parameters
    ----------
    name
        A registry name whose ``table`` is ``"species"``.
    include_neutral
        Keep the neutral species of the file (17 of them, e.g. ``"Si0+"``). ElementEmbeddings'
        ``SpeciesEmbedding.load_data`` leaves them out by default, and so does this function.

    Returns
    -------
    SpeciesEmbedding
        The vectors exactly as ElementEmbeddings reads them (its ``SpeciesEmbedding.load_data``).
    """
    from .published import EMBEDDINGS, available_embeddings

    if name not in EMBEDDINGS or EMBEDDINGS[name].table != "species":
        raise ValueError(
            f"unknown species embedding {name!r}; choose one of: {', '.join(available_embeddings('species'))}"
        )
    key = (name, bool(include_neutral))
    if key not in _SPECIES_CACHE:
        from elementembeddings.core import SpeciesEmbedding as _EESpecies

        info = EMBEDDINGS[name]
        raw = _EESpecies.load_data(name, include_neutral=include_neutral)
        description = info.description + ("" if include_neutral else "; neutral species left out")
        _SPECIES_CACHE[key] = SpeciesEmbedding.from_mapping(
            name, {k: np.asarray(v, dtype=float) for k, v in raw.embeddings.items()},
            citation=info.citation, description=description,
        )
    return _SPECIES_CACHE[key]


def _guess(amounts: Mapping[str, float], label: str) -> dict[str, float]:
    from pymatgen.core import Composition

    comp = Composition(dict(amounts))
    if not comp.oxi_state_guesses():
        raise ValueError(
            f"pymatgen finds no charge-balanced oxidation states for {label!r} (an intermetallic or "
            "an unusual compound); give the species yourself, e.g. {'Fe3+': 2, 'O2-': 3}"
        )
    charged = comp.add_charges_from_oxi_state_guesses()
    return {str(Species.parse(sp)): float(n) for sp, n in charged.items()}


def _has_charge(key) -> bool:
    """Whether a composition key names a species (True) or a bare element (False)."""
    if isinstance(key, Species):
        return True
    if hasattr(key, "symbol"):  # pymatgen Element or Species
        return getattr(key, "oxi_state", None) is not None
    return not (isinstance(key, str) and key.strip() in SYMBOLS)


def species_composition(composition, guess: bool = True) -> dict[str, float]:
    """A composition as ``{species: amount}``, oxidation states given or guessed.

    Parameters
    ----------
    composition
        One of: ``{species: amount}`` (``{"Fe3+": 2, "O2-": 3}``, keys may be :class:`Species` or
        pymatgen ``Species``); a pymatgen ``Composition`` with oxidation states; or, without
        oxidation states, a formula (``"Fe3O4"``), ``{element: amount}`` or a pymatgen
        ``Composition`` of elements.
    guess
        Where no oxidation states are given, assign pymatgen's most likely charge-balanced guess
        (``Composition.add_charges_from_oxi_state_guesses``, which uses ICSD occurrence
        statistics and splits mixed valence into integer species: Fe3O4 -> Fe2+ + 2 Fe3+ +
        4 O2-). With ``guess=False`` such input is refused. The guess enumerates combinations
        of oxidation states, so it takes seconds for formulas of many atoms (Cr7C3: about 1 s);
        give the species yourself for large datasets of big formulas.

    Returns
    -------
    dict
        ``{"Fe2+": 1.0, "Fe3+": 2.0, "O2-": 4.0}`` (canonical species strings, amounts as given).

    Raises
    ------
    ValueError
        For a malformed formula or species, a mixture of species and bare elements, amounts that
        are not positive, or (with guessing) a composition pymatgen cannot charge-balance; each
        message says what to give instead.
    """
    from ..elements import parse_formula

    if isinstance(composition, str):
        if "+" in composition or "-" in composition:
            raise ValueError(
                f"cannot read charges inside the formula {composition!r}; give the species as a "
                "mapping, e.g. {'Fe3+': 2, 'O2-': 3}, or the formula without charges to guess them"
            )
        label, elements = composition, parse_formula(composition)
        species = None
    elif not hasattr(composition, "items"):
        raise TypeError(
            f"a composition must be a formula string, a mapping {{species or element: amount}} or a "
            f"pymatgen Composition, got {type(composition).__name__}"
        )
    else:
        items = list(composition.items())
        if not items:
            raise ValueError("the composition is empty; give at least one species or element")
        label = str(composition) if hasattr(composition, "reduced_formula") else repr(dict(composition))
        is_species = [_has_charge(key) for key, _ in items]
        if all(is_species):
            species = {}
            for key, amount in items:
                k = str(Species.parse(key))
                species[k] = species.get(k, 0.0) + float(amount)
            elements = None
        elif not any(is_species):
            elements = parse_formula({str(getattr(k, "symbol", k)): float(v) for k, v in items})
            species = None
        else:
            raise ValueError(
                f"the composition {label} mixes species with oxidation states and bare elements; "
                "give an oxidation state for every element (or for none, to have them guessed)"
            )
    if species is None:
        if not guess:
            raise ValueError(
                f"{label!r} has no oxidation states; give them (e.g. {{'Fe3+': 2, 'O2-': 3}}) or "
                "call with guess=True to use pymatgen's guess"
            )
        species = _guess(elements, label)
    bad = {k: v for k, v in species.items() if not (math.isfinite(v) and v > 0)}
    if bad:
        raise FormulaError(f"amounts must be positive and finite; got {bad} in {label}")
    return species


def _resolve(embedding) -> SpeciesEmbedding:
    if isinstance(embedding, SpeciesEmbedding):
        return embedding
    if isinstance(embedding, str):
        return load_species_embedding(embedding)
    raise TypeError(
        f"embedding must be a species-embedding name ('skipspecies', 'skipspecies_induced') or a "
        f"SpeciesEmbedding, got {type(embedding).__name__}; element embeddings pool with "
        "course_lib.composition.composition_features"
    )


def species_composition_features(
    composition,
    embedding: str | SpeciesEmbedding = "skipspecies",
    stats: str | Sequence[str] = ("mean",),
    guess: bool = True,
) -> np.ndarray:
    r"""Pool the species vectors of a composition into one fixed-length vector.

    The statistics are those of :func:`course_lib.composition.composition_features` with the
    species :math:`s` in place of the elements: amounts :math:`n_s`, fractions
    :math:`x_s = n_s / \sum_t n_t`, ``mean`` :math:`\sum_s x_s \mathbf{v}_s`, ``sum``,
    ``variance``, ``minpool``, ``maxpool``, ``range``; they equal ElementEmbeddings'
    ``SpeciesCompositionalEmbedding(...).feature_vector(stats)`` (tested). As for elements, a
    species missing from the table raises :class:`MissingSpeciesError` instead of being
    replaced by zeros.

    Parameters
    ----------
    composition
        Anything :func:`species_composition` accepts (oxidation states are guessed where none are
        given, unless ``guess=False``).
    embedding
        ``"skipspecies"``, ``"skipspecies_induced"`` or a :class:`SpeciesEmbedding`.
    stats
        Statistics, concatenated in the order given.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(stats) * embedding.dim,)``, dimensionless for SkipSpecies.
    """
    from ..composition import _check_stats, _pool

    emb = _resolve(embedding)
    stats = _check_stats(stats)
    amounts = species_composition(composition, guess=guess)
    vectors = emb.vectors(amounts)
    n = np.array(list(amounts.values()))
    return np.concatenate([_pool(n, vectors, s) for s in stats])
