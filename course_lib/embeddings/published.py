"""Published element embeddings and the ElementEmbedding object (chapters 1 and 2).

:func:`load_embedding` returns the published embeddings that ship inside the ``elementembeddings``
package (Onwuli et al., *Digital Discovery* 2023) as an :class:`ElementEmbedding`; chapter 2's
trainers return the same object, so every analysis tool works on published and learned vectors
alike. :data:`EMBEDDINGS` is the registry: name, data file, what the vectors are, and the paper
to cite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..elements import SYMBOLS, FormulaError, atomic_number, check_symbol

__all__ = [
    "EMBEDDINGS",
    "EmbeddingInfo",
    "ElementEmbedding",
    "MissingElementError",
    "available_embeddings",
    "load_embedding",
]


class MissingElementError(KeyError):
    """An element that an embedding has no vector for."""

    def __str__(self) -> str:  # KeyError would otherwise print the repr of the message
        return str(self.args[0])


@dataclass(frozen=True)
class EmbeddingInfo:
    """Registry record of a published element embedding."""

    name: str
    file: str
    description: str
    citation: str
    doi: str


#: Registry of the published embeddings: name -> :class:`EmbeddingInfo`. The files ship with
#: ``elementembeddings`` (``elementembeddings/data/element_representations/``).
EMBEDDINGS: dict[str, EmbeddingInfo] = {
    info.name: info
    for info in [
        EmbeddingInfo(
            "magpie", "magpie.csv",
            "22 tabulated element properties used by Magpie (atomic number, Mendeleev number, "
            "atomic weight, melting temperature, group, period, covalent radius, "
            "electronegativity, valence-electron counts, unfilled orbitals, DFT volume, band gap "
            "and magnetic moment of the elemental ground state, space group); unscaled",
            "Ward, Agrawal, Choudhary & Wolverton, npj Comput. Mater. 2, 16028 (2016)",
            "10.1038/npjcompumats.2016.28",
        ),
        EmbeddingInfo(
            "magpie_sc", "magpie_sc.json",
            "the 22 Magpie properties, each standardised to zero mean and unit variance",
            "Ward, Agrawal, Choudhary & Wolverton, npj Comput. Mater. 2, 16028 (2016)",
            "10.1038/npjcompumats.2016.28",
        ),
        EmbeddingInfo(
            "mat2vec", "mat2vec.csv",
            "200-d word2vec vectors of element names learned from 3.3 million materials-science "
            "abstracts",
            "Tshitoyan et al., Nature 571, 95-98 (2019)",
            "10.1038/s41586-019-1335-8",
        ),
        EmbeddingInfo(
            "matscholar", "matscholar-embedding.json",
            "200-d word embeddings of elements from the Matscholar text-mining pipeline",
            "Weston et al., J. Chem. Inf. Model. 59, 3692-3702 (2019)",
            "10.1021/acs.jcim.9b00470",
        ),
        EmbeddingInfo(
            "megnet16", "megnet16.json",
            "16-d atom embeddings learned by a MEGNet graph network trained on formation energies",
            "Chen, Ye, Zuo, Zheng & Ong, Chem. Mater. 31, 3564-3572 (2019)",
            "10.1021/acs.chemmater.9b01294",
        ),
        EmbeddingInfo(
            "oliynyk", "oliynyk_preprocessed.csv",
            "44 tabulated element properties of Oliynyk et al. (missing values imputed by "
            "ElementEmbeddings)",
            "Oliynyk et al., Chem. Mater. 28, 7324-7331 (2016)",
            "10.1021/acs.chemmater.6b02724",
        ),
        EmbeddingInfo(
            "oliynyk_sc", "oliynyk_sc.json",
            "the 44 Oliynyk properties, standardised",
            "Oliynyk et al., Chem. Mater. 28, 7324-7331 (2016)",
            "10.1021/acs.chemmater.6b02724",
        ),
        EmbeddingInfo(
            "skipatom", "skipatom_20201009_induced.csv",
            "200-d SkipAtom vectors (induced variant) trained on bonded atom pairs of Materials "
            "Project structures (2020-10-09)",
            "Antunes, Grau-Crespo & Butler, npj Comput. Mater. 8, 44 (2022)",
            "10.1038/s41524-022-00729-3",
        ),
        EmbeddingInfo(
            "random_200", "random_200_new.csv",
            "200-d random vectors (a baseline with no chemistry in it)",
            "Onwuli, Hegde, Nguyen, Butler & Walsh, Digital Discovery 2, 1558-1564 (2023)",
            "10.1039/D3DD00121K",
        ),
        EmbeddingInfo(
            "crystallm", "crystallm_v24c.dim512_atom_vectors.csv",
            "512-d atom token embeddings of the CrystaLLM language model of CIF files",
            "Antunes, Butler & Grau-Crespo, Nat. Commun. 15, 10570 (2024)",
            "10.1038/s41467-024-54639-7",
        ),
        EmbeddingInfo(
            "mod_petti", "mod_petti.json",
            "one-hot vectors ordered by the modified Pettifor scale",
            "Glawe, Sanna, Gross & Marques, New J. Phys. 18, 093011 (2016)",
            "10.1088/1367-2630/18/9/093011",
        ),
        EmbeddingInfo(
            "atomic", "atomic.json",
            "one-hot vectors ordered by atomic number (118-d)",
            "Onwuli, Hegde, Nguyen, Butler & Walsh, Digital Discovery 2, 1558-1564 (2023)",
            "10.1039/D3DD00121K",
        ),
    ]
}


def available_embeddings() -> list[str]:
    """Names accepted by :func:`load_embedding`, sorted."""
    return sorted(EMBEDDINGS)


_SIMILARITIES = ("cosine", "pearson")
_DISTANCES = ("euclidean", "chebyshev", "manhattan", "cosine")


@dataclass(frozen=True, eq=False)
class ElementEmbedding:
    """A table of element vectors: row ``i`` of :attr:`matrix` is the vector of ``symbols[i]``.

    Rows are kept in order of atomic number. Build one with :func:`load_embedding`,
    :meth:`from_mapping` or :meth:`from_dataframe`.

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
        matrix = np.asarray(self.matrix, dtype=float)
        if matrix.ndim != 2 or matrix.shape[0] != len(self.symbols):
            raise ValueError(
                f"embedding {self.name!r}: matrix of shape {matrix.shape} does not match "
                f"{len(self.symbols)} symbols; expected shape (n_elements, dim)"
            )
        if not np.all(np.isfinite(matrix)):
            raise ValueError(
                f"embedding {self.name!r} contains NaN or infinite values; fill or drop them first"
            )
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

    # -- similarity and distance --------------------------------------------------------------
    def similarity(self, a: str, b: str, metric: str = "cosine") -> float:
        """Similarity of two elements: ``"cosine"`` (cosine of the angle) or ``"pearson"``.

        Both lie in [-1, 1]; 1 means the vectors point the same way.
        """
        return float(_pairwise(self.vectors([a]), self.vectors([b]), metric, _SIMILARITIES)[0, 0])

    def distance(self, a: str, b: str, metric: str = "euclidean") -> float:
        """Distance between two elements: ``"euclidean"``, ``"chebyshev"`` (largest absolute
        difference), ``"manhattan"`` or ``"cosine"`` (one minus the cosine similarity)."""
        return float(_pairwise(self.vectors([a]), self.vectors([b]), metric, _DISTANCES)[0, 0])

    def similarity_matrix(
        self, metric: str = "cosine", symbols: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """All pairwise similarities as a square DataFrame (rows and columns = symbols)."""
        symbols = list(self.symbols if symbols is None else symbols)
        x = self.vectors(symbols)
        return pd.DataFrame(_pairwise(x, x, metric, _SIMILARITIES), index=symbols, columns=symbols)

    def distance_matrix(
        self, metric: str = "euclidean", symbols: Iterable[str] | None = None
    ) -> pd.DataFrame:
        """All pairwise distances as a square DataFrame (rows and columns = symbols)."""
        symbols = list(self.symbols if symbols is None else symbols)
        x = self.vectors(symbols)
        return pd.DataFrame(_pairwise(x, x, metric, _DISTANCES), index=symbols, columns=symbols)

    def nearest(self, symbol: str, k: int = 5, metric: str = "cosine") -> list[tuple[str, float]]:
        """The ``k`` elements most similar to ``symbol`` (itself excluded), best first."""
        sims = self.similarity_matrix(metric)[symbol].drop(symbol)
        top = sims.sort_values(ascending=False).head(k)
        return [(str(s), float(v)) for s, v in top.items()]


def _pairwise(x: np.ndarray, y: np.ndarray, metric: str, allowed: tuple[str, ...]) -> np.ndarray:
    """Pairwise ``metric`` between the rows of ``x`` (n, d) and ``y`` (m, d) -> (n, m)."""
    if metric not in allowed:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(allowed)}")
    if allowed is _SIMILARITIES or metric == "cosine":
        if metric == "pearson":
            x = x - x.mean(axis=1, keepdims=True)
            y = y - y.mean(axis=1, keepdims=True)
        nx = np.linalg.norm(x, axis=1, keepdims=True)
        ny = np.linalg.norm(y, axis=1, keepdims=True)
        if np.any(nx == 0) or np.any(ny == 0):
            raise ValueError(f"{metric} similarity is undefined for a constant or zero vector")
        sim = (x / nx) @ (y / ny).T
        return 1.0 - sim if allowed is _DISTANCES else sim
    diff = x[:, None, :] - y[None, :, :]
    if metric == "euclidean":
        return np.sqrt((diff**2).sum(axis=-1))
    if metric == "manhattan":
        return np.abs(diff).sum(axis=-1)
    return np.abs(diff).max(axis=-1)  # chebyshev


