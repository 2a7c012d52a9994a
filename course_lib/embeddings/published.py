"""Published element and species embeddings, the registry and the ElementEmbedding object.

:func:`load_embedding` returns the published embeddings that ship inside the installed
``elementembeddings`` package (Onwuli et al., *Digital Discovery* 2023) as an
:class:`ElementEmbedding` (one vector per element) or, for the SkipSpecies sets, a
:class:`~course_lib.embeddings.species.SpeciesEmbedding` (one vector per ion, e.g. ``"Fe3+"``).
Chapter 2's trainers return the same objects, so every analysis tool works on published and
learned vectors alike. :data:`EMBEDDINGS` is the one registry: for every name, the data file,
what the vectors are, the paper to cite, the dimension, the kind and the licence. The files are
read where the package installed them; nothing is copied into this repository.

The published CrysAtom vectors are not in any package: the user downloads the authors' file and
passes it with ``load_embedding("crysatom", path=...)`` (see
:func:`~course_lib.embeddings.crysatom_file.load_crysatom_vectors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..elements import SYMBOLS, FormulaError, atomic_number, check_symbol
from .metrics import KeyedVectorsMetrics, table_matrix

__all__ = [
    "EMBEDDINGS",
    "KINDS",
    "EmbeddingInfo",
    "ElementEmbedding",
    "MissingElementError",
    "available_embeddings",
    "embedding_table",
    "load_embedding",
]


class MissingElementError(KeyError):
    """An element that an embedding has no vector for."""

    def __str__(self) -> str:  # KeyError would otherwise print the repr of the message
        return str(self.args[0])


#: What the vectors are made from, the ``kind`` of every registry record.
KINDS = {
    "hand-made": "tabulated element properties or a fixed ordering of the elements",
    "literature": "word vectors learned from the text of scientific abstracts",
    "crystal graphs": "learned from crystal structures: bonded neighbours or a graph network",
    "MLIP": "node features of a machine-learned interatomic potential, averaged per element",
    "language model": "token embeddings of a language model (of papers or of CIF files)",
    "random": "random numbers, a baseline with no chemistry in it",
}

_EE_LICENCE = (
    "MIT (the licence of the elementembeddings package, which distributes this file; "
    "original source: {source})"
)


@dataclass(frozen=True)
class EmbeddingInfo:
    """Registry record of a published embedding.

    Attributes
    ----------
    name
        The name :func:`load_embedding` accepts.
    file
        The data file: inside ``elementembeddings/data/element_representations/`` (``table ==
        "element"``) or ``.../species_representations/`` (``"species"``); for ``source ==
        "user file"``, the file name the authors distribute.
    description
        What the vectors are.
    citation, doi
        The paper to cite.
    kind
        One of :data:`KINDS`.
    dim
        Length of every vector.
    licence
        Licence under which the file is distributed, and where it originally comes from.
    table
        ``"element"`` (keyed by element symbol) or ``"species"`` (keyed by ion, e.g. ``"Fe3+"``).
    source
        ``"elementembeddings"`` (installed with the package) or ``"user file"`` (downloaded by
        the user, loaded with ``path=``).
    derived_from
        For a set computed at load time from another one (``xenonpy_sc``), that set's name.
    """

    name: str
    file: str
    description: str
    citation: str
    doi: str
    kind: str = "hand-made"
    dim: int = 0
    licence: str = ""
    table: str = "element"
    source: str = "elementembeddings"
    derived_from: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"registry record {self.name!r}: kind {self.kind!r} is not one of {list(KINDS)}")
        if self.table not in ("element", "species"):
            raise ValueError(f"registry record {self.name!r}: table must be 'element' or 'species'")


def _info(name, file, description, citation, doi, kind, dim, origin, **kwargs) -> EmbeddingInfo:
    licence = kwargs.pop("licence", None) or _EE_LICENCE.format(source=origin)
    return EmbeddingInfo(name, file, description, citation, doi, kind, dim, licence, **kwargs)


_WARD = ("Ward, Agrawal, Choudhary & Wolverton, npj Comput. Mater. 2, 16028 (2016)",
         "10.1038/npjcompumats.2016.28")
_OLIYNYK = ("Oliynyk et al., Chem. Mater. 28, 7324-7331 (2016)", "10.1021/acs.chemmater.6b02724")
_ONWULI = ("Onwuli, Hegde, Nguyen, Butler & Walsh, Digital Discovery 2, 1558-1564 (2023)",
           "10.1039/D3DD00121K")
_XENONPY = ("Liu et al., Adv. Mater. 33, 2102507 (2021); Kusaba, Liu & Yoshida, Comput. Mater. Sci. "
            "211, 111496 (2022); Kusaba et al., Phys. Rev. B 108, 134107 (2023)",
            "10.1002/adma.202102507")
_SKIPSPECIES = ("Onwuli, Butler & Walsh, APL Mach. Learn. 2, 036112 (2024); method of Antunes, "
                "Grau-Crespo & Butler, npj Comput. Mater. 8, 44 (2022)", "10.1063/5.0227009")
_MLIP_AVERAGE = "averaged over the atoms of each element in the MP-20 structures"

#: The registry: name -> :class:`EmbeddingInfo`. Element sets first (21), then the species sets
#: (2), then the sets the user supplies as a file (``crysatom``).
EMBEDDINGS: dict[str, EmbeddingInfo] = {
    info.name: info
    for info in [
        # -- hand-made ------------------------------------------------------------------------
        _info("magpie", "magpie.csv",
              "22 tabulated element properties used by Magpie (atomic number, Mendeleev number, "
              "atomic weight, melting temperature, group, period, covalent radius, "
              "electronegativity, valence-electron counts, unfilled orbitals, DFT volume, band gap "
              "and magnetic moment of the elemental ground state, space group); unscaled",
              *_WARD, "hand-made", 22, "Kaaiian/CBFV, cbfv/element_properties/magpie.csv"),
        _info("magpie_sc", "magpie_sc.json",
              "the 22 Magpie properties, each standardised to zero mean and unit variance over "
              "the 97 elements",
              *_WARD, "hand-made", 22, "lrcfmd/ElMD, ElMD/el_lookup/magpie_sc.json"),
        _info("oliynyk", "oliynyk_preprocessed.csv",
              "44 tabulated element properties of Oliynyk et al. (missing values imputed by "
              "ElementEmbeddings)",
              *_OLIYNYK, "hand-made", 44, "Kaaiian/CBFV, cbfv/element_properties/oliynyk.csv"),
        _info("oliynyk_sc", "oliynyk_sc.json",
              "the 44 Oliynyk properties, scaled (as distributed by ElMD; not the same as "
              "standardising 'oliynyk')",
              *_OLIYNYK, "hand-made", 44, "lrcfmd/ElMD, ElMD/el_lookup/oliynyk_sc.json"),
        _info("xenonpy", "xenonpy_element_features.csv",
              "58 tabulated element properties used by XenonPy (radii, electronegativities, "
              "ionisation energies, thermal and electronic properties); unscaled",
              *_XENONPY, "hand-made", 58, "yoshida-lab/XenonPy"),
        _info("xenonpy_sc", "xenonpy_element_features.csv",
              "the 58 XenonPy properties, each standardised to zero mean and unit variance over "
              "the 94 elements at load time (the recipe of 'magpie_sc', which equals the "
              "standardised 'magpie')",
              *_XENONPY, "hand-made", 58, "yoshida-lab/XenonPy", derived_from="xenonpy"),
        _info("mod_petti", "mod_petti.json",
              "one-hot vectors ordered by the modified Pettifor scale (103-d)",
              "Glawe, Sanna, Gross & Marques, New J. Phys. 18, 093011 (2016)",
              "10.1088/1367-2630/18/9/093011", "hand-made", 103,
              "lrcfmd/ElMD, ElMD/el_lookup/mod_petti.json"),
        _info("atomic", "atomic.json", "one-hot vectors ordered by atomic number (118-d)",
              *_ONWULI, "hand-made", 118, "ElementEmbeddings"),
        # -- literature ------------------------------------------------------------------------
        _info("mat2vec", "mat2vec.csv",
              "200-d word2vec vectors of element names learned from 3.3 million materials-science "
              "abstracts",
              "Tshitoyan et al., Nature 571, 95-98 (2019)", "10.1038/s41586-019-1335-8",
              "literature", 200, "Kaaiian/CBFV, cbfv/element_properties/mat2vec.csv"),
        _info("matscholar", "matscholar-embedding.json",
              "200-d word embeddings of elements from the Matscholar text-mining pipeline",
              "Weston et al., J. Chem. Inf. Model. 59, 3692-3702 (2019)",
              "10.1021/acs.jcim.9b00470", "literature", 200,
              "lrcfmd/ElMD, ElMD/el_lookup/matscholar.json"),
        # -- crystal graphs --------------------------------------------------------------------
        _info("skipatom", "skipatom_20201009_induced.csv",
              "200-d SkipAtom vectors (induced variant) trained on bonded atom pairs of Materials "
              "Project structures (2020-10-09)",
              "Antunes, Grau-Crespo & Butler, npj Comput. Mater. 8, 44 (2022)",
              "10.1038/s41524-022-00729-3", "crystal graphs", 200,
              "lantunes/skipatom, data/skipatom_20201009_induced.csv"),
        _info("megnet16", "megnet16.json",
              "16-d atom embeddings learned by a MEGNet graph network trained on formation energies",
              "Chen, Ye, Zuo, Zheng & Ong, Chem. Mater. 31, 3564-3572 (2019)",
              "10.1021/acs.chemmater.9b01294", "crystal graphs", 16,
              "lrcfmd/ElMD, ElMD/el_lookup/megnet16.json"),
        _info("cgnf", "cgnf.json",
              "90-d node embedding vectors of a pretrained crystal graph convolutional network, "
              "the element part of the composition graph neural fingerprint (CGNF)",
              "Jang, Noh, Zhou, Gu, Gregoire & Jung, Matter 7, 2294-2312 (2024)", "",
              "crystal graphs", 90,
              "kaist-amsg/Synthesizability-stoi-CGNF, cgcnn_hd_rcut4_nn8.element_embedding.json"),
        _info("chemeleon", "chemeleon.csv",
              "512-d node features of the Chemeleon generative crystal-structure model after its "
              "message-passing layers at t = 0, " + _MLIP_AVERAGE,
              "Park, Onwuli & Walsh, Nat. Commun. 16, 4869 (2025)", "10.1038/s41467-025-59636-y",
              "crystal graphs", 512, "ElementEmbeddings (extracted from Chemeleon-DNG)"),
        # -- MLIP ------------------------------------------------------------------------------
        _info("mace_mp0", "mace_mp0.csv",
              "128-d scalar invariant descriptors of the MACE-MP-0 medium foundation model (last "
              "interaction layer), " + _MLIP_AVERAGE,
              "Batatia et al., A foundation model for atomistic materials chemistry, "
              "arXiv:2401.00096 (2024)", "10.48550/arXiv.2401.00096", "MLIP", 128,
              "ElementEmbeddings (extracted from MACE-MP-0)"),
        _info("sevennet", "sevennet.csv",
              "128-d scalar (l = 0) node features of SevenNet (7net-0) after its last equivariant "
              "gate, " + _MLIP_AVERAGE,
              "Park, Kim, Hwang & Han, arXiv:2402.03789 (2024)", "10.48550/arXiv.2402.03789",
              "MLIP", 128, "ElementEmbeddings (extracted from SevenNet 7net-0)"),
        _info("orb_v2", "orb_v2.csv",
              "256-d node features of ORB-v2 at the input of its energy head, " + _MLIP_AVERAGE,
              "Neumann et al., ORB: A Fast, Scalable Neural Network Potential, arXiv:2410.22570 "
              "(2024)", "10.48550/arXiv.2410.22570", "MLIP", 256,
              "ElementEmbeddings (extracted from ORB-v2)"),
        _info("chgnet", "chgnet.csv",
              "64-d node features of CHGNet after its last atom-convolution layer, " + _MLIP_AVERAGE,
              "Deng et al., Nat. Mach. Intell. 5, 1031-1041 (2023)", "10.1038/s42256-023-00716-3",
              "MLIP", 64, "ElementEmbeddings (extracted from CHGNet)"),
        # -- language models -------------------------------------------------------------------
        _info("crystallm", "crystallm_v24c.dim512_atom_vectors.csv",
              "512-d atom token embeddings of the CrystaLLM language model of CIF files",
              "Antunes, Butler & Grau-Crespo, Nat. Commun. 15, 10570 (2024)",
              "10.1038/s41467-024-54639-7", "language model", 512, "lantunes/CrystaLLM"),
        _info("matscibert", "matscibert.csv",
              "768-d token embeddings of the element symbols in MatSciBERT, a BERT model "
              "pretrained on materials-science papers",
              "Gupta, Zaki, Krishnan & Mausam, npj Comput. Mater. 8, 102 (2022)",
              "10.1038/s41524-022-00784-w", "language model", 768,
              "ElementEmbeddings (extracted from MatSciBERT)"),
        # -- random ----------------------------------------------------------------------------
        _info("random_200", "random_200_new.csv",
              "200-d random vectors (standard normal, numpy default_rng(seed=42)); a baseline "
              "with no chemistry in it",
              *_ONWULI, "random", 200, "ElementEmbeddings"),
        # -- species (ion) sets ----------------------------------------------------------------
        _info("skipspecies", "skipspecies_2022_10_28_dim200.csv",
              "200-d SkipSpecies vectors of ions (element + oxidation state), skip-gram trained "
              "on bonded pairs of oxidation-state-decorated Materials Project structures "
              "(2022-10-28)",
              *_SKIPSPECIES, "crystal graphs", 200, "ElementEmbeddings (SkipSpecies)",
              table="species"),
        _info("skipspecies_induced", "skipspecies_2022_10_28_induced_dim200.csv",
              "the SkipSpecies vectors, induced variant (rare species helped by the vectors "
              "of their neighbours, SkipAtom's induction step; see the paper)",
              *_SKIPSPECIES, "crystal graphs", 200, "ElementEmbeddings (SkipSpecies)",
              table="species"),
        # -- user files ------------------------------------------------------------------------
        EmbeddingInfo(
            "crysatom", "CrysAtom_vector.pkl",
            "200-d CrysAtom vectors published by the authors: a CGCNN encoder pretrained without "
            "labels (feature and connectivity reconstruction + Barlow Twins), node features "
            "averaged per element and L2-normalised; a pickle of {atomic number: tensor (1, 200)}",
            "Mukherjee, Ghosh & Basuchowdhuri, CrysAtom: Distributed Representation of Atoms "
            "for Crystal Property Prediction, arXiv:2409.04737 (2024)",
            "10.48550/arXiv.2409.04737", "crystal graphs", 200,
            "set by the authors (github.com/shrimonmuke0202/CrysAtom); no licence file was found "
            "there, so check with them before redistributing the file",
            source="user file",
        ),
    ]
}


def available_embeddings(table: str = "element", include_user_files: bool = False) -> list[str]:
    """Names accepted by :func:`load_embedding`, sorted.

    Parameters
    ----------
    table
        ``"element"`` (default: the 21 element sets that load by name alone), ``"species"``
        (the SkipSpecies sets) or ``"all"``.
    include_user_files
        Also list the sets that need ``path=`` (``crysatom``).
    """
    if table not in ("element", "species", "all"):
        raise ValueError(f"table must be 'element', 'species' or 'all', got {table!r}")
    return sorted(
        n for n, info in EMBEDDINGS.items()
        if (table == "all" or info.table == table)
        and (include_user_files or info.source != "user file")
    )


def embedding_table() -> pd.DataFrame:
    """The registry as a DataFrame, one row per name: kind, table, dim, source, citation, DOI,
    licence and description."""
    rows = [
        {"name": i.name, "kind": i.kind, "table": i.table, "dim": i.dim, "source": i.source,
         "citation": i.citation, "doi": i.doi, "licence": i.licence, "description": i.description}
        for i in EMBEDDINGS.values()
    ]
    return pd.DataFrame(rows).set_index("name")


@dataclass(frozen=True, eq=False)
class ElementEmbedding(KeyedVectorsMetrics):
    """A table of element vectors: row ``i`` of :attr:`matrix` is the vector of ``symbols[i]``.

    Rows are kept in order of atomic number. Build one with :func:`load_embedding`,
    :meth:`from_mapping` or :meth:`from_dataframe`. The metric methods (``similarity``,
    ``distance``, ``similarity_matrix``, ``distance_matrix``, ``nearest``) are those of
    :class:`~course_lib.embeddings.metrics.KeyedVectorsMetrics`.

    Attributes
    ----------
    name
        Short name, e.g. ``"magpie"``.
    symbols
        Element symbols that have a vector, ordered by atomic number.
    matrix
        Array of shape ``(len(symbols), dim)``; its units are those of the embedding (Magpie's
        columns carry physical units, learned embeddings are dimensionless).
    citation
        The paper to cite for these vectors.
    description
        What the vectors are.
    """

    name: str
    symbols: tuple[str, ...]
    matrix: np.ndarray
    citation: str = ""
    description: str = ""
    feature_names: tuple[str, ...] | None = None
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        matrix = table_matrix(self.matrix, len(self.symbols), f"embedding {self.name!r}", "symbols")
        for s in self.symbols:
            check_symbol(s, f" in embedding {self.name!r}")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"embedding {self.name!r} lists an element twice")
        order = np.argsort([atomic_number(s) for s in self.symbols], kind="stable")
        matrix = matrix[order]
        matrix.setflags(write=False)
        object.__setattr__(self, "symbols", tuple(self.symbols[i] for i in order))
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.symbols)})

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_mapping(
        cls, name: str, vectors: Mapping[str, Sequence[float]], **kwargs
    ) -> ElementEmbedding:
        """Build from ``{symbol: vector}``; every vector must have the same length."""
        symbols = tuple(vectors)
        lengths = {len(np.atleast_1d(v)) for v in vectors.values()}
        if len(lengths) != 1:
            raise ValueError(f"embedding {name!r}: vectors have different lengths {sorted(lengths)}")
        return cls(name, symbols, np.array([np.atleast_1d(vectors[s]) for s in symbols]), **kwargs)

    @classmethod
    def from_dataframe(cls, name: str, df: pd.DataFrame, **kwargs) -> ElementEmbedding:
        """Build from a DataFrame indexed by element symbol, one column per dimension."""
        return cls(
            name, tuple(df.index), df.to_numpy(dtype=float),
            feature_names=tuple(str(c) for c in df.columns), **kwargs,
        )

    # -- access -------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Length of every vector."""
        return self.matrix.shape[1]

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index

    def __repr__(self) -> str:
        return f"ElementEmbedding({self.name!r}, {len(self)} elements, dim={self.dim})"

    def _labels(self) -> tuple[str, ...]:
        return self.symbols

    def vector(self, symbol: str) -> np.ndarray:
        """The vector of one element, shape ``(dim,)`` (a read-only view).

        Raises
        ------
        MissingElementError
            If the element has no vector here (the message lists which embeddings do).
        """
        try:
            return self.matrix[self._index[symbol]]
        except KeyError:
            check_symbol(symbol)
            raise MissingElementError(
                f"element {symbol!r} has no vector in embedding {self.name!r} "
                f"({len(self)} elements, {self.symbols[0]}..{self.symbols[-1]}); "
                "use an embedding that covers it (e.g. 'mat2vec' covers H..Og) or leave the "
                "compounds containing it out"
            ) from None

    def vectors(self, symbols: Iterable[str]) -> np.ndarray:
        """Stack the vectors of several elements into shape ``(n, dim)``."""
        return np.array([self.vector(s) for s in symbols]).reshape(-1, self.dim)

    def to_dataframe(self) -> pd.DataFrame:
        """The embedding as a DataFrame: index = element symbols, one column per dimension."""
        columns = list(self.feature_names) if self.feature_names else list(range(self.dim))
        return pd.DataFrame(np.array(self.matrix), index=list(self.symbols), columns=columns)

    def subset(self, symbols: Iterable[str]) -> ElementEmbedding:
        """A new embedding restricted to ``symbols`` (each must be present)."""
        symbols = list(symbols)
        return ElementEmbedding(
            self.name, tuple(symbols), self.vectors(symbols), self.citation, self.description,
            self.feature_names,
        )

    def standardised(self) -> ElementEmbedding:
        """A copy with every dimension scaled to zero mean and unit variance over the elements.

        Constant dimensions are only centred (their standard deviation is zero).
        """
        mean = self.matrix.mean(axis=0)
        std = self.matrix.std(axis=0)
        std[std == 0] = 1.0
        return ElementEmbedding(
            f"{self.name}_standardised", self.symbols, (self.matrix - mean) / std,
            self.citation, self.description, self.feature_names,
        )


