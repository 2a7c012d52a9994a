"""course_lib.crysatom: Barlow Twins loss, masking, the CrysAtom model and trainer, element
vectors and the downstream atom-feature comparison (chapter 8)."""

import math

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from course_lib.crysatom import (
    CRYSATOM_CITATION,
    CrysAtom,
    CrysAtomTrainer,
    PretrainDataset,
    barlow_twins_loss,
    collate_pretrain,
    compare_atom_features,

    edge_count_matrix,
    element_vectors,
    loss_term_gradients,
    majority_class_rate,
    mask_atoms,
    mask_edges,
    masked_count,
    train_crysatom,
)
from course_lib.graphs import CrystalGraphDataset, build_crystal_graph, collate_graphs

torch.set_num_threads(1)

GRAPH = dict(radius=6.0, max_neighbors=8)


def nacl():
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture(scope="module")
def nacl_graph():
    return build_crystal_graph(nacl(), **GRAPH)  # 8 atoms


@pytest.fixture(scope="module")
def dielectric():
    from course_lib.data import load_dataset

    return load_dataset("matbench_dielectric", limit=30, progress=False)


@pytest.fixture(scope="module")
def graphs(dielectric):
    return CrystalGraphDataset(dielectric["structure"], **GRAPH, progress=False)


# ============================================================================================
# Barlow Twins loss
# ============================================================================================
def test_barlow_twins_hand_computed():
    # two items, one dimension: each view standardises to (-1, 1) or (1, -1)
    z1 = torch.tensor([[1.0], [3.0]])   # -> (-1, 1)
    z2 = torch.tensor([[5.0], [4.0]])   # -> (1, -1): C = -1, loss = (1 - (-1))^2 = 4
    assert barlow_twins_loss(z1, z2, eps=0).item() == pytest.approx(4.0)
    # two dimensions, four items: by hand
    z1 = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    z2 = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [0.0, 1.0], [0.0, -1.0]])
    # z1 columns: mean 0, var 0.5 -> x sqrt(2); z2: column 0 var 0.5, column 1 var 1
    a = z1 * math.sqrt(2)
    b = torch.stack([z2[:, 0] * math.sqrt(2), z2[:, 1]], 1)
    c = a.T @ b / 4  # [[1, 1/sqrt2], [0, 1/sqrt2]]
    assert c[0, 0].item() == pytest.approx(1.0)
    assert c[1, 0].item() == pytest.approx(0.0)
    expected = (1 - 1) ** 2 + (1 - 1 / math.sqrt(2)) ** 2 + 0.3 * (0.5 + 0.0)
    assert barlow_twins_loss(z1, z2, lambd=0.3, eps=0).item() == pytest.approx(expected)


def test_barlow_twins_matches_batchnorm_reference_and_is_symmetric():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(16, 5, generator=g), torch.randn(16, 5, generator=g) * 3 + 1
    bn = torch.nn.BatchNorm1d(5, affine=False).train()  # the reference normalisation of Barlow Twins
    c = bn(z1).T @ bn(z2) / 16
    on = ((torch.diagonal(c) - 1) ** 2).sum()
    off = (c**2).sum() - (torch.diagonal(c) ** 2).sum()
    assert barlow_twins_loss(z1, z2).item() == pytest.approx((on + 0.0051 * off).item(), rel=1e-5)
    assert barlow_twins_loss(z1, z2, 0.2).item() == pytest.approx(barlow_twins_loss(z2, z1, 0.2).item(), rel=1e-6)
    assert barlow_twins_loss(z1, z2).item() > 1.0  # unrelated views are far from the optimum


def test_barlow_twins_zero_at_optimum():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(32, 6, generator=g)
    assert barlow_twins_loss(z, z, lambd=0.0, eps=0).item() == pytest.approx(0.0, abs=1e-10)
    assert barlow_twins_loss(z, z, lambd=1.0, eps=0).item() > 1e-3  # random columns are correlated
    # orthogonal, centred columns of equal norm: whitened, identity cross-correlation
    q, _ = torch.linalg.qr(torch.randn(32, 6, generator=g, dtype=torch.float64))
    q = q - q.mean(0)
    q, _ = torch.linalg.qr(q)
    assert torch.allclose(q.mean(0), torch.zeros(6, dtype=torch.float64), atol=1e-12)
    assert barlow_twins_loss(q, q * 7 + 2, lambd=1.0, eps=0).item() == pytest.approx(0.0, abs=1e-12)


