"""CrysAtom: self-supervised atom vectors from unlabelled crystal graphs (chapter 8).

Mukherjee, Ghosh & Basuchowdhuri, "CrysAtom: Distributed Representation of Atoms for Crystal
Property Prediction", arXiv:2409.04737 (2024). A CGCNN encoder (:mod:`course_lib.cgcnn`) turns
every atom of a crystal graph (:mod:`course_lib.graphs`) into a latent vector :math:`h_i`; it is
trained without labels by three losses,

.. math::

    \\mathcal{L} = w_\\mathrm{FR}\\,\\mathcal{L}_\\mathrm{FR} + w_\\mathrm{CR}\\,\\mathcal{L}_\\mathrm{CR}
    + w_\\mathrm{BT}\\,\\mathcal{L}_\\mathrm{BT}, \\qquad (w_\\mathrm{FR}, w_\\mathrm{CR}, w_\\mathrm{BT})
    = (0.25, 0.25, 0.5),

- node-feature reconstruction :math:`\\mathcal{L}_\\mathrm{FR}`: a linear map of :math:`h_i`
  predicts the input features :math:`x_i` of atom :math:`i` (mean squared error);
- local-connectivity reconstruction :math:`\\mathcal{L}_\\mathrm{CR}`: a bilinear map of the
  L2-normalised :math:`(h_i, h_j)` and a small feed-forward network give a softmax over the number
  of edges :math:`n_{ij} \\in \\{0, \\dots, M\\}` between atoms :math:`i` and :math:`j`
  (cross-entropy);
- a Barlow Twins loss :math:`\\mathcal{L}_\\mathrm{BT}` (:func:`barlow_twins_loss`, Zbontar et al.
  2021) between the mean-pooled encodings of two augmented views of each crystal, each made by
  masking 10% of the atoms (:func:`mask_atoms`) and 10% of the edges (:func:`mask_edges`).

The per-element vectors are the average latent vector of every atom of that element over the
dataset (:func:`element_vectors`); :func:`train_crysatom` does all of it on the course trainer
and returns an :class:`~course_lib.embeddings.ElementEmbedding`, so chapter 2's analysis tools
and :class:`~course_lib.graphs.CrystalGraphDataset` (``atom_features=``) take it unchanged.
:func:`compare_atom_features` trains the same downstream CGCNN on several fixed atom-feature sets
(the paper's Table 7 as a reusable tool).

.. rubric:: The paper, the authors' code and this module

The authors published their code (GitHub repository ``shrimonmuke0202/CrysAtom``: pretraining in
``CrysAtom/``, downstream CGCNN in ``Downstream Property Predictor Task/``). This module was
written from the paper and checked against that code afterwards; no code was copied. Where
paper and code differ, or the paper leaves a choice open, the list says what each does and what
the module does; the code's choices that change the vectors are options.

1. *Encoder*: the CGCNN convolution of :class:`course_lib.cgcnn.ConvLayer` (Xie & Grossman's),
   a linear embedding of the input features to width ``dim`` and ``n_conv`` (5) convolutions, as
   in the paper and the code. Paper: ``dim`` = 200; the code's pretraining script defaults to 50
   (a command-line option) and its embedding has no bias; here ``dim=200`` and a bias. Layer
   names match :class:`~course_lib.cgcnn.CGCNN` (``embedding``, ``convs``), so the encoder's
   weights load into a CGCNN of the same width. Each convolution ends with a softplus, so the
   latent vectors have positive components.
2. *Feature reconstruction* (Eqs. 2-3): a linear map of the atom vector predicts its input
   features. The paper names no loss. The code decodes the L2-normalised atom vector and uses
   binary cross-entropy with logits against the (0/1) CGCNN features. Here: the raw atom
   vector, mean squared error by default, ``feature_loss="bce"`` for the code's loss.
3. *Connectivity reconstruction* (Eqs. 4-5): a bilinear map of the vectors of atoms ``i`` and
   ``j``, then a feed-forward network, then a softmax over the number of edges :math:`n_{ij}`.
   The paper's text puts "an activation that maps to [0, 1]" after the bilinear map. Read as a
   sigmoid on the raw, positive, 200-wide latent vectors, it saturates: on 48 crystals the
   bilinear outputs are beyond the sigmoid's linear range after a few epochs, the loss sends no
   gradient to the encoder and the decoder predicts the most frequent count for every pair
   (``tests/test_crysatom.py::test_every_loss_term_trains_the_encoder``;
   ``benchmarks/results/crysatom_connectivity.md``). The code has no such activation: it
   L2-normalises each atom vector, maps every ordered pair of atoms of a crystal (all
   :math:`N^2`) to 6 outputs by the bilinear layer, then one linear layer to 6 log-probabilities;
   the counts are capped at 5 (classes 0..5) and class 0 has weight 0.1 in the loss. Here, by
   default (``connectivity="normalized"``): L2-normalised vectors, the bilinear map with
   ``connectivity_hidden`` (64) outputs, ``connectivity_layers`` (2) linear layers with a softplus
   between them, cross-entropy with equal class weights; ``max_count=5`` merges counts as the code
   does (default: no merging, classes 0..``max_neighbors``). ``connectivity="sigmoid"`` keeps the
   paper-text reading, to show the failure. Pairs: not all :math:`N^2` (the bilinear map costs
   ``connectivity_hidden * dim**2`` per pair) but, per crystal and epoch, up to 16 connected
   pairs plus as many pairs drawn uniformly from all :math:`N^2` (``pairs_per_crystal`` = 32),
   labelled with their counts (often 0 in large cells). Edges are those of
   :func:`~course_lib.graphs.build_crystal_graph` (the ``max_neighbors`` nearest neighbours,
   periodic images counted separately), so the count is directed, as in the code.
4. *Barlow Twins* (Eqs. 6-8, Zbontar et al.): between the two augmented views of each crystal.
   The paper says the loss acts on the encoder's embeddings and once speaks of "the projected
   output". The code mean-pools the atom vectors and passes them through a projector (softplus,
   then three linear layers ``dim -> 128 -> 128 -> 128`` with softplus between them), L2-normalises
   the result and standardises each dimension over the batch (batch normalisation without scale)
   before the cross-correlation. Here: no projector by default (the pooled ``dim``-vectors,
   standardised over the batch); ``projector=True`` gives the code's.
5. *Augmentations*: each view masks 10% of the atoms (features set to zero) and 10% of the
   edges, in the paper and the code. The code draws ``max(1, floor(0.1 N))`` atoms and drops about
   10% of each atom's neighbour entries (the list is then padded); here :func:`masked_count`
   rounds half up and a masked edge keeps its place with its Gaussian features set to zero.
6. *Element vectors*: the paper's Algorithm 1 reads them out per batch. In the code, each batch
   gives per element the mean of the encoder's atom vectors of that batch, L2-normalised; an
   element's stored vector is the one of the last batch in which it appeared, written at each
   epoch whose training loss improved. Here (:func:`element_vectors`): the mean over every atom
   of the whole dataset, encoded once after training by the chosen model in evaluation mode, not
   normalised, so the vectors do not depend on the order of batches. Normalise them yourself for
   the code's scale (every vector of length 1).
7. *Training*: Adam, batch size 128, 110 epochs and the loss weights (0.25, 0.25, 0.5) of Table 2,
   in the paper and the code. The learning rate of Table 2 and of the code is 0.03. **Deviation**:
   the default here is 1e-3. With the sigmoid decoder, the 200-wide, 5-layer encoder on 48
   matbench_dielectric crystals (batch 16, 4 epochs, seed 0, CPU), Adam at 0.03 blew the weights
   up in the first steps (training feature-reconstruction MSE 63, 57, 12, 27 for 0/1 features;
   validation loss from 665,000 down to 65), while 1e-3 gave 2.0, 1.2, 1.09, 1.07 and a validation
   loss of about 30; pass ``lr=0.03`` for the paper's value. The code keeps the model of the epoch
   with the lowest *training* loss; here a validation split (10% by default) chooses the best epoch
   by the total loss. The trainer's "accuracy" columns hold the connectivity decoder's accuracy on
   edge counts.
8. *Downstream protocol*: the code's downstream CGCNN evaluates the test set after every epoch
   and reports the lowest test MAE over the epochs, i.e. the epoch is chosen on the test set.
   :func:`compare_atom_features` chooses it on a validation set and reports the test MAE of that
   epoch, which is higher on average. The paper's Table 7 gives CrysAtom's improvement (e.g.
   -34.4% for the JARVIS formation energy) against CGCNN with SkipAtom vectors, not against
   one-hot or the CGCNN features; the comparison with plain CGCNN is its Table 5.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .cgcnn import CGCNN, ConvLayer
from .graphs import CrystalGraph, CrystalGraphDataset, GraphBatch, collate_graphs
from .training import History, Trainer, _check_split

__all__ = [
    "BARLOW_TWINS_CITATION",
    "CRYSATOM_CITATION",
    "CrysAtom",
    "CrysAtomTrainer",
    "PretrainBatch",
    "PretrainDataset",
    "barlow_twins_loss",
    "collate_pretrain",
    "ATOM_FEATURE_SETS",
    "compare_atom_features",
    "edge_count_matrix",
    "element_vectors",
    "mask_atoms",
    "mask_edges",
    "masked_count",
    "loss_term_gradients",
    "majority_class_rate",
    "train_crysatom",
]

CRYSATOM_CITATION = (
    "S. Mukherjee, M. Ghosh and P. Basuchowdhuri, CrysAtom: Distributed Representation of Atoms "
    "for Crystal Property Prediction, arXiv:2409.04737 (2024), doi:10.48550/arXiv.2409.04737"
)
BARLOW_TWINS_CITATION = (
    "J. Zbontar, L. Jing, I. Misra, Y. LeCun and S. Deny, Barlow Twins: Self-Supervised Learning "
    "via Redundancy Reduction, Proc. ICML 2021, PMLR 139, 12310-12320, arXiv:2103.03230"
)


# ============================================================================================
# Barlow Twins loss
# ============================================================================================
def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, lambd: float = 0.0051,
                      eps: float = 1e-5) -> torch.Tensor:
    """The Barlow Twins loss between two views (Zbontar et al. 2021, Eqs. 1-2).

    Each view is normalised per dimension over the batch, :math:`\\tilde z = (z - \\bar z) /
    \\sqrt{\\mathrm{var}(z) + \\epsilon}` (biased variance, as ``BatchNorm1d(affine=False)`` in
    training mode), the cross-correlation matrix is

    .. math::

        C_{ij} = \\frac{1}{B} \\sum_b \\tilde z^{(1)}_{b,i} \\tilde z^{(2)}_{b,j},

    and the loss is :math:`\\sum_i (1 - C_{ii})^2 + \\lambda \\sum_{i \\ne j} C_{ij}^2`: the diagonal
    is pulled to 1 (the two views agree, invariance), the off-diagonal to 0 (the dimensions
    carry different information, redundancy reduction). Swapping the views transposes :math:`C`
    and leaves the loss unchanged.

    Parameters
    ----------
    z1, z2
        ``(B, D)`` embeddings of the same ``B`` items under two augmentations, ``B >= 2``.
    lambd
        Weight :math:`\\lambda` of the off-diagonal term (default 0.0051, the Barlow Twins and
        CrysAtom value).
    eps
        Added to the variance before the square root (default 1e-5, BatchNorm's); 0 gives the
        exact standardisation (a constant dimension then gives NaN).

    Returns
    -------
    torch.Tensor
        A scalar, in the dtype of the inputs (float32 at least).

    Raises
    ------
    ValueError
        Inputs that are not 2-d, of different shapes, with fewer than 2 rows, or a negative
        ``lambd``/``eps``.
    """
    z1, z2 = torch.as_tensor(z1), torch.as_tensor(z2)
    if z1.ndim != 2 or z2.ndim != 2:
        raise ValueError(f"barlow_twins_loss needs two (batch, dim) matrices, got shapes "
                         f"{tuple(z1.shape)} and {tuple(z2.shape)}; reshape them to 2-d")
    if z1.shape != z2.shape:
        raise ValueError(f"the two views must have the same shape, got {tuple(z1.shape)} and "
                         f"{tuple(z2.shape)}; pass the embeddings of the same items under two augmentations")
    if z1.shape[0] < 2:
        raise ValueError(f"the Barlow Twins loss normalises over the batch and needs at least 2 items, "
                         f"got {z1.shape[0]}; use a larger batch")
    if lambd < 0 or eps < 0:
        raise ValueError(f"lambd and eps must be non-negative, got lambd={lambd}, eps={eps}")
    dtype = torch.promote_types(z1.dtype, torch.float32)
    z1, z2 = z1.to(dtype), z2.to(dtype)
    n = z1.shape[0]

    def standardise(z):
        return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + eps)

    with torch.autocast(z1.device.type, enabled=False):  # full precision even under mixed precision
        c = standardise(z1).T @ standardise(z2) / n
    diagonal = torch.diagonal(c)
    on_diag = (1.0 - diagonal).pow(2).sum()
    off_diag = c.pow(2).sum() - diagonal.pow(2).sum()
    return on_diag + lambd * off_diag


# ============================================================================================
# Augmentations
# ============================================================================================
def masked_count(fraction: float, n: int) -> int:
    """How many of ``n`` items a masking ``fraction`` hides.

    ``floor(fraction * n + 0.5)`` (rounding half up), but at least 1 when ``fraction > 0`` and
    ``n > 0`` -- so a view always differs from the original, even for a 2-atom cell at 10% --
    and at most ``n``. Examples: 10% of 12 atoms -> 1, of 15 -> 2, of 2 -> 1; 0% -> 0.
    """
    _check_fraction(fraction)
    if n <= 0 or fraction == 0:
        return 0
    return int(min(n, max(1, math.floor(fraction * n + 0.5))))


def _check_fraction(fraction) -> None:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"the masking fraction must be a number between 0 and 1 (e.g. 0.1 for 10%), "
                         f"got {fraction!r}")


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)) or (isinstance(rng, Sequence) and not isinstance(rng, str)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an integer seed or None, got {type(rng).__name__}")


def _check_graph(graph) -> None:
    if not isinstance(graph, CrystalGraph):
        raise TypeError(f"expected a CrystalGraph (from course_lib.graphs.build_crystal_graph), got "
                        f"{type(graph).__name__}")


def _replace(graph: CrystalGraph, **changes) -> CrystalGraph:
    d = graph.to_dict()
    d.update(changes)
    return CrystalGraph.from_dict(d)


def mask_atoms(graph: CrystalGraph, fraction: float = 0.1, rng=None, return_mask: bool = False):
    """A copy of ``graph`` with a random ``fraction`` of its atoms masked.

    A masked atom keeps its place and its edges but its input feature vector is set to zeros,
    so the encoder must infer it from the neighbours. The number masked is
    :func:`masked_count` ``(fraction, n_atoms)``; which atoms is a uniform draw without
    replacement from ``rng``. The input graph is not modified.

    Parameters
    ----------
    graph
        A :class:`~course_lib.graphs.CrystalGraph`.
    fraction
        Fraction of atoms to mask, in [0, 1] (CrysAtom: 0.1).
    rng
        A :class:`numpy.random.Generator`, an integer seed or None (fresh entropy).
    return_mask
        Also return the boolean mask ``(n_atoms,)`` of the masked atoms.

    Returns
    -------
    CrystalGraph, or (CrystalGraph, numpy.ndarray)
    """
    _check_graph(graph)
    _check_fraction(fraction)
    rng = _rng(rng)
    n = graph.n_atoms
    chosen = rng.choice(n, size=masked_count(fraction, n), replace=False)
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    feats = graph.atom_features.clone()
    feats[torch.as_tensor(mask)] = 0.0
    out = _replace(graph, atom_features=feats)
    return (out, mask) if return_mask else out


def mask_edges(graph: CrystalGraph, fraction: float = 0.1, rng=None, return_mask: bool = False):
    """A copy of ``graph`` with a random ``fraction`` of its edges masked.

    The edges are the real neighbour entries ``(i, k)`` with ``k < n_neighbors[i]`` (padding
    is never chosen); a masked edge keeps its neighbour index but its Gaussian distance
    features are set to zeros. The number masked is :func:`masked_count` ``(fraction,
    n_edges)``, drawn uniformly without replacement. The input graph is not modified.

    Parameters
    ----------
    graph
        A :class:`~course_lib.graphs.CrystalGraph`.
    fraction
        Fraction of edges to mask, in [0, 1] (CrysAtom: 0.1).
    rng
        A :class:`numpy.random.Generator`, an integer seed or None.
    return_mask
        Also return the boolean mask ``(n_atoms, max_neighbors)`` of the masked edges.

    Returns
    -------
    CrystalGraph, or (CrystalGraph, numpy.ndarray)
    """
    _check_graph(graph)
    _check_fraction(fraction)
    rng = _rng(rng)
    n, m = graph.neighbor_index.shape
    real = np.arange(m)[None, :] < graph.n_neighbors.numpy()[:, None]
    flat = np.flatnonzero(real.ravel())
    chosen = rng.choice(flat, size=masked_count(fraction, len(flat)), replace=False)
    mask = np.zeros(n * m, dtype=bool)
    mask[chosen] = True
    mask = mask.reshape(n, m)
    edges = graph.edge_features.clone()
    edges[torch.as_tensor(mask)] = 0.0
    out = _replace(graph, edge_features=edges)
    return (out, mask) if return_mask else out


def edge_count_matrix(graph: CrystalGraph) -> np.ndarray:
    """``(N, N)`` int array: ``n_ij``, the number of edges from atom ``i`` to atom ``j``.

    Counts the images of ``j`` among the real neighbours of ``i`` (padding excluded); rows sum to
    ``n_neighbors``.
    """
    _check_graph(graph)
    n, m = graph.neighbor_index.shape
    counts = np.zeros((n, n), dtype=np.int64)
    idx = graph.neighbor_index.numpy()
    real = np.arange(m)[None, :] < graph.n_neighbors.numpy()[:, None]
    rows = np.repeat(np.arange(n), m).reshape(n, m)
    np.add.at(counts, (rows[real], idx[real]), 1)
    return counts


def _sample_pairs(graph: CrystalGraph, rng: np.random.Generator,
                  pairs_per_crystal: int | None = 32) -> tuple[np.ndarray, np.ndarray]:
    """Connected pairs plus as many uniformly drawn pairs, with their edge counts.

    With ``pairs_per_crystal``, at most half of it connected pairs (drawn without replacement)
    and as many uniform pairs; None: every connected pair.
    """
    counts = edge_count_matrix(graph)
    n = counts.shape[0]
    pos = np.argwhere(counts > 0)
    if pairs_per_crystal is not None and len(pos) > pairs_per_crystal // 2:
        pos = pos[np.sort(rng.choice(len(pos), size=max(1, pairs_per_crystal // 2), replace=False))]
    rnd = rng.integers(0, n, size=(len(pos), 2))
    pairs = np.concatenate([pos, rnd]).astype(np.int64)
    return pairs, counts[pairs[:, 0], pairs[:, 1]]


# ============================================================================================
# Pretraining data
# ============================================================================================
@dataclass
class PretrainBatch:
    """What one CrysAtom training step needs.

    Attributes
    ----------
    graph, view1, view2 : GraphBatch
        The unmasked crystals and their two augmented views (same atoms, same order).
    pairs : torch.Tensor
        ``(P, 2)`` atom pairs (rows of ``graph``) for the connectivity decoder.
    pair_counts : torch.Tensor
        ``(P,)`` number of edges of each pair, ``0..M``.
    target : torch.Tensor
        ``(B, 1)`` zeros (the trainer's protocol asks every batch for a target; unused).
    """

    graph: GraphBatch
    view1: GraphBatch
    view2: GraphBatch
    pairs: torch.Tensor
    pair_counts: torch.Tensor
    target: torch.Tensor

    @property
    def n_graphs(self) -> int:
        return self.graph.n_graphs

    def to(self, device, non_blocking: bool = False) -> PretrainBatch:
        return PretrainBatch(self.graph.to(device, non_blocking), self.view1.to(device, non_blocking),
                             self.view2.to(device, non_blocking), self.pairs.to(device, non_blocking=non_blocking),
                             self.pair_counts.to(device, non_blocking=non_blocking),
                             self.target.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> PretrainBatch:
        return PretrainBatch(self.graph.pin_memory(), self.view1.pin_memory(), self.view2.pin_memory(),
                             self.pairs.pin_memory(), self.pair_counts.pin_memory(), self.target.pin_memory())


class PretrainDataset(torch.utils.data.Dataset):
    """Unlabelled crystal graphs served with two augmented views and sampled atom pairs.

    Item ``i`` is a dict ``{"graph", "view1", "view2", "pairs", "pair_counts"}`` built with a
    random generator seeded by ``(seed, epoch, i)``: the views of a crystal change every epoch,
    are the same in every DataLoader worker and after resuming, and :attr:`epoch` 0 (used for
    validation) always gives the same views.

    Parameters
    ----------
    graphs
        :class:`~course_lib.graphs.CrystalGraph` objects or a
        :class:`~course_lib.graphs.CrystalGraphDataset`.
    atom_mask, edge_mask
        Masking fractions of each view (default 0.1 and 0.1).
    seed
        Seed of the augmentations and pair draws.
    pairs_per_crystal
        Atom pairs per crystal for the connectivity decoder: half of them (at most) connected
        pairs drawn without replacement, as many drawn uniformly from all pairs (default 32;
        None: every connected pair and as many uniform ones). The bilinear map costs
        ``connectivity_hidden * dim**2`` per pair, so this bounds the cost of large cells.
    """

    def __init__(self, graphs, atom_mask: float = 0.1, edge_mask: float = 0.1, seed: int = 0,
                 pairs_per_crystal: int | None = 32) -> None:
        graphs = list(graphs.graphs if isinstance(graphs, CrystalGraphDataset) else graphs)
        if not graphs:
            raise ValueError("PretrainDataset needs at least one crystal graph")
        for g in graphs:
            _check_graph(g)
        _check_fraction(atom_mask)
        _check_fraction(edge_mask)
        self.graphs = graphs
        if pairs_per_crystal is not None and not (isinstance(pairs_per_crystal, (int, np.integer))
                                                  and pairs_per_crystal >= 2):
            raise ValueError(f"pairs_per_crystal must be None or an integer >= 2, got {pairs_per_crystal!r}")
        self.atom_mask, self.edge_mask, self.seed = float(atom_mask), float(edge_mask), int(seed)
        self.pairs_per_crystal = pairs_per_crystal
        self.epoch = 0
        # the course trainer asks for targets; self-supervised training has none
        self.targets = torch.zeros(len(graphs), 1)

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i: int):
        g = self.graphs[i]
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        views = [mask_edges(mask_atoms(g, self.atom_mask, rng), self.edge_mask, rng) for _ in range(2)]
        pairs, counts = _sample_pairs(g, rng, self.pairs_per_crystal)
        return {"graph": g, "view1": views[0], "view2": views[1], "pairs": pairs, "pair_counts": counts}

    @property
    def max_neighbors(self) -> int:
        return int(self.graphs[0].neighbor_index.shape[1])


def collate_pretrain(items: Sequence[Mapping]) -> PretrainBatch:
    """Batch :class:`PretrainDataset` items into a :class:`PretrainBatch` (a DataLoader ``collate_fn``)."""
    if len(items) == 0:
        raise ValueError("cannot collate an empty list of crystals")
    offsets = np.cumsum([0] + [it["graph"].n_atoms for it in items[:-1]])
    pairs = torch.cat([torch.as_tensor(it["pairs"]) + int(o) for it, o in zip(items, offsets)])
    return PretrainBatch(
        graph=collate_graphs([it["graph"] for it in items]),
        view1=collate_graphs([it["view1"] for it in items]),
        view2=collate_graphs([it["view2"] for it in items]),
        pairs=pairs.reshape(-1, 2),
        pair_counts=torch.cat([torch.as_tensor(it["pair_counts"]) for it in items]).long(),
        target=torch.zeros(len(items), 1),
    )


# ============================================================================================
# The model
# ============================================================================================
class CrysAtom(nn.Module):
    """CGCNN encoder with feature and connectivity decoders, trained by the CrysAtom losses.

    Parameters
    ----------
    atom_feature_dim
        Length of the input atom features (92 for the CGCNN features).
    edge_feature_dim
        Gaussians per edge (41 for radius 8 angstrom, step 0.2).
    max_neighbors
        ``M`` of the graphs; the connectivity decoder predicts ``M + 1`` classes (0..M edges).
    dim
        Latent (atom vector) length (paper: 200).
    n_conv
        CGCNN convolutions (paper: 5).
    connectivity_hidden
        Outputs of the bilinear map and width of the feed-forward network (default 64).
    connectivity_layers
        Linear layers of that network (default 2).
    weights
        ``(w_FR, w_CR, w_BT)`` (paper: 0.25, 0.25, 0.5).
    lambd
        Barlow Twins off-diagonal weight (0.0051).
    connectivity
        ``"normalized"`` (default): the connectivity decoder sees L2-normalised atom vectors
        :math:`\\hat h_i = h_i / \\lVert h_i \\rVert` and the bilinear outputs go straight into the
        feed-forward network (no squashing activation), as in the authors' code. ``"sigmoid"``:
        raw :math:`h_i` and a sigmoid after the bilinear map, the reading of the paper's text;
        kept to show why it fails: with the encoder's positive, large latent vectors the sigmoid
        saturates, its derivative is ~0 and the connectivity loss sends no gradient.
    max_count
        Edge counts above it are merged into one class, ``min(n_ij, max_count)``; classes
        ``0..max_count`` (default None: ``max_neighbors``, no merging; the authors' code: 5).
    feature_loss
        ``"mse"`` (default): mean squared error of the reconstructed features. ``"bce"``: binary
        cross-entropy with logits, as in the authors' code (needs features in [0, 1], e.g. the
        one-hot CGCNN features).
    projector
        False (default): Barlow Twins on the pooled ``dim``-vectors. True: on the output of a
        projector, as in the authors' code: softplus, then three linear layers of width
        ``projector_dim`` with softplus between them (``dim -> 128 -> 128 -> 128``), then each
        crystal vector L2-normalised; the loss then standardises each dimension over the batch
        (batch normalisation without learned scale).
    projector_dim
        Width of the projector (authors' code: 128).

    Notes
    -----
    ``classification = True`` tells the course :class:`~course_lib.training.Trainer` to choose
    the best epoch by the validation *loss* (here: the total CrysAtom loss) and to label the
    second metric "accuracy" (here: of the connectivity decoder).
    """

    classification = True

    def __init__(self, atom_feature_dim: int = 92, edge_feature_dim: int = 41, max_neighbors: int = 12,
                 dim: int = 200, n_conv: int = 5, connectivity_hidden: int = 64, connectivity_layers: int = 2,
                 weights: Sequence[float] = (0.25, 0.25, 0.5), lambd: float = 0.0051,
                 connectivity: str = "normalized", max_count: int | None = None, feature_loss: str = "mse",
                 projector: bool = False, projector_dim: int = 128) -> None:
        super().__init__()
        max_count = max_neighbors if max_count is None else max_count
        for name, value in [("atom_feature_dim", atom_feature_dim), ("edge_feature_dim", edge_feature_dim),
                            ("max_neighbors", max_neighbors), ("dim", dim), ("n_conv", n_conv),
                            ("connectivity_hidden", connectivity_hidden),
                            ("connectivity_layers", connectivity_layers), ("max_count", max_count),
                            ("projector_dim", projector_dim)]:
            if isinstance(value, bool) or not (isinstance(value, (int, np.integer)) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if connectivity not in ("normalized", "sigmoid"):
            raise ValueError(f"connectivity must be 'normalized' (the authors' code) or 'sigmoid' (the paper's "
                             f"text, saturates), got {connectivity!r}")
        if feature_loss not in ("mse", "bce"):
            raise ValueError(f"feature_loss must be 'mse' or 'bce' (binary cross-entropy with logits, the "
                             f"authors' code), got {feature_loss!r}")
        weights = tuple(float(w) for w in weights)
        if len(weights) != 3 or any(w < 0 for w in weights) or sum(weights) == 0:
            raise ValueError(f"weights must be three non-negative numbers (feature, connectivity, Barlow "
                             f"Twins), not all zero; got {weights}")
        if lambd < 0:
            raise ValueError(f"lambd must be non-negative, got {lambd}")
        self.hparams = dict(atom_feature_dim=int(atom_feature_dim), edge_feature_dim=int(edge_feature_dim),
                            max_neighbors=int(max_neighbors), dim=int(dim), n_conv=int(n_conv),
                            connectivity_hidden=int(connectivity_hidden),
                            connectivity_layers=int(connectivity_layers), weights=weights, lambd=float(lambd),
                            connectivity=connectivity, max_count=int(min(max_count, max_neighbors)),
                            feature_loss=feature_loss, projector=bool(projector), projector_dim=int(projector_dim))
        self.weights, self.lambd = weights, float(lambd)
        self.connectivity, self.feature_loss = connectivity, feature_loss
        self.max_count = self.hparams["max_count"]
        # encoder (paper Eq. 1): same layers and names as course_lib.cgcnn.CGCNN
        self.embedding = nn.Linear(atom_feature_dim, dim)
        self.convs = nn.ModuleList([ConvLayer(dim, edge_feature_dim) for _ in range(n_conv)])
        # feature decoder (Eqs. 2-3)
        self.feature_decoder = nn.Linear(dim, atom_feature_dim)
        # connectivity decoder (Eqs. 4-5): bilinear map, then an FFN to max_count + 1 logits
        self.bilinear = nn.Bilinear(dim, dim, connectivity_hidden)
        layers: list[nn.Module] = []
        for _ in range(connectivity_layers - 1):
            layers += [nn.Linear(connectivity_hidden, connectivity_hidden), nn.Softplus()]
        layers.append(nn.Linear(connectivity_hidden, self.max_count + 1))
        self.connectivity_ffn = nn.Sequential(*layers)
        # optional projector before Barlow Twins (authors' code)
        self.projector = None
        if projector:
            self.projector = nn.Sequential(nn.Softplus(), nn.Linear(dim, projector_dim), nn.Softplus(),
                                           nn.Linear(projector_dim, projector_dim), nn.Softplus(),
                                           nn.Linear(projector_dim, projector_dim))

    def encode(self, batch: GraphBatch) -> torch.Tensor:
        """Latent atom vectors ``(N, dim)`` (paper Eq. 1)."""
        h = self.embedding(batch.atom_features)
        for conv in self.convs:
            h = conv(h, batch.edge_features, batch.neighbor_index)
        return h

    def connectivity_logits(self, h: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """``(P, max_count + 1)`` logits of the number of edges of each pair of atoms (rows of ``h``)."""
        if self.connectivity == "sigmoid":
            return self.connectivity_ffn(torch.sigmoid(self._bilinear(h, pairs)))
        return self.connectivity_ffn(self._bilinear(nn.functional.normalize(h, dim=1), pairs))

    def crystal_vectors(self, batch: GraphBatch) -> torch.Tensor:
        """``(B, dim)`` mean-pooled encodings, or ``(B, projector_dim)`` through the projector (for Barlow Twins)."""
        z = CGCNN.pool(self.encode(batch), batch.graph_index, batch.n_graphs)
        if self.projector is not None:
            z = nn.functional.normalize(self.projector(z), dim=1)
        return z

    def _feature_loss(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        pred = self.feature_decoder(h).float()
        if self.feature_loss == "mse":
            return nn.functional.mse_loss(pred, x.float())
        if x.min() < 0 or x.max() > 1:
            raise ValueError("feature_loss='bce' needs atom features in [0, 1] (e.g. the one-hot CGCNN features); "
                             "use feature_loss='mse' for these features")
        return nn.functional.binary_cross_entropy_with_logits(pred, x.float())

    def _bilinear(self, h: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """``h_i^T W_k h_j + b_k`` for every pair, with the weights of ``self.bilinear``.

        The same value as ``self.bilinear(h[i], h[j])``, computed as one matrix product
        ``h_i^T [W_1 ... W_H]`` followed by a batched dot product with ``h_j``; torch's own
        bilinear layer is more than 10x slower on a CPU, mostly in its backward pass.
        """
        weight, bias = self.bilinear.weight, self.bilinear.bias  # (H, D, D), (H,)
        n_out, dim = weight.shape[0], weight.shape[1]
        stacked = weight.permute(1, 0, 2).reshape(dim, n_out * dim)  # column block k is W_k
        left = h[pairs[:, 0]] @ stacked
        right = h[pairs[:, 1]]
        return torch.bmm(left.view(-1, n_out, dim), right.unsqueeze(2)).squeeze(2) + bias

    def forward(self, batch: PretrainBatch) -> dict[str, torch.Tensor]:
        """The losses of one batch: ``loss`` (weighted total), ``feature``, ``connectivity``,
        ``barlow_twins`` (0 for a batch of one crystal, which cannot be normalised), and
        ``n_correct`` (edge counts predicted exactly; no gradient)."""
        g = batch.graph
        h = self.encode(g)
        feature = self._feature_loss(h, g.atom_features)
        logits = self.connectivity_logits(h, batch.pairs).float()
        labels = batch.pair_counts.clamp(max=self.max_count)
        connectivity = nn.functional.cross_entropy(logits, labels)
        if g.n_graphs >= 2:
            z1, z2 = self.crystal_vectors(batch.view1), self.crystal_vectors(batch.view2)
            bt = barlow_twins_loss(z1.float(), z2.float(), self.lambd)
        else:
            bt = feature.new_zeros(())
        w_fr, w_cr, w_bt = self.weights
        total = w_fr * feature + w_cr * connectivity + w_bt * bt
        n_correct = (logits.detach().argmax(1) == labels).sum()
        return {"loss": total, "feature": feature, "connectivity": connectivity, "barlow_twins": bt,
                "n_correct": n_correct, "n_pairs": torch.tensor(len(batch.pair_counts))}

    def encoder_state_dict(self) -> dict:
        """Weights of the encoder (``embedding.*``, ``convs.*``), loadable into a CGCNN of width ``dim``."""
        return {k: v for k, v in self.state_dict().items() if k.startswith(("embedding.", "convs."))}

    def __repr__(self) -> str:
        p = self.hparams
        n = sum(q.numel() for q in self.parameters())
        return (f"CrysAtom({p['atom_feature_dim']} atom / {p['edge_feature_dim']} edge features, {p['n_conv']} "
                f"convolutions of width {p['dim']}, {p['max_count'] + 1} edge-count classes; {n:,} parameters)")


# ============================================================================================
# Training on the course trainer
# ============================================================================================
class _TermsHistory(History):
    """A History that merges the loss terms of the epoch into the trainer's record."""

    pending: dict | None = None

    def append(self, record: dict) -> None:
        if self.pending:
            record = {**record, **self.pending}
            self.pending = None
        super().append(record)


class CrysAtomTrainer(Trainer):
    """The course :class:`~course_lib.training.Trainer` with the CrysAtom losses.

    Everything but the loss is the course trainer's: the seeded split, Adam/SGD and schedules,
    a checkpoint after every epoch with exact resumption, CUDA and mixed precision, the progress
    bar, several processes under ``torchrun``. The dataset must be a :class:`PretrainDataset`,
    the model a :class:`CrysAtom`. History columns: ``train_loss``/``val_loss`` (total CrysAtom
    loss), ``train_accuracy``/``val_accuracy`` (connectivity decoder), and the terms
    ``train_feature``, ``train_connectivity``, ``train_barlow_twins`` and their ``val_`` twins.
    """

    def __init__(self, model: CrysAtom, dataset: PretrainDataset, config=None, **overrides) -> None:
        if not isinstance(dataset, PretrainDataset):
            raise TypeError(f"CrysAtomTrainer needs a PretrainDataset, got {type(dataset).__name__}")
        if not isinstance(model, CrysAtom):
            raise TypeError(f"CrysAtomTrainer needs a CrysAtom model, got {type(model).__name__}")
        overrides.setdefault("collate_fn", collate_pretrain)
        super().__init__(model, dataset, config, **overrides)
        self._last_train: dict | None = None

    def fit(self):
        """Train (see :meth:`course_lib.training.Trainer.fit`); the history also gets the loss terms."""
        self.history = _TermsHistory(list(self.history.records))
        return super().fit()

    def _pretrain_loader(self, which: int, train: bool, epoch: int):
        # the augmentations (masks) are drawn from (seed, epoch, index): set the epoch, then load
        # exactly as the course trainer does (same shuffling, samplers and batch-size rule)
        self.dataset.epoch = epoch if train else 0
        return self._loader(which, train, epoch)

    def _reduce(self, values: list[float]) -> list[float]:
        if self.world_size == 1:
            return values
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t)
        return t.tolist()

    def _run(self, loader, train: bool) -> dict:
        sums = dict(loss=0.0, feature=0.0, connectivity=0.0, barlow_twins=0.0)
        n_graphs = correct = pairs = 0.0
        model = self.ddp_model if train else self.model
        for batch in loader:
            batch = batch.to(self.device, non_blocking=train)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                out = model(batch)
            if train:
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(out["loss"]).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            b = batch.n_graphs
            for k in sums:
                sums[k] += float(out[k].detach()) * b
            n_graphs += b
            correct += float(out["n_correct"])
            pairs += float(out["n_pairs"])
        values = self._reduce([*sums.values(), n_graphs, correct, pairs])
        n_graphs, correct, pairs = values[-3:]
        res = {k: v / max(n_graphs, 1) for k, v in zip(sums, values[:4])}
        res["accuracy"] = correct / max(pairs, 1)
        return res

    def train_one_epoch(self, epoch: int) -> tuple[float, float]:
        """One pass over the training crystals; returns (mean total loss, connectivity accuracy)."""
        self.ddp_model.train()
        res = self._run(self._pretrain_loader(0, True, epoch), train=True)
        if self.world_size > 1:
            import torch.distributed as dist

            for b in self.model.buffers():  # every process evaluates with process 0's statistics
                dist.broadcast(b.data, 0)
        self._last_train = res
        return res["loss"], res["accuracy"]

    @torch.no_grad()
    def evaluate(self, split: str = "val") -> dict:
        """Mean losses and connectivity accuracy on ``"train"``, ``"val"`` or ``"test"`` (views of epoch 0)."""
        which = {"train": 0, "val": 1, "test": 2}[split]
        if len(self.split[which]) == 0:
            return {"loss": math.nan, "accuracy": math.nan, "feature": math.nan, "connectivity": math.nan,
                    "barlow_twins": math.nan}
        self.model.eval()
        res = self._run(self._pretrain_loader(which, False, 0), train=False)
        if split == "val" and self._last_train is not None and isinstance(self.history, _TermsHistory):
            self.history.pending = {**{f"train_{k}": v for k, v in self._last_train.items() if k not in ("loss", "accuracy")},
                                    **{f"val_{k}": v for k, v in res.items() if k not in ("loss", "accuracy")}}
            self._last_train = None
        return res


# ============================================================================================
# Diagnostics: does every loss term train the encoder?
# ============================================================================================
def loss_term_gradients(model: CrysAtom, batch: PretrainBatch) -> dict[str, float]:
    """Norm of the gradient of each loss term with respect to the encoder's weights.

    For each term ``feature``, ``connectivity`` and ``barlow_twins`` of ``model(batch)``, the
    Euclidean norm of :math:`\\partial \\mathcal{L}_\\mathrm{term} / \\partial \\theta` over every
    weight :math:`\\theta` of the encoder (``embedding``, ``convs``), unweighted. A term whose norm
    is ~0 trains only its own decoder, not the atom vectors (e.g. ``connectivity="sigmoid"`` once
    the sigmoid saturates). The model's mode (train/eval) is used as it is; no weight changes.

    Returns
    -------
    dict
        ``{term: gradient norm}``.
    """
    params = [p for name, p in model.named_parameters() if name.startswith(("embedding.", "convs."))]
    out = model(batch)
    norms = {}
    for term in ("feature", "connectivity", "barlow_twins"):
        if not out[term].requires_grad:
            norms[term] = 0.0
            continue
        grads = torch.autograd.grad(out[term], params, retain_graph=True, allow_unused=True)
        norms[term] = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads if g is not None)))
    return norms


