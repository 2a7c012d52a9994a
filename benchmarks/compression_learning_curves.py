"""Kernel ridge regression learning curves on QM7 (and QM9) of the power spectrum, full and compressed.

What it measures: the test mean absolute error (kcal/mol; also given in eV at the largest training
set) of KRR models of the atomization energy, trained on 100, 300, 1,000 and 3,000 molecules and
tested on one fixed held-out set of 2,000 molecules, for the SOAP power spectrum (chapter 9's
:func:`~course_lib.descriptors.correlations.power_spectrum_from_coefficients`) of

- all element channels (``full``: H, C, N, O, S for QM7; H, C, N, O, F for QM9);
- ``k = 1, 2, 3, 4`` pseudo-elements |b> = sum_a u_ba |a> (:func:`alchemical_compression`, PCA of
  the element channels, applied with :func:`mix_species`);
- a PCA radial contraction of the 5 x n_max (element, radial) channels per l to 8 and to 16
  components (:func:`pca_radial_contraction`, applied with :func:`contract`).

Data and targets: QM7 (``load_dataset("qm7")``), the PBE0 atomization energy stored in kcal/mol
(checked against the registry's units and against methane); QM9 (``load_dataset("qm9")``), the
internal energy at 0 K ``U0`` in Hartree minus the U0 of the free atoms (QM9's atomref table),
converted with 1 Hartree = 627.509474 kcal/mol (methane checked). Both in kcal/mol.

How: the density coefficients use krr_qm7.py's SOAP settings (``SOAP_PARAMS``: r_cut = 5 angstrom,
n_max = 8, l_max = 6, sigma = 0.5 angstrom). The ``full`` row is *not* krr_qm7.py's ``SOAP`` row:
that one is ``soap(average="inner")`` times the number of atoms, the power spectrum of the
atom-averaged density coefficients, whereas here every atom's power spectrum is computed and the
spectra are summed (an additive, per-atom model). The compression matrices are fitted on the atoms
of the first 1,000 molecules of the training pool only (the test set is never used). The models,
split (for QM7 the split of krr_qm7.py), cross-validation of the kernel width and ridge and the
hyper-parameter columns of the report are those of krr_qm7.py (:func:`krr_qm7.krr_curve`,
Gaussian kernel, features not standardised), with a grid of 5 widths x 5 ridges x 3 folds and no
5,000-molecule step, so that one data set takes 5-7 minutes on one core (``--sizes`` changes the
training sizes: QM9 was recorded up to 2,000 molecules, because the full-size run did not finish
within 10 minutes on the shared machine).

One process, one BLAS/OpenMP thread. Usage (one data set per run, each under 10 minutes)::

    COURSE_DATA_DIR=../shared/data .venv/bin/python benchmarks/compression_learning_curves.py \\
        --markdown benchmarks/results/compression_learning_curves.md
    COURSE_DATA_DIR=../shared/data .venv/bin/python benchmarks/compression_learning_curves.py \\
        --datasets qm9 --sizes 100 300 1000 2000 --markdown benchmarks/results/compression_learning_curves_qm9.md
    COURSE_DATA_DIR=../shared/data .venv/bin/python benchmarks/compression_learning_curves.py --quick

``--quick``: training sizes 100/300, 500 test molecules, compression fitted on 300 molecules, a
2 x 2 grid (under a minute for QM7; loading QM9 alone takes about 1.5 minutes); prints only unless
``--markdown`` is given.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from krr_qm7 import KCAL_PER_MOL_IN_EV, SOAP_PARAMS, SPECIES, TARGET, krr_curve, timed  # noqa: E402
from _machine import load_average, machine_info, report_header, write_report  # noqa: E402

from course_lib.data import dataset_info, load_dataset  # noqa: E402
from course_lib.descriptors.correlations import (  # noqa: E402
    alchemical_compression,
    contract,
    density_coefficients,
    mix_species,
    pca_radial_contraction,
    power_spectrum_from_coefficients,
)

FULL = dict(sizes=[100, 300, 1000, 3000], n_test=2000, n_fit=1000, folds=3,
            width_factors=[4, 16, 64, 256, 1024], alphas=[1e-13, 1e-11, 1e-9, 1e-7, 1e-5])
QUICK = dict(sizes=[100, 300], n_test=500, n_fit=300, folds=3,
             width_factors=[16, 64], alphas=[1e-8, 1e-5])
PSEUDO = (1, 2, 3, 4)
RADIAL = (8, 16)
CHUNK = 500  # molecules per batch of density coefficients (bounds the memory)


#: QM9's energies of the free atoms (U0, B3LYP/6-31G(2df,p), Hartree), the "atomref" table of
#: Ramakrishnan et al. (2014); the atomization energy is U0 minus the sum over the atoms.
QM9_ATOM_U0 = {"H": -0.500273, "C": -37.846772, "N": -54.583861, "O": -75.064579, "F": -99.718730}
HARTREE_IN_KCAL_PER_MOL = 627.509474  # CODATA 2018
QM9_TARGET = "InternalEnergy_0K_au"


def load(name: str):
    """(molecules, atomization energies in kcal/mol, species, a line describing the data)."""
    if name == "qm7":
        units = dataset_info("qm7").units.get(TARGET)
        if units != "kcal/mol":
            sys.exit(f"expected {TARGET} in kcal/mol, the registry says {units!r}: fix the unit conversion")
        df = load_dataset("qm7", progress=False)
        methane = float(df.loc[df["composition"] == "CH4", TARGET].iloc[0])
        note = (f"QM7 (qmlcode packaging, {len(df):,} molecules), PBE0 atomization energy `{TARGET}`, stored in "
                f"kcal/mol (methane: {methane:.1f} kcal/mol)")
        return list(df["molecule"]), df[TARGET].to_numpy(dtype=float), SPECIES, methane, note
    units = dataset_info("qm9").units.get(QM9_TARGET)
    if units != "Hartree":
        sys.exit(f"expected {QM9_TARGET} in Hartree, the registry says {units!r}: fix the unit conversion")
    df = load_dataset("qm9", progress=False)
    molecules = list(df["molecule"])
    reference = np.array([sum(QM9_ATOM_U0[site.specie.symbol] for site in m) for m in molecules])
    y = (df[QM9_TARGET].to_numpy(dtype=float) - reference) * HARTREE_IN_KCAL_PER_MOL
    methane = float(y[(df["composition"] == "CH4").to_numpy()][0])
    note = (f"QM9 (qm9pack, {len(df):,} molecules), B3LYP atomization energy at 0 K: `{QM9_TARGET}` (Hartree) minus "
            f"the free atoms' U0 ({', '.join(f'{k} {v}' for k, v in QM9_ATOM_U0.items())} Hartree), times "
            f"{HARTREE_IN_KCAL_PER_MOL} kcal/mol per Hartree (methane: {methane:.1f} kcal/mol, zero-point energy included)")
    return molecules, y, ["H", "C", "N", "O", "F"], methane, note


def coefficients(molecules, species):
    return density_coefficients(molecules, species, SOAP_PARAMS["r_cut"], SOAP_PARAMS["n_max"],
                                SOAP_PARAMS["l_max"], SOAP_PARAMS["sigma"])


def variants(fit_coeffs, n_species: int) -> dict:
    """``{name: function(coeffs) -> compressed coeffs}`` with matrices fitted on ``fit_coeffs``."""
    out = {f"full ({n_species} elements)": lambda c: c}
    for k in PSEUDO:
        u = alchemical_compression(fit_coeffs, k)
        out[f"{k} pseudo-element{'s' if k > 1 else ''}"] = lambda c, u=u: mix_species(c, u)
    n_channels = n_species * SOAP_PARAMS["n_max"]
    for k in RADIAL:
        u = pca_radial_contraction(fit_coeffs, k)
        out[f"radial PCA {k}/{n_channels}"] = lambda c, u=u: contract(c, u)
    return out


def summed_features(molecules, species, transforms: dict) -> tuple:
    """Per variant, the (n_molecules, n_features) sums of the atoms' power spectra, and CPU times."""
    n_atoms = np.array([len(m) for m in molecules])
    feats = {name: [] for name in transforms}
    cpu = dict.fromkeys(transforms, 0.0)
    cpu_coeffs = 0.0
    for start in range(0, len(molecules), CHUNK):
        chunk = molecules[start:start + CHUNK]
        c, _, cc = timed(lambda: coefficients(chunk, species))
        cpu_coeffs += cc
        bounds = np.concatenate([[0], np.cumsum(n_atoms[start:start + CHUNK])[:-1]])
        for name, transform in transforms.items():
            p, _, pc = timed(lambda: power_spectrum_from_coefficients(transform(c)))
            feats[name].append(np.add.reduceat(p, bounds, axis=0))
            cpu[name] += pc
    return {name: np.vstack(rows) for name, rows in feats.items()}, cpu, cpu_coeffs