def test_barlow_twins_gradients_and_errors():
    z1 = torch.randn(8, 3, requires_grad=True)
    barlow_twins_loss(z1, torch.randn(8, 3)).backward()
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same shape"):
        barlow_twins_loss(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="at least 2"):
        barlow_twins_loss(torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="2-d"):
        barlow_twins_loss(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="non-negative"):
        barlow_twins_loss(torch.randn(4, 2), torch.randn(4, 2), lambd=-1)


# ============================================================================================
# Masking
# ============================================================================================
def test_masked_count_rounding():
    assert [masked_count(0.1, n) for n in (1, 2, 12, 14, 15, 25, 30, 100)] == [1, 1, 1, 1, 2, 3, 3, 10]
    assert masked_count(0.0, 10) == 0 and masked_count(1.0, 7) == 7 and masked_count(0.5, 0) == 0
    assert masked_count(0.25, 2) == 1  # 0.5 rounds up
    for bad in (-0.1, 1.5, "0.1", None, True):
        with pytest.raises(ValueError, match="between 0 and 1"):
            masked_count(bad, 10)


def test_mask_atoms_exact_count_and_reproducible(nacl_graph):
    g = nacl_graph
    out, mask = mask_atoms(g, 0.25, np.random.default_rng(3), return_mask=True)
    assert mask.sum() == 2 == masked_count(0.25, g.n_atoms)
    zero_rows = (out.atom_features == 0).all(1).numpy()
    assert np.array_equal(zero_rows, mask)
    assert torch.equal(out.atom_features[~torch.as_tensor(mask)], g.atom_features[~torch.as_tensor(mask)])
    assert torch.equal(out.edge_features, g.edge_features) and torch.equal(out.neighbor_index, g.neighbor_index)
    assert not (g.atom_features == 0).all(1).any()  # the input is untouched
    _, again = mask_atoms(g, 0.25, 3, return_mask=True)
    assert np.array_equal(mask, again)
    draws = {tuple(np.flatnonzero(mask_atoms(g, 0.25, s, return_mask=True)[1])) for s in range(20)}
    assert len(draws) > 5
    assert (mask_atoms(g, 1.0, 0).atom_features == 0).all()
    assert torch.equal(mask_atoms(g, 0.0, 0).atom_features, g.atom_features)


def test_mask_edges_exact_count_and_padding_untouched():
    # a molecule-like sparse case: few neighbours within the radius, so rows are padded
    s = Structure(Lattice.cubic(7.0), ["Si", "Si"], [[0, 0, 0], [0.3, 0, 0]])
    g = build_crystal_graph(s, radius=5.0, max_neighbors=12)
    n_real = int(g.n_neighbors.sum())
    assert n_real < g.neighbor_index.numel()
    out, mask = mask_edges(g, 0.3, np.random.default_rng(0), return_mask=True)
    assert mask.sum() == masked_count(0.3, n_real)
    real = np.arange(12)[None, :] < g.n_neighbors.numpy()[:, None]
    assert not mask[~real].any()
    zero = (out.edge_features == 0).all(-1).numpy()
    assert np.array_equal(zero, mask)
    assert torch.equal(out.atom_features, g.atom_features)
    out_all = mask_edges(g, 1.0, 0)
    assert (out_all.edge_features[torch.as_tensor(real)] == 0).all()
    assert torch.equal(out_all.edge_features[torch.as_tensor(~real)], g.edge_features[torch.as_tensor(~real)])
    assert np.array_equal(mask_edges(g, 0.3, 11, return_mask=True)[1], mask_edges(g, 0.3, 11, return_mask=True)[1])


