"""Recall of similar materials by cosine similarity (chapter 10).

A *query* material is compared with every material of a data set; the data set is ranked by the
cosine similarity of their vectors (text, composition or structure representations alike), and
the ranking is scored by **recall@k**: of the materials that count as similar to the query, the
fraction found among the ``k`` most similar ones,

.. math:: \\mathrm{recall@}k = \\frac{|\\mathrm{top}_k \\cap \\mathrm{relevant}|}{|\\mathrm{relevant}|},

averaged over the queries that have at least one similar material. With ``normalize="min"``
the denominator is :math:`\\min(k, |\\mathrm{relevant}|)`, so that 1 is reachable when a query
has more similar materials than ``k``. "Similar" is a definition the user makes (a relevance
matrix); :func:`family_labels` gives one: the same space group and the same anion.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RecallError", "family_labels", "rank_by_similarity", "recall_at_k", "relevance_from_labels"]


class RecallError(ValueError):
    """Inconsistent shapes or values given to the recall functions."""


def rank_by_similarity(queries, database, *, exclude_self: bool = False, query_indices=None) -> np.ndarray:
    """Indices of ``database`` rows sorted by decreasing cosine similarity, one row per query.

    Parameters
    ----------
    queries, database
        Arrays ``(n_q, d)`` and ``(n, d)`` (zero rows are refused: their cosine is undefined).
    exclude_self
        Put each query's own row (``query_indices[i]``) last, so that it is not found as its
        own neighbour (the queries are rows of the database).
    query_indices
        Row of the database of each query (needed with ``exclude_self``).

    Returns
    -------
    numpy.ndarray
        ``(n_q, n)`` of int; ties keep the database order (stable sort).
    """
    from ..embeddings.metrics import pairwise_similarities

    sim = pairwise_similarities(queries, database, "cosine")
    if exclude_self:
        if query_indices is None:
            raise RecallError("exclude_self=True needs query_indices (the database row of each query)")
        query_indices = np.asarray(query_indices, dtype=int)
        if query_indices.shape != (sim.shape[0],):
            raise RecallError(f"query_indices must have one entry per query ({sim.shape[0]}), "
                              f"got shape {query_indices.shape}")
        sim[np.arange(sim.shape[0]), query_indices] = -np.inf
    return np.argsort(-sim, axis=1, kind="stable")


def recall_at_k(ranking, relevant, k: int, *, normalize: str = "relevant", per_query: bool = False):
    """recall@k of rankings against a relevance matrix.

    Parameters
    ----------
    ranking
        ``(n_q, n)`` database indices per query, best first (from :func:`rank_by_similarity`).
    relevant
        ``(n_q, n)`` booleans: ``relevant[i, j]`` is True when database item ``j`` counts as
        similar to query ``i`` (a query's own row should be False).
    k
        Number of top-ranked items looked at (1 <= k <= n).
    normalize
        ``"relevant"`` (divide by the number of relevant items, the usual recall) or ``"min"``
        (divide by ``min(k, number relevant)``).
    per_query
        Return the recall of every query (NaN for a query without relevant items) instead of the
        mean over the queries that have some.

    Returns
    -------
    float or numpy.ndarray
        Dimensionless, in [0, 1].
    """
    ranking = np.asarray(ranking)
    relevant = np.asarray(relevant)
    if ranking.ndim != 2 or relevant.shape != ranking.shape:
        raise RecallError(f"ranking and relevant must be matrices of the same shape (n_queries, n); "
                          f"got {ranking.shape} and {relevant.shape}")
    if relevant.dtype != bool:
        raise RecallError(f"relevant must be boolean, got dtype {relevant.dtype}")
    n = ranking.shape[1]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise RecallError(f"k must be an integer from 1 to {n}, got {k!r}")
    if normalize not in ("relevant", "min"):
        raise RecallError(f"normalize must be 'relevant' or 'min', got {normalize!r}")
    if not np.issubdtype(ranking.dtype, np.integer) or ranking.min() < 0 or ranking.max() >= n:
        raise RecallError(f"ranking must hold database indices 0..{n - 1}")
    hits = np.take_along_axis(relevant, ranking[:, :k], axis=1).sum(axis=1)
    total = relevant.sum(axis=1)
    denom = total if normalize == "relevant" else np.minimum(total, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(total > 0, hits / np.maximum(denom, 1), np.nan)
    if per_query:
        return recall
    if not np.any(total > 0):
        raise RecallError("no query has a relevant item; recall@k is undefined")
    return float(np.nanmean(recall))


def relevance_from_labels(query_labels, database_labels, *, query_indices=None) -> np.ndarray:
    """``relevant[i, j] = (query_labels[i] == database_labels[j])``, own rows set to False."""
    q = list(query_labels)
    d = list(database_labels)
    if not q or not d:
        raise RecallError("no labels given")
    rel = np.array([[a == b for b in d] for a in q], dtype=bool)
    if query_indices is not None:
        query_indices = np.asarray(query_indices, dtype=int)
        if query_indices.shape != (len(q),):
            raise RecallError(f"query_indices must have one entry per query ({len(q)})")
        rel[np.arange(len(q)), query_indices] = False
    return rel


def family_labels(structures, *, symprec: float = 0.1) -> list[tuple[int, str]]:
    """``(space-group number, anion)`` of each structure: one definition of "similar".

    The anion is the element of the highest Pauling electronegativity (an element without one
    counts as 0); for an element crystal it is the element itself.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    out = []
    for s in structures:
        number = SpacegroupAnalyzer(s, symprec=symprec).get_space_group_number()
        anion = max(s.composition.elements, key=lambda e: (e.X if np.isfinite(e.X) else 0.0, e.Z))
        out.append((int(number), anion.symbol))
    return out