_CACHE: dict[str, object] = {}

# Placeholder (systematic) names of elements 113-118 -> their IUPAC symbols.
_IUPAC_NAMES = {"Uut": "Nh", "Uuq": "Fl", "Uup": "Mc", "Uuh": "Lv", "Uus": "Ts", "Uuo": "Og"}


def _unknown_name(name: object) -> ValueError:
    return ValueError(
        f"unknown embedding {name!r}; choose one of: "
        f"{', '.join(available_embeddings('all', include_user_files=True))}"
    )


def _load_packaged_elements(name: str) -> ElementEmbedding:
    """Read one element set of ElementEmbeddings with its own loader (``Embedding.load_data``)."""
    from elementembeddings.core import Embedding

    info = EMBEDDINGS[name]
    raw = Embedding.load_data(name)
    vectors: dict[str, np.ndarray] = {}
    description = info.description
    for sym, vec in raw.embeddings.items():
        if sym in _IUPAC_NAMES:  # some files still use the placeholder names of 113-118
            if _IUPAC_NAMES[sym] in raw.embeddings:
                description += (
                    f" (the file's row {sym!r} duplicates {_IUPAC_NAMES[sym]!r} under its"
                    " placeholder name and is not used)"
                )
                continue
            sym = _IUPAC_NAMES[sym]
        if sym not in SYMBOLS or sym in vectors:
            raise FormulaError(f"embedding {name!r} has an unexpected row {sym!r}")
        vectors[sym] = np.asarray(vec, dtype=float)
    feature_names = None
    labels = getattr(raw, "feature_labels", None)
    if labels is not None and len(labels) == raw.dim and not all(str(f).isdigit() for f in labels):
        feature_names = tuple(str(f) for f in labels)
    return ElementEmbedding.from_mapping(
        name, vectors, citation=info.citation, description=description,
        feature_names=feature_names,
    )


