"""A local lab's sandbox on disk, its own uid, and how root writes and reads there safely.

Layout of one sandbox (``ADS_SANDBOX``)::

    <sandbox>/          root:<lab gid> 0750   nothing here can be renamed by the lab
    <sandbox>/ads/      root:<lab gid> 0750   what ADS hands the lab: plan.json, vm.json,
                                              the agent bundle, the source bundle, logs
    <sandbox>/vm/       <lab>:<lab>    0700   the lab's own: install prefix, HOME, TMPDIR

Root writes only into directories it owns and the lab cannot write (``ads/``), and it
reads what the lab wrote (an exit status) through directory descriptors with
``O_NOFOLLOW`` on every component, so a symlink the lab plants is never followed.

Uids: when ADS runs as root, each lab gets a uid of its own from
``[local_uid_base, local_uid_base + local_uid_count)`` (no passwd entry is needed; the
gid is the same number). Leases are files in a machine-wide, root-only directory, so
two control planes on one host never hand out the same uid; a uid with a passwd entry
or a live process is skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ads.processes import uid_processes
from ads.providers.base import VmCreateFailed

MACHINE_DIR = "ads-sandboxes"
LEASES_DIR = ".uid-leases"
# A lease without bookkeeping is a create_vm in progress for this long; after it, a
# crashed control plane's leftover.
STALE_LEASE_S = 600
READ_LIMIT = 1 << 20


@dataclass(frozen=True)
class RunAs:
    """Whom lab commands run as. ``uid`` None: as the ADS user itself (not root)."""

    name: str
    uid: int | None = None
    gid: int | None = None

    @property
    def drops_privileges(self) -> bool:
        return self.uid is not None


@dataclass(frozen=True)
class SandboxLayout:
    top: Path

    @property
    def ads(self) -> Path:
        return self.top / "ads"

    @property
    def vm(self) -> Path:
        return self.top / "vm"

    @property
    def logs(self) -> Path:
        return self.ads / "init"

    @property
    def exits(self) -> Path:
        return self.vm / ".ads-init"


def machine_dir() -> Path:
    """``<tmp>/ads-sandboxes``: owned by the ADS user, 0711, checked on every use."""
    base = Path(tempfile.gettempdir()) / MACHINE_DIR
    with contextlib.suppress(FileExistsError):
        base.mkdir(mode=0o711)
    require_private_dir(base, mode=0o711)
    return base


def read_leases() -> dict[int, dict[str, str]]:
    """Every uid lease on this machine, read only (nothing is created; {} when the leases
    cannot be read: only a root plane leases uids)."""
    directory = Path(tempfile.gettempdir()) / MACHINE_DIR / LEASES_DIR
    try:
        return _lease_files(directory)
    except OSError:
        return {}


def require_private_dir(path: Path, *, mode: int) -> None:
    """``path`` is a real directory of ours that nobody else can write; set its mode."""
    st = path.lstat()
    if (
        not stat.S_ISDIR(st.st_mode)
        or st.st_uid != os.geteuid()
        or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        raise VmCreateFailed(
            f"{path} must be a directory owned by uid {os.geteuid()} and writable only by it; "
            f"found mode {oct(st.st_mode & 0o7777)} owned by uid {st.st_uid}"
        )
    if st.st_mode & 0o7777 != mode:
        path.chmod(mode)


def make_sandbox(top: Path, run_as: RunAs) -> SandboxLayout:
    """Create a fresh sandbox (``top`` must not exist) in the layout above."""
    layout = SandboxLayout(top)
    gid = run_as.gid if run_as.drops_privileges and run_as.gid is not None else -1
    for directory in (layout.top, layout.ads, layout.logs):
        directory.mkdir(mode=0o700)
        os.chown(directory, -1, gid)
        directory.chmod(0o750)
    layout.vm.mkdir(mode=0o700)
    (layout.vm / "tmp").mkdir(mode=0o700)
    layout.exits.mkdir(mode=0o700)
    if run_as.uid is not None and run_as.gid is not None:
        # Handed over while empty and before any process of the lab exists.
        for directory in (layout.vm, layout.vm / "tmp", layout.exits):
            os.chown(directory, run_as.uid, run_as.gid)
    return layout


def write_file(directory: Path, name: str, data: bytes, *, gid: int | None = None) -> Path:
    """Write ``directory/name`` (0640, group ``gid``) atomically, refusing to follow a
    symlink at any step; ``directory`` must be ours and not writable by the lab."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        st = os.fstat(dir_fd)
        if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise OSError(f"{directory} is writable by someone else: refusing to write {name}")
        tmp = f".{name}.{os.getpid()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if gid is not None:
                os.fchown(fd, -1, gid)
            os.fchmod(fd, 0o640)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
    return directory / name


