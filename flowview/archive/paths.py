"""Where archives live: one SQLite file per server+user in a private data directory.

The directory is ``platformdirs.user_data_path("flowview")`` unless ``FLOWVIEW_DATA_DIR`` says
otherwise.  Message text is as private as the token, so the directory is created 0700 and a
directory that someone else owns or can write to is refused (another user could swap the file
for a symlink or read what we write); the files are 0600.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from flowview.protocol import datadir
from flowview.protocol.datadir import data_dir as data_dir  # re-exported for the archive package

log = logging.getLogger(__name__)

FILE_MODE: Final = 0o600
SUFFIX: Final = ".sqlite3"

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


class ArchiveError(Exception):
    """The archive cannot be opened or used (permissions, corruption, a newer schema)."""


def ensure_private_dir(directory: Path) -> Path:
    """Create or check the data directory (see flowview.protocol.datadir); ArchiveError if it
    is not private."""
    try:
        return datadir.ensure_private_dir(directory)
    except datadir.UnsafeDirectory as exc:
        raise ArchiveError(f"data directory: {exc}") from exc


def archive_name(api_url: str, user_id: str) -> str:
    """File name of the archive of `user_id` on the server at `api_url`.

    Readable host and user, plus a digest of the full pair so two servers on one host (other
    ports or paths) never share a file."""
    parts = urlsplit(api_url)
    host = _UNSAFE.sub("_", parts.hostname or "local")[:60]
    port = f"_{parts.port}" if parts.port else ""
    user = _UNSAFE.sub("_", user_id)[:40] or "user"
    digest = hashlib.sha256(f"{api_url.rstrip('/')}\n{user_id}".encode()).hexdigest()[:10]
    return f"{host}{port}-{user}-{digest}{SUFFIX}"


def archive_path(api_url: str, user_id: str, directory: Path | None = None) -> Path:
    """Path of the archive for this server+user (the directory is not created here)."""
    return (directory or data_dir()) / archive_name(api_url, user_id)


def create_private_file(path: Path) -> None:
    """Create `path` at 0600 if missing (before SQLite does, so it never exists with a wider
    mode) and refuse a symlink or a file owned by someone else."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    except OSError as exc:
        raise ArchiveError(f"cannot open archive {path}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid():
            raise ArchiveError(f"refusing archive {path}: owned by another user")
        if stat.S_IMODE(st.st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def list_archives(directory: Path | None = None) -> list[Path]:
    """Archive files in the data directory, most recently modified first."""
    directory = directory or data_dir()
    try:
        files = [p for p in directory.iterdir() if p.name.endswith(SUFFIX) and p.is_file()]
    except OSError:
        return []
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)
