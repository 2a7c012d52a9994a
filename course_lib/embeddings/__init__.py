"""Element embeddings: one vector per chemical element (chapters 1 and 2).

- :mod:`course_lib.embeddings.published` -- the published embeddings shipped by ElementEmbeddings,
  the :class:`ElementEmbedding` object every chapter uses, and the registry :data:`EMBEDDINGS`.
- :mod:`course_lib.embeddings.species` -- species (oxidation-state) embeddings, compositions with
  oxidation states and pooling over species.
- :mod:`course_lib.embeddings.metrics` -- distances and similarities between vectors.
- :mod:`course_lib.embeddings.crysatom_file` -- the safe reader of the published CrysAtom vectors.

Everything public is importable from ``course_lib.embeddings`` directly.
"""

from .published import (
    EMBEDDINGS,
    KINDS,
    ElementEmbedding,
    EmbeddingInfo,
    MissingElementError,
    available_embeddings,
    embedding_table,
    load_embedding,
)
from .metrics import (
    DISTANCES,
    SIMILARITIES,
    distance,
    pairwise_distances,
    pairwise_similarities,
    similarity,
)
from .species import (
    MissingSpeciesError,
    Species,
    SpeciesEmbedding,
    load_species_embedding,
    species_composition,
    species_composition_features,
)
from .crysatom_file import UnsafePickleError, load_crysatom_vectors
from .cooccurrence import (
    PairsError,
    cooccurrence_matrix,
    cooccurrence_pairs,
    encode_pairs,
    pairs_from_structures,
    read_pairs,
    write_pairs,
)
from .skipatom import SKIPATOM_CITATION, induce_vectors, skipgram_loss, train_skipatom
from .atom2vec import (
    ATOM2VEC_CITATION,
    atom2vec,
    atom_environment_matrix,
    environment_key,
    svd_embedding,
)
from .analysis import (
    element_block,
    element_group,
    embedding_agreement,
    mendeleev_order,
    nearest_table,
    ordered_similarity_matrix,
    plot_projection,
    plot_similarity_heatmap,
    project_2d,
)

__all__ = [
    "EMBEDDINGS",
    "ElementEmbedding",
    "EmbeddingInfo",
    "MissingElementError",
    "available_embeddings",
    "embedding_table",
    "load_embedding",
    "KINDS",
    # metrics
    "DISTANCES",
    "SIMILARITIES",
    "distance",
    "pairwise_distances",
    "pairwise_similarities",
    "similarity",
    # species
    "MissingSpeciesError",
    "Species",
    "SpeciesEmbedding",
    "load_species_embedding",
    "species_composition",
    "species_composition_features",
    # the published CrysAtom vectors
    "UnsafePickleError",
    "load_crysatom_vectors",
    # chapter 2: learned embeddings
    "PairsError",
    "cooccurrence_matrix",
    "cooccurrence_pairs",
    "encode_pairs",
    "pairs_from_structures",
    "read_pairs",
    "write_pairs",
    "SKIPATOM_CITATION",
    "induce_vectors",
    "skipgram_loss",
    "train_skipatom",
    "ATOM2VEC_CITATION",
    "atom2vec",
    "atom_environment_matrix",
    "environment_key",
    "svd_embedding",
    "element_block",
    "element_group",
    "embedding_agreement",
    "mendeleev_order",
    "nearest_table",
    "ordered_similarity_matrix",
    "plot_projection",
    "plot_similarity_heatmap",
    "project_2d",
]