def run(name: str, cfg: dict, seed: int) -> dict:
    """Learning curves of every variant on one data set."""
    t0 = time.perf_counter()
    molecules, y, species, methane, note = load(name)
    if not 380 < -methane < 460:
        sys.exit(f"{name}: methane's atomization energy is {methane:.1f}, not about -400 kcal/mol: check the units")
    load_wall = time.perf_counter() - t0
    perm = np.random.default_rng(seed).permutation(len(molecules))
    test, train_pool = perm[: cfg["n_test"]], perm[cfg["n_test"]:]
    n_train = max(cfg["sizes"])
    if n_train > len(train_pool):
        sys.exit(f"{name} has {len(molecules)} molecules: {cfg['n_test']} test molecules leave {len(train_pool)} for "
                 f"training, fewer than the largest training size {n_train}")
    used = np.concatenate([train_pool[:n_train], test])   # rows 0..n_train-1 train, then the test set
    fit_coeffs, _, fit_cpu = timed(lambda: coefficients([molecules[i] for i in train_pool[: cfg["n_fit"]]], species))
    transforms, _, fit_u_cpu = timed(lambda: variants(fit_coeffs, len(species)))
    n_fit_atoms = len(fit_coeffs[0])
    del fit_coeffs
    feats, ps_cpu, coeff_cpu = summed_features([molecules[i] for i in used], species, transforms)
    local_train, local_test = np.arange(n_train), np.arange(n_train, len(used))
    curves = {}
    for variant, X in feats.items():
        rep = dict(X=X, kernel="gaussian", standardise=False)
        curves[variant] = krr_curve(rep, y[used], local_train, local_test, cfg, seed, f"{name} {variant}")
    return dict(name=name, note=note, species=species, curves=curves, n_features={v: X.shape[1] for v, X in feats.items()},
                ps_cpu=ps_cpu, coeff_cpu=coeff_cpu, fit_cpu=fit_cpu + fit_u_cpu, n_fit_atoms=n_fit_atoms,
                n_used=len(used), load_wall=load_wall, wall=time.perf_counter() - t0)


