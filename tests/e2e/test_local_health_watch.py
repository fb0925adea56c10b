"""End to end: the health watch on the local plane. hello-web is deployed, its agent and
the agent's supervisor are killed (by pid, the lab's own processes only), the lab becomes
DEGRADED and is then recovered to READY by a restart, its page serving again.

Its own ADS_HOME and control plane, with the watch made quick through the configuration
(a check a second, DEGRADED after two failed checks).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ads import processes
from ads.providers.local_processes import sandbox_processes
from tests.e2e.harness import ADS, REPO_ROOT, CommandResult, kill_leftovers, user_env

pytestmark = pytest.mark.e2e

HELLO_WEB = "events/labs/hello-web"
WATCH_ENV = {
    "ADS_WATCH_INTERVAL_S": "1",
    "ADS_WATCH_FAILURES": "2",
    "ADS_WATCH_DEADLINE_S": "120",
    "ADS_HEALTH_TIMEOUT_S": "1",
}


def _ads(home: Path, *args: str, timeout: float = 120) -> CommandResult:
    completed = subprocess.run(
        [str(ADS), *args],
        cwd=REPO_ROOT,
        env={**user_env(home), **WATCH_ENV},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CommandResult(list(args), completed.returncode, completed.stdout, completed.stderr)


def _page(url: str) -> tuple[int | None, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return None, str(exc)


def _agent_pids(sandbox: str) -> list[int]:
    """The lab's agent and its supervisor: processes of this sandbox running ads_agent
    serve or supervise (the lab's application is left running)."""
    found = []
    for pid in sandbox_processes(sandbox):
        args = processes.cmdline(pid)
        if "ads_agent" in args and ({"serve", "supervise"} & set(args)):
            found.append(pid)
    return found


def _record_once_recovered(home: Path, lab_id: str, timeout_s: float) -> dict:
    """The lab's record once it went DEGRADED and is READY again with the watch's findings
    cleared (DEGRADED may last only until the recovery starts: the history keeps it)."""
    record: dict = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        shown = _ads(home, "show", lab_id, "--json")
        if shown.returncode == 0:
            record = shown.json()
            degraded = any(c["status"] == "DEGRADED" for c in record["status_history"])
            if degraded and record["status"] == "READY" and not record.get("health"):
                return record
        time.sleep(0.5)
    return record


@pytest.fixture
def home(tmp_path: Path):
    home = tmp_path / "ads-home"
    yield home
    _ads(home, "local", "down")
    kill_leftovers(home)


def test_given_a_ready_lab_when_its_agent_is_killed_then_it_becomes_degraded_and_is_recovered_to_ready(
    home,
):
    started = _ads(home, "local", "up", "--port", "0", "--timeout", "120")
    assert started.returncode == 0, started.explain()
    deployed = _ads(home, "deploy", HELLO_WEB, "--wait", "--json")
    assert deployed.returncode == 0, deployed.explain()
    lab_id = deployed.json()["lab_id"]
    try:
        sandbox = deployed.json()["vm_details"]["sandbox"]
        agents = _agent_pids(sandbox)
        assert agents, f"no agent process found for the sandbox {sandbox}"
        for pid in agents:
            os.kill(pid, signal.SIGKILL)

        record = _record_once_recovered(home, lab_id, timeout_s=40)
        history = [(c["status"], c["note"]) for c in record["status_history"]]
        assert record["status"] == "READY" and not record.get("health"), json.dumps(history)
        statuses = [status for status, _ in history]
        degraded = statuses.index("DEGRADED")
        # DEGRADED with the cause, the watch's restart, its health check, READY again.
        assert statuses[degraded:] == ["DEGRADED", "RESTARTING", "HEALTH_CHECKING", "READY"]
        assert history[degraded][1].startswith("health check failed 2 time(s) in a row")
        assert history[-1][1] == "restarted"
        assert record.get("cause") is None
        status, body = _page(record["app_url"])
        assert status == 200 and lab_id in body, body
    finally:
        destroyed = _ads(home, "destroy", lab_id, "--wait")
        assert destroyed.returncode == 0, destroyed.explain()
