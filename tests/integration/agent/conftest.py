"""Fixtures that run the real agent as processes on 127.0.0.1 inside a sandbox directory.

Every process a test starts carries ``ADS_SANDBOX=<its tmp dir>`` in its environment
(the agent passes its environment on to everything it starts), so the teardown finds
all of them, the lab's own background processes included, kills them by pid and checks
that none is left.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
AGENT_PACKAGE = REPO_ROOT / "ads_agent"
INSTALL_SH = AGENT_PACKAGE / "install.sh"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_gone(pid: int) -> bool:
    """Exited, or a zombie nobody reaped yet (this machine's pid 1 may not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2] == "Z"


def pids_with_marker(marker: str) -> list[int]:
    needle = marker.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and not is_gone(int(entry)):
            found.append(int(entry))
    return found


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


def http_call(
    port: int,
    path: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict | None = None,
) -> HttpAnswer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return HttpAnswer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()


@dataclass
class RunningAgent:
    process: subprocess.Popen
    port: int

    def get(self, path: str, **kwargs: Any) -> HttpAnswer:
        return http_call(self.port, path, **kwargs)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)


class Sandbox:
    """A directory standing for one VM: ``state/``, ``lab/scripts/``, and the processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state_dir = root / "state"
        self.lab_dir = root / "lab"
        self.env = dict(os.environ, ADS_SANDBOX=str(root))
        self.env.pop("PYTHONPATH", None)
        self.agents: list[RunningAgent] = []
        (self.lab_dir / "scripts").mkdir(parents=True)
        self.state_dir.mkdir()

    @property
    def marker(self) -> str:
        return f"ADS_SANDBOX={self.root}"

    def write_plan(
        self,
        steps: list[tuple[str, list[str]]] | None = None,
        actions: dict[str, list[str]] | None = None,
        health_probe: dict | None = None,
    ) -> dict:
        plan = {
            "lab_name": "Test Lab",
            "steps": [{"name": n, "commands": c} for n, c in (steps or [])],
            "actions": actions or {},
            "health_probe": health_probe,
        }
        (self.state_dir / "plan.json").write_text(json.dumps(plan))
        return plan

    def write_lab(self, lab_id: str = "test-lab-1", lab_port: int | None = 18080) -> None:
        (self.state_dir / "lab.json").write_text(
            json.dumps(
                {
                    "lab_id": lab_id,
                    "lab_name": "Test Lab",
                    "lab_port": lab_port,
                    "source": {"kind": "none", "url": None, "ref": None},
                    "source_revision": "none",
                }
            )
        )

    def agent_cli(
        self, *args: str, timeout: float = 60, python: str = sys.executable
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [python, "-m", "ads_agent", *args],
            cwd=str(REPO_ROOT),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def lab_commands(
        self, *args: str, timeout: float = 60, python: str = sys.executable
    ) -> subprocess.CompletedProcess:
        return self.agent_cli(
            *args,
            "--state-dir",
            str(self.state_dir),
            "--lab-dir",
            str(self.lab_dir),
            timeout=timeout,
            python=python,
        )

    def start_agent(
        self,
        port: int | None = None,
        log_file: Path | None = None,
        extra_args: tuple[str, ...] = (),
        python: str = sys.executable,
    ) -> RunningAgent:
        chosen = free_port() if port is None else port
        command = [
            python, "-m", "ads_agent", "serve", "--host", "127.0.0.1",
            "--port", str(chosen), "--state-dir", str(self.state_dir), "--lab-dir", str(self.lab_dir),
        ]  # fmt: skip
        if log_file is not None:
            command += ["--log-file", str(log_file)]
        command += list(extra_args)
        process = subprocess.Popen(
            command,
            cwd=str(REPO_ROOT),
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL if log_file is None else None,
        )
        agent_file = self.state_dir / "agent.json"

        def ready() -> bool:
            try:
                info = json.loads(agent_file.read_text())
            except (OSError, ValueError):
                return False
            return info.get("pid") == process.pid

        if not wait_until(ready, timeout=15):
            process.kill()
            process.wait()
            raise AssertionError("the agent did not write agent.json within 15 s")
        agent = RunningAgent(process, json.loads(agent_file.read_text())["port"])
        self.agents.append(agent)
        return agent

    def cleanup(self) -> list[int]:
        """Stop what the test started, then anything else carrying the marker; returns
        the pids that were still running after the agents were stopped."""
        for agent in self.agents:
            try:
                agent.stop()
            except subprocess.TimeoutExpired:
                agent.process.kill()
                agent.process.wait()
        stragglers = pids_with_marker(self.marker)
        for pid in stragglers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return stragglers


@pytest.fixture
def sandbox(tmp_path: Path):
    box = Sandbox(tmp_path)
    yield box
    box.cleanup()
    assert wait_until(lambda: not pids_with_marker(box.marker), timeout=10), (
        f"processes left behind: {pids_with_marker(box.marker)}"
    )


@pytest.fixture(scope="session")
def openapi_document() -> dict:
    return json.loads((AGENT_PACKAGE / "openapi.json").read_text())
