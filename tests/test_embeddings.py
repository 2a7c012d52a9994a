"""Published element embeddings: loading, registry and similarity helpers."""

import numpy as np
import pandas as pd
import pytest
from elementembeddings.core import Embedding

from course_lib.embeddings import (
    EMBEDDINGS,
    ElementEmbedding,
    MissingElementError,
    available_embeddings,
    load_embedding,
)

REQUIRED = ["magpie", "mat2vec", "skipatom", "megnet16", "oliynyk", "random_200"]


def _reference(name):
    """ElementEmbeddings' own vectors for a registry name (standardised by it for a derived set)."""
    base = EMBEDDINGS[name].derived_from
    return Embedding.load_data(name) if base is None else Embedding.load_data(base).standardise()


@pytest.mark.parametrize("name", available_embeddings())
def test_vectors_equal_elementembeddings(name):
    ours = load_embedding(name)
    ref = _reference(name)
    assert ours.name == name and ours.dim == ref.dim
    assert ours.citation and ours.citation == EMBEDDINGS[name].citation
    placeholder = {"Nh": "Uut", "Mc": "Uup"}  # random_200's file uses the old names for these
    for sym in ours.symbols:
        ref_sym = sym if sym in ref.embeddings else placeholder[sym]
        want = np.asarray(ref.embeddings[ref_sym], dtype=float)
        if EMBEDDINGS[name].derived_from is None:
            np.testing.assert_array_equal(ours.vector(sym), want)
        else:  # computed here and by scikit-learn's StandardScaler inside ElementEmbeddings
            np.testing.assert_allclose(ours.vector(sym), want, rtol=1e-12, atol=1e-12)
    # rows are ordered by atomic number
    from course_lib.elements import atomic_number

    zs = [atomic_number(s) for s in ours.symbols]
    assert zs == sorted(zs)


def test_required_embeddings_and_sizes():
    assert set(REQUIRED) <= set(available_embeddings())
    dims = {n: load_embedding(n).dim for n in REQUIRED}
    assert dims == {"magpie": 22, "mat2vec": 200, "skipatom": 200, "megnet16": 16, "oliynyk": 44, "random_200": 200}
    assert len(load_embedding("skipatom")) == 86


def test_placeholder_names_are_mapped():
    emb = load_embedding("random_200")
    assert "Nh" in emb and "Mc" in emb and "Lv" in emb
    assert "duplicates 'Lv'" in emb.description


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown embedding 'magpi'; choose one of: .*magpie"):
        load_embedding("magpi")


def test_dataframe_view():
    df = load_embedding("magpie").to_dataframe()
    assert isinstance(df, pd.DataFrame) and df.shape == (97, 22)
    assert df.loc["O", "Number"] == 8


def test_similarity_and_distance_by_hand():
    emb = ElementEmbedding.from_mapping("toy", {"H": [1.0, 0.0, 1.0], "He": [0.0, 1.0, 3.0], "Li": [2.0, 0.0, 2.0]})
    assert emb.similarity("H", "Li") == pytest.approx(1.0)
    assert emb.similarity("H", "He") == pytest.approx(3 / (np.sqrt(2) * np.sqrt(10)))
    assert emb.similarity("H", "He", "pearson") == pytest.approx(np.corrcoef([1, 0, 1], [0, 1, 3])[0, 1])
    assert emb.distance("H", "He") == pytest.approx(np.sqrt(1 + 1 + 4))
    assert emb.distance("H", "He", "chebyshev") == pytest.approx(2.0)
    assert emb.distance("H", "He", "manhattan") == pytest.approx(4.0)
    assert emb.distance("H", "Li", "cosine") == pytest.approx(0.0, abs=1e-12)
    m = emb.similarity_matrix()
    assert m.shape == (3, 3) and np.allclose(np.diag(m), 1) and np.allclose(m, m.T)
    assert emb.nearest("H", k=1)[0][0] == "Li"
    with pytest.raises(ValueError, match="unknown metric 'cos'"):
        emb.similarity("H", "He", "cos")


def test_similarity_matches_elementembeddings():
    ours = load_embedding("mat2vec")
    ref = Embedding.load_data("mat2vec")
    for a, b in [("Li", "Na"), ("Fe", "O"), ("Cu", "Ag")]:
        assert ours.similarity(a, b) == pytest.approx(ref.compute_correlation_metric(a, b, "cosine_similarity"))
        assert ours.similarity(a, b, "pearson") == pytest.approx(ref.compute_correlation_metric(a, b, "pearson"))
        assert ours.distance(a, b) == pytest.approx(ref.compute_distance_metric(a, b, "euclidean"))
        assert ours.distance(a, b, "chebyshev") == pytest.approx(ref.compute_distance_metric(a, b, "chebyshev"))


def test_missing_element_and_bad_tables():
    with pytest.raises(MissingElementError, match="'He' has no vector in embedding 'skipatom'"):
        load_embedding("skipatom").vector("He")
    with pytest.raises(ValueError, match="NaN"):
        ElementEmbedding.from_mapping("bad", {"H": [np.nan]})
    with pytest.raises(ValueError, match="different lengths"):
        ElementEmbedding.from_mapping("bad", {"H": [1.0], "He": [1.0, 2.0]})
    with pytest.raises(ValueError, match="unknown element 'Xx'"):
        ElementEmbedding.from_mapping("bad", {"Xx": [1.0]})