def test_mask_errors(nacl_graph):
    with pytest.raises(ValueError, match="between 0 and 1"):
        mask_atoms(nacl_graph, 1.2, 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        mask_edges(nacl_graph, -0.5, 0)
    with pytest.raises(TypeError, match="CrystalGraph"):
        mask_atoms(nacl(), 0.1, 0)
    with pytest.raises(TypeError, match="Generator"):
        mask_edges(nacl_graph, 0.1, "seed")


# ============================================================================================
# Edge counts, pretraining data, the model
# ============================================================================================
def test_edge_count_matrix(nacl_graph):
    g = nacl_graph
    counts = edge_count_matrix(g)
    assert counts.shape == (8, 8)
    assert np.array_equal(counts.sum(1), g.n_neighbors.numpy())
    i = 0
    for k in range(int(g.n_neighbors[i])):
        assert counts[i, int(g.neighbor_index[i, k])] >= 1
    # NaCl rock salt: the 6 nearest neighbours of Na are Cl
    species = np.array(g.species)
    na = int(np.flatnonzero(species == "Na")[0])
    nearest6 = g.neighbor_index[na, :6].numpy()
    assert set(species[nearest6]) == {"Cl"}


def test_pretrain_dataset_items(graphs):
    data = PretrainDataset(graphs, atom_mask=0.1, edge_mask=0.1, seed=5)
    item = data[3]
    g = graphs.graphs[3]
    assert item["graph"] is g
    for view in ("view1", "view2"):
        v = item[view]
        assert (v.atom_features == 0).all(1).sum() == masked_count(0.1, g.n_atoms)
        assert (v.edge_features == 0).all(-1).sum() == masked_count(0.1, int(g.n_neighbors.sum()))
    assert not torch.equal(item["view1"].edge_features, item["view2"].edge_features)
    counts = edge_count_matrix(g)
    n_pos = int((counts > 0).sum())
    assert n_pos > 16
    assert np.array_equal(item["pair_counts"], counts[item["pairs"][:, 0], item["pairs"][:, 1]])
    assert len(item["pairs"]) == 32 and (item["pair_counts"][:16] > 0).all()  # 16 connected + 16 uniform
    every = PretrainDataset(graphs, seed=5, pairs_per_crystal=None)[3]
    assert len(every["pairs"]) == 2 * n_pos
    assert {tuple(p) for p in every["pairs"][:n_pos]} == {tuple(p) for p in np.argwhere(counts > 0)}
    assert np.array_equal(every["pair_counts"], counts[every["pairs"][:, 0], every["pairs"][:, 1]])
    with pytest.raises(ValueError, match="pairs_per_crystal"):
        PretrainDataset(graphs, pairs_per_crystal=1)
    again = data[3]
    assert torch.equal(again["view1"].atom_features, item["view1"].atom_features)
    data.epoch = 1
    other = data[3]
    assert not (torch.equal(other["view1"].edge_features, item["view1"].edge_features)
                and torch.equal(other["view2"].edge_features, item["view2"].edge_features))
    batch = collate_pretrain([data[0], data[1]])
    n0 = graphs.graphs[0].n_atoms
    assert batch.n_graphs == 2 and batch.pairs.max() < n0 + graphs.graphs[1].n_atoms
    assert batch.pairs[len(data[0]["pairs"]):].min() >= n0  # second crystal's pairs are shifted


def test_connectivity_decoder_is_the_bilinear_layer():
    """The fast bilinear evaluation gives torch.nn.Bilinear's values and gradients."""
    torch.manual_seed(1)
    model = CrysAtom(5, 3, 4, dim=7, n_conv=1, connectivity_hidden=6).double()
    h = torch.randn(9, 7, dtype=torch.float64, requires_grad=True)
    for n_pairs in (3, 40):  # fewer and more pairs than atoms
        pairs = torch.randint(0, 9, (n_pairs, 2))
        fast = model._bilinear(h, pairs)
        slow = model.bilinear(h[pairs[:, 0]], h[pairs[:, 1]])
        assert torch.allclose(fast, slow, atol=1e-12)
        g_fast = torch.autograd.grad(fast.sum(), [h, model.bilinear.weight])
        g_slow = torch.autograd.grad(slow.sum(), [h, model.bilinear.weight])
        assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(g_fast, g_slow))


