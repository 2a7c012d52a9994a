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


def subset_rows(n_total: int, n: int | None, seed: int) -> np.ndarray:
    """Sorted row numbers of a seeded random subset of ``n`` of ``n_total`` rows (all rows when ``n``
    is None or not smaller than ``n_total``): the same subset for the same ``(n_total, n, seed)``."""
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


def connected(structures) -> np.ndarray:
    """Boolean mask of the structures without an isolated atom (see :func:`has_isolated_atom`)."""
    return np.array([not has_isolated_atom(s) for s in structures], dtype=bool)


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


def jarvis_structures(n_jobs: int = 2, progress: bool = True):
    """``(df, structures)``: the ``jarvis_dft3d_2021`` table and its 55,723 parsed structures.

    Parsing all CIF files takes several minutes, so the structures are pickled once under
    ``$COURSE_CACHE_DIR/benchmarks`` (the file name hashes the CIF paths, their sizes and the
    pymatgen version; written to a temporary name and renamed, so an interrupted write leaves no
    file). Returns the parsing (or loading) time too, as ``(df, structures, seconds, cached)``.
    """
    import hashlib
    import importlib.metadata
    import os
    import pickle
    import time
    from pathlib import Path

    from course_lib.data import load_dataset
    from course_lib.data._paths import cache_dir

    df = load_dataset("jarvis_dft3d_2021", structures=False, progress=False)
    paths = list(df["cif_path"])
    digest = hashlib.sha256(importlib.metadata.version("pymatgen").encode())
    for p in paths:
        digest.update(f"{p}|{os.path.getsize(p)}\n".encode())
    path = Path(cache_dir()) / "benchmarks" / f"jarvis-structures-{digest.hexdigest()[:16]}.pkl"
    start = time.perf_counter()
    if path.exists():
        with open(path, "rb") as fh:
            structures = pickle.load(fh)
        return df, structures, time.perf_counter() - start, True
    if progress:
        print(f"parsing {len(paths):,} CIF files with {n_jobs} process(es); cached afterwards in {path}", flush=True)
    structures = parse_cifs(paths, n_jobs)
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        pickle.dump(structures, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return df, structures, seconds, False
