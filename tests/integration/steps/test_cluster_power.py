"""PowerLab's steps on a lab of several VMs (ads/cluster_power.py through ads/power_steps.py)
against moto's DynamoDB with the in-memory cluster provider: every VM is stopped, started
and rebooted, each entry refreshed, the facts delivered again before the start actions,
and the start actions run wave by wave, each sent once per execution."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from ads import power_steps
from ads.lab_record import LabStatus
from ads.providers.base import InitFailed, InitInProgress, VmInfo, VmNotReady, VmState
from tests.cluster_fakes import FakeClusterProvider, _Command
from tests.integration.steps.test_cluster_steps import LAB, VMS, World, world  # noqa: F401


@dataclass
class PoweredProvider(FakeClusterProvider):
    """The fake cluster provider with start actions (running until :meth:`finish`) and
    reboots."""

    failing_start: set[str] = field(default_factory=set)
    reboots: list[str] = field(default_factory=list)
    stuck_stopping: set[str] = field(default_factory=set)

    def start_lab(self, lab_id: str, vm: VmInfo, plan: Any) -> str:
        name = str(vm.details.get("vm_name"))
        command_id = f"start-{name}-{len(self.kinds('start')) + 1}"
        outcome = "failed" if name in self.failing_start else "success"
        with self._lock:
            self._commands[command_id] = _Command(name, None, outcome)
        self._note("start", name, command_id)
        return command_id

    def finish(self, *names: str) -> float:
        """End the start actions of ``names`` now; answers when."""
        now = time.monotonic()
        with self._lock:
            for command in self._commands.values():
                if command.vm_name in names and command.ends_at is None:
                    command.ends_at = now
        return now

    def restart_vm(self, vm_id: str) -> VmState:
        self.reboots.append(vm_id)
        return self.describe_vm(vm_id)

    def stop_vm(self, vm_id: str) -> VmState:
        state = super().stop_vm(vm_id)
        if any(vm_id.startswith(f"fake-{name}-") for name in self.stuck_stopping):
            self.vms[vm_id]["state"] = "stopping"
            return self.describe_vm(vm_id)
        return state


def _powered(world: World) -> PoweredProvider:  # noqa: F811
    provider = PoweredProvider(agent_port=world.agent.port)
    world.provider = provider
    world.running_cluster()
    for status in (LabStatus.HEALTH_CHECKING, LabStatus.READY):
        world.repository.transition(LAB, status)
    return provider


def test_given_a_cluster_lab_when_stopped_then_every_vm_stops_and_a_vm_still_stopping_is_named(
    world: World,  # noqa: F811
) -> None:
    provider = _powered(world)
    world.repository.transition(LAB, LabStatus.STOPPING)
    provider.stuck_stopping = {"web-2"}

    with pytest.raises(VmNotReady, match=r"not stopped yet: web-2 \(stopping\)"):
        power_steps.stop_vm(LAB, world.repository, provider)
    provider.stuck_stopping = set()
    result = power_steps.stop_vm(LAB, world.repository, provider)

    assert result.vm_state == "stopped"
    assert {vm["state"] for vm in provider.vms.values()} == {"stopped"}


def test_given_a_stopped_cluster_lab_when_started_then_every_vm_runs_the_facts_are_shared_again_and_starts_run_wave_by_wave(
    world: World,  # noqa: F811
) -> None:
    provider = _powered(world)
    for status in (LabStatus.STOPPING, LabStatus.STOPPED, LabStatus.STARTING):
        world.repository.transition(LAB, status)
    # The VMs stopped, as a Stop leaves them.
    for vm in provider.vms.values():
        vm["state"] = "stopped"

    started = power_steps.start_vm(LAB, world.repository, provider)
    facts_before = len(provider.kinds("facts"))
    with pytest.raises(InitInProgress, match="db-1"):
        power_steps.start_lab(LAB, world.repository, provider, execution_id="power-1")
    # Only the first wave's start was sent; a retry follows it and sends nothing more.
    with pytest.raises(InitInProgress):
        power_steps.start_lab(LAB, world.repository, provider, execution_id="power-1")
    assert [c.vm_name for c in provider.kinds("start")] == ["db-1"]
    db_ended = provider.finish("db-1")
    with pytest.raises(InitInProgress, match=r"web-1.*web-2"):
        power_steps.start_lab(LAB, world.repository, provider, execution_id="power-1")
    provider.finish("web-1", "web-2")
    done = power_steps.start_lab(LAB, world.repository, provider, execution_id="power-1")

    assert started.vm_state == "running" and started.endpoint
    assert {vm["state"] for vm in provider.vms.values()} == {"running"}
    assert len(provider.kinds("facts")) == facts_before + 1
    starts = provider.kinds("start")
    assert [c.vm_name for c in starts] == ["db-1", "web-1", "web-2"]
    assert all(c.at >= db_ended for c in starts[1:])  # web's wave after db's ended
    assert done.command_id == ",".join(c.detail for c in starts)
    entries = world.record().vms
    assert all(entries[name]["endpoint"] for name in VMS)
    # A new execution runs every start again.
    with pytest.raises(InitInProgress):
        power_steps.start_lab(LAB, world.repository, provider, execution_id="power-2")
    assert len(provider.kinds("start")) == 4


def test_given_a_vms_start_action_failing_when_started_then_the_step_fails_naming_the_vm(
    world: World,  # noqa: F811
) -> None:
    provider = _powered(world)
    provider.failing_start = {"web-2"}
    for status in (LabStatus.STOPPING, LabStatus.STOPPED, LabStatus.STARTING):
        world.repository.transition(LAB, status)

    with pytest.raises(InitInProgress):
        power_steps.start_lab(LAB, world.repository, provider, execution_id="p")
    provider.finish("db-1")
    with pytest.raises(InitInProgress):
        power_steps.start_lab(LAB, world.repository, provider, execution_id="p")
    provider.finish("web-1", "web-2")
    with pytest.raises(InitFailed, match=r"^VM web-2: "):
        power_steps.start_lab(LAB, world.repository, provider, execution_id="p")


def test_given_a_cluster_lab_when_restarted_then_every_vm_is_rebooted_once_per_execution(
    world: World,  # noqa: F811
) -> None:
    provider = _powered(world)
    world.repository.transition(LAB, LabStatus.RESTARTING)

    power_steps.restart_vm(LAB, world.repository, provider, execution_id="reboot-1")
    power_steps.restart_vm(LAB, world.repository, provider, execution_id="reboot-1")
    assert sorted(provider.reboots) == sorted(provider.vms)
    power_steps.restart_vm(LAB, world.repository, provider, execution_id="reboot-2")
    assert len(provider.reboots) == 2 * len(VMS)
    # The fake agents report no uptime: no VM counts as restarted, and the step names them.
    with pytest.raises(VmNotReady, match=r"not restarted yet.*db-1.*web-1.*web-2"):
        power_steps.wait_restarted(LAB, world.repository, provider, timeout_s=2)
