"""Keeps ``serve`` running where systemd is absent (the local provider, minimal images).

It restarts the server whenever it exits, backing off when it keeps dying at once, and
on SIGTERM or SIGINT it stops the server and exits cleanly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ads_agent import state
from ads_agent.logs import JsonLog

_STOP_GRACE_S = 10.0
_MIN_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 30.0
_STABLE_AFTER_S = 60.0
# `python -m ads_agent` in the child must find this very copy of the package.
_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


class Supervisor:
    def __init__(self, serve_command: list[str], state_dir: Path, log: JsonLog) -> None:
        self.serve_command = serve_command
        self.state_dir = state_dir
        self.log = log
        self.child: subprocess.Popen | None = None
        self.stopping = False

    def _on_signal(self, _signum: int, _frame: Any) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.child.send_signal(signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        pid_path = self.state_dir / state.SUPERVISOR_PID_FILE
        self.state_dir.mkdir(parents=True, exist_ok=True)
        pid_path.write_text(f"{os.getpid()}\n")
        backoff = _MIN_BACKOFF_S
        try:
            while not self.stopping:
                began = time.monotonic()
                # The environment is inherited unchanged (see the runner's note on why).
                self.child = subprocess.Popen(
                    self.serve_command, stdin=subprocess.DEVNULL, cwd=str(_PACKAGE_PARENT)
                )
                self.log.info("serve_started", pid=self.child.pid)
                code = self._wait_child()
                if self.stopping:
                    break
                lived = time.monotonic() - began
                backoff = (
                    _MIN_BACKOFF_S if lived > _STABLE_AFTER_S else min(backoff * 2, _MAX_BACKOFF_S)
                )
                self.log.warning(
                    "serve_exited", exit_code=code, lived_s=round(lived, 1), restart_in_s=backoff
                )
                self._sleep(backoff)
        finally:
            self._stop_child()
            if _read_pid(pid_path) == os.getpid():
                with contextlib.suppress(OSError):
                    pid_path.unlink()
            self.log.info("supervisor_stopped")
        return 0

    def _wait_child(self) -> int:
        assert self.child is not None
        while True:
            try:
                return self.child.wait()
            except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for safety
                continue

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, deadline - time.monotonic()))

    def _stop_child(self) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            return
        try:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        except ProcessLookupError:
            pass


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def serve_command(
    host: str, port: int, state_dir: Path, lab_dir: Path, log_file: str | None
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "ads_agent",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        "--lab-dir",
        str(lab_dir),
    ]
    if log_file:
        command += ["--log-file", log_file]
    return command
