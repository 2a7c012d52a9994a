"""The course's own versions of the steps a graded part builds on, so a part is tested alone.

Later parts of an assignment use the functions of earlier parts: ``acsf_matrix`` (chapter 5, part
5) calls the student's ``g2_of_atom``, which calls their ``cutoff_function`` (part 1). Tested with
the student's earlier functions, one wrong step would fail every part after it. A test cell
therefore runs inside :func:`reference_steps`, which puts the course's implementation of the
earlier steps in place of the student's for the duration of the cell, and puts the student's
functions back afterwards (also when a test fails)::

    with reference_steps(globals(), "ch05_acsf", "cutoff_function"):
        ...  # tests of g2_of_atom

The student's function of the part under test still calls ``cutoff_function`` by its global
name, and now gets the reference. The references are built on :mod:`course_lib` (the same
functions the hidden tests compare with), never on the student's code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

__all__ = ["REFERENCE_STEPS", "reference_steps"]


# -- chapter 1: compositions -------------------------------------------------------------------------


def _atomic_fractions(composition):
    from course_lib.composition import element_fractions

    return element_fractions(dict(composition))


def _weighted_stat(stat: str) -> Callable:
    def weighted(vectors, amounts):
        from course_lib.composition import _pool

        return _pool(np.asarray(amounts, dtype=float), np.asarray(vectors, dtype=float), stat)

    weighted.__name__ = f"weighted_{stat}"
    return weighted


# -- chapter 2: element and species embeddings ----------------------------------------------------------


def _mean_pool(composition, embedding):
    """Fraction-weighted mean of the vectors of ``{symbol or species: amount}`` in an element or a
    species embedding (both have ``vectors``)."""
    from course_lib.composition import _pool

    keys = list(composition)
    amounts = np.array([composition[k] for k in keys], dtype=float)
    return _pool(amounts, np.asarray(embedding.vectors(keys), dtype=float), "mean")


# -- chapter 4: Coulomb matrices -----------------------------------------------------------------------


def _coulomb(numbers, positions):
    from ase import Atoms

    from course_lib.descriptors import coulomb_matrix

    atoms = Atoms(numbers=np.asarray(numbers), positions=np.asarray(positions, dtype=float))
    return coulomb_matrix(atoms, permutation="none", flatten=False)


# -- chapter 5: atom-centred symmetry functions ---------------------------------------------------------


def _cutoff_function(r, r_cut):
    from course_lib.descriptors.acsf import _cutoff_of_square

    r = np.asarray(r, dtype=float)
    return np.where(r <= r_cut, _cutoff_of_square(r * r, float(r_cut)), 0.0)


def _z_sorted(symbols) -> list[str]:
    from ase.data import atomic_numbers

    return sorted(set(symbols), key=lambda s: atomic_numbers[s])


def _acsf_of_atom(positions, symbols, i, species, r_cut, **params) -> np.ndarray:
    from ase import Atoms

    from course_lib.descriptors import acsf

    atoms = Atoms(list(symbols), positions=np.asarray(positions, dtype=float))
    return acsf(atoms, species, float(r_cut), centers=[int(i)], **params)[0]


def _g2_of_atom(positions, symbols, i, element, eta, r_s, r_cut):
    species = _z_sorted([*symbols, element])
    x = _acsf_of_atom(positions, symbols, i, species, r_cut, g2_params=[[eta, r_s]])
    return float(x[2 * species.index(element) + 1])  # blocks [G1, G2] per species


def _g4_of_atom(positions, symbols, i, pair, eta, zeta, lam, r_cut):
    species = _z_sorted([*symbols, *pair])
    x = _acsf_of_atom(positions, symbols, i, species, r_cut, g4_params=[[eta, zeta, lam]])
    a, b = sorted((species.index(pair[0]), species.index(pair[1])), reverse=True)
    return float(x[len(species) + a * (a + 1) // 2 + b])  # [G1] per species, then one G4 per pair


def _block_start(species, channel, n_radial, n_angular):
    return _probed_block_start(tuple(species), tuple(channel), int(n_radial), int(n_angular))


@lru_cache(maxsize=4096)
def _probed_block_start(species: tuple, channel: tuple, n_radial: int, n_angular: int) -> int:
    """First column of a channel's block, read off course_lib's ACSF of a centre with one (radial
    channel) or two (pair channel) neighbours: the first non-zero column of that part."""
    params = {"g2_params": [[0.1, 0.0]] * (n_radial - 1) or None,
              "g5_params": [[0.01, 1.0, 1.0]] * n_angular or None}
    n_rad = len(set(species)) * n_radial
    centre = species[0]
    if len(channel) == 1:
        x = _acsf_of_atom([[0, 0, 0], [1.2, 0, 0]], [centre, channel[0]], 0, list(species), 4.0, **params)
        return int(np.nonzero(x)[0][0])
    if n_angular == 0:
        return n_rad
    x = _acsf_of_atom([[0, 0, 0], [1.2, 0, 0], [0, 1.3, 0]], [centre, *channel], 0, list(species), 4.0,
                      **params)
    return n_rad + int(np.nonzero(x[n_rad:])[0][0])


# -- chapter 8: CrysAtom ---------------------------------------------------------------------------------


def _masked_count(fraction, n):
    from course_lib.crysatom import masked_count

    return masked_count(fraction, n)


# -- chapter 9: density correlations -------------------------------------------------------------------


def _per_l(coeffs) -> list:
    """The assignment's layout (n_species, n_max, (l_max+1)**2), column l*l + l + m, as the library's
    list of ``(1, n_species, n_max, 2l+1)`` arrays."""
    c = np.asarray(coeffs, dtype=float)
    l_max = int(round(np.sqrt(c.shape[-1]))) - 1
    return [c[None, :, :, l * l:(l + 1) ** 2] for l in range(l_max + 1)]


def _density_coefficients(vectors, symbols, species, r_cut, n_max, l_max, sigma):
    from ase import Atoms
    from ase.data import atomic_numbers

    from course_lib.descriptors.correlations import density_coefficients

    vectors = np.atleast_2d(np.asarray(vectors, dtype=float))
    centre = np.flatnonzero(np.linalg.norm(vectors, axis=1) == 0.0)
    if len(centre) != 1:
        raise ValueError("the vectors must hold the centre atom exactly once, as a zero vector")
    coeffs = density_coefficients(Atoms(list(symbols), positions=vectors), list(species), float(r_cut), int(n_max),
                                  int(l_max), float(sigma), centers=[int(centre[0])])
    flat = np.concatenate([c[0] for c in coeffs], axis=-1)
    by_z = sorted(range(len(species)), key=lambda k: atomic_numbers[species[k]])  # the library's channel order
    return flat[np.argsort(by_z)]


def _correlation(name: str, *args) -> Callable:
    def step(coeffs):
        from course_lib.descriptors import correlations

        return getattr(correlations, name)(_per_l(coeffs), *args)[0]

    step.__name__ = name
    return step


def _radial_spectrum(coeffs):
    return np.asarray(coeffs, dtype=float)[:, :, 0].ravel()  # c_{a n 0 0}, as correlations.radial_spectrum


# -- chapter 10: text representations ----------------------------------------------------------------


def _tfidf_matrix(token_lists):
    from sklearn.feature_extraction.text import TfidfVectorizer

    # the tokens are given: the analyser only turns each document into its list of tokens
    vectorizer = TfidfVectorizer(analyzer=list, lowercase=False)
    x = vectorizer.fit_transform([list(tokens) for tokens in token_lists]).toarray()
    return x, [str(t) for t in vectorizer.get_feature_names_out()]


def _cosine_ranking(queries, database, query_indices):
    from course_lib.text import rank_by_similarity

    return rank_by_similarity(queries, database, exclude_self=True, query_indices=query_indices)


def _recall_at_k(ranking, relevant, k):
    from course_lib.text import recall_at_k

    return recall_at_k(np.asarray(ranking), np.asarray(relevant, dtype=bool), int(k))


#: assignment -> {name of the student's function: the course's implementation of that step}
REFERENCE_STEPS: dict[str, dict[str, Callable]] = {
    "ch01_composition": {
        "atomic_fractions": _atomic_fractions,
        "weighted_mean": _weighted_stat("mean"),
        "weighted_variance": _weighted_stat("variance"),
    },
    "ch02_embeddings": {"mean_pool": _mean_pool},
    "ch04_coulomb": {"coulomb": _coulomb},
    "ch05_acsf": {
        "cutoff_function": _cutoff_function,
        "g2_of_atom": _g2_of_atom,
        "g4_of_atom": _g4_of_atom,
        "block_start": _block_start,
    },
    "ch08_crysatom": {"masked_count": _masked_count},
    "ch09_correlations": {
        "density_coefficients": _density_coefficients,
        "radial_spectrum": _radial_spectrum,
        "power_spectrum": _correlation("power_spectrum_from_coefficients"),
        "bispectrum": _correlation("bispectrum_from_coefficients"),
        "lambda1_soap": _correlation("lambda_soap_from_coefficients", 1),
    },
    "ch10_text": {"tfidf_matrix": _tfidf_matrix, "cosine_ranking": _cosine_ranking, "recall_at_k": _recall_at_k},
}

_ABSENT = object()


@contextmanager
def reference_steps(namespace: MutableMapping, assignment: str, *names: str) -> Iterator[dict[str, Callable]]:
    """Run a block with the course's versions of the earlier steps in place of the student's.

    Parameters
    ----------
    namespace
        The notebook's global namespace (``globals()`` in a test cell), where the student's
        functions live and where their code looks the names up.
    assignment
        Assignment id, e.g. ``"ch05_acsf"``.
    names
        Names of the functions to replace, e.g. ``"cutoff_function"``.

    Yields
    ------
    dict
        ``{name: reference function}`` put in place; a hidden test passes its values as
        ``allow`` to :func:`~course_lib.grading.guard.forbidden_calls`, so that the references may
        use the library functions the student's code may not (``with reference_steps(...) as
        steps:``).

    Raises
    ------
    ValueError
        If the assignment or one of the names has no reference step (the message lists those
        that exist).
    """
    table = REFERENCE_STEPS.get(assignment)
    if table is None:
        raise ValueError(f"no reference steps for assignment {assignment!r}; "
                         f"known: {', '.join(sorted(REFERENCE_STEPS))}")
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"assignment {assignment!r} has no reference step {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(table))}")
    saved = {n: namespace.get(n, _ABSENT) for n in names}
    installed = {n: table[n] for n in names}
    from .trusted import CONNECTION_KEY, KernelError

    kernel = namespace.get(CONNECTION_KEY)  # a test running in the grader: swap them in the kernel too
    swap = kernel.swap({n: ("step", assignment, n) for n in names}) if kernel is not None else None
    namespace.update(installed)
    try:
        yield dict(installed)
    finally:
        if swap is not None:
            try:
                kernel.restore(swap)
            except KernelError:  # the kernel died or timed out: it is restarted anyway
                pass
        for n, value in saved.items():
            if value is _ABSENT:
                namespace.pop(n, None)
            else:
                namespace[n] = value
