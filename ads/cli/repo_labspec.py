"""A LABSPEC argument that names a repository: ``GIT_URL[@REF]`` or ``PATH[@REF]``.

``ads deploy`` and ``ads plan`` then read ``scripts/labspec.json`` from the repository
at that ref (no labspec file needed), and ``ads deploy`` deploys that repository at that
ref. What counts as a repository argument:

* a URL (``https://``, ``http://``, ``file://``), with or without ``@REF``: the labspec
  comes from a shallow fetch of that one ref into a temporary directory, the only
  network access being to that URL;
* ``PATH@REF`` where PATH is a local repository: read with ``git show`` at REF;
* a local directory that is a repository's top level, without ``@REF``: the labspec is
  the checkout's file as before (``ads plan DIR``), and ``ads deploy`` deploys the
  repository's HEAD when no ``--source`` says otherwise.

Everything runs as the person running ``ads``, with their rights: the control plane
later reads a local source with the requester's rights too (ads.providers.local_sources).
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

LABSPEC_PATH = "scripts/labspec.json"
URL_SCHEMES = ("https://", "http://", "file://")
GIT_TIMEOUT_S = 120.0
# git refuses these in a ref name; a URL's user@host has '@' but then '/' follows.
_REF = re.compile(r"^[^\s:@~^?*\[\\]+$")


class RepositoryLabspecError(Exception):
    """The repository, its ref or its labspec cannot be read; the message says which."""


@dataclass(frozen=True)
class RepositoryLabspec:
    labspec: bytes | None  # None: read the checkout's file as any directory's
    name: str  # for messages: URL@REF:scripts/labspec.json
    git: str  # the source.git the API is given
    ref: str | None


def split_ref(argument: str) -> tuple[str, str | None]:
    """``(repository, ref)``; ref None when the argument names none."""
    head, sep, ref = argument.rpartition("@")
    if not sep or not head or not _REF.match(ref):
        return argument, None
    if "://" in head and "/" not in head.split("://", 1)[1]:
        return argument, None  # https://user@host/repo: the '@' is the URL's own
    return head, ref


def classify(argument: str) -> RepositoryLabspec | None:
    """The repository ``argument`` names, or None when it is a labspec file or stdin."""
    return _classify(argument, os.getcwd())


@functools.lru_cache(maxsize=8)
def _classify(argument: str, _cwd: str) -> RepositoryLabspec | None:
    if argument == "-":
        return None
    if argument.startswith(URL_SCHEMES):
        url, ref = split_ref(argument)
        return RepositoryLabspec(_fetch_labspec(url, ref), _name(url, ref), url, ref)
    path = Path(argument)
    if path.is_file():
        return None
    if path.is_dir():
        top = _toplevel(path)
        if top is not None and top == path.resolve():
            return RepositoryLabspec(None, str(path), str(top), None)
        return None
    head, ref = split_ref(argument)
    if ref is None or not Path(head).is_dir():
        return None
    top = _toplevel(Path(head))
    if top is None:
        raise RepositoryLabspecError(f"{head}: not a git repository (found no .git)")
    return RepositoryLabspec(
        _show_labspec(top, ref, _name(head, ref)), _name(head, ref), str(top), ref
    )


def _name(where: str, ref: str | None) -> str:
    return f"{where}@{ref}" if ref else where


def _git(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",  # a private URL fails instead of asking for a password
        "GIT_ASKPASS": "/bin/false",
        "LC_ALL": "C",
    }
    try:
        return subprocess.run(
            # Only the URL given is fetched: no submodules, no helper protocols.
            ["git", "-c", "protocol.ext.allow=never", "-c", "submodule.recurse=false", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise RepositoryLabspecError(
            "git is not installed: it reads a repository's labspec"
        ) from None
    except subprocess.TimeoutExpired:
        raise RepositoryLabspecError(
            f"git {args[0]} took more than {GIT_TIMEOUT_S:g} s; is the repository reachable?"
        ) from None


def _toplevel(path: Path) -> Path | None:
    found = _git(["rev-parse", "--show-toplevel"], cwd=path)
    if found.returncode != 0 or not found.stdout.strip():
        return None
    return Path(found.stdout.strip()).resolve()


def _show_labspec(repository: Path, ref: str, name: str) -> bytes:
    commit = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=repository)
    if commit.returncode != 0:
        raise RepositoryLabspecError(f"{name}: ref {ref!r} not found in {repository}")
    return _read_blob(repository, commit.stdout.strip(), name, ref)


def _read_blob(repository: Path, commit: str, name: str, ref: str) -> bytes:
    from ads.lab.labspec_reader import MAX_LABSPEC_BYTES

    size = _git(["cat-file", "-s", f"{commit}:{LABSPEC_PATH}"], cwd=repository)
    if size.returncode != 0:
        raise RepositoryLabspecError(f"{name}: no {LABSPEC_PATH} at ref {ref!r}")
    if int(size.stdout.strip() or 0) > MAX_LABSPEC_BYTES:
        raise RepositoryLabspecError(
            f"{name}: {LABSPEC_PATH} is {size.stdout.strip()} bytes; allowed: at most 1 MiB"
        )
    blob = subprocess.run(
        ["git", "cat-file", "blob", f"{commit}:{LABSPEC_PATH}"],
        cwd=repository,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=GIT_TIMEOUT_S,
        check=False,
    )
    if blob.returncode != 0:
        raise RepositoryLabspecError(f"{name}: {LABSPEC_PATH} cannot be read at ref {ref!r}")
    return blob.stdout


def _fetch_labspec(url: str, ref: str | None) -> bytes:
    name = _name(url, ref)
    with tempfile.TemporaryDirectory(prefix="ads-labspec-") as scratch:
        where = Path(scratch)
        if _git(["init", "-q", "--bare", str(where)]).returncode != 0:
            raise RepositoryLabspecError(f"{name}: git init of a temporary directory failed")
        fetched = _git(["fetch", "-q", "--depth", "1", "--no-tags", url, ref or "HEAD"], cwd=where)
        if fetched.returncode != 0:
            raise RepositoryLabspecError(_fetch_problem(name, url, ref, fetched.stderr))
        return _read_blob(where, "FETCH_HEAD", name, ref or "HEAD")


def _fetch_problem(name: str, url: str, ref: str | None, stderr: str) -> str:
    text = " ".join(stderr.split())
    lowered = text.lower()
    if (
        "couldn't find remote ref" in lowered
        or "not our ref" in lowered
        or (ref and "invalid refspec" in lowered)
    ):
        return f"{name}: ref {ref!r} not found in {url}"
    if "does not appear to be a git repository" in lowered or "not a git repository" in lowered:
        return f"{url}: not a git repository"
    return f"{name}: git fetch failed: {text[:300] or 'no message'}"
