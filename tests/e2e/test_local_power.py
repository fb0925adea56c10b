"""End to end on the local plane over HTTP: `ads stop --wait` takes hello-web's page away,
`ads start --wait` brings it back (the real agent, the real lab), then the lab is destroyed."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.e2e

HELLO_WEB = "events/labs/hello-web"


def page(url: str) -> tuple[int | None, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return None, str(getattr(exc, "reason", exc))


def test_given_a_ready_lab_when_stopped_then_started_with_wait_then_its_page_goes_and_comes_back(
    local_plane,
):
    deployed = local_plane.ads("deploy", HELLO_WEB, "--wait", "--json")
    assert deployed.returncode == 0, deployed.explain()
    lab_id = deployed.json()["lab_id"]
    try:
        status, body = page(deployed.json()["app_url"])
        assert status == 200 and lab_id in body, body

        stopped = local_plane.ads("stop", lab_id, "--wait", "--json")
        assert stopped.returncode == 0, stopped.explain()
        record = stopped.json()
        assert record["status"] == "STOPPED", stopped.explain()
        assert f"{lab_id} STOPPING" in stopped.stderr
        status, body = page(deployed.json()["app_url"])
        assert status is None, f"a stopped lab's page still answers {status}: {body[:200]}"
        assert record["cost"]["compute_hourly_usd"] == 0.0
        shown = local_plane.ads("show", lab_id)
        assert "Cost:" in shown.stdout and "stopped: no compute is billed" in shown.stdout

        again = local_plane.ads("stop", lab_id)
        assert again.returncode == 4, again.explain()
        assert "is STOPPED" in again.stderr

        started = local_plane.ads("start", lab_id, "--wait", "--json")
        assert started.returncode == 0, started.explain()
        record = started.json()
        assert record["status"] == "READY", started.explain()
        # The refreshed record says where the page is now.
        status, body = page(record["app_url"])
        assert status == 200, body
        assert "Hello from ADS" in body and lab_id in body
    finally:
        destroyed = local_plane.ads("destroy", lab_id, "--wait")
        assert destroyed.returncode == 0, destroyed.explain()
