"""Benchmark course_lib.descriptors against dscribe 2.1.2: throughput and agreement, in one run.

Data (read from ``$COURSE_DATA_DIR``, default ``../shared/data`` relative to the repository):

- the first 1,000 molecules of QM7 (``qm7.tar.gz``: ``qm7/hof_qm7.txt`` lists the files in order);
- the first 1,000 crystals of JARVIS-DFT 3D 2021 (``jarvis_dft3d_2021.tar.gz``: the first 1,000
  ids of ``jarvis/id_prop.csv``), extracted to a temporary directory. The JARVIS CIFs list every
  atom of the cell with the identity as the only symmetry operation, but name the true space group;
  ASE's CIF reader then applies that group's centring and duplicates atoms (33 of these 1,000), so
  the files are read as P1.

Both libraries featurize the same lists with one process; BLAS/OpenMP are limited to one thread
before numpy is imported. Each measurement is repeated (``--repeats``) alternating the two
libraries, and the best run is kept; the CPU time of this process is reported next to the wall
time because the machine may be shared (the ratio uses CPU time). dscribe is timed with
``Descriptor.create(list)``, ours with :func:`course_lib.descriptors.featurize` (vectorised over
structures); a second table times single-structure calls of both. Our single-structure kernels
are compiled with numba when it is installed (``course_lib/descriptors/_jit.py``); with
``COURSE_LIB_NUMBA=0`` in the environment the script times the plain NumPy path instead. A third
table gives the time of the first call of each single-structure descriptor in a fresh process,
once with an empty numba cache (the compilation a student waits for) and once more (the kernels
loaded from the on-disk cache).

Agreement: for every structure, ``max|ours - dscribe| / max|dscribe|`` (the table shows the
maximum over structures), and the fraction of numbers outside ``rtol=1e-6`` (with ``atol`` =
1e-12 of the largest value of the structure). For ``sorted_l2`` matrices, structures whose rows
have exactly equal norms (symmetry-equivalent atoms) may be ordered differently: those are
counted separately after checking that the sorted row norms and the eigenvalues agree.

Usage::

    .venv/bin/python benchmarks/descriptors_vs_dscribe.py \\
        --markdown benchmarks/results/descriptors_vs_dscribe.md
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import json  # noqa: E402
import subprocess  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import load_average, machine_info  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)  # dscribe: atoms.get_calculator()

import ase  # noqa: E402
import ase.io  # noqa: E402
import dscribe  # noqa: E402
from dscribe.descriptors import ACSF, SOAP, CoulombMatrix, SineMatrix  # noqa: E402

from course_lib.descriptors import _jit, acsf, coulomb_matrix, featurize, sine_matrix, soap  # noqa: E402


def data_dir() -> Path:
    env = os.environ.get("COURSE_DATA_DIR")
    path = Path(env) if env else (REPO / ".." / "shared" / "data")
    if not path.is_dir():
        sys.exit(f"data directory {path} not found: set COURSE_DATA_DIR")
    return path.resolve()


def load_qm7(path: Path, n: int):
    with tarfile.open(path / "qm7.tar.gz") as tar:
        names = {m.name: m for m in tar.getmembers()}
        index = next(k for k in names if k.endswith("hof_qm7.txt"))
        lines = tar.extractfile(names[index]).read().decode().split("\n")
        root = index.rsplit("/", 1)[0]
        mols = []
        for line in lines[:n]:
            member = names[f"{root}/{line.split()[0]}"]
            text = tar.extractfile(member).read().decode()
            mols.append(ase.io.read(io.StringIO(text), format="xyz"))
    return mols


def read_cif_p1(path: Path):
    """Read a JARVIS CIF as P1 (its atom list is complete; see the module docstring)."""
    text = path.read_text()
    text = text[text.find("data_") :]
    text = re.sub(r"_symmetry_space_group_name_H-M.*", "_symmetry_space_group_name_H-M  'P 1'", text)
    text = re.sub(r"_symmetry_Int_Tables_number.*", "_symmetry_Int_Tables_number  1", text)
    return ase.io.read(io.StringIO(text), format="cif")


def load_jarvis(path: Path, n: int, tmp: Path):
    with tarfile.open(path / "jarvis_dft3d_2021.tar.gz") as tar:
        ids, wanted, found, n_found = None, None, {}, 0
        for member in tar:
            if member.name.endswith("id_prop.csv"):
                rows = tar.extractfile(member).read().decode().split("\n")[1:]
                ids = [r.split(",")[0] for r in rows if r.strip()][:n]
                wanted = {f"{i}.cif" for i in ids}
                n_found = sum(1 for k in found if k in wanted)
            elif member.name.endswith(".cif"):
                name = member.name.rsplit("/", 1)[-1]
                if wanted is None or name in wanted:
                    tar.extract(member, tmp, filter="data")
                    found[name] = tmp / member.name
                    n_found += wanted is not None
            if ids is not None and n_found == len(ids):
                break
    return [read_cif_p1(found[f"{i}.cif"]) for i in ids]


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def as_list(x):
    return list(x) if isinstance(x, np.ndarray) and x.ndim > 1 else x


def compare(ours, ref, sorted_rows=None):
    """(max normwise relative difference, fraction of numbers outside rtol, n tie-only structures)."""
    worst, bad, total, ties = 0.0, 0, 0, 0
    for k, (a, b) in enumerate(zip(ours, ref)):
        a, b = np.asarray(a, float), np.asarray(b, float)
        scale = np.abs(b).max() or 1.0
        diff = np.abs(a - b).max() / scale
        outside = ~np.isclose(a, b, rtol=1e-6, atol=1e-12 * scale)
        if sorted_rows is not None and outside.any():
            n = sorted_rows
            am, bm = a.reshape(n, n), b.reshape(n, n)
            if np.allclose(np.sort(np.linalg.norm(am, axis=1)), np.sort(np.linalg.norm(bm, axis=1)), rtol=1e-9) \
                    and np.allclose(np.linalg.eigvalsh(am), np.linalg.eigvalsh(bm), rtol=1e-9, atol=1e-9 * scale):
                ties += 1
                continue
        worst = max(worst, diff)
        bad += int(outside.sum())
        total += a.size
    return worst, bad / max(total, 1), ties


def run_case(name, data, ref_fn, our_fn, repeats, chunk, sorted_rows=None):
    """Time both libraries (alternating, best of ``repeats``) and compare their outputs."""
    best = {"dscribe": [np.inf, np.inf], "ours": [np.inf, np.inf]}
    agreement = None
    for rep in range(repeats):
        t = {"dscribe": [0.0, 0.0], "ours": [0.0, 0.0]}
        outs = []
        for start in range(0, len(data), chunk):
            part = data[start : start + chunk]
            ref, w1, c1 = timed(lambda: ref_fn(part))
            ours, w2, c2 = timed(lambda: our_fn(part))
            t["dscribe"][0] += w1
            t["dscribe"][1] += c1
            t["ours"][0] += w2
            t["ours"][1] += c2
            if rep == 0:
                outs.append(compare(as_list(ours), as_list(ref), sorted_rows))
        for lib in best:
            best[lib] = [min(best[lib][0], t[lib][0]), min(best[lib][1], t[lib][1])]
        if rep == 0:
            n_struct = [min(chunk, len(data) - s) for s in range(0, len(data), chunk)]
            agreement = (
                max(o[0] for o in outs),
                sum(o[1] * m for o, m in zip(outs, n_struct)) / len(data),
                sum(o[2] for o in outs),
            )
    n = len(data)
    row = {
        "name": name,
        "n": n,
        "dscribe_wall": n / best["dscribe"][0],
        "ours_wall": n / best["ours"][0],
        "dscribe_cpu": n / best["dscribe"][1],
        "ours_cpu": n / best["ours"][1],
        "max_rel": agreement[0],
        "frac_bad": agreement[1],
        "ties": agreement[2],
    }
    row["ratio"] = row["ours_cpu"] / row["dscribe_cpu"]
    print(
        f"{name:42s} dscribe {row['dscribe_cpu']:8.0f}/s  ours {row['ours_cpu']:8.0f}/s  "
        f"ratio {row['ratio']:5.2f}  max rel diff {row['max_rel']:.1e}  ties {row['ties']}",
        flush=True,
    )
    return row


def single_calls(name, data, ref_single, our_single, repeats, profile_top=0):
    """Best-of-``repeats`` CPU throughput of one call per structure, both libraries alternating;
    with ``profile_top``, also our call's ``profile_top`` most expensive functions (cProfile)."""
    ref_single(data[0])
    our_single(data[0])  # warm-up (caches of the parameters)
    best_d = best_o = np.inf
    for _ in range(repeats):
        _, _, c1 = timed(lambda: [ref_single(s) for s in data])
        _, _, c2 = timed(lambda: [our_single(s) for s in data])
        best_d, best_o = min(best_d, c1), min(best_o, c2)
    row = {"name": name, "n": len(data), "dscribe_cpu": len(data) / best_d, "ours_cpu": len(data) / best_o}
    row["ratio"] = row["ours_cpu"] / row["dscribe_cpu"]
    print(f"single {name:35s} dscribe {row['dscribe_cpu']:8.0f}/s  ours {row['ours_cpu']:8.0f}/s  "
          f"ratio {row['ratio']:5.2f}", flush=True)
    if profile_top:
        row["profile"] = profile(lambda: [our_single(s) for s in data], profile_top)
    return row