def read_lab_file(top: Path, relative: str, limit: int = READ_LIMIT) -> str:
    """The text of ``top/relative`` ("" when absent, not a regular file, or reached
    through a symlink): a lab's files are read without following what it planted."""
    parts = [p for p in relative.split("/") if p]
    fds: list[int] = []
    try:
        fds.append(os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW))
        for part in parts[:-1]:
            fds.append(os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fds[-1]))
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fds[-1])
        fds.append(fd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        return os.read(fd, limit).decode(errors="replace")
    except OSError:
        return ""
    finally:
        for fd in fds:
            os.close(fd)


# -- uids -------------------------------------------------------------------------------


class UidPool:
    """Machine-wide leases of lab uids (see the module docstring)."""

    def __init__(self, base: int, count: int, directory: Path | None = None) -> None:
        self.base = base
        self.count = count
        self._directory = directory

    @property
    def directory(self) -> Path:
        directory = self._directory or machine_dir() / LEASES_DIR
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
        require_private_dir(directory, mode=0o700)
        return directory

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Path]:
        directory = self.directory
        with open(directory / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield directory
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def allocate(self, lab_id: str, bookkeeping: Path) -> int:
        """A uid for ``lab_id`` (the same one again if it already holds one)."""
        with self._locked() as directory:
            leases = _lease_files(directory)
            for uid, lease in leases.items():
                if lease.get("lab_id") == lab_id and lease.get("bookkeeping") == str(bookkeeping):
                    return uid
            start = _read_int(directory / ".next", self.base)
            for offset in range(self.count):
                # Round robin, so a freed uid is the last to be handed out again.
                uid = self.base + (start - self.base + offset) % self.count
                if uid in leases and not self._stale(directory, uid, leases[uid]):
                    continue
                if _has_passwd_entry(uid) or uid_processes(uid):
                    continue
                lease = {"lab_id": lab_id, "bookkeeping": str(bookkeeping)}
                (directory / str(uid)).write_text(json.dumps(lease))
                (directory / ".next").write_text(str(uid + 1))
                return uid
        raise VmCreateFailed(
            f"no free lab uid in [{self.base}, {self.base + self.count}): every one is leased "
            "or in use; destroy labs or widen ADS_LOCAL_UID_COUNT"
        )

    def release(self, uid: int, lab_id: str) -> None:
        with self._locked() as directory:
            lease = _lease_files(directory).get(uid)
            if lease is not None and lease.get("lab_id") == lab_id:
                (directory / str(uid)).unlink(missing_ok=True)

    def leased(self) -> dict[int, dict[str, str]]:
        with self._locked() as directory:
            return _lease_files(directory)

    @staticmethod
    def _stale(directory: Path, uid: int, lease: dict[str, str]) -> bool:
        """A lease whose lab's bookkeeping is gone, old enough not to be a create in flight,
        with no process left: its control plane crashed."""
        bookkeeping = lease.get("bookkeeping")
        if not bookkeeping or Path(bookkeeping).exists():
            return False
        try:
            age = time.time() - (directory / str(uid)).stat().st_mtime
        except OSError:
            return True
        return age > STALE_LEASE_S and not uid_processes(uid)


def _lease_files(directory: Path) -> dict[int, dict[str, str]]:
    leases = {}
    for path in directory.iterdir():
        if path.name.isdigit():
            try:
                leases[int(path.name)] = json.loads(path.read_text())
            except (OSError, ValueError):
                leases[int(path.name)] = {}
    return leases


def _read_int(path: Path, default: int) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return default


def _has_passwd_entry(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True