def test_model_losses_and_errors(graphs):
    torch.manual_seed(0)
    model = CrysAtom(graphs.atom_feature_dim, graphs.edge_feature_dim, 8)
    assert model.hparams["dim"] == 200 and len(model.convs) == 5  # the paper's defaults
    assert model.connectivity_ffn[-1].out_features == 9
    small = CrysAtom(graphs.atom_feature_dim, graphs.edge_feature_dim, 8, dim=8, n_conv=1, connectivity_hidden=8)
    data = PretrainDataset(graphs)
    out = small(collate_pretrain([data[i] for i in range(4)]))
    w = small.weights
    total = w[0] * out["feature"] + w[1] * out["connectivity"] + w[2] * out["barlow_twins"]
    assert out["loss"].item() == pytest.approx(total.item(), rel=1e-6)
    assert all(out[k].item() > 0 for k in ("feature", "connectivity", "barlow_twins"))
    single = small(collate_pretrain([data[0]]))
    assert single["barlow_twins"].item() == 0.0  # one crystal cannot be normalised over the batch
    # the encoder loads into a CGCNN of the same width
    from course_lib.cgcnn import CGCNN

    cg = CGCNN(graphs.atom_feature_dim, graphs.edge_feature_dim, atom_fea_len=8, n_conv=1)
    cg.load_state_dict(small.encoder_state_dict(), strict=False)
    assert torch.equal(cg.embedding.weight, small.embedding.weight)
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        CrysAtom(dim=0)
    with pytest.raises(ValueError, match="weights"):
        CrysAtom(weights=(1, 1))
    with pytest.raises(TypeError, match="PretrainDataset"):
        CrysAtomTrainer(small, graphs)


@pytest.fixture(scope="module")
def dielectric48_cgcnn_graphs():
    """48 matbench_dielectric crystals with CGCNN's graph settings (radius 8 A, 12 neighbours)."""
    from course_lib.data import load_dataset

    df = load_dataset("matbench_dielectric", limit=48, progress=False)
    return CrystalGraphDataset(df["structure"], radius=8.0, max_neighbors=12, progress=False)


def _short_pretraining(graphs, connectivity, epochs):
    data = PretrainDataset(graphs, seed=0)
    torch.manual_seed(0)
    model = CrysAtom(graphs.atom_feature_dim, graphs.edge_feature_dim, 12, connectivity=connectivity)  # paper size
    trainer = CrysAtomTrainer(model, data, epochs=epochs, batch_size=8, lr=1e-3, val_fraction=0.25, test_fraction=0.0,
                              progress=False, restore_best=False)
    history = trainer.fit()
    model.train()
    grads = loss_term_gradients(model, collate_pretrain([data[int(i)] for i in trainer.split[1]]))
    return history, grads, majority_class_rate(data, trainer.split[1], model.max_count)


def test_every_loss_term_trains_the_encoder(dielectric48_cgcnn_graphs):
    """After a short pretraining at the paper's size, each of the three losses still sends gradient to the
    encoder, and the connectivity decoder beats always predicting the most frequent edge count."""
    history, grads, rate = _short_pretraining(dielectric48_cgcnn_graphs, "normalized", epochs=10)
    assert all(g > 1e-2 * grads["feature"] for g in grads.values()), grads
    assert max(history["val_accuracy"]) > rate + 0.02, (history["val_accuracy"], rate)
    # the paper-text reading (sigmoid after the bilinear map) saturates: no gradient, majority class only
    history, grads, rate = _short_pretraining(dielectric48_cgcnn_graphs, "sigmoid", epochs=6)
    assert grads["connectivity"] < 1e-6 * grads["feature"] and grads["barlow_twins"] > 0.1 * grads["feature"]
    assert max(history["val_accuracy"]) <= rate + 1e-9


def test_loss_term_gradients_by_autograd(graphs):
    torch.manual_seed(0)
    model = CrysAtom(graphs.atom_feature_dim, graphs.edge_feature_dim, 8, dim=8, n_conv=1, connectivity_hidden=4)
    data = PretrainDataset(graphs)
    batch = collate_pretrain([data[i] for i in range(4)])
    grads = loss_term_gradients(model, batch)
    model.zero_grad()
    model(batch)["connectivity"].backward()
    by_hand = math.sqrt(sum(float((p.grad ** 2).sum()) for n, p in model.named_parameters()
                            if n.startswith(("embedding.", "convs.")) and p.grad is not None))
    assert grads["connectivity"] == pytest.approx(by_hand, rel=1e-6)
    # majority rate by hand on the validation views of crystals 0..3
    counts = np.concatenate([data[i]["pair_counts"] for i in range(4)])
    assert majority_class_rate(data, range(4)) == pytest.approx(np.bincount(counts).max() / len(counts))
    assert majority_class_rate(data, range(4), max_count=0) == 1.0


