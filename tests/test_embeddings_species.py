"""Registry of every ElementEmbeddings set, species embeddings and pooling, metrics."""

import numpy as np
import pytest
from elementembeddings.composition import CompositionalEmbedding, SpeciesCompositionalEmbedding
from elementembeddings.core import Embedding
from elementembeddings.core import SpeciesEmbedding as EESpeciesEmbedding
from elementembeddings.utils.config import DEFAULT_ELEMENT_EMBEDDINGS, DEFAULT_SPECIES_EMBEDDINGS
from elementembeddings.utils.math import cosine_distance

from course_lib.composition import STATS, composition_features
from course_lib.embeddings import (
    DISTANCES,
    EMBEDDINGS,
    KINDS,
    SIMILARITIES,
    ElementEmbedding,
    MissingSpeciesError,
    Species,
    SpeciesEmbedding,
    available_embeddings,
    distance,
    embedding_table,
    load_embedding,
    load_species_embedding,
    pairwise_distances,
    pairwise_similarities,
    similarity,
    species_composition,
    species_composition_features,
)

# -- registry ----------------------------------------------------------------------------------


def test_registry_has_every_set_the_package_ships():
    elements = available_embeddings()
    assert set(DEFAULT_ELEMENT_EMBEDDINGS) <= set(elements)
    assert len(elements) >= 21
    assert available_embeddings("species") == sorted(DEFAULT_SPECIES_EMBEDDINGS)
    for name in elements:  # every file is the one ElementEmbeddings reads for that name
        info = EMBEDDINGS[name]
        assert info.file == DEFAULT_ELEMENT_EMBEDDINGS[info.derived_from or name]
    for name in available_embeddings("species"):
        assert EMBEDDINGS[name].file == DEFAULT_SPECIES_EMBEDDINGS[name]
    assert "crysatom" not in available_embeddings("all")
    assert "crysatom" in available_embeddings("all", include_user_files=True)
    with pytest.raises(ValueError, match="table must be"):
        available_embeddings("ions")


def test_registry_records_are_complete_and_dims_are_true():
    for name, info in EMBEDDINGS.items():
        assert info.kind in KINDS and info.citation and info.licence and info.description
        if info.source == "elementembeddings":
            assert info.dim == load_embedding(name).dim, name
    kinds = {i.kind for i in EMBEDDINGS.values()}
    assert {"hand-made", "literature", "crystal graphs", "MLIP", "language model"} <= kinds
    assert {n for n, i in EMBEDDINGS.items() if i.kind == "MLIP"} == {"mace_mp0", "sevennet", "orb_v2", "chgnet"}
    table = embedding_table()
    assert list(table.index) == list(EMBEDDINGS) and table.loc["matscibert", "dim"] == 768
    assert table.loc["skipspecies", "table"] == "species"


def test_xenonpy_sc_follows_the_magpie_sc_recipe():
    # magpie_sc as shipped is the population-standardised magpie ...
    magpie, magpie_sc = load_embedding("magpie"), load_embedding("magpie_sc")
    np.testing.assert_allclose(magpie.standardised().matrix, magpie_sc.matrix, atol=1e-12)
    # ... and xenonpy_sc is xenonpy standardised the same way
    xsc = load_embedding("xenonpy_sc").matrix
    np.testing.assert_allclose(xsc.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(xsc.std(axis=0), 1, atol=1e-12)
    assert load_embedding("xenonpy_sc").symbols == load_embedding("xenonpy").symbols


def test_path_only_for_user_files():
    with pytest.raises(ValueError, match="path= is only for .*crysatom.*load_embedding\\('magpie'\\)"):
        load_embedding("magpie", path="x.pkl")


# -- species keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, element, q, canonical",
    [("Fe3+", "Fe", 3, "Fe3+"), ("O2-", "O", -2, "O2-"), ("H+", "H", 1, "H+"), ("H-", "H", -1, "H-"),
     ("Fe+3", "Fe", 3, "Fe3+"), ("Cu0+", "Cu", 0, "Cu0+"), ("Cu0", "Cu", 0, "Cu0+"),
     ("Fe2.5+", "Fe", 2.5, "Fe2.5+")],
)
def test_species_parse_and_write(text, element, q, canonical):
    sp = Species.parse(text)
    assert (sp.element, sp.oxidation_state, str(sp)) == (element, q, canonical)
    assert Species.parse(str(sp)) == sp