def majority_class_rate(dataset: PretrainDataset, indices=None, max_count: int | None = None) -> float:
    """Accuracy of always predicting the most frequent edge count over the pairs of ``dataset``.

    The pairs are those of the validation views (``epoch`` 0) of the crystals ``indices`` (default
    all), the counts merged above ``max_count`` as in :class:`CrysAtom`. A connectivity decoder
    whose accuracy stays at this rate has learnt nothing about the structure.
    """
    epoch, dataset.epoch = dataset.epoch, 0
    try:
        counts = np.concatenate([dataset[int(i)]["pair_counts"] for i in
                                 (range(len(dataset)) if indices is None else indices)])
    finally:
        dataset.epoch = epoch
    if max_count is not None:
        counts = np.minimum(counts, max_count)
    return float(np.bincount(counts).max() / len(counts))


# ============================================================================================
# Element vectors
# ============================================================================================
@torch.no_grad()
def element_vectors(model: CrysAtom, dataset, batch_size: int = 256, device=None,
                    name: str = "crysatom", progress: bool = False):
    """Per-element CrysAtom vectors: the mean latent vector of every atom of each element.

    .. math::

        v_e = \\frac{1}{|\\{i : Z_i = e\\}|} \\sum_{i : Z_i = e} h_i,

    the sum running over every atom of every crystal of ``dataset``, encoded (unmasked, model in
    evaluation mode) by ``model``.

    Parameters
    ----------
    model
        A trained :class:`CrysAtom` (or anything with ``encode(GraphBatch) -> (N, dim)``).
    dataset
        A :class:`~course_lib.graphs.CrystalGraphDataset`, a :class:`PretrainDataset` or a
        sequence of :class:`~course_lib.graphs.CrystalGraph`.
    batch_size
        Crystals per forward pass.
    device
        Torch device; default: the model's.
    name
        Name of the returned embedding.

    Returns
    -------
    ~course_lib.embeddings.ElementEmbedding
        One vector per element present, ordered by atomic number; the description gives the
        number of atoms averaged.
    """
    from tqdm.auto import tqdm

    from .embeddings import ElementEmbedding

    graphs = list(dataset.graphs if hasattr(dataset, "graphs") else dataset)
    if not graphs:
        raise ValueError("element_vectors needs at least one crystal graph")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for start in tqdm(range(0, len(graphs), batch_size), desc="Element vectors", disable=not progress):
        chunk = graphs[start:start + batch_size]
        h = model.encode(collate_graphs(chunk).to(device)).double().cpu()
        species = [s for g in chunk for s in g.species]
        if len(species) != h.shape[0]:
            raise ValueError("graphs without species labels cannot give element vectors; build them with "
                             "course_lib.graphs.build_crystal_graph")
        codes = {s: k for k, s in enumerate(sorted(set(species)))}
        index = torch.as_tensor([codes[s] for s in species])
        total = torch.zeros(len(codes), h.shape[1], dtype=torch.float64).index_add_(0, index, h)
        for s, k in codes.items():
            sums[s] = sums.get(s, 0) + total[k]
            counts[s] = counts.get(s, 0) + int((index == k).sum())
    model.train(was_training)
    vectors = {s: (sums[s] / counts[s]).numpy() for s in sums}
    n_atoms = sum(counts.values())
    return ElementEmbedding.from_mapping(
        name, vectors, citation=CRYSATOM_CITATION,
        description=(f"CrysAtom vectors: mean latent vector of {n_atoms:,} atoms of {len(graphs):,} crystals "
                     f"({len(vectors)} elements, dim={next(iter(vectors.values())).shape[0]})"),
    )


