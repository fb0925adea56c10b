"""The local plane's sweep timer: an in-process plane over moto runs the sweep (applied)
every ADS_SWEEP_INTERVAL_S; a planted sandbox whose lab has no record is destroyed, the
sandbox of a lab whose record lives is kept, and a stuck record with no execution is
FAILED with the cause."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ads.lab_record import LabStatus
from ads.local.runtime import LocalControlPlane
from ads.providers.local_vm_book import VmBook

OWNER = "arn:aws:iam::123456789012:user/local"


def _sandbox(plane: LocalControlPlane, lab_id: str) -> Path:
    sandbox = plane.labs_root / lab_id
    sandbox.mkdir(parents=True)
    VmBook(plane.labs_root).save(
        lab_id,
        {
            "lab_id": lab_id,
            "vm_id": f"local-{lab_id}",
            "sandbox": str(sandbox),
            "run_as": {"name": "ads"},
            "created_at": "2026-01-01T00:00:00+00:00",
            "process_groups": [],
        },
    )
    return sandbox


def _wait_for(condition, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_given_the_sweep_timer_when_it_runs_then_orphans_go_and_live_labs_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ADS_SWEEP_INTERVAL_S", "1")
    monkeypatch.setenv("ADS_SWEEP_GRACE_S", "0")
    monkeypatch.setenv("ADS_WATCH_ENABLED", "false")
    with LocalControlPlane(tmp_path / "plane") as plane:
        repository = plane.repository()
        orphan = _sandbox(plane, "lab-orphan-01")
        live = _sandbox(plane, "lab-live-01")
        repository.create(repository.new_record("lab-live-01", OWNER))
        for status in (LabStatus.PROVISIONING, LabStatus.HEALTH_CHECKING, LabStatus.READY):
            repository.transition("lab-live-01", status)
        repository.create(repository.new_record("lab-stuck-01", OWNER))
        repository.transition("lab-stuck-01", LabStatus.PROVISIONING)

        assert plane.timers.start_sweep()

        assert _wait_for(lambda: not orphan.exists()), "the orphan sandbox is still there"
        assert _wait_for(lambda: repository.require("lab-stuck-01").status == LabStatus.FAILED)
        assert live.exists()
        assert repository.require("lab-live-01").status == LabStatus.READY
        stuck = repository.require("lab-stuck-01")
        assert stuck.cause == "sweep: execution (none recorded) does not exist while PROVISIONING"
        assert stuck.failed_step == "Sweep"
        assert not plane.timers.start_sweep()  # one timer per plane
