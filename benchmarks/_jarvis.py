"""Helpers shared by the JARVIS CGCNN benchmarks (not a benchmark itself)."""

from __future__ import annotations

import warnings

import numpy as np


def parse_cifs(paths, n_jobs: int = 1):
    """pymatgen Structures of the CIF files ``paths``, in order, parsed by ``n_jobs`` processes."""
    from joblib import Parallel, delayed

    if n_jobs == 1:
        return _parse(paths)
    size = max(1, min(200, len(paths) // (4 * n_jobs) or 1))
    parts = Parallel(n_jobs=n_jobs)(delayed(_parse)(paths[i:i + size]) for i in range(0, len(paths), size))
    return [s for part in parts for s in part]


def _parse(paths):
    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [Structure.from_file(p) for p in paths]


def has_isolated_atom(structure, radius: float = 8.0) -> bool:
    """True when some atom has no neighbour (not even its own periodic image) within ``radius``.

    cgcnn2 pads such an atom with neighbour 0 at ``radius + 1`` and warns; course_lib's
    ``build_crystal_graph`` refuses it with an error, so the benchmarks leave these crystals out
    (and count them). A cell whose shortest lattice vector is below ``radius`` cannot have one, so
    only cells with every lattice vector at least ``radius`` long are searched.
    """
    if min(structure.lattice.abc) < radius:
        return False
    centre, _, _, _ = structure.get_neighbor_list(radius)
    return np.unique(centre).size < len(structure)
