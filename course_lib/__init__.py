"""course_lib: the support library of the course *Machine-learning representations of materials*.

Every real implementation used by the lecture notebooks, the graded assignments and their hidden
tests lives here. Modules follow the chapters:

- :mod:`course_lib.elements` -- the periodic table and formula parsing shared by every chapter
- :mod:`course_lib.composition` -- chapter 1: one-hot, multi-hot and pooled element features
- :mod:`course_lib.embeddings` -- chapters 1-2: published and learned element embeddings
- :mod:`course_lib.data` -- every dataset of the course, with its source, citation and units
- :mod:`course_lib.plotting` -- periodic-table heatmaps, parity plots, learning curves
- :mod:`course_lib.grading` -- nbgrader helpers and the single-notebook grader

Nothing here touches the network at import time.
"""

__version__ = "0.1.0"
