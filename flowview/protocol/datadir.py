"""flowview's data directory (archive, outbox): where it is and the one check that it is private.

UI-free and httpx-free; the archive and the outbox store both use it, each turning
:class:`UnsafeDirectory` into its own error type.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Final

import platformdirs

log = logging.getLogger(__name__)

__all__ = ["DATA_DIR_ENV", "DIR_MODE", "UnsafeDirectory", "data_dir", "ensure_private_dir"]

DATA_DIR_ENV: Final = "FLOWVIEW_DATA_DIR"
DIR_MODE: Final = 0o700


class UnsafeDirectory(Exception):
    """The directory cannot be created, or is not ours, or others can write to it."""


def data_dir() -> Path:
    """flowview's data directory (not created): $FLOWVIEW_DATA_DIR or the platform default."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_data_path("flowview", appauthor=False)


def ensure_private_dir(directory: Path) -> Path:
    """Create `directory` at exactly 0700, or check that an existing one is ours and that no
    one else can write to it (as ssh does).  Ours but readable by others: tightened, since what
    we keep there is private.  Raises :class:`UnsafeDirectory` otherwise."""
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        directory.mkdir(mode=DIR_MODE)
        os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask
        return directory
    except FileExistsError:
        pass
    except OSError as exc:
        raise UnsafeDirectory(f"cannot create {directory}: {exc.strerror}") from exc
    try:
        st = directory.lstat()
    except OSError as exc:
        raise UnsafeDirectory(f"cannot inspect {directory}: {exc.strerror}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(f"{directory} exists and is not a directory")
    if st.st_uid != os.getuid():
        raise UnsafeDirectory(f"refusing {directory}: owned by another user")
    if stat.S_IMODE(st.st_mode) & 0o022:
        raise UnsafeDirectory(
            f"refusing {directory}: others can write to it (other users; fix with: "
            f"chmod 700 {directory})"
        )
    if stat.S_IMODE(st.st_mode) & 0o077:
        try:
            os.chmod(directory, DIR_MODE)
        except OSError as exc:
            raise UnsafeDirectory(f"cannot restrict {directory}: {exc.strerror}") from exc
        log.info("tightened %s to 0700", directory)
    return directory