def train_crysatom(
    structures,
    dim: int = 200,
    epochs: int = 110,
    *,
    n_conv: int = 5,
    batch_size: int = 128,
    lr: float = 1e-3,
    weights: Sequence[float] = (0.25, 0.25, 0.5),
    lambd: float = 0.0051,
    atom_mask: float = 0.1,
    edge_mask: float = 0.1,
    connectivity_hidden: int = 64,
    connectivity_layers: int = 2,
    pairs_per_crystal: int | None = 32,
    connectivity: str = "normalized",
    max_count: int | None = None,
    feature_loss: str = "mse",
    projector: bool = False,
    radius: float = 8.0,
    max_neighbors: int = 12,
    gaussian_step: float = 0.2,
    atom_features: Any = "cgcnn",
    val_fraction: float = 0.1,
    seed: int = 0,
    device: str | None = None,
    amp: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
    n_jobs: int = 1,
    num_workers: int = 0,
    name: str = "crysatom",
    return_trainer: bool = False,
    **trainer_options,
):
    """Train CrysAtom on unlabelled crystals and return its per-element vectors.

    Builds the crystal graphs, trains a :class:`CrysAtom` model with :class:`CrysAtomTrainer`
    (the course trainer: checkpoint after every epoch and resume, CUDA when present, progress
    bar), keeps the weights of the epoch with the lowest validation loss and averages the
    latent vectors of every atom of every crystal per element (:func:`element_vectors`).

    Parameters
    ----------
    structures
        pymatgen/ASE structures (e.g. ``df["structure"]``) or a prebuilt
        :class:`~course_lib.graphs.CrystalGraphDataset`. No targets are used.
    dim
        Length of the atom vectors (paper: 200; its ablation also used 50 and 100).
    epochs
        Training epochs (paper: 110).
    n_conv
        CGCNN convolutions of the encoder (paper: 5).
    batch_size, lr
        Adam settings (paper: 128 and 0.03; our default learning rate is 1e-3, because 0.03
        diverged in our tests -- see the module docstring).
    weights
        Loss weights (feature, connectivity, Barlow Twins) (paper: 0.25, 0.25, 0.5).
    lambd
        Barlow Twins off-diagonal weight (0.0051).
    atom_mask, edge_mask
        Masking fractions of each augmented view (paper: 0.1 and 0.1).
    connectivity_hidden, connectivity_layers
        Size of the connectivity decoder (not given in the paper; see :class:`CrysAtom`).
    pairs_per_crystal
        Atom pairs per crystal and epoch for the connectivity loss (:class:`PretrainDataset`).
    connectivity, max_count, feature_loss, projector
        Decoder and Barlow Twins choices (see :class:`CrysAtom`); the authors' code corresponds
        to ``connectivity="normalized", max_count=5, feature_loss="bce", projector=True``.
    radius, max_neighbors, gaussian_step, atom_features
        Graph settings (:func:`~course_lib.graphs.build_crystal_graph`; CGCNN's defaults).
    val_fraction
        Crystals held out to choose the best epoch (0: keep the last epoch).
    seed
        Seed of the weights, the split, the shuffling and the augmentations.
    device, amp, checkpoint_dir, resume, progress, num_workers
        Trainer settings (:class:`~course_lib.training.TrainingConfig`).
    cache_dir, n_jobs
        Graph cache folder and graph-building processes (:class:`~course_lib.graphs.CrystalGraphDataset`).
    name
        Name of the returned embedding.
    return_trainer
        Also return the :class:`CrysAtomTrainer` (its ``model``, ``history`` and ``terms``).
    **trainer_options
        Other :class:`~course_lib.training.TrainingConfig` fields (``weight_decay``,
        ``scheduler``, ``patience``, ...).

    Returns
    -------
    ~course_lib.embeddings.ElementEmbedding, or (ElementEmbedding, CrysAtomTrainer)
        Vectors of every element in ``structures``; citation: the CrysAtom paper. With a
        ``checkpoint_dir`` the model and vectors are also written to ``crysatom.pt`` there.
    """
    if isinstance(structures, CrystalGraphDataset):
        graphs_ds = structures
    else:
        structures = list(structures)
        if len(structures) < 2:
            raise ValueError(f"train_crysatom needs at least 2 structures (the Barlow Twins loss normalises "
                             f"over a batch), got {len(structures)}")
        graphs_ds = CrystalGraphDataset(structures, radius=radius, max_neighbors=max_neighbors,
                                        gaussian_step=gaussian_step, atom_features=atom_features,
                                        cache_dir=cache_dir, n_jobs=n_jobs, progress=progress)
    data = PretrainDataset(graphs_ds, atom_mask=atom_mask, edge_mask=edge_mask, seed=seed,
                           pairs_per_crystal=pairs_per_crystal)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CrysAtom(graphs_ds.atom_feature_dim, graphs_ds.edge_feature_dim, data.max_neighbors, dim=dim,
                         n_conv=n_conv, connectivity_hidden=connectivity_hidden,
                         connectivity_layers=connectivity_layers, weights=weights, lambd=lambd,
                         connectivity=connectivity, max_count=max_count, feature_loss=feature_loss,
                         projector=projector)
    options = dict(epochs=epochs, batch_size=batch_size, lr=lr, optimizer="adam", val_fraction=val_fraction,
                   test_fraction=0.0, seed=seed, device=device, amp=amp, checkpoint_dir=checkpoint_dir,
                   resume=resume, progress=progress, num_workers=num_workers, restore_best=val_fraction > 0)
    options.update(trainer_options)
    trainer = CrysAtomTrainer(model, data, **options)
    trainer.fit()
    emb = element_vectors(trainer.model, graphs_ds, device=trainer.device, name=name)
    emb = type(emb)(emb.name, emb.symbols, emb.matrix, emb.citation,
                    emb.description + f"; trained {trainer.epoch} epochs, best epoch "
                    f"{trainer.history.best_epoch}, seed {seed}")
    if checkpoint_dir is not None and trainer.is_main:
        torch.save({"format": "course_lib.crysatom", "hparams": model.hparams,
                    "state_dict": trainer.model.state_dict(), "graph_settings": graphs_ds.settings,
                    "symbols": list(emb.symbols), "vectors": torch.as_tensor(np.array(emb.matrix))},
                   Path(checkpoint_dir) / "crysatom.pt")
    return (emb, trainer) if return_trainer else emb


