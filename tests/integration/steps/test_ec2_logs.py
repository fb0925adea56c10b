"""The ec2 provider's logs: the agent's logs command sent through SSM Run Command against
moto, and SSM's real answers moto does not give pinned with botocore's Stubber (an
invocation not visible yet right after SendCommand, output cut at 24,000 characters, a
Failed command whose exit 3 names an unknown step, a TimedOut command)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ads.providers.ec2_logs import logs_script, read_logs
from ads.providers.throttling import call
from ads.providers.vm_logs import LogsNotReady, LogsRequest, LogsUnreadable, UnknownLogs

REGION = "us-east-1"
INSTANCE_ID = "i-0123456789abcdef0"
COMMAND_ID = "11111111-2222-3333-4444-555555555555"
DOCUMENT = {"name": "deploy", "kind": "deploy", "status": "succeeded", "exit_code": 0,
            "steps": [{"step": "build", "exit_code": 0}], "lines": ["$ make", "built"],
            "next_offset": None}  # fmt: skip


@pytest.fixture
def ssm() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "ssm", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def _sent(stub: Stubber) -> None:
    stub.add_response(
        "send_command",
        {"Command": {"CommandId": COMMAND_ID}},
        {
            "InstanceIds": [INSTANCE_ID],
            "DocumentName": "AWS-RunShellScript",
            "Comment": ANY,
            "Parameters": ANY,
            "TimeoutSeconds": ANY,
        },
    )


def _invocation(**fields: Any) -> dict[str, Any]:
    return {"CommandId": COMMAND_ID, "InstanceId": INSTANCE_ID, "StandardOutputContent": "",
            "StandardErrorContent": "", **fields}  # fmt: skip


def _read(client: Any, request: LogsRequest | None = None, wait_s: float = 5.0) -> dict:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    return read_logs(
        call, client, lab_id="lab-1", vm_id=INSTANCE_ID, prefix="/opt/ads",
        request=request or LogsRequest(), wait_s=wait_s, sleep=sleep, clock=lambda: now[0],
    )  # fmt: skip


def test_given_an_invocation_not_visible_yet_when_read_then_it_waits_for_the_agents_document(
    ssm,
) -> None:
    client, stub = ssm
    _sent(stub)
    stub.add_client_error("get_command_invocation", service_error_code="InvocationDoesNotExist")
    stub.add_response("get_command_invocation", _invocation(Status="InProgress", ResponseCode=-1))
    stub.add_response(
        "get_command_invocation",
        _invocation(Status="Success", ResponseCode=0, StandardOutputContent=json.dumps(DOCUMENT)),
    )

    assert _read(client) == DOCUMENT


def test_given_a_vm_that_never_answers_when_read_then_logs_not_ready_after_the_wait(ssm) -> None:
    client, stub = ssm
    _sent(stub)
    for _ in range(3):
        stub.add_response("get_command_invocation", _invocation(Status="Pending", ResponseCode=-1))

    with pytest.raises(LogsNotReady, match="within 1 s"):
        _read(client, wait_s=1.0)


def test_given_an_unknown_step_when_read_then_the_agents_exit_3_names_the_known_steps(ssm) -> None:
    client, stub = ssm
    _sent(stub)
    answer = {"error": "the deploy ran no step 'nope'", "known": ["build", "start"]}
    stub.add_response(
        "get_command_invocation",
        _invocation(Status="Failed", ResponseCode=3, StandardOutputContent=json.dumps(answer)),
    )

    with pytest.raises(UnknownLogs) as caught:
        _read(client, LogsRequest(step="nope"))
    assert caught.value.known == ["build", "start"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"Status": "Success", "ResponseCode": 0, "StandardOutputContent": "x" * 24_000},
         "cut at SSM's 24000 characters"),
        ({"Status": "TimedOut", "StatusDetails": "ExecutionTimedOut", "ResponseCode": -1},
         "ended ExecutionTimedOut without an answer"),
        ({"Status": "Failed", "ResponseCode": 2, "StandardOutputContent": "python3: not found"},
         "without its document: python3: not found"),
    ],
)  # fmt: skip
def test_given_ssm_answers_without_a_document_when_read_then_logs_unreadable_says_why(
    ssm, fields: dict[str, Any], message: str
) -> None:
    client, stub = ssm
    _sent(stub)
    stub.add_response("get_command_invocation", _invocation(**fields))

    with pytest.raises(LogsUnreadable, match=message):
        _read(client)


def test_given_a_request_when_scripted_then_the_agent_gets_its_bounded_arguments() -> None:
    script = logs_script("/opt/ads", LogsRequest(action="back up; rm -rf /", offset=5))
    assert (
        "python3 -m ads_agent logs --offset 5 --max-bytes 16000 --action 'back up; rm -rf /'"
        in (script)
    )
    assert "--state-dir /opt/ads/state --lab-dir /opt/ads/lab" in script
    with pytest.raises(ValueError):
        LogsRequest(max_bytes=24_000)


def test_given_a_moto_instance_when_logs_are_read_then_the_agent_command_is_sent_to_it(
    ec2_world,
) -> None:
    """moto runs no agent: its invocation succeeds with no output, which is reported as no
    document rather than an empty page."""
    from ads.providers.base import VmInfo

    vm_id = ec2_world.ec2.run_instances(ImageId=ec2_world.image_id, MinCount=1, MaxCount=1)[
        "Instances"
    ][0]["InstanceId"]
    provider = ec2_world.provider()
    vm = VmInfo(vm_id=vm_id, provider="ec2", private_ip="10.0.0.5", agent_port=9089)

    with pytest.raises(LogsUnreadable, match="without its document: no output"):
        provider.read_logs("lab-1", vm, LogsRequest(step="build"))

    (command,) = ec2_world.ssm.called("send_command")
    assert command["InstanceIds"] == [vm_id]
    assert (
        "python3 -m ads_agent logs --offset 0 --max-bytes 16000 --step build"
        in (command["Parameters"]["commands"][0])
    )
