"""Chapter 1 compositional features, checked by hand and against ElementEmbeddings."""

import numpy as np
import pytest
from elementembeddings.composition import CompositionalEmbedding

from course_lib.composition import (
    STATS,
    FeaturizationError,
    composition_features,
    element_fractions,
    feature_labels,
    featurize,
    multi_hot,
    one_hot,
)
from course_lib.elements import SYMBOLS, FormulaError, atomic_number, parse_formula
from course_lib.embeddings import MissingElementError, load_embedding


def test_symbols_and_atomic_numbers():
    assert len(SYMBOLS) == 118
    assert SYMBOLS[0] == "H" and SYMBOLS[25] == "Fe" and SYMBOLS[117] == "Og"
    assert [atomic_number(s) for s in ("H", "O", "Fe", "Og")] == [1, 8, 26, 118]


def test_one_hot_index_is_z_minus_one():
    for sym in ("H", "O", "Fe", "U", "Og"):
        v = one_hot(sym)
        assert v.shape == (118,)
        assert v.sum() == 1.0 and v[atomic_number(sym) - 1] == 1.0


def test_multi_hot_by_hand():
    v = multi_hot("Fe2O3")
    assert v.shape == (118,) and v.sum() == 2.0 and v[25] == 1.0 and v[7] == 1.0
    f = multi_hot("Fe2O3", fractional=True)
    assert f[25] == pytest.approx(0.4) and f[7] == pytest.approx(0.6) and f.sum() == pytest.approx(1)
    # a mapping and its string give the same vector; order of elements does not matter
    assert np.array_equal(multi_hot({"O": 3, "Fe": 2}, True), f)


def test_fractions_and_scale_invariance():
    assert element_fractions("Fe2O3") == pytest.approx({"Fe": 0.4, "O": 0.6})
    assert element_fractions("Fe4O6") == pytest.approx(element_fractions("Fe2O3"))
    # mean/variance/min/max/range depend on fractions only; sum on the raw amounts
    a = composition_features("Fe2O3", "magpie", ("mean", "variance", "minpool", "maxpool", "range"))
    b = composition_features("Fe4O6", "magpie", ("mean", "variance", "minpool", "maxpool", "range"))
    np.testing.assert_allclose(a, b)
    s2 = composition_features("Fe2O3", "magpie", "sum")
    s4 = composition_features("Fe4O6", "magpie", "sum")
    np.testing.assert_allclose(s4, 2 * s2)


def test_pooling_by_hand_nacl_like():
    emb = load_embedding("megnet16")
    na, cl = emb.vector("Na"), emb.vector("Cl")
    # NaCl3: fractions 1/4 and 3/4
    mean = 0.25 * na + 0.75 * cl
    var = 0.25 * (na - mean) ** 2 + 0.75 * (cl - mean) ** 2
    got = composition_features("NaCl3", emb, list(STATS))
    want = np.concatenate([mean, na + 3 * cl, var, np.minimum(na, cl), np.maximum(na, cl), np.abs(na - cl)])
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("embedding", ["magpie", "mat2vec", "skipatom", "megnet16", "oliynyk", "random_200"])
def test_matches_elementembeddings_on_random_compositions(embedding):
    rng = np.random.default_rng(sum(map(ord, embedding)))
    emb = load_embedding(embedding)
    from elementembeddings.core import Embedding

    common = sorted(set(emb.symbols) & set(Embedding.load_data(embedding).embeddings))
    for _ in range(25):
        k = rng.integers(1, 6)
        els = rng.choice(common, size=k, replace=False)
        amounts = rng.integers(1, 9, size=k) * rng.choice([1.0, 0.5, 0.25], size=k)
        formula = "".join(f"{e}{a:g}" for e, a in zip(els, amounts))
        stats = list(rng.permutation(STATS)[: rng.integers(1, 7)])
        ours = composition_features(formula, embedding, stats)
        ref = CompositionalEmbedding(formula, embedding).feature_vector(stats)
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12, err_msg=f"{formula} {stats}")
        assert ours.shape == (len(stats) * emb.dim,)


def test_feature_labels():
    labels = feature_labels("magpie", ("mean", "range"))
    assert len(labels) == 44 and labels[0] == "mean_Number" and labels[22] == "range_Number"


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("Xx2O", "unknown element 'Xx' in formula 'Xx2O'; expected a symbol from H to Og"),
        ("fe2o3", "malformed formula 'fe2o3'"),
        ("Fe2O3)", "malformed formula"),
        ("", "expected a chemical formula string"),
        ("D2O", "unknown element 'D'"),
    ],
)
def test_bad_formulas_name_the_problem(formula, message):
    with pytest.raises(FormulaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_formula(formula)


def test_bad_stats_and_missing_element():
    with pytest.raises(ValueError, match="unknown statistic"):
        composition_features("NaCl", "magpie", ("mean", "median"))
    with pytest.raises(MissingElementError, match="'He' has no vector in embedding 'skipatom'"):
        composition_features("HeNa", "skipatom")


def test_featurize_reports_every_bad_row():
    formulas = ["NaCl", "Xx2O", "He2Na", "Fe2O3", "Fe2O3)"]
    with pytest.raises(FeaturizationError) as info:
        featurize(formulas, "skipatom", progress=False)
    report = info.value.failures
    assert list(report["index"]) == [1, 2, 4]
    assert "unknown element 'Xx'" in report["reason"][0]
    assert "no vector in embedding 'skipatom'" in report["reason"][1]
    assert "malformed formula" in report["reason"][2]
    assert "3 of 5 formulas could not be featurized" in str(info.value)
    X, failures = featurize(formulas, "skipatom", errors="report", progress=False)
    assert X.shape == (2, 200) and len(failures) == 3
    np.testing.assert_allclose(X[1], composition_features("Fe2O3", "skipatom"))
    assert featurize(["NaCl"], "magpie", ("mean", "sum"), progress=False).shape == (1, 44)
