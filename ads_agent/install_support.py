"""The parts of ``install.sh`` that are easier to get right in Python than in sh:
checking the plan, stopping a previous agent, fetching an archive, writing ``lab.json``
waiting for the new agent, and after the deploy for the lab to answer its health probe.
``python3 -m ads_agent.install_support COMMAND ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from ads_agent import state
from ads_agent.runner import DEFAULT_LAB_BIND, MAX_TIMEOUT_S

EXIT_FAILED = 3
_STOP_GRACE_S = 10.0
_DOWNLOAD_TIMEOUT_S = 60.0
_MAX_ARCHIVE_BYTES = 2 * 1024 * 1024 * 1024


class InstallError(Exception):
    """A problem the person running the install can fix; the message says what."""


# --- the plan -----------------------------------------------------------------------


def check_plan(plan_file: Path, copy_to: Path | None) -> dict[str, Any]:
    try:
        plan = json.loads(plan_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InstallError(f"--plan: file {plan_file} not found") from None
    except OSError as exc:
        raise InstallError(f"--plan: {plan_file} cannot be read ({exc.strerror})") from None
    except ValueError as exc:
        raise InstallError(f"--plan: {plan_file} is not valid JSON ({exc})") from None
    problems = state.plan_problems(plan)
    if problems:
        raise InstallError(f"--plan {plan_file}: " + "; ".join(problems))
    if copy_to is not None:
        state.write_json_atomic(copy_to, plan)
    return plan


# --- stopping a previous agent --------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def is_our_agent(
    pid: int, state_dir: Path, roles: tuple[str, ...] = ("serve", "supervise")
) -> bool:
    """Whether ``pid`` is an ``ads_agent serve|supervise`` for this very state directory:
    a pid file can outlive its process and the number be reused by something else."""
    args = _cmdline(pid)
    if "ads_agent" not in args or not any(role in args for role in roles):
        return False
    try:
        index = args.index("--state-dir")
        return Path(args[index + 1]).resolve() == state_dir.resolve()
    except (ValueError, IndexError, OSError):
        return False


def _read_pid_file(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _agent_pids(state_dir: Path) -> list[int]:
    """Supervisors first, so none of them restarts a server we are about to stop."""
    candidates: list[int] = []
    supervisor = _read_pid_file(state_dir / state.SUPERVISOR_PID_FILE)
    agent = state.read_json_quietly(state_dir / state.AGENT_FILE)
    if supervisor:
        candidates.append(supervisor)
    if isinstance(agent, dict) and isinstance(agent.get("pid"), int):
        candidates.append(agent["pid"])
    # Pid files can be lost (a crash, a deleted state file); the process table cannot.
    try:
        entries = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        entries = []
    candidates.extend(sorted(entries))
    supervisors = [p for p in candidates if is_our_agent(p, state_dir, ("supervise",))]
    servers = [p for p in candidates if is_our_agent(p, state_dir, ("serve",))]
    ordered: list[int] = []
    for pid in supervisors + servers:
        if pid not in ordered and pid != os.getpid():
            ordered.append(pid)
    return ordered


def stop_agents(state_dir: Path) -> list[int]:
    stopped = []
    for pid in _agent_pids(state_dir):
        if not state.pid_is_alive(pid) or not is_our_agent(pid, state_dir):
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + _STOP_GRACE_S
        while state.pid_is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if state.pid_is_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stopped.append(pid)
    for name in (state.SUPERVISOR_PID_FILE, state.AGENT_FILE, state.AGENT_PID_FILE):
        with contextlib.suppress(OSError):
            (state_dir / name).unlink()
    return stopped


# --- lab sources from an archive ------------------------------------------------------


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://", "s3://"))


def _download(source: str, target: Path) -> None:
    if source.startswith("s3://"):
        aws = shutil.which("aws")
        if aws is None:
            raise InstallError(
                f"--source-archive {source}: s3:// needs the aws CLI, which is not installed; "
                "pass a presigned https:// URL instead"
            )
        result = subprocess.run(
            [aws, "s3", "cp", "--only-show-errors", source, str(target)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        if result.returncode != 0:
            message = result.stdout.decode("utf-8", "replace").strip()
            raise InstallError(f"--source-archive {source}: aws s3 cp failed: {message}")
        return
    # Imported here: it pulls in ssl and email, slow to load on a small VM, and most
    # installs never download anything.
    import urllib.request

    request = urllib.request.Request(source, headers={"User-Agent": "ads-agent-install"})
    try:
        with (
            urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT_S) as response,
            target.open("wb") as out,
        ):
            copied = 0
            while True:
                chunk = response.read(1024 * 1024)
                if not chunk:
                    break
                copied += len(chunk)
                if copied > _MAX_ARCHIVE_BYTES:
                    raise InstallError(f"--source-archive {source}: larger than 2 GiB")
                out.write(chunk)
    except OSError as exc:
        raise InstallError(f"--source-archive {source}: download failed ({exc})") from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_member(name: str) -> bool:
    pure = PurePosixPath(name)
    return not pure.is_absolute() and ".." not in pure.parts


def _extract(archive: Path, dest: Path, label: str) -> None:
    if zipfile.is_zipfile(str(archive)):
        with zipfile.ZipFile(str(archive)) as bundle:
            bad = [n for n in bundle.namelist() if not _safe_member(n)]
            if bad:
                raise InstallError(f"--source-archive {label}: unsafe path {bad[0]!r} in the zip")
            bundle.extractall(str(dest))
            for info in bundle.infolist():
                mode = (info.external_attr >> 16) & 0o777
                if mode:  # zipfile drops the execute bits that build scripts rely on
                    os.chmod(str(dest / info.filename), mode | 0o600)
        return
    try:
        with tarfile.open(str(archive), "r:*") as bundle:
            members = bundle.getmembers()
            for member in members:
                if not _safe_member(member.name) or member.isdev():
                    raise InstallError(f"--source-archive {label}: unsafe entry {member.name!r}")
                if (member.issym() or member.islnk()) and not _safe_member(
                    str(PurePosixPath(member.name).parent / member.linkname)
                ):
                    raise InstallError(
                        f"--source-archive {label}: link {member.name!r} leaves the lab"
                    )
            if hasattr(tarfile, "data_filter"):
                bundle.extractall(str(dest), members=members, filter="data")
            else:  # Python before 3.9.17: the checks above stand in for the filter
                bundle.extractall(str(dest), members=members)
    except tarfile.TarError as exc:
        raise InstallError(
            f"--source-archive {label}: not a .zip or .tar.gz archive ({exc})"
        ) from None


def install_archive(source: str, lab_dir: Path, state_dir: Path) -> str:
    """Fetch and unpack the archive into ``lab_dir``; returns its sha256. The same archive
    as last time leaves the lab untouched, so a re-run keeps what the lab built."""
    tmp_root = Path(tempfile.mkdtemp(prefix=".lab-", dir=str(lab_dir.parent)))
    try:
        if _is_url(source):
            archive = tmp_root / "archive"
            _download(source, archive)
        else:
            archive = Path(source)
            if not archive.is_file():
                raise InstallError(f"--source-archive: file {source} not found")
        revision = _sha256(archive)
        lab = state.read_json_quietly(state_dir / state.LAB_FILE)
        if isinstance(lab, dict) and lab.get("source_revision") == revision and lab_dir.is_dir():
            return revision
        unpacked = tmp_root / "unpacked"
        unpacked.mkdir()
        _extract(archive, unpacked, source)
        entries = list(unpacked.iterdir())
        # GitHub and `git archive --prefix` wrap everything in one top directory.
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked
        if lab_dir.exists():
            shutil.rmtree(str(lab_dir))
        os.replace(str(root), str(lab_dir))
        return revision
    finally:
        shutil.rmtree(str(tmp_root), ignore_errors=True)


# --- lab.json and the new agent -----------------------------------------------------


def _positive_or_none(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"found {text!r}, allowed seconds > 0")
    return value


def write_lab(args: argparse.Namespace) -> None:
    plan = state.read_json(Path(args.state_dir) / state.PLAN_FILE, default={}) or {}
    state.write_json_atomic(
        Path(args.state_dir) / state.LAB_FILE,
        {
            "lab_id": args.lab_id,
            "lab_name": plan.get("lab_name"),
            "lab_port": args.lab_port,
            # Read by the runner for every lab command, whoever starts it later
            # (systemd, an operator): the environment of this install does not last.
            "lab_bind": args.lab_bind,
            "command_timeout_s": args.command_timeout,
            # A VM of a lab of several VMs: its name, role and cluster facts file.
            "vm_name": args.vm_name or None,
            "vm_role": args.vm_role or None,
            "cluster_facts": args.cluster_facts or None,
            "source": {
                "kind": args.source_kind,
                "url": args.source_url or None,
                "ref": args.source_ref or None,
            },
            "source_revision": args.revision,
            "installed": datetime.now(timezone.utc)
            .isoformat(timespec="seconds")
            .replace("+00:00", "Z"),
        },
    )


def wait_for_agent(state_dir: Path, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        agent = state.read_json_quietly(state_dir / state.AGENT_FILE)
        if isinstance(agent, dict) and state.pid_is_alive(agent.get("pid")):
            host = agent.get("host") or "127.0.0.1"
            if host in ("0.0.0.0", "::", ""):
                host = "127.0.0.1"
            try:
                socket.create_connection((host, int(agent["port"])), timeout=1).close()
                return agent
            except OSError:
                pass
        time.sleep(0.1)
    raise InstallError(
        f"the agent did not start within {timeout_s:g}s; see {state_dir / state.LOGS_DIR}"
    )


def wait_until_healthy(
    state_dir: Path, timeout_s: float, *, interval_s: float = 0.1
) -> tuple[bool, float, str]:
    """After a deploy that succeeded: wait until /health would answer 200 (the labspec's
    ``health_probe`` passes: a start step that launches a server in the background ends
    before the server listens), at most ``timeout_s``. Whether it did, after how long, and
    the last check that failed."""
    from ads_agent import health

    started = time.monotonic()
    while True:
        status, checks = health.evaluate(state_dir)
        waited = time.monotonic() - started
        if status == health.OK:
            return True, waited, ""
        failing = next((c["detail"] for c in checks if c["status"] == "fail"), status)
        if status != health.UNHEALTHY or waited >= timeout_s:
            # Only the probe can still change by itself; a failed deploy will not.
            return False, waited, str(failing)
        time.sleep(interval_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m ads_agent.install_support")
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("check-plan")
    sub.add_argument("plan", type=Path)
    sub.add_argument("--copy-to", type=Path)
    sub = commands.add_parser("stop")
    sub.add_argument("--state-dir", type=Path, required=True)
    sub = commands.add_parser("install-archive")
    sub.add_argument("source")
    sub.add_argument("--lab-dir", type=Path, required=True)
    sub.add_argument("--state-dir", type=Path, required=True)
    sub = commands.add_parser("write-lab")
    for name in ("--state-dir", "--lab-id", "--source-kind", "--revision"):
        sub.add_argument(name, required=True)
    sub.add_argument("--lab-port", type=int, required=True)
    sub.add_argument("--lab-bind", default=DEFAULT_LAB_BIND)
    sub.add_argument("--command-timeout", type=_positive_or_none, default=None)
    sub.add_argument("--vm-name")
    sub.add_argument("--vm-role")
    sub.add_argument("--cluster-facts")
    sub.add_argument("--source-url")
    sub.add_argument("--source-ref")
    sub = commands.add_parser("wait-agent")
    sub.add_argument("--state-dir", type=Path, required=True)
    sub.add_argument("--timeout", type=float, default=20.0)
    sub = commands.add_parser("wait-healthy")
    sub.add_argument("--state-dir", type=Path, required=True)
    sub.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    try:
        if args.command == "check-plan":
            plan = check_plan(args.plan, args.copy_to)
            print(plan.get("lab_name") or "")
        elif args.command == "stop":
            stopped = stop_agents(args.state_dir)
            if stopped:
                print("stopped previous agent processes: " + " ".join(map(str, stopped)))
        elif args.command == "install-archive":
            print(install_archive(args.source, args.lab_dir, args.state_dir))
        elif args.command == "write-lab":
            write_lab(args)
        elif args.command == "wait-agent":
            agent = wait_for_agent(args.state_dir, args.timeout)
            print(f"{agent['host']} {agent['port']} {agent['pid']}")
        elif args.command == "wait-healthy":
            healthy, waited, detail = wait_until_healthy(args.state_dir, args.timeout)
            if not healthy:
                # Not a failure of the install: ADS's Check Health keeps asking.
                print(f"not healthy after {waited:.1f} s: {detail}")
                return 1
            print(f"healthy after {waited:.1f} s")
    except (InstallError, state.StateError) as exc:
        print(f"install.sh: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
