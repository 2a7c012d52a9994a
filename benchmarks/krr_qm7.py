"""Kernel ridge regression learning curves on QM7 for the Coulomb matrix, ACSF and SOAP.

What it measures: the test mean absolute error (kcal/mol) of scikit-learn ``KernelRidge`` models of
the PBE0 atomization energy, trained on 100, 300, 1,000, 3,000 and 5,000 molecules and tested on one
fixed held-out set of 2,000 molecules, for six representations built with
:mod:`course_lib.descriptors`; plus the time to featurize the whole data set and to fit.

Data: ``course_lib.data.load_dataset("qm7")`` from ``$COURSE_DATA_DIR`` (the qmlcode packaging of QM7:
7,101 molecules, not the 7,165 of the original ``qm7.mat``). Target: the column
``atomization_energy_pbe0_kcal_per_mol``, stored in kcal/mol (``dataset_info("qm7").units``; the
script checks this), so no conversion is applied; MAEs are also given in eV with
1 kcal/mol = 4.184 kJ/mol / 96.4853 kJ/(mol eV) = 0.0433641 eV.

Split (seed ``--seed``, default 0): one random permutation of the molecules; its first 2,000 are the
test set, never used for anything but the final score; the training set of size ``n`` is the first
``n`` of the remaining 5,101 (the sets are nested).

Representations (one vector per molecule; the kernel is fixed per representation, its width and the
ridge are chosen by cross-validation):

- ``CM sorted``: Coulomb matrix, rows sorted by norm, padded to 23 atoms (529 numbers), raw
  values; Laplacian kernel ``exp(-|x - x'|_1 / sigma)`` (the kernel Hansen et al. 2013 found best for
  Coulomb matrices).
- ``CM eigenspectrum``: its eigenvalues sorted by decreasing absolute value, padded to 23, raw;
  Gaussian kernel ``exp(-|x - x'|_2^2 / (2 sigma^2))``, the model of Rupp et al. 2012.
- Both Coulomb matrices twice: ``(angstrom)`` is :func:`coulomb_matrix` as it is (dscribe's
  convention, distances in angstrom); ``(bohr)`` feeds it the positions divided by the bohr radius
  (0.529177 angstrom), which gives the matrix in Hartree atomic units as Rupp et al. define it. The
  unit is not a harmless scale factor: the diagonal 0.5 Z^2.4 does not change while the off-diagonal
  Z_i Z_j / |R_i - R_j| is 1.89 times larger in angstrom, so the eigenvalues change non-uniformly.
  (Found while checking the eigenspectrum against Rupp et al.: 3-fold CV on 1,000 molecules of the
  training pool gave about 40 kcal/mol in angstrom and 12 in bohr.)
- ``ACSF``: G1, eight radial G2 (R_s = 0) and six angular G4 functions for the species H, C, N, O, S
  (r_cut = 6 angstrom; per atom 5 G1 + 5*8 G2 + 15*6 G4 = 135 numbers, dscribe's layout), *summed*
  over the atoms of each centre species and concatenated (5 * 135 = 675 numbers). A sum, not a mean,
  because the atomization energy is extensive: the sum keeps the number of atoms of each element (the
  G1 sums are neighbour counts) where a mean would lose it. Features are standardised with the
  training set's mean and standard deviation; Gaussian kernel. (A Laplacian kernel was tried first:
  3-fold CV on 1,000 molecules of the training pool gave 13.4 kcal/mol against 3.3 for the Gaussian.)
- ``SOAP``: the power spectrum with ``average="inner"`` (the power spectrum of the density
  coefficients averaged over the atoms, dscribe's convention; not the mean of the atoms' spectra;
  r_cut = 5, n_max = 8, l_max = 6, sigma = 0.5 angstrom, 5,740 numbers), multiplied by the number of
  atoms (so that it grows with the molecule, for the same reason), raw; Gaussian kernel. This is
  not the normalised average-SOAP structure kernel of :func:`soap_kernel`, which is intensive and
  would have to learn the molecule's size from nothing. (Summing the atoms' own spectra instead, as
  ``benchmarks/compression_learning_curves.py`` does, learns better: 0.87 kcal/mol at 3,000
  training molecules on its split, where this file's SOAP row has 2.44.)

Model: ``KernelRidge(kernel="precomputed", alpha)`` on the training targets minus their mean (the
kernels have no constant term). For every training size, sigma (a multiple of the median pairwise
distance of that training set) and alpha are chosen on a grid by K-fold cross-validation *inside the
training set* (the test set is not looked at); the best pair is refitted on the whole training set and
scored once on the test set. A choice on the edge of the grid is flagged in the report.

One process, one BLAS/OpenMP thread (set before numpy is imported). Times are wall-clock and CPU of
this process (the machine may be shared).

Usage::

    COURSE_DATA_DIR=../shared/data .venv/bin/python benchmarks/krr_qm7.py \\
        --markdown benchmarks/results/krr_qm7.md       # full run (figure: krr_qm7.png beside it)
    COURSE_DATA_DIR=../shared/data .venv/bin/python benchmarks/krr_qm7.py --quick   # smoke test

The full run uses a grid of 6 widths x 4 ridges (factors of 4 and 1,000 apart; a finer 8 x 5 grid
took about 10 minutes per representation at 5,000 molecules on the shared machine) and 3-fold CV. ``--quick`` uses training sizes
100/300/1,000, a 1,000-molecule test set and a 3 x 3 grid
(under 2 minutes on one core); it prints the report and writes files only if ``--markdown`` is given.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import load_average, machine_info, report_header  # noqa: E402

import scipy  # noqa: E402
import scipy.linalg  # noqa: E402
from sklearn.kernel_ridge import KernelRidge  # noqa: E402
from sklearn.metrics.pairwise import euclidean_distances, manhattan_distances  # noqa: E402
from sklearn.model_selection import KFold  # noqa: E402

from ase import Atoms  # noqa: E402

from course_lib.data import dataset_info, load_dataset  # noqa: E402
from course_lib.descriptors import featurize  # noqa: E402

TARGET = "atomization_energy_pbe0_kcal_per_mol"
KCAL_PER_MOL_IN_EV = 4.184 / 96.4853321233  # 1 kcal/mol in eV (CODATA Faraday constant)
RUPP_2012_MAE = 9.9  # kcal/mol, Rupp et al. PRL 108, 058301 (2012)
SPECIES = ["H", "C", "N", "O", "S"]
BOHR_IN_ANGSTROM = 0.529177210544  # CODATA 2022
N_ATOMS_MAX = 23

# ACSF: G2 with R_s = 0 and eta spread over the bond-length scale; G4 with one eta, zeta 1/2/4, lambda +-1
ACSF_PARAMS = dict(
    species=SPECIES,
    r_cut=6.0,
    g2_params=[[eta, 0.0] for eta in (0.01, 0.03, 0.1, 0.3, 0.6, 1.0, 2.0, 4.0)],
    g4_params=[[0.005, zeta, lam] for zeta in (1.0, 2.0, 4.0) for lam in (1.0, -1.0)],
)
SOAP_PARAMS = dict(species=SPECIES, r_cut=5.0, n_max=8, l_max=6, sigma=0.5)

FULL = dict(sizes=[100, 300, 1000, 3000, 5000], n_test=2000, folds=3,
            width_factors=[0.25, 1, 4, 16, 64, 256], alphas=[1e-11, 1e-8, 1e-5, 1e-2])
QUICK = dict(sizes=[100, 300, 1000], n_test=1000, folds=3,
             width_factors=[4, 16, 64], alphas=[1e-9, 1e-6, 1e-3])


# ------------------------------------------------------------------------------------------------
# Representations
# ------------------------------------------------------------------------------------------------
def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def species_sum(per_atom: list[np.ndarray], numbers: list[np.ndarray]) -> np.ndarray:
    """Sum the per-atom rows of each molecule over the atoms of each centre species.

    Returns ``(n_molecules, len(SPECIES) * n_features)``: the block of species ``s`` holds the sum of
    the rows of the atoms of element ``s`` (zeros when the molecule has none).
    """
    z_of = {"H": 1, "C": 6, "N": 7, "O": 8, "S": 16}
    zs = [z_of[s] for s in SPECIES]
    n_feat = per_atom[0].shape[1]
    out = np.zeros((len(per_atom), len(zs) * n_feat))
    for i, (rows, z) in enumerate(zip(per_atom, numbers)):
        unknown = set(np.unique(z)) - set(zs)
        if unknown:
            raise ValueError(f"molecule {i} has elements with Z={sorted(unknown)} outside {SPECIES}")
        for k, zk in enumerate(zs):
            mask = z == zk
            if mask.any():
                out[i, k * n_feat : (k + 1) * n_feat] = rows[mask].sum(axis=0)
    return out


def representations(molecules) -> dict:
    """``{name: dict(X, kernel, standardise, wall, cpu, note)}`` for every representation."""
    numbers = [np.array([site.specie.Z for site in m]) for m in molecules]
    n_atoms = np.array([len(z) for z in numbers], dtype=float)
    reps = {}

    in_bohr = [Atoms(z, positions=m.cart_coords / BOHR_IN_ANGSTROM) for z, m in zip(numbers, molecules)]
    for unit, systems in (("angstrom", molecules), ("bohr", in_bohr)):
        for perm, label, kernel in (("sorted_l2", "CM sorted", "laplacian"),
                                    ("eigenspectrum", "CM eigenspectrum", "gaussian")):
            X, w, c = timed(lambda: featurize(systems, "coulomb_matrix", n_atoms_max=N_ATOMS_MAX,
                                              permutation=perm, progress=False))
            reps[f"{label} ({unit})"] = dict(X=X, kernel=kernel, standardise=False, wall=w, cpu=c)

    def acsf_sum():
        rows = featurize(molecules, "acsf", progress=False, **ACSF_PARAMS)
        return species_sum(rows, numbers)

    X, w, c = timed(acsf_sum)
    reps["ACSF"] = dict(X=X, kernel="gaussian", standardise=True, wall=w, cpu=c)

    def soap_sum():
        avg = featurize(molecules, "soap", average="inner", progress=False, **SOAP_PARAMS)
        return avg * n_atoms[:, None]

    X, w, c = timed(soap_sum)
    reps["SOAP"] = dict(X=X, kernel="gaussian", standardise=False, wall=w, cpu=c)
    for name, r in reps.items():
        if not np.all(np.isfinite(r["X"])):
            raise RuntimeError(f"{name}: non-finite features")
        print(f"{name:18s} {r['X'].shape[1]:5d} features, featurized {len(molecules)} molecules in "
              f"{r['wall']:.1f} s wall / {r['cpu']:.1f} s CPU", flush=True)
    return reps


# ------------------------------------------------------------------------------------------------
# Kernel ridge regression with cross-validated width and ridge
# ------------------------------------------------------------------------------------------------
def distances(A: np.ndarray, B: np.ndarray, kernel: str) -> np.ndarray:
    """L1 distances (Laplacian kernel) or squared Euclidean distances (Gaussian kernel)."""
    if kernel == "laplacian":
        return manhattan_distances(A, B)
    d2 = euclidean_distances(A, B, squared=True)
    return np.maximum(d2, 0.0)


def kernel_from(d: np.ndarray, kernel: str, sigma: float) -> np.ndarray:
    if kernel == "laplacian":
        return np.exp(-d / sigma)
    return np.exp(-d / (2.0 * sigma**2))


def median_width(d_train: np.ndarray, kernel: str) -> float:
    off = d_train[np.triu_indices_from(d_train, k=1)]
    med = float(np.median(off))
    return med if kernel == "laplacian" else float(np.sqrt(med))


def fit_krr(K: np.ndarray, y: np.ndarray, alpha: float, counts: dict) -> KernelRidge:
    """``KernelRidge(kernel="precomputed")`` fit; counts ill-conditioned solves instead of printing them.

    ``counts["ill"]``: scipy warned that ``K + alpha I`` is ill-conditioned; ``counts["lstsq"]``:
    scikit-learn found it singular and fell back to a least-squares solution.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = KernelRidge(alpha=alpha, kernel="precomputed").fit(K, y)
    for w in caught:
        if issubclass(w.category, scipy.linalg.LinAlgWarning):
            counts["ill"] += 1
        elif "least-squares" in str(w.message):
            counts["lstsq"] += 1
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    counts["fits"] += 1
    return model


