"""Text -> vector without any download (chapter 10).

Three ways to turn the descriptions of :mod:`course_lib.text.describe` into vectors, all of which
run from installed packages alone:

- ``"tfidf"``: scikit-learn's :class:`~sklearn.feature_extraction.text.TfidfVectorizer` fitted on
  the corpus (case kept, so ``Co`` the element and ``co`` stay apart; numbers such as bond
  lengths are tokens too); rows are L2-normalised.
- ``"lsa"``: the TF-IDF matrix reduced by a truncated SVD (latent semantic analysis), a dense
  vector of ``n_components`` numbers per text.
- ``"mat2vec"``: the mean of the mat2vec vectors (Tshitoyan et al., *Nature* 571, 95 (2019))
  of the element symbols that the text mentions, one count per mention. The mat2vec *word*
  vectors (a 200-dimensional vector for every word of the materials-science abstracts) are not
  shipped by any installed package; ElementEmbeddings ships only the vectors of the element
  tokens, so the words of the text other than element symbols do not contribute.

No language model runs here: ``model2vec`` and similar static-embedding packages install from the
package registry, but their weights are fetched from a model hub at run time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = ["TEXT_METHODS", "TextVectorError", "element_mentions", "text_vectors"]

#: Methods of :func:`text_vectors`.
TEXT_METHODS = ("tfidf", "lsa", "mat2vec")

#: Tokens of the TF-IDF vocabulary: words (with inner hyphens or en dashes, e.g. ``Na–Cl``),
#: formulas with digits (``SrTiO3``, ``P2_1/c`` splits at the slash) and decimal numbers.
TOKEN_PATTERN = r"(?u)[A-Za-z0-9]+(?:[–\-_.][A-Za-z0-9]+)*"

_FORMULA = re.compile(r"(?:[A-Z][a-z]?\d*(?:\.\d+)?)+")
_SYMBOL = re.compile(r"([A-Z][a-z]?)\d*(?:\.\d+)?")
_SPLIT = re.compile(r"[^A-Za-z0-9.\-_/]+|–")  # an en dash joins a bond (Na–Cl); a hyphen does not
_SPACE_GROUP = re.compile(
    r"\b(?:triclinic|monoclinic|orthorhombic|tetragonal|trigonal|hexagonal|cubic) \S+ space group")


class TextVectorError(ValueError):
    """Bad input to :func:`text_vectors` (no texts, an empty text, an unknown method)."""


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise TextVectorError("texts must be a list of strings, got one string; wrap it: [text]")
    texts = list(texts)
    if not texts:
        raise TextVectorError("no texts given")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TextVectorError(f"texts[{i}] is a {type(t).__name__}, not a string")
        if not t.strip():
            raise TextVectorError(f"texts[{i}] is empty; describe the material first")
    return texts


def element_mentions(text: str) -> list[str]:
    """Element symbols mentioned in ``text``, in order, one per mention.

    A word counts when the whole word is a formula made of element symbols (``SrTiO3`` ->
    Sr, Ti, O; ``Na–Cl`` -> Na, Cl); other capitalised words (``The``, ``Halite``) do not, nor
    does the space-group symbol in "the cubic Fm-3m space group" (``Fm`` is not fermium, ``P1``
    not phosphorus). A sentence starting with ``In`` or ``As`` would count as indium or arsenic,
    which is why the course's descriptions start every sentence with a formula or an element.
    """
    from pymatgen.core.periodic_table import Element

    out = []
    for word in _SPLIT.split(_SPACE_GROUP.sub(" ", text)):
        word = word.rstrip(".")
        if not word or not _FORMULA.fullmatch(word):
            continue
        symbols = _SYMBOL.findall(word)
        if all(Element.is_valid_symbol(s) for s in symbols):
            out.extend(symbols)
    return out


def _mat2vec(texts: list[str], embedding) -> np.ndarray:
    from ..embeddings import load_embedding

    emb = load_embedding(embedding)
    rows = []
    for i, t in enumerate(texts):
        mentions = element_mentions(t)
        if not mentions:
            raise TextVectorError(
                f"texts[{i}] mentions no element symbol, so its mat2vec vector is undefined; "
                "use method='tfidf' for such texts")
        rows.append(emb.vectors(mentions).mean(axis=0))
    return np.vstack(rows)


def text_vectors(texts: Sequence[str], method: str = "tfidf", *, n_components: int = 64,
                 embedding: str = "mat2vec", random_state: int = 0, min_df: int = 1) -> np.ndarray:
    """One vector per text.

    Parameters
    ----------
    texts
        The texts (a list; the TF-IDF vocabulary and weights are fitted on them).
    method
        ``"tfidf"``, ``"lsa"`` or ``"mat2vec"`` (see the module docstring).
    n_components
        Length of the LSA vectors (at most the number of texts minus one and the vocabulary size).
    embedding
        Element embedding of the ``"mat2vec"`` method (any name of
        :func:`course_lib.embeddings.load_embedding`).
    random_state
        Seed of the randomised SVD (``"lsa"``).
    min_df
        Words in fewer texts than this are dropped from the vocabulary (``"tfidf"``, ``"lsa"``).

    Returns
    -------
    numpy.ndarray
        ``(len(texts), d)``, dimensionless; TF-IDF rows have unit length.
    """
    texts = _check_texts(texts)
    if method not in TEXT_METHODS:
        raise TextVectorError(f"unknown method {method!r}; choose one of {', '.join(TEXT_METHODS)}")
    if method == "mat2vec":
        return _mat2vec(texts, embedding)
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(lowercase=False, token_pattern=TOKEN_PATTERN, min_df=min_df)
    try:
        x = vectorizer.fit_transform(texts)
    except ValueError as err:  # an empty vocabulary after min_df
        raise TextVectorError(f"no word is left in the vocabulary ({err}); lower min_df") from err
    if method == "tfidf":
        return x.toarray()
    from sklearn.decomposition import TruncatedSVD

    limit = min(len(texts) - 1, x.shape[1] - 1)
    if not isinstance(n_components, int) or not 1 <= n_components <= limit:
        raise TextVectorError(
            f"n_components must be an integer from 1 to {limit} for {len(texts)} texts and a "
            f"vocabulary of {x.shape[1]} words, got {n_components!r}")
    return TruncatedSVD(n_components=n_components, random_state=random_state).fit_transform(x)
