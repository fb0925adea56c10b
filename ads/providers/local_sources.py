"""Local lab sources (a path or ``file://`` URL in ``source.git``), read with the
requester's rights.

The control plane may run as root; the person who asked for the lab usually is not. So
a local source is never read with root's rights on the requester's behalf:

* system directories (``/etc``, ``/root``, ``/proc``, ...) are refused outright, unless
  an operator listed a directory under them in ``ADS_LOCAL_SOURCE_ROOTS``;
* under a directory of ``ADS_LOCAL_SOURCE_ROOTS`` the control plane reads with its own
  rights (the operator vouched for it);
* anywhere else it is read by a process running as the requester (when the front door
  knows their uid) or, when it does not, as the unprivileged ``nobody``: only what any
  local account may read can become a lab's source.

The local API learns the requester's uid from the kernel (the owner of the client's end
of the loopback connection, :mod:`ads.local.peer_uid`), never from the request: it puts
it in the proxy event's ``requestContext.authorizer`` under :data:`REQUESTER_UID_KEY`,
the record keeps it, and init reads the source with :func:`requester_from_uid`.

The reader exports the repository as a git bundle on its standard output; root only
receives bytes, never opens the requester's files. :func:`local_source_problem` is the
one policy check; the API answers 400 with it and the provider applies it again at init.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ads.config import AdsConfig

SYSTEM_DIRECTORIES = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var",
)
FALLBACK_READER = "nobody"
# Where the local API's proxy event carries the client's kernel-asserted uid (API Gateway
# puts what an authorizer asserts in requestContext.authorizer; a client cannot set it).
REQUESTER_UID_KEY = "adsRequesterUid"
MAX_BUNDLE_BYTES = 512 * 1024 * 1024
EXPORT_TIMEOUT_S = 300
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class SourceReader:
    """Whose rights a local source is read with. ``uid`` None: the control plane's own."""

    name: str
    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] = ()


class LocalSourceRefused(ValueError):
    """A local source that may not be used, as a field problem of ``source.git``."""

    def __init__(self, found: str, allowed: str) -> None:
        super().__init__(f"source.git: found {found}; allowed: {allowed}")
        self.found = found
        self.allowed = allowed


def local_path(url: str) -> Path | None:
    """The path of a local source URL (``file:///x`` or ``/x``), None for a remote one."""
    if url.startswith("file://"):
        return Path(url[len("file://") :])
    if url.startswith("/"):
        return Path(url)
    return None


def _normal(path: Path) -> Path:
    # realpath: a symlink in a user's directory must not lead the check around /etc.
    return Path(os.path.realpath(os.path.normpath(path)))


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def reader_for(path: Path, requester: SourceReader | None, config: AdsConfig) -> SourceReader:
    """Whose rights read ``path`` (see the module docstring); raises LocalSourceRefused."""
    resolved = _normal(path)
    roots = [_normal(Path(r)) for r in config.local_source_roots]
    in_roots = any(_under(resolved, root) for root in roots)
    system = next((d for d in SYSTEM_DIRECTORIES if _under(resolved, Path(d))), None)
    if resolved == Path("/") or (system and not in_roots):
        where = "/" if resolved == Path("/") else system
        raise LocalSourceRefused(
            f"{str(path)!r} (in the system directory {where})",
            "a repository of yours outside system directories, or under ADS_LOCAL_SOURCE_ROOTS",
        )
    if in_roots or os.geteuid() != 0:
        return SourceReader(name="the control plane")
    if requester is not None:
        # uid None or 0: the requester has the control plane's own rights.
        return requester if requester.uid != 0 else SourceReader(name=requester.name)
    try:
        entry = pwd.getpwnam(FALLBACK_READER)
    except KeyError:
        raise LocalSourceRefused(
            f"{str(path)!r} (outside ADS_LOCAL_SOURCE_ROOTS, and who asked is not known)",
            "a path under ADS_LOCAL_SOURCE_ROOTS",
        ) from None
    return SourceReader(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


def requester_from_uid(uid: int | None) -> SourceReader | None:
    """The reader for the requester with this uid (None when who asked is not known).

    A uid with an account reads with that account's primary and supplementary groups, as
    the user's own ``git`` would; one without an account (a lab's leased uid, say) gets
    the ``nobody`` group only, never root's."""
    if uid is None:
        return None
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        try:
            gid = pwd.getpwnam(FALLBACK_READER).pw_gid
        except KeyError:
            gid = 65534
        return SourceReader(name=f"uid {uid}", uid=uid, gid=gid)
    groups = tuple(g for g in os.getgrouplist(entry.pw_name, entry.pw_gid) if g != entry.pw_gid)
    return SourceReader(name=entry.pw_name, uid=uid, gid=entry.pw_gid, groups=groups)


def local_source_problem(
    url: str, config: AdsConfig, requester: SourceReader | None = None
) -> LocalSourceRefused | None:
    """Why ``url`` may not be a lab's source, or None. A policy check only: whether the
    reader can actually read it shows when init exports it."""
    path = local_path(url)
    if path is None:
        return None
    try:
        reader_for(path, requester, config)
    except LocalSourceRefused as exc:
        return exc
    return None


def export_bundle(url: str, target: Path, reader: SourceReader) -> None:
    """Write every branch and tag of the local repository ``url`` as a git bundle to the
    already created, root-owned ``target``, reading the repository as ``reader``."""
    path = local_path(url)
    assert path is not None
    with target.open("r+b") as out:
        result = subprocess.run(
            ["git", "-c", "safe.directory=*", "-C", str(path), "bundle", "create", "-", "--all"],
            env={"PATH": _SAFE_PATH, "HOME": "/", "GIT_TERMINAL_PROMPT": "0"},
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
            timeout=EXPORT_TIMEOUT_S,
            # None for all three: git runs with the control plane's own rights.
            user=reader.uid,
            group=reader.gid if reader.uid is not None else None,
            extra_groups=list(reader.groups) if reader.uid is not None else None,
        )
        size = out.seek(0, os.SEEK_END)
    if result.returncode != 0:
        detail = " ".join(result.stderr.decode(errors="replace").split())[:300]
        raise LocalSourceRefused(
            f"{str(path)!r}, which {reader.name} cannot read as a git repository ({detail})",
            "a git repository the requesting user can read",
        )
    if size > MAX_BUNDLE_BYTES:
        raise LocalSourceRefused(
            f"{str(path)!r}, a bundle of {size} bytes", f"at most {MAX_BUNDLE_BYTES} bytes"
        )
