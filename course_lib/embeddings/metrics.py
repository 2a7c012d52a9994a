"""Distances and similarities between embedding vectors (chapter 2).

Two element (or species, or pooled composition) vectors :math:`\\mathbf{u}, \\mathbf{v}` of
length :math:`d` are compared with

- distances: ``euclidean`` :math:`\\lVert\\mathbf{u}-\\mathbf{v}\\rVert_2`, ``manhattan``
  :math:`\\sum_k |u_k - v_k|`, ``chebyshev`` :math:`\\max_k |u_k - v_k|` and ``cosine``
  :math:`1 - \\cos\\theta`; they carry the units of the vectors (none for learned embeddings),
  except cosine, which is dimensionless;
- similarities (dimensionless, in [-1, 1]): ``cosine``
  :math:`\\mathbf{u}\\cdot\\mathbf{v}/(\\lVert\\mathbf{u}\\rVert\\lVert\\mathbf{v}\\rVert)`,
  ``pearson`` (the cosine of the centred vectors) and ``spearman`` (Pearson's correlation of the
  ranks of the components, ties given their average rank).

These are the metrics of ElementEmbeddings' ``compute_distance_metric`` and
``compute_correlation_metric`` (Onwuli, Hegde, Nguyen, Butler & Walsh, *Digital Discovery* 2,
1558 (2023)); the tests check that both give the same numbers. The functions here work on whole
matrices at once: row ``i`` of the result compares row ``i`` of ``x`` with every row of ``y``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DISTANCES",
    "SIMILARITIES",
    "KeyedVectorsMetrics",
    "distance",
    "pairwise_distances",
    "pairwise_similarities",
    "similarity",
]

#: Similarity metrics (dimensionless, 1 = the same direction / ranking).
SIMILARITIES = ("cosine", "pearson", "spearman")
#: Distance metrics (0 = identical vectors).
DISTANCES = ("euclidean", "manhattan", "chebyshev", "cosine")

_SCIPY_NAMES = {"euclidean": "euclidean", "manhattan": "cityblock", "chebyshev": "chebyshev"}


def _as_matrix(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"{name} must be a vector (d,) or a matrix (n, d); got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values; fill or drop them first")
    return a


def _check(x, y, metric: str, allowed: tuple[str, ...], kind: str) -> tuple[np.ndarray, np.ndarray]:
    if metric not in allowed:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(allowed)}")
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"cannot compare vectors of length {x.shape[1]} with vectors of length {y.shape[1]}; "
            f"a {kind} needs vectors of one embedding"
        )
    return x, y


def _cosine(x: np.ndarray, y: np.ndarray, metric: str) -> np.ndarray:
    nx = np.linalg.norm(x, axis=1, keepdims=True)
    ny = np.linalg.norm(y, axis=1, keepdims=True)
    if np.any(nx == 0) or np.any(ny == 0):
        raise ValueError(f"{metric} similarity is undefined for a constant or zero vector")
    return np.clip((x / nx) @ (y / ny).T, -1.0, 1.0)


def pairwise_similarities(x, y, metric: str = "cosine") -> np.ndarray:
    """Similarity of every row of ``x`` (n, d) with every row of ``y`` (m, d).

    Parameters
    ----------
    x, y
        Arrays of shape ``(n, d)`` and ``(m, d)`` (a single vector ``(d,)`` counts as one row).
    metric
        ``"cosine"``, ``"pearson"`` or ``"spearman"``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, m)``, dimensionless, in [-1, 1].

    Raises
    ------
    ValueError
        For an unknown metric, vectors of different lengths, or a zero vector (cosine) / a
        constant vector (Pearson, Spearman), for which the similarity is undefined.
    """
    x, y = _check(x, y, metric, SIMILARITIES, "similarity")
    if metric == "spearman":
        from scipy.stats import rankdata

        x, y = rankdata(x, axis=1), rankdata(y, axis=1)
    if metric in ("pearson", "spearman"):
        x = x - x.mean(axis=1, keepdims=True)
        y = y - y.mean(axis=1, keepdims=True)
    return _cosine(x, y, metric)


def pairwise_distances(x, y, metric: str = "euclidean") -> np.ndarray:
    """Distance between every row of ``x`` (n, d) and every row of ``y`` (m, d).

    Parameters
    ----------
    x, y
        Arrays of shape ``(n, d)`` and ``(m, d)`` (a single vector ``(d,)`` counts as one row).
    metric
        ``"euclidean"``, ``"manhattan"``, ``"chebyshev"`` or ``"cosine"`` (one minus the cosine
        similarity, in [0, 2]).

    Returns
    -------
    numpy.ndarray
        Shape ``(n, m)``, in the units of the vectors (cosine: dimensionless).
    """
    x, y = _check(x, y, metric, DISTANCES, "distance")
    if metric == "cosine":
        return 1.0 - _cosine(x, y, metric)
    from scipy.spatial.distance import cdist

    return cdist(x, y, _SCIPY_NAMES[metric])


def similarity(u, v, metric: str = "cosine") -> float:
    """Similarity of two vectors of equal length (see :func:`pairwise_similarities`)."""
    return float(pairwise_similarities(np.ravel(u), np.ravel(v), metric)[0, 0])


def distance(u, v, metric: str = "euclidean") -> float:
    """Distance between two vectors of equal length (see :func:`pairwise_distances`)."""
    return float(pairwise_distances(np.ravel(u), np.ravel(v), metric)[0, 0])


def table_matrix(matrix, n_rows: int, label: str, rows: str) -> np.ndarray:
    """``matrix`` as a float array of shape ``(n_rows, dim)``, checked for shape and finiteness.

    ``label`` names the table in the messages (``"embedding 'magpie'"``) and ``rows`` what its
    rows are (``"symbols"``, ``"species"``).
    """
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != n_rows:
        raise ValueError(
            f"{label}: matrix of shape {matrix.shape} does not match {n_rows} {rows}; "
            f"expected shape (n_{'elements' if rows == 'symbols' else rows}, dim)"
        )
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{label} contains NaN or infinite values; fill or drop them first")
    return matrix


class KeyedVectorsMetrics:
    """Metric methods shared by the element and species tables.

    A subclass provides ``_labels()`` (the row labels, in order) and ``vectors(labels)`` (their
    vectors stacked, shape ``(n, dim)``); a label is an element symbol (``"Fe"``) in an
    :class:`~course_lib.embeddings.ElementEmbedding` and a species (``"Fe3+"``) in a
    :class:`~course_lib.embeddings.SpeciesEmbedding`.
    """

    def _labels(self) -> tuple[str, ...]:  # pragma: no cover - provided by the subclass
        raise NotImplementedError

    def vectors(self, labels):  # pragma: no cover - provided by the subclass
        raise NotImplementedError

    def similarity(self, a: str, b: str, metric: str = "cosine") -> float:
        """Similarity of two rows: ``"cosine"``, ``"pearson"`` or ``"spearman"``.

        All lie in [-1, 1]; 1 means the vectors point the same way (cosine), are perfectly
        linearly related (Pearson) or rank their components identically (Spearman).
        """
        return float(pairwise_similarities(self.vectors([a]), self.vectors([b]), metric)[0, 0])

    def distance(self, a: str, b: str, metric: str = "euclidean") -> float:
        """Distance between two rows: ``"euclidean"``, ``"chebyshev"`` (largest absolute
        difference), ``"manhattan"`` or ``"cosine"`` (one minus the cosine similarity)."""
        return float(pairwise_distances(self.vectors([a]), self.vectors([b]), metric)[0, 0])

    def similarity_matrix(self, metric: str = "cosine", symbols=None):
        """All pairwise similarities as a square DataFrame (rows and columns = ``symbols``,
        default: every row of the table)."""
        import pandas as pd

        symbols = list(self._labels() if symbols is None else symbols)
        x = self.vectors(symbols)
        return pd.DataFrame(pairwise_similarities(x, x, metric), index=symbols, columns=symbols)

    def distance_matrix(self, metric: str = "euclidean", symbols=None):
        """All pairwise distances as a square DataFrame (rows and columns = ``symbols``,
        default: every row of the table)."""
        import pandas as pd

        symbols = list(self._labels() if symbols is None else symbols)
        x = self.vectors(symbols)
        return pd.DataFrame(pairwise_distances(x, x, metric), index=symbols, columns=symbols)

    def nearest(self, symbol: str, k: int = 5, metric: str = "cosine") -> list[tuple[str, float]]:
        """The ``k`` rows most similar to ``symbol`` (itself excluded), best first."""
        keys = [s for s in self._labels() if s != symbol]
        sims = pairwise_similarities(self.vectors([symbol]), self.vectors(keys), metric)[0]
        order = np.argsort(-sims, kind="stable")[:k]
        return [(keys[i], float(sims[i])) for i in order]