def profile(fn, top):
    """The ``top`` functions by own time (cProfile) of one run of ``fn``: (name, calls, own s, cum s)."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    stats = pstats.Stats(prof).stats
    rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    out = []
    for (file, line, func), (_, calls, own, cum, _) in rows:
        where = f"{Path(file).name}:{line}" if file != "~" else "builtin"
        out.append((f"{func} ({where})", calls, own, cum))
    return out


_FIRST_CALLS = """
import json, sys, time
start = time.perf_counter()
from course_lib.descriptors import acsf, coulomb_matrix, soap
from ase.build import molecule
out = {"import course_lib.descriptors": time.perf_counter() - start}
kw = json.loads(sys.argv[1])
atoms = molecule("CH3CH2OH")
for name, fn in [
    ("Coulomb matrix", lambda: coulomb_matrix(atoms, n_atoms_max=23)),
    ("ACSF", lambda: acsf(atoms, **kw["acsf"])),
    ("SOAP GTO", lambda: soap(atoms, **kw["soap"])),
    ("SOAP polynomial", lambda: soap(atoms, **kw["poly"])),
]:
    start = time.perf_counter()
    fn()
    out[name] = time.perf_counter() - start
print(json.dumps(out))
"""


def first_calls(params: dict) -> list[dict]:
    """Seconds of the import and of each descriptor's first call (ethanol) in two fresh processes
    sharing a new, empty numba cache directory: the first compiles, the second loads the cache."""
    runs = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for _ in range(2):
            res = subprocess.run([sys.executable, "-c", _FIRST_CALLS, json.dumps(params)], env=env,
                                 capture_output=True, text=True, timeout=600, cwd=REPO)
            if res.returncode:
                sys.exit(f"first-call measurement failed:\n{res.stderr}")
            runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print("first calls (compile, cached):", runs, flush=True)
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="structures per data set")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=100, help="structures per call (bounds memory)")
    parser.add_argument("--markdown", type=Path, help="write the results as markdown here")
    parser.add_argument("--singles-only", action="store_true",
                        help="time only the single-structure calls (and profile them)")
    parser.add_argument("--profile", type=int, default=8, metavar="K",
                        help="record the K most expensive functions of each single-call path (0: off)")
    args = parser.parse_args()
    info = machine_info("numpy", "scipy", "ase", "dscribe", "numba")
    info["kernels"] = (
        f"compiled with numba {info['numba']}" if _jit.ENABLED
        else "plain NumPy path (numba off: COURSE_LIB_NUMBA=0 or numba not importable)"
    )
    print(info, flush=True)

    root = data_dir()
    mols = load_qm7(root, args.n)
    with tempfile.TemporaryDirectory() as tmp:
        crystals = load_jarvis(root, args.n, Path(tmp))
    sp_m = sorted({s for m in mols for s in m.get_chemical_symbols()})
    sp_c = sorted({s for c in crystals for s in c.get_chemical_symbols()})
    nmax_m = 23  # QM7: at most 23 atoms
    nmax_c = max(len(c) for c in crystals)
    print(f"QM7: {len(mols)} molecules, species {sp_m}; JARVIS: {len(crystals)} crystals, "
          f"{len(sp_c)} species, up to {nmax_c} atoms", flush=True)

    # parameters (dscribe's documentation examples / defaults where they exist)
    g2 = [[1.0, 1.0], [1.0, 2.0], [1.0, 3.0], [0.1, 0.0]]
    g3 = [1.0, 2.0]
    g4 = [[0.05, 1.0, 1.0], [0.05, 2.0, 1.0], [0.05, 1.0, -1.0], [0.05, 2.0, -1.0]]
    g5 = [[0.05, 1.0, 1.0], [0.05, 1.0, -1.0]]
    acsf_m = dict(r_cut=6.0, species=sp_m, g2_params=g2, g3_params=g3, g4_params=g4, g5_params=g5)
    acsf_c = dict(r_cut=5.0, species=sp_c, g2_params=g2, g4_params=g4, periodic=True)
    soap_m = dict(r_cut=5.0, n_max=8, l_max=6, sigma=1.0, species=sp_m)
    soap_p = dict(r_cut=5.0, n_max=6, l_max=6, sigma=1.0, species=sp_m, rbf="polynomial")
    soap_c = dict(r_cut=5.0, n_max=6, l_max=4, sigma=1.0, species=sp_c, periodic=True)

    def ours(name, **kw):
        return lambda part: featurize(part, name, progress=False, **kw)

    cases = [
        ("Coulomb matrix, sorted_l2 (QM7)", mols,
         CoulombMatrix(n_atoms_max=nmax_m).create, ours("coulomb_matrix", n_atoms_max=nmax_m), nmax_m),
        ("Coulomb matrix, eigenspectrum (QM7)", mols,
         CoulombMatrix(n_atoms_max=nmax_m, permutation="eigenspectrum").create,
         ours("coulomb_matrix", n_atoms_max=nmax_m, permutation="eigenspectrum"), None),
        ("Sine matrix, sorted_l2 (JARVIS)", crystals,
         SineMatrix(n_atoms_max=nmax_c).create, ours("sine_matrix", n_atoms_max=nmax_c), nmax_c),
        ("Sine matrix, eigenspectrum (JARVIS)", crystals,
         SineMatrix(n_atoms_max=nmax_c, permutation="eigenspectrum").create,
         ours("sine_matrix", n_atoms_max=nmax_c, permutation="eigenspectrum"), None),
        ("ACSF, G1-G5 (QM7)", mols, ACSF(**acsf_m).create, ours("acsf", **acsf_m), None),
        ("ACSF, G1/G2/G4, periodic (JARVIS)", crystals, ACSF(**acsf_c).create, ours("acsf", **acsf_c), None),
        ("SOAP GTO (QM7)", mols, SOAP(**soap_m).create, ours("soap", **soap_m), None),
        ("SOAP GTO, average='inner' (QM7)", mols, SOAP(average="inner", **soap_m).create,
         ours("soap", average="inner", **soap_m), None),
        ("SOAP polynomial (QM7)", mols, SOAP(**soap_p).create, ours("soap", **soap_p), None),
        ("SOAP GTO, crossover, periodic (JARVIS)", crystals,
         SOAP(compression={"mode": "crossover"}, **soap_c).create,
         ours("soap", compression="crossover", **soap_c), None),
    ]
    rows = []
    for name, data, ref_fn, our_fn, sorted_rows in ([] if args.singles_only else cases):
        ref_fn(data[:3])
        our_fn(data[:3])  # warm-up (imports, caches)
        rows.append(run_case(name, data, ref_fn, our_fn, args.repeats, args.chunk, sorted_rows))

    # dscribe's descriptor objects are built once (the fair comparison); ours takes the parameters
    # on every call, as students call it
    n_mols, n_cryst = min(400, len(mols)), min(200, len(crystals))
    single_cases = [
        ("Coulomb matrix (QM7)", mols[:n_mols], CoulombMatrix(n_atoms_max=nmax_m).create,
         lambda s: coulomb_matrix(s, n_atoms_max=nmax_m)),
        ("Sine matrix (JARVIS)", crystals[:n_cryst], SineMatrix(n_atoms_max=nmax_c).create,
         lambda s: sine_matrix(s, n_atoms_max=nmax_c)),
        ("ACSF (QM7)", mols[:n_mols], ACSF(**acsf_m).create, lambda s: acsf(s, **acsf_m)),
        ("SOAP GTO (QM7)", mols[:n_mols], SOAP(**soap_m).create, lambda s: soap(s, **soap_m)),
        ("SOAP polynomial (QM7)", mols[:n_mols], SOAP(**soap_p).create, lambda s: soap(s, **soap_p)),
    ]
    singles = [single_calls(name, data, ref, our, args.repeats, args.profile)
               for name, data, ref, our in single_cases]
    sp_first = ["H", "C", "N", "O", "S"]
    firsts = first_calls({"acsf": dict(acsf_m, species=sp_first), "soap": dict(soap_m, species=sp_first),
                          "poly": dict(soap_p, species=sp_first)}) if _jit.ENABLED else []
    info["load_after"] = load_average()
    if args.markdown:
        write_markdown(args.markdown, info, rows, singles, firsts, args, len(sp_c),
                       dict(acsf_m=acsf_m, acsf_c=acsf_c, soap_m=soap_m, soap_p=soap_p, soap_c=soap_c))
        print(f"wrote {args.markdown}")


def write_markdown(path, info, rows, singles, firsts, args, n_species_c, params):
    def short(kw):
        return ", ".join(f"{k}={v!r}" for k, v in kw.items() if k != "species")

    cmd = "COURSE_DATA_DIR=<data dir> .venv/bin/python benchmarks/descriptors_vs_dscribe.py"
    if not _jit.ENABLED and os.environ.get("COURSE_LIB_NUMBA") == "0":
        cmd = "COURSE_LIB_NUMBA=0 " + cmd
    extra = []
    if args.n != 1000:
        extra.append(f"--n {args.n}")
    if args.repeats != 3:
        extra.append(f"--repeats {args.repeats}")
    if args.chunk != 100:
        extra.append(f"--chunk {args.chunk}")
    if args.singles_only:
        extra.append("--singles-only")
    if args.profile != 8:
        extra.append(f"--profile {args.profile}")
    extra.append(f"--markdown {path}")
    lines = [
        "# course_lib.descriptors vs dscribe: throughput and agreement",
        "",
        f"Recorded {info['date']} with",
        "",
        "```",
        f"{cmd} {' '.join(extra)}",
        "```",
        "",
        f"- machine: {info['cpu']}, {info['cores']} cores (shared with other jobs: load average "
        f"{info['load']} at the start, {info['load_after']} at the end; 1-minute / 5-minute / 15-minute)",
        f"- Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, ase {info['ase']}, "
        f"dscribe {info['dscribe']}",
        f"- our single-structure kernels: {info['kernels']}",
        "- one process, one BLAS/OpenMP thread for both libraries; best of "
        f"{args.repeats} alternating runs; structures per call: {args.chunk}",
        f"- data: the first {args.n:,} molecules of QM7 and the first {args.n:,} crystals of JARVIS-DFT 3D 2021 "
        f"(CIFs read as P1; {n_species_c} elements, so the periodic SOAP uses `compression='crossover'`)",
        "",
        "Throughput in structures per second of CPU time (wall-clock in brackets); the ratio is "
        "ours / dscribe on CPU time. Agreement: the largest `max|ours - dscribe| / max|dscribe|` over "
        "the structures, and the fraction of numbers outside `rtol=1e-6` (`atol` = 1e-12 of the "
        "structure's largest value).",
        "",
    ]
    if rows:
        lines += [
            "| descriptor (data) | dscribe /s | ours /s | ratio | max rel. diff | outside rtol | tie-order only |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['dscribe_cpu']:,.0f} ({r['dscribe_wall']:,.0f}) | "
            f"{r['ours_cpu']:,.0f} ({r['ours_wall']:,.0f}) | {r['ratio']:.2f} | {r['max_rel']:.1e} | "
            f"{r['frac_bad']:.1e} | {r['ties']} |"
        )
    lines += [] if not rows else [
        "",
        "\"tie-order only\": structures whose `sorted_l2` matrices differ only in the order of rows "
        "with equal norms (symmetry-equivalent atoms; equal to 10 significant digits), checked through "
        "the sorted row norms and the eigenvalues, and left out of the other two columns. dscribe "
        "orders such rows by floating-point noise, we keep their input order (documented in "
        "`course_lib/descriptors/coulomb.py`).",
        "",
        "The polynomial SOAP numbers outside `rtol` are features below ~1e-9 of the largest one: "
        "rounding noise of the upward recurrence for the modified spherical Bessel functions, in both "
        "codes (the normwise difference stays at 2e-10). With `l_max >= 10` the polynomial SOAP of "
        "dscribe 2.1.2 is not rotation-invariant (rounded Y_lm constants) and ours deliberately differs "
        "there; see `course_lib/descriptors/soap.py`.",
    ]
    lines += [
        "",
        "Single-structure calls (one call per structure: the first 400 QM7 molecules or the first "
        "200 JARVIS crystals; dscribe's descriptor object built once; CPU time; best of "
        f"{args.repeats}):",
        "",
        "| descriptor (data) | structures | dscribe /s | ours /s | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in singles:
        lines.append(f"| {r['name']} | {r['n']} | {r['dscribe_cpu']:,.0f} | {r['ours_cpu']:,.0f} | "
                     f"{r['ratio']:.2f} |")
    if any("profile" in r for r in singles):
        lines += ["", "Profile of our single-call paths (cProfile, one pass; own time of each function, "
                  "the profiler's overhead included):", ""]
        for r in singles:
            lines += [f"- {r['name']}:", "", "  | function | calls | own s | cumulative s |",
                      "  |---|---:|---:|---:|"]
            lines += [f"  | `{f}` | {c:,} | {own:.4f} | {cum:.4f} |" for f, c, own, cum in r["profile"]]
            lines.append("")
    if firsts:
        lines += [
            "",
            "First call in a fresh process (ethanol; seconds of wall-clock time; the import includes "
            "numba's): with an empty numba cache the kernels are compiled, a second process loads them "
            "from the on-disk cache:",
            "",
            "| step | empty cache (compiles) s | second process (cached) s |",
            "|---|---:|---:|",
        ]
        lines += [f"| {k} | {firsts[0][k]:.2f} | {firsts[1][k]:.2f} |" for k in firsts[0]]
        lines += [f"| total | {sum(firsts[0].values()):.2f} | {sum(firsts[1].values()):.2f} |"]
    lines += [
        "",
        "Parameters:",
        "",
        "- Coulomb matrix: `n_atoms_max=23`; sine matrix: `n_atoms_max` = largest crystal",
        f"- ACSF (QM7): {short(params['acsf_m'])}",
        f"- ACSF (JARVIS): {short(params['acsf_c'])}",
        f"- SOAP (QM7): {short(params['soap_m'])}",
        f"- SOAP polynomial (QM7): {short(params['soap_p'])}",
        f"- SOAP (JARVIS): {short(params['soap_c'])}, compression='crossover'",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