def section(res: dict, cfg: dict) -> list[str]:
    names, curves = list(res["curves"]), res["curves"]
    lines = [
        f"## {res['name'].upper()}",
        "",
        f"- {res['note']}.",
        f"- Elements {', '.join(res['species'])}; compression fitted on the {res['n_fit_atoms']:,} atoms of the first "
        f"{cfg['n_fit']:,} training-pool molecules. Loading {res['load_wall']:.0f} s, density coefficients of the "
        f"{res['n_used']:,} molecules used {res['coeff_cpu']:.1f} s CPU, fitting the compression {res['fit_cpu']:.1f} s; "
        f"the whole data set {res['wall'] / 60:.1f} min wall-clock.",
        "",
        f"### {res['name'].upper()}: test MAE (kcal/mol) on {cfg['n_test']:,} test molecules",
        "",
        "| training molecules | " + " | ".join(names) + " |",
        "|---:|" + "---:|" * len(names),
        "| (features) | " + " | ".join(f"{res['n_features'][m]:,}" for m in names) + " |",
    ]
    for k, n in enumerate(cfg["sizes"]):
        lines.append(f"| {n:,} | " + " | ".join(f"{curves[m][k]['mae']:.2f}" for m in names) + " |")
    lines += [
        "",
        f"At {cfg['sizes'][-1]:,} training molecules, in eV: " + "; ".join(
            f"{m} {curves[m][-1]['mae'] * KCAL_PER_MOL_IN_EV:.3f}" for m in names) + ".",
        "",
        f"### {res['name'].upper()}: chosen hyper-parameters",
        "",
        "\"edge\": the CV choice lies on the border of the grid (with the CV MAE one step inside); \"ill-cond.\": CV "
        "fits where `K + alpha I` was reported ill-conditioned (a * marks the final fit).",
        "",
        "| variant | power spectrum s CPU | n | sigma / median | alpha | CV MAE | test MAE | edge | ill-cond. |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for m in names:
        for r in curves[m]:
            lines.append(f"| {m} | {res['ps_cpu'][m]:.1f} | {r['n']:,} | {r['width_factor']:g} | {r['alpha']:g} | "
                         f"{r['cv_mae']:.2f} | {r['mae']:.2f} | {'; '.join(r['edge'])} | "
                         f"{r['cv_ill']}/{r['cv_fits']}{' *' if r['final_ill'] else ''} |")
    return lines + [""]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test (sizes 100/300, 500 test molecules)")
    parser.add_argument("--datasets", nargs="+", choices=("qm7", "qm9"), default=["qm7"],
                        help="data sets, one section each (default qm7)")
    parser.add_argument("--sizes", type=int, nargs="+", help="training sizes instead of the default ones")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the CV folds")
    parser.add_argument("--markdown", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if args.sizes:
        if sorted(set(args.sizes)) != args.sizes or args.sizes[0] < 10:
            parser.error(f"--sizes must be increasing training sizes of at least 10 molecules, got {args.sizes}")
        cfg = dict(cfg, sizes=args.sizes, n_fit=min(cfg["n_fit"], args.sizes[-1]))
    t0, c0 = time.perf_counter(), time.process_time()
    info = machine_info("numpy", "scipy", "scikit-learn")
    results = [run(name, cfg, args.seed) for name in args.datasets]
    info["load_after"] = load_average()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0

    cmd = "COURSE_DATA_DIR=<data dir> .venv/bin/python benchmarks/compression_learning_curves.py"
    cmd += (" --quick" if args.quick else "") + (f" --seed {args.seed}" if args.seed else "")
    cmd += "" if args.datasets == ["qm7"] else " --datasets " + " ".join(args.datasets)
    cmd += " --sizes " + " ".join(map(str, args.sizes)) if args.sizes else ""
    cmd += f" --markdown {args.markdown}" if args.markdown else ""
    params = ", ".join(f"{k} = {v}" for k, v in SOAP_PARAMS.items() if k != "species")
    lines = report_header(
        f"Compressed power spectra on {' and '.join(d.upper() for d in args.datasets)}: KRR learning curves",
        cmd, info) + [
        f"- Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, scikit-learn {info['scikit-learn']}; "
        "one process, one BLAS/OpenMP thread",
        f"- total {wall / 60:.1f} min wall-clock, {cpu / 60:.1f} min CPU",
        "",
        "## Set-up (both data sets)",
        "",
        f"- Split seed {args.seed}: a random test set of {cfg['n_test']:,} molecules (used only for the scores) and "
        f"nested training sets of {', '.join(f'{n:,}' for n in cfg['sizes'])} molecules from the rest (for QM7 the "
        "split of `krr_qm7.py`).",
        f"- Density coefficients as SOAP ({params}; angstrom). Compression by uncentred PCA of the training "
        "coefficients: pseudo-elements by `alchemical_compression` + `mix_species`, radial PCA of all "
        "(element, radial) channels per l by `pca_radial_contraction` + `contract`.",
        "- Features: the power spectrum of every atom, summed over the molecule's atoms (not krr_qm7.py's "
        "`average=\"inner\"`, which is the power spectrum of the averaged coefficients). KRR with a Gaussian "
        f"kernel; width ({cfg['width_factors']} x the median distance) and ridge {cfg['alphas']} by "
        f"{cfg['folds']}-fold CV inside each training set (`krr_qm7.krr_curve`). All errors in kcal/mol.",
        "",
    ]
    for res in results:
        lines += section(res, cfg)
    lines += [
        "## References",
        "",
        "- M. J. Willatt, F. Musil, M. Ceriotti, Feature optimization for atomistic machine learning yields a "
        "data-driven construction of the periodic table of the elements, Phys. Chem. Chem. Phys. 20, 29661 (2018)",
        "- A. Goscinski, F. Musil, S. Pozdnyakov, J. Nigam, M. Ceriotti, Optimal radial basis for density-based "
        "atomic representations, J. Chem. Phys. 155, 104106 (2021)",
        "- R. Ramakrishnan, P. O. Dral, M. Rupp, O. A. von Lilienfeld, Quantum chemistry structures and properties "
        "of 134 kilo molecules, Sci. Data 1, 140022 (2014)",
    ]
    write_report(lines, args.markdown if args.markdown else None)


if __name__ == "__main__":
    main()
