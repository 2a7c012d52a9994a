r"""Smooth overlap of atomic positions: the SOAP power spectrum and the average SOAP kernel.

References: Bartók, Kondor & Csányi, Phys. Rev. B 87, 184115 (2013) (and its erratum); De,
Bartók, Csányi & Ceriotti, Phys. Chem. Chem. Phys. 18, 13754 (2016) (average kernel); Himanen
et al., Comput. Phys. Commun. 247, 106949 (2020) (dscribe, whose conventions are followed).

**Density.** Around a centre, the neighbours of element :math:`Z` (positions :math:`\mathbf{r}_j`
relative to the centre, the centre atom itself included) define the density

.. math::

    \rho^Z(\mathbf{r}) = \sum_{j \in Z} w_j \exp\!\left(-\frac{|\mathbf{r}-\mathbf{r}_j|^2}
    {2\sigma^2}\right),

with weights :math:`w_j = 1` unless ``weighting`` is given. Neighbours up to
:math:`r_c + \sigma\sqrt{-2\ln 10^{-3}}` contribute (the Gaussian tails that reach inside
:math:`r_c`).

**Expansion.** :math:`c^Z_{nlm} = \int g_{nl}(r) Y_{lm}(\hat{\mathbf{r}}) \rho^Z(\mathbf{r})\,
d^3r` with real spherical harmonics :math:`Y_{lm}` (orthonormal on the sphere) and one of two
orthonormal radial bases:

- ``rbf="gto"``: :math:`g_{nl}(r) = \sum_{k=1}^{n_\max} \beta^{(l)}_{nk} r^l e^{-\alpha_{lk} r^2}`
  with :math:`\alpha_{lk} = -\ln\bigl(10^{-3}/a_k^l\bigr)/a_k^2` for
  :math:`a_k` = ``linspace(1, r_cut, n_max)`` (each primitive decays to :math:`10^{-3}` at
  :math:`a_k`) and :math:`\beta^{(l)} = S^{-1/2}` the symmetric orthonormalisation with the overlap
  :math:`S_{kk'} = \tfrac{1}{2}\Gamma(l+\tfrac{3}{2})(\alpha_{lk}+\alpha_{lk'})^{-(l+3/2)}`.
  The integral is analytic: with :math:`\eta = 1/(2\sigma^2)`,

  .. math::

      c^Z_{nlm} = \pi^{3/2} \sum_k \beta^{(l)}_{nk}
      \frac{\eta^l}{(\alpha_{lk}+\eta)^{l+3/2}}
      \sum_{j\in Z} w_j \exp\!\left(-\frac{\alpha_{lk}\eta}{\alpha_{lk}+\eta} r_j^2\right)
      r_j^l Y_{lm}(\hat{\mathbf{r}}_j).

- ``rbf="polynomial"``: :math:`g_n(r) = \sum_{k=1}^{n_\max} \beta_{nk} (r_c - r)^{k+2}` on
  :math:`[0, r_c]`, orthonormalised in the same way (:math:`\int_0^{r_c} g_n g_{n'} r^2 dr =
  \delta_{nn'}`). The angular integral is analytic,
  :math:`\int \rho^Z Y_{lm} d\Omega = 4\pi \sum_j w_j e^{-\eta(r^2+r_j^2)}
  i_l(2\eta r r_j) Y_{lm}(\hat{\mathbf{r}}_j)` (:math:`i_l` the modified spherical Bessel function,
  obtained by upward recurrence), and the radial integral uses 100-point Gauss-Legendre quadrature
  on :math:`[0, r_c]`, exactly as dscribe does it: the terms
  :math:`e^{-\eta(r - r_j)^2}` and :math:`e^{-\eta(r + r_j)^2}` are set to zero when
  :math:`r - r_j > 5` or :math:`r + r_j > 5` angstrom, negative values of the recurrence are
  clipped to zero, and an atom on the centre contributes to :math:`l = 0` only.

**Power spectrum.** For element pairs :math:`Z_1 \le Z_2` (species sorted by atomic number),

.. math::

    p^{Z_1 Z_2}_{n n' l} = \pi \sqrt{\frac{8}{2l+1}} \sum_{m=-l}^{l} c^{Z_1}_{nlm} c^{Z_2}_{n'lm},

the prefactor being the square root of the normalisation of the rotational average (erratum of
Bartók et al.). Output order (dscribe's): for :math:`Z_1`, for :math:`Z_2 \ge Z_1`, for
:math:`l`, for :math:`n`, for :math:`n'` (only :math:`n' \ge n` when :math:`Z_1 = Z_2`); in total
:math:`n_s n_\max (n_s n_\max + 1)/2 \cdot (l_\max + 1)` features. ``compression="crossover"``
keeps only :math:`Z_1 = Z_2` (:math:`n_s n_\max(n_\max+1)/2 \cdot (l_\max+1)` features);
``"mu2"`` sums the coefficients over the elements first; ``"mu1nu1"`` pairs each element's
coefficients with their sum over elements, all :math:`(n, n')` (Darby, Kermode & Csányi,
npj Comput. Mater. 8, 166 (2022)).

**Averaging.** ``average="inner"`` averages the coefficients :math:`c` over the centres before the
power spectrum, ``"outer"`` averages the power spectra of the centres.

**Conventions.** The basis construction, the analytic GTO expansion, the numerical polynomial
integration, the prefactors, the feature order, the neighbour cutoff and the weighting functions
follow dscribe 2.1.2's ``SOAP``: with ``rbf="gto"`` the results agree with dscribe to about 1e-11
(relative to the largest feature), with ``rbf="polynomial"`` to about 1e-10.

Deliberate deviations:

- ``rbf="polynomial"`` with ``l_max >= 10``: dscribe stores the normalisation constants of
  :math:`Y_{lm}` rounded to ten decimals, so the smallest ones (from :math:`l = 10, |m| = 10` on)
  are exactly zero and its :math:`l \ge 10` features are not rotationally invariant. We use the
  exact constants; features with :math:`l \le 9` agree with dscribe, those with :math:`l \ge 10`
  do not (ours are invariant).
- Periodic positions are wrapped into the cell before the images are generated, so atoms lying
  outside the cell are handled exactly (dscribe extends the unwrapped positions).
- Centres are atom indices only (dscribe also accepts Cartesian positions).

Numerical caveats, shared with dscribe: the overlap matrix of the polynomial basis is very badly
conditioned (condition number above 1e15 for ``n_max >= 7``), so for ``n_max >= 8`` the basis is
orthonormal only to 1e-6 to 1e-2 (a :class:`RuntimeWarning` says so); and the upward recurrence
for :math:`i_l` returns rounding noise for high :math:`l` at small arguments, about 1e-10 of the
largest feature, so the smallest polynomial features are not reproducible to many digits.

**Speed.** With ``numba`` installed, the GTO expansion and the ``compression="off"`` power
spectrum are computed by compiled kernels (the same formulas as the NumPy code, summed in another
order: equal to ~1e-13 of the largest value; see ``course_lib/descriptors/_jit.py``). Without
numba, or with ``COURSE_LIB_NUMBA=0``, the NumPy code runs.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.sparse
from scipy.special import gamma

from . import _jit
from ._systems import (
    System,
    _is_single_structure,
    as_system,
    as_systems,
    check_centers,
    check_cutoff,
    check_positive_int,
    check_species,
    freeze,
    neighbor_pairs,
    parse_species,
)

__all__ = ["soap", "soap_kernel", "soap_n_features"]

_THRESHOLD = 1e-3  # decay threshold of the GTO primitives and of the density tails (dscribe)
_COMPRESSIONS = ("off", "crossover", "mu2", "mu1nu1")
_AVERAGES = ("off", "inner", "outer")


def soap(
    system,
    species,
    r_cut: float | None,
    n_max: int,
    l_max: int,
    sigma: float = 1.0,
    rbf: str = "gto",
    periodic: bool = False,
    compression="off",
    average: str = "off",
    weighting: dict | None = None,
    centers=None,
) -> np.ndarray:
    r"""SOAP power spectrum of every atom (or of ``centers``), or its average over the structure.

    Parameters
    ----------
    system : ase.Atoms or pymatgen.core.Structure or pymatgen.core.Molecule
        The structure.
    species : list of str or int
        Every element of the data set (fixes the feature layout).
    r_cut : float or None
        Cutoff radius :math:`r_c` in angstrom (> 1 for ``rbf="gto"``). May be None only when
        ``weighting`` has a ``"function"``; it is then inferred as in dscribe.
    n_max : int
        Number of radial basis functions (>= 1).
    l_max : int
        Maximum degree of the spherical harmonics (0 to 20).
    sigma : float
        Width :math:`\sigma` of the Gaussians of the atomic density, in angstrom.
    rbf : str
        Radial basis: ``"gto"`` (default, analytic) or ``"polynomial"`` (numerical quadrature).
    periodic : bool
        Include periodic images (along the directions where the structure's ``pbc`` is True).
    compression : str or dict
        ``"off"`` (default), ``"crossover"``, ``"mu2"`` or ``"mu1nu1"``; or dscribe's dictionary
        ``{"mode": ..., "species_weighting": {element: weight}}``.
    average : str
        ``"off"`` (one row per centre), ``"inner"`` or ``"outer"`` (one vector per structure).
    weighting : dict, optional
        dscribe's weighting options: ``{"function": "poly" | "pow" | "exp", "r0": ..., "c": ...,
        "m": ..., "d": ..., "threshold": ..., "w0": ...}`` with
        :math:`w(r) = c(1 + 2(r/r_0)^3 - 3(r/r_0)^2)^m` (:math:`r \le r_0`, else 0),
        :math:`w(r) = c/(d + (r/r_0)^m)` and :math:`w(r) = c/(d + e^{-r/r_0})` respectively;
        ``"w0"`` overrides the weight of an atom on the centre.
    centers : list of int, optional
        Indices of the centre atoms (default: all atoms, in order).

    Returns
    -------
    numpy.ndarray
        ``(n_centers, n_features)``, or ``(n_features,)`` when averaged.
    """
    params = _check_params(species, r_cut, n_max, l_max, sigma, rbf, compression, average, weighting)
    sysm = as_system(system)
    if centers is not None:
        centers = check_centers(centers, len(sysm))
    return _soap_batch([sysm], params, periodic, centers)[0]


def soap_n_features(species, n_max: int, l_max: int, compression="off") -> int:
    """Number of SOAP features (same formula as dscribe's ``get_number_of_features``)."""
    return _n_features(len(parse_species(species)), n_max, l_max, _compression_mode(compression))


def _n_features(n_s: int, n_max: int, l_max: int, mode: str) -> int:
    if mode == "mu2":
        return n_max * (n_max + 1) // 2 * (l_max + 1)
    if mode == "mu1nu1":
        return n_s * n_max * n_max * (l_max + 1)
    if mode == "crossover":
        return n_s * n_max * (n_max + 1) // 2 * (l_max + 1)
    return n_s * n_max * (n_s * n_max + 1) // 2 * (l_max + 1)


def soap_kernel(a, b=None, zeta: float = 2.0, **soap_params) -> np.ndarray:
    r"""Normalised average-SOAP kernel between structures (De et al. 2016).

    .. math::

        K(A, B) = \left(\frac{\bar{\mathbf{p}}_A \cdot \bar{\mathbf{p}}_B}
        {\lVert\bar{\mathbf{p}}_A\rVert\,\lVert\bar{\mathbf{p}}_B\rVert}\right)^{\zeta}

    where :math:`\bar{\mathbf{p}}_A` is the power spectrum of structure :math:`A` averaged over its
    atoms. With ``average="outer"`` (default) :math:`\bar{\mathbf{p}}_A \cdot \bar{\mathbf{p}}_B`
    is the mean of the linear kernel over all pairs of sites of :math:`A` and :math:`B` (the
    "average kernel" of De et al.); ``average="inner"`` averages the density coefficients instead.
    :math:`K(A, A) = 1`.

    Parameters
    ----------
    a, b : ase.Atoms or pymatgen.core.Structure or list or numpy.ndarray
        Structures (then ``soap_params`` are passed to :func:`~course_lib.descriptors.soap`), or already averaged power
        spectra of shape ``(n_features,)`` or ``(n_structures, n_features)``. ``b=None`` means
        ``b = a``.
    zeta : float
        Exponent :math:`\zeta > 0` (sharpens the kernel).
    **soap_params
        Keyword arguments of :func:`~course_lib.descriptors.soap` (``species``, ``r_cut``, ``n_max``, ``l_max``, ...);
        ``average`` defaults to ``"outer"``.

    Returns
    -------
    numpy.ndarray or float
        Kernel matrix of shape ``(len(a), len(b))``, or a float when both are single structures.
    """
    if not zeta > 0:
        raise ValueError(f"zeta must be > 0, got {zeta!r}.")
    soap_params.setdefault("average", "outer")
    if soap_params["average"] == "off":
        raise ValueError("soap_kernel compares whole structures: use average='outer' or 'inner'.")
    single_a, pa = _kernel_features(a, soap_params)
    if b is None:
        single_b, pb = single_a, pa
    else:
        single_b, pb = _kernel_features(b, soap_params)
    if pa.shape[1] != pb.shape[1]:
        raise ValueError(f"feature lengths differ: {pa.shape[1]} vs {pb.shape[1]}.")
    na = np.linalg.norm(pa, axis=1)
    nb = np.linalg.norm(pb, axis=1)
    if np.any(na == 0) or np.any(nb == 0):
        raise ValueError("a power spectrum is all zeros; the normalised kernel is undefined.")
    k = (pa @ pb.T) / np.outer(na, nb)
    k = np.clip(k, -1.0, 1.0) ** zeta
    if single_a and single_b:
        return float(k[0, 0])
    return k


def _kernel_features(x, soap_params):
    """(is a single item, averaged power spectra as a 2-D array) for structures or features."""
    if isinstance(x, np.ndarray) and x.dtype != object:
        if x.ndim == 1:
            return True, x[None, :].astype(np.float64)
        if x.ndim == 2:
            return False, x.astype(np.float64)
        raise ValueError("feature arrays must be 1-D or 2-D.")
    missing = [k for k in ("species", "r_cut", "n_max", "l_max") if k not in soap_params]
    if missing:
        raise ValueError(f"soap_kernel on structures needs the soap parameters {missing}.")
    params = dict(soap_params)
    periodic = params.pop("periodic", False)
    args = [params.pop(k) for k in ("species", "r_cut", "n_max", "l_max")]
    opts = [params.pop(k, d) for k, d in (("sigma", 1.0), ("rbf", "gto"), ("compression", "off"),
                                           ("average", "outer"), ("weighting", None))]
    if params:
        raise ValueError(f"unknown soap parameters: {sorted(params)}.")
    p = _check_params(*args, *opts)
    single = _is_single_structure(x)
    systems = [as_system(x)] if single else as_systems(x)
    return single, np.stack(_soap_batch(systems, p, periodic))


# ----------------------------------------------------------------------------------- parameters


def _compression_mode(compression) -> str:
    mode = compression.get("mode", "off") if isinstance(compression, dict) else compression
    if mode not in _COMPRESSIONS:
        raise ValueError(f"compression must be one of {_COMPRESSIONS} (or a dict with 'mode'); got {mode!r}.")
    return mode


def _check_weighting(weighting):
    if weighting is None:
        return {}
    if not isinstance(weighting, dict):
        raise ValueError(f"weighting must be a dict (dscribe's format), got {weighting!r}.")
    w = dict(weighting)
    if "w0" in w:
        if w["w0"] is None or w["w0"] < 0:
            raise ValueError("weighting['w0'] must be >= 0.")
        w["w0"] = float(w["w0"])
    func = w.get("function")
    if func is not None:
        if func not in ("poly", "pow", "exp"):
            raise ValueError(f"weighting['function'] must be 'poly', 'pow' or 'exp', got {func!r}.")
        for key, lo, strict in (("r0", 0, True), ("c", 0, False)):
            v = w.get(key)
            if v is None or (v <= lo if strict else v < lo):
                raise ValueError(f"weighting function {func!r} needs {key} {'>' if strict else '>='} {lo}.")
            w[key] = float(v)
        needs = {"poly": ("m",), "pow": ("d", "m"), "exp": ("d",)}[func]
        for key in needs:
            v = w.get(key)
            if v is None or v < 0:
                raise ValueError(f"weighting function {func!r} needs {key} >= 0.")
            w[key] = float(v)
        if func in ("pow", "exp"):
            w["threshold"] = float(w.get("threshold", 1e-2))
    return w


def _infer_r_cut(w) -> float | None:
    func = w.get("function")
    if func == "poly":
        return w["r0"]
    if func == "pow":
        return w["r0"] * (w["c"] / w["threshold"] - w["d"]) ** (1 / w["m"])
    if func == "exp":
        return w["r0"] * math.log(w["c"] / w["threshold"] - w["d"])
    return None


_PARAM_CACHE: dict = {}


def _check_params(species, r_cut, n_max, l_max, sigma, rbf, compression, average, weighting) -> dict:
    """Validated parameters (cached: repeated single-structure calls skip the validation)."""
    key = freeze((species, r_cut, n_max, l_max, sigma, rbf, compression, average, weighting))
    if key is not None and key in _PARAM_CACHE:
        return _PARAM_CACHE[key]
    params = _validate_params(species, r_cut, n_max, l_max, sigma, rbf, compression, average, weighting)
    if key is not None:
        if len(_PARAM_CACHE) > 64:
            _PARAM_CACHE.clear()
        _PARAM_CACHE[key] = params
    return params


def _validate_params(species, r_cut, n_max, l_max, sigma, rbf, compression, average, weighting) -> dict:
    sp = parse_species(species)
    n_max = check_positive_int(n_max, "n_max", 1)
    l_max = check_positive_int(l_max, "l_max", 0)
    if l_max > 20:
        raise ValueError(f"l_max must be <= 20 (as in dscribe), got {l_max}.")
    if not (isinstance(sigma, (int, float, np.number)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number of angstrom, got {sigma!r}.")
    if rbf not in ("gto", "polynomial"):
        raise ValueError(f"rbf must be 'gto' or 'polynomial', got {rbf!r}.")
    if average not in _AVERAGES:
        raise ValueError(f"average must be one of {_AVERAGES}, got {average!r}.")
    mode = _compression_mode(compression)
    w = _check_weighting(weighting)
    if r_cut is None:
        r_cut = _infer_r_cut(w)
        if r_cut is None:
            raise ValueError("r_cut is required (it may be omitted only with a weighting function).")
    r_cut = check_cutoff(r_cut)
    if rbf == "gto" and r_cut <= 1:
        raise ValueError(f"r_cut must be > 1 angstrom for the GTO radial basis, got {r_cut}.")
    sw = np.ones(len(sp))
    if isinstance(compression, dict) and compression.get("species_weighting") is not None:
        table = compression["species_weighting"]
        if not isinstance(table, dict):
            raise ValueError("compression['species_weighting'] must be a dict {element: weight}.")
        keyed = {int(parse_species([k])[0]): float(v) for k, v in table.items()}
        if set(keyed) != set(sp.tolist()):
            raise ValueError("compression['species_weighting'] must give a weight for every species and no other.")
        sw = np.array([keyed[z] for z in sp.tolist()])
    return {
        "species": sp,
        "species_weights": sw,
        "r_cut": float(r_cut),
        "n_max": n_max,
        "l_max": l_max,
        "sigma": float(sigma),
        "eta": 1.0 / (2.0 * float(sigma) ** 2),
        "rbf": rbf,
        "mode": mode,
        "average": average,
        "weighting": w,
        "cutoff": float(r_cut) + float(sigma) * math.sqrt(-2.0 * math.log(_THRESHOLD)),
    }


# ------------------------------------------------------------------------------- radial bases


@lru_cache(maxsize=32)
def _gto_basis(r_cut: float, n_max: int, l_max: int):
    """alpha[l, k] and beta[l, n, k] of dscribe's orthonormalised GTO basis."""
    a = np.linspace(1.0, r_cut, n_max)
    alphas = np.zeros((l_max + 1, n_max))
    betas = np.zeros((l_max + 1, n_max, n_max))
    for l in range(l_max + 1):
        alpha = -np.log(_THRESHOLD / np.power(a, l)) / a**2
        m = alpha[:, None] + alpha[None, :]
        overlap = 0.5 * gamma(l + 1.5) * m ** (-l - 1.5)
        beta = scipy.linalg.sqrtm(scipy.linalg.inv(overlap))
        if np.iscomplexobj(beta):
            if np.max(np.abs(beta.imag)) > 1e-8 * np.max(np.abs(beta.real)):
                raise ValueError(
                    f"the GTO radial basis cannot be orthonormalised for r_cut={r_cut}, n_max={n_max} "
                    "(numerically singular overlap). Lower n_max or increase r_cut."
                )
            beta = beta.real
        alphas[l] = alpha
        betas[l] = beta
    return alphas, betas


@lru_cache(maxsize=32)
def _gto_factors(r_cut: float, n_max: int, l_max: int, eta: float):
    """Exponents A[l, k] and prefactors B[l, n, k] of the analytic GTO expansion."""
    alphas, betas = _gto_basis(r_cut, n_max, l_max)
    ls = np.arange(l_max + 1)[:, None]
    expo = -alphas * eta / (alphas + eta)
    pref = eta**ls / (alphas + eta) ** (ls + 1.5)  # (l, k)
    return expo, betas * pref[:, None, :] * math.pi**1.5


@lru_cache(maxsize=32)
def _poly_basis(r_cut: float, n_max: int):
    """Quadrature nodes r_w, weights and the orthonormal polynomial basis g_n(r_w).

    The overlap matrix is evaluated term by term exactly as in dscribe: it is very badly
    conditioned (condition number above 1e15 for ``n_max >= 7``), so its inverse square root,
    and hence the basis, depends on the last bit of every entry.
    """
    overlap = np.zeros((n_max, n_max))
    for i in range(1, n_max + 1):
        for j in range(1, n_max + 1):
            overlap[i - 1, j - 1] = (2 * r_cut ** (7 + i + j)) / ((5 + i + j) * (6 + i + j) * (7 + i + j))
    beta = scipy.linalg.sqrtm(np.linalg.inv(overlap))
    if np.iscomplexobj(beta):
        if np.max(np.abs(beta.imag)) > 1e-8 * np.max(np.abs(beta.real)):
            raise ValueError(
                f"the polynomial radial basis cannot be orthonormalised for r_cut={r_cut}, "
                f"n_max={n_max} (numerically singular overlap matrix). Lower n_max (<= 9)."
            )
        beta = beta.real
    x, wts = np.polynomial.legendre.leggauss(100)
    rx = r_cut * 0.5 * (x + 1.0)
    fs = np.zeros((n_max, len(x)))
    for n in range(1, n_max + 1):
        fs[n - 1, :] = (r_cut - np.clip(rx, 0, r_cut)) ** (n + 2)
    gss = beta @ fs  # (n, w)
    gram = (gss * (rx**2 * wts * r_cut / 2)) @ gss.T
    err = float(np.max(np.abs(gram - np.eye(n_max))))
    if err > 1e-6:
        warnings.warn(
            f"the polynomial radial basis with n_max={n_max}, r_cut={r_cut} is orthonormal only to "
            f"{err:.1e} (ill-conditioned overlap matrix, as in dscribe); use n_max <= 7 or "
            "rbf='gto' for a well-conditioned basis.",
            RuntimeWarning,
            stacklevel=4,
        )
    return rx, wts, gss


# --------------------------------------------------------------------------- spherical harmonics


@lru_cache(maxsize=32)
def _sh_tables(l_max: int):
    """Per l: the normalisation constants of the real solid harmonics for m = 0..l (the
    sqrt(2) of m > 0 included), and the recurrence factors (l+m-1) and (l-m) for m = 0..l-2."""
    tables = []
    for l in range(l_max + 1):
        m = np.arange(l + 1)
        norm = np.array([
            math.sqrt((2 * l + 1) / (4 * math.pi) * math.exp(math.lgamma(l - k + 1) - math.lgamma(l + k + 1)))
            * (1.0 if k == 0 else math.sqrt(2.0))
            for k in m
        ])
        tables.append((norm, (l + m[: max(l - 1, 0)] - 1.0)[:, None], (l - m[: max(l - 1, 0)] + 0.0)[:, None]))
    return tables


@lru_cache(maxsize=32)
def _sh_kernel_tables(l_max: int):
    """:func:`_sh_tables` for the compiled kernel: ``norm[l, m]`` (m = 0..l) and ``(2l-1)!!``."""
    norm = np.zeros((l_max + 1, l_max + 1))
    for l, (nl, _, _) in enumerate(_sh_tables(l_max)):
        norm[l, : l + 1] = nl
    dfact = np.array([_double_factorial(2 * l - 1) for l in range(l_max + 1)])
    norm.flags.writeable = dfact.flags.writeable = False
    return norm, dfact


def _gto_expansion_kernel_py(vec, d2, w, group, expo, pref, norm, dfact, c):
    """Compiled GTO expansion: for every pair, the radial factors of :func:`_radial_gto` and the
    solid harmonics of :func:`_solid_harmonics` (the same recurrence, operation by operation),
    their products added to ``c[group, n, l*l + l + m]`` in pair order (the order of the NumPy
    path's sum over each group's run of pairs)."""
    n_pairs = len(d2)
    n_l, nn, n_k = pref.shape
    cos_m = np.empty(n_l)
    sin_m = np.empty(n_l)
    q_prev = np.empty(n_l)
    q = np.empty(n_l)
    q_new = np.empty(n_l)
    ylm = np.empty(n_l * n_l)
    e = np.empty(n_k)
    for p in range(n_pairs):
        x, y, z = vec[p, 0], vec[p, 1], vec[p, 2]
        r2 = x * x + y * y + z * z
        cos_m[0], sin_m[0] = 1.0, 0.0
        for m in range(1, n_l):
            cos_m[m] = x * cos_m[m - 1] - y * sin_m[m - 1]
            sin_m[m] = x * sin_m[m - 1] + y * cos_m[m - 1]
        for l in range(n_l):
            for m in range(l - 1):
                q_new[m] = ((2 * l - 1) * z * q[m] - (l + m - 1.0) * r2 * q_prev[m]) / (l - m + 0.0)
            if l >= 1:
                q_new[l - 1] = (2 * l - 1) * z * q[l - 1]
            q_new[l] = dfact[l]
            base = l * l + l
            ylm[base] = norm[l, 0] * q_new[0]
            for m in range(1, l + 1):
                cq = norm[l, m] * q_new[m]
                ylm[base + m] = cq * cos_m[m]
                ylm[base - m] = cq * sin_m[m]
            for m in range(l + 1):
                q_prev[m] = q[m]
                q[m] = q_new[m]
        g = group[p]
        wp = w[p]
        for l in range(n_l):
            for k in range(n_k):
                e[k] = np.exp(expo[l, k] * d2[p])
            for n in range(nn):
                rad = 0.0
                for k in range(n_k):
                    rad += e[k] * pref[l, n, k]
                rad *= wp
                for lm in range(l * l, (l + 1) * (l + 1)):
                    c[g, n, lm] += rad * ylm[lm]


_gto_expansion_kernel = _jit.jit(_gto_expansion_kernel_py)


def _power_spectrum_kernel_py(c, src, scale, out):
    """Compiled gather of ``compression="off"``: ``out[row, f] = scale[f] * M[row].flat[src[f]]``
    with ``M[row, l, x, y] = sum_m c[row, x, l*l + m] c[row, y, l*l + m]`` (the matrices of
    :func:`_products`), one row at a time (``M`` of a row stays in cache)."""
    n_rows, xy, n_lm = c.shape
    n_l = int(round(np.sqrt(n_lm)))
    ct = np.empty((n_lm, xy))
    prod = np.empty(n_l * xy * xy)
    n_f = len(src)
    for row in range(n_rows):
        for x in range(xy):
            for lm in range(n_lm):
                ct[lm, x] = c[row, x, lm]
        for l in range(n_l):
            for x in range(xy):
                base = (l * xy + x) * xy
                for y in range(xy):
                    prod[base + y] = 0.0
                for lm in range(l * l, (l + 1) * (l + 1)):
                    cx = ct[lm, x]
                    for y in range(xy):
                        prod[base + y] += cx * ct[lm, y]
        for f in range(n_f):
            out[row, f] = prod[src[f]] * scale[f]


_power_spectrum_kernel = _jit.jit(_power_spectrum_kernel_py)


def _double_factorial(k: int) -> float:
    """k!! (1 for k <= 0) in exact integer arithmetic, then rounded once to a float.

    A numpy product in int64 overflows from 35!! on (l = 18), which made SOAP wrong there.
    """
    return float(math.prod(range(k, 0, -2)))


def _solid_harmonics(x, y, z, l_max: int) -> np.ndarray:
    r"""Real solid harmonics :math:`r^l Y_{lm}(\hat{\mathbf{r}})`, shape ``(n, (l_max+1)**2)``.

    Index ``l*l + l + m`` for ``m = -l..l``; orthonormal :math:`Y_{lm}` (the Condon-Shortley
    phase is omitted, which does not change the power spectrum). With
    :math:`r^l P_l^m(\cos\theta) e^{im\phi} = Q_l^m(z, r^2)(x + iy)^m`, the polynomials
    :math:`Q_l^m` follow the recurrence in l for all m at once:
    :math:`Q_m^m = (2m-1)!!`, :math:`Q_{m+1}^m = (2m+1) z Q_m^m` and
    :math:`Q_l^m = ((2l-1) z Q_{l-1}^m - (l+m-1) r^2 Q_{l-2}^m)/(l-m)`.
    """
    n = len(x)
    out = np.empty(((l_max + 1) ** 2, n))  # rows (l, m); transposed on return
    r2 = x * x + y * y + z * z
    tables = _sh_tables(l_max)
    cos_m = np.empty((l_max + 1, n))  # Re (x + i y)^m
    sin_m = np.empty((l_max + 1, n))  # Im (x + i y)^m
    cos_m[0], sin_m[0] = 1.0, 0.0
    for m in range(1, l_max + 1):
        cos_m[m] = x * cos_m[m - 1] - y * sin_m[m - 1]
        sin_m[m] = x * sin_m[m - 1] + y * cos_m[m - 1]
    q_prev = q = None  # Q_{l-2}^m and Q_{l-1}^m, rows m
    for l in range(l_max + 1):
        norm, lm1, l_m = tables[l]
        q_new = np.empty((l + 1, n))
        if l >= 2:
            q_new[: l - 1] = ((2 * l - 1) * z * q[: l - 1] - lm1 * r2 * q_prev[: l - 1]) / l_m
        if l >= 1:
            q_new[l - 1] = (2 * l - 1) * z * q[l - 1]
        q_new[l] = _double_factorial(2 * l - 1)
        cq = norm[:, None] * q_new
        base = l * l + l
        out[base] = cq[0]
        if l:
            np.multiply(cq[1:], cos_m[1 : l + 1], out=out[base + 1 : base + l + 1])
            np.multiply(cq[:0:-1], sin_m[l:0:-1], out=out[l * l : base])
        q_prev, q = q, q_new
    return out.T


# ----------------------------------------------------------------------------------- weighting


def _weights(r: np.ndarray, w: dict) -> np.ndarray:
    """Neighbour weights w(r) of dscribe's weighting options (r = 0 marks the centre atom)."""
    func = w.get("function")
    if func is None:
        out = np.ones_like(r)
    elif func == "poly":
        rr = r / w["r0"]
        base = 1.0 + 2.0 * rr**3 - 3.0 * rr**2
        out = np.where(r > w["r0"], 0.0, w["c"] * np.power(np.where(r > w["r0"], 1.0, base), w["m"]))
    elif func == "pow":
        out = w["c"] / (w["d"] + np.power(r / w["r0"], w["m"]))
    else:
        out = w["c"] / (w["d"] + np.exp(-r / w["r0"]))
    if "w0" in w:
        out = np.where(r == 0, w["w0"], out)
    return out


# ------------------------------------------------------------------------------- layouts


def _ps_shape(n_s: int, nn: int, mode: str) -> tuple[int, int]:
    """Shape (X, Y) of the product matrix M_l = A_l B_l^T of one l for each compression mode."""
    if mode == "off":
        return n_s * nn, n_s * nn
    if mode in ("crossover", "mu1nu1"):
        # crossover: block diagonal, species z rows pair with the same species' columns;
        # mu1nu1: rows (z, n) pair with the species-summed coefficients (n')
        return n_s * nn, nn
    return nn, nn  # mu2


@lru_cache(maxsize=64)
def _local_layout(n_s: int, n_max: int, l_max: int, mode: str):
    """The power-spectrum features of ``n_s`` species in dscribe's order.

    Returns ``(flat, z1, z2, l, n1, n2)``: for every feature, its flat index into the stacked
    product matrices ``M[l, x, y]`` and its labels (species indices, l, n, n').
    """
    nn = n_max
    x_dim, y_dim = _ps_shape(n_s, nn, mode)
    per_l = x_dim * y_dim
    tri1, tri2 = np.triu_indices(nn)
    full1, full2 = np.divmod(np.arange(nn * nn), nn)
    rows = []  # (z1, z2, l, n1, n2, flat) blocks

    def add(z1, z2, l, n1, n2, flat):
        k = len(n1)
        rows.append(np.stack([np.full(k, z1), np.full(k, z2), np.full(k, l), n1, n2, flat]))

    if mode in ("off", "crossover"):
        for z1 in range(n_s):
            for z2 in range(z1, n_s if mode == "off" else z1 + 1):
                n1, n2 = (tri1, tri2) if z1 == z2 else (full1, full2)
                for l in range(l_max + 1):
                    if mode == "off":
                        flat = l * per_l + (z1 * nn + n1) * y_dim + z2 * nn + n2
                    else:
                        flat = l * per_l + (z1 * nn + n1) * y_dim + n2
                    add(z1, z2, l, n1, n2, flat)
    elif mode == "mu2":
        for l in range(l_max + 1):
            add(0, 0, l, tri1, tri2, l * per_l + tri1 * y_dim + tri2)
    else:  # mu1nu1
        for z1 in range(n_s):
            for l in range(l_max + 1):
                add(z1, z1, l, full1, full2, l * per_l + (z1 * nn + full1) * y_dim + full2)
    table = np.concatenate(rows, axis=1).astype(np.intp)
    return tuple(table[[5, 0, 1, 2, 3, 4]])


@lru_cache(maxsize=64)
def _block_starts(n_s: int, n_max: int, l_max: int, mode: str) -> np.ndarray:
    """First output column of every species pair block (``z1 <= z2``) in dscribe's layout."""
    nn, nl = n_max, l_max + 1
    starts = np.zeros((n_s, n_s), dtype=np.intp)
    col = 0
    for z1 in range(n_s):
        for z2 in range(z1, n_s if mode == "off" else z1 + 1):
            starts[z1, z2] = col
            col += nl * (nn * (nn + 1) // 2 if z1 == z2 and mode != "mu1nu1" else nn * nn)
    return starts


def _global_columns(gmap: np.ndarray, n_s: int, nn: int, l_max: int, mode: str):
    """Output columns (dscribe's layout for all ``n_s`` species) of the local features of every
    structure, given its local-to-global species map ``gmap`` (-1 = unused local slot)."""
    _, z1, z2, l, n1, n2 = _local_layout(gmap.shape[1], nn, l_max, mode)
    if mode == "mu2":
        tri = nn * (nn + 1) // 2
        col = l * tri + n1 * nn - n1 * (n1 - 1) // 2 + (n2 - n1)
        return np.broadcast_to(col, (len(gmap), len(col))), np.ones((len(gmap), len(col)), bool)
    g1, g2 = gmap[:, z1], gmap[:, z2]
    valid = (g1 >= 0) & (g2 >= 0)
    g1c, g2c = np.maximum(g1, 0), np.maximum(g2, 0)
    starts = _block_starts(n_s, nn, l_max, "mu1nu1" if mode == "mu1nu1" else ("off" if mode == "off" else "crossover"))
    same = z1 == z2
    if mode == "mu1nu1":
        col = starts[g1c, g1c] + l * nn * nn + n1 * nn + n2
    else:
        tri = nn * (nn + 1) // 2
        within = np.where(same, l * tri + n1 * nn - n1 * (n1 - 1) // 2 + (n2 - n1), l * nn * nn + n1 * nn + n2)
        col = starts[g1c, g2c] + within
    return col, valid


@lru_cache(maxsize=256)
def _gather_plan(key: bytes, n_s: int, nn: int, l_max: int, mode: str):
    """For one local-to-global species map (``gmap`` row as int64 bytes): the flat index into the
    product matrices of every output column in dscribe's layout, and its prefactor (0 for the
    columns of species pairs the structures lack, whose index is then a dummy 0)."""
    gmap = np.frombuffer(key, dtype=np.int64)[None, :]
    cols, _ = _global_columns(gmap, n_s, nn, l_max, mode)
    flat = _local_layout(gmap.shape[1], nn, l_max, mode)[0]
    n_feat = _n_features(n_s, nn, l_max, mode)
    src = np.zeros(n_feat, dtype=np.intp)
    scale = np.zeros(n_feat)
    src[cols[0]] = flat
    scale[cols[0]] = _local_prefactor(gmap.shape[1], nn, l_max, mode)
    src.flags.writeable = scale.flags.writeable = False
    return src, scale


def _power_spectrum(coeffs: list[np.ndarray], mode: str) -> np.ndarray:
    """Power spectrum (local layout) from per-l coefficients of shape ``(n_centres, S, N, 2l+1)``."""
    n_c, n_s, nn, _ = coeffs[0].shape
    flat = _local_layout(n_s, nn, len(coeffs) - 1, mode)[0]
    if _jit.ENABLED and mode == "off":  # the same sums as soap()'s compiled path
        out = np.empty((n_c, len(flat)))
        _power_spectrum_kernel(_stacked(coeffs), flat, _local_prefactor(n_s, nn, len(coeffs) - 1, mode), out)
        return out
    out = np.take(_products(coeffs, mode).reshape(n_c, -1), flat, axis=1)
    out *= _local_prefactor(n_s, nn, len(coeffs) - 1, mode)
    return out


def _stacked(coeffs: list[np.ndarray]) -> np.ndarray:
    """Per-l coefficients ``(n_centres, S, N, 2l+1)`` as one ``(n_centres, S*N, (l_max+1)**2)``
    array (the layout of :attr:`Expansion.full`)."""
    n_c, n_s, nn, _ = coeffs[0].shape
    return np.concatenate([c.reshape(n_c, n_s * nn, -1) for c in coeffs], axis=2)


@lru_cache(maxsize=64)
def _local_prefactor(n_s: int, n_max: int, l_max: int, mode: str) -> np.ndarray:
    """pi sqrt(8/(2l+1)) of every feature of :func:`_local_layout` (erratum of Bartok et al.)."""
    ls = _local_layout(n_s, n_max, l_max, mode)[3]
    out = np.pi * np.sqrt(8.0 / (2.0 * ls + 1.0))
    out.flags.writeable = False
    return out


def _products(coeffs: list[np.ndarray], mode: str) -> np.ndarray:
    """The matrices M[centre, l, x, y] = sum_m c_x c_y whose entries are the power spectrum."""
    n_c, n_s, nn, _ = coeffs[0].shape
    l_max = len(coeffs) - 1
    x_dim, y_dim = _ps_shape(n_s, nn, mode)
    prod = np.empty((n_c, l_max + 1, x_dim, y_dim))
    for l, c in enumerate(coeffs):
        if mode == "off":
            a = c.reshape(n_c, n_s * nn, 2 * l + 1)
            np.matmul(a, a.transpose(0, 2, 1), out=prod[:, l])
        elif mode == "crossover":
            prod[:, l] = np.einsum("cznm,czkm->cznk", c, c).reshape(n_c, n_s * nn, nn)
        elif mode == "mu2":
            a = c.sum(axis=1)
            np.matmul(a, a.transpose(0, 2, 1), out=prod[:, l])
        else:
            a = c.reshape(n_c, n_s * nn, 2 * l + 1)
            np.matmul(a, c.sum(axis=1).transpose(0, 2, 1), out=prod[:, l])
    return prod


# --------------------------------------------------------------------------------- expansion


def _radial_gto(r2: np.ndarray, p: dict) -> np.ndarray:
    """R[l, pair, n] = sum_k B[l, n, k] exp(A[l, k] r^2) (times r^l Y_lm gives c)."""
    expo, pref = _gto_factors(p["r_cut"], p["n_max"], p["l_max"], p["eta"])
    e = np.exp(expo[:, None, :] * r2[None, :, None])  # (L, P, K)
    return np.matmul(e, pref.transpose(0, 2, 1))  # (L, P, N)


def _radial_poly(r: np.ndarray, p: dict) -> np.ndarray:
    """R[pair, l, n] of the polynomial basis (quadrature as in dscribe)."""
    rx, wts, gss = _poly_basis(p["r_cut"], p["n_max"])
    eta, l_max = p["eta"], p["l_max"]
    # quadrature weights including r^2, the basis and the 2 pi r_c normalisation of c
    gw = (gss * (rx**2 * wts)[None, :]).T * (2.0 * math.pi * p["r_cut"])  # (w, n)
    out = np.zeros((len(r), l_max + 1, p["n_max"]))
    centre = r * r <= 1e-12
    out[centre, 0, :] = np.exp(-eta * rx**2) @ gw
    off = ~centre
    if off.any():
        ri = r[off][:, None]
        diff = rx[None, :] - ri
        summ = rx[None, :] + ri
        minus = np.where(diff > 5.0, 0.0, np.exp(-eta * diff * diff))
        plus = np.where(summ > 5.0, 0.0, np.exp(-eta * summ * summ))
        q = (0.25 / eta) / ri / rx[None, :]
        f0 = q * (minus - plus)
        out_off = np.empty((len(ri), l_max + 1, p["n_max"]))
        out_off[:, 0] = f0 @ gw
        if l_max > 0:
            f1 = q * (minus + plus - 2.0 * f0)
            out_off[:, 1] = f1 @ gw
            f_lm2, f_lm1 = f0, f1
            for l in range(2, l_max + 1):
                f_l = f_lm2 - q * (4 * l - 2) * f_lm1
                np.maximum(f_l, 0.0, out=f_l)
                out_off[:, l] = f_l @ gw
                f_lm2, f_lm1 = f_lm1, f_l
        out[off] = out_off
    return np.ascontiguousarray(out.transpose(1, 0, 2))  # (L, P, N)


def _local_species(sp_idx: np.ndarray, offsets: np.ndarray):
    """Per structure: the sorted species present (padded with -1) and each atom's local index.

    When the whole batch contains only a few species, they are used for every structure (one
    layout for all, so the output needs no per-structure scatter).
    """
    union = np.unique(sp_idx)
    if len(union) <= 6:
        return np.searchsorted(union, sp_idx), np.tile(union, (len(offsets) - 1, 1))
    loc = np.empty(len(sp_idx), dtype=np.int64)
    present = []
    for k in range(len(offsets) - 1):
        uniq, inv = np.unique(sp_idx[offsets[k] : offsets[k + 1]], return_inverse=True)
        loc[offsets[k] : offsets[k + 1]] = inv
        present.append(uniq)
    gmap = np.full((len(present), max(len(u) for u in present)), -1, dtype=np.int64)
    for k, u in enumerate(present):
        gmap[k, : len(u)] = u
    return loc, gmap


class Expansion(NamedTuple):
    """Density coefficients of a batch of structures, in the "local species" layout.

    ``coeffs[l]`` has shape ``(n_rows, s_loc, n_max, 2l+1)``: row = centre, then the local species
    index (``gmap[structure, local] `` is the index into ``p["species"]``, -1 for padding), the
    radial index n and m = -l..l (real harmonics, index ``m + l``).
    """

    coeffs: list
    gmap: np.ndarray
    owner: np.ndarray  # structure of each row
    offsets: np.ndarray  # atoms of structure k are rows offsets[k]:offsets[k+1] (all centres)
    # the compiled path only: all l at once, (n_rows, s_loc * n_max, (l_max+1)**2), contiguous
    full: np.ndarray | None = None


def _expansion(systems: list[System], p: dict, periodic: bool, centers=None) -> Expansion:
    """The coefficients c_nlm of every centre (or of ``centers``, single system only)."""
    sp = p["species"]
    nn, l_max = p["n_max"], p["l_max"]
    sp_idx = np.concatenate([check_species(s, sp) for s in systems])
    nl = neighbor_pairs(systems, p["cutoff"], periodic)
    n_atoms = int(nl.offsets[-1])
    loc_sp, gmap = _local_species(sp_idx, nl.offsets)
    s_loc = gmap.shape[1]
    repeat = None
    if centers is None:
        rows = np.arange(n_atoms)
        n_rows = n_atoms
        owner = np.repeat(np.arange(len(systems)), np.diff(nl.offsets))
        ci = rows
    else:
        # each distinct centre is expanded once; repeated centres get copies of its row
        ci, repeat = np.unique(np.asarray(centers), return_inverse=True)
        rows = np.full(n_atoms, -1, dtype=np.int64)
        rows[ci] = np.arange(len(ci))
        n_rows = len(ci)
    # pairs: the neighbours plus the centre atom itself (r = 0)
    i = np.concatenate([nl.i, ci])
    j = np.concatenate([nl.j, ci])
    vec = np.concatenate([nl.vec, np.zeros((len(ci), 3))])
    d2 = np.concatenate([nl.d2, np.zeros(len(ci))])
    if centers is not None:
        keep = rows[i] >= 0
        i, j, vec, d2 = i[keep], j[keep], vec[keep], d2[keep]
    group = rows[i] * s_loc + loc_sp[j]
    if _jit.ENABLED and p["rbf"] == "gto":
        r = np.sqrt(d2)
        w = _weights(r, p["weighting"]) * p["species_weights"][sp_idx[j]]
        expo, pref = _gto_factors(p["r_cut"], nn, l_max, p["eta"])
        norm, dfact = _sh_kernel_tables(l_max)
        c = np.zeros((n_rows * s_loc, nn, (l_max + 1) ** 2))
        _gto_expansion_kernel(vec, d2, w, group, expo, pref, norm, dfact, c)
        if repeat is not None:  # back to the order (and repeats) of ``centers``
            c = c.reshape(n_rows, -1)[repeat]
            owner = np.zeros(len(repeat), dtype=np.int64)
        c = c.reshape(len(owner), s_loc, nn, -1)
        coeffs = [c[..., l * l : (l + 1) ** 2] for l in range(l_max + 1)]
        return Expansion(coeffs, gmap, owner, nl.offsets, c.reshape(len(owner), s_loc * nn, -1))
    # sorted by (centre, local species) group, so that each c is a sum over a run of pairs
    order = np.argsort(group, kind="stable")
    group, j, vec, d2 = group[order], j[order], vec[order], d2[order]
    r = np.sqrt(d2)
    w = _weights(r, p["weighting"]) * p["species_weights"][sp_idx[j]]
    if p["rbf"] == "gto":
        radial = _radial_gto(d2, p)
        ang = _solid_harmonics(vec[:, 0], vec[:, 1], vec[:, 2], l_max)
    else:
        radial = _radial_poly(r, p)
        safe = np.where(r > 0, r, 1.0)
        ang = _solid_harmonics(vec[:, 0] / safe, vec[:, 1] / safe, vec[:, 2] / safe, l_max)
    radial *= w[None, :, None]
    n_pairs = len(group)
    # c[group, n, lm] = sum over the run of pairs of a group of R[l, pair, n] Y[pair, lm]
    if n_pairs * nn * (l_max + 1) ** 2 <= _DENSE_EXPANSION:
        coeffs = _contract_dense(radial, ang, group, n_rows, s_loc)
    else:
        coeffs = _contract_sparse(radial, ang, group, n_rows, s_loc)
    if repeat is not None:  # back to the order (and repeats) of ``centers``
        coeffs = [c[repeat] for c in coeffs]
        owner = np.zeros(len(repeat), dtype=np.int64)
    return Expansion(coeffs, gmap, owner, nl.offsets)


# Up to this many (pairs x n x lm) products R Y (2.4 MB) the coefficients are one sum over each
# group's run of pairs of the products formed at once (fastest for one structure); above it, a
# sparse (groups x pairs) matrix is applied per (l, n), which stays in cache for large batches.
_DENSE_EXPANSION = 300_000


def _contract_dense(radial, ang, group, n_rows: int, s_loc: int) -> list[np.ndarray]:
    """Per l, c[row, local species, n, m] from group-sorted pairs: all products, then reduceat."""
    l_max, n_pairs, nn = radial.shape[0] - 1, radial.shape[1], radial.shape[2]
    n_groups = n_rows * s_loc
    if n_pairs == 0:
        return [np.zeros((n_rows, s_loc, nn, 2 * l + 1)) for l in range(l_max + 1)]
    starts = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
    rad = np.ascontiguousarray(radial.transpose(1, 2, 0))  # (P, N, L)
    ry = np.repeat(rad, 2 * np.arange(l_max + 1) + 1, axis=2)  # (P, N, LM)
    ry *= ang[:, None, :]
    if len(starts) == n_groups:
        c = np.add.reduceat(ry, starts, axis=0)
    else:
        c = np.zeros((n_groups,) + ry.shape[1:])
        c[group[starts]] = np.add.reduceat(ry, starts, axis=0)
    c = c.reshape(n_rows, s_loc, nn, -1)
    return [c[..., l * l : (l + 1) ** 2] for l in range(l_max + 1)]


def _contract_sparse(radial, ang, group, n_rows: int, s_loc: int) -> list[np.ndarray]:
    """The same as :func:`_contract_dense` with a sparse 0/1 (groups x pairs) matrix whose entries
    are set to R[l, :, n] for each (l, n): no (pairs x n x lm) temporary is formed."""
    l_max, n_pairs, nn = radial.shape[0] - 1, radial.shape[1], radial.shape[2]
    n_groups = n_rows * s_loc
    indptr = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=n_groups))])
    sparse = scipy.sparse.csr_matrix((np.ones(n_pairs), np.arange(n_pairs), indptr), shape=(n_groups, n_pairs))
    coeffs = []
    for l in range(l_max + 1):
        ylm = np.ascontiguousarray(ang[:, l * l : (l + 1) ** 2])
        c = np.empty((n_groups, nn, 2 * l + 1))
        for n in range(nn):
            sparse.data = np.ascontiguousarray(radial[l][:, n])
            c[:, n, :] = sparse @ ylm
        coeffs.append(c.reshape(n_rows, s_loc, nn, 2 * l + 1))
    return coeffs


def _soap_batch(systems: list[System], p: dict, periodic: bool, centers=None) -> list[np.ndarray]:
    """SOAP of a batch of systems; ``centers`` (single system only) selects the centre atoms.

    The expansion and the power spectrum are computed with the species present in each
    structure ("local" species), then placed in the columns of dscribe's layout for all species.
    """
    sp = p["species"]
    n_s, nn, l_max, mode = len(sp), p["n_max"], p["l_max"], p["mode"]
    coeffs, gmap, owner, offsets, full = _expansion(systems, p, periodic, centers)
    n_rows = len(owner)
    avg = p["average"]
    n_sys = 1 if centers is not None else len(systems)
    if avg != "off":
        counts = np.bincount(owner, minlength=n_sys).astype(np.float64)
        mean = scipy.sparse.csr_matrix(
            (1.0 / counts[owner], (owner, np.arange(n_rows))), shape=(n_sys, n_rows)
        )
    if avg == "inner":
        coeffs = [
            np.asarray(mean @ c.reshape(n_rows, -1)).reshape((n_sys,) + c.shape[1:]) for c in coeffs
        ]
    if avg != "outer" and (gmap == gmap[0]).all():
        # one species layout for the whole batch: gather dscribe's columns from the products
        key = np.ascontiguousarray(gmap[0], dtype=np.int64).tobytes()
        src, scale = _gather_plan(key, n_s, nn, l_max, mode)
        if _jit.ENABLED and mode == "off" and avg == "off":
            if full is None:  # polynomial basis: coefficients from the NumPy expansion
                full = _stacked(coeffs)
            out = np.empty((len(full), len(src)))
            _power_spectrum_kernel(full, src, scale, out)
        else:
            out = np.take(_products(coeffs, mode).reshape(len(coeffs[0]), -1), src, axis=1)
            out *= scale
    else:
        ps = _power_spectrum(coeffs, mode)
        row_struct = np.arange(n_sys) if avg == "inner" else owner
        if avg == "outer":
            ps = np.asarray(mean @ ps)
            row_struct = np.arange(n_sys)
        # local layout -> dscribe's columns
        cols, valid = _global_columns(gmap, n_s, nn, l_max, mode)
        if gmap.shape[1] == n_s and valid.all():
            out = ps  # every structure uses all species: the local layout is dscribe's layout
        elif (gmap == gmap[0]).all():
            out = np.zeros((len(ps), _n_features(n_s, nn, l_max, mode)))
            out[:, cols[0]] = ps  # one layout for the whole batch
        else:
            out = np.zeros((len(ps), _n_features(n_s, nn, l_max, mode)))
            rr = np.broadcast_to(np.arange(len(ps))[:, None], ps.shape)
            ok = valid[row_struct]
            out[rr[ok], cols[row_struct][ok]] = ps[ok]
    if avg != "off":
        return list(out)
    if centers is not None:
        return [out]
    return [out[offsets[k] : offsets[k + 1]] for k in range(len(systems))]
