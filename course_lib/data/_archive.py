"""Verified, atomic and safe extraction of ``.tar.gz`` archives into the cache.

An archive is extracted into a fresh temporary folder next to its final place, which is then
renamed into place with ``os.replace``; the final folder therefore exists only when the
whole archive was extracted. Members are filtered with the standard library's ``tarfile`` ``"data"`` filter, which
refuses absolute paths, ``..`` components, links pointing outside the folder, device files and
unsafe permissions (path-traversal attacks).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from ._download import _check_sha256, sha256sum
from ._errors import ArchiveError, ChecksumError
from ._paths import cache_dir as _cache_dir

__all__ = ["extract_tarball", "extraction_target"]


def extraction_target(archive_name: str, sha256: str, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """Cache folder into which :func:`extract_tarball` extracts an archive (may not exist yet).

    Parameters
    ----------
    archive_name
        File name of the archive, e.g. ``"jarvis_dft3d_2021.tar.gz"``.
    sha256
        The archive's checksum; its first 12 digits make the folder name unique.
    cache_dir
        Cache folder to use instead of ``$COURSE_CACHE_DIR`` / ``~/.cache/course_lib``.

    Returns
    -------
    Path
        ``<cache>/extracted/<archive name without .tar.gz>-<sha256[:12]>``.
    """
    stem = Path(archive_name).name
    for suffix in (".tar.gz", ".tgz", ".tar"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return _cache_dir(cache_dir) / "extracted" / f"{stem}-{_check_sha256(sha256)[:12]}"


def extract_tarball(
    archive: str | os.PathLike,
    sha256: str | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Extract a (gzip-compressed) tar archive once into the cache and return the folder.

    The folder is ``<cache>/extracted/<archive name>-<first 12 digits of its sha256>``, so each
    distinct archive is extracted once and later calls return at once (they do not even need
    the archive any more). Extraction is atomic: on any error (corrupt or truncated archive,
    unsafe member, full disk) nothing is left in the cache.

    Parameters
    ----------
    archive
        Path of the ``.tar``, ``.tar.gz`` or ``.tgz`` file.
    sha256
        The published checksum; the archive is verified against it before extraction. With
        None the checksum is only computed (to name the cache folder), not checked.
    cache_dir
        Cache folder to use instead of ``$COURSE_CACHE_DIR`` / ``~/.cache/course_lib``.
    progress
        Show a tqdm progress bar counting the extracted files.

    Returns
    -------
    Path
        The folder holding the archive's contents.

    Raises
    ------
    ChecksumError
        If ``sha256`` is given and the archive's checksum differs.
    ArchiveError
        If the archive is corrupt, truncated or contains unsafe members (nothing is kept).
    OSError
        If writing fails (for example a full disk; nothing is kept).
    """
    archive = Path(archive)
    got = sha256sum(archive)
    if sha256 is not None:
        expected = _check_sha256(sha256)
        if got != expected:
            raise ChecksumError(
                f"checksum mismatch for {archive}: expected sha256 {expected}, got {got}. The "
                "file is corrupt, truncated or not the published version; replace it with a "
                "fresh copy of the original file."
            )
    target = extraction_target(archive.name, got, cache_dir=cache_dir)
    if target.is_dir():
        return target
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        try:
            _extract_all(archive, tmp, progress=progress)
        except (tarfile.TarError, EOFError, zlib.error) as err:
            raise ArchiveError(
                f"could not extract {archive}: {err}. The archive is corrupt, truncated or "
                "contains unsafe members; nothing was extracted. Replace it with a fresh copy."
            ) from err
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():  # not a concurrent extraction that finished first
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _extract_all(archive: Path, dest: Path, *, progress: bool) -> None:
    from tqdm.auto import tqdm

    with tarfile.open(archive, "r:*") as tar:
        members = tqdm(tar, desc=f"Extracting {archive.name}", unit=" files", disable=not progress, leave=False)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")
        else:  # Python < 3.11.4 / 3.12: refuse anything but plain files and folders inside dest
            root = dest.resolve()
            for member in members:
                target = (dest / member.name).resolve()
                if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
                    raise tarfile.TarError(
                        f"refusing unsafe archive member {member.name!r} in {archive}"
                    )
                tar.extract(member, dest)
