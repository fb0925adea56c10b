"""End to end on a local plane of its own with ADS_QUOTA_MAX_LABS=1: the second deploy is
refused with the quota named (exit 7) and nothing is created, `ads cost` counts a stop
and start (running and stopped hours), and the destroyed lab frees its place."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from ads.local.daemon import state_file
from ads.processes import alive
from tests.e2e.harness import RunningPlane, kill_leftovers, leftover_processes, run_ads

pytestmark = pytest.mark.e2e

HELLO_WEB = "events/labs/hello-web"
QUOTA = {"ADS_QUOTA_MAX_LABS": "1"}


@pytest.fixture(scope="module")
def quota_plane(tmp_path_factory):
    home = tmp_path_factory.mktemp("ads-home-quota")
    plane: RunningPlane | None = None
    try:
        started = run_ads(home, "local", "up", "--port", "0", "--timeout", "180", extra_env=QUOTA)
        assert started.returncode == 0, started.explain()
        state = json.loads(state_file(home).read_text())
        plane = RunningPlane(home=home, endpoint=state["endpoint"], pid=int(state["pid"]))
        yield plane
    finally:
        stopped = run_ads(home, "local", "down", timeout=120)
        deadline = time.monotonic() + 10
        while leftover_processes(home) and time.monotonic() < deadline:
            time.sleep(0.2)
        kill_leftovers(home)
        if plane is not None and alive(plane.pid):
            os.kill(plane.pid, signal.SIGKILL)
        assert stopped.returncode == 0, stopped.explain()


def test_given_a_quota_of_one_lab_when_a_second_is_deployed_then_refused_and_costs_count_stop_and_start(
    quota_plane,
):
    deployed = quota_plane.ads("deploy", HELLO_WEB, "--course", "CS 101", "--wait", "--json")
    assert deployed.returncode == 0, deployed.explain()
    lab_id = deployed.json()["lab_id"]
    destroyed = False
    try:
        second = quota_plane.ads("deploy", HELLO_WEB)
        assert second.returncode == 7, second.explain()
        assert "quota labs_per_owner exceeded" in second.stderr
        assert "the limit is 1" in second.stderr
        listed = quota_plane.ads("list", "--json")
        assert [lab["lab_id"] for lab in listed.json()["labs"]] == [lab_id]

        stopped = quota_plane.ads("stop", lab_id, "--wait")
        assert stopped.returncode == 0, stopped.explain()
        time.sleep(1.5)  # a stretch of stopped time, so the accrual has some to count
        started = quota_plane.ads("start", lab_id, "--wait")
        assert started.returncode == 0, started.explain()

        costs = quota_plane.ads("cost", "--json")
        assert costs.returncode == 0, costs.explain()
        [line] = costs.json()["labs"]
        assert line["lab_id"] == lab_id and line["course"] == "CS 101"
        assert line["hours_running"] > 0 and line["hours_stopped"] >= 1.0 / 3600
        [owner] = costs.json()["owners"]
        assert owner["labs"] == 1
        table = quota_plane.ads("cost")
        assert lab_id in table.stdout and "total (1 labs)" in table.stdout

        gone = quota_plane.ads("destroy", lab_id, "--wait")
        assert gone.returncode == 0, gone.explain()
        destroyed = True
        # Destroyed, it holds its place no longer: the next lab is accepted.
        again = quota_plane.ads("deploy", HELLO_WEB, "--json")
        assert again.returncode == 0, again.explain()
        removed = quota_plane.ads("destroy", again.json()["lab_id"], "--wait")
        assert removed.returncode == 0, removed.explain()
    finally:
        if not destroyed:
            quota_plane.ads("destroy", lab_id, "--wait")
