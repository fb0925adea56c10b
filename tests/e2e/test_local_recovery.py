"""End to end: `kill -9` of the local control plane loses nothing and orphans nothing.

Its own ADS_HOME and control plane (not the session's, which other files rely on):
two labs READY, one deploying (a build step that sleeps), a stray lab process no
record owns; the daemon is killed with SIGKILL and `ads local up` starts it again.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ads import processes
from ads.local.daemon import local_dir, read_state
from ads.processes import alive
from tests.e2e.harness import REPO_ROOT, auth_headers, kill_leftovers, leftover_processes, run_ads

pytestmark = pytest.mark.e2e

HELLO_WEB = "events/labs/hello-web"
FAILING_BUILD = REPO_ROOT / "events/labspecs/failing-build.labspec.json"
SETTLE_TIMEOUT_S = 90


def _slow_labspec(path: Path) -> Path:
    spec = json.loads(FAILING_BUILD.read_text())
    spec["lab"]["description"].update(id="slow-build", name="Slow Build")
    spec["lab"]["build_requirements"]["platform"]["build_steps"]["build"] = ["sleep 300"]
    spec["lab"]["runtime_requirements"]["platform"]["lab_actions"]["start"] = ["true"]
    path.write_text(json.dumps(spec))
    return path


def _http(method: str, url: str, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _processes_naming(text: str) -> list[int]:
    """Live processes whose ADS_SANDBOX or command line names ``text`` (a lab id)."""

    def names(pid: int) -> bool:
        sandbox = processes.environ(pid).get("ADS_SANDBOX", "")
        return text in sandbox or any(text in arg for arg in processes.cmdline(pid))

    return [pid for pid in processes.matching(names) if processes.alive(pid)]


def _wait_for(what: str, check, timeout: float = SETTLE_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.fixture
def home(tmp_path: Path):
    home = tmp_path / "ads-home"
    stray: list[subprocess.Popen] = []
    yield home, stray
    run_ads(home, "local", "down", timeout=120)
    for process in stray:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)
    kill_leftovers(home)


def _status(home: Path, lab_id: str) -> dict:
    result = run_ads(home, "show", lab_id, "--json")
    assert result.returncode == 0, result.explain()
    return result.json()


def test_given_ready_and_deploying_labs_when_the_daemon_is_killed_and_restarted_then_nothing_is_lost_or_orphaned(
    home, tmp_path: Path
):
    home, stray = home
    started = run_ads(home, "local", "up", "--port", "0", "--timeout", "120")
    assert started.returncode == 0, started.explain()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    first = read_state(home)
    endpoint = first.endpoint

    # Given: two labs deploying to READY and one whose build step sleeps, sent with an
    # Idempotency-Key so that its retry after the restart can be checked.
    ready_ids = []
    for _ in range(2):
        result = run_ads(home, "deploy", HELLO_WEB, "--json")
        assert result.returncode == 0, result.explain()
        ready_ids.append(result.json()["lab_id"])
    slow_body = {"labspec": json.loads(_slow_labspec(tmp_path / "slow.json").read_text())}
    key = {**auth_headers(home), "Idempotency-Key": "slow-lab-request-1"}
    status, answer = _http("POST", f"{endpoint}/labs", slow_body, key)
    assert status == 202, answer
    slow_id = answer["lab_id"]
    for lab_id in ready_ids:
        _wait_for(f"{lab_id} READY", lambda i=lab_id: _status(home, i)["status"] == "READY")
    _wait_for(
        "the slow build running",
        lambda: _status(home, slow_id)["status"] == "INITIALIZING" and _processes_naming(slow_id),
    )
    # ... and a process in a sandbox no record owns.
    orphan_dir = local_dir(home) / "labs" / "orphan-lab"
    orphan_dir.mkdir(parents=True)
    orphan = subprocess.Popen(
        ["sleep", "300"], env={**os.environ, "ADS_SANDBOX": str(orphan_dir)}, start_new_session=True
    )
    stray.append(orphan)
    # ... and one in a sandbox outside $ADS_HOME that the labs root links to, as a root
    # plane keeps the sandboxes its labs' uids could not reach under $ADS_HOME.
    linked_dir = tmp_path / "ads-sandboxes" / "linked-orphan-0123456789ab"
    linked_dir.mkdir(parents=True)
    (local_dir(home) / "labs" / "linked-orphan").symlink_to(linked_dir)
    linked = subprocess.Popen(
        ["sleep", "300"], env={**os.environ, "ADS_SANDBOX": str(linked_dir)}, start_new_session=True
    )
    stray.append(linked)
    assert linked.pid in leftover_processes(home)

    # When: the daemon dies without a chance to clean up, and is started again.
    os.kill(first.pid, signal.SIGKILL)
    _wait_for("the daemon gone", lambda: not alive(first.pid), timeout=10)
    assert all(_processes_naming(i) for i in ready_ids), "the READY labs should outlive it"
    again = run_ads(home, "local", "up", "--port", "0", "--timeout", "120")
    assert again.returncode == 0, again.explain()
    assert read_state(home).pid != first.pid

    # Then: every id answers; READY labs are READY and their agents still serve them.
    for lab_id in ready_ids:
        record = _status(home, lab_id)
        assert record["status"] == "READY", record
        code, health = _http("GET", record["endpoint"].rstrip("/") + "/health")
        assert code == 200 and health["lab_id"] == lab_id
    # The deployment in flight is FAILED with the cause, and its processes are gone.
    record = _status(home, slow_id)
    assert record["status"] == "FAILED", record
    assert "control plane restarted during Initialise VM" in record["cause"]
    assert record["failed_step"] == "Initialise VM"
    assert _processes_naming(slow_id) == []
    # The retried request (with this start's credential) answers the same lab instead of
    # deploying it twice.
    key.update(auth_headers(home))
    status, replay = _http("POST", f"{read_state(home).endpoint}/labs", slow_body, key)
    assert status in (200, 202), replay
    assert replay["lab_id"] == slow_id
    # What no record owned is gone.
    orphan.wait(timeout=10)
    assert not orphan_dir.exists()
    linked.wait(timeout=10)
    assert not linked_dir.exists()
    assert not (local_dir(home) / "labs" / "linked-orphan").is_symlink()
    listed = run_ads(home, "list", "--json")
    assert {lab["lab_id"] for lab in listed.json()["labs"]} == {*ready_ids, slow_id}

    # A READY lab from before the crash can be destroyed.
    destroyed = run_ads(home, "destroy", ready_ids[0], "--wait", "--json")
    assert destroyed.returncode == 0, destroyed.explain()
    assert destroyed.json()["status"] == "DESTROYED"
    assert _processes_naming(ready_ids[0]) == []

    # Taking the plane down ends every lab process and records it; the ids still answer.
    down = run_ads(home, "local", "down", timeout=120)
    assert down.returncode == 0, down.explain()
    assert leftover_processes(home) == []
    assert all(_processes_naming(i) == [] for i in (*ready_ids, slow_id))
    assert run_ads(home, "local", "up", "--port", "0", "--timeout", "120").returncode == 0
    statuses = {i: _status(home, i)["status"] for i in (*ready_ids, slow_id)}
    assert statuses == {ready_ids[0]: "DESTROYED", ready_ids[1]: "DESTROYED", slow_id: "FAILED"}