def test_decoder_options(graphs):
    torch.manual_seed(0)
    kw = dict(dim=8, n_conv=1, connectivity_hidden=4)
    data = PretrainDataset(graphs)
    batch = collate_pretrain([data[i] for i in range(4)])
    code = CrysAtom(graphs.atom_feature_dim, graphs.edge_feature_dim, 8, max_count=5, feature_loss="bce",
                    projector=True, **kw)
    assert code.connectivity_ffn[-1].out_features == 6 and "6 edge-count classes" in repr(code)
    out = code(batch)
    h = code.encode(batch.graph)
    x = batch.graph.atom_features
    assert out["feature"].item() == pytest.approx(
        torch.nn.functional.binary_cross_entropy_with_logits(code.feature_decoder(h), x).item(), rel=1e-6)
    labels = batch.pair_counts.clamp(max=5)
    logits = code.connectivity_logits(h, batch.pairs)
    assert out["connectivity"].item() == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(),
                                                       rel=1e-6)
    # normalised head: scaling the atom vectors does not change the logits
    assert torch.allclose(code.connectivity_logits(3.0 * h, batch.pairs), logits, atol=1e-6)
    z = code.crystal_vectors(batch.view1)
    assert z.shape == (4, 128) and torch.allclose(z.norm(dim=1), torch.ones(4), atol=1e-6)
    with pytest.raises(ValueError, match="connectivity must be"):
        CrysAtom(connectivity="tanh")
    with pytest.raises(ValueError, match="feature_loss must be"):
        CrysAtom(feature_loss="l1")
    scaled = CrystalGraphDataset.__new__(CrystalGraphDataset)
    bad = collate_pretrain([data[i] for i in range(2)])
    bad.graph.atom_features = bad.graph.atom_features * 3
    with pytest.raises(ValueError, match=r"needs atom features in \[0, 1\]"):
        code(bad)
    del scaled


TINY = dict(dim=16, n_conv=2, connectivity_hidden=16, batch_size=8, lr=0.01, val_fraction=0.2,
            progress=False, **GRAPH)


def test_train_crysatom_loss_decreases(dielectric, graphs):
    emb, trainer = train_crysatom(graphs, epochs=5, return_trainer=True, **TINY)
    h = trainer.history
    assert len(h) == 5
    assert h["train_loss"][-1] < 0.75 * h["train_loss"][0]
    assert h["train_feature"][-1] < 0.5 * h["train_feature"][0]
    assert set(h.records[0]) >= {"train_connectivity", "train_barlow_twins", "val_feature", "val_accuracy"}
    species = {site.specie.symbol for s in dielectric["structure"] for site in s}
    assert set(emb.symbols) == species and emb.dim == 16
    assert emb.citation == CRYSATOM_CITATION
    # the chapter-2 tools and the graph builder take it unchanged
    assert len(emb.nearest("O", k=3)) == 3
    g = build_crystal_graph(dielectric["structure"][0], atom_features=emb, **GRAPH)
    assert g.atom_features.shape[1] == 16


def test_element_vectors_by_hand():
    structures = [nacl(), Structure.from_spacegroup("Fm-3m", Lattice.cubic(6.29), ["K", "Cl"],
                                                    [[0, 0, 0], [0.5, 0.5, 0.5]]),
                  Structure(Lattice.cubic(4.1), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])]
    ds = CrystalGraphDataset(structures, progress=False, **GRAPH)
    torch.manual_seed(1)
    model = CrysAtom(ds.atom_feature_dim, ds.edge_feature_dim, 8, dim=6, n_conv=2, connectivity_hidden=4)
    model.train()
    data = PretrainDataset(ds)
    model(collate_pretrain([data[0], data[1], data[2]]))  # moves the batch-norm running statistics
    emb = element_vectors(model, ds, batch_size=2)
    assert model.training  # restored
    model.eval()
    rows = {s: [] for s in ("Na", "K", "Cs", "Cl")}
    with torch.no_grad():
        for g in ds.graphs:  # one crystal at a time
            h = model.encode(collate_graphs([g]))
            for s, v in zip(g.species, h):
                rows[s].append(v.double().numpy())
    assert len(rows["Cl"]) == 4 + 4 + 1
    for s, vs in rows.items():
        np.testing.assert_allclose(emb.vector(s), np.mean(vs, axis=0), rtol=1e-5, atol=1e-6)
    assert "18 atoms of 3 crystals" in emb.description
    assert emb.symbols == ("Na", "Cl", "K", "Cs")


