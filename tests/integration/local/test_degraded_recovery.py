"""A lab caught DEGRADED when the local plane died, or stopped.

In-process plane over moto: the record is written as a crash would leave it (DEGRADED,
the watch's findings in ``health``, a sandbox on disk), then :func:`reconcile` runs as a
restarted daemon runs it. The probe stands in for the lab's agent.
"""

from __future__ import annotations

from pathlib import Path

from ads.lab_record import LabStatus
from ads.local.recovery import reconcile, settle_stopped
from ads.local.runtime import LocalControlPlane
from ads.providers.local_vm_book import VmBook

OWNER = "arn:aws:iam::123456789012:user/local"
LAB = "lab-degraded-01"


def _degraded_lab(plane: LocalControlPlane) -> Path:
    sandbox = plane.labs_root / LAB
    sandbox.mkdir(parents=True)
    (sandbox / "marker").write_text("kept")
    VmBook(plane.labs_root).save(
        LAB,
        {
            "lab_id": LAB,
            "vm_id": f"local-{LAB}",
            "sandbox": str(sandbox),
            "run_as": {"name": "ads"},
            "process_groups": [],
        },
    )
    repository = plane.repository()
    repository.create(repository.new_record(LAB, OWNER, lab_name="degraded"))
    for status in (LabStatus.PROVISIONING, LabStatus.HEALTH_CHECKING, LabStatus.READY):
        repository.transition(LAB, status)
    repository.transition(
        LAB,
        LabStatus.READY,
        vm_id=f"local-{LAB}",
        agent_port=1,
        vm_details={"sandbox": str(sandbox)},
        endpoint="http://127.0.0.1:1/",
    )
    repository.transition(
        LAB,
        LabStatus.DEGRADED,
        cause="health check failed 3 time(s) in a row",
        health={"failures": 3, "degraded_at": "2026-12-01T19:00:00.000Z", "degraded_epoch": 1.0},
    )
    return sandbox


def test_given_a_degraded_lab_whose_agent_answers_when_the_plane_reconciles_then_it_stays_degraded_for_the_watch(
    tmp_path: Path,
):
    with LocalControlPlane(tmp_path / "plane") as plane:
        sandbox = _degraded_lab(plane)

        report = reconcile(plane, probe=lambda record: record.lab_id == LAB)

        assert report.errors == []
        assert report.kept_degraded == [LAB] and report.recovery_resumed == []
        assert LAB not in report.orphan_sandboxes and LAB not in report.destroying
        assert (sandbox / "marker").read_text() == "kept"
        assert plane.repository().require(LAB).status == LabStatus.DEGRADED


def test_given_a_degraded_lab_whose_agent_is_silent_when_the_plane_reconciles_then_a_restart_is_asked_and_the_sandbox_kept(
    tmp_path: Path,
):
    with LocalControlPlane(tmp_path / "plane") as plane:
        sandbox = _degraded_lab(plane)

        report = reconcile(plane, probe=lambda record: False)

        assert report.errors == []
        assert report.kept_degraded == [LAB] and report.recovery_resumed == [LAB]
        assert (sandbox / "marker").read_text() == "kept"
        record = plane.repository().require(LAB)
        assert record.health["recovery"] == "restart"
        assert record.power_execution_arn == record.health["recovery_execution_arn"]


def test_given_a_degraded_lab_when_the_plane_stops_cleanly_then_its_record_says_destroyed(
    tmp_path: Path,
):
    with LocalControlPlane(tmp_path / "plane") as plane:
        _degraded_lab(plane)
        plane.destroy_all_vms()

        settled = settle_stopped(plane)

        assert settled == [LAB]
        assert plane.repository().require(LAB).status == LabStatus.DESTROYED
