"""Element embeddings: one vector per chemical element (chapters 1 and 2).

- :mod:`course_lib.embeddings.published` -- the published embeddings shipped by ElementEmbeddings,
  the :class:`ElementEmbedding` object every chapter uses, and the registry :data:`EMBEDDINGS`.

Everything public is importable from ``course_lib.embeddings`` directly.
"""

from .published import (
    EMBEDDINGS,
    ElementEmbedding,
    EmbeddingInfo,
    MissingElementError,
    available_embeddings,
    load_embedding,
)

__all__ = [
    "EMBEDDINGS",
    "ElementEmbedding",
    "EmbeddingInfo",
    "MissingElementError",
    "available_embeddings",
    "load_embedding",
]
