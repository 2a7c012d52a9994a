"""SkipAtom: element vectors from "predict the bonded neighbour" (chapter 2).

SkipAtom (Antunes, Grau-Crespo & Butler, *npj Comput. Mater.* 8, 44 (2022)) applies the skip-gram
model of word2vec (Mikolov et al., 2013) to crystals. The training data are ``(target, context)``
pairs of bonded elements (see :mod:`course_lib.embeddings.cooccurrence`). For a target element
``t`` with one-hot vector :math:`\\mathbf{e}_t` the model computes

.. math::

    \\mathbf{h} = W_\\mathrm{in}^\\top \\mathbf{e}_t, \\qquad
    \\mathbf{z} = W_\\mathrm{out} \\mathbf{h} + \\mathbf{b}, \\qquad
    p(c \\mid t) = \\frac{\\exp z_c}{\\sum_{c'} \\exp z_{c'}},

and minimises the mean cross-entropy :math:`-\\log p(c \\mid t)` over the pairs. Row ``t`` of
:math:`W_\\mathrm{in}` (shape ``(n_atoms, dim)``) is the learned vector of element ``t``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .cooccurrence import encode_pairs
from .published import ElementEmbedding

__all__ = ["SKIPATOM_CITATION", "induce_vectors", "skipgram_loss", "train_skipatom"]

SKIPATOM_CITATION = "Antunes, Grau-Crespo & Butler, npj Comput. Mater. 8, 44 (2022)"


def skipgram_loss(w_in: np.ndarray, w_out: np.ndarray, b_out: np.ndarray, targets, contexts) -> float:
    """Mean skip-gram cross-entropy of a batch, in NumPy (the forward pass of the model).

    Parameters
    ----------
    w_in : ``numpy.ndarray``
        Embedding matrix, shape ``(n_atoms, dim)``.
    w_out : ``numpy.ndarray``
        Output weights, shape ``(n_atoms, dim)``.
    b_out : ``numpy.ndarray``
        Output bias, shape ``(n_atoms,)``.
    targets, contexts : ``array_like of int``
        Atom indices of the batch, shape ``(n,)`` each.

    Returns
    -------
    float
        :math:`-\\frac{1}{n}\\sum_k \\log \\operatorname{softmax}(W_\\mathrm{out}\\mathbf{h}_k +
        \\mathbf{b})_{c_k}` in nats, computed with the log-sum-exp shift for stability.
    """
    targets = np.asarray(targets, dtype=int)
    contexts = np.asarray(contexts, dtype=int)
    logits = w_in[targets] @ w_out.T + b_out
    shift = logits.max(axis=1, keepdims=True)
    log_z = shift[:, 0] + np.log(np.exp(logits - shift).sum(axis=1))
    return float(np.mean(log_z - logits[np.arange(len(targets)), contexts]))


def _position(symbol: str) -> np.ndarray:
    """(group, row, Pauling electronegativity) of an element, as floats (missing X -> 0)."""
    from pymatgen.core import Element

    el = Element(symbol)
    x = el.X
    return np.array([float(el.group), float(el.row), 0.0 if not np.isfinite(x) else float(x)])


def induce_vectors(
    embedding: ElementEmbedding, counts, min_count: float = 1e4, top_n: int = 2
) -> ElementEmbedding:
    """"Induced" SkipAtom vectors: help rare atoms with their periodic-table neighbours.

    For every atom ``a`` whose number of training pairs (as target) is below ``min_count``, the
    ``top_n`` other atoms of the embedding closest to ``a`` in Euclidean distance in the space
    (group, period, Pauling electronegativity) are ranked ``i = 0, 1, ...`` (closest first) and

    .. math::

        \\mathbf{v}'_a = \\mathbf{v}_a + \\frac{1}{n}\\sum_{i=0}^{n-1} e^{-i}\\,\\mathbf{v}_{a_i},
        \\qquad n = \\texttt{top\\_n}.

    The neighbours' *uninduced* vectors are used. Elements without a Pauling electronegativity
    (He, Ne, Ar) get 0 in that coordinate. The defaults, ``min_count = 1e4`` and ``top_n = 2``, are
    our choice for the full 15.4-million-pair Materials Project file (on average about 180,000
    pairs per atom), where they touch only the rarest elements; lower ``min_count`` for small
    training sets.

    Parameters
    ----------
    embedding : ``ElementEmbedding``
        Trained vectors.
    counts : ``mapping of str to int``
        Number of training pairs with each element as target.
    min_count : ``float``
        Atoms with fewer pairs than this are induced.
    top_n : ``int``
        Number of similar atoms averaged (at least 1).

    Returns
    -------
    ~course_lib.embeddings.published.ElementEmbedding
        A new embedding with name ``embedding.name + "_induced"``.
    """
    if top_n < 1 or top_n >= len(embedding):
        raise ValueError(f"top_n must be between 1 and {len(embedding) - 1}, not {top_n}")
    symbols = embedding.symbols
    pos = np.array([_position(s) for s in symbols])
    dist = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(dist, np.inf)
    matrix = np.array(embedding.matrix)
    weights = np.exp(-np.arange(top_n))
    out = matrix.copy()
    for a, s in enumerate(symbols):
        if counts.get(s, 0) < min_count:
            ranked = np.argsort(dist[a], kind="stable")[:top_n]
            out[a] = matrix[a] + (weights[:, None] * matrix[ranked]).mean(axis=0)
    return ElementEmbedding(
        f"{embedding.name}_induced", symbols, out, embedding.citation,
        embedding.description + f"; induced (min_count={min_count:g}, top_n={top_n})",
    )


def train_skipatom(
    pairs,
    dim: int = 200,
    epochs: int = 10,
    batch_size: int = 1024,
    lr: float = 0.01,
    seed: int = 0,
    device: str | None = None,
    induced: bool = False,
    progress: bool = True,
    min_count: float = 1e4,
    top_n: int = 2,
    losses: list | None = None,
    name: str = "skipatom_trained",
    num_threads: int | None = 1,
) -> ElementEmbedding:
    """Train SkipAtom vectors with PyTorch.

    The model is ``Embedding(n_atoms, dim)`` (a bias-free linear map of the one-hot target) followed
    by ``Linear(dim, n_atoms)`` (with bias) giving the logits of the context atom, trained with
    softmax cross-entropy and Adam. The defaults are the SkipAtom paper's settings (200
    dimensions, 10 epochs, batch 1024, learning rate 0.01). Pairs are held as integer tensors on
    ``device``, shuffled every epoch with a seeded generator and batched by slicing. The initial
    weights are drawn with ``torch.manual_seed(seed)`` (PyTorch defaults: :math:`N(0, 1)` for the
    embedding, uniform :math:`\\pm 1/\\sqrt{dim}` for the output layer), so the same seed, data
    and device give the same vectors.

    Parameters
    ----------
    pairs : ``list of (str, str), pandas.DataFrame or array of shape (n, 2)``
        ``(target, context)`` element pairs (e.g. from :func:`~course_lib.embeddings.read_pairs`).
    dim : ``int``
        Length of the vectors.
    epochs : ``int``
        Passes over the pairs.
    batch_size : ``int``
        Pairs per Adam step.
    lr : ``float``
        Adam learning rate.
    seed : ``int``
        Seed of the initial weights and of the shuffling.
    device : ``str, optional``
        ``"cpu"`` or ``"cuda"``; default CUDA when available.
    induced : ``bool``
        Return the induced vectors (see :func:`induce_vectors`, with ``min_count`` and ``top_n``).
    progress : ``bool``
        Show a ``tqdm`` progress bar over the batches.
    min_count, top_n
        Settings of the induction (used only with ``induced=True``).
    losses : ``list, optional``
        If given, the mean training loss (nats) of every epoch is appended to it.
    name : ``str``
        Name of the returned embedding.
    num_threads : ``int, optional``
        PyTorch CPU threads during training (restored afterwards). The default, 1, is fastest for
        this tiny model (about 3 ms per batch of 1024 on one core; extra threads mostly add
        synchronisation); ``None`` leaves PyTorch's setting alone.

    Returns
    -------
    ~course_lib.embeddings.published.ElementEmbedding
        One ``dim``-vector per element occurring in the pairs, ordered by atomic number.

    Raises
    ------
    ~course_lib.embeddings.cooccurrence.PairsError
        For empty or malformed pairs or unknown element symbols.
    ValueError
        For non-positive ``dim``, ``epochs``, ``batch_size`` or ``lr``.
    """
    import torch

    for label, value in (("dim", dim), ("epochs", epochs), ("batch_size", batch_size), ("lr", lr)):
        if not value > 0:
            raise ValueError(f"{label} must be positive, not {value}")
    symbols, index = encode_pairs(pairs)
    n_atoms, n_pairs = len(symbols), len(index)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        embed = torch.nn.Embedding(n_atoms, dim)
        out = torch.nn.Linear(dim, n_atoms)
    embed, out = embed.to(device), out.to(device)
    params = list(embed.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    targets = torch.as_tensor(index[:, 0], device=device)
    contexts = torch.as_tensor(index[:, 1], device=device)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    n_batches = math.ceil(n_pairs / batch_size)
    previous_threads = torch.get_num_threads()
    if num_threads is not None and device.type == "cpu":
        torch.set_num_threads(num_threads)
    try:
        matrix, seconds = _fit(embed, out, opt, targets, contexts, gen, epochs, batch_size,
                               n_batches, losses, progress)
    finally:
        torch.set_num_threads(previous_threads)
    emb = ElementEmbedding(
        name, symbols, matrix, citation=SKIPATOM_CITATION,
        description=(f"SkipAtom skip-gram vectors trained here: {n_pairs:,} pairs, "
                     f"{n_atoms} elements, dim={dim}, epochs={epochs}, batch_size={batch_size}, "
                     f"Adam lr={lr}, seed={seed}, device={device.type}, {seconds:.1f} s"),
    )
    if induced:
        counts = dict(zip(symbols, np.bincount(index[:, 0], minlength=n_atoms).tolist()))
        emb = induce_vectors(emb, counts, min_count=min_count, top_n=top_n)
    return emb


def _fit(embed, out, opt, targets, contexts, gen, epochs, batch_size, n_batches, losses, progress):
    """The training loop of :func:`train_skipatom`; returns (vectors, seconds)."""
    import torch
    from tqdm.auto import tqdm

    n_pairs = len(targets)
    device = targets.device
    bar = tqdm(total=epochs * n_batches, desc="SkipAtom", disable=not progress)
    started = time.perf_counter()
    for _epoch in range(epochs):
        order = torch.randperm(n_pairs, generator=gen, device=device)
        t_all, c_all = targets[order], contexts[order]
        total = torch.zeros((), device=device)
        for start in range(0, n_pairs, batch_size):
            t, c = t_all[start:start + batch_size], c_all[start:start + batch_size]
            loss = torch.nn.functional.cross_entropy(out(embed(t)), c)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(t)
            bar.update()
        if losses is not None:
            losses.append(float(total) / n_pairs)
        bar.set_postfix(loss=f"{float(total) / n_pairs:.4f}")
    bar.close()
    seconds = time.perf_counter() - started
    return embed.weight.detach().cpu().numpy().astype(float), seconds
