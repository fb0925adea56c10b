"""A lab of several VMs on a running ``ads local up``, deployed with ``ads deploy`` as a
user would: the two-role sample (a db role, and a web role of two VMs after it whose build
reads db-1's address and port from the cluster facts and serves a page naming them), and
the same lab with a web VM's build failing, which destroys every VM and names the VM.

(The file sorts before test_local_control_plane.py, whose last test takes the session's
plane down.)"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from ads.providers.local_processes import sandbox_processes
from tests.e2e.harness import REPO_ROOT

TWO_ROLE_LAB = REPO_ROOT / "events" / "labspecs" / "two-role-lab.labspec.json"
DEPLOY_TIMEOUT_S = "400"


def _page(url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 30
    while True:
        try:
            with opener.open(url, timeout=10) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _sandboxes(record: dict[str, Any]) -> list[str]:
    return [
        str((entry.get("vm_details") or {}).get("sandbox"))
        for entry in record["vms"].values()
        if (entry.get("vm_details") or {}).get("sandbox")
    ]


def _assert_nothing_left(sandboxes: list[str]) -> None:
    deadline = time.monotonic() + 30
    while any(sandbox_processes(s) for s in sandboxes) and time.monotonic() < deadline:
        time.sleep(0.5)
    for sandbox in sandboxes:
        assert sandbox_processes(sandbox) == [], sandbox
        assert not Path(sandbox).exists(), sandbox


def test_given_the_two_role_lab_when_deployed_then_the_web_page_names_the_db_vm_and_destroy_leaves_nothing(
    local_plane,
):
    deployed = local_plane.ads(
        "deploy", str(TWO_ROLE_LAB), "--wait", "--json", "--timeout", DEPLOY_TIMEOUT_S
    )

    assert deployed.returncode == 0, deployed.explain()
    record = deployed.json()
    assert record["status"] == "READY", deployed.explain()
    vms = record["vms"]
    assert set(vms) == {"db-1", "web-1", "web-2"}
    assert {entry["status"] for entry in vms.values()} == {"HEALTHY"}
    sandboxes = _sandboxes(record)
    assert len(set(sandboxes)) == 3
    db = vms["db-1"]
    db_port = db["vm_details"]["lab_ports"][0]
    where = f"{db['private_ip']}:{db_port}"
    for name in ("web-1", "web-2"):
        page = _page(vms[name]["app_url"])
        assert f'<code id="db">{where}</code>' in page, page
        assert f"{name} of lab {record['lab_id']}" in page
    # The lab's own app_url is its entry VM's (the first web VM).
    assert f'<code id="db">{where}</code>' in _page(record["app_url"])
    assert "the database stand-in db-1 (db) answers" in _page(db["app_url"])
    # ads connect opens the entry VM's sandbox, where the facts are ADS's file to read.
    shell = local_plane.ads(
        "connect", record["lab_id"], "--command", "cat ../ads/cluster_facts.json"
    )
    assert shell.returncode == 0, shell.explain()
    facts = json.loads(shell.stdout)
    assert [vm["name"] for vm in facts["vms"]] == ["db-1", "web-1", "web-2"]
    assert facts["vms"][0]["ports"] == [db_port]

    destroyed = local_plane.ads("destroy", record["lab_id"], "--wait", "--timeout", "180")

    assert destroyed.returncode == 0, destroyed.explain()
    _assert_nothing_left(sandboxes)


def test_given_a_web_vm_whose_build_fails_when_deployed_then_every_vm_is_destroyed_and_failed_names_the_vm(
    local_plane, tmp_path: Path
):
    labspec = json.loads(TWO_ROLE_LAB.read_text())
    web = labspec["lab"]["roles"]["web"]
    web["count"] = 1
    web["build_requirements"]["platform"]["build_steps"]["build"] = [
        "echo 'web cannot reach its database' >&2; exit 7"
    ]
    failing = tmp_path / "failing-web.labspec.json"
    failing.write_text(json.dumps(labspec))

    deployed = local_plane.ads(
        "deploy", str(failing), "--wait", "--json", "--timeout", DEPLOY_TIMEOUT_S
    )

    assert deployed.returncode != 0, deployed.explain()
    record = json.loads(deployed.stdout)
    assert record["status"] == "FAILED", deployed.explain()
    assert "(web-1)" in record["failed_step"], record["failed_step"]
    assert record["cause"].startswith("web-1: "), record["cause"]
    assert "exit 7" in record["cause"]
    shown = local_plane.ads("show", record["lab_id"], "--json")
    assert shown.returncode == 0, shown.explain()
    vms = shown.json()["vms"]
    assert {entry["status"] for entry in vms.values()} == {"DESTROYED"}, vms
    _assert_nothing_left(_sandboxes(shown.json()))


def test_given_a_ready_two_role_lab_when_stopped_then_started_then_every_vm_serves_again(
    local_plane,
):
    deployed = local_plane.ads(
        "deploy", str(TWO_ROLE_LAB), "--wait", "--json", "--timeout", DEPLOY_TIMEOUT_S
    )
    assert deployed.returncode == 0, deployed.explain()
    record = deployed.json()
    lab_id = record["lab_id"]
    sandboxes = _sandboxes(record)
    try:
        stopped = local_plane.ads("stop", lab_id, "--wait", "--json", "--timeout", "240")
        assert stopped.returncode == 0, stopped.explain()
        assert stopped.json()["status"] == "STOPPED", stopped.explain()
        # A stopped VM keeps its sandbox and runs nothing.
        for sandbox in sandboxes:
            assert Path(sandbox).is_dir()
            assert sandbox_processes(sandbox) == [], sandbox

        started = local_plane.ads("start", lab_id, "--wait", "--json", "--timeout", "240")
        assert started.returncode == 0, started.explain()
        again = started.json()
        assert again["status"] == "READY", started.explain()
        db = again["vms"]["db-1"]
        where = f"{db['private_ip']}:{db['vm_details']['lab_ports'][0]}"
        for name in ("web-1", "web-2"):
            assert f'<code id="db">{where}</code>' in _page(again["vms"][name]["app_url"])
        assert "the database stand-in" in _page(db["app_url"])
    finally:
        destroyed = local_plane.ads("destroy", lab_id, "--wait", "--timeout", "180")
        assert destroyed.returncode == 0, destroyed.explain()
    _assert_nothing_left(sandboxes)
