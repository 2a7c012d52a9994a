"""course_lib.text: structure -> text, text -> vector, recall@k and robust statistics."""

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from course_lib.embeddings import load_embedding
from course_lib.text import (
    NORMAL_MAD_SCALE,
    DescriptionError,
    RecallError,
    TextVectorError,
    describe_structure,
    describe_structures,
    element_mentions,
    error_table,
    family_labels,
    mad,
    median,
    rank_by_similarity,
    recall_at_k,
    relevance_from_labels,
    text_vectors,
    trimean,
)


def rocksalt(a=5.64, cation="Na", anion="Cl"):
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]])


def perovskite():
    return Structure.from_spacegroup("Pm-3m", Lattice.cubic(3.9), ["Sr", "Ti", "O"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]])


def rutile():
    return Structure.from_spacegroup("P4_2/mnm", Lattice.tetragonal(4.594, 2.959), ["Ti", "O"],
                                     [[0, 0, 0], [0.3048, 0.3048, 0]])


def rotated(s, seed=0):
    from scipy.spatial.transform import Rotation

    r = Rotation.random(random_state=seed).as_matrix()
    return Structure(Lattice(s.lattice.matrix @ r.T), s.species, s.frac_coords)


def shuffled(s, seed=0):
    order = np.random.default_rng(seed).permutation(len(s))
    return Structure(s.lattice, [s.species[i] for i in order], s.frac_coords[order])


# ---- structure -> text ---------------------------------------------------------------------

def test_rock_salt_description_names_symmetry_environment_and_bond_length():
    text = describe_structure(rocksalt())
    assert text.startswith("NaCl crystallizes in the cubic Fm-3m space group (number 225)."), text
    assert "Na is bonded to six Cl atoms in an octahedral geometry" in text, text
    assert "Na–Cl 2.82 Å" in text, text  # a / 2 = 2.82 Å


def test_perovskite_sites_are_sorted_and_geometries_named():
    text = describe_structure(perovskite())
    sentences = text.split(". ")
    assert "cuboctahedral" in text and "octahedral" in text and "linear" in text, text
    assert sentences[1].startswith("O is bonded to two Ti"), sentences
    assert "Sr–O 2.76 Å" in text and "Ti–O 1.95 Å" in text, text


@pytest.mark.parametrize("make", [rocksalt, perovskite, rutile])
@pytest.mark.parametrize("neighbors", ["crystalnn", "nearest"])
def test_description_is_deterministic_and_invariant(make, neighbors):
    s = make()
    s.make_supercell([2, 1, 1])  # equivalent sites with several indices
    text = describe_structure(s, neighbors=neighbors)
    assert describe_structure(s, neighbors=neighbors) == text
    for seed in range(3):
        assert describe_structure(shuffled(s, seed), neighbors=neighbors) == text, "depends on the site order"
        assert describe_structure(rotated(s, seed), neighbors=neighbors) == text, "depends on the orientation"


def test_description_differs_between_polymorph_like_structures():
    assert describe_structure(rocksalt()) != describe_structure(rocksalt(6.29, "K", "Cl"))


def test_describe_bad_input():
    from ase.build import bulk

    with pytest.raises(TypeError, match="AseAtomsAdaptor"):
        describe_structure(bulk("Cu"))
    s = rocksalt()
    s.replace_species({"Na": {"Na": 0.5, "K": 0.5}})
    with pytest.raises(DescriptionError, match="partial occupancies"):
        describe_structure(s)
    with pytest.raises(DescriptionError, match="unknown neighbors"):
        describe_structure(rocksalt(), neighbors="voronoi")
    with pytest.raises(DescriptionError, match="decimals"):
        describe_structure(rocksalt(), decimals=-1)
    with pytest.raises(DescriptionError, match="no structures"):
        describe_structures([])


# ---- text -> vector ------------------------------------------------------------------------

def test_element_mentions():
    text = ("SrTiO3 crystallizes in the cubic Pm-3m space group (number 221). The Halite. "
            "Ti is bonded to six O atoms; bond lengths Ti–O 1.95 Å.")
    assert element_mentions(text) == ["Sr", "Ti", "O", "Ti", "O", "Ti", "O"]
    # the space-group symbol is not an element (P1 is not phosphorus, Fm not fermium)
    assert element_mentions("X crystallizes in the triclinic P1 space group (number 1).") == []


def test_tfidf_rows_are_unit_and_identical_texts_coincide():
    texts = [describe_structure(rocksalt()), describe_structure(perovskite()), describe_structure(rocksalt())]
    x = text_vectors(texts, "tfidf")
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0)
    assert np.allclose(x[0], x[2]) and not np.allclose(x[0], x[1])
    lsa = text_vectors(texts, "lsa", n_components=2)
    assert lsa.shape == (3, 2)


def test_mat2vec_text_vector_is_the_mean_over_element_mentions():
    text = "NaCl crystallizes in the cubic Fm-3m space group (number 225). Na is bonded to six Cl atoms."
    emb = load_embedding("mat2vec")
    expected = (2 * emb.vector("Na") + 2 * emb.vector("Cl")) / 4
    assert np.allclose(text_vectors([text], "mat2vec")[0], expected)


def test_text_vectors_bad_input():
    with pytest.raises(TextVectorError, match="wrap it"):
        text_vectors("NaCl")
    with pytest.raises(TextVectorError, match="no texts"):
        text_vectors([])
    with pytest.raises(TextVectorError, match=r"texts\[1\] is empty"):
        text_vectors(["NaCl", " "])
    with pytest.raises(TextVectorError, match=r"texts\[0\] is a int"):
        text_vectors([3])
    with pytest.raises(TextVectorError, match="unknown method"):
        text_vectors(["NaCl"], "bert")
    with pytest.raises(TextVectorError, match="n_components"):
        text_vectors(["NaCl rock salt", "KCl rock salt"], "lsa", n_components=5)
    with pytest.raises(TextVectorError, match="mentions no element"):
        text_vectors(["a crystal"], "mat2vec")


