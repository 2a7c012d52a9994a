"""Does the CrysAtom connectivity loss train the encoder? The sigmoid decoder against the normalised one.

For each decoder (``connectivity="sigmoid"``: a sigmoid after the bilinear map, the reading of the
paper's text; ``"normalized"``: L2-normalised atom vectors and no squashing activation, the
authors' code and the course default) the same CrysAtom model (paper size: 200-d, 5 convolutions)
is pretrained from the same initial weights for a few epochs, and the script records

- per epoch: validation connectivity loss and accuracy, against the majority-class rate (always
  predicting the most frequent edge count);
- before and after training: the norm of each loss term's gradient with respect to the encoder's
  weights (:func:`course_lib.crysatom.loss_term_gradients`) and, for the sigmoid decoder, the
  fraction of bilinear outputs where the sigmoid's derivative is below 1e-3 (saturated).

Usage (one thread; writes Markdown to ``--markdown``)::

    .venv/bin/python benchmarks/crysatom_connectivity.py --dataset matbench_dielectric --n 48 --epochs 10 \\
        --markdown benchmarks/results/crysatom_connectivity.md
    # JARVIS-DFT subset (needs COURSE_DATA_DIR): the issue's 2,000 crystals
    .venv/bin/python benchmarks/crysatom_connectivity.py --dataset jarvis --n 2000 --epochs 5 --batch-size 128
"""

from __future__ import annotations

import argparse
import copy
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

GRAPH = dict(radius=8.0, max_neighbors=12, gaussian_step=0.2)


def load_structures(dataset: str, n: int):
    """``n`` structures: the first ``n`` of matbench_dielectric, or a seeded JARVIS-DFT subset."""
    from course_lib.data import load_dataset

    if dataset == "matbench_dielectric":
        return list(load_dataset("matbench_dielectric", limit=n, progress=False)["structure"])
    from _jarvis import _parse, connected, subset_rows

    df = load_dataset("jarvis_dft3d_2021", structures=False, progress=False)
    rows = subset_rows(len(df), n, seed=0)
    structures = _parse(list(df["cif_path"].iloc[rows]))
    return [s for s, ok in zip(structures, connected(structures)) if ok]


def saturation(model, batch) -> float:
    """Fraction of bilinear outputs (raw atom vectors) where the sigmoid's derivative is below 1e-3.

    Measured as the loss sees them in training (batch statistics in the batch normalisations), on a
    copy of the model, so that the running statistics of the model itself do not change.
    """
    probe = copy.deepcopy(model).train()
    with torch.no_grad():
        s = torch.sigmoid(probe._bilinear(probe.encode(batch.graph), batch.pairs))
        return float((s * (1 - s) < 1e-3).float().mean())


def run(graphs, connectivity: str, args) -> dict:
    from course_lib.crysatom import (CrysAtom, CrysAtomTrainer, PretrainDataset, collate_pretrain,
                                     loss_term_gradients, majority_class_rate)

    data = PretrainDataset(graphs, seed=0)
    torch.manual_seed(0)
    model = CrysAtom(graphs.atom_feature_dim, graphs.edge_feature_dim, GRAPH["max_neighbors"], dim=200, n_conv=5,
                     connectivity=connectivity)
    trainer = CrysAtomTrainer(model, data, epochs=args.epochs, batch_size=args.batch_size, lr=1e-3,
                              val_fraction=args.val_fraction, test_fraction=0.0, progress=False, restore_best=False)
    val = trainer.split[1][:256]
    batch = collate_pretrain([data[int(i)] for i in val])
    model.train()
    before = loss_term_gradients(model, batch)
    sat_before = saturation(model, batch)
    start = time.perf_counter()
    history = trainer.fit()
    seconds = time.perf_counter() - start
    model.train()
    after = loss_term_gradients(model, batch)
    return {"connectivity": connectivity, "history": history, "before": before, "after": after,
            "sat_before": sat_before, "sat_after": saturation(model, batch), "seconds": seconds,
            "majority": majority_class_rate(data, trainer.split[1], model.max_count),
            "n_train": len(trainer.split[0]), "n_val": len(trainer.split[1])}


def report(results, args, n_crystals: int) -> str:
    cmd = " ".join([".venv/bin/python", "benchmarks/crysatom_connectivity.py", *map(shlex.quote, args.argv)])
    r0 = results[0]
    lines = [
        "# CrysAtom: does the connectivity loss train the encoder?", "",
        f"Command: `{cmd}` (torch threads: 1; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"torch {torch.__version__}).", "",
        f"Data: {n_crystals} crystals of `{args.dataset}` ({r0['n_train']} training, {r0['n_val']} validation), "
        f"graphs of radius {GRAPH['radius']} A with {GRAPH['max_neighbors']} neighbours. Model: 200-d, 5 "
        f"convolutions, the paper's loss weights; Adam, lr 1e-3, batch size {args.batch_size}, {args.epochs} epochs, "
        "same initial weights for both decoders (seed 0).", "",
        "Gradient norms are of each unweighted loss term with respect to the encoder's weights, on the "
        f"validation crystals (at most 256); 'saturated' is the fraction of bilinear outputs where the sigmoid's "
        "derivative is below 1e-3, with the batch statistics of training (only the sigmoid decoder applies a "
        "sigmoid).", "",
        "| decoder | saturated (start / end) | feature grad (start / end) | connectivity grad (start / end) | "
        "Barlow Twins grad (start / end) | best val accuracy | majority-class rate | val connectivity loss "
        "(first / last) | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        h, b, a = r["history"], r["before"], r["after"]
        sat = f"{r['sat_before']:.3f} / {r['sat_after']:.3f}" if r["connectivity"] == "sigmoid" else "n/a"
        lines.append(
            f"| {r['connectivity']} | {sat} | {b['feature']:.3g} / {a['feature']:.3g} | "
            f"{b['connectivity']:.3g} / {a['connectivity']:.3g} | {b['barlow_twins']:.3g} / {a['barlow_twins']:.3g} | "
            f"{max(h['val_accuracy']):.3f} | {r['majority']:.3f} | {h['val_connectivity'][0]:.3f} / "
            f"{h['val_connectivity'][-1]:.3f} | {r['seconds']:.0f} |")
    lines += ["", "Validation accuracy of the connectivity decoder per epoch:", "",
              "| decoder | " + " | ".join(str(e) for e in results[0]["history"]["epoch"]) + " |",
              "|---|" + "---|" * len(results[0]["history"]),
              *[f"| {r['connectivity']} | " + " | ".join(f"{x:.3f}" for x in r["history"]["val_accuracy"]) + " |"
                for r in results], ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=["matbench_dielectric", "jarvis"], default="matbench_dielectric")
    p.add_argument("--n", type=int, default=48)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--val-fraction", type=float, default=0.25)
    p.add_argument("--markdown", default=None)
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    from course_lib.graphs import CrystalGraphDataset

    graphs = CrystalGraphDataset(load_structures(args.dataset, args.n), progress=False, **GRAPH)
    results = [run(graphs, c, args) for c in ("sigmoid", "normalized")]
    text = report(results, args, len(graphs))
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
