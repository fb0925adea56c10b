"""Fixtures for the step handlers: moto's AWS, a seeded lab record, recording clients."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ads import steps
from ads.config import AdsConfig, reset_config
from ads.lab.plan import plan_from_labspec_source
from ads.labs_table import create_table
from ads.lifecycle_events import LifecyclePublisher
from ads.providers.ec2 import Ec2Provider
from ads.records import LabRepository

ROOT = Path(__file__).resolve().parents[3]
STATES = ROOT / "events" / "states"
HELLO_WEB = ROOT / "events" / "labs" / "hello-web" / "scripts" / "labspec.json"
LAB_ID = "hello-web-01jd5k3q8v2m6x9t4r7p0wz1ab"
OWNER = "arn:aws:iam::123456789012:user/alice"
REGION = "us-east-1"
TABLE = "ads-labs-test"
BUS = "ads-test-bus"
MOTO_IMAGE_ID = "ami-03cf127a"
# The public parameters moto does not ship; the names are the real ones the plans use.
PUBLIC_IMAGE_PARAMETERS = [
    "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id",
    "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
    "/aws/service/debian/release/12/latest/amd64",
]


def load_state(name: str) -> dict[str, Any]:
    return json.loads((STATES / f"{name}.json").read_text())


def hello_web_plan() -> dict[str, Any]:
    return plan_from_labspec_source(HELLO_WEB.read_text()).model_dump(mode="json")


class FakeLambdaContext:
    function_name = "ads-step"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:ads-step"
    memory_limit_in_mb = 256
    aws_request_id = "00000000-0000-0000-0000-000000000001"
    log_group_name = "/aws/lambda/ads-step"
    log_stream_name = "2026/01/01/[$LATEST]0"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


class RecordingClient:
    """A boto3 client that records calls and lets a test replace single operations."""

    def __init__(self, client: Any, **overrides: Callable[..., Any]) -> None:
        self._client = client
        self.overrides = dict(overrides)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        target = self.overrides.get(name) or getattr(self._client, name)
        if not callable(target) or name.startswith("_") or name == "meta":
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return target(*args, **kwargs)

        return call

    def called(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for op, kwargs in self.calls if op == name]


@dataclass
class Ec2World:
    config: AdsConfig
    repository: LabRepository
    ec2: RecordingClient
    ssm: RecordingClient
    events: RecordingClient
    image_id: str
    lab_id: str
    ssm_online: bool = True

    def provider(self) -> Ec2Provider:
        provider = Ec2Provider(
            self.config,
            ec2=self.ec2,
            ssm=self.ssm,
            s3=boto3.client("s3", region_name=REGION),
        )
        # moto has no DescribeInstanceInformation: the SSM ping status is the test's to set.
        provider.ssm_online = lambda vm_id: self.ssm_online  # type: ignore[method-assign]
        return provider

    def dependencies(self) -> steps.StepDependencies:
        return steps.StepDependencies(
            repository=self.repository,
            provider=self.provider(),
            publisher=LifecyclePublisher(self.events, BUS),
            config=self.config,
        )

    def state(self, name: str) -> dict[str, Any]:
        """A sample state input from events/states/, addressed to this test's lab."""
        return {**load_state(name), "lab_id": self.lab_id}

    def new_lab(self, **fields: Any) -> None:
        fields.setdefault("plan", hello_web_plan())
        fields.setdefault(
            "source", {"git": "https://example.org/labs/hello-web.git", "ref": "main"}
        )
        self.repository.create(
            self.repository.new_record(self.lab_id, OWNER, lab_name="Hello Web", **fields)
        )


def seed_public_parameters(image_id: str, account_id: str = "123456789012") -> None:
    """Put the public image parameters into moto's store: PutParameter refuses /aws/ names."""
    for name in PUBLIC_IMAGE_PARAMETERS:
        seed_image_parameter(name, image_id, account_id)


def seed_image_parameter(name: str, image_id: str, account_id: str = "123456789012") -> None:
    from moto.ssm.models import Parameter, ssm_backends

    store = ssm_backends[account_id][REGION]._parameters
    store[name].append(
        Parameter(
            account_id=account_id,
            name=name,
            value=image_id,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=time.time(),
            version=1,
            data_type="aws:ec2:image",
        )
    )


AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@pytest.fixture(scope="module")
def aws_account() -> Iterator[dict[str, str]]:
    """One moto account per test module (starting EC2 in moto takes seconds), with the
    network, image parameters, instance profile, table and bus a lab needs. Tests stay
    apart by using their own lab id."""
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="ads-lab", Description="labs", VpcId=vpc)
        # One of moto's bundled AMIs (listing them all is slow).
        image_id = ec2.describe_images(ImageIds=[MOTO_IMAGE_ID])["Images"][0]["ImageId"]
        seed_public_parameters(image_id)
        profile = boto3.client("iam").create_instance_profile(InstanceProfileName="ads-lab")
        create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        boto3.client("events", region_name=REGION).create_event_bus(Name=BUS)
        env = {
            "ADS_PROVIDER": "ec2",
            "ADS_TABLE_NAME": TABLE,
            "ADS_SUBNET_IDS": subnet,
            "ADS_SECURITY_GROUP_IDS": group["GroupId"],
            "ADS_INSTANCE_PROFILE_ARN": profile["InstanceProfile"]["Arn"],
            "ADS_AGENT_BUNDLE_BUCKET": "ads-assets",
            "ADS_AGENT_BUNDLE_KEY": "agent/ads_agent.zip",
            "ADS_EVENT_BUS_NAME": BUS,
            "ADS_HEALTH_TIMEOUT_S": "1",
        }
        for name, value in env.items():
            patch.setenv(name, value)
        yield {"image_id": image_id}
    reset_config()


@pytest.fixture
def ec2_world(aws_account: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Ec2World]:
    reset_config()
    world = Ec2World(
        config=AdsConfig.from_env(),
        repository=LabRepository.from_name(TABLE, REGION),
        ec2=RecordingClient(boto3.client("ec2", region_name=REGION)),
        ssm=RecordingClient(boto3.client("ssm", region_name=REGION)),
        events=RecordingClient(boto3.client("events", region_name=REGION)),
        image_id=aws_account["image_id"],
        lab_id=f"hello-web-{uuid.uuid4().hex[:26]}",
    )
    # Handlers build their dependencies once per configuration; the test supplies them.
    monkeypatch.setattr(steps, "dependencies_for", lambda config: world.dependencies())
    yield world
    reset_config()


class _HealthHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: HealthServer = self.server  # type: ignore[assignment]
        body = json.dumps(
            {"status": "ok" if server.status == 200 else "degraded", "agent_version": "1.0.0"}
        )
        self.send_response(server.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        return None


class HealthServer(ThreadingHTTPServer):
    status = 200


@pytest.fixture
def health_server() -> Iterator[HealthServer]:
    server = HealthServer(("127.0.0.1", 0), _HealthHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
