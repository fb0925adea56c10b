"""The power steps on the ec2 provider: Stop/Start/RebootInstances against moto, the
lab's start action through SSM, and EC2's real answers moto does not give (an instance
that stays 'stopping' for a while, a Start refused while it is between states) pinned
with botocore's Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ads.lab_record import LabStatus
from ads.providers.base import VmNotReady
from functions.create_vm.handler import handler as create_vm
from functions.power_vm.handler import handler as power_vm
from tests.integration.steps.conftest import Ec2World
from tests.integration.steps.test_ec2_real_aws import CONTEXT, INSTANCE_ID, StubbedEc2


def _step(world: Ec2World, step: str, **extra: Any) -> dict[str, Any]:
    event = {"lab_id": world.lab_id, "step": step, "execution_id": "exec-1", **extra}
    return power_vm(event, CONTEXT)


def _ready_lab_on_moto(world: Ec2World) -> str:
    world.new_lab()
    created = create_vm(world.state("create_vm"), CONTEXT)
    world.repository.transition(world.lab_id, LabStatus.HEALTH_CHECKING)
    world.repository.transition(world.lab_id, LabStatus.READY)
    return str(created["vm_id"])


def _instance_state(world: Ec2World, vm_id: str) -> str:
    described = world.ec2.describe_instances(InstanceIds=[vm_id])
    return str(described["Reservations"][0]["Instances"][0]["State"]["Name"])


def _detail_types(world: Ec2World) -> list[str]:
    return [e["DetailType"] for call in world.events.called("put_events") for e in call["Entries"]]


def test_given_a_ready_ec2_lab_when_stopped_then_started_then_the_instance_follows_and_the_lab_starts(
    ec2_world: Ec2World,
) -> None:
    vm_id = _ready_lab_on_moto(ec2_world)
    ec2_world.repository.transition(ec2_world.lab_id, LabStatus.STOPPING)

    stopped = _step(ec2_world, "stop_vm")
    _step(ec2_world, "mark_stopped")

    assert stopped["vm_state"] == "stopped"
    assert _instance_state(ec2_world, vm_id) == "stopped"
    assert ec2_world.ec2.called("stop_instances") == [{"InstanceIds": [vm_id]}]
    assert ec2_world.repository.require(ec2_world.lab_id).status == LabStatus.STOPPED
    assert _detail_types(ec2_world)[-1] == "Lab Stopped"

    ec2_world.repository.transition(ec2_world.lab_id, LabStatus.STARTING)
    started = _step(ec2_world, "start_vm")
    sent = _step(ec2_world, "start_lab")

    record = ec2_world.repository.require(ec2_world.lab_id)
    assert _instance_state(ec2_world, vm_id) == "running"
    assert record.private_ip and started["endpoint"] == f"http://{record.private_ip}:9089"
    assert record.endpoint == started["endpoint"]
    (command,) = ec2_world.ssm.called("send_command")
    assert command["InstanceIds"] == [vm_id]
    script = command["Parameters"]["commands"][0]
    assert "python3 -m ads_agent action start" in script
    assert "--state-dir /opt/ads/state --lab-dir /opt/ads/lab" in script
    assert sent["command_id"]

    # A retried Start Lab follows the command it sent instead of sending another.
    _step(ec2_world, "start_lab")
    assert len(ec2_world.ssm.called("send_command")) == 1


def test_given_a_ready_ec2_lab_when_restarted_then_it_is_rebooted_once_per_execution(
    ec2_world: Ec2World,
) -> None:
    vm_id = _ready_lab_on_moto(ec2_world)
    ec2_world.repository.transition(ec2_world.lab_id, LabStatus.RESTARTING)

    _step(ec2_world, "restart_vm")
    _step(ec2_world, "restart_vm")

    assert ec2_world.ec2.called("reboot_instances") == [{"InstanceIds": [vm_id]}]
    _step(ec2_world, "restart_vm", execution_id="exec-2")
    assert len(ec2_world.ec2.called("reboot_instances")) == 2


# -- EC2's real answers (Stubber) ---------------------------------------------------------


@pytest.fixture
def stubbed(ec2_world: Ec2World) -> Iterator[StubbedEc2]:
    stubbed = StubbedEc2()
    ec2_world.ec2 = stubbed.client  # type: ignore[assignment]
    with stubbed.stub:
        yield stubbed
        stubbed.stub.assert_no_pending_responses()


def _stopping_lab(world: Ec2World, status: LabStatus = LabStatus.STOPPING) -> None:
    world.new_lab()
    world.repository.transition(
        world.lab_id, LabStatus.PROVISIONING, vm_id=INSTANCE_ID, agent_port=9089
    )
    world.repository.transition(world.lab_id, LabStatus.HEALTH_CHECKING)
    world.repository.transition(world.lab_id, LabStatus.READY)
    world.repository.transition(world.lab_id, LabStatus.STOPPING)
    if status != LabStatus.STOPPING:
        world.repository.transition(world.lab_id, LabStatus.STOPPED)
        world.repository.transition(world.lab_id, status)


def _power_answer(operation: str, current: str) -> dict[str, Any]:
    key = {"stop_instances": "StoppingInstances", "start_instances": "StartingInstances"}
    return {
        key[operation]: [
            {
                "InstanceId": INSTANCE_ID,
                "CurrentState": {"Code": 64, "Name": current},
                "PreviousState": {"Code": 16, "Name": "running"},
            }
        ]
    }


def test_given_an_instance_that_stays_stopping_when_stop_vm_runs_then_it_retries_until_stopped(
    ec2_world: Ec2World, stubbed: StubbedEc2
) -> None:
    _stopping_lab(ec2_world)
    ids = {"InstanceIds": [INSTANCE_ID]}
    for state in ("stopping", "stopping", "stopped"):
        stubbed.stub.add_response("stop_instances", _power_answer("stop_instances", state), ids)
        stubbed.describe(state)

    for _ in range(2):
        with pytest.raises(VmNotReady, match="is stopping; waiting until stopped"):
            _step(ec2_world, "stop_vm")
    stopped = _step(ec2_world, "stop_vm")

    assert stopped["vm_state"] == "stopped"


def test_given_ec2_still_reports_running_right_after_stop_instances_then_not_yet_not_failed(
    ec2_world: Ec2World, stubbed: StubbedEc2
) -> None:
    _stopping_lab(ec2_world)
    stubbed.stub.add_response(
        "stop_instances",
        _power_answer("stop_instances", "stopping"),
        {"InstanceIds": [INSTANCE_ID]},
    )
    stubbed.describe("running")

    with pytest.raises(VmNotReady):
        _step(ec2_world, "stop_vm")


def test_given_start_instances_refused_between_states_then_the_start_is_retried(
    ec2_world: Ec2World, stubbed: StubbedEc2
) -> None:
    _stopping_lab(ec2_world, LabStatus.STARTING)
    stubbed.stub.add_client_error(
        "start_instances",
        "IncorrectInstanceState",
        f"The instance '{INSTANCE_ID}' is not in a state from which it can be started.",
        expected_params={"InstanceIds": [INSTANCE_ID]},
    )
    stubbed.describe("stopping")

    with pytest.raises(VmNotReady, match="is stopping"):
        _step(ec2_world, "start_vm")


def test_given_start_instances_refused_for_good_then_the_step_fails_naming_the_call(
    ec2_world: Ec2World, stubbed: StubbedEc2
) -> None:
    _stopping_lab(ec2_world, LabStatus.STARTING)
    stubbed.stub.add_client_error(
        "start_instances",
        "InsufficientInstanceCapacity",
        "We currently do not have sufficient t3.micro capacity.",
        expected_params={"InstanceIds": [INSTANCE_ID]},
    )

    with pytest.raises(Exception) as raised:
        _step(ec2_world, "start_vm")

    assert type(raised.value).__name__ == "VmNotRunning"
    assert "StartInstances i-0123456789abcdef0 refused: InsufficientInstanceCapacity" in str(
        raised.value
    )
