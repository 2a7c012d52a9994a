"""Benchmark of chapter 2's learned element embeddings.

1. SkipAtom trained on the full SkipAtom pairs file (15,360,652 bonded pairs of Materials Project
   structures, 2020-10-09): time per epoch and agreement (:func:`embedding_agreement`, Pearson
   correlation of the cosine-similarity matrices over shared elements) with the published
   ``load_embedding("skipatom")`` vectors.
2. Atom2Vec from the compositions of the JARVIS-DFT 3D set (``_chemical_formula_structural`` of every
   CIF in ``jarvis_dft3d_2021.tar.gz``): time and agreement with the published vectors.

Usage::

    .venv/bin/python benchmarks/skipatom_atom2vec.py [--epochs 10] [--device cpu] [--threads 1]

The data folder is ``$COURSE_DATA_DIR`` (default ``../shared/data`` beside the repository). Prints a Markdown report.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import tarfile
import time
from pathlib import Path

from course_lib.embeddings import (
    atom2vec,
    embedding_agreement,
    load_embedding,
    read_pairs,
    train_skipatom,
)

DATA = Path(os.environ.get("COURSE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
FORMULA = re.compile(rb"_chemical_formula_structural\s+'?([^'\n]+)'?")


def jarvis_compositions(path: Path) -> list[str]:
    """The ``_chemical_formula_structural`` of every CIF in the JARVIS archive.

    (The archive's ``_chemical_formula_sum`` lines drop digits, e.g. TiBe12 -> ``TiBe2``, C10 ->
    ``C0``, so the structural formula is used.)
    """
    out = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".cif"):
                match = FORMULA.search(tar.extractfile(member).read())
                if match:
                    out.append(match.group(1).decode().replace(" ", ""))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dim", type=int, default=200)
    parser.add_argument("--skip-skipatom", action="store_true")
    args = parser.parse_args()
    published = load_embedding("skipatom")
    mat2vec = load_embedding("mat2vec")
    lines = [f"- machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} CPUs visible, Python {platform.python_version()}"]
    import torch

    lines.append(f"- torch {torch.__version__}, device {args.device}, threads {args.threads}")

    if not args.skip_skipatom:
        t0 = time.perf_counter()
        pairs = read_pairs(DATA / "skipatom" / "mp_2020_10_09.pairs.csv.gz")
        t_read = time.perf_counter() - t0
        lines.append(f"- read {len(pairs):,} pairs in {t_read:.1f} s")
        losses: list[float] = []
        t0 = time.perf_counter()
        trained = train_skipatom(pairs, dim=args.dim, epochs=args.epochs, device=args.device,
                                 num_threads=args.threads, losses=losses, progress=False)
        t_train = time.perf_counter() - t0
        lines.append(f"- SkipAtom dim={args.dim}, epochs={args.epochs}, batch 1024, lr 0.01: "
                     f"{t_train:.0f} s in all, {t_train / args.epochs:.1f} s per epoch")
        lines.append("- mean loss per epoch (nats): " + ", ".join(f"{x:.4f}" for x in losses))
        from course_lib.embeddings import encode_pairs, induce_vectors
        import numpy as np

        symbols, index = encode_pairs(pairs)
        counts = dict(zip(symbols, np.bincount(index[:, 0], minlength=len(symbols)).tolist()))
        induced = induce_vectors(trained, counts)
        for label, emb in (("SkipAtom (ours)", trained), ("SkipAtom induced (ours)", induced)):
            shared = sum(s in published for s in emb.symbols)
            lines.append(f"- agreement {label} vs published skipatom: "
                         f"{embedding_agreement(emb, published):.3f} ({shared} shared elements); "
                         f"vs mat2vec: {embedding_agreement(emb, mat2vec):.3f}")

    t0 = time.perf_counter()
    comps = jarvis_compositions(DATA / "jarvis_dft3d_2021.tar.gz")
    t_read = time.perf_counter() - t0
    for dim in (10, 20, 50):
        t0 = time.perf_counter()
        a2v = atom2vec(comps, dim=dim)
        t_a2v = time.perf_counter() - t0
        lines.append(f"- Atom2Vec dim={dim} from {len(comps):,} JARVIS compositions (read in "
                     f"{t_read:.1f} s): {t_a2v:.1f} s; {a2v.description}")
        lines.append(f"  - agreement vs published skipatom: "
                     f"{embedding_agreement(a2v, published):.3f}; vs mat2vec: "
                     f"{embedding_agreement(a2v, mat2vec):.3f}")
    lines.append(f"- agreement published skipatom vs mat2vec: "
                 f"{embedding_agreement(published, mat2vec):.3f}")
    lines.append(f"- agreement random_200 vs published skipatom: "
                 f"{embedding_agreement('random_200', published):.3f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
