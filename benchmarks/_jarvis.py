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


def training_device(name: str, amp: bool = False):
    """The ``torch.device`` of a benchmark's ``--device`` (with its ``--amp``), checked.

    Raises
    ------
    ValueError
        Not ``cpu``/``cuda``; ``cuda`` without a GPU; ``amp`` on the CPU (mixed precision is
        float16 autocast with gradient scaling, which course_lib's trainers use on CUDA only and
        ignore on the CPU, so a CPU run with ``--amp`` would time float32 under another name).
    """
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device must be cpu or cuda (or cuda:N), got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was given but PyTorch sees no GPU (torch.cuda.is_available() is False); "
                         "run on a CUDA machine with a CUDA build of torch, or use --device cpu")
    if amp and device.type != "cuda":
        raise ValueError("--amp needs --device cuda: mixed precision is float16 autocast with gradient scaling, "
                         "which course_lib's trainers use on CUDA only (on the CPU they ignore amp); drop --amp on the CPU")
    return device


def device_words(device, amp: bool = False) -> str:
    """``"CPU only"`` or ``"GPU <name> (CUDA <version>)"`` (``", mixed precision"`` with ``amp``), for reports."""
    import torch

    if device.type != "cuda":
        return "CPU only"
    return f"GPU {torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}){', mixed precision' if amp else ''}"


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


def jarvis_structures(n_jobs: int = 2, progress: bool = True, rows=None):
    """``(df, structures)``: the ``jarvis_dft3d_2021`` table and its 55,723 parsed structures.

    Parsing all CIF files takes several minutes, so the structures are pickled once under
    ``$COURSE_CACHE_DIR/benchmarks`` (the file name hashes the CIF paths, their sizes and the
    pymatgen version; written to a temporary name and renamed, so an interrupted write leaves no
    file). Returns the parsing (or loading) time too, as ``(df, structures, seconds, cached)``.

    ``rows`` (row numbers, e.g. from :func:`subset_rows`): when the cache of every structure does
    not exist yet, only these rows are parsed (and cached under a name hashing just their files);
    ``structures`` still has one entry per row of ``df``, ``None`` for the rows not parsed. The
    structures of the rows asked for are the same either way.
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

    def cache_file(chosen) -> Path:
        digest = hashlib.sha256(importlib.metadata.version("pymatgen").encode())
        for i in chosen:
            digest.update(f"{paths[i]}|{os.path.getsize(paths[i])}\n".encode())
        return Path(cache_dir()) / "benchmarks" / f"jarvis-structures-{digest.hexdigest()[:16]}.pkl"

    every = range(len(paths))
    path = cache_file(every)
    start = time.perf_counter()
    if path.exists():
        with open(path, "rb") as fh:
            structures = pickle.load(fh)
        return df, structures, time.perf_counter() - start, True
    chosen = every if rows is None or len(rows) >= len(paths) else [int(i) for i in rows]
    if chosen is not every:
        path = cache_file(chosen)
    structures: list = [None] * len(paths)
    if path.exists():
        with open(path, "rb") as fh:
            for i, s in zip(chosen, pickle.load(fh)):
                structures[i] = s
        return df, structures, time.perf_counter() - start, True
    if progress:
        print(f"parsing {len(chosen):,} CIF files with {n_jobs} process(es); cached afterwards in {path}", flush=True)
    parsed = parse_cifs([paths[i] for i in chosen], n_jobs)
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        pickle.dump(parsed, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    for i, s in zip(chosen, parsed):
        structures[i] = s
    return df, structures, seconds, False