_CACHE: dict[str, ElementEmbedding] = {}

# Placeholder (systematic) names of elements 113-118 -> their IUPAC symbols.
_IUPAC_NAMES = {"Uut": "Nh", "Uuq": "Fl", "Uup": "Mc", "Uuh": "Lv", "Uus": "Ts", "Uuo": "Og"}


def load_embedding(name: str) -> ElementEmbedding:
    """Load a published element embedding by name.

    Parameters
    ----------
    name
        One of :func:`available_embeddings` (``magpie``, ``magpie_sc``, ``mat2vec``,
        ``matscholar``, ``megnet16``, ``oliynyk``, ``oliynyk_sc``, ``skipatom``, ``random_200``,
        ``crystallm``, ``mod_petti``, ``atomic``).

    Returns
    -------
    ElementEmbedding
        The vectors exactly as ElementEmbeddings ships them (loaded with
        ``elementembeddings.core.Embedding.load_data``), rows ordered by atomic number.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.
    """
    if isinstance(name, ElementEmbedding):
        return name
    if name not in EMBEDDINGS:
        raise ValueError(
            f"unknown embedding {name!r}; choose one of: {', '.join(available_embeddings())}"
        )
    if name not in _CACHE:
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
        _CACHE[name] = ElementEmbedding.from_mapping(
            name, vectors, citation=info.citation, description=description,
            feature_names=feature_names,
        )
    return _CACHE[name]
