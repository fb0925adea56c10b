"""A labspec's own wait deadlines (``runtime_requirements.platform.deadlines``) on the
real DeployLab ASL: a deadline shorter than the configuration's cuts a hung install with
"timed out after N s in Initialise VM", and one longer than the configuration's lets a
slow but healthy install finish."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ads.lab_record import LabStatus
from ads.local.runtime import LocalControlPlane

from .conftest import WorkflowDriver, hello_web_labspec, plane_with_env


@pytest.fixture
def generous_plane(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalControlPlane]:
    """The configuration allows an install an hour; Await Init looks every second."""
    yield from plane_with_env(workdir, monkeypatch, ADS_INIT_POLL_S="1", ADS_INIT_DEADLINE_S="3600")


@pytest.fixture
def strict_plane(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalControlPlane]:
    """The configuration allows an install 2 s; Await Init looks every second."""
    yield from plane_with_env(workdir, monkeypatch, ADS_INIT_POLL_S="1", ADS_INIT_DEADLINE_S="2")


def _with_init_deadline(labspec: dict[str, Any], seconds: int) -> dict[str, Any]:
    platform = labspec["lab"]["runtime_requirements"]["platform"]
    platform["deadlines"] = {"init": seconds}
    return labspec


def test_given_a_labspec_init_deadline_shorter_than_the_configuration_when_the_install_hangs_then_the_lab_fails_on_the_labspecs_deadline(
    generous_plane: LocalControlPlane, hello_web_repo: Path
) -> None:
    labspec = _with_init_deadline(hello_web_labspec(), 3)
    labspec["lab"]["build_requirements"]["platform"]["build_steps"]["pre_build"] = ["sleep 60"]

    outcome = WorkflowDriver(generous_plane).deploy(labspec, hello_web_repo)

    assert outcome.execution["status"] == "FAILED"
    assert outcome.record.status == LabStatus.FAILED
    assert outcome.record.failed_step == "Initialise VM"
    assert "timed out after 3 s in Initialise VM" in (outcome.record.cause or "")
    assert "Destroy VM" in outcome.states
    assert generous_plane.local_provider().describe_vm(outcome.record.vm_id).gone


def test_given_a_labspec_init_deadline_longer_than_the_configuration_when_the_install_is_slow_then_the_lab_is_ready(
    strict_plane: LocalControlPlane, hello_web_repo: Path
) -> None:
    labspec = _with_init_deadline(hello_web_labspec(), 120)
    steps = labspec["lab"]["build_requirements"]["platform"]["build_steps"]
    steps["pre_build"] = ["sleep 5", *steps["pre_build"]]

    outcome = WorkflowDriver(strict_plane).deploy(labspec, hello_web_repo)

    assert outcome.record.status == LabStatus.READY, outcome.record.cause
    assert outcome.record.plan["deadlines"] == {"init": 120}
