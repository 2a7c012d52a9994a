"""Compositional representations (chapter 1): one-hot, multi-hot and pooled element features.

A composition such as Fe2O3 has no structure, only elements and amounts. This module turns it into
a fixed-length vector in the three ways the chapter teaches:

- :func:`one_hot` -- one element -> a 118-long indicator vector (index ``Z - 1``);
- :func:`multi_hot` -- a formula -> which elements are present (or their atomic fractions);
- :func:`composition_features` -- a formula -> statistics of its element vectors (Magpie,
  mat2vec, SkipAtom, ...), pooled exactly as ElementEmbeddings' ``CompositionalEmbedding`` does.

:func:`featurize` does the last for a whole dataset, with a progress bar and a per-row report of
the formulas that cannot be featurized.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .elements import SYMBOLS, FormulaError, atomic_number, parse_formula
from .embeddings import ElementEmbedding, MissingElementError, load_embedding

__all__ = [
    "STATS",
    "FeaturizationError",
    "composition_features",
    "element_fractions",
    "featurize",
    "feature_labels",
    "multi_hot",
    "one_hot",
]

#: Pooling statistics understood by :func:`composition_features`, in ElementEmbeddings' naming.
STATS = ("mean", "sum", "variance", "minpool", "maxpool", "range")


def one_hot(element: str) -> np.ndarray:
    """One-hot vector of an element.

    Parameters
    ----------
    element
        Element symbol, e.g. ``"O"``.

    Returns
    -------
    numpy.ndarray
        Shape ``(118,)``, float: 1 at index ``Z - 1`` (H is index 0, Og index 117), 0 elsewhere.
    """
    vec = np.zeros(len(SYMBOLS))
    vec[atomic_number(element) - 1] = 1.0
    return vec


def element_fractions(formula: str | Mapping[str, float]) -> dict[str, float]:
    r"""Atomic fractions :math:`x_i = n_i / \sum_j n_j` of a formula, e.g. Fe2O3 -> {Fe: 0.4, O: 0.6}."""
    amounts = parse_formula(formula)
    total = sum(amounts.values())
    return {el: amt / total for el, amt in amounts.items()}


def multi_hot(formula: str | Mapping[str, float], fractional: bool = False) -> np.ndarray:
    """Multi-hot vector of a composition.

    Parameters
    ----------
    formula
        Formula string (``"Fe2O3"``) or ``{symbol: amount}``.
    fractional
        If False, 1 at index ``Z - 1`` of every element present; if True, the element's atomic
        fraction there instead (the vector then sums to 1).

    Returns
    -------
    numpy.ndarray
        Shape ``(118,)``, float, indexed by ``Z - 1`` like :func:`one_hot`.
    """
    vec = np.zeros(len(SYMBOLS))
    for el, x in element_fractions(formula).items():
        vec[atomic_number(el) - 1] = x if fractional else 1.0
    return vec


def _pool(amounts: np.ndarray, vectors: np.ndarray, stat: str) -> np.ndarray:
    """One pooling statistic of element ``vectors`` (n_el, d) weighted by ``amounts`` (n_el,)."""
    x = amounts / amounts.sum()
    if stat == "mean":
        return x @ vectors
    if stat == "sum":
        return amounts @ vectors
    if stat == "variance":
        return x @ (vectors - x @ vectors) ** 2
    if stat == "minpool":
        return vectors.min(axis=0)
    if stat == "maxpool":
        return vectors.max(axis=0)
    if stat == "range":
        return vectors.max(axis=0) - vectors.min(axis=0)
    raise ValueError(f"unknown statistic {stat!r}; choose from {', '.join(STATS)}")


def _check_stats(stats: str | Sequence[str]) -> tuple[str, ...]:
    stats = (stats,) if isinstance(stats, str) else tuple(stats)
    if not stats:
        raise ValueError(f"stats is empty; pass at least one of {', '.join(STATS)}")
    bad = [s for s in stats if s not in STATS]
    if bad:
        raise ValueError(f"unknown statistic(s) {bad}; choose from {', '.join(STATS)}")
    return stats


def composition_features(
    formula: str | Mapping[str, float],
    embedding: str | ElementEmbedding = "magpie",
    stats: str | Sequence[str] = ("mean",),
) -> np.ndarray:
    r"""Pool the element vectors of a composition into one fixed-length vector.

    With amounts :math:`n_i`, atomic fractions :math:`x_i = n_i/\sum_j n_j` and element vectors
    :math:`\mathbf{v}_i`, the statistics are (each applied per dimension):

    - ``mean``: :math:`\sum_i x_i \mathbf{v}_i`
    - ``sum``: :math:`\sum_i n_i \mathbf{v}_i` (raw amounts, so Fe2O3 and Fe4O6 differ)
    - ``variance``: :math:`\sum_i x_i (\mathbf{v}_i - \bar{\mathbf{v}})^2` with the mean above
    - ``minpool`` / ``maxpool``: element-wise min / max over the elements present (unweighted)
    - ``range``: ``maxpool - minpool``

    These are the conventions of ElementEmbeddings' ``CompositionalEmbedding.feature_vector``
    (Onwuli et al., *Digital Discovery* 2, 1558 (2023)), and the tests compare against it.
    One deliberate difference: ElementEmbeddings replaces a missing element vector by zeros,
    whereas here a missing element raises :class:`MissingElementError`.

    Parameters
    ----------
    formula
        Formula string or ``{symbol: amount}``.
    embedding
        Name of a published embedding (see :func:`course_lib.embeddings.load_embedding`) or an
        :class:`~course_lib.embeddings.ElementEmbedding`.
    stats
        Statistics to compute; their vectors are concatenated in the order given.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(stats) * embedding.dim,)``.
    """
    emb = load_embedding(embedding)
    stats = _check_stats(stats)
    amounts = parse_formula(formula)
    vectors = emb.vectors(amounts)
    n = np.array(list(amounts.values()))
    return np.concatenate([_pool(n, vectors, s) for s in stats])


def feature_labels(
    embedding: str | ElementEmbedding = "magpie", stats: str | Sequence[str] = ("mean",)
) -> list[str]:
    """Column names of :func:`composition_features`' output, e.g. ``"mean_MeltingT"``."""
    emb = load_embedding(embedding)
    names = emb.feature_names or tuple(str(i) for i in range(emb.dim))
    return [f"{s}_{n}" for s in _check_stats(stats) for n in names]


