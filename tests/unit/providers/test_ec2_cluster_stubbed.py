"""A lab of several VMs against AWS's real answers that moto never gives, pinned with
Stubber: two VMs' creates racing for the cluster group (InvalidGroup.Duplicate, and the
group not listed yet), the group still held by terminating instances (DependencyViolation),
an invocation not visible right after SendCommand, a failed one, and throttling; the
group's ingress exactly as sent (its own group the only source, the declared ports)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ads.config import AdsConfig
from ads.providers.base import (
    DestroyFailed,
    DestroyInProgress,
    ProviderThrottled,
    VmCreateFailed,
    VmInfo,
)
from ads.providers.ec2_cluster import (
    CLIENT_TOKEN_LIMIT,
    Ec2Cluster,
    cluster_group_name,
    vm_client_token,
    with_group,
)
from ads.providers.throttling import call

LAB_ID = "two-role-lab-01jd5k3q8v2m6x9t4r7p0wz1ab"
VPC = "vpc-0abc12345def67890"
GROUP = "sg-0c1u5te4000000001"
COMMAND = "0b6a2f9e-3c1d-4e5f-8a7b-9c0d1e2f3a4b"
DB = VmInfo(
    vm_id="i-0aaaaaaaaaaaaaaa1", provider="ec2", agent_port=9089, details={"vm_name": "db-1"}
)
WEB = VmInfo(
    vm_id="i-0bbbbbbbbbbbbbbb2", provider="ec2", agent_port=9089, details={"vm_name": "web-1"}
)
NAME_FILTER = {
    "Filters": [
        {"Name": "group-name", "Values": [cluster_group_name(LAB_ID)]},
        {"Name": "vpc-id", "Values": [VPC]},
    ]
}


def _client(service: str) -> Any:
    return boto3.client(
        service, region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="x"
    )


@pytest.fixture
def stubbed() -> Iterator[tuple[Ec2Cluster, Stubber, Stubber]]:
    ec2, ssm = _client("ec2"), _client("ssm")
    config = AdsConfig(region="eu-west-1", vpc_id=VPC)
    with Stubber(ec2) as ec2_stub, Stubber(ssm) as ssm_stub:
        yield Ec2Cluster(config, call=call, ec2=ec2, ssm=ssm), ec2_stub, ssm_stub
        ec2_stub.assert_no_pending_responses()
        ssm_stub.assert_no_pending_responses()


def _no_group(stub: Stubber) -> None:
    stub.add_response("describe_security_groups", {"SecurityGroups": []}, NAME_FILTER)


def _the_group(stub: Stubber) -> None:
    stub.add_response(
        "describe_security_groups", {"SecurityGroups": [{"GroupId": GROUP}]}, NAME_FILTER
    )


def _ingress(stub: Stubber, port: int) -> None:
    stub.add_response(
        "authorize_security_group_ingress",
        {"Return": True},
        {
            "GroupId": GROUP,
            "IpPermissions": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "UserIdGroupPairs": [{"GroupId": GROUP, "Description": "the lab's own VMs"}],
                }
            ],
        },
    )


def test_given_no_group_when_the_first_vm_is_created_then_the_group_admits_only_itself_on_the_declared_ports(
    stubbed,
):
    cluster, ec2, _ = stubbed
    _no_group(ec2)
    ec2.add_response(
        "create_security_group",
        {"GroupId": GROUP},
        {
            "GroupName": cluster_group_name(LAB_ID),
            "Description": ANY,
            "VpcId": VPC,
            "TagSpecifications": [
                {
                    "ResourceType": "security-group",
                    "Tags": [
                        {"Key": "ads:lab-id", "Value": LAB_ID},
                        {"Key": "ads:managed", "Value": "true"},
                        {"Key": "ads:cluster", "Value": "true"},
                    ],
                }
            ],
        },
    )
    _ingress(ec2, 5432)
    _ingress(ec2, 8080)

    assert cluster.ensure_group(LAB_ID, {"lab_ports": [8080, 5432]}) == GROUP


def test_given_another_vms_create_made_the_group_when_create_answers_duplicate_then_the_group_is_found(
    stubbed,
):
    cluster, ec2, _ = stubbed
    _no_group(ec2)
    ec2.add_client_error(
        "create_security_group",
        service_error_code="InvalidGroup.Duplicate",
        service_message=f"The security group '{cluster_group_name(LAB_ID)}' already exists",
        http_status_code=400,
    )
    _the_group(ec2)
    ec2.add_client_error(
        "authorize_security_group_ingress",
        service_error_code="InvalidPermission.Duplicate",
        service_message="the specified rule already exists",
        http_status_code=400,
    )

    assert cluster.ensure_group(LAB_ID, {"lab_ports": [5432]}) == GROUP


def test_given_a_duplicate_group_not_listed_yet_when_created_then_create_vm_is_retried(stubbed):
    cluster, ec2, _ = stubbed
    _no_group(ec2)
    ec2.add_client_error(
        "create_security_group", service_error_code="InvalidGroup.Duplicate", http_status_code=400
    )
    _no_group(ec2)

    with pytest.raises(ProviderThrottled, match=r"InvalidGroup\.Duplicate"):
        cluster.ensure_group(LAB_ID, {"lab_ports": [5432]})


def test_given_create_refused_when_the_group_is_prepared_then_vm_create_failed_names_the_call(
    stubbed,
):
    cluster, ec2, _ = stubbed
    _no_group(ec2)
    ec2.add_client_error(
        "create_security_group",
        service_error_code="UnauthorizedOperation",
        service_message="not allowed",
        http_status_code=403,
    )

    with pytest.raises(VmCreateFailed, match="CreateSecurityGroup: UnauthorizedOperation"):
        cluster.ensure_group(LAB_ID, {"lab_ports": [5432]})


def test_given_instances_still_terminating_when_released_then_destroy_is_retried_then_the_group_goes(
    stubbed,
):
    cluster, ec2, _ = stubbed
    _the_group(ec2)
    ec2.add_client_error(
        "delete_security_group",
        service_error_code="DependencyViolation",
        service_message=f"resource {GROUP} has a dependent object",
        http_status_code=400,
        expected_params={"GroupId": GROUP},
    )
    _the_group(ec2)
    ec2.add_response("delete_security_group", {}, {"GroupId": GROUP})

    with pytest.raises(DestroyInProgress, match="DependencyViolation"):
        cluster.release(LAB_ID)
    cluster.release(LAB_ID)


def test_given_the_group_gone_meanwhile_when_released_then_it_is_fine_and_another_refusal_fails(
    stubbed,
):
    cluster, ec2, _ = stubbed
    _the_group(ec2)
    ec2.add_client_error(
        "delete_security_group", service_error_code="InvalidGroup.NotFound", http_status_code=400
    )
    _the_group(ec2)
    ec2.add_client_error(
        "delete_security_group", service_error_code="UnauthorizedOperation", http_status_code=403
    )

    cluster.release(LAB_ID)
    with pytest.raises(DestroyFailed, match="UnauthorizedOperation"):
        cluster.release(LAB_ID)


def _invocation(stub: Stubber, vm: VmInfo, status: str, **extra: Any) -> None:
    stub.add_response(
        "get_command_invocation",
        {"CommandId": COMMAND, "InstanceId": vm.vm_id, "Status": status, **extra},
        {"CommandId": COMMAND, "InstanceId": vm.vm_id},
    )


def test_given_the_facts_just_sent_when_an_invocation_is_not_visible_yet_then_they_are_pending(
    stubbed,
):
    cluster, _, ssm = stubbed
    _invocation(ssm, DB, "Success")
    ssm.add_client_error(
        "get_command_invocation", service_error_code="InvocationDoesNotExist", http_status_code=400
    )

    status = cluster.facts_status([DB, WEB], COMMAND)

    assert status.state == "in_progress"
    assert "web-1: invocation not visible yet" in status.detail


def test_given_one_vm_failed_to_write_the_facts_when_followed_then_failed_names_that_vm(stubbed):
    cluster, _, ssm = stubbed
    _invocation(ssm, DB, "Success")
    _invocation(
        ssm, WEB, "Failed", ResponseCode=1, StandardErrorContent="mkdir: read-only file system"
    )

    status = cluster.facts_status([DB, WEB], COMMAND)

    assert status.state == "failed"
    assert status.detail.startswith("web-1: ")
    assert "read-only file system" in status.output_tail


def test_given_every_vm_wrote_the_facts_when_followed_then_success(stubbed):
    cluster, _, ssm = stubbed
    _invocation(ssm, DB, "Success")
    _invocation(ssm, WEB, "Success")

    assert cluster.facts_status([DB, WEB], COMMAND).state == "success"


def test_given_ssm_still_throttles_when_the_facts_are_sent_then_provider_throttled_is_raised(
    stubbed,
):
    cluster, _, ssm = stubbed
    ssm.add_client_error(
        "send_command", service_error_code="ThrottlingException", http_status_code=400
    )

    with pytest.raises(ProviderThrottled, match="send_command"):
        cluster.share_facts(LAB_ID, [DB, WEB], {"lab_id": LAB_ID, "vms": []})


def test_given_the_facts_when_sent_then_one_command_goes_to_every_instance(stubbed):
    cluster, _, ssm = stubbed
    ssm.add_response(
        "send_command",
        {"Command": {"CommandId": COMMAND}},
        {
            "InstanceIds": [DB.vm_id, WEB.vm_id],
            "DocumentName": "AWS-RunShellScript",
            "Comment": f"ADS cluster facts {LAB_ID}",
            "Parameters": {"commands": [ANY], "executionTimeout": ["60"]},
            "TimeoutSeconds": ANY,
        },
    )

    assert cluster.share_facts(LAB_ID, [DB, WEB], {"lab_id": LAB_ID, "vms": []}) == COMMAND


def test_given_long_lab_ids_when_vms_are_tokened_then_every_token_fits_and_differs():
    lab_id = "a" * 64

    tokens = {vm_client_token(lab_id, f"web-{n}") for n in range(1, 11)}

    assert len(tokens) == 10
    assert all(len(token) <= CLIENT_TOKEN_LIMIT for token in tokens)
    assert vm_client_token("short-lab", "db-1") == "short-lab.db-1"


def test_given_a_public_launch_when_the_cluster_group_is_added_then_the_interface_wears_it():
    public = {"NetworkInterfaces": [{"DeviceIndex": 0, "Groups": ["sg-access"]}]}
    private = {"SecurityGroupIds": ["sg-lab"]}

    assert with_group(public, GROUP)["NetworkInterfaces"][0]["Groups"] == ["sg-access", GROUP]
    assert with_group(private, GROUP)["SecurityGroupIds"] == ["sg-lab", GROUP]
