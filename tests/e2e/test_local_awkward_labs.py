"""Labs that are valid but unusual, deployed on a running ``ads local up``: one that
serves no web page, one whose start command hangs past its timeout.

(The file sorts before test_local_control_plane.py, whose last test takes the session's
plane down.)"""

from __future__ import annotations

import json

NO_WEB_PAGE = "events/labspecs/no-web-page.labspec.json"
HUNG_START = "events/labspecs/hung-start.labspec.json"


def test_given_a_lab_without_a_web_page_when_the_demo_runs_then_it_says_so_and_exits_0(
    local_plane,
):
    result = local_plane.ads("demo", NO_WEB_PAGE)

    assert result.returncode == 0, result.explain()
    assert "READY" in result.stdout
    assert "serves no web page" in result.stdout
    assert "/health -> 200" in result.stdout
    assert "DESTROYED" in result.stdout
    assert "not 200" not in result.output


def test_given_a_start_command_that_hangs_when_deployed_then_failed_naming_it_and_its_timeout(
    local_plane,
):
    deployed = local_plane.ads("deploy", HUNG_START, "--wait", "--json", "--timeout", "240")

    assert deployed.returncode != 0, deployed.explain()
    record = json.loads(deployed.stdout)
    assert record["status"] == "FAILED", deployed.explain()
    assert "sleep 3600" in record["cause"]
    assert "timed out after 2 s" in record["cause"]
    destroyed = local_plane.ads("destroy", record["lab_id"], "--wait", "--timeout", "120")
    assert destroyed.returncode in (0, 4), destroyed.explain()
