"""A lab of several VMs deployed and destroyed through the cluster steps on the ec2
provider against moto: each VM its own instance created from its role's plan, running,
the cluster facts (every VM's private address) sent to every instance in one command
before any install command, one install command per VM naming it, and a destroy that
terminates every instance, marks each entry DESTROYED and removes the cluster group.
Health checks are left out: they would go to moto's fake 10.x addresses."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import boto3

from ads import cluster_steps, teardown_steps
from ads.cluster_model import VmStatus
from ads.lab.cluster import cluster_of
from ads.lab.plan import plan_from_labspec_source
from ads.lab_record import LabStatus
from ads.providers.base import InitInProgress
from ads.providers.ec2 import Ec2Provider
from tests.integration.steps.conftest import HELLO_WEB, REGION, Ec2World

VMS = ("db-1", "web-1")


def _cluster_plan() -> dict[str, Any]:
    labspec = json.loads(HELLO_WEB.read_text())
    labspec["lab"]["roles"] = {"db": {"ports": [5432]}, "web": {"after": ["db"]}}
    return plan_from_labspec_source(labspec).model_dump(mode="json")


def _provider(world: Ec2World) -> Ec2Provider:
    ec2 = boto3.client("ec2", region_name=REGION)
    subnet = ec2.describe_subnets(SubnetIds=list(world.config.subnet_ids))["Subnets"][0]
    world.config = world.config.model_copy(update={"vpc_id": subnet["VpcId"]})
    return world.provider()


def _sent_scripts(world: Ec2World) -> list[tuple[list[str], str]]:
    sent = [c for c in world.ssm.calls if c[0] == "send_command"]
    return [
        (list(kwargs["InstanceIds"]), "\n".join(kwargs["Parameters"]["commands"]))
        for _, kwargs in sent
    ]


def test_given_a_two_role_lab_on_ec2_when_deployed_and_destroyed_then_every_vm_gets_the_facts_first_and_nothing_is_left(
    ec2_world: Ec2World,
) -> None:
    provider = _provider(ec2_world)
    plan = _cluster_plan()
    cluster = cluster_of(plan)
    assert cluster is not None and [vm.name for vm in cluster.vms] == list(VMS)
    lab = ec2_world.lab_id
    ec2_world.new_lab(
        plan=plan,
        vms={
            vm.name: {"name": vm.name, "role": vm.role, "status": "PENDING"} for vm in cluster.vms
        },
    )
    repo = ec2_world.repository

    for name in VMS:
        cluster_steps.create_vm(lab, name, repo, provider)
    for name in VMS:
        cluster_steps.wait_running(
            lab, name, repo, provider, launch_grace_s=60, boot_deadline_s=600, init_poll_s=300
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            cluster_steps.share_cluster_facts(lab, repo, provider)
            break
        except InitInProgress:
            assert time.monotonic() < deadline, "the facts command never ended on moto"
            time.sleep(0.2)
    commands = [cluster_steps.send_init(lab, name, repo, provider) for name in VMS]

    record = repo.require(lab)
    ids = {name: record.vms[name]["vm_id"] for name in VMS}
    addresses = {name: record.vms[name]["private_ip"] for name in VMS}
    assert len(set(ids.values())) == 2 and all(addresses.values())
    scripts = _sent_scripts(ec2_world)
    facts_targets, facts_script = scripts[0]
    # One command to every instance, before any install command; it carries every VM.
    assert sorted(facts_targets) == sorted(ids.values())
    encoded = re.findall(r"[A-Za-z0-9+/=]{40,}", facts_script)
    facts = next(
        json.loads(base64.b64decode(blob))
        for blob in encoded
        if b'"vms"' in base64.b64decode(blob + "==")
    )
    assert [(v["name"], v["address"]) for v in facts["vms"]] == [(n, addresses[n]) for n in VMS]
    installs = scripts[1:]
    assert [targets for targets, _ in installs] == [[ids[n]] for n in VMS]
    for (_, script), name in zip(installs, VMS, strict=True):
        assert f"--vm-name {name}" in script and f"--vm-role {name.split('-')[0]}" in script
    assert all(commands) and record.status == LabStatus.INITIALIZING
    assert record.vm_id == ids["web-1"]  # the entry VM's, for actions, logs and connect

    destroyed = None
    deadline = time.monotonic() + 30
    while destroyed is None:
        try:
            destroyed = teardown_steps.destroy_vm(lab, repo, provider, launch_grace_s=0)
        except Exception as exc:  # DestroyInProgress while moto shuts the instances down
            assert type(exc).__name__ == "DestroyInProgress", exc
            assert time.monotonic() < deadline
            time.sleep(0.2)

    ec2 = boto3.client("ec2", region_name=REGION)
    states = {
        i["InstanceId"]: i["State"]["Name"]
        for r in ec2.describe_instances(InstanceIds=list(ids.values()))["Reservations"]
        for i in r["Instances"]
    }
    assert set(states.values()) == {"terminated"}
    entries = repo.require(lab).vms
    assert {entries[n]["status"] for n in VMS} == {VmStatus.DESTROYED.value}
    assert provider.cluster.find_group(lab) is None
