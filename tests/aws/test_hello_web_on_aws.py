"""A real deployment: the hello-web lab on the deployed stack, opened through its
app_url, destroyed, and no ADS instance left behind."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.aws

HELLO_WEB = Path(__file__).resolve().parents[2] / "events" / "labs" / "hello-web"
LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]


def _fetch(url: str, deadline_s: float = 600) -> str:
    # DNS for a new host, the ALB's first health checks: the page may take a while.
    give_up = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read().decode("utf-8", "replace")
        except OSError:
            if time.monotonic() > give_up:
                raise
            time.sleep(10)


def _managed_instances(ec2) -> list[str]:
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": "tag:ads:managed", "Values": ["true"]},
            {"Name": "instance-state-name", "Values": LIVE_STATES},
        ]
    )["Reservations"]
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


def test_given_the_stack_when_hello_web_deploys_then_its_page_answers_and_nothing_is_left(
    control_plane,
):
    deployed = control_plane.ads("deploy", str(HELLO_WEB), "--wait", "--json")
    record = json.loads(deployed.stdout) if deployed.stdout.strip() else {}
    lab_id = record.get("lab_id")
    try:
        assert deployed.returncode == 0, deployed.stderr
        assert record["status"] == "READY"
        assert record["access"] == control_plane.access
        if control_plane.access == "private":
            connect = control_plane.ads("connect", lab_id, "--port", "80", "--print")
            assert "AWS-StartPortForwardingSession" in connect.stdout
        else:
            assert record["app_url"], record
            assert "Hello from ADS" in _fetch(record["app_url"])
    finally:
        if lab_id:
            destroyed = control_plane.ads("destroy", lab_id, "--wait", "--json")
            assert destroyed.returncode == 0, destroyed.stderr
    ec2 = control_plane.session.client("ec2")
    give_up = time.monotonic() + 600
    while _managed_instances(ec2) and time.monotonic() < give_up:
        time.sleep(15)
    assert _managed_instances(ec2) == []
