"""A lab caught UPDATING when the local plane died, or stopped, is settled as a READY one.

In-process plane over moto: the records are written as a crash would leave them
(UPDATING, an update under way, a sandbox on disk), then :func:`reconcile` runs as a
restarted daemon runs it. The lab's agent is not started: the probe stands in for it.
"""

from __future__ import annotations

from pathlib import Path

from ads.lab_record import LabStatus
from ads.local.recovery import reconcile, settle_stopped
from ads.local.runtime import LocalControlPlane
from ads.providers.local_vm_book import VmBook

OWNER = "arn:aws:iam::123456789012:user/local"
LAB = "lab-updating-01"


def _updating_lab(plane: LocalControlPlane) -> Path:
    sandbox = plane.labs_root / LAB
    sandbox.mkdir(parents=True)
    (sandbox / "marker").write_text("kept")
    VmBook(plane.labs_root).save(
        LAB, {"sandbox": str(sandbox), "run_as": {"name": "ads"}, "process_groups": []}
    )
    repository = plane.repository()
    repository.create(repository.new_record(LAB, OWNER, lab_name="updating"))
    for status in (LabStatus.PROVISIONING, LabStatus.HEALTH_CHECKING, LabStatus.READY):
        repository.transition(LAB, status)
    repository.transition(
        LAB,
        LabStatus.READY,
        vm_details={"sandbox": str(sandbox)},
        endpoint="http://127.0.0.1:1/",
        revision="a" * 40,
    )
    repository.transition(
        LAB,
        LabStatus.UPDATING,
        update_in_progress={
            "ref": "v2",
            "requested_by": OWNER,
            "started_at": "2026-12-01T19:00:00.000Z",
            "execution_id": "exec-1",
            "command_id": "update-2-1",
        },
    )
    return sandbox


def test_given_an_updating_lab_whose_agent_answers_when_the_plane_reconciles_then_it_is_ready_with_the_update_recorded(
    tmp_path: Path,
):
    with LocalControlPlane(tmp_path / "plane") as plane:
        sandbox = _updating_lab(plane)

        report = reconcile(plane, probe=lambda record: record.lab_id == LAB)

        assert report.errors == []
        assert report.updates_interrupted == [LAB]
        assert report.kept_ready == [LAB]
        assert LAB not in report.orphan_sandboxes
        assert (sandbox / "marker").read_text() == "kept"
        record = plane.repository().require(LAB)
        assert record.status == LabStatus.READY and record.update_in_progress is None
        entry = record.revisions[-1]
        assert entry["outcome"] == "interrupted" and entry["ref"] == "v2"
        assert entry["cause"] == "control plane restarted during the update to v2"
        assert entry["execution_id"] == "exec-1"
        assert record.status_history[-1].note == entry["cause"]


def test_given_an_updating_lab_whose_agent_is_gone_when_the_plane_reconciles_then_it_is_destroyed(
    tmp_path: Path,
):
    with LocalControlPlane(tmp_path / "plane") as plane:
        _updating_lab(plane)

        report = reconcile(plane, probe=lambda record: False)

        assert report.updates_interrupted == [LAB] and report.destroying == [LAB]
        assert plane.repository().require(LAB).revisions[-1]["outcome"] == "interrupted"


def test_given_an_updating_lab_when_the_plane_stops_cleanly_then_its_record_says_destroyed(
    tmp_path: Path,
):
    with LocalControlPlane(tmp_path / "plane") as plane:
        _updating_lab(plane)

        assert settle_stopped(plane) == [LAB]
        assert plane.repository().require(LAB).status == LabStatus.DESTROYED
