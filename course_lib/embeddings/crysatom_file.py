"""Read the published CrysAtom vectors from the file a user downloads, safely (chapter 8).

The CrysAtom authors (Mukherjee, Ghosh & Basuchowdhuri, arXiv:2409.04737 (2024); code at
github.com/shrimonmuke0202/CrysAtom) distribute their per-element vectors as
``CrysAtom_vector.pkl``. Their extractor (``AtomVectorExtractor.py``) writes it with
``pickle.dump`` as a dict ``{atomic number (int): torch tensor of shape (1, dim)}``, each vector
the L2-normalised mean of the encoder's node features over the atoms of that element; their
downstream CGCNN reads it as ``np.vstack([vectors[site.specie.number] for site in crystal])``,
and other projects stack it into a tensor whose row ``Z`` is element ``Z`` (row 0 unused).

A pickle can run any code while it is read, so the file is never given to :func:`pickle.load`.
:func:`load_crysatom_vectors` accepts exactly these layouts:

1. a plain pickle (the published file) of ``{key: vector}`` where ``key`` is an atomic number
   (``26``) or an element symbol (``"Fe"``) and ``vector`` a torch tensor of shape ``(dim,)`` or
   ``(1, dim)`` or a list of numbers; it is read by a restricted unpickler that builds only
   dicts, lists, tuples, numbers, strings, bytes and CPU tensors
   (``torch._utils._rebuild_tensor_v2``, with each tensor's storage read by
   ``torch.load(..., weights_only=True)``) and refuses every other global with
   :class:`UnsafePickleError`;
2. a plain pickle of one tensor of shape ``(n, dim)`` indexed by atomic number: row ``Z`` is
   element ``Z``, row 0 and all-zero rows mean "no vector";
3. either of the above saved with ``torch.save`` (a zip archive), read with
   ``torch.load(path, weights_only=True, map_location="cpu")``.
"""

from __future__ import annotations

import codecs
import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..elements import SYMBOLS, check_symbol
from .published import EMBEDDINGS, ElementEmbedding

__all__ = ["UnsafePickleError", "load_crysatom_vectors"]

_REPOSITORY = "github.com/shrimonmuke0202/CrysAtom"


class UnsafePickleError(pickle.UnpicklingError):
    """The file asks to build an object that a file of vectors has no reason to contain."""


def _where_to_get_it() -> str:
    return (
        "The CrysAtom authors distribute their per-element vectors as CrysAtom_vector.pkl (a "
        f"pickle of {{atomic number: tensor}}) through their repository {_REPOSITORY}; download "
        "it from there and call load_embedding('crysatom', path='.../CrysAtom_vector.pkl'). To "
        "train CrysAtom vectors yourself instead, use course_lib.crysatom.train_crysatom"
    )


def _storage_from_bytes(data: bytes):
    """Replacement for ``torch.storage._load_from_bytes`` that cannot run code."""
    import torch

    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


class _VectorUnpickler(pickle.Unpickler):
    """Unpickler that builds only containers, numbers, strings and tensors."""

    def find_class(self, module: str, name: str):
        import torch

        allowed = {
            ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
            ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
            ("collections", "OrderedDict"): OrderedDict,
            ("_codecs", "encode"): codecs.encode,  # bytes in pickle protocols 0-2
        }
        try:
            return allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load: the file asks for {module}.{name}, which a file of element "
                "vectors (tensors, numbers, dicts, lists) never needs; it may be malicious or not "
                "the CrysAtom vector file. " + _where_to_get_it()
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError(
            "refusing to load: the file uses pickle persistent ids (a torch.save file in the "
            "legacy format?); save it again with torch.save in the default format or as a plain "
            "pickle of {atomic number: tensor}"
        )


def _read(path: Path):
    if zipfile.is_zipfile(path):
        import torch

        try:
            return torch.load(path, weights_only=True, map_location="cpu")
        except pickle.UnpicklingError as exc:
            raise UnsafePickleError(
                f"refusing to load {path}: torch.load(weights_only=True) rejected it ({exc})"
            ) from None
        except RuntimeError as exc:
            raise ValueError(
                f"{path} is a zip archive but not a torch.save file ({exc}); " + _where_to_get_it()
            ) from None
    with open(path, "rb") as f:
        try:
            return _VectorUnpickler(f).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, RuntimeError) as exc:
            raise ValueError(
                f"{path} is not a readable pickle of CrysAtom vectors ({type(exc).__name__}: {exc}); "
                + _where_to_get_it()
            ) from None


