"""Text representations of materials (chapter 10).

- :mod:`course_lib.text.describe` -- structure -> text: a deterministic description (formula,
  space group, coordination environments, bond lengths) built from pymatgen's symmetry and
  local-environment tools.
- :mod:`course_lib.text.vectors` -- text -> vector with no download: TF-IDF, LSA and the mean of
  mat2vec's element vectors over the element mentions.
- :mod:`course_lib.text.recall` -- ranking by cosine similarity and recall@k of similar materials.
- :mod:`course_lib.text.robust` -- median, trimean, MAD and an error table with them.
"""

from .describe import GEOMETRIES, DescriptionError, describe_structure, describe_structures, number_word
from .recall import RecallError, family_labels, rank_by_similarity, recall_at_k, relevance_from_labels
from .robust import NORMAL_MAD_SCALE, error_table, mad, median, trimean
from .vectors import TEXT_METHODS, TextVectorError, element_mentions, text_vectors

__all__ = [
    "GEOMETRIES", "DescriptionError", "describe_structure", "describe_structures", "number_word",
    "RecallError", "family_labels", "rank_by_similarity", "recall_at_k", "relevance_from_labels",
    "NORMAL_MAD_SCALE", "error_table", "mad", "median", "trimean",
    "TEXT_METHODS", "TextVectorError", "element_mentions", "text_vectors",
]
