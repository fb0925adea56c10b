"""A lab of several VMs on the ec2 provider against moto: one instance per VM tagged with
the lab and the VM name, a cluster security group they all wear whose ingress comes from
the group itself on the roles' declared ports only, the facts sent once to every
instance, one VM destroyed alone, and the group released once no instance wears it."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import boto3
import pytest

from ads.config import AdsConfig, get_config, reset_config
from ads.providers.base import ClusterInit, InitRequest, VmInfo, cluster_hooks
from ads.providers.ec2 import Ec2Provider
from ads.providers.ec2_cluster import VM_NAME_TAG, cluster_group_name
from ads.providers.ec2_init import CLUSTER_FACTS_PATH
from tests.integration.steps.conftest import REGION, RecordingClient, hello_web_plan

LAB = "two-role-lab-01jd5k3q8v2m6x9t4r7p0wz1ab"
ROLE_PORTS = {"db": [5432], "web": [8080, 8443]}


@pytest.fixture
def provider(aws_account: dict[str, str]) -> Ec2Provider:
    reset_config()
    base = get_config()
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.describe_subnets(SubnetIds=list(base.subnet_ids))["Subnets"][0]["VpcId"]
    config = AdsConfig(**{**base.model_dump(), "vpc_id": vpc})
    provider = Ec2Provider(
        config,
        ec2=ec2,
        ssm=RecordingClient(boto3.client("ssm", region_name=REGION)),
        s3=boto3.client("s3", region_name=REGION),
    )
    provider.ssm_online = lambda vm_id: True  # type: ignore[method-assign]
    return provider


def _role_plan(role: str) -> dict[str, Any]:
    return {**hello_web_plan(), "lab_ports": ROLE_PORTS[role]}


def _instance(vm_id: str) -> dict[str, Any]:
    ec2 = boto3.client("ec2", region_name=REGION)
    return ec2.describe_instances(InstanceIds=[vm_id])["Reservations"][0]["Instances"][0]


def _group(provider: Ec2Provider, lab_id: str) -> dict[str, Any]:
    group_id = provider.cluster.find_group(lab_id)
    assert group_id is not None
    ec2 = boto3.client("ec2", region_name=REGION)
    return ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]


def _create(provider: Ec2Provider, lab_id: str = LAB) -> dict[str, VmInfo]:
    return {
        name: provider.create_vm(lab_id, _role_plan(name.split("-")[0]), vm_name=name)
        for name in ("db-1", "web-1")
    }


def test_given_two_roles_when_their_vms_are_created_then_each_is_its_own_tagged_instance_wearing_the_cluster_group(
    provider: Ec2Provider,
):
    vms = _create(provider)

    assert vms["db-1"].vm_id != vms["web-1"].vm_id
    group = _group(provider, LAB)
    for name, vm in vms.items():
        instance = _instance(vm.vm_id)
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        assert (tags["ads:lab-id"], tags[VM_NAME_TAG]) == (LAB, name)
        worn = {g["GroupId"] for g in instance["SecurityGroups"]}
        assert group["GroupId"] in worn
        # The usual lab group too.
        assert set(provider._config.security_group_ids) <= worn
        assert vm.details["vm_name"] == name
    assert group["GroupName"] == cluster_group_name(LAB)
    assert {t["Key"]: t["Value"] for t in group["Tags"]}["ads:lab-id"] == LAB
    # A retried create finds its own VM by both tags, not the other VM of the lab.
    again = provider.create_vm(LAB, _role_plan("web"), vm_name="web-1")
    assert again.vm_id == vms["web-1"].vm_id


def test_given_a_cluster_group_when_its_ingress_is_read_then_the_group_itself_is_the_only_source_on_the_declared_ports(
    provider: Ec2Provider,
):
    lab_id = "ingress-lab-01"
    _create(provider, lab_id)

    group = _group(provider, lab_id)

    rules = group["IpPermissions"]
    assert sorted((r["IpProtocol"], r["FromPort"], r["ToPort"]) for r in rules) == [
        ("tcp", 5432, 5432),
        ("tcp", 8080, 8080),
        ("tcp", 8443, 8443),
    ]
    for rule in rules:
        assert rule.get("IpRanges", []) == []
        assert rule.get("Ipv6Ranges", []) == []
        assert [pair["GroupId"] for pair in rule["UserIdGroupPairs"]] == [group["GroupId"]]


def test_given_two_vms_when_the_facts_are_shared_then_one_command_writes_them_atomically_on_both(
    provider: Ec2Provider,
):
    lab_id = "facts-lab-01"
    vms = list(_create(provider, lab_id).values())
    hooks = cluster_hooks(provider)
    assert hooks is not None
    facts = {"lab_id": lab_id, "vms": [{"name": "db-1", "role": "db", "address": "10.0.1.4"}]}
    ssm = provider._ssm

    command_id = hooks.share_cluster_facts(lab_id, vms, facts)

    assert command_id
    # moto runs a command on every instance it knows: what was asked is what counts.
    [command] = ssm.called("send_command")
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert command["InstanceIds"] == [vm.vm_id for vm in vms]
    script = command["Parameters"]["commands"][0]
    encoded = re.search(r"printf %s (\S+) \| base64 -d", script)
    assert encoded is not None
    assert json.loads(base64.b64decode(encoded.group(1))) == facts
    assert f"mv -f {CLUSTER_FACTS_PATH}.tmp {CLUSTER_FACTS_PATH}" in script
    assert "chmod 0644" in script and "chown root:root" in script
    assert hooks.cluster_facts_status(vms, command_id).state == "success"
    assert hooks.facts_path(vms[0]) == CLUSTER_FACTS_PATH


def test_given_a_cluster_vm_init_when_the_script_is_built_then_it_names_the_vm_role_and_facts(
    provider: Ec2Provider,
):
    request = InitRequest(
        plan=_role_plan("web"),
        cluster=ClusterInit(vm_name="web-1", role="web", facts_path=CLUSTER_FACTS_PATH),
    )
    provider._config = AdsConfig(
        **{**provider._config.model_dump(), "agent_bundle_bucket": "b", "agent_bundle_key": "k"}
    )

    script = provider.bootstrap_script(LAB, request)

    assert f"--vm-name web-1 --vm-role web --cluster-facts {CLUSTER_FACTS_PATH}" in script


def test_given_a_cluster_when_one_vm_is_destroyed_then_the_other_runs_and_the_group_goes_with_the_last(
    provider: Ec2Provider,
):
    lab_id = "destroy-lab-01"
    vms = _create(provider, lab_id)

    state = provider.destroy_vm(lab_id, vms["db-1"].vm_id, vm_name="db-1")

    assert state.state in ("shutting-down", "terminated")
    assert _instance(vms["db-1"].vm_id)["State"]["Name"] in ("shutting-down", "terminated")
    assert _instance(vms["web-1"].vm_id)["State"]["Name"] == "running"
    provider.destroy_vm(lab_id, vms["web-1"].vm_id, vm_name="web-1")
    provider.release_cluster(lab_id)
    assert provider.cluster.find_group(lab_id) is None
    # Absent is fine: a retried Destroy VM releases again.
    provider.release_cluster(lab_id)


def test_given_an_orphan_cluster_group_when_the_sweep_removes_it_then_it_is_deleted_by_its_id(
    provider: Ec2Provider,
):
    from ads.providers.ec2_sweep import Ec2SweepInventory

    lab_id = "swept-lab-01"
    vms = _create(provider, lab_id)
    for name, vm in vms.items():
        provider.destroy_vm(lab_id, vm.vm_id, vm_name=name)
    group_id = provider.cluster.find_group(lab_id)
    inventory = Ec2SweepInventory(ec2=provider._ec2, access=provider.access)

    (resource,) = [r for r in inventory.lab_resources(set()) if r.resource == group_id]
    assert (resource.kind, resource.lab_id) == ("security-group", lab_id)
    inventory.remove(resource)

    assert provider.cluster.find_group(lab_id) is None