def _as_vector(value, key) -> np.ndarray:
    import torch

    if isinstance(value, torch.Tensor):
        arr = value.detach().cpu().double().numpy()
    elif isinstance(value, (list, tuple)) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        arr = np.asarray(value, dtype=float)
    else:
        raise ValueError(
            f"the vector of element {key!r} is a {type(value).__name__}; expected a tensor of "
            "shape (dim,) or (1, dim) or a list of numbers"
        )
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"the vector of element {key!r} has shape {tuple(arr.shape)}; expected (dim,) or (1, dim)"
        )
    return arr


def _symbol(key) -> str:
    if isinstance(key, bool):
        raise ValueError(f"key {key!r} is not an element; use atomic numbers or element symbols")
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        z = int(key)
        if not 1 <= z <= len(SYMBOLS):
            raise ValueError(f"key {key!r} is not an atomic number between 1 and {len(SYMBOLS)}")
        return SYMBOLS[z - 1]
    if isinstance(key, str):
        check_symbol(key, " (a key of the CrysAtom vector file)")
        return key
    raise ValueError(
        f"key {key!r} ({type(key).__name__}) is neither an atomic number nor an element symbol"
    )


def _vectors_from(obj) -> dict[str, np.ndarray]:
    import torch

    if isinstance(obj, dict):
        if not obj:
            raise ValueError("the CrysAtom vector file holds an empty dict")
        vectors: dict[str, np.ndarray] = {}
        for key, value in obj.items():
            sym = _symbol(key)
            if sym in vectors:
                raise ValueError(f"element {sym} appears twice among the keys of the vector file")
            vectors[sym] = _as_vector(value, key)
        return vectors
    if isinstance(obj, torch.Tensor):
        table = obj.detach().cpu().double().numpy()
        if table.ndim != 2 or table.shape[0] < 2:
            raise ValueError(
                f"a tensor of CrysAtom vectors must have shape (n, dim) with row Z = element Z; "
                f"got shape {tuple(table.shape)}"
            )
        if table.shape[0] > len(SYMBOLS) + 1:
            raise ValueError(
                f"a tensor of shape {tuple(table.shape)} has more rows than atomic numbers 0..118"
            )
        if np.any(table[0] != 0):
            raise ValueError(
                "row 0 of the tensor is not zero, so its rows are not indexed by atomic number "
                "(row Z = element Z, row 0 unused); convert it to a dict {atomic number: vector}"
            )
        return {SYMBOLS[z - 1]: table[z] for z in range(1, table.shape[0]) if np.any(table[z] != 0)}
    raise ValueError(
        f"the CrysAtom vector file holds a {type(obj).__name__}; expected a dict "
        "{atomic number or symbol: tensor} or a tensor (n, dim) indexed by atomic number"
    )


def load_crysatom_vectors(path: str | Path | None) -> ElementEmbedding:
    """Load the published CrysAtom vectors from ``path``, refusing anything but vectors.

    Parameters
    ----------
    path
        The file downloaded from the authors (``CrysAtom_vector.pkl``) or a ``torch.save`` file in
        one of the layouts of this module's docstring.

    Returns
    -------
    ElementEmbedding
        Named ``"crysatom"``, one row per element in the file (the dimension is the file's: 200
        for the published vectors), dimensionless, citation: the CrysAtom paper.

    Raises
    ------
    ValueError
        If ``path`` is None (the message says where the file comes from) or the file is not in
        an accepted layout.
    FileNotFoundError
        If there is no file at ``path``.
    UnsafePickleError
        If the pickle asks for anything other than tensors, containers and numbers (a malicious
        or unrelated file); nothing in it is executed.
    """
    if path is None:
        raise ValueError("load_embedding('crysatom') needs path=: " + _where_to_get_it())
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no CrysAtom vector file at {path}; " + _where_to_get_it())
    vectors = _vectors_from(_read(path))
    lengths = {len(v) for v in vectors.values()}
    if len(lengths) != 1:
        raise ValueError(f"the vectors in {path} have different lengths {sorted(lengths)}")
    info = EMBEDDINGS["crysatom"]
    return ElementEmbedding.from_mapping(
        "crysatom", vectors, citation=info.citation,
        description=f"{info.description}; read from {path.name} ({len(vectors)} elements, "
        f"dim {lengths.pop()})",
    )
