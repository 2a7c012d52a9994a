"""Atom2Vec: element vectors from an atom x environment count matrix and its SVD (chapter 2).

Zhou et al., *PNAS* 115, E6411-E6417 (2018) describe every element by the chemical
*environments* it occurs in: in a compound, the environment of an element is the rest of the
compound. Counting (atom, environment) occurrences over a list of compounds gives a sparse
matrix :math:`X` (atoms x environments); its truncated singular value decomposition
:math:`X \\approx U_k S_k V_k^\\top` gives the atom vectors as the rows of :math:`U_k S_k`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from ..elements import atomic_number, parse_formula
from .published import ElementEmbedding

__all__ = [
    "ATOM2VEC_CITATION",
    "atom2vec",
    "atom_environment_matrix",
    "environment_key",
    "svd_embedding",
]

ATOM2VEC_CITATION = "Zhou et al., PNAS 115, E6411-E6417 (2018)"
_NORMALISE = ("l2", "l1", None)


def _amount(x: float) -> str:
    return f"{x:g}"


def _reduce(comp: dict[str, float]) -> dict[str, float]:
    """Divide integer amounts by their greatest common divisor (Fe4O6 -> Fe2O3)."""
    amounts = list(comp.values())
    if all(float(a).is_integer() for a in amounts):
        g = 0
        for a in amounts:
            g = math.gcd(g, int(a))
        if g > 1:
            return {s: a / g for s, a in comp.items()}
    return comp


def environment_key(composition: str | Mapping[str, float], element: str) -> str:
    """The environment of ``element`` in a compound, as a string key.

    The key is ``"(n)"`` with ``n`` the amount of ``element`` itself, followed by every *other*
    element with its amount, in alphabetical order of symbols; amounts are those of the reduced formula
    (integer amounts divided by their greatest common divisor), written with ``:g`` (no trailing
    zeros). This follows the notation of Zhou et al.: in Bi2Se3 the environment of Bi is
    ``"(2)Se3"`` and that of Se is ``"(3)Bi2"``.

    Examples
    --------
    >>> environment_key("Fe2O3", "Fe")
    '(2)O3'
    >>> environment_key("Fe4O6", "O")
    '(3)Fe2'
    >>> environment_key("LiFePO4", "P")
    '(1)Fe1Li1O4'
    """
    comp = _reduce(parse_formula(composition))
    if element not in comp:
        raise ValueError(f"element {element!r} is not in the composition {comp}")
    others = sorted(s for s in comp if s != element)
    return f"({_amount(comp[element])})" + "".join(f"{s}{_amount(comp[s])}" for s in others)


def atom_environment_matrix(compositions: Iterable[str | Mapping[str, float]]) -> pd.DataFrame:
    """Count (atom, environment) occurrences over a list of compounds.

    Every compound contributes 1 to entry (``element``, ``environment_key(compound, element)``)
    of each of its elements; a compound listed twice counts twice (deduplicate first if that is
    not wanted). An element on its own (``"Fe"``) has the environment ``"(1)"``.

    Parameters
    ----------
    compositions : ``iterable of str or mapping``
        Formulas (``"Fe2O3"``) or ``{symbol: amount}`` mappings.

    Returns
    -------
    pandas.DataFrame
        Integer counts, shape ``(n_atoms, n_environments)``; rows ordered by atomic number,
        columns sorted alphabetically.
    """
    rows: list[str] = []
    cols: list[str] = []
    for comp in compositions:
        comp = _reduce(parse_formula(comp))
        for el in comp:
            rows.append(el)
            cols.append(environment_key(comp, el))
    if not rows:
        raise ValueError("no compositions given")
    atoms = sorted(set(rows), key=atomic_number)
    envs = sorted(set(cols))
    a_pos = {a: i for i, a in enumerate(atoms)}
    e_pos = {e: j for j, e in enumerate(envs)}
    counts = np.zeros((len(atoms), len(envs)), dtype=np.int64)
    np.add.at(counts, ([a_pos[r] for r in rows], [e_pos[c] for c in cols]), 1)
    return pd.DataFrame(counts, index=atoms, columns=envs)


def svd_embedding(
    matrix: pd.DataFrame | np.ndarray, dim: int, normalise: str | None = "l2"
) -> tuple[np.ndarray, np.ndarray]:
    """Truncated-SVD vectors of the rows of a count matrix.

    The rows are first scaled to unit norm (``normalise="l2"``, default), unit sum (``"l1"``) or
    left as counts (``None``); rows of zeros are left as they are. With
    :math:`X = U S V^\\top` the thin SVD (singular values in decreasing order), the vectors are
    the rows of :math:`U_k S_k` (the first ``k = dim`` columns), i.e. the coordinates of each row
    of :math:`X` along the top ``k`` right singular vectors. Signs are fixed so that the entry of
    largest magnitude of each column of :math:`U_k` is positive, which makes the result
    reproducible.

    Parameters
    ----------
    matrix : ``pandas.DataFrame or numpy.ndarray``
        Shape ``(n_atoms, n_features)``.
    dim : ``int``
        Number of components ``k``, with ``1 <= dim < min(n_atoms, n_features)`` (a vector as long
        as the number of atoms could simply copy the one-hot identity and learns nothing).
    normalise : ``{"l2", "l1", None}``
        Row scaling applied before the SVD.

    Returns
    -------
    tuple of numpy.ndarray
        ``(vectors, singular_values)``: shape ``(n_atoms, dim)`` and all singular values (shape
        ``(min(n_atoms, n_features),)``), decreasing.

    Raises
    ------
    ValueError
        If ``dim`` is out of range or ``normalise`` unknown.
    """
    x = np.asarray(matrix, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-d matrix, got shape {x.shape}")
    if normalise not in _NORMALISE:
        raise ValueError(f"unknown normalise={normalise!r}; choose 'l2', 'l1' or None")
    limit = min(x.shape)
    if not 1 <= dim < limit:
        raise ValueError(
            f"dim={dim} must satisfy 1 <= dim < min(n_atoms, n_environments) = {limit} for a "
            f"matrix of shape {x.shape}; use fewer dimensions or more compounds"
        )
    if normalise is not None:
        norms = np.linalg.norm(x, axis=1) if normalise == "l2" else np.abs(x).sum(axis=1)
        norms[norms == 0] = 1.0
        x = x / norms[:, None]
    u, s, _vt = np.linalg.svd(x, full_matrices=False)
    u = u[:, :dim]
    big = np.argmax(np.abs(u), axis=0)
    signs = np.sign(u[big, np.arange(dim)])
    signs[signs == 0] = 1.0
    return u * signs * s[:dim], s


def atom2vec(
    compositions: Iterable[str | Mapping[str, float]], dim: int = 20, normalise: str | None = "l2",
    name: str = "atom2vec_trained",
) -> ElementEmbedding:
    """Atom2Vec element vectors from a list of compositions.

    Builds ``atom_environment_matrix`` and returns the rows of :math:`U_k S_k` of its
    (row-normalised) truncated SVD, see ``svd_embedding``. Deterministic: no random numbers
    are used and the signs of the singular vectors are fixed.

    Parameters
    ----------
    compositions : ``iterable of str or mapping``
        The compounds, e.g. a dataset's ``composition`` column.
    dim : ``int``
        Vector length ``k`` (default 20; Zhou et al. used 20 for their SVD vectors); must be smaller
        than the number of distinct elements and of distinct environments.
    normalise : ``{"l2", "l1", None}``
        Row scaling of the count matrix before the SVD (default unit L2 norm per atom, so frequent
        and rare elements weigh the same).
    name : ``str``
        Name of the returned embedding.

    Returns
    -------
    ~course_lib.embeddings.published.ElementEmbedding
        One vector per element occurring in ``compositions``, ordered by atomic number.
    """
    compositions = list(compositions)
    counts = atom_environment_matrix(compositions)
    vectors, s = svd_embedding(counts, dim, normalise)
    kept = float((s[:dim] ** 2).sum() / (s**2).sum())
    return ElementEmbedding(
        name, tuple(counts.index), vectors, citation=ATOM2VEC_CITATION,
        description=(f"Atom2Vec SVD vectors computed here from {len(compositions):,} compositions: "
                     f"{counts.shape[0]} atoms x {counts.shape[1]:,} environments, "
                     f"normalise={normalise}, dim={dim} ({kept:.1%} of the squared norm)"),
    )
