"""End to end on the local plane over HTTP: `ads sweep` reports a planted orphan sandbox
(a process running as a lab uid in it, its lab unknown to ADS), `ads sweep --apply`
destroys it, a live lab is kept, and a caller who is not an admin is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from ads.local.daemon import labs_dir
from ads.processes import alive
from ads.providers.local_processes import SANDBOX_ENV
from ads.providers.local_vm_book import VmBook
from tests.e2e.harness import auth_headers

pytestmark = pytest.mark.e2e

HELLO_WEB = "events/labs/hello-web"
ORPHAN = "orphan-01jd5k3q8v2m6x9t4r7p0sweep"
# The last uid of the default lab range: no lab of this short-lived plane gets it.
LAB_UID = 200_000 + 65_536 - 1
LONG_AGO = (datetime.now(UTC) - timedelta(hours=2)).isoformat()


def _plant_orphan(root) -> tuple[subprocess.Popen, object]:
    """A sandbox with its bookkeeping, as a lab whose record is gone left it, and a
    process in it (as the lab's uid when ADS runs as root)."""
    sandbox = root / ORPHAN
    (sandbox / "vm").mkdir(parents=True)
    run_as = {"name": f"ads-lab-{LAB_UID}", "uid": LAB_UID, "gid": LAB_UID}
    if os.geteuid() != 0:
        run_as = {"name": "self", "uid": None, "gid": None}
    VmBook(root).save(
        ORPHAN,
        {
            "lab_id": ORPHAN,
            "vm_id": f"local-{ORPHAN}",
            "state": "running",
            "sandbox": str(sandbox),
            "run_as": run_as,
            "created_at": LONG_AGO,
            "process_groups": [],
        },
    )
    drop = {"user": LAB_UID, "group": LAB_UID} if os.geteuid() == 0 else {}
    process = subprocess.Popen(
        ["sleep", "300"],
        cwd="/",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), SANDBOX_ENV: str(sandbox)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **drop,
    )
    return process, sandbox


def _age_bookkeeping(root, lab_id: str) -> None:
    # Older than the grace period, so the live lab is kept for its record, not its age.
    book = VmBook(root)
    data = book.load(lab_id)
    assert data is not None
    book.save(lab_id, {**data, "created_at": LONG_AGO})


def test_given_a_planted_orphan_sandbox_when_swept_then_report_names_it_and_apply_destroys_it(
    local_plane,
):
    root = labs_dir(local_plane.home)
    deployed = local_plane.ads("deploy", HELLO_WEB, "--wait", "--json")
    assert deployed.returncode == 0, deployed.explain()
    lab_id = deployed.json()["lab_id"]
    process, sandbox = _plant_orphan(root)
    try:
        _age_bookkeeping(root, lab_id)

        report = local_plane.ads("sweep", "--json")
        assert report.returncode == 0, report.explain()
        findings = {f["resource"]: f for f in report.json()["findings"]}
        orphan = findings[f"local-{ORPHAN}"]
        assert orphan["kind"] == "sandbox" and orphan["lab_id"] == ORPHAN
        assert orphan["reason"] == f"lab {ORPHAN} has no record"
        assert orphan["outcome"] == "planned"
        assert f"local-{lab_id}" not in findings
        assert alive(process.pid) and sandbox.exists()
        text = local_plane.ads("sweep")
        assert "nothing was changed; run `ads sweep --apply` to act" in text.stdout

        applied = local_plane.ads("sweep", "--apply", "--json")

        assert applied.returncode == 0, applied.explain()
        done = {f["resource"]: f for f in applied.json()["findings"]}
        assert done[f"local-{ORPHAN}"]["outcome"] == "done", applied.explain()
        process.wait(timeout=10)
        assert not sandbox.exists()
        shown = local_plane.ads("show", lab_id, "--json")
        assert shown.json()["status"] == "READY"
        with urllib.request.urlopen(deployed.json()["app_url"], timeout=10) as page:
            assert page.status == 200

        # The plane's user credential is not an admin.
        request = urllib.request.Request(
            local_plane.endpoint + "/sweep", method="POST", headers=auth_headers(local_plane.home)
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 403
        assert json.loads(refused.value.read())["error"] == "admin_only"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(sandbox, ignore_errors=True)
        VmBook(root).forget(ORPHAN)
        destroyed = local_plane.ads("destroy", lab_id, "--wait")
        assert destroyed.returncode == 0, destroyed.explain()
