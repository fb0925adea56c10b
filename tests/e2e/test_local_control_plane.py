"""End to end: `ads local up`, then the CLI and plain HTTP against it, each in its own process.

The tests run in file order against one control plane (the session fixture); the last
one takes it down and checks that no ADS process is left.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ads.local.daemon import state_file
from ads.processes import alive, with_environ
from tests.e2e.harness import auth_headers, leftover_processes, run_ads

pytestmark = pytest.mark.e2e

HELLO_WEB = "events/labs/hello-web"
FAILING_BUILD = "events/labspecs/failing-build.labspec.json"
OTHER_PRINCIPAL = "arn:aws:iam::123456789012:user/someone-else"


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except urllib.error.URLError as exc:
        return None, str(exc.reason)


@pytest.fixture(scope="module")
def deployed_lab(local_plane):
    """hello-web deployed with `ads deploy --wait --json`, as its record."""
    result = local_plane.ads("deploy", HELLO_WEB, "--wait", "--json")
    assert result.returncode == 0, result.explain()
    record = result.json()
    assert record["status"] == "READY", result.explain()
    return record


def test_given_nothing_running_when_status_is_asked_then_it_says_not_running_with_exit_1(
    tmp_path: Path,
):
    result = run_ads(tmp_path, "local", "status")
    assert result.returncode == 1, result.explain()
    assert "not running" in result.stdout


def test_given_a_running_plane_when_up_is_run_again_then_it_says_so_and_keeps_the_same_process(
    local_plane,
):
    result = local_plane.ads("local", "up")
    assert result.returncode == 0, result.explain()
    assert "already running" in result.stdout
    assert local_plane.endpoint in result.stdout
    assert json.loads(state_file(local_plane.home).read_text())["pid"] == local_plane.pid


def test_given_a_deploy_with_wait_when_it_returns_then_the_lab_is_ready_and_its_page_is_served(
    deployed_lab,
):
    assert deployed_lab["endpoint"].startswith("http://127.0.0.1:")
    status, body = http("GET", deployed_lab["endpoint"].rstrip("/") + "/health")
    assert status == 200, body
    assert json.loads(body)["lab_id"] == deployed_lab["lab_id"]
    assert deployed_lab.get("app_url"), deployed_lab
    status, page = http("GET", deployed_lab["app_url"])
    assert status == 200
    assert "Hello from ADS" in page
    assert deployed_lab["lab_id"] in page


def test_given_a_ready_lab_when_listed_from_another_process_then_it_appears_ready(
    local_plane, deployed_lab
):
    result = local_plane.ads("list", "--json")
    assert result.returncode == 0, result.explain()
    statuses = {lab["lab_id"]: lab["status"] for lab in result.json()["labs"]}
    assert statuses.get(deployed_lab["lab_id"]) == "READY"


def test_given_a_ready_lab_when_fetched_with_plain_http_then_the_api_answers_its_record(
    local_plane, deployed_lab
):
    headers = auth_headers(local_plane.home)
    status, body = http(
        "GET", f"{local_plane.endpoint}/labs/{deployed_lab['lab_id']}", None, headers
    )
    assert status == 200, body
    record = json.loads(body)
    assert record["status"] == "READY"
    assert record["owner"] == "arn:aws:iam::123456789012:user/local"
    status, body = http(
        "GET", f"{local_plane.endpoint}/labs/{deployed_lab['lab_id']}/history", None, headers
    )
    assert status == 200, body
    names = [s["name"] for e in json.loads(body)["executions"] for s in e["states"]]
    assert "Create VM" in names and "Check Health" in names


def test_given_another_principal_when_it_lists_labs_then_it_does_not_see_the_local_users_lab(
    local_plane, deployed_lab
):
    as_other = {**auth_headers(local_plane.home, admin=True), "X-Ads-Principal": OTHER_PRINCIPAL}
    status, body = http("GET", f"{local_plane.endpoint}/labs", headers=as_other)
    assert status == 200, body
    assert deployed_lab["lab_id"] not in {lab["lab_id"] for lab in json.loads(body)["labs"]}


def test_given_a_running_plane_when_status_is_asked_then_it_reports_endpoint_pid_and_labs(
    local_plane, deployed_lab
):
    result = local_plane.ads("local", "status", "--json")
    assert result.returncode == 0, result.explain()
    report = result.json()
    assert report["running"] is True
    assert report["endpoint"] == local_plane.endpoint
    assert report["pid"] == local_plane.pid
    assert {"lab_id": deployed_lab["lab_id"], "status": "READY"} in report["labs"]


def test_given_a_ready_lab_when_destroyed_with_wait_then_it_is_destroyed_and_its_processes_gone(
    local_plane, deployed_lab
):
    lab_id = deployed_lab["lab_id"]
    result = local_plane.ads("destroy", lab_id, "--wait", "--json")
    assert result.returncode == 0, result.explain()
    assert result.json()["status"] == "DESTROYED"
    status, body = http(
        "GET", f"{local_plane.endpoint}/labs/{lab_id}", None, auth_headers(local_plane.home)
    )
    assert json.loads(body)["status"] == "DESTROYED"
    # Wherever its sandbox was (under ADS_HOME or in <tmp>/ads-sandboxes/), nothing of it runs.
    assert not [pid for pid, sandbox in with_environ("ADS_SANDBOX") if lab_id in sandbox]
    status, _ = http("GET", deployed_lab["app_url"])
    assert status != 200


def test_given_a_running_plane_when_the_demo_runs_then_it_goes_to_ready_and_destroyed(
    local_plane,
):
    result = local_plane.ads("demo")
    assert result.returncode == 0, result.explain()
    out = result.stdout
    assert f"Using the ADS local control plane at {local_plane.endpoint}" in out
    for expected in ("READY", "/health -> 200", "Hello from ADS", "Create VM", "DESTROYED"):
        assert expected in out, result.explain()
    # The demo did not start this plane, so it leaves it running.
    assert alive(local_plane.pid)


def test_given_a_failing_build_when_the_demo_runs_then_it_shows_failed_with_the_cause(
    local_plane,
):
    result = local_plane.ads("demo", FAILING_BUILD)
    assert result.returncode != 0, result.explain()
    assert "FAILED" in result.output
    assert "no such file" in result.output, result.explain()
    assert alive(local_plane.pid)


@pytest.mark.takes_plane_down
def test_given_a_running_plane_when_it_is_taken_down_then_no_ads_process_is_left(local_plane):
    result = local_plane.ads("local", "down")
    assert result.returncode == 0, result.explain()
    assert "stopped" in result.stdout
    assert not alive(local_plane.pid)
    assert leftover_processes(local_plane.home) == []
    assert not state_file(local_plane.home).exists()
    again = local_plane.ads("local", "down")
    assert again.returncode == 0, again.explain()
    assert "not running" in again.stdout
