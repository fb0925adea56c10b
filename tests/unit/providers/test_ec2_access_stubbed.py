"""Lab access against AWS's real answers that moto never gives, pinned with Stubber:
a rule priority already taken, a security group still held by a terminating instance,
and a public IP that shows only after the instance is described as running."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ads.config import AdsConfig
from ads.providers.base import DestroyInProgress, VmInfo, VmNotReady
from ads.providers.ec2_access import (
    Ec2LabAccess,
    LabAccessFailed,
    LaunchAccess,
    first_priority,
    next_priority,
    target_group_name,
)

LAB_ID = "hello-web-01jd5k3q8v2m6x9t4r7p0wz1ab"
LISTENER = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/ads-labs/50dc6c495c0c9188/"
    "f2f7dc8efc522ab2"
)
TARGET_GROUP = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/"
    f"{target_group_name(LAB_ID)}/73e2d6bc24d8a067"
)
RULE = LISTENER.replace(":listener/", ":listener-rule/") + "/9683b2d02a6cabee"
VM = VmInfo(vm_id="i-0123456789abcdef0", provider="ec2", private_ip="10.40.0.7", agent_port=9089)
LB_PLAN = {"access": "load-balancer", "lab_ports": [80]}
PUBLIC_PLAN = {"access": "public", "lab_ports": [8080]}


def _client(service: str) -> Any:
    return boto3.client(
        service,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def clients() -> Iterator[tuple[Any, Stubber, Any, Stubber]]:
    ec2, elbv2 = _client("ec2"), _client("elbv2")
    with Stubber(ec2) as ec2_stub, Stubber(elbv2) as elbv2_stub:
        yield ec2, ec2_stub, elbv2, elbv2_stub
        ec2_stub.assert_no_pending_responses()
        elbv2_stub.assert_no_pending_responses()


def access_for(ec2: Any, elbv2: Any, mode: str) -> Ec2LabAccess:
    config = AdsConfig(
        region="eu-west-1",
        lab_access=mode,
        vpc_id="vpc-0abc12345def67890",
        public_subnet_ids=("subnet-0aaa1111bbbb2222c",),
        lb_listener_arn=LISTENER,
        lb_security_group_id="sg-0a1b2c3d4e5f60718",
        lb_domain="labs.example.org",
    )
    return Ec2LabAccess(config, ec2=ec2, elbv2=elbv2)


def _no_target_group(stub: Stubber) -> None:
    stub.add_client_error(
        "describe_target_groups",
        service_error_code="TargetGroupNotFound",
        http_status_code=400,
        expected_params={"Names": [target_group_name(LAB_ID)]},
    )


def _target_group_created(stub: Stubber) -> None:
    stub.add_response(
        "create_target_group",
        {"TargetGroups": [{"TargetGroupArn": TARGET_GROUP}]},
        {
            "Name": target_group_name(LAB_ID),
            "Protocol": "HTTP",
            "Port": 80,
            "VpcId": "vpc-0abc12345def67890",
            "TargetType": "instance",
            "HealthCheckProtocol": "HTTP",
            "HealthCheckPort": "9089",
            "HealthCheckPath": "/health",
            "HealthCheckIntervalSeconds": 15,
            "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 3,
            "Matcher": {"HttpCode": "200"},
            "Tags": ANY,
        },
    )


def _rule_request(priority: int) -> dict[str, Any]:
    return {
        "ListenerArn": LISTENER,
        "Priority": priority,
        "Conditions": [
            {
                "Field": "host-header",
                "HostHeaderConfig": {"Values": [f"{LAB_ID}.labs.example.org"]},
            }
        ],
        "Actions": [{"Type": "forward", "TargetGroupArn": TARGET_GROUP}],
        "Tags": ANY,
    }


def test_given_a_priority_in_use_when_the_rule_is_created_then_the_next_one_is_taken(clients):
    ec2, _, elbv2, stub = clients
    first = first_priority(LAB_ID)
    _no_target_group(stub)
    _target_group_created(stub)
    stub.add_response("describe_rules", {"Rules": []}, {"ListenerArn": LISTENER})
    stub.add_client_error(
        "create_rule",
        service_error_code="PriorityInUse",
        service_message=f"Priority '{first}' is currently in use",
        http_status_code=400,
        expected_params=_rule_request(first),
    )
    stub.add_response(
        "create_rule", {"Rules": [{"RuleArn": RULE}]}, _rule_request(next_priority(first))
    )
    stub.add_response(
        "register_targets",
        {},
        {"TargetGroupArn": TARGET_GROUP, "Targets": [{"Id": VM.vm_id, "Port": 80}]},
    )

    url = access_for(ec2, elbv2, "load-balancer").open(LAB_ID, VM, LB_PLAN)

    assert url == f"https://{LAB_ID}.labs.example.org/"


def test_given_the_top_priority_in_use_when_probing_then_it_wraps_to_one():
    assert 1 <= first_priority(LAB_ID) <= 50000
    assert [next_priority(p) for p in (1, 49999, 50000)] == [2, 50000, 1]


def test_given_another_refusal_when_the_rule_is_created_then_mark_ready_fails_naming_it(clients):
    ec2, _, elbv2, stub = clients
    _no_target_group(stub)
    _target_group_created(stub)
    stub.add_response("describe_rules", {"Rules": []}, {"ListenerArn": LISTENER})
    stub.add_client_error(
        "create_rule",
        service_error_code="TooManyRules",
        service_message="The listener has too many rules",
        http_status_code=400,
    )

    with pytest.raises(LabAccessFailed) as caught:
        access_for(ec2, elbv2, "load-balancer").open(LAB_ID, VM, LB_PLAN)

    assert "TooManyRules" in caught.value.message


def test_given_the_rules_span_pages_when_the_lab_has_one_then_no_second_rule_is_made(clients):
    ec2, _, elbv2, stub = clients
    host = f"{LAB_ID}.labs.example.org"
    stub.add_response(
        "describe_target_groups",
        {"TargetGroups": [{"TargetGroupArn": TARGET_GROUP}]},
        {"Names": [target_group_name(LAB_ID)]},
    )
    stub.add_response(
        "describe_rules",
        {"Rules": [{"RuleArn": "other", "Conditions": []}], "NextMarker": "page-2"},
        {"ListenerArn": LISTENER},
    )
    stub.add_response(
        "describe_rules",
        {
            "Rules": [
                {
                    "RuleArn": RULE,
                    "Conditions": [
                        {"Field": "host-header", "HostHeaderConfig": {"Values": [host]}}
                    ],
                }
            ]
        },
        {"ListenerArn": LISTENER, "Marker": "page-2"},
    )
    stub.add_response("register_targets", {}, None)

    url = access_for(ec2, elbv2, "load-balancer").open(LAB_ID, VM, LB_PLAN)

    assert url == f"https://{host}/"


def _lab_group(stub: Stubber, group_id: str = "sg-0feedfacecafe0001") -> None:
    stub.add_response(
        "describe_security_groups",
        {"SecurityGroups": [{"GroupId": group_id}]},
        {
            "Filters": [
                {"Name": "tag:ads:lab-id", "Values": [LAB_ID]},
                {"Name": "group-name", "Values": [f"ads-lab-{LAB_ID}"]},
                {"Name": "vpc-id", "Values": ["vpc-0abc12345def67890"]},
            ]
        },
    )


def test_given_the_group_still_held_when_deleted_then_destroy_is_retried_not_failed(clients):
    ec2, stub, elbv2, _ = clients
    _lab_group(stub)
    stub.add_client_error(
        "delete_security_group",
        service_error_code="DependencyViolation",
        service_message="resource sg-0feedfacecafe0001 has a dependent object",
        http_status_code=400,
        expected_params={"GroupId": "sg-0feedfacecafe0001"},
    )
    _lab_group(stub)
    stub.add_response("delete_security_group", {}, {"GroupId": "sg-0feedfacecafe0001"})
    access = access_for(ec2, elbv2, "public")

    with pytest.raises(DestroyInProgress) as caught:
        access.release(LAB_ID, PUBLIC_PLAN)
    access.release(LAB_ID, PUBLIC_PLAN)

    assert "DependencyViolation" in caught.value.message


def test_given_the_group_already_deleted_when_released_again_then_nothing_fails(clients):
    ec2, stub, elbv2, _ = clients
    _lab_group(stub)
    stub.add_client_error(
        "delete_security_group", service_error_code="InvalidGroup.NotFound", http_status_code=400
    )

    access_for(ec2, elbv2, "public").release(LAB_ID, PUBLIC_PLAN)


def _instance(public_ip: str | None) -> dict[str, Any]:
    instance: dict[str, Any] = {"InstanceId": VM.vm_id, "State": {"Name": "running"}}
    if public_ip:
        instance["PublicIpAddress"] = public_ip
    return {"Reservations": [{"Instances": [instance]}]}


def test_given_the_public_ip_shows_late_when_waiting_then_not_ready_until_it_does(clients):
    ec2, stub, elbv2, _ = clients
    stub.add_response("describe_instances", _instance(None), {"InstanceIds": [VM.vm_id]})
    stub.add_response("describe_instances", _instance("198.51.100.7"), {"InstanceIds": [VM.vm_id]})
    access = access_for(ec2, elbv2, "public")

    with pytest.raises(VmNotReady):
        access.access_details(LAB_ID, VM, PUBLIC_PLAN)
    details = access.access_details(LAB_ID, VM, PUBLIC_PLAN)

    assert details == {"public_ip": "198.51.100.7"}
    vm = VM.model_copy(update={"details": details})
    assert access.open(LAB_ID, vm, PUBLIC_PLAN) == "http://198.51.100.7:8080/"


def test_given_a_rule_already_there_when_a_permission_is_duplicate_then_the_others_are_added(
    clients,
):
    ec2, stub, elbv2, _ = clients
    _lab_group(stub)
    stub.add_client_error(
        "authorize_security_group_ingress",
        service_error_code="InvalidPermission.Duplicate",
        http_status_code=400,
    )
    stub.add_response("authorize_security_group_ingress", {"Return": True}, None)
    access = access_for(ec2, elbv2, "public")

    launch = access.prepare_launch(LAB_ID, {"access": "public", "lab_ports": [80, 443]})

    assert launch is not None and launch.group_id == "sg-0feedfacecafe0001"


def test_given_public_access_when_launching_then_the_interface_asks_for_a_public_ip():
    access = access_for(None, None, "public")
    launch = LaunchAccess(mode="public", group_id="sg-0feedfacecafe0001")

    arguments = access.launch_arguments(
        LAB_ID, {"SubnetId": "subnet-private", "SecurityGroupIds": ["sg-shared"]}, launch
    )

    assert "SubnetId" not in arguments and "SecurityGroupIds" not in arguments
    assert arguments["NetworkInterfaces"] == [
        {
            "DeviceIndex": 0,
            "SubnetId": "subnet-0aaa1111bbbb2222c",
            "Groups": ["sg-shared", "sg-0feedfacecafe0001"],
            "AssociatePublicIpAddress": True,
            "DeleteOnTermination": True,
        }
    ]


def test_given_public_access_without_public_subnets_when_creating_then_the_variable_is_named():
    config = AdsConfig(lab_access="public", vpc_id="vpc-0abc12345def67890")
    access = Ec2LabAccess(config, ec2=None, elbv2=None)

    with pytest.raises(Exception, match="ADS_PUBLIC_SUBNET_IDS"):
        access.prepare_launch(LAB_ID, PUBLIC_PLAN)


def test_given_a_lab_planned_private_when_the_configuration_says_public_then_the_plan_wins():
    access = access_for(None, None, "public")

    assert access.prepare_launch(LAB_ID, {"access": "private"}) is None
    assert access.open(LAB_ID, VM, {"access": "private"}) is None


def test_given_a_lab_on_port_8080_when_the_init_script_is_made_then_the_lab_listens_there():
    from ads.providers.ec2_bootstrap import init_script

    script = init_script(
        prefix="/opt/ads",
        lab_id=LAB_ID,
        bundle_url="https://example.org/bundle.zip",
        plan={"lab_ports": [8080, 8443]},
        agent_port=9089,
    )

    lines = script.splitlines()
    assert "--lab-port 8080" in lines[-1]
    # On its own VM the app must answer the ALB or a public IP, not only 127.0.0.1: the
    # agent keeps the bind for every command it runs (not only this script's deploy).
    assert "--lab-bind 0.0.0.0" in lines[-1]