def test_species_round_trip_with_pymatgen_and_the_files():
    from pymatgen.core import Species as PmgSpecies

    for el, q in [("Fe", 3), ("O", -2), ("H", 1), ("Cl", -1), ("Mn", 7)]:
        assert str(Species(el, q)) == str(PmgSpecies(el, q))
        assert Species.parse(PmgSpecies(el, q)) == Species(el, q)
    raw = EESpeciesEmbedding.load_data("skipspecies", include_neutral=True)
    assert all(str(Species.parse(k)) == k for k in raw.embeddings)  # the files' own notation


def test_species_bad_input():
    with pytest.raises(ValueError, match="'Fe' -- that is an element without an oxidation state"):
        Species.parse("Fe")
    with pytest.raises(ValueError, match="cannot read species 'Fe3'"):
        Species.parse("Fe3")
    with pytest.raises(ValueError, match="unknown element 'Xx'"):
        Species.parse("Xx2+")


# -- species tables ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DEFAULT_SPECIES_EMBEDDINGS))
@pytest.mark.parametrize("include_neutral", [False, True])
def test_species_vectors_equal_elementembeddings(name, include_neutral):
    ours = load_species_embedding(name, include_neutral=include_neutral)
    ref = EESpeciesEmbedding.load_data(name, include_neutral=include_neutral)
    assert isinstance(ours, SpeciesEmbedding) and ours.dim == ref.dim == EMBEDDINGS[name].dim
    assert set(ours.species) == set(ref.embeddings) and len(ours) == len(ref.embeddings)
    for sp, vec in ref.embeddings.items():
        np.testing.assert_array_equal(ours.vector(sp), np.asarray(vec, dtype=float))
    assert set(ours.elements) == set(ref.element_list)
    assert list(ours.oxidation_states("Fe")) == ref.get_element_oxi_states("Fe")
    if not include_neutral:
        assert load_embedding(name) is ours


def test_species_table_errors_name_the_fix():
    sp = load_embedding("skipspecies")
    with pytest.raises(MissingSpeciesError, match="'Fe7\\+' has no vector .* it has Fe\\+, Fe2\\+, .*Fe6\\+ for Fe"):
        sp.vector("Fe7+")
    with pytest.raises(MissingSpeciesError, match="neutral species are left out by default"):
        sp.vector("Si0+")
    assert load_species_embedding("skipspecies", include_neutral=True).vector("Si0+").shape == (200,)
    with pytest.raises(ValueError, match="element without an oxidation state"):
        sp.vector("Fe")
    with pytest.raises(ValueError, match="unknown species embedding 'magpie'"):
        load_species_embedding("magpie")
    assert "Fe3+" in sp and Species("Fe", 3) in sp and "Fe7+" not in sp and "Fe" not in sp
    with pytest.raises(ValueError, match="twice"):
        SpeciesEmbedding.from_mapping("bad", {"Fe3+": [1.0], "Fe+3": [2.0]})


# -- compositions with oxidation states -----------------------------------------------------------


def test_species_composition_given_or_guessed():
    from pymatgen.core import Composition

    assert species_composition({"Fe3+": 2, "O2-": 3}) == {"Fe3+": 2.0, "O2-": 3.0}
    assert species_composition("Fe3O4") == {"Fe2+": 1.0, "Fe3+": 2.0, "O2-": 4.0}  # mixed valence split
    assert species_composition("Fe2O3") == species_composition({"Fe": 2, "O": 3}) == {"Fe3+": 2.0, "O2-": 3.0}
    assert species_composition(Composition("LiFePO4")) == {"Li+": 1.0, "Fe2+": 1.0, "P5+": 1.0, "O2-": 4.0}
    charged = Composition({"Fe2+": 1, "Fe3+": 2, "O2-": 4})
    assert species_composition(charged) == {"Fe2+": 1.0, "Fe3+": 2.0, "O2-": 4.0}
    assert species_composition({Species("Na", 1): 1, "Cl-": 1}) == {"Na+": 1.0, "Cl-": 1.0}
    with pytest.raises(ValueError, match="no charge-balanced oxidation states for 'Fe3Al'"):
        species_composition("Fe3Al")
    with pytest.raises(ValueError, match="mixes species with oxidation states and bare elements"):
        species_composition({"Fe3+": 2, "O": 3})
    with pytest.raises(ValueError, match="has no oxidation states; give them"):
        species_composition("Fe2O3", guess=False)
    with pytest.raises(ValueError, match="cannot read charges inside the formula"):
        species_composition("Fe3+2O2-3")
    with pytest.raises(ValueError, match="positive"):
        species_composition({"Fe3+": -2, "O2-": 3})


