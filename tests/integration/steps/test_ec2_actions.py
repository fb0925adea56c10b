"""The ActionLab steps on the ec2 provider: the agent's action sent through SSM Run
Command against moto, and SSM's real answers moto does not give (an invocation not
visible yet right after SendCommand, a failed command with its exit code and output, a
command that timed out with no exit code) pinned with botocore's Stubber."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ads.action_steps import ActionInProgress
from ads.lab_record import LabStatus
from functions.run_action.handler import handler as run_action
from tests.integration.steps.conftest import REGION, Ec2World
from tests.integration.steps.test_ec2_real_aws import CONTEXT, INSTANCE_ID

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:ActionLab:exec-1"
COMMAND_ID = "11111111-2222-3333-4444-555555555555"


def _step(world: Ec2World, step: str, **extra: Any) -> dict[str, Any]:
    event = {"lab_id": world.lab_id, "step": step, "execution_id": EXECUTION, **extra}
    return run_action(event, CONTEXT)


def _acting_lab(world: Ec2World, name: str, vm_id: str, **running: Any) -> None:
    world.new_lab()
    world.repository.transition(world.lab_id, LabStatus.PROVISIONING, vm_id=vm_id, agent_port=9089)
    world.repository.transition(world.lab_id, LabStatus.HEALTH_CHECKING)
    world.repository.transition(world.lab_id, LabStatus.READY)
    world.repository.transition(
        world.lab_id,
        LabStatus.ACTING,
        action_in_progress={
            "name": name,
            "requester": "arn:aws:iam::123456789012:user/tester",
            "started_at": "2026-01-01T12:00:00.000Z",
            "started_epoch": time.time(),
            **running,
        },
    )


def test_given_an_acting_ec2_lab_when_its_action_runs_then_ssm_runs_the_agent_once_and_the_run_is_kept(
    ec2_world: Ec2World,
) -> None:
    vm_id = ec2_world.ec2.run_instances(ImageId=ec2_world.image_id, MinCount=1, MaxCount=1)[
        "Instances"
    ][0]["InstanceId"]
    _acting_lab(ec2_world, "backup", vm_id)

    sent = _step(ec2_world, "run_action")
    _step(ec2_world, "run_action")  # a retried step follows the command it sent
    waited = _step(ec2_world, "wait_action")
    recorded = _step(ec2_world, "record_action", outcome=waited)

    (command,) = ec2_world.ssm.called("send_command")
    assert command["InstanceIds"] == [vm_id]
    assert command["DocumentName"] == "AWS-RunShellScript"
    script = command["Parameters"]["commands"][0]
    assert "python3 -m ads_agent action backup " in script
    assert "--state-dir /opt/ads/state --lab-dir /opt/ads/lab" in script
    assert int(command["Parameters"]["executionTimeout"][0]) >= 60
    assert waited["succeeded"] is True and waited["exit_code"] == 0
    record = ec2_world.repository.require(ec2_world.lab_id)
    assert record.status == LabStatus.READY and recorded["status"] == "READY"
    assert record.action_in_progress is None
    [run] = record.action_runs
    assert (run["name"], run["exit_code"], run["execution_id"]) == ("backup", 0, EXECUTION)
    assert run["command_id"] == sent["command_id"]


@pytest.fixture
def stubbed_ssm(ec2_world: Ec2World) -> Iterator[Stubber]:
    client = boto3.client("ssm", region_name=REGION)
    ec2_world.ssm = client  # type: ignore[assignment]
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def _invocation(**fields: Any) -> dict[str, Any]:
    return {
        "CommandId": COMMAND_ID,
        "InstanceId": INSTANCE_ID,
        "StandardOutputContent": "",
        "StandardErrorContent": "",
        **fields,
    }


def test_given_the_invocation_is_not_visible_yet_when_waited_then_action_in_progress(
    ec2_world: Ec2World, stubbed_ssm: Stubber
) -> None:
    _acting_lab(ec2_world, "backup", INSTANCE_ID, command_id=COMMAND_ID, execution_id=EXECUTION)
    stubbed_ssm.add_client_error(
        "get_command_invocation",
        service_error_code="InvocationDoesNotExist",
        expected_params={"CommandId": COMMAND_ID, "InstanceId": INSTANCE_ID},
    )
    stubbed_ssm.add_response(
        "get_command_invocation", _invocation(Status="InProgress", ResponseCode=-1)
    )

    for _ in range(2):
        with pytest.raises(ActionInProgress, match="still running"):
            _step(ec2_world, "wait_action")


def test_given_a_failed_command_when_waited_then_its_exit_code_and_output_tail_are_the_result(
    ec2_world: Ec2World, stubbed_ssm: Stubber
) -> None:
    _acting_lab(ec2_world, "test", INSTANCE_ID, command_id=COMMAND_ID, execution_id=EXECUTION)
    stubbed_ssm.add_response(
        "get_command_invocation",
        _invocation(
            Status="Failed",
            StatusDetails="Failed",
            ResponseCode=3,
            StandardOutputContent="checking the page\n",
            StandardErrorContent="ads-agent: test failed: command 'check' exited 3\n",
        ),
    )

    waited = _step(ec2_world, "wait_action")
    recorded = _step(ec2_world, "record_action", outcome=waited)

    assert waited["succeeded"] is False and waited["exit_code"] == 3
    assert "checking the page" in waited["output_tail"]
    assert "exited 3" in waited["output_tail"]
    assert recorded["cause"] == "action test failed: exited 3"
    assert ec2_world.repository.require(ec2_world.lab_id).status == LabStatus.READY


def test_given_a_command_that_timed_out_when_waited_then_no_exit_code_and_the_status_says_why(
    ec2_world: Ec2World, stubbed_ssm: Stubber
) -> None:
    _acting_lab(ec2_world, "backup", INSTANCE_ID, command_id=COMMAND_ID, execution_id=EXECUTION)
    stubbed_ssm.add_response(
        "get_command_invocation",
        _invocation(Status="TimedOut", StatusDetails="ExecutionTimedOut", ResponseCode=-1),
    )

    waited = _step(ec2_world, "wait_action")

    assert waited["succeeded"] is False
    assert "exit_code" not in waited  # none was reported
    assert waited["cause"] == "action backup failed: ExecutionTimedOut"