# ---- recall@k ------------------------------------------------------------------------------

def test_recall_at_k_on_a_hand_checked_case():
    # database of 4 unit-ish vectors; queries are rows 0 and 2 of it
    db = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.6, 0.8]])
    ranking = rank_by_similarity(db[[0, 2]], db, exclude_self=True, query_indices=[0, 2])
    # query 0: cosines 0.994 (1), 0.6 (3), 0 (2); query 2: 0.8 (3), 0.110 (1), 0 (0)
    assert ranking.tolist() == [[1, 3, 2, 0], [3, 1, 0, 2]]
    relevant = np.array([[False, False, True, True],    # query 0: items 2 and 3 are similar
                         [True, False, False, False]])  # query 2: item 0
    # k=1: query 0 finds 0 of 2, query 2 finds 0 of 1 -> 0
    assert recall_at_k(ranking, relevant, 1) == 0.0
    # k=2: query 0 finds item 3 (1 of 2), query 2 none -> (0.5 + 0) / 2
    assert recall_at_k(ranking, relevant, 2) == pytest.approx(0.25)
    # k=3: query 0 finds 2 and 3 (1), query 2 finds 0 (1)
    assert recall_at_k(ranking, relevant, 3) == pytest.approx(1.0)
    assert recall_at_k(ranking, relevant, 2, per_query=True).tolist() == [0.5, 0.0]
    # normalised by min(k, relevant): at k=1 query 0 needs only one of its two
    assert recall_at_k(ranking, relevant, 1, normalize="min") == 0.0
    assert recall_at_k(ranking, relevant, 2, normalize="min", per_query=True).tolist() == [0.5, 0.0]


def test_recall_ignores_queries_without_relevant_items():
    ranking = np.array([[1, 0], [0, 1]])
    relevant = np.array([[False, True], [False, False]])
    assert recall_at_k(ranking, relevant, 1) == 1.0
    assert np.isnan(recall_at_k(ranking, relevant, 1, per_query=True)[1])


def test_recall_bad_input():
    ranking = np.array([[1, 0]])
    with pytest.raises(RecallError, match="same shape"):
        recall_at_k(ranking, np.array([[True, False, True]]), 1)
    with pytest.raises(RecallError, match="boolean"):
        recall_at_k(ranking, np.array([[1, 0]]), 1)
    with pytest.raises(RecallError, match="k must be"):
        recall_at_k(ranking, np.array([[True, False]]), 3)
    with pytest.raises(RecallError, match="undefined"):
        recall_at_k(ranking, np.array([[False, False]]), 1)
    with pytest.raises(RecallError, match="query_indices"):
        rank_by_similarity(np.eye(2), np.eye(2), exclude_self=True)
    with pytest.raises(ValueError, match="zero"):
        rank_by_similarity(np.zeros((1, 2)), np.eye(2))


def test_relevance_and_family_labels():
    labels = family_labels([rocksalt(), rocksalt(6.29, "K", "Cl"), perovskite(), rocksalt(4.2, "Mg", "O")])
    assert labels == [(225, "Cl"), (225, "Cl"), (221, "O"), (225, "O")]
    rel = relevance_from_labels(labels, labels, query_indices=[0, 1, 2, 3])
    assert rel.tolist() == [[False, True, False, False], [True, False, False, False],
                            [False, False, False, False], [False, False, False, False]]


# ---- robust statistics ---------------------------------------------------------------------

def test_robust_statistics_by_hand():
    x = [1.0, 2.0, 3.0, 4.0, 100.0]
    assert median(x) == 3.0
    assert median([1, 2, 3, 100]) == 2.5
    assert trimean(x) == 3.0  # Q1 = 2, Q2 = 3, Q3 = 4
    assert trimean([0, 0, 0, 4]) == pytest.approx(0.25)  # Q1 = 0, Q2 = 0, Q3 = 1
    assert mad(x) == 1.0  # |x - 3| = 2, 1, 0, 1, 97
    assert mad(x, "normal") == pytest.approx(NORMAL_MAD_SCALE)
    assert NORMAL_MAD_SCALE == pytest.approx(1.4826, abs=1e-4)


def test_error_table_by_hand():
    y = np.array([0.0, 0.0, 0.0, 0.0])
    table = error_table(y, {"a": [1.0, -1.0, 1.0, 9.0]})
    row = table.loc["a"]
    assert row["MAE"] == 3.0 and row["RMSE"] == pytest.approx(np.sqrt(21.0))
    # absolute errors 1, 1, 1, 9: Q1 = Q2 = 1, Q3 = 1 + 0.25 * 8 = 3 -> trimean (1 + 2 + 3) / 4
    assert row["median AE"] == 1.0 and row["trimean AE"] == pytest.approx(1.5)
    assert row["MAD"] == 1.0  # signed errors 1, -1, 1, 9: median 1, deviations 0, 2, 0, 8 -> 1


def test_robust_bad_input():
    with pytest.raises(ValueError, match="empty"):
        median([])
    with pytest.raises(ValueError, match="NaN"):
        trimean([1.0, np.nan])
    with pytest.raises(ValueError, match="scale"):
        mad([1.0], "gauss")
    with pytest.raises(ValueError, match="has 2 values"):
        error_table([1.0, 2.0, 3.0], {"a": [1.0, 2.0]})