@pytest.fixture(scope="module")
def real_species_compositions():
    """Oxidation-state compositions of real compounds: pymatgen's guesses for a seeded sample of
    the experimental formation enthalpies (chapter 1's data set) that SkipSpecies covers. Only
    formulas of up to 12 atoms and 3 elements: pymatgen's guess is combinatorial in their size."""
    from pymatgen.core import Composition

    from course_lib.data import load_dataset

    formulas = load_dataset("expt_formation_enthalpy")["composition"].sample(200, random_state=3)
    table = load_embedding("skipspecies")
    comps = []
    for f in formulas:
        if Composition(f).num_atoms > 12 or len(Composition(f)) > 3:
            continue
        try:
            c = species_composition(f)
        except ValueError:
            continue
        if all(s in table for s in c):
            comps.append(c)
    assert len(comps) >= 40
    return comps


@pytest.mark.parametrize("name", sorted(DEFAULT_SPECIES_EMBEDDINGS))
def test_species_pooling_equals_elementembeddings(name, real_species_compositions):
    table = load_species_embedding(name)
    ref_table = EESpeciesEmbedding.load_data(name)
    for comp in real_species_compositions:
        ref = SpeciesCompositionalEmbedding(comp, ref_table)
        got = species_composition_features(comp, table, STATS)
        want = np.concatenate([ref.feature_vector(s) for s in STATS])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_species_pooling_invariances_and_by_hand():
    toy = SpeciesEmbedding.from_mapping("toy", {"Fe2+": [1.0, 0.0], "Fe3+": [0.0, 2.0], "O2-": [4.0, 4.0]})
    # Fe3O4 = Fe2+ + 2 Fe3+ + 4 O2-: mean = (1*[1,0] + 2*[0,2] + 4*[4,4]) / 7
    np.testing.assert_allclose(species_composition_features("Fe3O4", toy), [17 / 7, 20 / 7])
    a = species_composition_features({"Fe3+": 2, "O2-": 3}, toy, ("mean", "variance", "range"))
    b = species_composition_features({"O2-": 6, "Fe3+": 4}, toy, ("mean", "variance", "range"))
    np.testing.assert_allclose(a, b)  # order of species and scaling of amounts do not matter
    s1 = species_composition_features({"Fe3+": 2, "O2-": 3}, toy, "sum")
    s2 = species_composition_features({"Fe3+": 4, "O2-": 6}, toy, "sum")
    np.testing.assert_allclose(s2, 2 * s1)  # ... except for "sum"
    with pytest.raises(TypeError, match="element embeddings pool with"):
        species_composition_features("Fe2O3", load_embedding("magpie"))


def test_element_pooling_still_equals_elementembeddings_for_new_sets():
    for name in ["cgnf", "mace_mp0", "matscibert", "xenonpy"]:
        for formula in ["Fe2O3", "LiFePO4", "CsPbI3"]:
            got = composition_features(formula, name, STATS)
            ref = CompositionalEmbedding(formula, name)
            np.testing.assert_allclose(got, np.concatenate([ref.feature_vector(s) for s in STATS]), rtol=1e-12)


# -- metrics ---------------------------------------------------------------------------------------

PAIRS = [("Li", "Na"), ("Fe", "O"), ("Cu", "Ag"), ("Ne", "Xe")]


@pytest.mark.parametrize("name", ["magpie", "mat2vec", "cgnf", "chgnet", "matscibert", "crystallm"])
def test_metrics_equal_elementembeddings(name):
    ours, ref = load_embedding(name), Embedding.load_data(name)
    for a, b in [(a, b) for a, b in PAIRS if a in ours and b in ours]:
        for metric in ("euclidean", "manhattan", "chebyshev"):
            assert ours.distance(a, b, metric) == pytest.approx(ref.compute_distance_metric(a, b, metric), rel=1e-12)
        # ElementEmbeddings names this metric "cosine_distance"
        assert ours.distance(a, b, "cosine") == pytest.approx(ref.compute_distance_metric(a, b, "cosine_distance"), rel=1e-10)
        assert ours.similarity(a, b, "cosine") == pytest.approx(ref.compute_correlation_metric(a, b, "cosine_similarity"), rel=1e-12)
        for metric in ("pearson", "spearman"):
            assert ours.similarity(a, b, metric) == pytest.approx(ref.compute_correlation_metric(a, b, metric), rel=1e-10)


