"""PowerLab on a lab of several VMs, end to end on the local provider: the sample
two-role lab is stopped (every VM stops, the page goes), started (every VM runs again,
every agent healthy, READY, the page comes back) and restarted (every VM's agent answers
again), then destroyed with all its VMs."""

from __future__ import annotations

import json

from ads.lab_record import LabStatus
from ads.local.runtime import LocalControlPlane

from .conftest import WorkflowDriver
from .test_deploy_cluster import TWO_ROLE_LAB, VMS
from .test_power_lab import RESTART_PATH, START_PATH, STOP_PATH, _page, _power


def test_given_a_ready_two_role_lab_when_stopped_started_and_restarted_then_every_vm_follows(
    plane: LocalControlPlane, driver: WorkflowDriver
) -> None:
    deployed = driver.deploy(json.loads(TWO_ROLE_LAB.read_text()))
    assert deployed.record.status == LabStatus.READY, deployed.record.cause
    lab_id = deployed.lab_id
    provider = plane.local_provider()
    vm_ids = [deployed.record.vms[name]["vm_id"] for name in VMS]
    assert deployed.record.app_url and _page(deployed.record.app_url) == 200

    stopped = _power(driver, lab_id, "stop")

    assert stopped.execution["status"] == "SUCCEEDED", stopped.execution.get("cause")
    assert stopped.states == STOP_PATH
    assert stopped.record.status == LabStatus.STOPPED
    assert [provider.describe_vm(vm_id).state for vm_id in vm_ids] == ["stopped"] * 3
    assert _page(deployed.record.app_url) != 200

    started = _power(driver, lab_id, "start")

    assert started.execution["status"] == "SUCCEEDED", started.execution.get("cause")
    assert started.states == START_PATH
    assert started.record.status == LabStatus.READY
    assert [provider.describe_vm(vm_id).state for vm_id in vm_ids] == ["running"] * 3
    assert started.record.app_url and _page(started.record.app_url) == 200

    restarted = _power(driver, lab_id, "restart")

    assert restarted.execution["status"] == "SUCCEEDED", restarted.execution.get("cause")
    assert restarted.states == RESTART_PATH
    assert restarted.record.status == LabStatus.READY
    assert [provider.describe_vm(vm_id).state for vm_id in vm_ids] == ["running"] * 3

    destroyed = driver.destroy(lab_id)

    assert destroyed.record.status == LabStatus.DESTROYED
    assert all(provider.describe_vm(vm_id).gone for vm_id in vm_ids)