# ============================================================================================
# Downstream comparison of atom features (the paper's Table 7)
# ============================================================================================
#: Names understood by :func:`compare_atom_features`: name -> what it is.
ATOM_FEATURE_SETS = {
    "one_hot": "118-d one-hot vector of the atomic number (ElementEmbeddings 'atomic')",
    "cgcnn92": "the 92 CGCNN atom features (Xie & Grossman 2018)",
    "random": "random_dim-d vectors drawn from N(0, 1) per element, redrawn for every seed",
    "magpie": "the 22 Magpie properties, standardised (ElementEmbeddings 'magpie_sc')",
    "atom2vec": "Atom2Vec SVD vectors computed from the dataset's compositions",
    "skipatom": "the published 200-d SkipAtom vectors (induced, Materials Project 2020-10-09)",
    "crysatom": "CrysAtom vectors trained here on the dataset's structures (no targets used)",
}


class _GraphSet(torch.utils.data.Dataset):
    """Prebuilt graphs with targets (the map-style dataset the trainer expects)."""

    def __init__(self, graphs, targets, settings):
        self.graphs, self.targets, self.settings = graphs, targets, settings

    def __len__(self):
        return len(self.graphs)

    def __getitem__(self, i):
        return self.graphs[i], self.targets[i]

    @property
    def atom_feature_dim(self):
        return int(self.graphs[0].atom_features.shape[1])

    @property
    def edge_feature_dim(self):
        return int(self.graphs[0].edge_features.shape[2])


