"""The RedeployLab steps on the ec2 provider: the agent's update sent through SSM Run
Command against moto, and SSM's real answers moto does not give (an invocation not visible
yet right after SendCommand, a Failed command whose output ends with the agent's outcome,
a command that timed out with no outcome) pinned with botocore's Stubber."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ads.lab_record import LabStatus
from ads.providers.vm_update import RESULT_PREFIX, UpdateInProgress
from ads_agent import update as agent_update
from functions.redeploy_vm.handler import handler as redeploy_vm
from tests.integration.steps.conftest import REGION, Ec2World
from tests.integration.steps.test_ec2_real_aws import CONTEXT, INSTANCE_ID

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:RedeployLab:exec-1"
COMMAND_ID = "11111111-2222-3333-4444-555555555555"
OLD, NEW = "a" * 40, "b" * 40


def _step(world: Ec2World, step: str, **extra: Any) -> dict[str, Any]:
    event = {"lab_id": world.lab_id, "step": step, "execution_id": EXECUTION, **extra}
    return redeploy_vm(event, CONTEXT)


def _updating_lab(world: Ec2World, vm_id: str, **running: Any) -> None:
    world.new_lab()
    world.repository.transition(world.lab_id, LabStatus.PROVISIONING, vm_id=vm_id, agent_port=9089)
    world.repository.transition(world.lab_id, LabStatus.HEALTH_CHECKING)
    world.repository.transition(world.lab_id, LabStatus.READY, revision=OLD)
    world.repository.transition(
        world.lab_id,
        LabStatus.UPDATING,
        update_in_progress={
            "ref": "v2",
            "requested_by": "arn:aws:iam::123456789012:user/tester",
            "started_at": "2026-01-01T12:00:00.000Z",
            **running,
        },
    )


def _outcome_line(**fields: Any) -> str:
    document = {"ref": "v2", "previous_revision": OLD, "revision": NEW, **fields}
    return RESULT_PREFIX + json.dumps(document)


def test_given_the_agent_and_the_provider_when_compared_then_they_share_the_outcome_marker():
    assert agent_update.RESULT_PREFIX == RESULT_PREFIX


def test_given_an_updating_ec2_lab_when_started_then_ssm_runs_the_agent_update_once(
    ec2_world: Ec2World,
) -> None:
    vm_id = ec2_world.ec2.run_instances(ImageId=ec2_world.image_id, MinCount=1, MaxCount=1)[
        "Instances"
    ][0]["InstanceId"]
    plan = {"steps": [{"name": "build", "commands": ["make"]}], "actions": {}}
    _updating_lab(ec2_world, vm_id, plan=plan)

    sent = _step(ec2_world, "start_update")
    again = _step(ec2_world, "start_update")  # a retried step follows the command it sent

    (command,) = ec2_world.ssm.called("send_command")
    assert again["command_id"] == sent["command_id"]
    assert command["InstanceIds"] == [vm_id]
    assert command["DocumentName"] == "AWS-RunShellScript"
    script = command["Parameters"]["commands"][0]
    assert (
        "python3 -m ads_agent update --source-git https://example.org/labs/hello-web.git "
        "--source-ref v2 --plan /opt/ads/state/update-plan.json" in script
    )
    assert "--state-dir /opt/ads/state --lab-dir /opt/ads/lab" in script
    (encoded,) = re.findall(r"printf '%s' '([A-Za-z0-9+/=]+)' \| base64 -d", script)
    assert json.loads(base64.b64decode(encoded)) == plan
    assert int(command["Parameters"]["executionTimeout"][0]) >= 60
    record = ec2_world.repository.require(ec2_world.lab_id)
    assert (
        record.update_in_progress and record.update_in_progress["command_id"] == sent["command_id"]
    )


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


def test_given_the_invocation_is_not_visible_yet_when_waited_then_update_in_progress(
    ec2_world: Ec2World, stubbed_ssm: Stubber
) -> None:
    _updating_lab(ec2_world, INSTANCE_ID, command_id=COMMAND_ID, execution_id=EXECUTION)
    stubbed_ssm.add_client_error(
        "get_command_invocation",
        service_error_code="InvocationDoesNotExist",
        expected_params={"CommandId": COMMAND_ID, "InstanceId": INSTANCE_ID},
    )
    stubbed_ssm.add_response(
        "get_command_invocation", _invocation(Status="InProgress", ResponseCode=-1)
    )

    for _ in range(2):
        with pytest.raises(UpdateInProgress, match="still running"):
            _step(ec2_world, "wait_update")


def test_given_a_failed_command_that_rolled_back_when_recorded_then_ready_on_the_previous_revision(
    ec2_world: Ec2World, stubbed_ssm: Stubber
) -> None:
    _updating_lab(ec2_world, INSTANCE_ID, command_id=COMMAND_ID, execution_id=EXECUTION)
    cause = "build exited 2: command 'make'"
    stubbed_ssm.add_response(
        "get_command_invocation",
        _invocation(
            Status="Failed",
            StatusDetails="Failed",
            ResponseCode=10,
            StandardOutputContent="building\n"
            + _outcome_line(outcome="rolled_back", failed_step="deploy", cause=cause)
            + "\n",
            StandardErrorContent="make: *** [all] Error 2\n",
        ),
    )

    waited = _step(ec2_world, "wait_update")
    recorded = _step(ec2_world, "record_update", state={"waited": {"result": waited}})

    assert waited["outcome"] == "rolled_back" and waited["exit_code"] == 10
    assert waited["cause"] == cause and "Error 2" in waited["output_tail"]
    record = ec2_world.repository.require(ec2_world.lab_id)
    assert record.status == LabStatus.READY and recorded["outcome"] == "rolled_back"
    assert record.revision == OLD
    assert [(r["outcome"], r["sha"]) for r in record.revisions] == [
        ("deployed", OLD),
        ("rolled_back", NEW),
    ]
    assert record.revisions[-1]["cause"] == cause


def test_given_a_successful_command_when_recorded_then_ready_on_the_new_revision(
    ec2_world: Ec2World, stubbed_ssm: Stubber
) -> None:
    _updating_lab(ec2_world, INSTANCE_ID, command_id=COMMAND_ID, execution_id=EXECUTION)
    stubbed_ssm.add_response(
        "get_command_invocation",
        _invocation(
            Status="Success",
            ResponseCode=0,
            StandardOutputContent=_outcome_line(outcome="updated") + "\n",
        ),
    )

    waited = _step(ec2_world, "wait_update")
    _step(ec2_world, "record_update", state={"waited": {"result": waited}})

    record = ec2_world.repository.require(ec2_world.lab_id)
    assert record.status == LabStatus.READY and record.revision == NEW
    assert record.source and record.source["ref"] == "v2"
    assert record.revisions[-1]["outcome"] == "updated"


def test_given_a_command_that_timed_out_when_waited_then_no_outcome_and_the_status_says_why(
    ec2_world: Ec2World, stubbed_ssm: Stubber
) -> None:
    _updating_lab(ec2_world, INSTANCE_ID, command_id=COMMAND_ID, execution_id=EXECUTION)
    stubbed_ssm.add_response(
        "get_command_invocation",
        _invocation(Status="TimedOut", StatusDetails="ExecutionTimedOut", ResponseCode=-1),
    )

    waited = _step(ec2_world, "wait_update")

    assert waited["outcome"] == "unknown" and "exit_code" not in waited
    assert waited["cause"] == "the agent's update reported no outcome (ExecutionTimedOut)"
