"""A lab of several VMs when the local plane restarts: each VM is its own sandbox, booked
as ``<lab_id>.<vm_name>``, and the lab's record names only its entry VM at the top level.

In-process plane over moto: the record and sandboxes are written as a crash would leave
them, then :func:`reconcile` runs as a restarted daemon runs it. Every VM of a READY lab
is kept with its processes (never taken for an orphan); a VM of a lab with no record is.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ads import processes
from ads.lab_record import LabStatus
from ads.local.recovery import reconcile
from ads.local.runtime import LocalControlPlane
from ads.providers.local_vm_book import VmBook

OWNER = "arn:aws:iam::123456789012:user/local"
LAB = "lab-cluster-01"
GONE = "lab-gone-01"


def _vm(plane: LocalControlPlane, lab_id: str, vm_name: str) -> Path:
    key = f"{lab_id}.{vm_name}"
    sandbox = plane.labs_root / key
    sandbox.mkdir(parents=True)
    VmBook(plane.labs_root).save(
        key,
        {
            "lab_id": lab_id,
            "vm_name": vm_name,
            "vm_id": f"local-{key}",
            "sandbox": str(sandbox),
            "run_as": {"name": "ads"},
            "process_groups": [],
        },
    )
    return sandbox


def _ready_cluster(plane: LocalControlPlane, db: Path, web: Path) -> None:
    repository = plane.repository()
    repository.create(repository.new_record(LAB, OWNER, lab_name="cluster"))
    for status in (LabStatus.PROVISIONING, LabStatus.HEALTH_CHECKING, LabStatus.READY):
        repository.transition(LAB, status)
    # The lab's own VM fields mirror its entry VM (web-1) only.
    repository.transition(
        LAB,
        LabStatus.READY,
        vm_id=f"local-{LAB}.web-1",
        agent_port=1,
        vm_details={"sandbox": str(web)},
        endpoint="http://127.0.0.1:1/",
    )


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen]]:
    children: list[subprocess.Popen] = []
    yield children
    processes.stop([child.pid for child in children if child.poll() is None], grace_s=0)
    for child in children:
        child.wait(timeout=10)


def _process_of(sandbox: Path, started: list[subprocess.Popen]) -> subprocess.Popen:
    child = subprocess.Popen(
        ["sleep", "300"], env={**os.environ, "ADS_SANDBOX": str(sandbox)}, start_new_session=True
    )
    started.append(child)
    return child


def test_given_a_ready_cluster_and_a_vm_of_an_unknown_lab_when_the_plane_reconciles_then_every_cluster_vm_is_kept_and_the_other_destroyed(
    tmp_path: Path, started: list[subprocess.Popen]
):
    with LocalControlPlane(tmp_path / "plane") as plane:
        db, web = _vm(plane, LAB, "db-1"), _vm(plane, LAB, "web-1")
        stranger = _vm(plane, GONE, "web-1")
        _ready_cluster(plane, db, web)
        db_process = _process_of(db, started)
        stray = _process_of(stranger, started)

        report = reconcile(plane, probe=lambda record: record.lab_id == LAB)

        assert report.errors == []
        assert report.kept_ready == [LAB]
        assert report.orphan_sandboxes == [f"{GONE}.web-1"]
        assert db.is_dir() and web.is_dir()
        assert not stranger.exists()
        # db-1's processes are the lab's, though the record's own fields name web-1 only.
        assert db_process.poll() is None
        stray.wait(timeout=10)
        assert sorted(VmBook(plane.labs_root).lab_ids()) == [f"{LAB}.db-1", f"{LAB}.web-1"]
