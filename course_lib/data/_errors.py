"""Exceptions raised by :mod:`course_lib.data`; every message says what is wrong and what to do."""

from __future__ import annotations

__all__ = ["ArchiveError", "ChecksumError", "DatasetUnavailableError", "DownloadError"]


class ChecksumError(ValueError):
    """A file's SHA-256 checksum differs from the published one (corrupt, truncated or altered)."""


class DownloadError(OSError):
    """A download failed (network error, HTTP error or interrupted transfer) after all retries."""


class DatasetUnavailableError(FileNotFoundError):
    """A dataset's file is not on this machine (package not installed, data directory not set)."""


class ArchiveError(ValueError):
    """An archive is corrupt, truncated or contains unsafe members (absolute paths, ``..``, links)."""
