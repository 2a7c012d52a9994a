"""Looking inside element embeddings: similarity maps, 2-D projections, agreement (chapter 2).

- :func:`mendeleev_order` and :func:`ordered_similarity_matrix` order elements by Pettifor's
  Mendeleev number (pymatgen ``Element.mendeleev_no``), so chemically similar elements sit next
  to each other and a good embedding shows blocks along the diagonal
  (:func:`plot_similarity_heatmap`).
- :func:`project_2d` and :func:`plot_projection` draw PCA or t-SNE maps coloured by block or
  group.
- :func:`nearest_table` lists nearest neighbours of several elements.
- :func:`embedding_agreement` scores how alike two embeddings see the elements, independently of
  rotations of either vector space.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .published import ElementEmbedding, load_embedding

__all__ = [
    "element_block",
    "element_group",
    "embedding_agreement",
    "mendeleev_order",
    "nearest_table",
    "ordered_similarity_matrix",
    "plot_projection",
    "plot_similarity_heatmap",
    "project_2d",
]


def _element(symbol: str):
    from pymatgen.core import Element

    return Element(symbol)


def mendeleev_order(symbols: Iterable[str]) -> list[str]:
    """``symbols`` sorted by Mendeleev number (pymatgen ``Element(symbol).mendeleev_no``)."""
    return sorted(symbols, key=lambda s: (_element(s).mendeleev_no, s))


def element_block(symbol: str) -> str:
    """Block of an element: ``"s"``, ``"p"``, ``"d"`` or ``"f"``."""
    return _element(symbol).block


def element_group(symbol: str) -> int:
    """Group 1-18 (lanthanides and actinides count as group 3, as in pymatgen)."""
    return int(_element(symbol).group)


def ordered_similarity_matrix(
    embedding: ElementEmbedding | str, metric: str = "cosine", distance: bool = False
) -> pd.DataFrame:
    """Pairwise similarities (or distances) with rows and columns in Mendeleev order.

    Parameters
    ----------
    embedding : ``ElementEmbedding or str``
        The vectors (a name is passed to :func:`~course_lib.embeddings.published.load_embedding`).
    metric : ``str``
        A similarity (``"cosine"``, ``"pearson"``) or, with ``distance=True``, a distance
        (``"euclidean"``, ``"chebyshev"``, ``"manhattan"``, ``"cosine"``).
    distance : ``bool``
        Return distances instead of similarities.

    Returns
    -------
    pandas.DataFrame
        Square, shape ``(n_elements, n_elements)``.
    """
    emb = load_embedding(embedding)
    order = mendeleev_order(emb.symbols)
    if distance:
        return emb.distance_matrix(metric, order)
    return emb.similarity_matrix(metric, order)


def plot_similarity_heatmap(
    embedding: ElementEmbedding | str, metric: str = "cosine", ax=None, label_every: int = 1,
    cmap: str = "RdBu_r",
):
    """Heat map of :func:`ordered_similarity_matrix` (cosine similarity in [-1, 1] by default).

    Returns the matplotlib ``Axes``.
    """
    import matplotlib.pyplot as plt

    emb = load_embedding(embedding)
    sim = ordered_similarity_matrix(emb, metric)
    if ax is None:
        _fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(sim.to_numpy(), cmap=cmap, vmin=-1, vmax=1)
    ticks = np.arange(0, len(sim), label_every)
    ax.set_xticks(ticks, [sim.columns[i] for i in ticks], rotation=90, fontsize=5)
    ax.set_yticks(ticks, [sim.index[i] for i in ticks], fontsize=5)
    ax.set_title(f"{emb.name}: {metric} similarity (Mendeleev order)")
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    return ax


def project_2d(
    embedding: ElementEmbedding | str, method: str = "pca", seed: int = 0,
    perplexity: float = 10.0, standardise: bool = False,
) -> pd.DataFrame:
    """Project the element vectors to two dimensions.

    Parameters
    ----------
    embedding : ``ElementEmbedding or str``
        The vectors.
    method : ``{"pca", "tsne"}``
        Principal component analysis (linear; axes are the directions of largest variance) or
        t-SNE (van der Maaten & Hinton, *JMLR* 9, 2579 (2008); non-linear, keeps neighbours
        together, distances between clusters mean little).
    seed : ``int``
        Random state of t-SNE (PCA is deterministic).
    perplexity : ``float``
        t-SNE perplexity (about the number of neighbours each point keeps; must be smaller than
        the number of elements).
    standardise : ``bool``
        Scale every dimension to zero mean and unit variance first.

    Returns
    -------
    pandas.DataFrame
        Index = element symbols; columns ``x``, ``y``, ``block`` and ``group``.
    """
    emb = load_embedding(embedding)
    if standardise:
        emb = emb.standardised()
    x = np.asarray(emb.matrix)
    if method == "pca":
        from sklearn.decomposition import PCA

        xy = PCA(n_components=2).fit_transform(x)
    elif method == "tsne":
        from sklearn.manifold import TSNE

        if perplexity >= len(emb):
            raise ValueError(f"perplexity={perplexity} must be below the {len(emb)} elements")
        xy = TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca",
                  learning_rate="auto").fit_transform(x)
    else:
        raise ValueError(f"unknown method {method!r}; choose 'pca' or 'tsne'")
    return pd.DataFrame(
        {"x": xy[:, 0], "y": xy[:, 1], "block": [element_block(s) for s in emb.symbols],
         "group": [element_group(s) for s in emb.symbols]},
        index=list(emb.symbols),
    )


_BLOCK_COLOURS = {"s": "tab:red", "p": "tab:blue", "d": "tab:green", "f": "tab:purple"}


def plot_projection(
    embedding: ElementEmbedding | str, method: str = "pca", color_by: str = "block", ax=None,
    seed: int = 0, perplexity: float = 10.0,
):
    """Scatter plot of :func:`project_2d` with element labels, coloured by ``"block"`` or
    ``"group"``. Returns the matplotlib ``Axes``."""
    import matplotlib.pyplot as plt

    emb = load_embedding(embedding)
    xy = project_2d(emb, method, seed=seed, perplexity=perplexity)
    if ax is None:
        _fig, ax = plt.subplots(figsize=(7, 6))
    if color_by == "block":
        for block, colour in _BLOCK_COLOURS.items():
            sel = xy[xy["block"] == block]
            ax.scatter(sel["x"], sel["y"], s=12, color=colour, label=f"{block} block")
        ax.legend(fontsize=8)
    elif color_by == "group":
        points = ax.scatter(xy["x"], xy["y"], s=12, c=xy["group"], cmap="nipy_spectral")
        ax.figure.colorbar(points, ax=ax, label="group")
    else:
        raise ValueError(f"unknown color_by={color_by!r}; choose 'block' or 'group'")
    for sym, row in xy.iterrows():
        ax.annotate(sym, (row["x"], row["y"]), fontsize=6, xytext=(2, 2),
                    textcoords="offset points")
    ax.set_title(f"{emb.name}: {method.upper() if method == 'pca' else 't-SNE'}")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def nearest_table(
    embedding: ElementEmbedding | str, symbols: Iterable[str], k: int = 5, metric: str = "cosine"
) -> pd.DataFrame:
    """The ``k`` nearest neighbours of each of ``symbols``, as a table ``symbol -> "X (0.93)"``."""
    emb = load_embedding(embedding)
    rows = {s: [f"{n} ({v:.2f})" for n, v in emb.nearest(s, k, metric)] for s in symbols}
    return pd.DataFrame.from_dict(rows, orient="index", columns=[f"#{i + 1}" for i in range(k)])


def embedding_agreement(
    a: ElementEmbedding | str, b: ElementEmbedding | str, metric: str = "cosine",
    symbols: Iterable[str] | None = None,
) -> float:
    """How alike two embeddings judge the elements: correlation of their similarity matrices.

    Over the elements both embeddings cover (or ``symbols``), compute each embedding's
    ``metric`` similarity matrix and return the Pearson correlation of their upper triangles
    (diagonal excluded). The score lies in [-1, 1]; with ``metric="cosine"`` it is 1 for two
    embeddings that differ by an orthogonal transformation (rotation, reflection, sign flip of dimensions), whatever their
    dimensions, so it compares embeddings learned with different random initialisations or by
    different methods.

    Parameters
    ----------
    a, b : ``ElementEmbedding or str``
        The embeddings (names are passed to :func:`~course_lib.embeddings.published.load_embedding`).
    metric : ``{"cosine", "pearson"}``
        The similarity.
    symbols : ``iterable of str, optional``
        Elements to compare; default all shared elements.

    Returns
    -------
    float
        The Pearson correlation.

    Raises
    ------
    ValueError
        If fewer than three elements are shared.
    """
    a, b = load_embedding(a), load_embedding(b)
    if symbols is None:
        symbols = [s for s in a.symbols if s in b]
    symbols = list(symbols)
    if len(symbols) < 3:
        raise ValueError(
            f"embeddings {a.name!r} and {b.name!r} share {len(symbols)} elements; at least 3 are "
            "needed to correlate their similarities"
        )
    sa = a.similarity_matrix(metric, symbols).to_numpy()
    sb = b.similarity_matrix(metric, symbols).to_numpy()
    upper = np.triu_indices(len(symbols), k=1)
    return float(np.corrcoef(sa[upper], sb[upper])[0, 1])
