"""Lab access through the real steps against moto: public labs and the shared ALB.

The awkward answers moto never gives (PriorityInUse, DependencyViolation, a public IP
that shows late) are pinned with botocore's Stubber in tests/unit/providers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from ads import steps, teardown_steps
from ads.config import LAB_ID_TAG, AdsConfig
from ads.cost_tags import cost_tags
from ads.init_wait import send_init
from ads.lab.plan import PlanOptions, plan_from_labspec_source
from ads.lab_record import LabStatus
from ads.labs_table import create_table
from ads.lifecycle_events import LifecyclePublisher
from ads.providers.base import ProviderThrottled
from ads.providers.ec2 import Ec2Provider
from ads.providers.ec2_access import target_group_name
from ads.records import LabRepository
from ads.step_records import vm_of
from tests.integration.steps.conftest import (
    AWS_ENV,
    HELLO_WEB,
    MOTO_IMAGE_ID,
    OWNER,
    REGION,
    TABLE,
    seed_public_parameters,
)

DOMAIN = "labs.example.org"
CIDR = "203.0.113.0/24"


@dataclass
class Network:
    vpc: str
    private_subnet: str
    public_subnet: str
    lab_group: str
    alb_group: str
    listener: str


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        for name, value in AWS_ENV.items():
            patch.setenv(name, value)
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        private = ec2.create_subnet(
            VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a"
        )
        public = ec2.create_subnet(
            VpcId=vpc, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1a"
        )
        public_b = ec2.create_subnet(
            VpcId=vpc, CidrBlock="10.0.3.0/24", AvailabilityZone="us-east-1b"
        )
        lab_group = ec2.create_security_group(GroupName="lab", Description="labs", VpcId=vpc)
        alb_group = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc)
        seed_public_parameters(
            ec2.describe_images(ImageIds=[MOTO_IMAGE_ID])["Images"][0]["ImageId"]
        )
        elbv2 = boto3.client("elbv2", region_name=REGION)
        alb = elbv2.create_load_balancer(
            Name="ads-labs",
            Subnets=[public["Subnet"]["SubnetId"], public_b["Subnet"]["SubnetId"]],
            SecurityGroups=[alb_group["GroupId"]],
            Scheme="internet-facing",
        )["LoadBalancers"][0]
        # moto has no certificates to check; the listener's protocol does not matter here.
        listener = elbv2.create_listener(
            LoadBalancerArn=alb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=443,
            DefaultActions=[
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"},
                }
            ],
        )["Listeners"][0]
        create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        yield Network(
            vpc=vpc,
            private_subnet=private["Subnet"]["SubnetId"],
            public_subnet=public["Subnet"]["SubnetId"],
            lab_group=lab_group["GroupId"],
            alb_group=alb_group["GroupId"],
            listener=listener["ListenerArn"],
        )


class Lab:
    def __init__(
        self, network: Network, access: str, ports: Any = None, course: str | None = None
    ) -> None:
        self.lab_id = f"hello-web-{uuid.uuid4().hex[:20]}"
        self.config = AdsConfig(
            region=REGION,
            table_name=TABLE,
            subnet_ids=(network.private_subnet,),
            security_group_ids=(network.lab_group,),
            agent_bundle_bucket="assets",
            agent_bundle_key="agent.zip",
            lab_access=access,
            lab_ingress_cidrs=(CIDR,),
            public_subnet_ids=(network.public_subnet,),
            vpc_id=network.vpc,
            lb_listener_arn=network.listener,
            lb_security_group_id=network.alb_group,
            lb_domain=DOMAIN,
        )
        self.ec2 = boto3.client("ec2", region_name=REGION)
        self.elbv2 = boto3.client("elbv2", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.provider = Ec2Provider(
            self.config,
            ec2=self.ec2,
            ssm=boto3.client("ssm", region_name=REGION),
            s3=self.s3,
            elbv2=self.elbv2,
        )
        self.provider.ssm_online = lambda vm_id: True  # type: ignore[method-assign]
        self.repository = LabRepository.from_name(TABLE, REGION)
        text = HELLO_WEB.read_text()
        if ports is not None:
            text = text.replace('"health_probe"', f'"ports": {ports}, "health_probe"')
        plan = plan_from_labspec_source(text, PlanOptions(access=access)).model_dump(mode="json")
        if course is not None:
            # What POST /labs keeps in the plan (ads.deployments).
            plan["cost_tags"] = cost_tags(self.lab_id, "Hello Web", OWNER, course)
        self.repository.create(
            self.repository.new_record(self.lab_id, OWNER, lab_name="Hello Web", plan=plan)
        )

    def start(self) -> None:
        """Create VM and Wait Until Running."""
        steps.create_vm(self.lab_id, self.repository, self.provider)
        steps.wait_running(
            self.lab_id, self.repository, self.provider, launch_grace_s=self.config.launch_grace_s
        )

    def deploy(self) -> None:
        self.start()
        for status in (LabStatus.INITIALIZING, LabStatus.HEALTH_CHECKING):
            self.repository.transition(self.lab_id, status)
        teardown_steps.record_status(
            self.lab_id,
            LabStatus.READY,
            self.repository,
            LifecyclePublisher(None, ""),
            provider=self.provider,
        )

    def destroy(self) -> None:
        self.repository.transition(self.lab_id, LabStatus.DESTROYING)
        teardown_steps.destroy_vm(
            self.lab_id, self.repository, self.provider, launch_grace_s=self.config.launch_grace_s
        )

    def record(self):
        return self.repository.require(self.lab_id)

    def instance(self) -> dict[str, Any]:
        reservations = self.ec2.describe_instances(InstanceIds=[self.record().vm_id])
        return reservations["Reservations"][0]["Instances"][0]

    def lab_groups(self) -> list[dict[str, Any]]:
        return self.ec2.describe_security_groups(
            Filters=[{"Name": f"tag:{LAB_ID_TAG}", "Values": [self.lab_id]}]
        )["SecurityGroups"]

    def rules_for_host(self) -> list[dict[str, Any]]:
        host = f"{self.lab_id}.{DOMAIN}"
        rules = self.elbv2.describe_rules(ListenerArn=self.config.lb_listener_arn)["Rules"]
        return [
            r
            for r in rules
            for c in r.get("Conditions", [])
            if host in (c.get("HostHeaderConfig") or {}).get("Values", c.get("Values", []))
        ]

    def target_groups(self) -> list[dict[str, Any]]:
        groups = self.elbv2.describe_target_groups()["TargetGroups"]
        return [g for g in groups if g["TargetGroupName"] == target_group_name(self.lab_id)]


def ingress_of(group: dict[str, Any]) -> set[tuple[int, str]]:
    rules = set()
    for permission in group["IpPermissions"]:
        for source in permission.get("IpRanges", []):
            rules.add((permission["FromPort"], source["CidrIp"]))
        for source in permission.get("UserIdGroupPairs", []):
            rules.add((permission["FromPort"], source["GroupId"]))
    return rules


def test_given_public_access_when_a_lab_deploys_then_it_gets_a_public_ip_and_only_its_ports(
    network,
):
    lab = Lab(network, "public", ports="[8080, 8443]")

    lab.deploy()

    record = lab.record()
    instance = lab.instance()
    assert instance["SubnetId"] == network.public_subnet
    assert instance.get("PublicIpAddress")
    assert record.status == LabStatus.READY
    assert record.access == "public"
    assert record.lab_ports == [8080, 8443]
    assert record.app_url == f"http://{instance['PublicIpAddress']}:8080/"
    (group,) = lab.lab_groups()
    (interface,) = instance["NetworkInterfaces"]
    assert {g["GroupId"] for g in interface["Groups"]} == {network.lab_group, group["GroupId"]}
    assert ingress_of(group) == {(8080, CIDR), (8443, CIDR)}


def test_given_public_access_when_the_lab_is_destroyed_then_its_security_group_goes_too(network):
    lab = Lab(network, "public")
    lab.deploy()

    lab.destroy()

    assert lab.instance()["State"]["Name"] in ("shutting-down", "terminated")
    assert lab.lab_groups() == []


def test_given_a_create_vm_retry_when_public_then_one_security_group_with_one_rule_per_port(
    network,
):
    lab = Lab(network, "public")

    steps.create_vm(lab.lab_id, lab.repository, lab.provider)
    lab.provider.access.prepare_launch(lab.lab_id, lab.record().plan)

    (group,) = lab.lab_groups()
    assert ingress_of(group) == {(80, CIDR)}


def test_given_the_load_balancer_when_a_lab_is_ready_then_rule_target_group_and_target_exist(
    network,
):
    lab = Lab(network, "load-balancer")

    lab.deploy()

    record = lab.record()
    assert record.app_url == f"https://{lab.lab_id}.{DOMAIN}/"
    assert record.access == "load-balancer"
    (rule,) = lab.rules_for_host()
    (target_group,) = lab.target_groups()
    assert rule["Actions"][0]["TargetGroupArn"] == target_group["TargetGroupArn"]
    # The ALB asks the agent what Check Health asks it: GET /health on the agent port.
    assert (target_group["HealthCheckPath"], target_group["HealthCheckPort"]) == ("/health", "9089")
    assert target_group["Port"] == 80
    targets = lab.elbv2.describe_target_health(TargetGroupArn=target_group["TargetGroupArn"])
    assert [t["Target"]["Id"] for t in targets["TargetHealthDescriptions"]] == [record.vm_id]
    instance = lab.instance()
    assert instance["SubnetId"] == network.private_subnet
    (group,) = lab.lab_groups()
    assert ingress_of(group) == {(80, network.alb_group), (9089, network.alb_group)}


def test_given_cost_tags_when_a_load_balanced_lab_is_ready_then_every_resource_carries_them(
    network,
):
    lab = Lab(network, "load-balancer", course="CS101 Fall 2026")
    tags = lab.record().plan["cost_tags"]

    lab.deploy()

    def tagged(found: list[dict[str, str]]) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in found if t["Key"] in tags}

    instance = lab.instance()
    assert tags[LAB_ID_TAG] == lab.lab_id and tags["ads:course"] == "CS101 Fall 2026"
    assert tagged(instance["Tags"]) == tags
    volumes = lab.ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance["InstanceId"]]}]
    )["Volumes"]
    assert [tagged(v.get("Tags", [])) for v in volumes] == [tags]
    (group,) = lab.lab_groups()
    assert tagged(group["Tags"]) == tags
    (rule,) = lab.rules_for_host()
    (target_group,) = lab.target_groups()
    described = lab.elbv2.describe_tags(
        ResourceArns=[rule["RuleArn"], target_group["TargetGroupArn"]]
    )["TagDescriptions"]
    assert [tagged(d["Tags"]) for d in described] == [tags, tags]


def test_given_a_mark_ready_retry_when_load_balanced_then_one_rule_and_one_target(network):
    lab = Lab(network, "load-balancer")
    lab.deploy()

    lab.provider.open_lab_access(lab.lab_id, vm_of(lab.record()), lab.record().plan)

    assert len(lab.rules_for_host()) == 1
    (target_group,) = lab.target_groups()
    targets = lab.elbv2.describe_target_health(TargetGroupArn=target_group["TargetGroupArn"])
    assert len(targets["TargetHealthDescriptions"]) == 1


def test_given_a_lab_of_one_vm_when_initialise_vm_sends_its_install_then_the_access_opens_while_it_runs(
    network,
):
    lab = Lab(network, "load-balancer")
    lab.start()

    sent = send_init(lab.lab_id, lab.repository, lab.provider)

    record = lab.record()
    assert record.status == LabStatus.INITIALIZING
    assert record.init_command_id == sent.command_id
    assert record.app_url == f"https://{lab.lab_id}.{DOMAIN}/"
    (rule,) = lab.rules_for_host()
    (target_group,) = lab.target_groups()
    assert rule["Actions"][0]["TargetGroupArn"] == target_group["TargetGroupArn"]
    # A retried Initialise VM follows the same command and opens nothing twice.
    again = send_init(lab.lab_id, lab.repository, lab.provider)
    assert again.command_id == sent.command_id
    assert len(lab.rules_for_host()) == 1
    targets = lab.elbv2.describe_target_health(TargetGroupArn=target_group["TargetGroupArn"])
    assert len(targets["TargetHealthDescriptions"]) == 1
    lab.destroy()
    assert lab.rules_for_host() == [] and lab.target_groups() == []


def test_given_the_load_balancer_throttles_when_initialise_vm_opens_the_access_then_its_retry_sends_no_second_install(
    network,
):
    # AWS throttles ELB calls under load (moto never does): Step Functions retries
    # ProviderThrottled, and the retry must follow the command already sent.
    lab = Lab(network, "load-balancer")
    lab.start()
    command = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    once = Config(retries={"mode": "standard", "max_attempts": 1})
    ssm = boto3.client("ssm", region_name=REGION, config=once)
    elbv2 = boto3.client("elbv2", region_name=REGION, config=once)
    lab.provider = Ec2Provider(lab.config, ec2=lab.ec2, ssm=ssm, s3=lab.s3, elbv2=elbv2)
    group_arn = (
        f"arn:aws:elasticloadbalancing:{REGION}:123456789012:targetgroup/"
        f"{target_group_name(lab.lab_id)}/73e2d6bc24d8a067"
    )
    with Stubber(ssm) as ssm_stub, Stubber(elbv2) as elbv2_stub:
        ssm_stub.add_response("send_command", {"Command": {"CommandId": command}})
        elbv2_stub.add_client_error(
            "describe_target_groups",
            service_error_code="Throttling",
            service_message="Rate exceeded",
            http_status_code=400,
        )
        with pytest.raises(ProviderThrottled):
            send_init(lab.lab_id, lab.repository, lab.provider)
        assert lab.record().init_command_id == command
        assert lab.record().app_url is None

        elbv2_stub.add_client_error(
            "describe_target_groups", service_error_code="TargetGroupNotFound"
        )
        elbv2_stub.add_response(
            "create_target_group", {"TargetGroups": [{"TargetGroupArn": group_arn}]}
        )
        elbv2_stub.add_response("describe_rules", {"Rules": []})
        elbv2_stub.add_response("create_rule", {"Rules": [{"RuleArn": group_arn + "-rule"}]})
        elbv2_stub.add_response("register_targets", {})
        again = send_init(lab.lab_id, lab.repository, lab.provider)

        ssm_stub.assert_no_pending_responses()
        elbv2_stub.assert_no_pending_responses()
    assert again.command_id == command
    assert lab.record().app_url == f"https://{lab.lab_id}.{DOMAIN}/"


def test_given_a_load_balanced_lab_when_destroyed_then_rule_target_group_and_group_are_gone(
    network,
):
    lab = Lab(network, "load-balancer")
    lab.deploy()
    other = Lab(network, "load-balancer")
    other.deploy()

    lab.destroy()

    assert lab.rules_for_host() == []
    assert lab.target_groups() == []
    assert lab.lab_groups() == []
    assert len(other.rules_for_host()) == 1
    assert len(other.target_groups()) == 1


def test_given_private_access_when_a_lab_deploys_and_goes_then_nothing_is_opened(network):
    lab = Lab(network, "private")

    lab.deploy()

    record = lab.record()
    assert record.access == "private"
    assert record.app_url is None
    assert lab.instance().get("SubnetId") == network.private_subnet
    assert lab.lab_groups() == []
    assert lab.rules_for_host() == []
    lab.destroy()
    assert lab.lab_groups() == []
