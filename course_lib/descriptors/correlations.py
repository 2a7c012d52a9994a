r"""Density correlations of order :math:`\nu`: radial spectrum, power spectrum, bispectrum, λ-SOAP.

Chapter 9 shows that the atom-centred descriptors of chapters 5-6 are special cases of one
construction: the neighbour density of a centre, expanded in radial functions and spherical
harmonics, and its tensor products symmetrised over rotations (Willatt, Musil & Ceriotti,
J. Chem. Phys. 150, 154110 (2019); Musil et al., Chem. Rev. 121, 9759 (2021)). This module
computes every step from the same density coefficients as :func:`~course_lib.descriptors.soap`,
in small functions that a notebook can show one at a time.

**Density coefficients** (:func:`density_coefficients`). For a centre :math:`i` and an element
:math:`a`, :math:`c^a_{nlm} = \int g_{nl}(r) Y_{lm}(\hat{\mathbf r}) \rho^a_i(\mathbf r)\,d^3r`
exactly as in :mod:`course_lib.descriptors.soap` (dscribe's unnormalised Gaussians of width
:math:`\sigma`, the centre atom included, dscribe's orthonormal GTO or polynomial radial basis,
real orthonormal :math:`Y_{lm}` without the Condon-Shortley phase). They are returned per
:math:`l` as ``coeffs[l]`` of shape ``(n_centres, n_species, n_max, 2l+1)`` (``m = -l..l`` at
index ``m + l``; species sorted by atomic number). Under a rotation :math:`R` of the structure
``coeffs[l]`` becomes :math:`D^l(R)` ``@ coeffs[l]`` (:func:`wigner_d_real`). The same
:math:`\sum_j R_{nl}(r_{ij}) Y_{lm}(\hat{\mathbf r}_{ij})` is the atomic base :math:`A_{i,nlm}` of
the atomic cluster expansion (Drautz, Phys. Rev. B 99, 014104 (2019)), here with smooth
Gaussians instead of points.

**Invariants of order ν** (body order ν + 1):

- ν = 1, :func:`radial_spectrum`: :math:`\langle a n\rangle = c^a_{n00}` (2-body: it only sees
  distances). Order: for :math:`a`, for :math:`n`; :math:`n_s n_\max` features.
- ν = 2, :func:`power_spectrum`: :math:`p^{ab}_{nn'l} = \pi\sqrt{8/(2l+1)}\sum_m c^a_{nlm}
  c^b_{n'lm}`, identical to :func:`~course_lib.descriptors.soap` (same prefactor and dscribe's
  feature order; tested). 3-body: a function of two distances and one angle per pair of
  neighbours.
- ν = 3, :func:`bispectrum`: :math:`b^{abc}_{n_1 n_2 n_3; l_1 l_2 l_3} = \sum_{m_1 m_2 m_3}
  C^{l_3 m_3}_{l_1 m_1 l_2 m_2} c^a_{n_1 l_1 m_1} c^b_{n_2 l_2 m_2} c^c_{n_3 l_3 m_3}` with the
  real coupling coefficients of :func:`real_clebsch_gordan`, for :math:`l_1 \le l_2 \le l_3 \le
  l_1 + l_2` and :math:`l_1 + l_2 + l_3` even (the combinations that are invariant under
  rotations *and* inversion). 4-body. Order: for :math:`a, b, c`, for the :math:`(l_1, l_2, l_3)`
  in lexicographic order, for :math:`n_1, n_2, n_3`.

**Equivariants** (:func:`lambda_soap`): :math:`\xi^{ab;\lambda\mu}_{n l_1; n' l_2} =
\sum_{m_1 m_2} C^{\lambda\mu}_{l_1 m_1 l_2 m_2} c^a_{n l_1 m_1} c^b_{n' l_2 m_2}` for
:math:`|l_1 - l_2| \le \lambda \le l_1 + l_2` and :math:`l_1 + l_2 + \lambda` even (λ-SOAP of
Grisafi, Wilkins, Csányi & Ceriotti, Phys. Rev. Lett. 120, 036002 (2018)): it rotates like
:math:`Y_\lambda`, i.e. by :math:`D^\lambda(R)`, and its λ = 0 channel is the power spectrum up
to the factor :math:`(-1)^l/(\pi\sqrt 8)` per :math:`l` (tested). Shape ``(n_centres, 2λ+1,
n_features)``; feature order: for :math:`a`, for :math:`b`, for the allowed :math:`(l_1 \le l_2)`,
for :math:`n`, for :math:`n'` (featomic's selection of :math:`(l_1, l_2)`; all element pairs are
kept, so with :math:`l_1 = l_2` some features appear twice).

**Compression** (Willatt, Musil & Ceriotti, Phys. Chem. Chem. Phys. 20, 29661 (2018);
Goscinski, Musil, Pozdnyakov, Nigam & Ceriotti, J. Chem. Phys. 155, 104106 (2021)):
:func:`pca_radial_contraction` finds, per :math:`l`, the orthonormal combinations
:math:`\langle p l m| = \sum_{an} u^{(l)}_{p,an} \langle a n l m|` that keep the most of the
coefficients' second moment over a training set (uncentred PCA: the best linear subspace in the
least-squares sense), :func:`contract` applies them; :func:`alchemical_compression` does the
same for the element channels alone, giving pseudo-elements :math:`|b\rangle = \sum_a u_{ba}
|a\rangle`, applied by :func:`mix_species`. The compressed coefficients feed the same
power spectrum and bispectrum functions (one "species" channel of ``k`` radial functions, or
``n_pseudo`` pseudo-species).

**Conventions and featomic.** featomic 0.6 (the reference used by the tests) expands a
normalised Gaussian :math:`(\pi\sigma^2)^{-3/4}e^{-r^2/2\sigma^2}` in its own radial bases, with
a smooth or step cutoff at :math:`r_c`. Its native GTO basis is not dscribe's, so its numbers
cannot be matched directly. The tests give featomic *our* radial basis (a custom
``RadialBasis`` whose primitives and orthonormalisation are dscribe's GTOs, integrated
numerically by featomic's ``SoapSpliner``) and a step cutoff, on environments where every
neighbour lies inside it (our neighbour list reaches :math:`\sigma\sqrt{-2\ln 10^{-3}} \approx
3.7\sigma` beyond :math:`r_c`; the benchmark sets featomic's step there instead). Then the
coefficients agree to the spline accuracy (about 1e-9) after the density normalisation,
:math:`c^{\rm featomic}_{nlm} = (\pi\sigma^2)^{-3/4} c_{nlm}` (featomic's real harmonics coincide
with ours, m by m). The radial spectrum follows with the same factor; featomic's
``SoapPowerSpectrum`` is :math:`(-1)^l(\pi\sigma^2)^{-3/2}/(\pi\sqrt 8)` times ours (its
prefactor is :math:`(-1)^l/\sqrt{2l+1}`, the coefficient that couples :math:`l, l` to 0; it lists
both orders of :math:`n, n'`, and each pair of different elements once, times :math:`\sqrt 2`); and
featomic's ``EquivariantPowerSpectrum`` equals :func:`lambda_soap` times
:math:`(\pi\sigma^2)^{-3/2}` block by block (the same real Clebsch-Gordan convention); its
``DensityCorrelations`` with two products coupled to λ = 0 is :func:`bispectrum` times
:math:`(-1)^{l_3}(\pi\sigma^2)^{-9/4}/\sqrt{2l_3+1}`. The tests check these mappings.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ._systems import _is_single_structure, as_system, as_systems, check_centers
from .soap import _check_params, _expansion, _gto_basis, _power_spectrum, _solid_harmonics

__all__ = [
    "alchemical_compression",
    "bispectrum",
    "bispectrum_from_coefficients",
    "clebsch_gordan",
    "contract",
    "correlation_feature_count",
    "density_coefficients",
    "featomic_hypers",
    "lambda_soap",
    "lambda_soap_from_coefficients",
    "mix_species",
    "pca_radial_contraction",
    "power_spectrum",
    "power_spectrum_from_coefficients",
    "radial_spectrum",
    "real_clebsch_gordan",
    "wigner_d_real",
]


# ------------------------------------------------------------------------------ coefficients


def density_coefficients(
    system,
    species,
    r_cut: float,
    n_max: int,
    l_max: int,
    sigma: float = 1.0,
    rbf: str = "gto",
    periodic: bool = False,
    centers=None,
) -> list[np.ndarray]:
    r"""Density coefficients :math:`c^a_{nlm}` of every centre, as SOAP computes them.

    Parameters
    ----------
    system : ase.Atoms or pymatgen.core.Structure or pymatgen.core.Molecule, or a list of them
        The structure; for a list, the rows of all structures are concatenated in order.
    species : list of str or int
        Every element of the data set (fixes the species channels, sorted by atomic number).
    r_cut : float
        Cutoff radius :math:`r_c` in angstrom (> 1 for ``rbf="gto"``).
    n_max : int
        Number of radial basis functions (>= 1).
    l_max : int
        Maximum degree of the spherical harmonics (0 to 20).
    sigma : float
        Width :math:`\sigma` of the atomic Gaussians, angstrom.
    rbf : str
        ``"gto"`` or ``"polynomial"`` (see :func:`~course_lib.descriptors.soap`).
    periodic : bool
        Include periodic images.
    centers : list of int, optional
        Centre atoms (single structure only; default: every atom).

    Returns
    -------
    list of numpy.ndarray
        ``coeffs[l]`` of shape ``(n_centres, n_species, n_max, 2l+1)``, ``l = 0..l_max``;
        ``m = -l..l`` at index ``m + l``. Units: :math:`\text{angstrom}^{3/2}` (the Gaussians are
        unnormalised and the radial functions are normalised in
        :math:`\int g^2 r^2 dr`).
    """
    p = _check_params(species, r_cut, n_max, l_max, sigma, rbf, "off", "off", None)
    systems, centers = _prepare(system, centers)
    exp = _expansion(systems, p, periodic, centers)
    return _scatter_species(exp, len(p["species"]))


def _prepare(system, centers):
    """(list of System, validated centre indices or None)."""
    if _is_single_structure(system):
        systems = [as_system(system)]
    else:
        if hasattr(system, "__len__") and len(system) == 0:
            raise ValueError("system is an empty list: pass a structure or a list of structures.")
        systems = as_systems(system)
        if centers is not None:
            raise ValueError("centers can only be given for a single structure, not for a list.")
    if centers is None:
        return systems, None
    return systems, check_centers(centers, len(systems[0]))


def _scatter_species(exp, n_species: int) -> list[np.ndarray]:
    """The local-species layout of :func:`soap._expansion` scattered into all species."""
    coeffs, gmap, owner = exp.coeffs, exp.gmap, exp.owner
    if gmap.shape[1] == n_species and (gmap >= 0).all():
        return coeffs  # every structure uses every species: local order is global order
    rows = np.arange(len(owner))
    out = []
    for c in coeffs:
        full = np.zeros((c.shape[0], n_species) + c.shape[2:])
        for k in range(gmap.shape[1]):
            g = gmap[owner, k]
            ok = g >= 0
            full[rows[ok], g[ok]] = c[ok, k]
        out.append(full)
    return out


def _check_coeffs(coeffs) -> list[np.ndarray]:
    if not isinstance(coeffs, (list, tuple)) or not coeffs:
        raise ValueError("coeffs must be the list returned by density_coefficients (one array per l).")
    out = []
    for l, c in enumerate(coeffs):
        c = np.asarray(c, dtype=np.float64)
        if c.ndim != 4 or c.shape[3] != 2 * l + 1 or c.shape[:3] != np.shape(coeffs[0])[:3]:
            raise ValueError(
                f"coeffs[{l}] must have shape (n_centres, n_species, n_max, {2 * l + 1}) like "
                f"coeffs[0]; got {c.shape}."
            )
        out.append(c)
    return out


def featomic_hypers(r_cut: float, n_max: int, l_max: int, sigma: float = 1.0, cutoff: float | None = None) -> dict:
    r"""featomic hyper-parameters that expand the density in *our* (dscribe's) GTO basis.

    For ``featomic.SphericalExpansion(**hypers)`` (and ``SoapPowerSpectrum``): a Gaussian density
    of width ``sigma``, a step cutoff at ``cutoff`` (default ``r_cut``; our neighbour list reaches
    ``r_cut + 3.7 sigma``, see the module docstring) and, for every l, a featomic
    ``RadialBasis`` with the primitives :math:`r^l e^{-\alpha_{lk} r^2}` and the orthonormalisation
    :math:`S^{-1/2}` of :mod:`course_lib.descriptors.soap`, integrated and splined by featomic's
    ``SoapSpliner`` (accuracy 1e-9). The results then equal ours up to the mappings in the module
    docstring. Needs featomic (the ``dev`` extra); building the spline takes a few seconds.
    """
    try:
        import featomic
    except ImportError as err:  # pragma: no cover - featomic is a dev dependency
        raise ImportError("featomic_hypers needs featomic: pip install featomic==0.6.7 (the dev extra).") from err
    p = _check_params(["H"], r_cut, n_max, l_max, sigma, "gto", "off", "off", None)
    alphas, betas = _gto_basis(p["r_cut"], p["n_max"], p["l_max"])

    class _Gto(featomic.basis.RadialBasis):
        def __init__(self, l):
            super().__init__(max_radial=p["n_max"] - 1, radius=p["r_cut"])
            self.l = l

        @property
        def integration_radius(self):
            return 4.0 * p["r_cut"]  # the GTOs extend beyond r_cut; our integral is over [0, inf)

        def compute_primitive(self, positions, n, *, derivative):
            r = np.asarray(positions, dtype=np.float64)
            g = np.exp(-alphas[self.l, n] * r * r)
            if derivative:
                dl = self.l * r ** (self.l - 1) if self.l > 0 else 0.0
                return (dl - 2 * alphas[self.l, n] * r ** (self.l + 1)) * g
            return r**self.l * g

        def _get_orthonormalization_matrix(self):
            return betas[self.l]

    basis = featomic.basis.Explicit(by_angular={l: _Gto(l) for l in range(p["l_max"] + 1)}, spline_accuracy=1e-9)
    return featomic.splines.SoapSpliner(
        cutoff=featomic.cutoff.Cutoff(radius=float(cutoff or p["r_cut"]), smoothing=featomic.cutoff.Step()),
        density=featomic.density.Gaussian(width=p["sigma"]),
        basis=basis,
    ).get_hypers()


# ----------------------------------------------------------------------------- invariants


def radial_spectrum(
    system, species, r_cut: float, n_max: int, sigma: float = 1.0, rbf: str = "gto",
    periodic: bool = False, centers=None,
) -> np.ndarray:
    r"""ν = 1 invariant: :math:`\langle a n| A_i\rangle = c^a_{n00}`, shape ``(n_centres, n_species * n_max)``.

    Arguments as in :func:`density_coefficients` (no ``l_max``: only :math:`l = 0` enters).
    Order: for element :math:`a`, for :math:`n`. A 2-body descriptor: the radial distribution of
    each element around the centre, blind to angles.
    """
    c0 = density_coefficients(system, species, r_cut, n_max, 0, sigma, rbf, periodic, centers)[0]
    return c0[..., 0].reshape(len(c0), -1)


def power_spectrum_from_coefficients(coeffs) -> np.ndarray:
    r"""ν = 2 invariant :math:`p^{ab}_{nn'l} = \pi\sqrt{8/(2l+1)}\sum_m c^a_{nlm} c^b_{n'lm}`.

    ``coeffs`` as returned by :func:`density_coefficients` (or compressed by :func:`contract` /
    :func:`mix_species`). Returns ``(n_centres, n_features)`` in dscribe's SOAP order (for
    :math:`a \le b`, for :math:`l`, for :math:`n`, for :math:`n'`, with :math:`n' \ge n` when
    :math:`a = b`).
    """
    return _power_spectrum(_check_coeffs(coeffs), "off")


def power_spectrum(
    system, species, r_cut: float, n_max: int, l_max: int, sigma: float = 1.0, rbf: str = "gto",
    periodic: bool = False, centers=None,
) -> np.ndarray:
    """ν = 2 invariant (the SOAP power spectrum): equal to :func:`~course_lib.descriptors.soap`.

    Arguments as in :func:`density_coefficients`; shape ``(n_centres, n_features)``.
    """
    return power_spectrum_from_coefficients(
        density_coefficients(system, species, r_cut, n_max, l_max, sigma, rbf, periodic, centers)
    )


@lru_cache(maxsize=64)
def _bispectrum_triplets(l_max: int) -> tuple:
    return tuple(
        (l1, l2, l3)
        for l1 in range(l_max + 1)
        for l2 in range(l1, l_max + 1)
        for l3 in range(l2, min(l1 + l2, l_max) + 1)
        if (l1 + l2 + l3) % 2 == 0
    )


def bispectrum_from_coefficients(coeffs) -> np.ndarray:
    r"""ν = 3 invariant :math:`\sum C^{l_3 m_3}_{l_1 m_1 l_2 m_2} c^a_{n_1 l_1 m_1}
    c^b_{n_2 l_2 m_2} c^c_{n_3 l_3 m_3}`.

    ``coeffs`` as returned by :func:`density_coefficients`. Returns ``(n_centres, n_features)``
    with :math:`n_s^3 n_\max^3` features per allowed :math:`(l_1 \le l_2 \le l_3)`,
    :math:`l_1 + l_2 + l_3` even; order: for :math:`a, b, c`, for :math:`(l_1, l_2, l_3)`, for
    :math:`n_1, n_2, n_3`.
    """
    coeffs = _check_coeffs(coeffs)
    n_c, n_s, nn, _ = coeffs[0].shape
    blocks = []
    for l1, l2, l3 in _bispectrum_triplets(len(coeffs) - 1):
        # couple (l1, l2) to l3 (a λ-SOAP channel), then contract with c_{l3}: an invariant
        xi = np.einsum("Mij,rani,rbmj->rMabnm", real_clebsch_gordan(l1, l2, l3), coeffs[l1], coeffs[l2])
        blocks.append(np.einsum("rMabnm,rckM->rabcnmk", xi, coeffs[l3]))
    out = np.stack(blocks, axis=4)  # (r, a, b, c, triplet, n1, n2, n3)
    return out.reshape(n_c, -1)


def bispectrum(
    system, species, r_cut: float, n_max: int, l_max: int, sigma: float = 1.0, rbf: str = "gto",
    periodic: bool = False, centers=None,
) -> np.ndarray:
    """ν = 3 invariant (4-body): see :func:`bispectrum_from_coefficients`.

    Arguments as in :func:`density_coefficients`; shape ``(n_centres, n_features)``. The
    number of features grows as :math:`n_s^3 n_\\max^3 l_\\max^2`: keep ``l_max`` small.
    """
    return bispectrum_from_coefficients(
        density_coefficients(system, species, r_cut, n_max, l_max, sigma, rbf, periodic, centers)
    )


# --------------------------------------------------------------------------- equivariants


def _lambda_pairs(l_max: int, lam: int) -> list[tuple[int, int]]:
    return [
        (l1, l2)
        for l1 in range(l_max + 1)
        for l2 in range(l1, l_max + 1)
        if abs(l1 - l2) <= lam <= l1 + l2 and (l1 + l2 + lam) % 2 == 0
    ]


def lambda_soap_from_coefficients(coeffs, lam: int) -> np.ndarray:
    r"""λ-SOAP :math:`\xi^{ab;\lambda\mu}_{nl_1;n'l_2}` from density coefficients.

    Returns ``(n_centres, 2*lam+1, n_features)`` (``mu = -lam..lam``); it rotates by
    :func:`wigner_d_real` of order ``lam``. Feature order: for :math:`a`, for :math:`b`, for the
    allowed :math:`(l_1 \le l_2)` (lexicographic), for :math:`n`, for :math:`n'`.
    """
    coeffs = _check_coeffs(coeffs)
    l_max = len(coeffs) - 1
    if not isinstance(lam, (int, np.integer)) or isinstance(lam, bool) or not 0 <= lam <= 2 * l_max:
        raise ValueError(f"lam must be an integer in [0, 2*l_max] = [0, {2 * l_max}]; got {lam!r}.")
    n_c, n_s, nn, _ = coeffs[0].shape
    blocks = [
        np.einsum("Mij,rani,rbmj->rMabnm", real_clebsch_gordan(l1, l2, lam), coeffs[l1], coeffs[l2])
        for l1, l2 in _lambda_pairs(l_max, lam)
    ]
    out = np.stack(blocks, axis=4)  # (r, M, a, b, pair, n, n')
    return out.reshape(n_c, 2 * lam + 1, -1)


def lambda_soap(
    system, species, r_cut: float, n_max: int, l_max: int, lam: int, sigma: float = 1.0,
    rbf: str = "gto", periodic: bool = False, centers=None,
) -> np.ndarray:
    """λ-SOAP features of order ``lam`` (equivariant, ν = 2): see :func:`lambda_soap_from_coefficients`.

    Arguments as in :func:`density_coefficients`, plus ``lam`` (0 to ``2*l_max``). Shape
    ``(n_centres, 2*lam+1, n_features)``. Use it for vector (``lam=1``) or tensor targets:
    an invariant model cannot predict a dipole, which turns with the molecule.
    """
    return lambda_soap_from_coefficients(
        density_coefficients(system, species, r_cut, n_max, l_max, sigma, rbf, periodic, centers), lam
    )


def correlation_feature_count(nu: int, n_max: int, l_max: int, n_species: int, lam: int | None = None) -> int:
    r"""Number of features per centre that this module's functions return.

    ``nu = 1``: :func:`radial_spectrum` (:math:`n_s n_\max`, ``l_max`` is not used); ``nu = 2``:
    :func:`power_spectrum` (:math:`\tfrac12 n_s n_\max (n_s n_\max + 1)(l_\max + 1)`), or with
    ``lam`` the last axis of :func:`lambda_soap` (:math:`n_s^2 n_\max^2` times the number of
    allowed :math:`(l_1 \le l_2)`; each of the :math:`2\lambda + 1` components has that many);
    ``nu = 3``: :func:`bispectrum` (:math:`n_s^3 n_\max^3` times the number of allowed
    :math:`(l_1 \le l_2 \le l_3)`). For compressed coefficients pass the compressed sizes
    (``n_species = n_pseudo``, or ``n_species = 1`` and ``n_max = n_components``).
    """
    for name, v, low in (("nu", nu, 1), ("n_max", n_max, 1), ("l_max", l_max, 0), ("n_species", n_species, 1)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {v!r}.")
    if nu > 3:
        raise ValueError(f"nu must be 1, 2 or 3 (the orders this module computes), got {nu}.")
    if lam is not None:
        if nu != 2:
            raise ValueError(f"lam is only defined for nu = 2 (lambda_soap), got nu = {nu}.")
        if not isinstance(lam, (int, np.integer)) or isinstance(lam, bool) or not 0 <= lam <= 2 * l_max:
            raise ValueError(f"lam must be an integer in [0, 2*l_max] = [0, {2 * l_max}]; got {lam!r}.")
        return n_species**2 * n_max**2 * len(_lambda_pairs(l_max, lam))
    channels = n_species * n_max
    if nu == 1:
        return channels
    if nu == 2:
        return channels * (channels + 1) // 2 * (l_max + 1)
    return channels**3 * len(_bispectrum_triplets(l_max))


# ---------------------------------------------------------------- Clebsch-Gordan and Wigner D


def clebsch_gordan(l1: int, m1: int, l2: int, m2: int, L: int, M: int) -> float:
    r"""Clebsch-Gordan coefficient :math:`\langle l_1 m_1; l_2 m_2 | L M\rangle` (Racah's formula).

    Standard (Condon-Shortley) phase convention, as in ``sympy.physics.wigner.clebsch_gordan``.
    """
    if m1 + m2 != M or not abs(l1 - l2) <= L <= l1 + l2 or abs(m1) > l1 or abs(m2) > l2 or abs(M) > L:
        return 0.0
    f = math.factorial
    pre = (2 * L + 1) * f(L + l1 - l2) * f(L - l1 + l2) * f(l1 + l2 - L) / f(l1 + l2 + L + 1)
    pre *= f(L + M) * f(L - M) * f(l1 - m1) * f(l1 + m1) * f(l2 - m2) * f(l2 + m2)
    total = 0
    for k in range(0, l1 + l2 - L + 1):
        den = [k, l1 + l2 - L - k, l1 - m1 - k, l2 + m2 - k, L - l2 + m1 + k, L - l1 - m2 + k]
        if min(den) < 0:
            continue
        total += (-1) ** k / math.prod(f(d) for d in den)
    return float(math.sqrt(pre) * total)


@lru_cache(maxsize=None)
def _complex_to_real(l: int) -> np.ndarray:
    """U with Y_real = U @ Y_complex (our real harmonics, no CS phase; Y_complex with CS phase)."""
    u = np.zeros((2 * l + 1, 2 * l + 1), dtype=complex)
    u[l, l] = 1.0
    s = 1 / math.sqrt(2)
    for m in range(1, l + 1):
        u[l + m, l + m] = (-1) ** m * s  # cos(m phi) from Y_{+m} and Y_{-m}
        u[l + m, l - m] = s
        u[l - m, l + m] = -1j * (-1) ** m * s  # sin(m phi)
        u[l - m, l - m] = 1j * s
    return u


@lru_cache(maxsize=None)
def _real_cg(l1: int, l2: int, L: int) -> np.ndarray:
    cg = np.zeros((2 * L + 1, 2 * l1 + 1, 2 * l2 + 1))
    for m1 in range(-l1, l1 + 1):
        for m2 in range(-l2, l2 + 1):
            if abs(m1 + m2) <= L:
                cg[m1 + m2 + L, m1 + l1, m2 + l2] = clebsch_gordan(l1, m1, l2, m2, L, m1 + m2)
    u1, u2, uL = _complex_to_real(l1), _complex_to_real(l2), _complex_to_real(L)
    # real inputs a = U1 a_c  ->  a_c = U1^H a; output back to real with UL
    c = np.einsum("Mq,qij,ai,bj->Mab", uL, cg, u1.conj(), u2.conj())
    # the result is real (l1 + l2 + L even) or purely imaginary (odd): keep the nonzero part
    part = c.real if (l1 + l2 + L) % 2 == 0 else c.imag
    part = np.ascontiguousarray(part)
    part.setflags(write=False)
    return part


def real_clebsch_gordan(l1: int, l2: int, L: int) -> np.ndarray:
    r"""Coupling coefficients of real spherical harmonics, shape ``(2L+1, 2l1+1, 2l2+1)``.

    If :math:`a` transforms by :math:`D^{l_1}` and :math:`b` by :math:`D^{l_2}` (vectors of
    :func:`wigner_d_real`), then :math:`\sum_{ij} C_{Mij} a_i b_j` transforms by :math:`D^L`.
    Obtained from :func:`clebsch_gordan` by the unitary change of basis between complex and our
    real harmonics; when :math:`l_1 + l_2 + L` is odd the transformed tensor is purely imaginary
    and its imaginary part is returned. The slices are orthonormal:
    :math:`\sum_{L,M} C^L_{Mij} C^L_{Mi'j'} = \delta_{ii'}\delta_{jj'}`.
    """
    for name, v in (("l1", l1), ("l2", l2), ("L", L)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {v!r}.")
    if not abs(l1 - l2) <= L <= l1 + l2:
        raise ValueError(f"L={L} cannot couple l1={l1} and l2={l2}: need |l1-l2| <= L <= l1+l2.")
    return _real_cg(int(l1), int(l2), int(L))


def _sphere_points(k: int) -> np.ndarray:
    """k well-spread unit vectors (Fibonacci spiral), deterministic."""
    i = np.arange(k) + 0.5
    z = 1 - 2 * i / k
    phi = math.pi * (1 + math.sqrt(5)) * i
    s = np.sqrt(1 - z * z)
    return np.stack([s * np.cos(phi), s * np.sin(phi), z], axis=1)


def wigner_d_real(l: int, rotation) -> np.ndarray:
    r"""Real Wigner matrix :math:`D^l(R)`, shape ``(2l+1, 2l+1)``: :math:`Y_l(R\hat{\mathbf r}) = D^l(R) Y_l(\hat{\mathbf r})`.

    For our real harmonics (index ``m + l``). Then the density coefficients of the rotated
    structure (positions :math:`R\mathbf r_j`) are ``D @ coeffs[l]``. The matrix is found by
    evaluating the harmonics at :math:`4l+2` points and at their images (exact up to rounding,
    since rotations map degree-l harmonics onto degree-l harmonics). ``rotation`` may also be
    improper (:math:`\det R = -1`): inversion gives :math:`(-1)^l` times the identity.
    """
    r = np.asarray(rotation, dtype=np.float64)
    if r.shape != (3, 3) or not np.allclose(r @ r.T, np.eye(3), atol=1e-8):
        raise ValueError("rotation must be an orthogonal 3x3 matrix (R @ R.T = identity).")
    if not isinstance(l, (int, np.integer)) or isinstance(l, bool) or l < 0:
        raise ValueError(f"l must be a non-negative integer, got {l!r}.")
    x = _sphere_points(4 * l + 2)
    sl = slice(l * l, (l + 1) ** 2)
    y = _solid_harmonics(x[:, 0], x[:, 1], x[:, 2], l)[:, sl]
    xr = x @ r.T
    yr = _solid_harmonics(xr[:, 0], xr[:, 1], xr[:, 2], l)[:, sl]
    d_t, *_ = np.linalg.lstsq(y, yr, rcond=None)
    return d_t.T


# ---------------------------------------------------------------------------- compression


def _check_k(k, maximum: int, name: str) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= maximum:
        raise ValueError(f"{name} must be an integer in [1, {maximum}], got {k!r}.")
    return int(k)


def _top_eigvecs(cov: np.ndarray, k: int) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1][:k]
    u = vecs[:, order].T
    # fix the sign: the largest component of each vector positive (reproducible output)
    sign = np.sign(u[np.arange(k), np.argmax(np.abs(u), axis=1)])
    return u * sign[:, None]


def pca_radial_contraction(coeffs, n_components: int) -> list[np.ndarray]:
    r"""Per-:math:`l` PCA contraction of the (element, radial) channels.

    ``coeffs`` from :func:`density_coefficients` on a training set (many centres). For each
    :math:`l` the rows of ``u[l]`` (shape ``(n_components, n_species * n_max)``, orthonormal) are
    the leading eigenvectors of the second-moment matrix
    :math:`\sum_{i,m} c_{i;(an)lm} c_{i;(a'n')lm}`; :func:`contract` applies them. With
    ``n_components = n_species * n_max`` the contraction is an orthogonal change of basis.
    """
    coeffs = _check_coeffs(coeffs)
    _, n_s, nn, _ = coeffs[0].shape
    k = _check_k(n_components, n_s * nn, "n_components")
    out = []
    for c in coeffs:
        x = c.transpose(0, 3, 1, 2).reshape(-1, n_s * nn)
        out.append(_top_eigvecs(x.T @ x, k))
    return out


def contract(coeffs, u) -> list[np.ndarray]:
    """Apply :func:`pca_radial_contraction`'s matrices: ``(n_centres, 1, n_components, 2l+1)`` per l.

    The result has one "species" channel, so it feeds :func:`power_spectrum_from_coefficients`
    and :func:`bispectrum_from_coefficients` directly.
    """
    coeffs = _check_coeffs(coeffs)
    if len(u) != len(coeffs):
        raise ValueError(f"u has {len(u)} matrices but coeffs has {len(coeffs)} values of l.")
    out = []
    for c, ul in zip(coeffs, u):
        n_c, n_s, nn, m = c.shape
        ul = np.asarray(ul, dtype=np.float64)
        if ul.ndim != 2 or ul.shape[1] != n_s * nn:
            raise ValueError(f"each u[l] must have shape (k, {n_s * nn}); got {ul.shape}.")
        out.append(np.einsum("pq,rqm->rpm", ul, c.reshape(n_c, n_s * nn, m))[:, None])
    return out


def alchemical_compression(coeffs, n_pseudo: int) -> np.ndarray:
    r"""Pseudo-element matrix :math:`u_{ba}` (shape ``(n_pseudo, n_species)``) by PCA.

    The rows are the leading eigenvectors of the element-channel second moment
    :math:`\sum_{i,n,l,m} c^a_{i;nlm} c^{a'}_{i;nlm}` over the centres of ``coeffs``: the
    pseudo-element densities :math:`\rho^b = \sum_a u_{ba}\rho^a` that keep most of the density.
    Apply with :func:`mix_species`; the power spectrum then has :math:`n_{\rm pseudo}^2` instead
    of :math:`n_s^2` element pairs (Willatt, Musil & Ceriotti 2018).
    """
    coeffs = _check_coeffs(coeffs)
    n_s = coeffs[0].shape[1]
    k = _check_k(n_pseudo, n_s, "n_pseudo")
    cov = np.zeros((n_s, n_s))
    for c in coeffs:
        x = c.transpose(0, 2, 3, 1).reshape(-1, n_s)
        cov += x.T @ x
    return _top_eigvecs(cov, k)


def mix_species(coeffs, u) -> list[np.ndarray]:
    """Coefficients of pseudo-elements: ``c[b] = sum_a u[b, a] c[a]``, shape ``(n_centres, n_pseudo, n_max, 2l+1)``."""
    coeffs = _check_coeffs(coeffs)
    u = np.asarray(u, dtype=np.float64)
    n_s = coeffs[0].shape[1]
    if u.ndim != 2 or u.shape[1] != n_s:
        raise ValueError(f"u must have shape (n_pseudo, {n_s}) (one column per species); got {u.shape}.")
    return [np.einsum("ba,ranm->rbnm", u, c) for c in coeffs]
