"""Two VMs of one lab on the local provider: real sandboxes, real install script and agents.

Each VM of a lab of several VMs is its own sandbox with its own uid and ports; the cluster
facts reach every sandbox before any step, readable by the lab and not writable; every
step runs with ADS_VM_NAME, ADS_VM_ROLE and ADS_CLUSTER_FACTS; a VM is destroyed alone;
the sweep keeps a live lab's VMs and removes a VM whose lab is unknown.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from ads.lab_record import LabStatus
from ads.providers.base import ClusterInit, InitRequest, VmInfo, cluster_hooks
from ads.providers.local_processes import sandbox_processes
from ads.providers.local_sweep import LocalSweepInventory
from ads.sweep import Sweep
from ads.sweep_records import StuckRecords
from tests.integration.steps import test_local_provider as single_vm
from tests.integration.steps.conftest import OWNER
from tests.integration.steps.test_local_provider import LocalWorld, process_owner

# The single-VM tests' world: a moto labs table and a local provider under tmp_path.
local_world = single_vm.local_world

LAB = "two-vm-lab-01"
# What each VM's step was told and could do with the facts, in its own lab directory.
REPORT = (
    'printf "%s|%s|%s\\n" "$ADS_VM_NAME" "$ADS_VM_ROLE" "$ADS_CLUSTER_FACTS" > report.txt; '
    'cat "$ADS_CLUSTER_FACTS" > facts-copy.json; '
    'if (printf x >> "$ADS_CLUSTER_FACTS") 2>/dev/null; then echo writable; else echo read-only; '
    "fi >> report.txt"
)


def _plan() -> dict[str, Any]:
    return {
        "lab_name": "Two VM Lab",
        "steps": [{"name": "start", "commands": [f"cd $ADS_LAB_DIR && {{ {REPORT}; }}"]}],
        "actions": {},
        "health_probe": None,
    }


def _facts(vms: dict[str, VmInfo]) -> dict[str, Any]:
    return {
        "lab_id": LAB,
        "vms": [
            {"name": name, "role": name.rsplit("-", 1)[0], "address": vm.private_ip,
             "ports": vm.details["lab_ports"]}
            for name, vm in vms.items()
        ],
    }  # fmt: skip


def _init(world: LocalWorld, vm: VmInfo, name: str) -> None:
    provider = world.provider
    hooks = cluster_hooks(provider)
    assert hooks is not None
    cluster = ClusterInit(
        vm_name=name, role=name.rsplit("-", 1)[0], facts_path=hooks.facts_path(vm)
    )
    command_id = provider.start_init(LAB, vm, InitRequest(plan=_plan(), cluster=cluster))
    deadline = time.monotonic() + 90
    while (status := provider.get_init_status(vm, command_id)).state == "in_progress":
        assert time.monotonic() < deadline, "the install did not end"
        time.sleep(0.2)
    assert status.state == "success", status


def _lab_dir(vm: VmInfo) -> Path:
    return Path(vm.details["sandbox"]) / "vm" / "lab"


def _two_vms(world: LocalWorld) -> dict[str, VmInfo]:
    return {
        name: world.provider.create_vm(LAB, _plan(), vm_name=name) for name in ("db-1", "web-1")
    }


def test_given_two_vms_of_one_lab_when_created_then_each_has_its_own_sandbox_uid_and_ports(
    local_world: LocalWorld,
):
    vms = _two_vms(local_world)
    db, web = vms["db-1"], vms["web-1"]

    assert db.vm_id != web.vm_id
    assert db.details["sandbox"] != web.details["sandbox"]
    ports = {db.agent_port, web.agent_port, db.details["lab_port"], web.details["lab_port"]}
    assert len(ports) == 4
    assert (db.details["vm_name"], db.details["lab_ports"]) == ("db-1", [db.details["lab_port"]])
    if os.geteuid() == 0:
        assert db.details["run_as"] != web.details["run_as"]
    # Idempotent per (lab, VM): a retried create finds the same VM.
    assert local_world.provider.create_vm(LAB, _plan(), vm_name="web-1") == web
    assert local_world.provider.describe_vm(web.vm_id).state == "running"


def test_given_shared_facts_when_each_vm_is_initialised_then_its_step_reads_them_with_its_name_and_role_and_cannot_write_them(
    local_world: LocalWorld,
):
    vms = _two_vms(local_world)
    hooks = cluster_hooks(local_world.provider)
    assert hooks is not None
    facts = _facts(vms)

    assert hooks.share_cluster_facts(LAB, list(vms.values()), facts) is None
    assert hooks.cluster_facts_status(list(vms.values()), "written").state == "success"
    for name, vm in vms.items():
        _init(local_world, vm, name)

    for name, vm in vms.items():
        path = hooks.facts_path(vm)
        assert path.startswith(vm.details["sandbox"])
        assert json.loads(Path(path).read_text()) == facts
        assert Path(path).stat().st_uid == os.geteuid()
        assert Path(path).stat().st_mode & 0o022 == 0
        lines = (_lab_dir(vm) / "report.txt").read_text().splitlines()
        assert lines[0] == f"{name}|{name.rsplit('-', 1)[0]}|{path}"
        assert json.loads((_lab_dir(vm) / "facts-copy.json").read_text()) == facts
        if os.geteuid() == 0:
            # The lab runs as its own uid: ADS's file is its to read, not to change.
            assert lines[1] == "read-only"
            pids = sandbox_processes(vm.details["sandbox"])
            assert {process_owner(pid) for pid in pids} != {0}


def test_given_a_vm_without_facts_when_their_status_is_asked_then_failed_names_the_vm(
    local_world: LocalWorld,
):
    vms = _two_vms(local_world)
    hooks = cluster_hooks(local_world.provider)
    assert hooks is not None
    hooks.share_cluster_facts(LAB, [vms["db-1"]], _facts(vms))

    status = hooks.cluster_facts_status(list(vms.values()), "written")

    assert status.state == "failed"
    assert status.detail.startswith("web-1: ")


def test_given_two_initialised_vms_when_one_is_destroyed_then_the_other_keeps_running(
    local_world: LocalWorld,
):
    vms = _two_vms(local_world)
    for name, vm in vms.items():
        _init(local_world, vm, name)
    db_sandbox = vms["db-1"].details["sandbox"]
    web_sandbox = vms["web-1"].details["sandbox"]
    assert sandbox_processes(web_sandbox)

    state = local_world.provider.destroy_vm(LAB, vms["db-1"].vm_id, vm_name="db-1")

    assert state.state == "terminated"
    assert not Path(db_sandbox).exists()
    assert sandbox_processes(db_sandbox) == []
    assert Path(web_sandbox).is_dir()
    assert sandbox_processes(web_sandbox)
    assert local_world.provider.describe_vm(vms["web-1"].vm_id).state == "running"
    assert local_world.provider.destroy_vm(LAB, None, vm_name="db-1").state == "absent"

    # With no VM named, a destroy ends every VM of the lab.
    assert local_world.provider.destroy_vm(LAB, None).state == "terminated"
    assert sandbox_processes(web_sandbox) == []
    assert local_world.provider.book.lab_ids() == []


def test_given_a_live_cluster_and_an_unknown_labs_vm_when_the_sweep_runs_then_it_keeps_the_cluster_and_removes_the_other(
    local_world: LocalWorld,
):
    repository = local_world.repository
    record = repository.new_record(LAB, OWNER, plan=_plan())
    repository.create(record)
    repository.transition(LAB, LabStatus.PROVISIONING, note="test")
    vms = _two_vms(local_world)
    stranger = local_world.provider.create_vm("gone-lab-01", _plan(), vm_name="web-1")
    publisher = local_world.deps.publisher
    stuck = StuckRecords(repository, publisher, lambda _arn: "RUNNING", lambda _lab: None)
    inventory = LocalSweepInventory(local_world.provider)
    assert {vm.vm_id: vm.lab_id for vm in inventory.managed_vms()} == {
        vms["db-1"].vm_id: LAB,
        vms["web-1"].vm_id: LAB,
        stranger.vm_id: "gone-lab-01",
    }

    report = Sweep(repository, inventory, publisher, stuck, grace_s=0).run(apply=True)

    assert [f.resource for f in report.findings if f.kind == "sandbox"] == [stranger.vm_id]
    assert not Path(stranger.details["sandbox"]).exists()
    for vm in vms.values():
        assert Path(vm.details["sandbox"]).is_dir()
        assert local_world.provider.describe_vm(vm.vm_id).state == "running"


@pytest.mark.parametrize("vm_name", ["db-1"])
def test_given_a_cluster_vm_when_destroy_all_runs_then_no_sandbox_is_left(
    local_world: LocalWorld, vm_name: str
):
    vm = local_world.provider.create_vm(LAB, _plan(), vm_name=vm_name)

    assert local_world.provider.destroy_all() == [f"{LAB}.{vm_name}"]
    assert not Path(vm.details["sandbox"]).exists()
