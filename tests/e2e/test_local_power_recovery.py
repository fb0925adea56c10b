"""End to end: a STOPPED lab survives `kill -9` of the local control plane.

Its own ADS_HOME and control plane. Before the fix the restarted plane's sweep took the
stopped lab's sandbox for an orphan (no READY record owned it) and removed it, so the
record said STOPPED while nothing was left to start.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ads.local.daemon import read_state
from ads.processes import alive
from tests.e2e.harness import kill_leftovers, run_ads

pytestmark = pytest.mark.e2e

HELLO_WEB = "events/labs/hello-web"


def _page(url: str) -> tuple[int | None, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return None, str(exc)


@pytest.fixture
def home(tmp_path: Path):
    home = tmp_path / "ads-home"
    yield home
    run_ads(home, "local", "down", timeout=120)
    kill_leftovers(home)


def test_given_a_stopped_lab_when_the_daemon_is_killed_and_restarted_then_it_stays_stopped_and_starts(
    home,
):
    started = run_ads(home, "local", "up", "--port", "0", "--timeout", "120")
    assert started.returncode == 0, started.explain()
    first = read_state(home)
    deployed = run_ads(home, "deploy", HELLO_WEB, "--wait", "--json")
    assert deployed.returncode == 0, deployed.explain()
    lab_id = deployed.json()["lab_id"]
    stopped = run_ads(home, "stop", lab_id, "--wait")
    assert stopped.returncode == 0, stopped.explain()

    os.kill(first.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(first.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    again = run_ads(home, "local", "up", "--port", "0", "--timeout", "120")
    assert again.returncode == 0, again.explain()

    shown = run_ads(home, "show", lab_id, "--json")
    assert shown.returncode == 0, shown.explain()
    assert shown.json()["status"] == "STOPPED", shown.explain()
    restarted = run_ads(home, "start", lab_id, "--wait", "--json")
    assert restarted.returncode == 0, restarted.explain()
    status, body = _page(restarted.json()["app_url"])
    assert status == 200 and lab_id in body, body