def krr_curve(rep: dict, y: np.ndarray, train_pool: np.ndarray, test: np.ndarray, cfg: dict,
              seed: int, name: str) -> list[dict]:
    """Learning curve of one representation: one dict per training size."""
    kernel = rep["kernel"]
    n_max = max(cfg["sizes"])
    rows_idx = np.concatenate([train_pool[:n_max], test])
    X = rep["X"][rows_idx]
    if rep["standardise"]:
        # statistics of the largest training set only (it contains every smaller one); features that
        # are constant there (e.g. a species channel that never occurs) are left unscaled
        mu = X[:n_max].mean(axis=0)
        sd = X[:n_max].std(axis=0)
        sd[sd < 1e-12] = 1.0
        X = (X - mu) / sd
    (D, dw, dc) = timed(lambda: distances(X, X[:n_max], kernel))  # (n_max + n_test, n_max)
    D_tr, D_te = D[:n_max], D[n_max:]
    y_tr_all, y_te = y[train_pool[:n_max]], y[test]
    out = []
    for n in cfg["sizes"]:
        w0, c0 = time.perf_counter(), time.process_time()
        d_tr = D_tr[:n, :n]
        ytr = y_tr_all[:n]
        width0 = median_width(d_tr, kernel)
        folds = list(KFold(cfg["folds"], shuffle=True, random_state=seed).split(np.arange(n)))
        cv = np.zeros((len(cfg["width_factors"]), len(cfg["alphas"])))
        counts = dict(fits=0, ill=0, lstsq=0)
        for i, f in enumerate(cfg["width_factors"]):
            K = kernel_from(d_tr, kernel, f * width0)
            for a_tr, a_va in folds:
                K_tt = K[np.ix_(a_tr, a_tr)]
                K_vt = K[np.ix_(a_va, a_tr)]
                mean = ytr[a_tr].mean()
                for j, alpha in enumerate(cfg["alphas"]):
                    model = fit_krr(K_tt, ytr[a_tr] - mean, alpha, counts)
                    cv[i, j] += np.abs(model.predict(K_vt) + mean - ytr[a_va]).mean() / len(folds)
        cv_wall, cv_cpu = time.perf_counter() - w0, time.process_time() - c0
        i, j = np.unravel_index(np.argmin(cv), cv.shape)
        sigma, alpha = cfg["width_factors"][i] * width0, cfg["alphas"][j]
        # a choice on the border of the grid: name it, with the CV MAE one step inside the grid
        edge = []
        if i in (0, len(cfg["width_factors"]) - 1):
            k = 1 if i == 0 else i - 1
            edge.append(f"sigma (CV {cv[k, j]:.2f} at {cfg['width_factors'][k]:g} x)")
        if j in (0, len(cfg["alphas"]) - 1):
            k = 1 if j == 0 else j - 1
            edge.append(f"alpha (CV {cv[i, k]:.2f} at {cfg['alphas'][k]:g})")
        K = kernel_from(d_tr, kernel, sigma)
        mean = ytr.mean()
        final = dict(fits=0, ill=0, lstsq=0)
        model, fw, fc = timed(lambda: fit_krr(K, ytr - mean, alpha, final))
        pred, pw, pc = timed(lambda: model.predict(kernel_from(D_te[:, :n], kernel, sigma)) + mean)
        mae = float(np.abs(pred - y_te).mean())
        row = dict(n=n, mae=mae, rmse=float(np.sqrt(((pred - y_te) ** 2).mean())), cv_mae=float(cv[i, j]),
                   sigma=sigma, width_factor=cfg["width_factors"][i], alpha=alpha, edge=edge,
                   cv_wall=cv_wall, cv_cpu=cv_cpu, fit_wall=fw, fit_cpu=fc, pred_wall=pw,
                   cv_fits=counts["fits"], cv_ill=counts["ill"] + counts["lstsq"],
                   final_ill=bool(final["ill"] or final["lstsq"]))
        out.append(row)
        print(f"{name:18s} n={n:5d}  test MAE {mae:7.2f} kcal/mol  (CV MAE {cv[i, j]:7.2f}; sigma = "
              f"{row['width_factor']:g} x median = {sigma:.4g}, alpha = {alpha:g}{' EDGE ' + '; '.join(edge) if edge else ''}"
              f")  CV {cv_wall:.1f} s, fit {fw:.2f} s", flush=True)
    out[0]["dist_wall"], out[0]["dist_cpu"] = dw, dc
    return out


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------
def report(info, args, cfg, n_mol, reps, curves, load_time, total, cpu_total, methane) -> str:
    names = list(curves)
    sizes = cfg["sizes"]
    cmd = "COURSE_DATA_DIR=<data dir> .venv/bin/python benchmarks/krr_qm7.py"
    if args.quick:
        cmd += " --quick"
    if args.seed != 0:
        cmd += f" --seed {args.seed}"
    if args.markdown:
        cmd += f" --markdown {args.markdown}"
    lines = report_header("Kernel ridge regression on QM7: learning curves of CM, ACSF and SOAP", cmd, info) + [
        f"- Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, scikit-learn "
        f"{info['scikit-learn']}, torch {info['torch']} (not used)",
        "- one process, one BLAS/OpenMP thread; `featurize(..., n_jobs=1)`",
        f"- total run time {total / 60:.1f} min wall-clock, {cpu_total / 60:.1f} min CPU of this process "
        f"(loading {n_mol:,} molecules: {load_time:.1f} s)",
        "",
        "## Set-up",
        "",
        f"- Data: `load_dataset(\"qm7\")`, the qmlcode packaging of QM7, {n_mol:,} molecules (the original "
        "`qm7.mat` of Rupp et al. has 7,165). Target: PBE0 atomization energy, column "
        f"`{TARGET}`, stored in kcal/mol (checked against `dataset_info(\"qm7\").units`), so used as is; "
        f"1 kcal/mol = 4.184 kJ/mol / 96.485 kJ/(mol eV) = {KCAL_PER_MOL_IN_EV:.7f} eV. Sanity check of the "
        f"unit: methane is listed at {methane:.1f} kcal/mol (its atomization energy is about 420 kcal/mol, "
        "18 eV).",
        f"- Split (seed {args.seed}): a fixed random test set of {cfg['n_test']:,} molecules, used only "
        f"for the final scores; nested training sets (the first n of the other {n_mol - cfg['n_test']:,} "
        "molecules in a fixed random order).",
        "- Model: scikit-learn `KernelRidge(kernel=\"precomputed\")` fitted to the training energies minus "
        "their mean. Kernel width sigma (a multiple "
        f"{cfg['width_factors']} of the median pairwise distance of the training set) and ridge alpha "
        f"{cfg['alphas']} chosen by {cfg['folds']}-fold cross-validation on the training set only "
        "(lowest CV MAE), then refitted on the whole training set.",
        "- Representations (all from `course_lib.descriptors.featurize`):",
        f"  - CM sorted: Coulomb matrix, rows sorted by norm (`sorted_l2`), padded to {N_ATOMS_MAX} atoms "
        f"({reps['CM sorted (angstrom)']['X'].shape[1]} numbers), Laplacian kernel exp(-|x-x'|_1/sigma).",
        "  - CM eigenspectrum: eigenvalues of the Coulomb matrix by decreasing |value|, padded to "
        f"{N_ATOMS_MAX}, Gaussian kernel exp(-|x-x'|^2/(2 sigma^2)) (the model of Rupp et al. 2012).",
        "  - (angstrom): `coulomb_matrix` as it is, distances in angstrom (dscribe's convention); (bohr): "
        f"the positions divided by the bohr radius ({BOHR_IN_ANGSTROM} angstrom) first, i.e. the matrix in "
        "Hartree atomic units as Rupp et al. define it. The diagonal 0.5 Z^2.4 is the same in both, the "
        "off-diagonal Z_i Z_j / r is 1.89 times larger in angstrom, so this is not a mere rescaling.",
        f"  - ACSF: G1 + 8 G2 + 6 G4 per atom ({', '.join(f'{k}={v}' for k, v in ACSF_PARAMS.items() if k != 'species')}), "
        f"summed over the atoms of each centre species H/C/N/O/S and concatenated "
        f"({reps['ACSF']['X'].shape[1]} numbers), standardised with training statistics, Gaussian kernel. "
        "A sum rather than a mean because the energy is extensive. (A Laplacian kernel was tried first: "
        "3-fold CV on 1,000 molecules of the training pool, not the test set, gave 13.4 kcal/mol against "
        "3.3 for the Gaussian.)",
        f"  - SOAP: `average=\"inner\"` power spectrum ({', '.join(f'{k}={v}' for k, v in SOAP_PARAMS.items() if k != 'species')}; "
        f"{reps['SOAP']['X'].shape[1]} numbers) times the number of atoms (the spectrum of the atom-averaged "
        "density coefficients, scaled with the molecule's size; not the sum of the atoms' spectra), "
        "Gaussian kernel (not the normalised average-SOAP kernel, which is intensive).",
        "",
        "## Test MAE (kcal/mol)",
        "",
        "| training molecules | " + " | ".join(names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for k, n in enumerate(sizes):
        lines.append(f"| {n:,} | " + " | ".join(f"{curves[m][k]['mae']:.2f}" for m in names) + " |")
    last = sizes[-1]
    lines += [
        "",
        f"At {last:,} training molecules, in eV: "
        + "; ".join(f"{m} {curves[m][-1]['mae'] * KCAL_PER_MOL_IN_EV:.3f} eV" for m in names)
        + ". Test RMSE (kcal/mol): "
        + "; ".join(f"{m} {curves[m][-1]['rmse']:.2f}" for m in names) + ".",
        "",
        f"![learning curves]({args.figure.name if args.figure else 'krr_qm7.png'})",
        "",
        "## Comparison with Rupp et al. (2012)",
        "",
    ]
    mae = {m: c[-1]["mae"] for m, c in curves.items()}
    lines += [
        f"Rupp et al. report a cross-validated MAE of {RUPP_2012_MAE} kcal/mol for kernel ridge regression "
        "with a Gaussian kernel on the Coulomb-matrix eigenspectrum (atomic units), trained on about 7,000 "
        f"of the 7,165 QM7 molecules. Measured here at {last:,} training molecules:",
        "",
        f"- eigenspectrum in atomic units, Gaussian kernel (their model): **{mae['CM eigenspectrum (bohr)']:.2f} "
        f"kcal/mol** ({mae['CM eigenspectrum (bohr)'] / RUPP_2012_MAE:.2f} x their value);",
        f"- the same with the matrix in angstrom (dscribe's and course_lib's convention): "
        f"**{mae['CM eigenspectrum (angstrom)']:.2f} kcal/mol** "
        f"({mae['CM eigenspectrum (angstrom)'] / RUPP_2012_MAE:.2f} x);",
        f"- sorted matrix, Laplacian kernel: **{mae['CM sorted (bohr)']:.2f} kcal/mol** in atomic units, "
        f"**{mae['CM sorted (angstrom)']:.2f} kcal/mol** in angstrom.",
        "",
        f"The numbers are not strictly comparable: {n_mol:,} rather than 7,165 molecules, {last:,} rather "
        "than ~7,000 training "
        "molecules, one random split rather than their cross-validation, and the energies of the "
        "qmlcode file (the original energies of `qm7.mat` were not available offline to check that "
        "they are identical). Hansen et al. (2013) found the sorted matrix with a Laplacian kernel much "
        "better than the eigenspectrum, with errors of about 3 kcal/mol for their best models. "
        f"Changing only the length unit inside the matrix moves the eigenspectrum model from "
        f"{mae['CM eigenspectrum (angstrom)']:.2f} (angstrom) to {mae['CM eigenspectrum (bohr)']:.2f} kcal/mol "
        f"(bohr) and the sorted matrix from {mae['CM sorted (angstrom)']:.2f} to {mae['CM sorted (bohr)']:.2f}: "
        "the relative weight of the diagonal and off-diagonal terms is part of the representation.",
        "",
        "## Chosen hyper-parameters and times",
        "",
        "Times in seconds, wall-clock (CPU of this process in brackets). \"CV\" is the whole grid search "
        f"({len(cfg['width_factors'])} widths x {len(cfg['alphas'])} ridges x {cfg['folds']} folds); "
        "\"fit\" is the final `KernelRidge.fit` on the whole training set; \"predict\" scores the test set. "
        "\"edge\" marks a choice on the border of the grid, with the CV MAE one grid step inside (when "
        "it is close, the border does not matter). \"ill-cond.\": CV fits (of all) where scipy "
        "reported `K + alpha I` ill-conditioned or scikit-learn fell back to least squares (a * marks "
        "the final fit); such fits still give finite predictions and simply score badly in CV.",
        "",
        "| representation | n | sigma / median | sigma | alpha | CV MAE | test MAE | CV s | fit s | predict s | edge | ill-cond. |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for m in names:
        for r in curves[m]:
            lines.append(
                f"| {m} | {r['n']:,} | {r['width_factor']:g} | {r['sigma']:.4g} | {r['alpha']:g} | "
                f"{r['cv_mae']:.2f} | {r['mae']:.2f} | {r['cv_wall']:.1f} ({r['cv_cpu']:.1f}) | "
                f"{r['fit_wall']:.2f} ({r['fit_cpu']:.2f}) | {r['pred_wall']:.2f} | {'; '.join(r['edge'])} | "
                f"{r['cv_ill']}/{r['cv_fits']}{' *' if r['final_ill'] else ''} |"
            )
    lines += [
        "",
        f"Featurization of all {n_mol:,} molecules and the distance matrix (training + test rows against "
        f"the {sizes[-1]:,} training molecules):",
        "",
        "| representation | features | featurize s | molecules/s | distances s |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in names:
        r = reps[m]
        lines.append(
            f"| {m} | {r['X'].shape[1]:,} | {r['wall']:.2f} ({r['cpu']:.2f}) | {n_mol / r['wall']:,.0f} | "
            f"{curves[m][0]['dist_wall']:.1f} ({curves[m][0]['dist_cpu']:.1f}) |"
        )
    lines += [
        "",
        "## References",
        "",
        "- M. Rupp, A. Tkatchenko, K.-R. Müller, O. A. von Lilienfeld, Fast and accurate modeling of "
        "molecular atomization energies with machine learning, Phys. Rev. Lett. 108, 058301 (2012), "
        "doi:10.1103/PhysRevLett.108.058301",
        "- K. Hansen, G. Montavon, F. Biegler, S. Fazli, M. Rupp, M. Scheffler, O. A. von Lilienfeld, "
        "A. Tkatchenko, K.-R. Müller, Assessment and validation of machine learning methods for "
        "predicting molecular atomization energies, J. Chem. Theory Comput. 9, 3404-3419 (2013), "
        "doi:10.1021/ct400195d",
        "- J. Behler, Atom-centered symmetry functions for constructing high-dimensional neural network "
        "potentials, J. Chem. Phys. 134, 074106 (2011), doi:10.1063/1.3553717",
        "- A. P. Bartók, R. Kondor, G. Csányi, On representing chemical environments, Phys. Rev. B 87, "
        "184115 (2013), doi:10.1103/PhysRevB.87.184115",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small smoke test: sizes 100/300/1000, 1,000 test molecules, 3x3 grid, 3 folds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the CV folds")
    parser.add_argument("--markdown", type=Path, help="write the report here (and the figure beside it)")
    parser.add_argument("--figure", type=Path, help="learning-curve PNG (default: the markdown path with .png)")
    args = parser.parse_args(argv)
    if args.figure is None and args.markdown is not None:
        args.figure = args.markdown.with_suffix(".png")
    cfg = QUICK if args.quick else FULL
    t_start, c_start = time.perf_counter(), time.process_time()
    info = machine_info("numpy", "scipy", "scikit-learn", "torch")
    print(info, flush=True)

    units = dataset_info("qm7").units.get(TARGET)
    if units != "kcal/mol":
        sys.exit(f"expected {TARGET} in kcal/mol, the registry says {units!r}: fix the unit conversion")
    df, load_time, _ = timed(lambda: load_dataset("qm7", progress=False))
    y = df[TARGET].to_numpy(dtype=float)
    molecules = list(df["molecule"])
    methane = float(df.loc[df["composition"] == "CH4", TARGET].iloc[0])
    if not 380 < -methane < 460:
        sys.exit(f"methane's atomization energy is {methane} in the file, not about -420 kcal/mol: "
                 "check the units of the data")
    n_mol = len(molecules)
    need = cfg["n_test"] + max(cfg["sizes"])
    if n_mol < need:
        sys.exit(f"QM7 has {n_mol} molecules but the test set plus the largest training set need {need}")
    print(f"QM7: {n_mol} molecules, {TARGET}: mean {y.mean():.1f}, std {y.std():.1f} kcal/mol "
          f"(loaded in {load_time:.1f} s)", flush=True)

    perm = np.random.default_rng(args.seed).permutation(n_mol)
    test, train_pool = perm[: cfg["n_test"]], perm[cfg["n_test"] :]

    reps = representations(molecules)
    curves = {name: krr_curve(rep, y, train_pool, test, cfg, args.seed, name) for name, rep in reps.items()}
    info["load_after"] = load_average()
    total = time.perf_counter() - t_start
    text = report(info, args, cfg, n_mol, reps, curves, load_time, total, time.process_time() - c_start, methane)
    print(text)
    if args.figure:
        import matplotlib.pyplot as plt

        from course_lib.plotting import learning_curve

        ax = learning_curve(cfg["sizes"], {m: [r["mae"] for r in c] for m, c in curves.items()},
                            ylabel="test MAE (kcal/mol)", title=f"QM7 atomization energy, {cfg['n_test']:,} test molecules")
        ax.axhline(RUPP_2012_MAE, color="grey", ls=":", lw=1)
        ax.annotate("Rupp et al. 2012 (CM eigenspectrum, bohr, ~7,000 training)", (cfg["sizes"][0], RUPP_2012_MAE),
                    xytext=(0, 3), textcoords="offset points", fontsize=7, color="grey")
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        ax.figure.tight_layout()
        ax.figure.savefig(args.figure, dpi=150)
        plt.close(ax.figure)
        print(f"wrote {args.figure}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text)
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
