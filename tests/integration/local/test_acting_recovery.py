"""A lab caught ACTING when the local plane died, or stopped, is settled as a READY one.

In-process plane over moto: the records are written as a crash would leave them (ACTING,
an action under way, a sandbox on disk), then :func:`reconcile` runs as a restarted
daemon runs it. The lab's agent is not started: the probe stands in for its answer.
"""

from __future__ import annotations

import time
from pathlib import Path

from ads.lab_record import LabStatus
from ads.local.recovery import reconcile, settle_stopped
from ads.local.runtime import LocalControlPlane
from ads.providers.local_vm_book import VmBook

OWNER = "arn:aws:iam::123456789012:user/local"
LAB = "lab-acting-01"


def _acting_lab(plane: LocalControlPlane) -> Path:
    sandbox = plane.labs_root / LAB
    sandbox.mkdir(parents=True)
    (sandbox / "marker").write_text("kept")
    VmBook(plane.labs_root).save(
        LAB, {"sandbox": str(sandbox), "run_as": {"name": "ads"}, "process_groups": []}
    )
    repository = plane.repository()
    repository.create(repository.new_record(LAB, OWNER, lab_name="acting"))
    for status in (LabStatus.PROVISIONING, LabStatus.HEALTH_CHECKING, LabStatus.READY):
        repository.transition(LAB, status)
    repository.transition(
        LAB,
        LabStatus.READY,
        vm_details={"sandbox": str(sandbox)},
        endpoint="http://127.0.0.1:1/",
    )
    repository.transition(
        LAB,
        LabStatus.ACTING,
        action_in_progress={
            "name": "backup",
            "requester": OWNER,
            "started_at": "2026-12-01T19:00:00Z",
            "started_epoch": time.time() - 5,
            "execution_id": "exec-1",
            "command_id": "cmd-1",
        },
    )
    return sandbox


def test_given_an_acting_lab_whose_agent_answers_when_the_plane_reconciles_then_it_is_ready_with_the_run_recorded(
    tmp_path: Path,
):
    with LocalControlPlane(tmp_path / "plane") as plane:
        sandbox = _acting_lab(plane)

        report = reconcile(plane, probe=lambda record: record.lab_id == LAB)

        assert report.errors == []
        assert LAB not in report.orphan_sandboxes
        assert report.actions_interrupted == [LAB]
        assert report.kept_ready == [LAB]
        assert (sandbox / "marker").read_text() == "kept"
        record = plane.repository().require(LAB)
        assert record.status == LabStatus.READY
        assert record.action_in_progress is None
        run = record.action_runs[-1]
        assert run["name"] == "backup"
        assert run["succeeded"] is False
        assert run["exit_code"] is None
        assert run["cause"] == "control plane restarted during the action backup"
        assert run["execution_id"] == "exec-1"
        assert record.status_history[-1].note == run["cause"]


def test_given_an_acting_lab_when_the_plane_stops_cleanly_then_its_record_says_destroyed(
    tmp_path: Path,
):
    with LocalControlPlane(tmp_path / "plane") as plane:
        _acting_lab(plane)

        settled = settle_stopped(plane)

        assert settled == [LAB]
        assert plane.repository().require(LAB).status == LabStatus.DESTROYED
