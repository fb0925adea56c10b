"""Processes on this machine, through psutil: is one alive, which ones match, ending them.

The local control plane and its lab VMs are processes; every question about them
(is the daemon still running, which processes carry a sandbox in their environment or
run as a lab's uid, what a command line says) and every way of ending them (SIGTERM,
a grace period, then SIGKILL, by pid or by process group) goes through here.
psutil reads ``/proc`` on Linux and the native interfaces elsewhere, so nothing here
fails on another OS; whether the local plane can run at all is :func:`host_problem`.

A zombie counts as gone: it runs nothing and only waits for its parent. Children
this process started are reaped when they are looked at (:func:`remember_child`).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import platform
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import psutil

TERM_GRACE_S = 5.0
KILL_GRACE_S = 3.0
POLL_S = 0.05

# pids, or a way to find them again: a stop looks again each round, because what it
# stops may start more (an install script's children) while it waits.
Pids = Iterable[int] | Callable[[], Iterable[int]]

_GONE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
_CHILDREN: dict[int, subprocess.Popen] = {}
_CHILDREN_LOCK = threading.Lock()


@dataclass(frozen=True)
class ProcessRow:
    """What one look at the process table saw of one process."""

    pid: int
    uid: int | None
    pgid: int | None
    environ: dict[str, str]


# One look at every process, shared: a question about "which processes" reads it while
# it is recent enough for the asker. A look reads /proc for every process of the host,
# so a burst of destroys (each asking every 50 ms while its lab's processes end) asking
# for a look each made the cost the square of the labs.
_TABLE_LOCK = threading.Lock()
_table: tuple[float, list[ProcessRow]] = (float("-inf"), [])
# How old a look may be for the current question: none by default (a look taken after
# the question began); a stop's waiting rounds accept one of POLL_S.
_ACCEPTED_AGE_S: contextvars.ContextVar[float] = contextvars.ContextVar(
    "accepted_age_s", default=0.0
)


def _look() -> list[ProcessRow]:
    me = os.getpid()
    rows = []
    for process in psutil.process_iter(["uids", "environ", "status"]):
        if process.pid == me or process.info.get("status") in _GONE:
            continue
        uids = process.info.get("uids")
        pgid = None
        with contextlib.suppress(OSError):
            pgid = os.getpgid(process.pid)
        rows.append(
            ProcessRow(
                pid=process.pid,
                uid=uids.real if uids is not None else None,
                pgid=pgid,
                environ=process.info.get("environ") or {},
            )
        )
    return rows


def process_table() -> list[ProcessRow]:
    """Every other process that was running at a look no older than the caller accepts
    (see :func:`accepting_age`): a look taken meanwhile by another thread is shared."""
    global _table
    asked = time.monotonic()
    with _TABLE_LOCK:
        taken, rows = _table
        if taken >= asked - _ACCEPTED_AGE_S.get():
            return rows
        _reap_children()
        started = time.monotonic()
        rows = _look()
        _table = (started, rows)
        return rows


@contextlib.contextmanager
def accepting_age(seconds: float) -> Iterator[None]:
    """Within this block, questions about processes accept a look ``seconds`` old."""
    token = _ACCEPTED_AGE_S.set(seconds)
    try:
        yield
    finally:
        _ACCEPTED_AGE_S.reset(token)


def host_problem(system: str | None = None) -> str | None:
    """Why the local plane cannot run on this host (one line), or None when it can."""
    system = platform.system() if system is None else system
    if system == "Linux" and psutil.LINUX:
        return None
    return (
        "the local plane needs Linux (process groups, /proc via psutil, namespaces for "
        f"lab isolation); found {system or 'an unknown OS'}"
    )


def remember_child(process: subprocess.Popen) -> None:
    """Keep a child started here so that a later look reaps it once it exits (no zombie,
    no "still running" warning), whichever call or thread looks."""
    with _CHILDREN_LOCK:
        _CHILDREN[process.pid] = process


def _reap_children() -> None:
    with _CHILDREN_LOCK:
        for pid, process in list(_CHILDREN.items()):
            if process.poll() is not None:
                del _CHILDREN[pid]


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() not in _GONE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def alive(pid: int) -> bool:
    """True while ``pid`` is a process that is neither gone nor a zombie."""
    _reap_children()
    return pid > 0 and _still_alive(pid)


def other_pids() -> list[int]:
    """Every process but this one."""
    me = os.getpid()
    return [pid for pid in psutil.pids() if pid != me]


def cmdline(pid: int) -> list[str]:
    """The arguments ``pid`` was started with ([] when it is gone or hidden)."""
    try:
        return psutil.Process(pid).cmdline()
    except (psutil.Error, OSError):
        return []


def environ(pid: int) -> dict[str, str]:
    """The environment of ``pid`` ({} when it is gone or not ours to read)."""
    try:
        return psutil.Process(pid).environ()
    except (psutil.Error, OSError):
        return {}


def with_environ(name: str) -> Iterator[tuple[int, str]]:
    """(pid, value) of every other live process whose environment sets ``name``."""
    for row in process_table():
        value = row.environ.get(name)
        if value is not None and _still_alive(row.pid):
            yield row.pid, value


def _still_alive(pid: int) -> bool:
    """A pid a look saw running: alive still (the look may be older than the question)."""
    try:
        return _running(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def real_uid(pid: int) -> int | None:
    try:
        return psutil.Process(pid).uids().real
    except (psutil.Error, OSError):
        return None


def uid_processes(uid: int) -> list[int]:
    """Live processes whose real uid is ``uid`` (this one excluded)."""
    return sorted(row.pid for row in process_table() if row.uid == uid and _still_alive(row.pid))


def matching(accept: Callable[[int], bool]) -> list[int]:
    """Every other process for which ``accept(pid)`` holds."""
    return [pid for pid in other_pids() if accept(pid)]


@dataclass
class StopResult:
    """What :func:`stop` saw: the pids it signalled, and those still alive at the end."""

    signalled: list[int] = field(default_factory=list)
    survivors: list[int] = field(default_factory=list)

    @property
    def stopped(self) -> bool:
        return not self.survivors


def _current(pids: Pids) -> list[int]:
    return sorted(set(pids() if callable(pids) else pids))


def group_members(pgids: Iterable[int]) -> list[int]:
    """Other live processes whose process group is one of ``pgids``."""
    wanted = set(pgids)
    if not wanted:
        return []
    return [row.pid for row in process_table() if row.pgid in wanted and _still_alive(row.pid)]


def _finder(pids: Pids) -> Callable[[Iterable[int]], list[psutil.Process]]:
    """The live processes meant by ``pids`` (and members of the given groups), each time
    it is called. Given pids are bound to their processes once, so a pid reused meanwhile
    is never taken for them; a callable is asked afresh each time (it decides who matches)."""
    bound: dict[int, psutil.Process] = {}
    fixed = not callable(pids)

    def bind(wanted: Iterable[int]) -> list[psutil.Process]:
        found = []
        for pid in wanted:
            known = bound.get(pid)
            if known is None or (not fixed and not known.is_running()):
                try:
                    known = bound[pid] = psutil.Process(pid)
                except (psutil.Error, ValueError):
                    continue
            found.append(known)
        return found

    given = bind(_current(pids)) if fixed else []

    def find(groups: Iterable[int] = ()) -> list[psutil.Process]:
        # A zombie child counts as gone here; the looks at the table reap them.
        wanted = given if fixed else bind(_current(pids))
        members = [m for m in bind(group_members(groups)) if m not in wanted]
        return [process for process in [*wanted, *members] if _running(process)]

    return find


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop(
    pids: Pids = (),
    *,
    groups: Pids = (),
    grace_s: float = TERM_GRACE_S,
    kill_grace_s: float = KILL_GRACE_S,
) -> StopResult:
    """SIGTERM, wait up to ``grace_s``; SIGKILL what is left, wait up to ``kill_grace_s``.

    ``groups`` are process groups signalled as a whole first (a callable is asked again
    before SIGKILL, so it can check each leader is still the one meant); ``pids`` are
    signalled one by one, each once a round, new ones as they appear. A pid reused by
    another process while this runs is not signalled (psutil tells them apart).
    """
    find = _finder(pids)
    result = StopResult()
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, kill_grace_s)):
        pgids = [pgid for pgid in _current(groups) if pgid > 0]
        for pgid in pgids:
            _signal_group(pgid, sig)
        signalled: set[int] = set()
        deadline = time.monotonic() + wait_s
        while True:
            # A waiting round shares a recent look with other stops; "none left" is
            # only concluded from a look taken after it was asked.
            with accepting_age(POLL_S):
                live = find(pgids)
            if not live:
                live = find(pgids)
            if not live:
                return result
            for process in live:
                if process.pid not in signalled:
                    signalled.add(process.pid)
                    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                        process.send_signal(sig)
                    if process.pid not in result.signalled:
                        result.signalled.append(process.pid)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # Not psutil.wait_procs: it would reap our children and take their exit status
            # from whoever holds their Popen (remembered ones are reaped through it).
            time.sleep(min(POLL_S, left))
    result.survivors = sorted(p.pid for p in find(pgids))
    return result
