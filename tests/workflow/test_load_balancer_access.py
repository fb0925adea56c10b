"""Lab access ``load-balancer`` through the real DeployLab / DestroyLab ASL.

The VM is a local one (its agent answers on 127.0.0.1); what opens and closes the access
is the ec2 provider's own code (:class:`~ads.providers.ec2_access.Ec2LabAccess`) over
moto's EC2 and ELBv2, with a VPC, a shared ALB and its HTTPS listener made here as CDK's
access construct makes them. A failure while Initialise VM opens the access is injected
with a botocore ``before-call`` hook (moto never refuses a rule or a target), so the test
follows the ASL's Catch through Destroy VM to Mark Failed and then reads what moto still
holds: no target group, no rule and no security group of the lab may be left.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ads import providers, steps
from ads.config import LAB_ID_TAG, AdsConfig, get_config, reset_config
from ads.lab_record import LabStatus
from ads.local.runtime import LocalControlPlane
from ads.providers.base import VmInfo
from ads.providers.ec2_access import HEALTH_PATH, Ec2LabAccess, target_group_name
from ads.providers.local import LocalProvider

from .conftest import CLUSTER_CHOICE, DEPLOY_PATH, Outcome, WorkflowDriver, hello_web_labspec

DOMAIN = "labs.example.org"
ELBV2_EVENTS = "elastic-load-balancing-v2"


class LoadBalancedLocalProvider(LocalProvider):
    """Local VMs behind the ec2 provider's load-balancer access code, as Ec2Provider
    wires it: the lab's security group made at Create VM, the rule and the target opened
    at Initialise VM, all of it removed at Destroy VM once the VM is gone."""

    def __init__(self, config: AdsConfig, *, s3: Any, ec2: Any, elbv2: Any) -> None:
        super().__init__(config, s3=s3)
        self.access = Ec2LabAccess(config, ec2=ec2, elbv2=elbv2)

    def create_vm(self, lab_id: str, plan: Any) -> VmInfo:
        plain = plan if isinstance(plan, Mapping) else plan.model_dump(mode="json")
        self.access.prepare_launch(lab_id, plain)
        return super().create_vm(lab_id, plan)

    def access_details(self, lab_id: str, vm: VmInfo, plan: Mapping[str, Any]) -> dict[str, Any]:
        return self.access.access_details(lab_id, vm, plan)

    def open_lab_access(self, lab_id: str, vm: VmInfo, plan: Mapping[str, Any]) -> str | None:
        return self.access.open(lab_id, vm, plan)

    def close_lab_access(self, lab_id: str, plan: Mapping[str, Any]) -> None:
        self.access.close(lab_id, plan)
        self.access.release(lab_id, plan)


@dataclass
class SharedAlb:
    """The shared load balancer in moto, and the ELBv2 operations ADS made on it."""

    vpc_id: str
    alb_group_id: str
    listener_arn: str
    ec2: Any
    elbv2: Any
    operations: list[str] = field(default_factory=list)

    def refuse(self, operation: str, code: str, message: str) -> None:
        """Every later ``operation`` call is answered ``code`` as AWS would answer it."""

        def answer(**_: Any) -> None:
            # botocore calls this hook before the recording one: the attempt counts too.
            self.operations.append(operation)
            raise ClientError(
                {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {}}, operation
            )

        self.elbv2.meta.events.register(f"before-call.{ELBV2_EVENTS}.{operation}", answer)

    def rules_for(self, lab_id: str) -> list[dict[str, Any]]:
        host = f"{lab_id}.{DOMAIN}"
        rules = self.elbv2.describe_rules(ListenerArn=self.listener_arn)["Rules"]
        return [
            rule
            for rule in rules
            for condition in rule.get("Conditions", [])
            if host in (condition.get("HostHeaderConfig") or {}).get("Values", [])
        ]

    def target_groups_of(self, lab_id: str) -> list[dict[str, Any]]:
        groups = self.elbv2.describe_target_groups()["TargetGroups"]
        return [g for g in groups if g["TargetGroupName"] == target_group_name(lab_id)]

    def security_groups_of(self, lab_id: str) -> list[dict[str, Any]]:
        return self.ec2.describe_security_groups(
            Filters=[{"Name": f"tag:{LAB_ID_TAG}", "Values": [lab_id]}]
        )["SecurityGroups"]

    def assert_nothing_left_of(self, lab_id: str) -> None:
        assert self.rules_for(lab_id) == []
        assert self.target_groups_of(lab_id) == []
        assert self.security_groups_of(lab_id) == []


def _make_shared_alb(region: str) -> SharedAlb:
    ec2 = boto3.client("ec2", region_name=region)
    elbv2 = boto3.client("elbv2", region_name=region)
    # moto's addresses; nothing here ever connects to them.
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)
        for i, zone in enumerate((f"{region}a", f"{region}b"), start=1)
    ]
    alb_group = ec2.create_security_group(GroupName="ads-alb", Description="ALB", VpcId=vpc)
    alb = elbv2.create_load_balancer(
        Name="ads-labs",
        Subnets=[s["Subnet"]["SubnetId"] for s in subnets],
        SecurityGroups=[alb_group["GroupId"]],
        Scheme="internet-facing",
    )["LoadBalancers"][0]
    certificate = boto3.client("acm", region_name=region).request_certificate(
        DomainName=f"*.{DOMAIN}"
    )["CertificateArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=alb["LoadBalancerArn"],
        Protocol="HTTPS",
        Port=443,
        Certificates=[{"CertificateArn": certificate}],
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain"},
            }
        ],
    )["Listeners"][0]
    shared = SharedAlb(
        vpc_id=vpc,
        alb_group_id=alb_group["GroupId"],
        listener_arn=listener["ListenerArn"],
        ec2=ec2,
        elbv2=elbv2,
    )

    def record(model: Any, **_: Any) -> None:
        if not model.name.startswith("Describe"):
            shared.operations.append(model.name)

    elbv2.meta.events.register(f"before-call.{ELBV2_EVENTS}", record)
    return shared


@pytest.fixture
def alb(
    plane: LocalControlPlane, driver: WorkflowDriver, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SharedAlb]:
    """The plane (and the driver's requests) configured for lab access ``load-balancer``
    on a shared ALB in moto."""
    shared = _make_shared_alb(plane.region)
    for name, value in {
        "ADS_LAB_ACCESS": "load-balancer",
        "ADS_VPC_ID": shared.vpc_id,
        "ADS_LB_LISTENER_ARN": shared.listener_arn,
        "ADS_LB_SECURITY_GROUP_ID": shared.alb_group_id,
        "ADS_LB_DOMAIN": DOMAIN,
    }.items():
        monkeypatch.setenv(name, value)
    reset_config()
    plane.config = get_config()
    driver.ctx = plane.deployment_context()
    s3 = boto3.client("s3", region_name=plane.region)

    def provider_for(config: AdsConfig, session: Any = None) -> LoadBalancedLocalProvider:
        return LoadBalancedLocalProvider(config, s3=s3, ec2=shared.ec2, elbv2=shared.elbv2)

    monkeypatch.setattr(providers, "get_provider", provider_for)
    steps.dependencies_for.cache_clear()
    yield shared
    steps.dependencies_for.cache_clear()


def _assert_failed_at_initialise_vm(outcome: Outcome, plane: LocalControlPlane) -> str:
    assert outcome.execution["status"] == "FAILED"
    assert outcome.execution["error"] == "LabDeploymentFailed"
    # The install was sent first; the lab fails without waiting for it to end.
    until = DEPLOY_PATH.index("Initialise VM") + 1
    assert outcome.states[: until + 2] == [
        CLUSTER_CHOICE,
        *DEPLOY_PATH[:until],
        "Initialise VM Failed",
    ]
    assert outcome.states[-4:] == [
        "Destroy VM",
        "Mark Failed",
        "Cause Recorded",
        "Deployment Failed",
    ]
    record = outcome.record
    assert record.status == LabStatus.FAILED
    assert record.failed_step == "Initialise VM"
    assert record.cause and record.cause.startswith("Initialise VM failed: LabAccessFailed: ")
    assert outcome.execution["cause"] == record.cause
    assert "errorMessage" not in record.cause
    assert record.app_url != f"https://{outcome.lab_id}.{DOMAIN}/"
    assert not (plane.labs_root / outcome.lab_id).exists()
    return record.cause


# -- a failure while Initialise VM opens the access ---------------------------------------------


@pytest.mark.parametrize(
    ("operation", "code", "created_before", "removed_after"),
    [
        ("CreateTargetGroup", "TooManyTargetGroups", [], []),
        ("CreateRule", "TooManyRules", ["CreateTargetGroup"], ["DeleteTargetGroup"]),
        (
            "RegisterTargets",
            "TooManyTargets",
            ["CreateTargetGroup", "CreateRule"],
            ["DeleteRule", "DeleteTargetGroup"],
        ),
    ],
)
def test_given_the_load_balancer_refuses_a_step_of_opening_the_access_when_deployed_then_the_lab_fails_naming_it_and_nothing_of_it_is_left(
    plane: LocalControlPlane,
    driver: WorkflowDriver,
    alb: SharedAlb,
    hello_web_repo: Path,
    operation: str,
    code: str,
    created_before: list[str],
    removed_after: list[str],
) -> None:
    alb.refuse(operation, code, f"the limit of the load balancer is reached ({code})")

    outcome = driver.deploy(hello_web_labspec(), hello_web_repo)

    cause = _assert_failed_at_initialise_vm(outcome, plane)
    host = f"{outcome.lab_id}.{DOMAIN}"
    assert f"the load balancer cannot route {host}" in cause
    assert f"{operation} refused: {code}: the limit of the load balancer is reached" in cause
    # What Initialise VM made before the refusal, and Destroy VM's removal of exactly that.
    assert alb.operations == [*created_before, operation, *removed_after]
    alb.assert_nothing_left_of(outcome.lab_id)


# -- the happy path, and the destroy ----------------------------------------------------------


def test_given_load_balancer_access_when_deployed_then_ready_at_its_https_host_and_destroy_removes_target_rule_group_and_security_group(
    plane: LocalControlPlane, driver: WorkflowDriver, alb: SharedAlb, hello_web_repo: Path
) -> None:
    deployed = driver.deploy(hello_web_labspec(), hello_web_repo)

    assert deployed.execution["status"] == "SUCCEEDED", deployed.execution.get("cause")
    assert deployed.states == [CLUSTER_CHOICE, *DEPLOY_PATH, "Keep Lab Image?", "Lab Ready"]
    lab_id = deployed.lab_id
    record = deployed.record
    assert record.status == LabStatus.READY
    assert record.access == "load-balancer"
    assert record.app_url == f"https://{lab_id}.{DOMAIN}/"
    [rule] = alb.rules_for(lab_id)
    [group] = alb.target_groups_of(lab_id)
    assert rule["Actions"][0]["TargetGroupArn"] == group["TargetGroupArn"]
    # The ALB checks what Check Health checks: the agent's /health.
    assert group["HealthCheckPath"] == HEALTH_PATH
    assert group["HealthCheckPort"] == str(plane.config.agent_port)
    health = alb.elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
    targets = [d["Target"] for d in health["TargetHealthDescriptions"]]
    assert targets == [{"Id": record.vm_id, "Port": record.lab_ports[0]}]
    [lab_group] = alb.security_groups_of(lab_id)
    sources = {
        pair["GroupId"]
        for permission in lab_group["IpPermissions"]
        for pair in permission.get("UserIdGroupPairs", [])
    }
    assert sources == {alb.alb_group_id}
    alb.operations.clear()

    destroyed = driver.destroy(lab_id)

    assert destroyed.execution["status"] == "SUCCEEDED", destroyed.execution.get("cause")
    assert destroyed.states == ["Destroy VM", "Mark Destroyed", "Lab Destroyed"]
    assert destroyed.record.status == LabStatus.DESTROYED
    assert alb.operations == ["DeleteRule", "DeregisterTargets", "DeleteTargetGroup"]
    alb.assert_nothing_left_of(lab_id)
    assert not (plane.labs_root / lab_id).exists()
