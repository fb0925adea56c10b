"""The cluster steps on the ec2 provider against moto: a two-role lab's VMs are created
as instances of their own (tagged with the lab and the VM name), run, receive the cluster
facts through one Run Command, get their install commands, and Destroy VM terminates every
instance before the lab's cluster security group is released."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

from ads import cluster_steps, teardown_steps
from ads.cluster_model import VmStatus
from ads.config import AdsConfig, get_config, reset_config
from ads.init_wait import send_init
from ads.lab.cluster import cluster_of
from ads.lab.plan import plan_from_labspec_source
from ads.lab_record import LabStatus
from ads.providers.ec2 import Ec2Provider
from ads.records import LabRepository
from tests.integration.steps.conftest import HELLO_WEB, OWNER, REGION, TABLE, RecordingClient

VMS = ["db-1", "web-1", "web-2"]


@pytest.fixture
def ssm(aws_account: dict[str, str]) -> RecordingClient:
    return RecordingClient(boto3.client("ssm", region_name=REGION))


@pytest.fixture
def provider(aws_account: dict[str, str], ssm: RecordingClient) -> Ec2Provider:
    reset_config()
    base = get_config()
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.describe_subnets(SubnetIds=list(base.subnet_ids))["Subnets"][0]["VpcId"]
    config = AdsConfig(**{**base.model_dump(), "vpc_id": vpc})
    provider = Ec2Provider(
        config,
        ec2=ec2,
        ssm=ssm,
        s3=boto3.client("s3", region_name=REGION),
    )
    provider.ssm_online = lambda vm_id: True  # type: ignore[method-assign]
    return provider


@pytest.fixture
def lab(aws_account: dict[str, str]) -> tuple[LabRepository, str]:
    labspec = json.loads(HELLO_WEB.read_text())
    labspec["lab"]["roles"] = {"db": {"ports": [5432]}, "web": {"count": 2, "after": ["db"]}}
    plan = plan_from_labspec_source(labspec).model_dump(mode="json")
    cluster = cluster_of(plan)
    assert cluster is not None
    repository = LabRepository.from_name(TABLE, REGION)
    lab_id = f"two-roles-{uuid.uuid4().hex[:26]}"
    entries = {
        vm.name: {"name": vm.name, "role": vm.role, "status": "PENDING"} for vm in cluster.vms
    }
    repository.create(
        repository.new_record(
            lab_id,
            OWNER,
            lab_name="Two Roles",
            plan=plan,
            vms=entries,
            source={"git": "https://example.org/labs/hello-web.git", "ref": "main"},
        )
    )
    return repository, lab_id


def _instances(lab_id: str) -> list[dict[str, Any]]:
    ec2 = boto3.client("ec2", region_name=REGION)
    pages = ec2.describe_instances(Filters=[{"Name": "tag:ads:lab-id", "Values": [lab_id]}])
    return [i for r in pages["Reservations"] for i in r["Instances"]]


def test_given_a_two_role_lab_on_ec2_when_deployed_and_destroyed_then_each_vm_is_an_instance_and_all_go(
    provider: Ec2Provider, ssm: RecordingClient, lab: tuple[LabRepository, str]
) -> None:
    repository, lab_id = lab
    for name in VMS:
        cluster_steps.create_vm(lab_id, name, repository, provider)
    for name in VMS:
        cluster_steps.wait_running(
            lab_id,
            name,
            repository,
            provider,
            launch_grace_s=60,
            boot_deadline_s=600,
            init_poll_s=300,
        )
    record = repository.require(lab_id)
    assert {n: e["status"] for n, e in record.vms.items()} == dict.fromkeys(
        VMS, VmStatus.RUNNING.value
    )
    instances = {i["InstanceId"]: i for i in _instances(lab_id)}
    assert set(instances) == {e["vm_id"] for e in record.vms.values()}
    for name, entry in record.vms.items():
        tags = {t["Key"]: t["Value"] for t in instances[entry["vm_id"]]["Tags"]}
        assert tags["ads:vm-name"] == name
        assert entry["private_ip"] == instances[entry["vm_id"]]["PrivateIpAddress"]
    assert record.vm_id == record.vms["web-1"]["vm_id"]  # the entry VM

    facts = cluster_steps.share_cluster_facts(lab_id, repository, provider)
    sent = ssm.called("send_command")
    assert len(sent) == 1 and sorted(sent[0]["InstanceIds"]) == sorted(instances)
    command_id = repository.require(lab_id).vms["db-1"]["facts_command_id"]
    assert facts.command_id == command_id and facts.vms == 3
    assert repository.require(lab_id).status == LabStatus.INITIALIZING

    init = send_init(lab_id, repository, provider, "db-1")
    assert repository.require(lab_id).vms["db-1"]["init_command_id"] == init.command_id

    destroyed = teardown_steps.destroy_vm(lab_id, repository, provider, launch_grace_s=0)

    assert destroyed.state == "terminated"
    assert {i["State"]["Name"] for i in _instances(lab_id)} <= {"terminated", "shutting-down"}
    assert {e["status"] for e in repository.require(lab_id).vms.values()} == {
        VmStatus.DESTROYED.value
    }
    assert provider.cluster.find_group(lab_id) is None