def _resolve_feature(label: str, spec, structures, seed: int, graph_settings: dict, random_dim: int,
                     atom2vec_options: Mapping, crysatom_options: Mapping, progress: bool) -> dict[str, np.ndarray]:
    """``{symbol: vector}`` of one feature set (see :data:`ATOM_FEATURE_SETS`)."""
    from .graphs import resolve_atom_features

    if not isinstance(spec, str):
        return resolve_atom_features(spec)[1]
    if spec == "one_hot":
        return resolve_atom_features("atomic")[1]
    if spec == "cgcnn92":
        return resolve_atom_features("cgcnn")[1]
    if spec == "magpie":
        return resolve_atom_features("magpie_sc")[1]
    if spec == "skipatom":
        return resolve_atom_features("skipatom")[1]
    if spec == "random":
        from .elements import SYMBOLS

        rng = np.random.default_rng([int(seed), 118])
        return {s: v for s, v in zip(SYMBOLS, rng.standard_normal((len(SYMBOLS), random_dim)))}
    if spec == "atom2vec":
        from .embeddings import atom2vec

        comps = [s.composition.get_el_amt_dict() for s in structures]
        n_el = len({e for c in comps for e in c})
        options = {"dim": min(20, n_el - 1), **atom2vec_options}
        return resolve_atom_features(atom2vec(comps, **options))[1]
    if spec == "crysatom":
        options = {"progress": progress, **{k: v for k, v in graph_settings.items() if k != "atom_features"},
                   **crysatom_options}
        return resolve_atom_features(train_crysatom(structures, **options))[1]
    if spec in ("atomic", "cgcnn") or spec in _embedding_names():
        return resolve_atom_features(spec)[1]
    raise ValueError(f"unknown atom feature set {label!r}: use one of {sorted(ATOM_FEATURE_SETS)}, a name of "
                     f"course_lib.embeddings.load_embedding, an ElementEmbedding or a mapping {{symbol: vector}}")


