"""Checksummed downloads: the one function every dataset download of the course goes through.

:func:`download` follows the usual safe pattern: skip the transfer if the destination already
holds the right bytes, otherwise stream into a temporary ``.part`` file next to the destination,
verify its SHA-256 checksum, and only then move it into place with an atomic ``os.replace``.
A failed, interrupted or corrupt transfer therefore never leaves a file at the destination.
Only the Python standard library (``urllib.request``) is used.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from ._errors import ChecksumError, DownloadError

__all__ = ["download", "sha256sum"]

_CHUNK = 1 << 20  # 1 MiB
#: HTTP status codes worth retrying (the server may recover); any other HTTP error is final.
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def sha256sum(path: str | os.PathLike) -> str:
    """SHA-256 checksum of a file, as 64 lowercase hexadecimal digits.

    Parameters
    ----------
    path
        The file to hash; it is read in 1 MiB chunks, so any size is fine.

    Returns
    -------
    str
        The hexadecimal digest, comparable with the checksums published by matminer, Zenodo,
        figshare or ``sha256sum`` on the command line.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class _Interrupted(OSError):
    """The server closed the connection before sending every byte it announced."""


def _check_sha256(value: str) -> str:
    value = str(value).strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {value!r}")
    return value


def download(
    url: str,
    dest: str | os.PathLike,
    sha256: str,
    *,
    retries: int = 3,
    timeout: float = 60,
    progress: bool = True,
    backoff: float = 1.0,
) -> Path:
    """Download ``url`` to ``dest`` and verify its SHA-256 checksum, atomically.

    Steps: (1) if ``dest`` exists and its checksum is ``sha256``, return at once without any
    network access; (2) otherwise stream the response into a temporary file
    ``<dest>.<random>.part`` in the same folder, hashing while writing; (3) check that the
    number of bytes matches the ``Content-Length`` header and that the checksum matches;
    (4) move the file onto ``dest`` with ``os.replace`` (atomic on one file system).
    Network errors, HTTP 5xx/408/429 responses and interrupted transfers are retried with
    exponential backoff (``backoff``, ``2 * backoff``, ``4 * backoff`` ... seconds). Whatever
    goes wrong, the ``.part`` file is removed and nothing is left at ``dest`` (an existing
    ``dest`` with a wrong checksum is only replaced once a verified copy has arrived).

    Parameters
    ----------
    url
        ``http://``, ``https://`` or ``file://`` address of the file.
    dest
        Where the file goes; missing parent folders are created.
    sha256
        The published SHA-256 checksum (64 hexadecimal digits).
    retries
        How many more attempts after a failed one (so at most ``retries + 1`` requests).
        A checksum mismatch is not retried: the server sent complete but different data.
    timeout
        Seconds to wait for the connection and for each read.
    progress
        Show a tqdm progress bar (bytes).
    backoff
        Seconds to wait before the first retry; doubled before each later one.

    Returns
    -------
    Path
        ``dest``, holding the verified file.

    Raises
    ------
    ChecksumError
        The downloaded bytes do not have the expected checksum (message gives both values).
    DownloadError
        The file could not be fetched: HTTP error, network error or interrupted transfer,
        after all retries.
    """
    dest = Path(dest)
    expected = _check_sha256(sha256)
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if dest.is_file() and sha256sum(dest) == expected:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)

    last_error: BaseException | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            part, got = _fetch_once(url, dest, timeout=timeout, progress=progress)
        except urllib.error.HTTPError as err:
            err.close()  # release the connection; the status and reason stay available
            last_error = err
            if err.code not in _RETRY_STATUS:
                break
        except (
            urllib.error.URLError,
            http.client.HTTPException,
            ConnectionError,
            TimeoutError,
            socket.timeout,
            _Interrupted,
        ) as err:
            last_error = err
        else:
            if got != expected:
                part.unlink(missing_ok=True)
                raise ChecksumError(
                    f"checksum mismatch for {url}: expected sha256 {expected}, got {got}. "
                    "The file on the server differs from the published one (corrupted, "
                    "truncated by a proxy, or changed upstream); nothing was saved to "
                    f"{dest}. Try again later, or get the file from another source and check "
                    "it with course_lib.data.sha256sum()."
                )
            os.replace(part, dest)
            return dest

    attempts = attempt + 1
    raise DownloadError(
        f"could not download {url} to {dest} ({attempts} attempt(s)): {last_error}. "
        "Check the internet connection (or proxy settings) and try again; on a machine without "
        "internet, copy the file into the folder named by the COURSE_DATA_DIR environment "
        "variable instead."
    ) from last_error


def _fetch_once(url: str, dest: Path, *, timeout: float, progress: bool) -> tuple[Path, str]:
    """One transfer into a fresh ``.part`` file; returns (part path, sha256 of its bytes).

    The ``.part`` file is removed if anything goes wrong.
    """
    fd, part_name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    part = Path(part_name)
    try:
        digest = hashlib.sha256()
        request = urllib.request.Request(url, headers={"User-Agent": "course_lib"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None and length.isdigit() else None
            with os.fdopen(fd, "wb") as out, _progress_bar(total, dest.name, progress) as bar:
                fd = -1  # now owned (and closed) by ``out``
                received = 0
                while True:
                    try:
                        block = response.read(_CHUNK)
                    except http.client.IncompleteRead as err:
                        block = err.partial
                        out.write(block)
                        digest.update(block)
                        received += len(block)
                        raise _Interrupted(
                            f"transfer interrupted: received {received} of {total} bytes"
                        ) from err
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
        if total is not None and received != total:
            raise _Interrupted(f"transfer interrupted: received {received} of {total} bytes")
        return part, digest.hexdigest()
    except BaseException:
        if fd >= 0:
            os.close(fd)
        part.unlink(missing_ok=True)
        raise


def _progress_bar(total: int | None, name: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=f"Downloading {name}",
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not enabled,
        leave=False,
    )
