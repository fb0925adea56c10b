"""End to end: a lab's lease on the local plane. hello-web is deployed with a lease of a
few seconds (the configuration's minimum lowered for the test: the issue's ``--lease 2m``
behaves the same, only slower), is warned (``Lab Expiring`` noted in the record) and then
destroyed by itself, with the cause "lease expired" on the DESTROYED record and its page
gone; a renewal of the destroyed lab is refused with 409 (exit 4).

Its own ADS_HOME and control plane; the schedules are moto's, fired by the plane's timer.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import ADS, REPO_ROOT, CommandResult, kill_leftovers, user_env

pytestmark = pytest.mark.e2e

HELLO_WEB = "events/labs/hello-web"
LEASE_ENV = {"ADS_LEASE_MIN_S": "1", "ADS_WATCH_ENABLED": "false"}
LEASE = "20s"


def _ads(home: Path, *args: str, timeout: float = 120) -> CommandResult:
    completed = subprocess.run(
        [str(ADS), *args],
        cwd=REPO_ROOT,
        env={**user_env(home), **LEASE_ENV},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CommandResult(list(args), completed.returncode, completed.stdout, completed.stderr)


def _page_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


@pytest.fixture
def home(tmp_path: Path):
    home = tmp_path / "ads-home"
    yield home
    _ads(home, "local", "down")
    kill_leftovers(home)


def test_given_a_lab_deployed_with_a_short_lease_when_it_runs_out_then_the_lab_is_destroyed_with_the_cause(
    home,
):
    started = _ads(home, "local", "up", "--port", "0", "--timeout", "120")
    assert started.returncode == 0, started.explain()
    requested = time.monotonic()
    deployed = _ads(home, "deploy", HELLO_WEB, "--lease", LEASE, "--wait", "--json")
    assert deployed.returncode == 0, deployed.explain()
    lab = deployed.json()
    lab_id = lab["lab_id"]
    try:
        assert lab["lease"]["requested"] == LEASE and lab["lease"]["expires_at"], lab["lease"]
        shown = _ads(home, "show", lab_id)
        assert "Expires" in shown.stdout, shown.explain()

        record = lab
        deadline = requested + 35
        while record["status"] != "DESTROYED" and time.monotonic() < deadline:
            time.sleep(0.5)
            record = _ads(home, "show", lab_id, "--json").json()
        assert record["status"] == "DESTROYED", record["status_history"]
        assert record["cause"] == "lease expired"
        notes = [change["note"] for change in record["status_history"]]
        assert "lease expired" in notes, notes
        assert record["lease"].get("warned_at"), record["lease"]
        assert _page_status(lab["app_url"]) != 200

        renewed = _ads(home, "renew", lab_id, "1h")
        assert renewed.returncode == 4, renewed.explain()
        assert "DESTROYED" in renewed.stderr
    finally:
        shown = _ads(home, "show", lab_id, "--json")
        if shown.returncode == 0 and shown.json()["status"] not in ("DESTROYING", "DESTROYED"):
            _ads(home, "destroy", lab_id, "--wait")
