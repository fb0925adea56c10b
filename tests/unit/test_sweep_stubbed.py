"""AWS's real answers to the sweep, pinned with botocore's Stubber (moto answers none of these)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ads.config import LAB_ID_TAG, MANAGED_TAG, AdsConfig
from ads.deployment_context import DeploymentContext
from ads.executions import execution_status
from ads.providers.ec2_access import Ec2LabAccess
from ads.providers.ec2_sweep import Ec2SweepInventory
from ads.sweep_model import ManagedVm

REGION = "us-east-1"
LAUNCHED = datetime(2026, 1, 1, tzinfo=UTC)


def _instance(instance_id: str, lab_id: str) -> dict:
    return {
        "InstanceId": instance_id,
        "LaunchTime": LAUNCHED,
        "State": {"Name": "running", "Code": 16},
        "Tags": [{"Key": MANAGED_TAG, "Value": "true"}, {"Key": LAB_ID_TAG, "Value": lab_id}],
    }


def _inventory(ec2: object) -> Ec2SweepInventory:
    config = AdsConfig(region=REGION)
    return Ec2SweepInventory(ec2=ec2, access=Ec2LabAccess(config, ec2=ec2, elbv2=None))


def _vm(instance_id: str) -> ManagedVm:
    return ManagedVm(kind="instance", vm_id=instance_id, lab_id="lab", launched_at=LAUNCHED)


@pytest.fixture
def ec2() -> object:
    return boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


def test_given_two_pages_of_instances_when_listed_then_every_page_is_read_with_the_tag_filter(
    ec2: object,
) -> None:
    filters = [
        {"Name": f"tag:{MANAGED_TAG}", "Values": ["true"]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
    ]
    with Stubber(ec2) as stub:  # type: ignore[arg-type]
        stub.add_response(
            "describe_instances",
            {
                "Reservations": [{"Instances": [_instance("i-0000000000000000a", "lab-a")]}],
                "NextToken": "page-2",
            },
            {"Filters": filters},
        )
        stub.add_response(
            "describe_instances",
            {"Reservations": [{"Instances": [_instance("i-0000000000000000b", "lab-b")]}]},
            {"Filters": filters, "NextToken": "page-2"},
        )
        vms = list(_inventory(ec2).managed_vms())
        stub.assert_no_pending_responses()
    assert [(vm.vm_id, vm.lab_id, vm.launched_at) for vm in vms] == [
        ("i-0000000000000000a", "lab-a", LAUNCHED),
        ("i-0000000000000000b", "lab-b", LAUNCHED),
    ]


def test_given_a_batch_refused_for_one_instance_when_terminating_then_each_is_tried_alone(
    ec2: object,
) -> None:
    ids = ["i-0000000000000000a", "i-0000000000000000b", "i-0000000000000000c"]
    with Stubber(ec2) as stub:  # type: ignore[arg-type]
        stub.add_client_error(
            "terminate_instances",
            "IncorrectInstanceState",
            "The instance 'i-0000000000000000b' is not in a state from which it can be terminated.",
            expected_params={"InstanceIds": ids},
        )
        stub.add_response(
            "terminate_instances",
            {"TerminatingInstances": [{"InstanceId": ids[0]}]},
            {"InstanceIds": [ids[0]]},
        )
        stub.add_client_error(
            "terminate_instances",
            "IncorrectInstanceState",
            "The instance 'i-0000000000000000b' is not in a state from which it can be terminated.",
            expected_params={"InstanceIds": [ids[1]]},
        )
        stub.add_client_error(
            "terminate_instances",
            "InvalidInstanceID.NotFound",
            "The instance ID 'i-0000000000000000c' does not exist",
            expected_params={"InstanceIds": [ids[2]]},
        )
        outcome = _inventory(ec2).terminate([_vm(i) for i in ids])
        stub.assert_no_pending_responses()
    assert outcome[ids[0]] is None
    assert outcome[ids[1]] is not None and outcome[ids[1]].startswith("IncorrectInstanceState: ")
    assert outcome[ids[2]] is None  # already gone


def test_given_an_answer_listing_fewer_instances_when_terminating_then_the_missing_one_is_an_error(
    ec2: object,
) -> None:
    ids = ["i-0000000000000000a", "i-0000000000000000b"]
    with Stubber(ec2) as stub:  # type: ignore[arg-type]
        stub.add_response(
            "terminate_instances",
            {"TerminatingInstances": [{"InstanceId": ids[0]}]},
            {"InstanceIds": ids},
        )
        outcome = _inventory(ec2).terminate([_vm(i) for i in ids])
    assert outcome[ids[0]] is None
    assert outcome[ids[1]] == "TerminateInstances did not list it as terminating"


def test_given_an_execution_step_functions_does_not_know_when_read_then_it_is_absent() -> None:
    sfn = boto3.client(
        "stepfunctions", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    arn = f"arn:aws:states:{REGION}:123456789012:execution:ads-deploy-lab:lab-gone"
    context = DeploymentContext(repository=None, stepfunctions=sfn, config=AdsConfig())  # type: ignore[arg-type]
    with Stubber(sfn) as stub:
        stub.add_client_error(
            "describe_execution",
            "ExecutionDoesNotExist",
            f"Execution Does Not Exist: '{arn}'",
            expected_params={"executionArn": ANY},
        )
        assert execution_status(context, arn) == "ABSENT"
