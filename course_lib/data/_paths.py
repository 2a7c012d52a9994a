"""Where data lives: the data (mirror) directory, the cache directory and files inside packages.

Two environment variables are read, each time a path is needed (never at import time):

``COURSE_DATA_DIR``
    A folder holding verbatim copies of the course's larger data files (for example
    ``jarvis_dft3d_2021.tar.gz`` or ``matbench_phonons.json.gz``). Read only. The course's CI
    points it at ``../shared/data`` relative to the repository root.
``COURSE_CACHE_DIR``
    Where downloads and extracted archives are kept (default ``~/.cache/course_lib``).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ._errors import DatasetUnavailableError

__all__ = ["CACHE_DIR_ENV", "DATA_DIR_ENV", "cache_dir", "data_dir", "find_package_file"]

#: Environment variable naming the data (mirror) directory.
DATA_DIR_ENV = "COURSE_DATA_DIR"
#: Environment variable naming the cache directory for downloads and extracted archives.
CACHE_DIR_ENV = "COURSE_CACHE_DIR"
_DEFAULT_CACHE = Path("~", ".cache", "course_lib")


def data_dir(override: str | os.PathLike | None = None) -> Path | None:
    """The data (mirror) directory: ``override`` if given, else ``$COURSE_DATA_DIR``, else None.

    Parameters
    ----------
    override
        A folder to use instead of the environment variable.

    Returns
    -------
    Path or None
        The folder, or None when neither ``override`` nor ``COURSE_DATA_DIR`` is set.

    Raises
    ------
    DatasetUnavailableError
        If the folder is named but does not exist (a typo in the variable is reported, not
        ignored).
    """
    value = override if override is not None else os.environ.get(DATA_DIR_ENV) or None
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        origin = "data_dir argument" if override is not None else f"{DATA_DIR_ENV} environment variable"
        raise DatasetUnavailableError(
            f"the data directory {str(path)!r} (from the {origin}) does not exist or is not a "
            f"folder; set {DATA_DIR_ENV} to the folder that holds the course's data files"
        )
    return path


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache directory: ``override``, else ``$COURSE_CACHE_DIR``, else ``~/.cache/course_lib``.

    The folder is created if needed.

    Parameters
    ----------
    override
        A folder to use instead of the environment variable and the default.

    Returns
    -------
    Path
        The (existing) cache folder.
    """
    value = override if override is not None else os.environ.get(CACHE_DIR_ENV) or _DEFAULT_CACHE
    path = Path(value).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_dir(module: str) -> Path | None:
    """Folder of an installed top-level package, found WITHOUT importing it.

    ``importlib.util.find_spec`` on a top-level name only looks the package up; it does not
    run its ``__init__`` (so packages whose import fails, such as ``qm9pack`` without
    ``pkg_resources``, are still found).
    """
    if "." in module:
        raise ValueError(f"expected a top-level package name, got {module!r}")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        if Path(location).is_dir():
            return Path(location)
    return None


def find_package_file(module: str, relative: str) -> Path | None:
    """Path of a data file shipped inside an installed package, or None if it is absent.

    Parameters
    ----------
    module
        Top-level import name, e.g. ``"pymatgen"`` or ``"crystal_toolkit"``.
    relative
        Path inside the package folder, with ``/`` separators.

    Returns
    -------
    Path or None
        The file, or None if the package is not installed or lacks the file.
    """
    folder = package_dir(module)
    if folder is None:
        return None
    path = folder.joinpath(*relative.split("/"))
    return path if path.exists() else None
