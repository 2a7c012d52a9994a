"""The published CrysAtom vectors: every accepted file layout, and refusal of unsafe pickles."""

import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.elements import SYMBOLS
from course_lib.embeddings import EMBEDDINGS, ElementEmbedding, UnsafePickleError, load_embedding

DIM = 6


@pytest.fixture
def published_dict():
    """The layout the authors' AtomVectorExtractor.py writes: {atomic number: tensor (1, dim)},
    each vector L2-normalised (here random, for the elements of a few real compounds)."""
    gen = torch.Generator().manual_seed(0)
    return {z: F.normalize(torch.randn(1, DIM, generator=gen), dim=1, p=2) for z in (1, 3, 8, 14, 26, 82)}


def _check(emb, vectors_by_z):
    assert isinstance(emb, ElementEmbedding) and emb.name == "crysatom" and emb.dim == DIM
    assert emb.citation == EMBEDDINGS["crysatom"].citation
    assert set(emb.symbols) == {SYMBOLS[z - 1] for z in vectors_by_z}
    for z, vec in vectors_by_z.items():
        np.testing.assert_allclose(emb.vector(SYMBOLS[z - 1]), np.asarray(vec, dtype=float).ravel(), rtol=1e-6)


def test_published_layout_plain_pickle(tmp_path, published_dict):
    path = tmp_path / "CrysAtom_vector.pkl"
    with open(path, "wb") as f:
        pickle.dump(published_dict, f)  # exactly how the authors write it
    emb = load_embedding("crysatom", path=path)
    _check(emb, published_dict)
    np.testing.assert_allclose(np.linalg.norm(emb.matrix, axis=1), 1, rtol=1e-6)
    assert "read from CrysAtom_vector.pkl (6 elements, dim 6)" in emb.description
    # the authors' downstream reader: np.vstack of the vectors of the sites' atomic numbers
    np.testing.assert_allclose(np.vstack([published_dict[z] for z in (26, 8)]), emb.vectors(["Fe", "O"]), rtol=1e-6)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_symbol_keys_flat_tensors_and_lists(tmp_path, published_dict, protocol):
    by_symbol = {SYMBOLS[z - 1]: v.reshape(-1) for z, v in published_dict.items()}
    path = tmp_path / "by_symbol.pkl"
    path.write_bytes(pickle.dumps(by_symbol, protocol=protocol))
    _check(load_embedding("crysatom", path=path), published_dict)
    as_lists = {z: v.reshape(-1).tolist() for z, v in published_dict.items()}
    path.write_bytes(pickle.dumps(as_lists, protocol=protocol))
    _check(load_embedding("crysatom", path=path), published_dict)


def test_tensor_indexed_by_atomic_number(tmp_path, published_dict):
    table = torch.zeros(95, DIM)  # row Z = element Z, row 0 and absent elements zero
    for z, v in published_dict.items():
        table[z] = v.squeeze()
    path = tmp_path / "table.pkl"
    path.write_bytes(pickle.dumps(table))
    _check(load_embedding("crysatom", path=path), published_dict)
    torch.save(table, tmp_path / "table.pt")
    _check(load_embedding("crysatom", path=tmp_path / "table.pt"), published_dict)


def test_torch_save_dict(tmp_path, published_dict):
    torch.save(published_dict, tmp_path / "vectors.pt")
    _check(load_embedding("crysatom", path=tmp_path / "vectors.pt"), published_dict)


class _Payload:
    """Would create a folder if unpickled by pickle.load."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def test_malicious_plain_pickle_is_refused_and_never_runs(tmp_path, published_dict):
    target = tmp_path / "pwned"
    data = dict(published_dict)
    data[92] = _Payload(target)
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(UnsafePickleError, match="asks for (posix|nt|os).mkdir.*shrimonmuke0202/CrysAtom"):
        load_embedding("crysatom", path=path)
    assert not target.exists()
    pickle.loads(path.read_bytes())  # the same bytes do run code under pickle.load: the test is real
    assert target.exists()


def test_malicious_torch_save_is_refused(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({26: _Payload(target)}, path)
    with pytest.raises(UnsafePickleError, match="weights_only"):
        load_embedding("crysatom", path=path)
    assert not target.exists()


def test_missing_path_or_file_names_the_source(tmp_path):
    with pytest.raises(ValueError, match="needs path=.*CrysAtom_vector.pkl.*github.com/shrimonmuke0202/CrysAtom"):
        load_embedding("crysatom")
    with pytest.raises(FileNotFoundError, match="no CrysAtom vector file at .*shrimonmuke0202/CrysAtom"):
        load_embedding("crysatom", path=tmp_path / "nothing.pkl")


@pytest.mark.parametrize(
    "obj, message",
    [
        ({}, "empty dict"),
        ({200: [1.0, 2.0]}, "not an atomic number between 1 and 118"),
        ({"Xx": [1.0, 2.0]}, "unknown element 'Xx'"),
        ({26: [1.0, 2.0], "Fe": [1.0, 2.0]}, "Fe appears twice"),
        ({26: [1.0, 2.0], 8: [1.0]}, "different lengths"),
        ({26: "1 2"}, "is a str; expected a tensor"),
        ({26: torch.zeros(2, 3)}, r"shape \(2, 3\)"),
        ({26: [float("nan"), 1.0]}, "NaN"),
        ([1.0, 2.0], "holds a list; expected a dict"),
        (torch.ones(5, 3), "row 0 of the tensor is not zero"),
    ],
)
def test_bad_layouts_say_what_is_wrong(tmp_path, obj, message):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(obj))
    with pytest.raises(ValueError, match=message):
        load_embedding("crysatom", path=path)


def test_not_a_pickle(tmp_path):
    path = tmp_path / "vectors.csv"
    path.write_text("element,0,1\nFe,0.1,0.2\n")
    with pytest.raises(ValueError, match="not a readable pickle of CrysAtom vectors"):
        load_embedding("crysatom", path=path)