def test_species_metrics_equal_elementembeddings():
    ours = load_embedding("skipspecies")
    ref = EESpeciesEmbedding.load_data("skipspecies")
    for a, b in [("Fe2+", "Fe3+"), ("Li+", "Na+"), ("O2-", "S2-"), ("Cu+", "Cl-")]:
        for metric in ("euclidean", "manhattan", "chebyshev"):
            assert ours.distance(a, b, metric) == pytest.approx(ref.compute_distance_metric(a, b, metric), rel=1e-12)
        for metric in ("pearson", "spearman"):
            assert ours.similarity(a, b, metric) == pytest.approx(ref.compute_correlation_metric(a, b, metric), rel=1e-10)
        assert ours.similarity(a, b) == pytest.approx(ref.compute_correlation_metric(a, b, "cosine_similarity"), rel=1e-12)
    nearest = ours.nearest("Fe3+", 3)
    sims = ours.similarity_matrix()["Fe3+"].drop("Fe3+").sort_values(ascending=False)
    assert [s for s, _ in nearest] == list(sims.index[:3])


def test_composition_vector_metrics_equal_elementembeddings():
    a, b = CompositionalEmbedding("Fe2O3", "mat2vec"), CompositionalEmbedding("Al2O3", "mat2vec")
    u, v = composition_features("Fe2O3", "mat2vec"), composition_features("Al2O3", "mat2vec")
    for metric in ("euclidean", "manhattan", "chebyshev"):
        assert distance(u, v, metric) == pytest.approx(a.distance(b, metric), rel=1e-12)
    assert distance(u, v, "cosine") == pytest.approx(cosine_distance(u, v), rel=1e-10)


def test_metric_invariances():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 9))
    for metric in SIMILARITIES:
        s = pairwise_similarities(x, x, metric)
        np.testing.assert_allclose(s, s.T, atol=1e-12)
        np.testing.assert_allclose(np.diag(s), 1, atol=1e-12)
        assert np.all(np.abs(s) <= 1)
    for metric in DISTANCES:
        d = pairwise_distances(x, x, metric)
        np.testing.assert_allclose(d, d.T, atol=1e-12)
        np.testing.assert_allclose(np.diag(d), 0, atol=1e-12)
    u, v = x[0], x[1]
    assert similarity(3 * u, v) == pytest.approx(similarity(u, v))  # cosine: scale
    assert similarity(2 * u + 5, v, "pearson") == pytest.approx(similarity(u, v, "pearson"))  # affine
    assert similarity(np.exp(u), v, "spearman") == pytest.approx(similarity(u, v, "spearman"))  # monotone
    shift = rng.normal(size=9)  # translating both vectors leaves the Minkowski distances alone
    for metric in ("euclidean", "manhattan", "chebyshev"):
        assert distance(u + shift, v + shift, metric) == pytest.approx(distance(u, v, metric))
    # by hand
    assert distance([0, 0], [3, -4]) == pytest.approx(5)
    assert distance([0, 0], [3, -4], "manhattan") == pytest.approx(7)
    assert distance([0, 0], [3, -4], "chebyshev") == pytest.approx(4)
    assert similarity([1, 2, 3], [10, 30, 20], "spearman") == pytest.approx(0.5)


def test_metric_errors():
    with pytest.raises(ValueError, match="unknown metric 'cos'; choose one of cosine, pearson, spearman"):
        similarity([1, 2], [2, 1], "cos")
    with pytest.raises(ValueError, match="unknown metric 'spearman'"):
        distance([1, 2], [2, 1], "spearman")
    with pytest.raises(ValueError, match="length 2 with vectors of length 3"):
        distance([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="undefined for a constant or zero vector"):
        similarity([1, 1, 1], [1, 2, 3], "pearson")
    with pytest.raises(ValueError, match="NaN"):
        distance([np.nan, 1], [1, 2])
    emb = ElementEmbedding.from_mapping("toy", {"H": [1.0, 0.0], "He": [0.0, 1.0]})
    assert emb.similarity("H", "He", "spearman") == pytest.approx(-1.0)
