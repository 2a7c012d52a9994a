"""Bonded atom pairs of crystals and their co-occurrence matrix (chapter 2).

SkipAtom (Antunes, Grau-Crespo & Butler, *npj Comput. Mater.* 8, 44 (2022)) learns an element's
vector by predicting which elements it is *bonded to*. Its training data is a list of
``(target, context)`` element pairs: for every site of every crystal, one pair per bonded
neighbour. This module makes those pairs (:func:`cooccurrence_pairs`,
:func:`pairs_from_structures`), reads and writes the one-pair-per-line file format
(:func:`read_pairs`, :func:`write_pairs`) and counts pairs into an elements x elements
co-occurrence matrix (:func:`cooccurrence_matrix`).

Bonds come from pymatgen's :class:`~pymatgen.analysis.local_env.CrystalNN` with its default
settings (Pan et al., *Inorg. Chem.* 60, 1590 (2021)).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..elements import atomic_number, check_symbol

__all__ = [
    "PairsError",
    "cooccurrence_matrix",
    "cooccurrence_pairs",
    "encode_pairs",
    "pairs_from_structures",
    "read_pairs",
    "write_pairs",
]

_IMAGES = ("unique_sites", "all")


class PairsError(ValueError):
    """Pairs that cannot be used: none at all, a malformed row or an unknown element symbol."""


def _default_nn():
    from pymatgen.analysis.local_env import CrystalNN

    return CrystalNN()


def _species_symbol(site) -> str:
    """Element symbol of an ordered site (oxidation states are dropped)."""
    if not site.is_ordered:
        raise ValueError(
            f"site {site} is disordered (partial occupancy); bonded pairs need an ordered structure"
        )
    return site.specie.symbol


def cooccurrence_pairs(structure, nn=None, images: str = "unique_sites") -> list[tuple[str, str]]:
    """The SkipAtom training pairs of one crystal.

    Bonds are found with ``nn.get_nn_info(structure, i)`` for every site ``i`` (by default
    :class:`~pymatgen.analysis.local_env.CrystalNN` with its default settings) and made
    *undirected*: sites ``i`` and ``j`` are bonded if either lists the other. Every site then
    yields one pair ``(its element, neighbour's element)`` per bonded neighbour, so every bond
    appears once in each direction.

    Parameters
    ----------
    structure : ``pymatgen.core.Structure``
        An ordered crystal structure.
    nn : ``pymatgen.analysis.local_env.NearNeighbors, optional``
        The bonding strategy; default ``CrystalNN()``.
    images : ``{"unique_sites", "all"}``
        How periodic images are counted.

        ``"unique_sites"`` (default) reproduces the pairs file of the SkipAtom paper, which built
        a pymatgen ``StructureGraph``, made it an undirected simple graph and took each site's
        *distinct neighbouring sites*: a neighbour site bonded through several periodic images
        counts **once**, and a site bonded to its own periodic image yields one self pair
        (e.g. ``("Po", "Po")`` for simple-cubic Po). The pairs therefore depend on the cell
        chosen: the primitive cell of rock-salt NaCl gives only ``[("Na", "Cl"), ("Cl", "Na")]``
        (each of the six Cl neighbours of Na is an image of the same Cl site), while a 3x3x3
        supercell gives 6 pairs per site.

        ``"all"`` counts every bonded periodic image: a site with coordination number ``c``
        yields ``c`` pairs, so the pairs of an ``n``-fold supercell are those of the cell
        repeated ``n`` times.

    Returns
    -------
    list of tuple of str
        ``(target, context)`` element symbols, grouped by target site in site order.

    Raises
    ------
    ValueError
        For an unknown ``images`` value or a disordered site.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> cscl = Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> cooccurrence_pairs(cscl)
    [('Cs', 'Cl'), ('Cl', 'Cs')]
    >>> len(cooccurrence_pairs(cscl, images="all"))  # 8 Cl around Cs, 8 Cs around Cl
    16
    """
    if images not in _IMAGES:
        raise ValueError(f"unknown images={images!r}; choose one of {', '.join(_IMAGES)}")
    nn = _default_nn() if nn is None else nn
    symbols = [_species_symbol(site) for site in structure]
    n = len(symbols)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CrystalNN warns about missing oxidation states etc.
        infos = [nn.get_nn_info(structure, i) for i in range(n)]
    if images == "unique_sites":
        neighbours: list[set[int]] = [set() for _ in range(n)]
        for i, info in enumerate(infos):
            for d in info:
                j = int(d["site_index"])
                neighbours[i].add(j)
                neighbours[j].add(i)
        return [(symbols[i], symbols[j]) for i in range(n) for j in sorted(neighbours[i])]
    bonds: set[tuple[int, int, tuple[int, ...]]] = set()
    for i, info in enumerate(infos):
        for d in info:
            j = int(d["site_index"])
            image = tuple(int(round(x)) for x in d["image"])
            mirror = (j, i, tuple(-x for x in image))
            bonds.add(min((i, j, image), mirror))
    per_site: list[list[int]] = [[] for _ in range(n)]
    for i, j, _image in sorted(bonds):
        per_site[i].append(j)
        per_site[j].append(i)
    return [(symbols[i], symbols[j]) for i in range(n) for j in sorted(per_site[i])]


def _pairs_worker(args):
    index, structure, images = args
    try:
        return index, cooccurrence_pairs(structure, images=images), None
    except Exception as exc:  # reported by the caller, never silently dropped
        return index, None, f"{type(exc).__name__}: {exc}"


def pairs_from_structures(
    structures: Iterable, n_jobs: int = 1, progress: bool = True, images: str = "unique_sites",
    errors: str = "warn",
) -> list[tuple[str, str]]:
    """Concatenate :func:`cooccurrence_pairs` over many structures (default ``CrystalNN``).

    CrystalNN takes roughly 0.1 s per structure of a few tens of sites on one CPU core, so a few
    hundred structures take under a minute and all of the Materials Project takes hours.

    Parameters
    ----------
    structures : ``iterable of pymatgen.core.Structure``
        The crystals.
    n_jobs : ``int``
        Worker processes (``multiprocessing``); 1 runs in this process.
    progress : ``bool``
        Show a ``tqdm`` progress bar.
    images : ``{"unique_sites", "all"}``
        Passed to :func:`cooccurrence_pairs`.
    errors : ``{"warn", "raise"}``
        A structure that fails (e.g. a disordered one) is reported: ``"warn"`` issues one
        :class:`UserWarning` listing every failed structure (its position in ``structures`` and
        the error) and continues; ``"raise"`` raises :class:`RuntimeError` with that list.

    Returns
    -------
    list of tuple of str
        All pairs, structure after structure in input order.
    """
    from tqdm.auto import tqdm

    if errors not in ("warn", "raise"):
        raise ValueError(f"unknown errors={errors!r}; choose 'warn' or 'raise'")
    if images not in _IMAGES:
        raise ValueError(f"unknown images={images!r}; choose one of {', '.join(_IMAGES)}")
    structures = list(structures)
    tasks = [(i, s, images) for i, s in enumerate(structures)]
    results: list = []
    bar = tqdm(total=len(tasks), desc="CrystalNN pairs", disable=not progress)
    if n_jobs == 1:
        for task in tasks:
            results.append(_pairs_worker(task))
            bar.update()
    else:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(n_jobs) as pool:
            for result in pool.imap(_pairs_worker, tasks, chunksize=8):
                results.append(result)
                bar.update()
    bar.close()
    pairs: list[tuple[str, str]] = []
    failed = []
    for index, result, error in results:
        if error is None:
            pairs.extend(result)
        else:
            failed.append(f"structure {index}: {error}")
    if failed:
        message = (f"{len(failed)} of {len(structures)} structures gave no pairs:\n  "
                   + "\n  ".join(failed))
        if errors == "raise":
            raise RuntimeError(message)
        warnings.warn(message, UserWarning, stacklevel=2)
    return pairs


def read_pairs(path: str | Path) -> pd.DataFrame:
    """Read a pairs file: one ``A,B`` pair of element symbols per line, no header.

    Plain or gzip-compressed (``.csv.gz``). The published SkipAtom file
    ``mp_2020_10_09.pairs.csv.gz`` (15,360,652 pairs over 86 elements) reads in a few seconds.

    Parameters
    ----------
    path : ``str or pathlib.Path``
        The file.

    Returns
    -------
    pandas.DataFrame
        Columns ``"target"`` and ``"context"`` of categorical dtype (one row per pair). Every
        function here that takes pairs accepts this frame.

    Raises
    ------
    ~course_lib.embeddings.cooccurrence.PairsError
        If the file holds no pairs, a row does not have two fields or a symbol is not an element.
    """
    try:
        df = pd.read_csv(path, header=None, names=["target", "context"], dtype="category",
                         engine="c", skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        raise PairsError(f"{path}: the file holds no pairs") from None
    except pd.errors.ParserError as exc:
        raise PairsError(f"{path}: every line must be 'A,B' ({exc})") from None
    if len(df) == 0:
        raise PairsError(f"{path}: the file holds no pairs")
    if df.isna().any().any():
        row = int(np.flatnonzero(df.isna().any(axis=1).to_numpy())[0])
        raise PairsError(f"{path}: line {row + 1} does not hold two element symbols")
    for col in df.columns:
        for s in df[col].cat.categories:
            _check(s, f" in {path}")
    return df


def write_pairs(pairs, path: str | Path) -> None:
    """Write pairs in the ``A,B``-per-line format read by :func:`read_pairs` (gzip if ``.gz``)."""
    symbols, index = encode_pairs(pairs)
    names = np.asarray(symbols, dtype=object)
    pd.DataFrame({"a": names[index[:, 0]], "b": names[index[:, 1]]}).to_csv(
        path, header=False, index=False
    )


def _check(symbol, context: str = "") -> str:
    try:
        return check_symbol(str(symbol), context)
    except Exception as exc:
        raise PairsError(str(exc)) from None


def encode_pairs(pairs, symbols: Sequence[str] | None = None) -> tuple[tuple[str, ...], np.ndarray]:
    """Turn pairs into integer indices.

    Parameters
    ----------
    pairs : ``list of (str, str), pandas.DataFrame or array of shape (n, 2)``
        The pairs: tuples of element symbols, a two-column frame (as from :func:`read_pairs`)
        or an ``(n, 2)`` array of symbols.
    symbols : ``sequence of str, optional``
        The vocabulary; by default every element that occurs, ordered by atomic number.

    Returns
    -------
    tuple
        ``(symbols, index)``: the vocabulary and an ``int64`` array of shape ``(n, 2)`` with
        ``index[k] = (position of target, position of context)`` in ``symbols``.

    Raises
    ------
    ~course_lib.embeddings.cooccurrence.PairsError
        For no pairs, a malformed pair, an unknown symbol, or a symbol missing from ``symbols``.
    """
    if isinstance(pairs, pd.DataFrame):
        if pairs.shape[1] != 2:
            raise PairsError(f"pairs frame must have two columns, not {pairs.shape[1]}")
        cols = [pairs.iloc[:, k] for k in range(2)]
    else:
        arr = np.asarray(list(pairs) if not isinstance(pairs, np.ndarray) else pairs, dtype=object)
        if arr.size == 0:
            raise PairsError("no pairs given: at least one (target, context) pair is needed")
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise PairsError(f"pairs must be (target, context) tuples; got shape {arr.shape}")
        cols = [pd.Series(arr[:, 0]), pd.Series(arr[:, 1])]
    if len(cols[0]) == 0:
        raise PairsError("no pairs given: at least one (target, context) pair is needed")
    codes_all, uniques = pd.factorize(pd.concat(cols, ignore_index=True).astype(str), sort=False)
    uniques = [_check(u) for u in uniques]
    if symbols is None:
        symbols = tuple(sorted(uniques, key=atomic_number))
    else:
        symbols = tuple(_check(s) for s in symbols)
        missing = sorted(set(uniques) - set(symbols), key=atomic_number)
        if missing:
            raise PairsError(f"pairs contain elements not in the vocabulary: {', '.join(missing)}")
    position = {s: i for i, s in enumerate(symbols)}
    remap = np.array([position[u] for u in uniques], dtype=np.int64)
    codes = remap[codes_all]
    n = len(cols[0])
    return symbols, np.stack([codes[:n], codes[n:]], axis=1)


def cooccurrence_matrix(pairs, symbols: Sequence[str] | None = None) -> pd.DataFrame:
    """Count pairs into an elements x elements co-occurrence matrix.

    ``M[a, b]`` is the number of pairs ``(a, b)`` (``a`` the target, ``b`` the context). Pairs from
    :func:`cooccurrence_pairs` list every bond in both directions, so their matrix is symmetric.

    Parameters
    ----------
    pairs : ``list of (str, str), pandas.DataFrame or array of shape (n, 2)``
        As for :func:`encode_pairs`.
    symbols : ``sequence of str, optional``
        Rows/columns to use; default every element that occurs, ordered by atomic number.

    Returns
    -------
    pandas.DataFrame
        Integer counts, shape ``(n_elements, n_elements)``, index and columns = symbols.
    """
    symbols, index = encode_pairs(pairs, symbols)
    v = len(symbols)
    counts = np.bincount(index[:, 0] * v + index[:, 1], minlength=v * v).reshape(v, v)
    return pd.DataFrame(counts, index=list(symbols), columns=list(symbols))
