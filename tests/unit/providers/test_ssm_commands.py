"""SSM Run Command for the ``ec2`` provider's scripts, against botocore's Stubber: what
SendCommand is asked, a refusal worded by the caller's exception, and the invocation's
answers moto does not give (not visible yet, still running, timed out with no exit code)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ads.providers.base import InitFailed
from ads.providers.ssm_commands import NOT_VISIBLE, read_invocation, send_shell_script
from ads.providers.vm_logs import LogsUnreadable

VM_ID = "i-0123456789abcdef0"
COMMAND_ID = "11111111-2222-3333-4444-555555555555"


def _call(client: Any, operation: str, **kwargs: Any) -> Any:
    return getattr(client, operation)(**kwargs)


@pytest.fixture
def ssm() -> Any:
    return boto3.client(
        "ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_given_a_script_when_sent_then_run_shell_script_carries_it_with_both_timeouts(
    ssm: Any,
) -> None:
    comment = "ADS action " + "x" * 120
    with Stubber(ssm) as stub:
        stub.add_response(
            "send_command",
            {"Command": {"CommandId": COMMAND_ID}},
            {
                "InstanceIds": [VM_ID],
                "DocumentName": "AWS-RunShellScript",
                "Comment": comment[:100],
                "Parameters": {"commands": ["echo hi\n"], "executionTimeout": ["900"]},
                "TimeoutSeconds": 600,
            },
        )
        command_id = send_shell_script(
            _call,
            ssm,
            vm_id=VM_ID,
            what="action backup",
            script="echo hi\n",
            comment=comment,
            execution_timeout_s=900,
            delivery_timeout_s=600,
        )
        stub.assert_no_pending_responses()
    assert command_id == COMMAND_ID


@pytest.mark.parametrize("refused", [InitFailed, LogsUnreadable])
def test_given_ssm_refuses_the_command_then_the_callers_exception_names_what_and_why(
    ssm: Any, refused: type[Exception]
) -> None:
    with Stubber(ssm) as stub:
        stub.add_client_error(
            "send_command", "InvalidInstanceId", "Instances not in a valid state for account"
        )
        with pytest.raises(refused) as raised:
            send_shell_script(
                _call,
                ssm,
                vm_id=VM_ID,
                what="logs",
                script="true\n",
                comment="ADS logs lab-1",
                execution_timeout_s=30,
                delivery_timeout_s=30,
                refused=refused,
            )
    assert str(raised.value) == (
        f"SendCommand (logs) to {VM_ID} refused: InvalidInstanceId: "
        "Instances not in a valid state for account"
    )


def test_given_an_invocation_not_visible_yet_then_it_is_in_progress(ssm: Any) -> None:
    with Stubber(ssm) as stub:
        stub.add_client_error("get_command_invocation", "InvocationDoesNotExist", "")
        invocation = read_invocation(_call, ssm, VM_ID, COMMAND_ID)
    assert invocation.progress == NOT_VISIBLE


def test_given_a_delayed_invocation_then_its_status_is_the_progress(ssm: Any) -> None:
    with Stubber(ssm) as stub:
        stub.add_response("get_command_invocation", {"Status": "Delayed"})
        invocation = read_invocation(_call, ssm, VM_ID, COMMAND_ID)
    assert invocation.progress == "Delayed"


def test_given_a_timed_out_invocation_then_no_exit_code_and_both_outputs_in_the_tail(
    ssm: Any,
) -> None:
    with Stubber(ssm) as stub:
        stub.add_response(
            "get_command_invocation",
            {
                "Status": "TimedOut",
                "StatusDetails": "ExecutionTimedOut",
                "ResponseCode": -1,
                "StandardOutputContent": "step 1\n",
                "StandardErrorContent": "killed\n",
            },
        )
        invocation = read_invocation(_call, ssm, VM_ID, COMMAND_ID)
    assert invocation.progress is None
    assert invocation.exit_code is None
    assert invocation.detail == "ExecutionTimedOut"
    assert "step 1" in invocation.output_tail and "killed" in invocation.output_tail


def test_given_a_failed_invocation_then_its_exit_code_is_kept(ssm: Any) -> None:
    with Stubber(ssm) as stub:
        stub.add_response("get_command_invocation", {"Status": "Failed", "ResponseCode": 3})
        invocation = read_invocation(_call, ssm, VM_ID, COMMAND_ID)
    assert (invocation.exit_code, invocation.detail) == (3, "Failed")