def _embedding_names():
    from .embeddings import available_embeddings

    return available_embeddings()


def compare_atom_features(
    dataset,
    target: str | None = None,
    features=("one_hot", "cgcnn92", "random", "magpie", "atom2vec", "skipatom", "crysatom"),
    *,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    splits=None,
    model_options: Mapping | None = None,
    trainer_options: Mapping | None = None,
    radius: float = 8.0,
    max_neighbors: int = 12,
    gaussian_step: float = 0.2,
    random_dim: int = 200,
    atom2vec_options: Mapping | None = None,
    crysatom_options: Mapping | None = None,
    device: str | None = None,
    progress: bool = True,
    return_runs: bool = False,
):
    """Train the same downstream CGCNN with each fixed atom-feature set; tabulate test MAEs.

    The CrysAtom paper's Table 7 as a tool: for every feature set and every seed, a
    :class:`~course_lib.cgcnn.CGCNN` (same architecture, weights seeded with
    ``torch.manual_seed(seed)``) is trained by the course :class:`~course_lib.training.Trainer`
    on the same crystal graphs -- only the atom (node) input features differ -- with the split
    :func:`~course_lib.training.split_indices` ``(n, val_fraction, test_fraction, seed)``, which
    is therefore identical for every feature set of a seed. The test MAE is measured with the
    weights of the best validation epoch. Structures with an element that some feature set lacks
    are dropped for all of them (with a warning), so every row sees the same crystals.

    Parameters
    ----------
    dataset
        A DataFrame with a ``structure`` column and the ``target`` column, or a pair
        ``(structures, targets)``.
    target
        Name of the target column (e.g. ``"n"`` for matbench_dielectric).
    features
        Names from :data:`ATOM_FEATURE_SETS` (``"one_hot"``, ``"cgcnn92"``, ``"random"``,
        ``"magpie"``, ``"atom2vec"``, ``"skipatom"``, ``"crysatom"``), any
        :func:`~course_lib.embeddings.load_embedding` name, or a mapping ``{label: feature}``
        whose values are such names, :class:`~course_lib.embeddings.ElementEmbedding` objects
        (e.g. one trained in chapter 2) or ``{symbol: vector}`` mappings. ``"atom2vec"`` and
        ``"crysatom"`` are trained once on *all* the (filtered) structures of ``dataset``, test
        crystals included -- no targets are used, and every element of the test set needs a
        vector.
    seeds
        One training per seed and feature set.
    epochs, batch_size, lr, val_fraction, test_fraction
        Trainer settings (Adam).
    splits
        None: a random split by ``val_fraction`` / ``test_fraction`` per seed. Otherwise explicit
        ``(train, val, test)`` indices into the rows of ``dataset``: one such triple for every
        seed, or a function ``seed -> (train, val, test)`` -- e.g. a fixed test set with a small
        training set drawn per seed (a low-data experiment). Rows left out because an element
        lacks a vector (see above) are taken out of the split too.
    model_options
        Keyword arguments of :class:`~course_lib.cgcnn.CGCNN` (``atom_fea_len``, ``n_conv``,
        ``h_fea_len``, ``n_h``).
    trainer_options
        Other :class:`~course_lib.training.TrainingConfig` fields.
    radius, max_neighbors, gaussian_step
        Graph settings (built once, shared by every feature set).
    random_dim
        Length of the random vectors (paper: 200).
    atom2vec_options, crysatom_options
        Keyword arguments of :func:`~course_lib.embeddings.atom2vec` (default ``dim`` = 20, or
        fewer than the number of elements) and :func:`train_crysatom` (default: the paper's
        settings, which are slow on a CPU).
    device
        Torch device (default: CUDA when present).
    progress
        Progress bar over the trainings.
    return_runs
        Also return the per-run table.

    Returns
    -------
    pandas.DataFrame, or (DataFrame, DataFrame)
        Table indexed by feature label, in the order given, with columns ``dim``,
        ``test_mae_mean``, ``test_mae_std`` (sample standard deviation over seeds; NaN for one
        seed), ``n_seeds`` and ``test_mae_seed<s>`` per seed, in the units of the target;
        ``attrs`` holds ``target``, ``n_structures`` and ``n_dropped``. The runs table has one row
        per (feature, seed): ``feature``, ``seed``, ``test_mae``, ``val_mae``, ``best_epoch``,
        ``epochs_trained``, ``n_train``, ``n_val``, ``n_test``, ``split_hash`` (a hash of the
        three index arrays) and ``seconds``.
    """
    import time

    import pandas as pd
    from tqdm.auto import tqdm

    # ---- data
    if isinstance(dataset, pd.DataFrame):
        if "structure" not in dataset.columns:
            raise ValueError("the DataFrame needs a 'structure' column of pymatgen structures")
        numeric = [c for c in dataset.columns if c != "structure" and pd.api.types.is_numeric_dtype(dataset[c])]
        if target is None or target not in dataset.columns:
            raise ValueError(f"target={target!r} is not a column of the DataFrame; choose one of {numeric}")
        structures, targets = list(dataset["structure"]), np.asarray(dataset[target], dtype=float)
    elif isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        structures, targets = list(dataset[0]), np.asarray(dataset[1], dtype=float)
        target = target or "target"
    else:
        raise TypeError("dataset must be a DataFrame with a 'structure' column or a pair (structures, targets)")
    if len(structures) != len(targets):
        raise ValueError(f"{len(structures)} structures but {len(targets)} targets")
    if isinstance(features, str):
        features = (features,)
    specs = dict(features) if isinstance(features, Mapping) else {str(f): f for f in features}
    if not specs:
        raise ValueError("features is empty: give at least one atom-feature set")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    graph_settings = {"radius": float(radius), "max_neighbors": int(max_neighbors),
                      "gaussian_step": float(gaussian_step)}

    # ---- feature tables (random: one per seed); structures every table covers
    species = [{site.specie.symbol for site in s} for s in structures]
    static, per_seed = {}, {}
    covered = None
    for label, spec in specs.items():
        if isinstance(spec, str) and spec == "random":
            per_seed[label] = spec
            continue
        # atom2vec / crysatom see the structures before filtering by the other tables
        table = _resolve_feature(label, spec, structures, 0, graph_settings, random_dim,
                                 atom2vec_options or {}, crysatom_options or {}, progress)
        static[label] = table
        covered = set(table) if covered is None else covered & set(table)
    keep = [i for i, sp in enumerate(species) if covered is None or sp <= covered]
    n_dropped = len(structures) - len(keep)
    if n_dropped:
        warnings.warn(f"{n_dropped} of {len(structures)} structures contain an element missing from one of "
                      f"the feature sets and are left out for all of them", stacklevel=2)
    if len(keep) < 3:
        raise ValueError(f"only {len(keep)} structures are covered by every feature set; drop a feature set "
                         "with few elements or use more data")
    n_given = len(structures)
    structures = [structures[i] for i in keep]
    targets = targets[keep]
    new_index = np.full(n_given, -1, dtype=np.int64)
    new_index[keep] = np.arange(len(keep))

    def split_for(seed):
        if splits is None:
            return None
        # checked as the Trainer checks a split (three disjoint index arrays), then mapped to the kept rows
        try:
            parts = _check_split(splits(seed) if callable(splits) else splits)
        except ValueError as err:
            raise ValueError(f"splits (seed {seed}): {err}") from None
        mapped = []
        for part in parts:
            part = np.asarray(part, dtype=np.int64)
            if part.size and part.max() >= n_given:
                raise ValueError(f"splits has an index outside the {n_given} rows of dataset")
            mapped.append(new_index[part][new_index[part] >= 0])
        return tuple(mapped)
    elements = sorted(set().union(*[species[i] for i in keep]))
    base = CrystalGraphDataset(structures, targets, atom_features={s: [0.0] for s in elements},
                               progress=progress, **graph_settings)

    def graphs_with(table):
        return [_replace(g, atom_features=torch.as_tensor(np.stack([table[s] for s in g.species]),
                                                           dtype=torch.float32)) for g in base.graphs]

    # ---- trainings
    runs = []
    model_options = dict(model_options or {})
    bar = tqdm(total=len(specs) * len(seeds), desc="Atom features", disable=not progress)
    for label, spec in specs.items():
        shared = _GraphSet(graphs_with(static[label]), base.targets, {**graph_settings, "atom_features": label}) \
            if label in static else None
        for seed in seeds:
            ds = shared
            if ds is None:
                table = _resolve_feature(label, spec, structures, seed, graph_settings, random_dim, {}, {}, False)
                ds = _GraphSet(graphs_with(table), base.targets, {**graph_settings, "atom_features": label})
            start = time.perf_counter()
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = CGCNN(ds.atom_feature_dim, ds.edge_feature_dim, graph_settings=ds.settings, **model_options)
                trainer = Trainer(model, ds, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                  val_fraction=val_fraction, test_fraction=test_fraction,
                                  split=split_for(seed), device=device,
                                  progress=False, **dict(trainer_options or {}))
                trainer.fit()
            digest = hashlib.sha256(b"|".join(np.asarray(s, dtype=np.int64).tobytes() for s in trainer.split))
            runs.append({"feature": label, "seed": seed, "dim": ds.atom_feature_dim,
                         "test_mae": float(trainer.test_metrics["mae"]),
                         "val_mae": float(min(trainer.history["val_mae"])) if len(trainer.split[1]) else math.nan,
                         "best_epoch": trainer.history.best_epoch, "epochs_trained": trainer.epoch,
                         "n_train": len(trainer.split[0]), "n_val": len(trainer.split[1]),
                         "n_test": len(trainer.split[2]), "split_hash": digest.hexdigest()[:16],
                         "seconds": time.perf_counter() - start})
            bar.update(1)
    bar.close()
    runs = pd.DataFrame(runs)
    rows = []
    for label in specs:
        r = runs[runs["feature"] == label]
        row = {"feature": label, "dim": int(r["dim"].iloc[0]), "test_mae_mean": r["test_mae"].mean(),
               "test_mae_std": r["test_mae"].std(ddof=1) if len(r) > 1 else math.nan, "n_seeds": len(r)}
        row.update({f"test_mae_seed{s}": v for s, v in zip(r["seed"], r["test_mae"])})
        rows.append(row)
    table = pd.DataFrame(rows).set_index("feature")
    table.attrs.update({"target": target, "n_structures": len(structures), "n_dropped": n_dropped})
    return (table, runs) if return_runs else table
