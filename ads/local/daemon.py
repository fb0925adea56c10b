"""The background process behind `ads local up`: the local control plane plus its HTTP API.

    python -m ads.local.daemon --port P --home DIR [--time-scale F]

It starts :class:`ads.local.runtime.LocalControlPlane` (moto, the ASL, the handlers,
the local provider) with its state under ``DIR/local``, puts back the lab records kept
in ``DIR/local/records.sqlite3`` and reconciles them with what still runs
(:mod:`ads.local.recovery`), writes fresh API credentials to
``DIR/local/api-credentials.json`` (:mod:`ads.local.api_auth`), serves the API on
127.0.0.1:P, and announces itself in ``DIR/local/control-plane.json`` once the API
answers. SIGTERM or SIGINT stops the HTTP server, destroys every local lab VM
(``plane.stop()``, which records it) and removes that file. Logs go to
``DIR/local/control-plane.log``. Everything under ``DIR/local`` is owner-only.

The helpers at the top (paths, the state file, which processes are the daemon's and
its labs') are shared with the `ads local` commands and import nothing heavy.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ads import processes
from ads.local.private_files import private_dir, restrict_file, restrict_umask, write_private

DAEMON_MODULE = "ads.local.daemon"
STATE_FILE_NAME = "control-plane.json"
LOG_FILE_NAME = "control-plane.log"
RECORDS_FILE_NAME = "records.sqlite3"

# -- where things are -------------------------------------------------------


def ads_home(env: Mapping[str, str] | None = None) -> Path:
    """``$ADS_HOME``, by default ``~/.ads``."""
    value = (os.environ if env is None else env).get("ADS_HOME", "").strip()
    return Path(value).expanduser() if value else Path.home() / ".ads"


def local_dir(home: Path) -> Path:
    return home / "local"


def state_file(home: Path) -> Path:
    return local_dir(home) / STATE_FILE_NAME


def log_file(home: Path) -> Path:
    return local_dir(home) / LOG_FILE_NAME


@dataclass(frozen=True)
class ControlPlaneState:
    """What ``control-plane.json`` says about a running control plane."""

    endpoint: str
    pid: int
    started: str
    home: str
    time_scale: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "pid": self.pid,
            "started": self.started,
            "home": self.home,
            "time_scale": self.time_scale,
        }

    def uptime_s(self, now: datetime | None = None) -> float | None:
        try:
            started = datetime.fromisoformat(self.started.replace("Z", "+00:00"))
        except ValueError:
            return None
        return max(0.0, ((now or datetime.now(UTC)) - started).total_seconds())


def read_state(home: Path) -> ControlPlaneState | None:
    """The state file's content, or None when it is absent or unreadable."""
    try:
        data = json.loads(state_file(home).read_text())
        return ControlPlaneState(
            endpoint=str(data["endpoint"]),
            pid=int(data["pid"]),
            started=str(data.get("started", "")),
            home=str(data.get("home", home)),
            time_scale=float(data.get("time_scale", 1.0)),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_state(home: Path, state: ControlPlaneState) -> None:
    path = state_file(home)
    private_dir(path.parent)
    # Written whole then renamed, so a reader never sees half a file.
    write_private(path, (json.dumps(state.to_json(), indent=2) + "\n").encode())


def remove_state(home: Path, pid: int | None = None) -> None:
    """Remove the state file (only if it names ``pid``, when given)."""
    current = read_state(home)
    if pid is not None and current is not None and current.pid != pid:
        return
    state_file(home).unlink(missing_ok=True)


def is_control_plane_process(pid: int, home: Path | None = None) -> bool:
    """True when ``pid`` runs this daemon (for ``home``, when given): never signal a stranger."""
    args = processes.cmdline(pid)
    if DAEMON_MODULE not in args:
        return False
    if home is None:
        return True
    try:
        given = args[args.index("--home") + 1]
    except (ValueError, IndexError):
        return False
    return Path(given).resolve() == home.resolve()


def control_plane_pids(home: Path) -> list[int]:
    """Every live control plane process for ``home``, found by its command line."""
    return processes.matching(lambda pid: is_control_plane_process(pid, home))


def labs_dir(home: Path) -> Path:
    """The labs root of the plane of ``home`` (``LocalControlPlane.labs_root`` of its state
    directory)."""
    return local_dir(home) / "labs"


def sandbox_processes(home: Path) -> list[int]:
    """Every process of the local lab VMs of ``home``'s plane: those whose ADS_SANDBOX lies
    under ``home`` or is a sandbox its labs root links to, and those of uids leased for
    its labs."""
    from ads.providers.local_processes import plane_processes, processes_under

    return sorted({*processes_under(home), *plane_processes(labs_dir(home))})


# -- the daemon ---------------------------------------------------------------


def _configure_logging(home: Path) -> None:
    """Log (JSON, one object a line) to the log file, and to the terminal in the foreground."""
    import logging

    from ads.observability import logger

    path = log_file(home)
    private_dir(path.parent)
    # The log names every owner and lab id: an older, world-readable one is fixed here.
    restrict_file(path)
    try:
        detached = os.path.samestat(os.fstat(sys.stdout.fileno()), os.stat(path))
    except (OSError, ValueError, AttributeError):
        detached = False
    # Detached, stdout already is the log file (`ads local up` points it there).
    if not detached:
        handler = logging.FileHandler(path)
        handler.setFormatter(logger.registered_formatter)
        logger.addHandler(handler)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def serve(home: Path, port: int, time_scale: float, stop: threading.Event) -> int:
    """Run the control plane until ``stop`` is set. Returns the process exit code."""
    from ads.local.api_auth import RequestAuthenticator, create_credentials, credentials_file
    from ads.local.http_api import LocalApiServer
    from ads.local.recovery import reconcile
    from ads.local.runtime import LocalControlPlane
    from ads.observability import logger as log

    home = home.resolve()
    state_dir = private_dir(local_dir(home))
    plane = LocalControlPlane(
        state_dir, time_scale=time_scale, records_file=state_dir / RECORDS_FILE_NAME
    )
    secrets_path = credentials_file(state_dir)
    authenticator = RequestAuthenticator(
        create_credentials(state_dir),
        hint=f"; sign with the credentials in {secrets_path} (the ads CLI does so by itself)",
    )
    # Bind first: a taken port is the likeliest failure and costs nothing to find out.
    try:
        server = LocalApiServer(plane.invoke_api, port, authenticator=authenticator)
    except OSError as exc:
        log.error("cannot listen", port=port, error=str(exc))
        print(
            f"ads-local: port {port} on 127.0.0.1 is not available ({exc.strerror}); "
            "choose another with --port",
            file=sys.stderr,
        )
        return 1
    log.info("starting the control plane", home=str(home), time_scale=time_scale)
    try:
        plane.start()
    except Exception:
        log.exception("the control plane did not start")
        server.server_close()
        try:
            plane.stop()
        except Exception:
            log.exception("cleaning up after the failed start failed too")
        return 1
    try:
        report = reconcile(plane)
        log.info("records reconciled", **report.to_json())
    except Exception:
        log.exception("reconciling the records failed; serving them as they are")
    if plane.timers.start_health_watch():
        log.info("health watch started", interval_s=plane.config.watch_interval_s)
    if plane.timers.start_sweep():
        log.info("sweep started", interval_s=plane.config.sweep_interval_s)
    if plane.timers.start_lab_schedules():
        log.info("lab schedules started", group=plane.config.schedule_group)
    if plane.timers.start_ttl():
        log.info("TTL deletions started", interval_s=plane.config.local_ttl_interval_s)
    try:
        server.start()
        state = ControlPlaneState(
            endpoint=server.endpoint,
            pid=os.getpid(),
            started=_now_iso(),
            home=str(home),
            time_scale=time_scale,
        )
        write_state(home, state)
        log.info("control plane ready", endpoint=server.endpoint, pid=os.getpid())
        stop.wait()
        log.info("stopping the control plane")
        return 0
    finally:
        remove_state(home, os.getpid())
        server.stop()
        secrets_path.unlink(missing_ok=True)
        try:
            plane.stop()
        except Exception:
            log.exception("stopping the control plane failed; `ads local down` cleans up")
        log.info("control plane stopped")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ads.local.daemon",
        description="The ADS local control plane (started by `ads local up`).",
    )
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--home", type=Path, required=True, help="ADS home directory")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiplier for the state machines' retry waits (e.g. 0.1 is ten times faster)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problem = processes.host_problem()
    if problem:
        print(f"ads-local: {problem}", file=sys.stderr)
        return 1
    if not 0 <= args.port <= 65535:
        print(f"ads-local: --port: found {args.port}; allowed: 0..65535", file=sys.stderr)
        return 2
    if not 0 < args.time_scale <= 10:
        print(
            f"ads-local: --time-scale: found {args.time_scale}; allowed: more than 0, at most 10",
            file=sys.stderr,
        )
        return 2
    restrict_umask()
    home = args.home.expanduser().resolve()
    _configure_logging(home)
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: Any) -> None:
        # Only set the event: logging from a signal handler can deadlock on the log lock.
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    started = time.monotonic()
    code = serve(home, args.port, args.time_scale, stop)
    from ads.observability import logger

    logger.info("exiting", exit_code=code, uptime_s=round(time.monotonic() - started, 1))
    return code


if __name__ == "__main__":
    sys.exit(main())
