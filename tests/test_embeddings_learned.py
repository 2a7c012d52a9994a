"""Tests of chapter 2's learned element embeddings: pairs, SkipAtom, Atom2Vec, analysis."""

from __future__ import annotations

import gzip
from collections import Counter

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from pymatgen.core import Lattice, Structure  # noqa: E402

from course_lib.embeddings import (  # noqa: E402
    ElementEmbedding,
    PairsError,
    atom2vec,
    atom_environment_matrix,
    cooccurrence_matrix,
    cooccurrence_pairs,
    embedding_agreement,
    encode_pairs,
    environment_key,
    induce_vectors,
    load_embedding,
    mendeleev_order,
    nearest_table,
    ordered_similarity_matrix,
    pairs_from_structures,
    plot_projection,
    plot_similarity_heatmap,
    project_2d,
    read_pairs,
    skipgram_loss,
    svd_embedding,
    train_skipatom,
    write_pairs,
)


def rocksalt(a="Na", b="Cl", lattice=5.64) -> Structure:
    conv = Structure.from_spacegroup("Fm-3m", Lattice.cubic(lattice), [a, b],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])
    return conv.get_primitive_structure()


def cscl() -> Structure:
    return Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def perovskite() -> Structure:
    return Structure(Lattice.cubic(3.905), ["Sr", "Ti", "O", "O", "O"],
                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


# -- pairs ------------------------------------------------------------------------------------------


def test_rocksalt_primitive_cell():
    s = rocksalt()
    assert len(s) == 2
    # every Na has 6 Cl neighbours, but all six are images of the one Cl site of the cell
    assert Counter(cooccurrence_pairs(s)) == Counter({("Na", "Cl"): 1, ("Cl", "Na"): 1})
    assert Counter(cooccurrence_pairs(s, images="all")) == Counter({("Na", "Cl"): 6,
                                                                     ("Cl", "Na"): 6})


def test_cscl_and_self_pairs():
    assert Counter(cooccurrence_pairs(cscl())) == Counter({("Cs", "Cl"): 1, ("Cl", "Cs"): 1})
    assert Counter(cooccurrence_pairs(cscl(), images="all")) == Counter({("Cs", "Cl"): 8,
                                                                          ("Cl", "Cs"): 8})
    # simple-cubic Po: the one site is bonded to six images of itself
    po = Structure(Lattice.cubic(3.35), ["Po"], [[0, 0, 0]])
    assert cooccurrence_pairs(po) == [("Po", "Po")]
    assert cooccurrence_pairs(po, images="all") == [("Po", "Po")] * 6


def test_molecule_in_a_box():
    o2 = Structure(Lattice.cubic(10.0), ["O", "O"], [[0, 0, 0], [0.121, 0, 0]])
    assert cooccurrence_pairs(o2) == [("O", "O"), ("O", "O")]
    assert cooccurrence_pairs(o2, images="all") == [("O", "O"), ("O", "O")]


def test_pairs_invariant_under_site_permutation():
    s = perovskite()
    shuffled = Structure.from_sites([s[i] for i in (3, 1, 4, 0, 2)])
    for images in ("unique_sites", "all"):
        assert Counter(cooccurrence_pairs(s, images=images)) == Counter(
            cooccurrence_pairs(shuffled, images=images))
    pairs = Counter(cooccurrence_pairs(s, images="all"))
    assert pairs[("Ti", "O")] == 6 and pairs[("O", "Ti")] == 6  # TiO6 octahedron, 3 O x 2 Ti


def test_supercell_counts_scale():
    s = perovskite()
    base = Counter(cooccurrence_pairs(s, images="all"))
    big = Counter(cooccurrence_pairs(s * (2, 1, 1), images="all"))
    assert big == Counter({k: 2 * v for k, v in base.items()})
    # with unique_sites a 3x3x3 rock-salt supercell has six distinct Cl sites around every Na
    prim = rocksalt()
    unique = Counter(cooccurrence_pairs(prim * (3, 3, 3)))
    assert unique == Counter({k: 27 * v for k, v in Counter(cooccurrence_pairs(prim, images="all")).items()})


def test_pairs_from_structures_reports_failures():
    disordered = Structure(Lattice.cubic(4.0), [{"Na": 0.5, "K": 0.5}, "Cl"],
                           [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.warns(UserWarning, match=r"(?s)1 of 3 structures.*structure 1: ValueError.*disordered"):
        pairs = pairs_from_structures([rocksalt(), disordered, cscl()], progress=False)
    assert Counter(pairs) == Counter(cooccurrence_pairs(rocksalt()) + cooccurrence_pairs(cscl()))
    with pytest.raises(RuntimeError, match="structure 1"):
        pairs_from_structures([rocksalt(), disordered], progress=False, errors="raise")
    with pytest.raises(ValueError, match="images"):
        cooccurrence_pairs(rocksalt(), images="some")


def test_cooccurrence_matrix_symmetric_and_counts():
    pairs = pairs_from_structures([rocksalt(), perovskite(), cscl()], progress=False, images="all")
    m = cooccurrence_matrix(pairs)
    assert list(m.index) == ["O", "Na", "Cl", "Ti", "Sr", "Cs"]  # atomic-number order
    np.testing.assert_array_equal(m.to_numpy(), m.to_numpy().T)
    assert m.loc["Na", "Cl"] == 6 and m.loc["Cs", "Cl"] == 8 and m.loc["Ti", "O"] == 6
    assert m.to_numpy().sum() == len(pairs)
    m2 = cooccurrence_matrix([("H", "O")], symbols=["H", "He", "O"])
    assert m2.loc["H", "O"] == 1 and m2.loc["O", "H"] == 0 and m2.shape == (3, 3)


def test_pairs_io_roundtrip_and_errors(tmp_path):
    pairs = [("Na", "Cl"), ("Cl", "Na"), ("O", "O")]
    for name in ("p.csv", "p.csv.gz"):
        write_pairs(pairs, tmp_path / name)
        df = read_pairs(tmp_path / name)
        assert list(map(tuple, df.astype(str).to_numpy())) == pairs
    with gzip.open(tmp_path / "raw.csv.gz", "wt") as f:
        f.write("Fe,O\nO,Fe\n")
    assert len(read_pairs(tmp_path / "raw.csv.gz")) == 2
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(PairsError, match="no pairs"):
        read_pairs(tmp_path / "empty.csv")
    (tmp_path / "bad.csv").write_text("Fe,O\nXx,O\n")
    with pytest.raises(PairsError, match="Xx"):
        read_pairs(tmp_path / "bad.csv")
    (tmp_path / "short.csv").write_text("Fe,O\nFe\n")
    with pytest.raises(PairsError, match="line 2"):
        read_pairs(tmp_path / "short.csv")


def test_encode_pairs_errors():
    symbols, index = encode_pairs([("O", "Fe"), ("Fe", "O")])
    assert symbols == ("O", "Fe") and index.tolist() == [[0, 1], [1, 0]]
    with pytest.raises(PairsError, match="no pairs"):
        encode_pairs([])
    with pytest.raises(PairsError, match="Qq"):
        encode_pairs([("Qq", "O")])
    with pytest.raises(PairsError, match="tuples"):
        encode_pairs([("Fe", "O", "H")])
    with pytest.raises(PairsError, match="vocabulary: O"):
        encode_pairs([("Fe", "O")], symbols=["Fe"])


# -- Atom2Vec -------------------------------------------------------------------------------------------


def test_environment_keys():
    assert environment_key("Fe2O3", "Fe") == "(2)O3"
    assert environment_key("Fe2O3", "O") == "(3)Fe2"
    assert environment_key("Fe4O6", "O") == "(3)Fe2"  # reduced formula
    assert environment_key({"Li": 0.5, "Co": 1, "O": 2}, "Li") == "(0.5)Co1O2"
    assert environment_key("Fe", "Fe") == "(1)"
    with pytest.raises(ValueError, match="not in the composition"):
        environment_key("NaCl", "K")


def test_atom2vec_against_hand_computed_svd():
    comps = ["NaCl", "KCl", "NaBr", "NaCl", "Na2O"]
    m = atom_environment_matrix(comps)
    assert list(m.index) == ["O", "Na", "Cl", "K", "Br"]
    expected = pd.DataFrame(0, index=m.index, columns=["(1)Br1", "(1)Cl1", "(1)K1", "(1)Na1",
                                                       "(1)Na2", "(2)O1"])
    expected.loc["Na", ["(1)Cl1", "(1)Br1", "(2)O1"]] = [2, 1, 1]
    expected.loc["K", "(1)Cl1"] = 1
    expected.loc["Cl", ["(1)Na1", "(1)K1"]] = [2, 1]
    expected.loc["Br", "(1)Na1"] = 1
    expected.loc["O", "(1)Na2"] = 1
    expected = expected.fillna(0).astype(int)
    pd.testing.assert_frame_equal(m.sort_index(axis=1), expected.sort_index(axis=1),
                                  check_dtype=False)
    # by hand: rows scaled to unit length, X = U S V^T, vectors = U_k S_k; compare Gram matrices
    x = m.to_numpy(float)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    u, s, _ = np.linalg.svd(x)
    emb = atom2vec(comps, dim=2)
    gram = emb.matrix @ emb.matrix.T
    want = (u[:, :2] * s[:2]) @ (u[:, :2] * s[:2]).T
    order = [list(m.index).index(sym) for sym in emb.symbols]
    np.testing.assert_allclose(gram, want[np.ix_(order, order)], atol=1e-12)
    # sign convention: the largest-magnitude entry of every column is positive
    vec, _ = svd_embedding(m, 3)
    assert np.all(vec[np.argmax(np.abs(vec), axis=0), np.arange(3)] > 0)
    np.testing.assert_array_equal(atom2vec(comps, dim=2).matrix, emb.matrix)  # deterministic
    # Na and K both sit next to Cl; with no normalisation an un-normalised count matrix works too
    assert atom2vec(comps, dim=2, normalise=None).dim == 2


def test_atom2vec_errors():
    with pytest.raises(ValueError, match="dim=6 must satisfy"):
        atom2vec(["NaCl", "KCl", "NaBr", "MgO"], dim=6)  # 6 atoms, 6 environments
    with pytest.raises(ValueError, match="no compositions"):
        atom2vec([], dim=2)
    with pytest.raises(ValueError, match="normalise"):
        svd_embedding(np.eye(3), 1, normalise="max")


# -- SkipAtom ---------------------------------------------------------------------------------------------


def test_skipgram_loss_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w_in, w_out, b = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.normal(size=6)
    t, c = rng.integers(0, 6, 20), rng.integers(0, 6, 20)
    logits = torch.tensor(w_in[t] @ w_out.T + b)
    want = torch.nn.functional.cross_entropy(logits, torch.tensor(c)).item()
    assert skipgram_loss(w_in, w_out, b, t, c) == pytest.approx(want, rel=1e-12)
    # uniform logits: loss = log(n_atoms)
    assert skipgram_loss(np.zeros((6, 4)), w_out, np.zeros(6), t, c) == pytest.approx(np.log(6))


SYNTHETIC = (  # Na, K share the context Cl; Mg, Ca share O; never across
    [("Na", "Cl"), ("Cl", "Na"), ("K", "Cl"), ("Cl", "K")] * 50
    + [("Mg", "O"), ("O", "Mg"), ("Ca", "O"), ("O", "Ca")] * 50
)


def test_skipatom_training_loss_decreases_and_shapes():
    losses: list[float] = []
    emb = train_skipatom(SYNTHETIC, dim=8, epochs=15, batch_size=32, lr=0.02, seed=1,
                         device="cpu", progress=False, losses=losses)
    assert isinstance(emb, ElementEmbedding)
    assert emb.symbols == ("O", "Na", "Mg", "Cl", "K", "Ca") and emb.dim == 8
    assert len(losses) == 15 and losses[-1] < losses[0] - 0.5
    assert "Antunes" in emb.citation and "epochs=15" in emb.description
    # atoms with the same bonded partners end up more similar than atoms that never share one
    assert emb.similarity("Na", "K") > emb.similarity("Na", "Mg") + 0.3
    assert emb.similarity("Mg", "Ca") > emb.similarity("K", "Ca") + 0.3


def test_skipatom_deterministic_for_fixed_seed():
    kwargs = dict(dim=5, epochs=1, batch_size=16, device="cpu", progress=False)
    a = train_skipatom(SYNTHETIC, seed=3, **kwargs)
    b = train_skipatom(SYNTHETIC, seed=3, **kwargs)
    c = train_skipatom(SYNTHETIC, seed=4, **kwargs)
    np.testing.assert_array_equal(a.matrix, b.matrix)
    assert not np.allclose(a.matrix, c.matrix)


def test_skipatom_errors_and_induced():
    with pytest.raises(PairsError):
        train_skipatom([], progress=False)
    with pytest.raises(ValueError, match="dim"):
        train_skipatom(SYNTHETIC, dim=0, progress=False)
    emb = train_skipatom(SYNTHETIC, dim=4, epochs=1, device="cpu", progress=False)
    counts = {"Na": 100, "K": 100, "Cl": 200, "Mg": 100, "Ca": 3, "O": 200}
    ind = induce_vectors(emb, counts, min_count=10, top_n=2)
    # only Ca is rare: it gets its two closest atoms in (group, row, electronegativity) space
    changed = [s for s in emb.symbols if not np.allclose(emb.vector(s), ind.vector(s))]
    assert changed == ["Ca"]
    from course_lib.embeddings.skipatom import _position

    pos = {s: _position(s) for s in emb.symbols}
    ranked = sorted((s for s in emb.symbols if s != "Ca"),
                    key=lambda s: np.linalg.norm(pos[s] - pos["Ca"]))[:2]
    want = emb.vector("Ca") + (emb.vector(ranked[0]) + np.exp(-1) * emb.vector(ranked[1])) / 2
    np.testing.assert_allclose(ind.vector("Ca"), want)
    ind2 = train_skipatom(SYNTHETIC, dim=4, epochs=1, device="cpu", progress=False,
                          induced=True, min_count=60)
    assert ind2.name == "skipatom_trained_induced"
    np.testing.assert_allclose(ind2.vector("Cl"), emb.vector("Cl"))  # Cl is the target of 100 pairs


# -- analysis ---------------------------------------------------------------------------------------------


def test_agreement_invariant_to_rotation_and_sign_flips():
    pub = load_embedding("skipatom")
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(pub.dim, pub.dim)))
    flips = np.where(rng.random(pub.dim) < 0.5, -1.0, 1.0)
    rotated = ElementEmbedding("rotated", pub.symbols, (pub.matrix @ q) * flips)
    assert embedding_agreement(pub, rotated) == pytest.approx(1.0, abs=1e-12)
    assert embedding_agreement(pub, "skipatom") == pytest.approx(1.0)
    assert abs(embedding_agreement("random_200", pub)) < 0.2
    assert embedding_agreement("mat2vec", pub) < 0.9
    with pytest.raises(ValueError, match="share 1 elements"):
        embedding_agreement(pub, ElementEmbedding("one", ("Fe",), np.ones((1, 3))))


def test_orders_projections_and_plots():
    pub = load_embedding("skipatom")
    # Pettifor's Mendeleev numbers (pymatgen): He 1, K 10, Na 11, Li 12, Fe 61, Cl 99, O 101, F 102
    assert mendeleev_order(["F", "Li", "O", "He", "Na", "Fe", "Cl", "K"]) == [
        "He", "K", "Na", "Li", "Fe", "Cl", "O", "F"]
    sim = ordered_similarity_matrix(pub)
    assert list(sim.index) == mendeleev_order(pub.symbols) and sim.shape == (86, 86)
    xy = project_2d(pub, "pca")
    assert list(xy.columns) == ["x", "y", "block", "group"] and len(xy) == 86
    assert xy.loc["Fe", "block"] == "d" and xy.loc["Na", "group"] == 1
    with pytest.raises(ValueError, match="method"):
        project_2d(pub, "umap")
    table = nearest_table(pub, ["Li", "O"], k=3)
    assert table.shape == (2, 3) and table.loc["Li", "#1"].startswith(pub.nearest("Li", 1)[0][0])
    ax = plot_similarity_heatmap(pub, label_every=5)
    assert ax.get_title().startswith("skipatom")
    small = pub.subset(["H", "Li", "Na", "K", "F", "Cl", "Br", "O", "S", "Fe", "Co", "Ni"])
    plot_projection(small, "tsne", perplexity=3, color_by="group")
    import matplotlib.pyplot as plt

    plt.close("all")
