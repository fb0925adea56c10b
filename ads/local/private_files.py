"""Owner-only files for the local control plane's state in ``$ADS_HOME``.

Everything the plane keeps there (its address, its log, its records, its API
credentials) names owners and lab ids or grants access to the API, so none of it may be
readable by another uid: a lab runs as one. Directories are 0700 and files 0600, set
explicitly (not only through the umask, which an old file created before this rule
would not have had), and files are never opened through a symlink.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

DIR_MODE = 0o700
FILE_MODE = 0o600
# Whatever this process creates without naming a mode is owner-only too.
OWNER_ONLY_UMASK = 0o077


def restrict_umask() -> int:
    """Make new files owner-only for the rest of this process; returns the old umask."""
    return os.umask(OWNER_ONLY_UMASK)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents, 0700) and make it 0700 when this uid owns it."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    st = path.lstat()
    if st.st_uid == os.geteuid() and st.st_mode & 0o777 != DIR_MODE:
        path.chmod(DIR_MODE)
    return path


def restrict_file(path: Path) -> None:
    """Make an existing file 0600 (a file left by an older version may be 0644)."""
    with contextlib.suppress(FileNotFoundError):
        if not path.is_symlink():
            path.chmod(FILE_MODE)


def open_private(path: Path, flags: int) -> int:
    """``os.open`` with mode 0600 that refuses a symlink and fixes an existing file's mode."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def open_private_append(path: Path) -> BinaryIO:
    """A binary append-only file object on ``path`` (created 0600)."""
    fd = open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    return os.fdopen(fd, "ab")


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically and durably with ``data`` (0600).

    Written to a new temporary file in the same directory, flushed to disk, then renamed
    over the target and the directory entry flushed: a reader, or the next start after a
    crash, sees either the old content or the new one, never half of it.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