def test_checkpoint_resume_matches_uninterrupted(dielectric, tmp_path):
    structures = list(dielectric["structure"][:16])
    full = train_crysatom(structures, epochs=3, checkpoint_dir=tmp_path / "full", **TINY)
    train_crysatom(structures, epochs=1, checkpoint_dir=tmp_path / "cut", **TINY)
    resumed, trainer = train_crysatom(structures, epochs=3, checkpoint_dir=tmp_path / "cut",
                                      return_trainer=True, **TINY)
    np.testing.assert_array_equal(full.matrix, resumed.matrix)
    assert len(trainer.history) == 3 and "train_barlow_twins" in trainer.history.records[0]
    saved = torch.load(tmp_path / "cut" / "crysatom.pt", weights_only=True)
    assert saved["symbols"] == list(resumed.symbols)
    np.testing.assert_allclose(saved["vectors"].numpy(), resumed.matrix)
    # the same weight shapes with another decoder would load silently: refused
    with pytest.raises(ValueError, match="other settings.*connectivity='normalized' -> 'sigmoid'.*resume=False"):
        train_crysatom(structures, epochs=4, checkpoint_dir=tmp_path / "cut", connectivity="sigmoid", **TINY)


# ============================================================================================
# Downstream comparison
# ============================================================================================
def test_compare_atom_features_tiny(dielectric):
    table, runs = compare_atom_features(
        dielectric, "n", features=("one_hot", "random"), seeds=(0, 1), epochs=2, batch_size=8,
        model_options=dict(atom_fea_len=8, n_conv=1, h_fea_len=8), val_fraction=0.2, test_fraction=0.2,
        progress=False, return_runs=True, **GRAPH)
    assert list(table.index) == ["one_hot", "random"]
    assert list(table.columns) == ["dim", "test_mae_mean", "test_mae_std", "n_seeds", "test_mae_seed0",
                                   "test_mae_seed1"]
    assert table.loc["one_hot", "dim"] == 118 and table.loc["random", "dim"] == 200
    assert (table["n_seeds"] == 2).all() and (table["test_mae_mean"] > 0).all()
    for label in table.index:
        maes = runs[runs.feature == label].test_mae
        assert table.loc[label, "test_mae_mean"] == pytest.approx(maes.mean())
        assert table.loc[label, "test_mae_std"] == pytest.approx(maes.std(ddof=1))
    # identical splits across feature sets for each seed, different across seeds
    by_seed = runs.groupby("seed").split_hash.nunique()
    assert (by_seed == 1).all()
    assert runs[runs.seed == 0].split_hash.iloc[0] != runs[runs.seed == 1].split_hash.iloc[0]
    assert (runs[["n_train", "n_val", "n_test"]].to_numpy() == [18, 6, 6]).all()
    assert table.attrs["target"] == "n" and table.attrs["n_dropped"] == 0
    # a fixed test set with a training set drawn per seed (the low-data protocol)
    test_rows = np.arange(20, 30)

    def low_data(seed):
        rest = np.random.default_rng(seed).permutation(20)
        return rest[:12], rest[12:16], test_rows

    table2, runs2 = compare_atom_features(
        dielectric, "n", features=("one_hot",), seeds=(0, 1), epochs=1, batch_size=8, splits=low_data,
        model_options=dict(atom_fea_len=8, n_conv=1, h_fea_len=8), progress=False, return_runs=True, **GRAPH)
    assert (runs2[["n_train", "n_val", "n_test"]].to_numpy() == [12, 4, 10]).all()
    assert runs2.split_hash.nunique() == 2
    with pytest.raises(ValueError, match="outside"):
        compare_atom_features(dielectric, "n", features=("one_hot",), seeds=(0,), splits=([0, 1], [2], [99]),
                              progress=False, **GRAPH)
    with pytest.raises(ValueError, match=r"splits \(seed 0\).*disjoint"):
        compare_atom_features(dielectric, "n", features=("one_hot",), seeds=(0,), splits=([0, 1], [1], [2]),
                              progress=False, **GRAPH)
    with pytest.raises(ValueError, match="target"):
        compare_atom_features(dielectric, "nope", features=("one_hot",))
    with pytest.raises(ValueError, match="unknown atom feature set"):
        compare_atom_features(dielectric, "n", features=("bogus",), seeds=(0,), progress=False, **GRAPH)
