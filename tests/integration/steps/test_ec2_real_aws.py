"""The ec2 provider against how AWS really answers, where moto answers otherwise.

moto presigns whatever botocore produces, lists an instance the moment RunInstances
returns, terminates at once and has capacity for every type in every zone. Real AWS
refuses SigV2 URLs for SSE-KMS objects, is eventually consistent, keeps an instance
``shutting-down`` for a while and runs out of capacity per zone. Those answers are pinned
here with botocore's Stubber (the lab records stay in moto's DynamoDB)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ads.config import AdsConfig
from ads.lab_record import LabStatus
from ads.providers.base import InitRequest
from ads.providers.ec2 import Ec2Provider
from functions.create_vm.handler import handler as create_vm
from functions.destroy_vm.handler import handler as destroy_vm
from functions.wait_running.handler import handler as wait_running
from tests.integration.steps.conftest import REGION, Ec2World, FakeLambdaContext, hello_web_plan

CONTEXT = FakeLambdaContext()
INSTANCE_ID = "i-0123456789abcdef0"
IMAGE_ID = "ami-0abcdef1234567890"
NOT_FOUND = "InvalidInstanceID.NotFound"
COMMAND_ID = "0b2e4f6a-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
NOT_FOUND_MESSAGE = f"The instance ID '{INSTANCE_ID}' does not exist"


# -- item 1: the agent bundle URL S3 accepts -------------------------------------------------

PARTITION_DOMAINS = {
    "us-east-1": "amazonaws.com",
    "us-west-2": "amazonaws.com",
    "eu-west-1": "amazonaws.com",
    "ap-south-1": "amazonaws.com",
    "cn-north-1": "amazonaws.com.cn",
    "cn-northwest-1": "amazonaws.com.cn",
    "us-gov-west-1": "amazonaws.com",
}


def _bundle_url(script: str) -> str:
    return re.search(r" /opt/ads '(https://[^']+)' ", script).group(1)


@pytest.mark.parametrize("region", sorted(PARTITION_DOMAINS))
def test_given_a_region_when_the_bundle_url_is_presigned_then_it_is_sigv4_on_the_regional_endpoint(
    region: str,
):
    session = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name=region
    )
    config = AdsConfig(
        region=region, agent_bundle_bucket="cdk-hnb659fds-assets", agent_bundle_key="ab12.zip"
    )
    provider = Ec2Provider.from_config(config, session)

    script = provider.bootstrap_script(
        "hello-web-01", InitRequest(plan={}, source_archive="s3://lab-sources/hello.zip")
    )

    for url, bucket, key in (
        (_bundle_url(script), "cdk-hnb659fds-assets", "/ab12.zip"),
        (
            re.search(r"--source-archive '?(https://[^' ]+)", script).group(1),
            "lab-sources",
            "/hello.zip",
        ),
    ):
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        assert parts.scheme == "https"
        assert parts.netloc == f"{bucket}.s3.{region}.{PARTITION_DOMAINS[region]}"
        assert parts.path == key
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert re.fullmatch(
            rf"AKIDEXAMPLE/\d{{8}}/{region}/s3/aws4_request", query["X-Amz-Credential"][0]
        )
        assert "X-Amz-Signature" in query
        assert "AWSAccessKeyId" not in query and "Signature" not in query


# -- item 3: EC2 is eventually consistent -------------------------------------------------------


def _instance(state: str = "pending", launched: datetime | None = None) -> dict[str, Any]:
    return {
        "InstanceId": INSTANCE_ID,
        "ImageId": IMAGE_ID,
        "InstanceType": "t3.micro",
        "LaunchTime": launched or datetime.now(UTC),
        "State": {"Code": 0, "Name": state},
        "SubnetId": "subnet-0aaa",
        "Placement": {"AvailabilityZone": f"{REGION}a"},
    }


def _described(state: str, launched: datetime | None = None) -> dict[str, Any]:
    return {"Reservations": [{"Instances": [_instance(state, launched)]}]}


class StubbedEc2:
    """A real botocore EC2 client whose answers the test scripts, in order."""

    def __init__(self) -> None:
        self.client = boto3.client("ec2", region_name=REGION)
        self.stub = Stubber(self.client)
        self.run_calls: list[dict[str, Any]] = []
        self.client.meta.events.register(
            "provide-client-params.ec2.RunInstances",
            lambda params, **kwargs: self.run_calls.append(dict(params)),
        )

    def none_listed_by_tag(self) -> None:
        self.stub.add_response("describe_instances", {"Reservations": []}, {"Filters": ANY})

    def launch(self, launched: datetime | None = None) -> None:
        self.none_listed_by_tag()
        self.stub.add_response(
            "describe_images",
            {"Images": [{"ImageId": IMAGE_ID, "RootDeviceName": "/dev/xvda"}]},
            {"ImageIds": [IMAGE_ID]},
        )
        self.stub.add_response(
            "run_instances",
            {"Instances": [_instance(launched=launched)], "ReservationId": "r-1"},
        )

    def describe_not_found(self) -> None:
        self.stub.add_client_error(
            "describe_instances",
            NOT_FOUND,
            NOT_FOUND_MESSAGE,
            expected_params={"InstanceIds": [INSTANCE_ID]},
        )

    def describe(self, state: str, launched: datetime | None = None) -> None:
        self.stub.add_response(
            "describe_instances", _described(state, launched), {"InstanceIds": [INSTANCE_ID]}
        )

    def terminate_accepted(self) -> None:
        self.stub.add_response(
            "terminate_instances",
            {
                "TerminatingInstances": [
                    {
                        "InstanceId": INSTANCE_ID,
                        "CurrentState": {"Code": 32, "Name": "shutting-down"},
                        "PreviousState": {"Code": 16, "Name": "running"},
                    }
                ]
            },
            {"InstanceIds": [INSTANCE_ID]},
        )

    def terminate_not_found(self) -> None:
        self.stub.add_client_error(
            "terminate_instances",
            NOT_FOUND,
            NOT_FOUND_MESSAGE,
            expected_params={"InstanceIds": [INSTANCE_ID]},
        )


@pytest.fixture
def stubbed(ec2_world: Ec2World) -> Any:
    ec2 = StubbedEc2()
    ec2_world.ec2 = ec2.client  # type: ignore[assignment]
    with ec2.stub:
        yield ec2
        ec2.stub.assert_no_pending_responses()


def _seed_image(world: Ec2World) -> None:
    from tests.integration.steps.conftest import seed_image_parameter

    seed_image_parameter(hello_web_plan()["image"]["ssm_parameter"], IMAGE_ID)


def _launched(world: Ec2World, stubbed: StubbedEc2, launched: datetime | None = None) -> None:
    _seed_image(world)
    world.new_lab()
    stubbed.launch(launched)
    create_vm(world.state("create_vm"), CONTEXT)


def test_given_an_instance_just_launched_when_ec2_does_not_list_it_yet_then_wait_running_retries(
    ec2_world: Ec2World, stubbed: StubbedEc2
):
    _launched(ec2_world, stubbed)
    record = ec2_world.repository.require(ec2_world.lab_id)
    assert record.vm_id == INSTANCE_ID
    assert record.vm_details["launched_at"]
    stubbed.describe_not_found()

    with pytest.raises(Exception) as raised:
        wait_running(ec2_world.state("wait_running"), CONTEXT)

    # VmNotReady is what the ASL retries; VmNotRunning would end the deployment.
    assert type(raised.value).__name__ == "VmNotReady"
    assert "does not list it yet" in str(raised.value)

    stubbed.describe("running")
    assert wait_running(ec2_world.state("wait_running"), CONTEXT)["state"] == "running"


def test_given_an_instance_launched_long_ago_when_ec2_does_not_know_it_then_wait_running_fails(
    ec2_world: Ec2World, stubbed: StubbedEc2
):
    _launched(ec2_world, stubbed, datetime.now(UTC) - timedelta(minutes=10))
    stubbed.describe_not_found()

    with pytest.raises(Exception) as raised:
        wait_running(ec2_world.state("wait_running"), CONTEXT)

    assert type(raised.value).__name__ == "VmNotRunning"
    assert "absent" in str(raised.value)


def test_given_a_just_launched_instance_when_terminate_and_describe_answer_not_found_then_destroy_is_not_confirmed(
    ec2_world: Ec2World, stubbed: StubbedEc2
):
    _launched(ec2_world, stubbed)
    stubbed.none_listed_by_tag()
    stubbed.terminate_not_found()
    stubbed.describe_not_found()

    with pytest.raises(Exception) as raised:
        destroy_vm(ec2_world.state("destroy_vm"), CONTEXT)

    assert type(raised.value).__name__ == "DestroyInProgress"
    assert INSTANCE_ID in str(raised.value)

    # The retry terminates it for real and waits for EC2 to say terminated.
    stubbed.none_listed_by_tag()
    stubbed.terminate_accepted()
    stubbed.describe("terminated")
    assert destroy_vm(ec2_world.state("destroy_vm"), CONTEXT) == {
        "vm_id": INSTANCE_ID,
        "state": "terminated",
    }


def test_given_terminate_accepted_when_describe_answers_not_found_within_the_grace_then_destroy_is_not_confirmed(
    ec2_world: Ec2World, stubbed: StubbedEc2
):
    _launched(ec2_world, stubbed)
    stubbed.none_listed_by_tag()
    stubbed.terminate_accepted()
    stubbed.describe_not_found()

    with pytest.raises(Exception) as raised:
        destroy_vm(ec2_world.state("destroy_vm"), CONTEXT)

    assert type(raised.value).__name__ == "DestroyInProgress"
    assert ec2_world.repository.require(ec2_world.lab_id).status != LabStatus.DESTROYED


def test_given_an_instance_shutting_down_when_destroy_vm_runs_then_it_waits_for_terminated(
    ec2_world: Ec2World, stubbed: StubbedEc2
):
    _launched(ec2_world, stubbed, datetime.now(UTC) - timedelta(minutes=10))
    stubbed.stub.add_response("describe_instances", _described("running"), {"Filters": ANY})
    stubbed.terminate_accepted()
    stubbed.describe("shutting-down")

    with pytest.raises(Exception) as raised:
        destroy_vm(ec2_world.state("destroy_vm"), CONTEXT)

    assert type(raised.value).__name__ == "DestroyInProgress"
    assert "shutting down" in str(raised.value)


def test_given_terminate_accepted_long_after_launch_when_ec2_no_longer_knows_it_then_it_is_gone(
    ec2_world: Ec2World, stubbed: StubbedEc2
):
    # EC2 lists a terminated instance for about an hour: past the grace window a NotFound
    # means the instance ended (or never was), so the destroy is confirmed.
    _launched(ec2_world, stubbed, datetime.now(UTC) - timedelta(minutes=10))
    stubbed.none_listed_by_tag()
    stubbed.terminate_accepted()
    stubbed.describe_not_found()

    assert destroy_vm(ec2_world.state("destroy_vm"), CONTEXT) == {
        "vm_id": INSTANCE_ID,
        "state": "absent",
    }


# -- item 9: capacity and unsupported types, across zones as well as types ----------------------

UNSUPPORTED = (
    "Your requested instance type (t3.micro) is not supported in your requested "
    "Availability Zone (us-east-1e). Please retry your request by not specifying an "
    "Availability Zone or choosing us-east-1a, us-east-1b, us-east-1c."
)


@pytest.fixture
def two_subnets(ec2_world: Ec2World) -> Ec2World:
    ec2_world.config = ec2_world.config.model_copy(
        update={"subnet_ids": ("subnet-0aaa", "subnet-0bbb")}
    )
    return ec2_world


def test_given_the_type_is_unsupported_in_one_zone_when_create_vm_runs_then_the_next_subnet_is_tried(
    two_subnets: Ec2World, stubbed: StubbedEc2
):
    _seed_image(two_subnets)
    two_subnets.new_lab()
    stubbed.none_listed_by_tag()
    stubbed.stub.add_response(
        "describe_images",
        {"Images": [{"ImageId": IMAGE_ID, "RootDeviceName": "/dev/xvda"}]},
        {"ImageIds": [IMAGE_ID]},
    )
    stubbed.stub.add_client_error("run_instances", "Unsupported", UNSUPPORTED)
    stubbed.stub.add_client_error(
        "run_instances", "InsufficientInstanceCapacity", "no t3.micro capacity"
    )
    stubbed.stub.add_response("run_instances", {"Instances": [_instance()]})

    result = create_vm(two_subnets.state("create_vm"), CONTEXT)

    assert result["vm_id"] == INSTANCE_ID
    tries = [(c["InstanceType"], c["SubnetId"]) for c in stubbed.run_calls]
    first, second = tries[0][1], tries[1][1]
    assert {first, second} == {"subnet-0aaa", "subnet-0bbb"}
    # The planned type in every zone before a bigger (dearer) type.
    assert tries == [("t3.micro", first), ("t3.micro", second), ("t3.small", first)]
    tokens = [c["ClientToken"] for c in stubbed.run_calls]
    assert tokens[0] == two_subnets.lab_id
    assert len(set(tokens)) == 3 and all(len(t) <= 64 for t in tokens)


def test_given_no_zone_has_any_allowed_type_when_create_vm_runs_then_the_failure_lists_every_try(
    two_subnets: Ec2World, stubbed: StubbedEc2
):
    _seed_image(two_subnets)
    two_subnets.new_lab()
    stubbed.none_listed_by_tag()
    stubbed.stub.add_response(
        "describe_images",
        {"Images": [{"ImageId": IMAGE_ID, "RootDeviceName": "/dev/xvda"}]},
        {"ImageIds": [IMAGE_ID]},
    )
    types = [hello_web_plan()["instance_type"], *hello_web_plan()["fallback_instance_types"]]
    for _ in range(len(types) * 2):
        stubbed.stub.add_client_error("run_instances", "InsufficientInstanceCapacity", "none")

    with pytest.raises(Exception) as raised:
        create_vm(two_subnets.state("create_vm"), CONTEXT)

    assert type(raised.value).__name__ == "VmCreateFailed"
    message = str(raised.value)
    assert f"tried {', '.join(types)}" in message
    for instance_type in types:
        for subnet in ("subnet-0aaa", "subnet-0bbb"):
            assert f"{instance_type} in {subnet} (InsufficientInstanceCapacity)" in message


# -- item 9: the init budget is ADS_INIT_TIMEOUT_S ------------------------------------------------


def test_given_an_init_timeout_when_the_install_is_sent_then_ssm_runs_it_for_that_long(
    ec2_world: Ec2World,
):
    from tests.integration.steps.conftest import RecordingClient

    config = ec2_world.config.model_copy(update={"init_timeout_s": 900})
    ssm = boto3.client("ssm", region_name=REGION)
    with Stubber(ssm) as stub:
        stub.add_response(
            "send_command",
            {"Command": {"CommandId": COMMAND_ID}},
            {
                "InstanceIds": [INSTANCE_ID],
                "DocumentName": "AWS-RunShellScript",
                "Comment": ANY,
                "Parameters": {"commands": ANY, "executionTimeout": ["900"]},
                "TimeoutSeconds": ANY,
            },
        )
        provider = Ec2Provider(
            config,
            ec2=None,
            ssm=ssm,
            s3=RecordingClient(boto3.client("s3", region_name=REGION)),
        )
        from ads.providers.base import VmInfo

        vm = VmInfo(vm_id=INSTANCE_ID, provider="ec2", private_ip="10.0.0.5", agent_port=9089)
        assert provider.start_init("hello-web-01", vm, InitRequest(plan={})) == COMMAND_ID