@dataclass
class FeaturizationError(ValueError):
    """Raised by :func:`featurize` when some rows cannot be featurized.

    Attributes
    ----------
    failures
        DataFrame with one row per failure: ``index`` (position in the input), ``formula``,
        ``reason``.
    """

    failures: pd.DataFrame
    n_total: int

    def __str__(self) -> str:
        lines = [
            f"{len(self.failures)} of {self.n_total} formulas could not be featurized:",
            *(
                f"  row {r.index}: {r.formula!r}: {r.reason}"
                for r in self.failures.head(20).itertuples()
            ),
        ]
        if len(self.failures) > 20:
            lines.append(f"  ... and {len(self.failures) - 20} more (see .failures)")
        lines.append(
            "fix or remove these rows, or call featurize(..., errors='report') to get the "
            "features of the other rows together with this report"
        )
        return "\n".join(lines)


def featurize(
    formulas: Iterable[str | Mapping[str, float]],
    embedding: str | ElementEmbedding = "magpie",
    stats: str | Sequence[str] = ("mean",),
    errors: str = "raise",
    progress: bool = True,
) -> np.ndarray | tuple[np.ndarray, pd.DataFrame]:
    """Featurize many compositions with :func:`composition_features`.

    Parameters
    ----------
    formulas
        Formula strings or ``{symbol: amount}`` mappings (a pandas Series works).
    embedding, stats
        As in :func:`composition_features`.
    errors
        ``"raise"``: if any formula fails, raise :class:`FeaturizationError` listing every failed
        row and its reason (unknown element, element missing from the embedding, malformed
        formula). ``"report"``: return ``(X, failures)`` where ``X`` holds only the rows that
        worked and ``failures`` is the per-row report (empty if none failed) with the positions
        of the rows left out, so nothing is dropped silently.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    numpy.ndarray or tuple
        ``X`` of shape ``(n, len(stats) * dim)``; with ``errors="report"``, ``(X, failures)``.
    """
    if errors not in ("raise", "report"):
        raise ValueError(f"errors must be 'raise' or 'report', got {errors!r}")
    from tqdm.auto import tqdm

    emb = load_embedding(embedding)
    stats = _check_stats(stats)
    formulas = list(formulas)
    rows, failures = [], []
    for i, f in enumerate(tqdm(formulas, desc=f"featurize ({emb.name})", disable=not progress)):
        try:
            rows.append(composition_features(f, emb, stats))
        except (FormulaError, MissingElementError) as exc:
            failures.append({"index": i, "formula": f, "reason": str(exc)})
    report = pd.DataFrame(failures, columns=["index", "formula", "reason"])
    X = np.array(rows).reshape(len(rows), len(stats) * emb.dim)
    if errors == "raise":
        if failures:
            raise FeaturizationError(report, len(formulas))
        return X
    return X, report