def load_embedding(name, path: str | Path | None = None):
    """Load a published embedding by name.

    Parameters
    ----------
    name
        One of ``available_embeddings("all", include_user_files=True)``:

        - element sets (21, see :func:`available_embeddings`): hand-made ``magpie``,
          ``magpie_sc``, ``oliynyk``, ``oliynyk_sc``, ``xenonpy``, ``xenonpy_sc``,
          ``mod_petti``, ``atomic``; literature ``mat2vec``, ``matscholar``; crystal graphs
          ``skipatom``, ``megnet16``, ``cgnf``, ``chemeleon``; MLIP ``mace_mp0``,
          ``sevennet``, ``orb_v2``, ``chgnet``; language models ``crystallm``,
          ``matscibert``; and ``random_200``;
        - species sets: ``skipspecies``, ``skipspecies_induced`` (returned as a
          :class:`~course_lib.embeddings.species.SpeciesEmbedding`, neutral species left out as
          ElementEmbeddings does by default; use
          :func:`~course_lib.embeddings.species.load_species_embedding` to keep them);
        - ``crysatom``: the authors' published CrysAtom vectors, read from ``path``.

        An :class:`ElementEmbedding` (or a species table) is returned unchanged.
    path
        Only for ``crysatom``: the file downloaded from the authors (see
        :func:`~course_lib.embeddings.crysatom_file.load_crysatom_vectors` for the layouts it
        accepts and how it is read safely).

    Returns
    -------
    ElementEmbedding or SpeciesEmbedding
        The vectors exactly as ElementEmbeddings ships them (read with its own loaders,
        ``Embedding.load_data`` / ``SpeciesEmbedding.load_data``), rows ordered by atomic
        number; ``xenonpy_sc`` is ``xenonpy`` standardised column by column (population
        standard deviation, as scikit-learn's ``StandardScaler`` and ElementEmbeddings'
        ``Embedding.standardise`` do). Units: those of the embedding (the unscaled hand-made
        sets carry physical units per column; every other set is dimensionless).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones), for ``crysatom`` without a
        ``path`` (the message says where the file comes from), or for a ``path`` given with
        any other name.
    """
    from .species import SpeciesEmbedding, load_species_embedding

    if isinstance(name, (ElementEmbedding, SpeciesEmbedding)):
        return name
    if not isinstance(name, str) or name not in EMBEDDINGS:
        raise _unknown_name(name)
    info = EMBEDDINGS[name]
    if info.source == "user file":
        from .crysatom_file import load_crysatom_vectors

        return load_crysatom_vectors(path)
    if path is not None:
        raise ValueError(
            f"path= is only for the embeddings that users download themselves "
            f"({', '.join(n for n, i in EMBEDDINGS.items() if i.source == 'user file')}); "
            f"{name!r} ships with elementembeddings, so call load_embedding({name!r})"
        )
    if info.table == "species":
        return load_species_embedding(name)
    if name not in _CACHE:
        if info.derived_from is not None:
            base = load_embedding(info.derived_from).standardised()
            _CACHE[name] = ElementEmbedding(
                name, base.symbols, base.matrix, info.citation, info.description,
                base.feature_names,
            )
        else:
            _CACHE[name] = _load_packaged_elements(name)
    return _CACHE[name]
