"""Featurize many structures at once, with a progress bar and optional parallelism.

:func:`~course_lib.descriptors.featurize` converts every structure once, cuts the list into chunks and hands each chunk
to the descriptor's vectorised batch kernel: the Coulomb matrices of a whole chunk are computed in
one padded numpy pass, and the neighbour pairs of all structures of a chunk go through the ACSF and
SOAP kernels together. This is where most of the speed over a Python loop of single calls comes
from. ``n_jobs > 1`` spreads the chunks over worker processes with joblib.

The results are exactly those of the single-structure functions
(:func:`~course_lib.descriptors.coulomb_matrix`, :func:`~course_lib.descriptors.sine_matrix`,
:func:`~course_lib.descriptors.acsf`, :func:`~course_lib.descriptors.soap`) called one by one, with one exception: a
``permutation="random"`` matrix descriptor draws its noise from one stream seeded by ``seed`` and
consumed structure after structure (as dscribe's ``create`` does on a list), so it equals the
single calls only when they share a :class:`numpy.random.RandomState`; with ``n_jobs > 1`` each
chunk gets its own stream derived from ``seed``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from ._systems import as_systems
from .acsf import _acsf_batch, _check_params as _acsf_params
from .coulomb import _check_matrix_args, _coulomb_batch, _make_rng
from .sine import _sine_batch
from .soap import _check_params as _soap_params
from .soap import _soap_batch, soap_n_features

__all__ = ["DESCRIPTORS", "featurize"]

#: Names accepted by :func:`~course_lib.descriptors.featurize`.
DESCRIPTORS = ("coulomb_matrix", "sine_matrix", "acsf", "soap")


def _prepare(name: str, systems, params: dict):
    """Validate the parameters once; return (kernel, is_global)."""
    p = dict(params)
    if name in ("coulomb_matrix", "sine_matrix"):
        permutation = p.pop("permutation", "sorted_l2")
        sigma = p.pop("sigma", None)
        seed = p.pop("seed", None)
        flatten = p.pop("flatten", True)
        n_atoms_max = p.pop("n_atoms_max", None)
        _reject_unknown(name, p)
        n_max = _check_matrix_args(n_atoms_max, permutation, sigma, [len(s) for s in systems])
        batch = _coulomb_batch if name == "coulomb_matrix" else _sine_batch
        state = {"seed": seed}

        def kernel(chunk, rng=None):
            return list(batch(chunk, n_max, permutation, sigma, rng, flatten))

        state["n_features"] = n_max * n_max
        return kernel, True, permutation == "random", state
    if name == "acsf":
        periodic = p.pop("periodic", False)
        args = [p.pop(k, None) for k in ("species", "r_cut", "g2_params", "g3_params", "g4_params", "g5_params")]
        _reject_unknown(name, p)
        if args[1] is None:
            raise ValueError("acsf needs r_cut.")
        params_acsf = _acsf_params(*args)

        def kernel(chunk, rng=None):
            return _acsf_batch(chunk, params_acsf, periodic)

        return kernel, False, False, {"n_features": params_acsf["n_features"]}
    if name == "soap":
        periodic = p.pop("periodic", False)
        keys = ("species", "r_cut", "n_max", "l_max")
        missing = [k for k in keys if k not in p]
        if missing:
            raise ValueError(f"soap needs {missing}.")
        args = [p.pop(k) for k in keys]
        opts = {k: p.pop(k) for k in ("sigma", "rbf", "compression", "average", "weighting") if k in p}
        _reject_unknown(name, p)
        params_soap = _soap_params(
            *args,
            opts.get("sigma", 1.0),
            opts.get("rbf", "gto"),
            opts.get("compression", "off"),
            opts.get("average", "off"),
            opts.get("weighting"),
        )

        def kernel(chunk, rng=None):
            return _soap_batch(chunk, params_soap, periodic)

        n_feat = soap_n_features(params_soap["species"], params_soap["n_max"], params_soap["l_max"],
                                 params_soap["mode"])
        # the intermediate products are about twice the output
        return kernel, params_soap["average"] != "off", False, {"n_features": 2 * n_feat}
    raise ValueError(f"unknown descriptor {name!r}; use one of {DESCRIPTORS} or a callable.")


def _reject_unknown(name, rest):
    if rest:
        raise ValueError(f"unknown parameters for {name}: {sorted(rest)}.")


#: Target size (numbers) of the per-chunk output arrays: large enough to amortise numpy's per-call
#: overhead, small enough to stay in cache and below malloc's mmap threshold.
_CHUNK_NUMBERS = 3_000_000


def _default_chunk(name: str, systems, n_features: int) -> int:
    """Structures per chunk (see ``_CHUNK_NUMBERS``)."""
    if name in ("coulomb_matrix", "sine_matrix"):
        return max(1, min(512, _CHUNK_NUMBERS // max(1, n_features)))
    mean_atoms = max(1.0, float(np.mean([len(s) for s in systems])))
    atoms_per_chunk = min(2000.0, max(32.0, _CHUNK_NUMBERS / max(1, n_features)))
    return int(max(1, min(512, atoms_per_chunk // mean_atoms)))


def _run_chunk(kernel, chunk, seed_for_chunk, random):
    rng = _make_rng(seed_for_chunk) if random else None
    return kernel(chunk, rng)


def featurize(
    structures: Sequence,
    descriptor: str | Callable = "soap",
    *,
    n_jobs: int = 1,
    chunk_size: int | None = None,
    progress: bool = True,
    stack: bool | None = None,
    **params,
):
    """Compute a descriptor for many structures.

    Parameters
    ----------
    structures : list of ase.Atoms or pymatgen.core.Structure or pymatgen.core.Molecule
        The structures (mixed types are fine).
    descriptor : str or callable
        ``"coulomb_matrix"``, ``"sine_matrix"``, ``"acsf"`` or ``"soap"``; or any function
        ``f(structure, **params) -> numpy.ndarray`` (called once per structure).
    n_jobs : int
        Number of worker processes (joblib); 1 (default) runs in this process, -1 uses all cores.
    chunk_size : int, optional
        Structures per chunk (per vectorised kernel call and per progress-bar update).
    progress : bool
        Show a tqdm progress bar.
    stack : bool, optional
        Stack the results into one array. Default: True for descriptors with one vector per
        structure (Coulomb and sine matrices, averaged SOAP), False for per-atom descriptors (a list
        of ``(n_atoms_i, n_features)`` arrays is returned; ``stack=True`` concatenates the rows).
    **params
        Parameters of the descriptor, as for the single-structure function. For the matrix
        descriptors ``n_atoms_max`` defaults to the largest structure of ``structures``.

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray

    Examples
    --------
    >>> from ase.build import molecule
    >>> X = featurize([molecule("H2O"), molecule("NH3")], "coulomb_matrix", progress=False)
    >>> X.shape
    (2, 16)
    """
    from tqdm.auto import tqdm

    from ._systems import _is_single_structure

    if isinstance(structures, (str, bytes)) or _is_single_structure(structures):
        raise TypeError("structures must be a sequence of structures; wrap a single one in a list.")
    structures = list(structures)
    n = len(structures)
    if n == 0:
        raise ValueError("structures is empty: nothing to featurize.")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a non-zero integer, got {n_jobs!r}.")
    if n_jobs < 0:
        n_jobs = max(1, (os.cpu_count() or 1) + 1 + n_jobs)
    if callable(descriptor):
        results = _featurize_callable(structures, descriptor, params, n_jobs, progress)
        is_global = all(np.ndim(r) == 1 and np.shape(r) == np.shape(results[0]) for r in results)
    else:
        systems = as_systems(structures)
        kernel, is_global, random, state = _prepare(descriptor, systems, params)
        size = chunk_size or _default_chunk(descriptor, systems, state.get("n_features", 1))
        if not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
        chunks = [systems[k : k + size] for k in range(0, n, size)]
        results = []
        bar = tqdm(total=n, disable=not progress, desc=str(descriptor), unit="struct")
        try:
            if n_jobs == 1:
                rng = _make_rng(state.get("seed")) if random else None
                for chunk in chunks:
                    results.extend(kernel(chunk, rng))
                    bar.update(len(chunk))
            else:
                from joblib import Parallel, delayed

                seeds = [None] * len(chunks)
                if random:
                    base = state.get("seed")
                    ss = np.random.SeedSequence(None if isinstance(base, np.random.RandomState) else base)
                    seeds = [int(c.generate_state(1)[0]) for c in ss.spawn(len(chunks))]
                parallel = Parallel(n_jobs=n_jobs, return_as="generator")
                jobs = (delayed(_run_chunk)(kernel, c, s, random) for c, s in zip(chunks, seeds))
                for chunk, out in zip(chunks, parallel(jobs)):
                    results.extend(out)
                    bar.update(len(chunk))
        finally:
            bar.close()
    if stack is None:
        stack = is_global
    if stack:
        return np.stack(results) if is_global else np.concatenate(results, axis=0)
    return results


def _call(f, s, params):
    return np.asarray(f(s, **params))


def _featurize_callable(structures, f, params, n_jobs, progress):
    from tqdm.auto import tqdm

    if n_jobs == 1:
        return [_call(f, s, params) for s in tqdm(structures, disable=not progress, unit="struct")]
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    out = []
    for r in tqdm(parallel(delayed(_call)(f, s, params) for s in structures), total=len(structures),
                  disable=not progress, unit="struct"):
        out.append(r)
    return out
