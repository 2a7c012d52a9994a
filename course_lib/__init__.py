"""course_lib: the support library of the course *Machine-learning representations of materials*.

Every real implementation used by the lecture notebooks, the graded assignments and their hidden
tests lives here. Modules follow the chapters:

- :mod:`course_lib.elements` -- the periodic table and formula parsing shared by every chapter
- :mod:`course_lib.composition` -- chapter 1: one-hot, multi-hot and pooled element features
- :mod:`course_lib.embeddings` -- chapters 1-2: published and learned element embeddings
- :mod:`course_lib.structures` -- chapter 3: one structure written many ways, the invariance harness
- :mod:`course_lib.descriptors` -- chapters 4-6: Coulomb and sine matrices, ACSF, SOAP, GFRE
- :mod:`course_lib.graphs` -- chapters 7-8: crystal graphs, cached datasets, batching
- :mod:`course_lib.cgcnn` -- chapters 7-8: the CGCNN model and the original pretrained checkpoints
- :mod:`course_lib.training` -- chapters 7-8: one trainer for every neural model of the course
- :mod:`course_lib.crysatom` -- chapter 8: self-supervised CrysAtom atom vectors and the
  atom-feature comparison
- :mod:`course_lib.data` -- every dataset of the course, with its source, citation and units
- :mod:`course_lib.plotting` -- periodic-table heatmaps, parity plots, learning curves
- :mod:`course_lib.grading` -- nbgrader helpers and the single-notebook grader

Nothing here touches the network at import time.
"""

__version__ = "0.1.0"
