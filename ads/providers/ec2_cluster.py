"""A lab of several VMs on EC2: one instance per VM, a security group they share, and the
cluster facts delivered through SSM (no SSH keys).

- Each VM's instance carries ``ads:lab-id`` (the lab, as every lab instance does) and
  ``ads:vm-name``; its RunInstances ClientToken is unique per (lab, VM) within EC2's 64
  characters (:func:`vm_client_token`), and a retried create finds it by both tags.
- The lab's **cluster security group** (``ads-cluster-<lab_id>``, tagged like the lab's
  other groups and ``ads:cluster=true``) is made by the first VM's create, found by the others (a concurrent
  create's ``InvalidGroup.Duplicate`` means it exists), and admits TCP on each role's
  declared ports **from the group itself only**: the lab's VMs reach each other there and
  nothing else is opened. Every VM of the lab wears it besides the usual groups.
  ``release`` deletes it once no instance wears it; while terminating instances still hold
  it (``DependencyViolation``) it raises DestroyInProgress, which Destroy VM retries.
- The **facts** are one SendCommand (``AWS-RunShellScript``) to all the lab's instances,
  writing ``/etc/ads/cluster_facts.json`` atomically (root's, 0644); each invocation is
  read with GetCommandInvocation (not visible yet right after the send: still pending).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from ads.config import MANAGED_TAG, AdsConfig
from ads.cost_tags import tag_list
from ads.providers.base import (
    DestroyFailed,
    DestroyInProgress,
    InitFailed,
    InitStatus,
    ProviderThrottled,
    VmCreateFailed,
    VmInfo,
)
from ads.providers.ec2_groups import authorize_once
from ads.providers.ec2_init import CLUSTER_FACTS_PATH
from ads.providers.ssm_commands import Call, read_invocation
from ads.providers.throttling import error_code, error_message

VM_NAME_TAG = "ads:vm-name"
# Marks the cluster group apart from the lab's access group (IAM's conditions require it).
CLUSTER_TAG = "ads:cluster"
CLUSTER_GROUP_PREFIX = "ads-cluster-"
CLIENT_TOKEN_LIMIT = 64
GROUP_NOT_FOUND = frozenset({"InvalidGroup.NotFound", "InvalidGroupId.NotFound"})
# How long SSM may take to hand the facts command to every instance's agent.
FACTS_DELIVERY_S = 300
FACTS_EXECUTION_S = 60


def cluster_group_name(lab_id: str) -> str:
    return f"{CLUSTER_GROUP_PREFIX}{lab_id}"


def vm_client_token(lab_id: str, vm_name: str) -> str:
    """RunInstances' ClientToken of the VM ``vm_name``: ``<lab_id>.<vm_name>`` when it fits
    64 characters, else the lab id's start and a digest of both (still unique per VM)."""
    token = f"{lab_id}.{vm_name}"
    if len(token) <= CLIENT_TOKEN_LIMIT:
        return token
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
    return f"{lab_id[: CLIENT_TOKEN_LIMIT - len(digest) - 1]}-{digest}"


def live_instance_filters(
    lab_tag: str, lab_id: str, vm_name: str | None = None
) -> list[dict[str, Any]]:
    """DescribeInstances filters for the lab's live instances (that VM's, with ``vm_name``)."""
    named = [{"Name": f"tag:{VM_NAME_TAG}", "Values": [vm_name]}] if vm_name else []
    return [
        {"Name": f"tag:{lab_tag}", "Values": [lab_id]},
        *named,
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
    ]


def vm_name_detail(instance: Mapping[str, Any]) -> dict[str, str]:
    """``{"vm_name": ...}`` for an instance of a lab of several VMs (its tag), else {}."""
    tags = {t.get("Key"): t.get("Value") for t in instance.get("Tags") or []}
    name = tags.get(VM_NAME_TAG)
    return {"vm_name": str(name)} if name else {}


def declared_ports(plan: Mapping[str, Any]) -> list[int]:
    """The role's declared ports: its plan's ``lab_ports`` (the role's ``ports``)."""
    return sorted({int(port) for port in plan.get("lab_ports") or []})


def self_ingress(group_id: str, ports: list[int]) -> list[dict[str, Any]]:
    """One TCP rule per port, whose only source is the group itself."""
    source = [{"GroupId": group_id, "Description": "the lab's own VMs"}]
    return [
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": source}
        for port in ports
    ]


def with_group(arguments: dict[str, Any], group_id: str) -> dict[str, Any]:
    """RunInstances ``arguments`` with the cluster group added to the groups it wears
    (on the network interface when the launch names one: a public lab)."""
    arguments = dict(arguments)
    interfaces = arguments.get("NetworkInterfaces")
    if interfaces:
        first = dict(interfaces[0])
        first["Groups"] = [*first.get("Groups", []), group_id]
        arguments["NetworkInterfaces"] = [first, *interfaces[1:]]
        return arguments
    arguments["SecurityGroupIds"] = [*arguments.get("SecurityGroupIds", []), group_id]
    return arguments


def facts_script(facts: Mapping[str, Any], path: str = CLUSTER_FACTS_PATH) -> str:
    """Shell that writes ``facts`` to ``path`` atomically, root's and world-readable."""
    body = base64.b64encode(json.dumps(facts, indent=2, sort_keys=True).encode()).decode()
    directory = shlex.quote(path.rsplit("/", 1)[0] or "/")
    target = shlex.quote(path)
    temporary = shlex.quote(f"{path}.tmp")
    return "\n".join(
        [
            "#!/bin/sh",
            "set -eu",
            "umask 022",
            f"mkdir -p {directory}",
            f"printf %s {body} | base64 -d > {temporary}",
            f"chown root:root {temporary}",
            f"chmod 0644 {temporary}",
            f"mv -f {temporary} {target}",
        ]
    )


def is_cluster_group(group: Mapping[str, Any]) -> bool:
    """Whether a described security group is a lab's cluster group (its tag)."""
    return any(
        t.get("Key") == CLUSTER_TAG and t.get("Value") == "true" for t in group.get("Tags") or []
    )


def delete_group(call: Call, ec2: Any, group_id: str, lab_id: str) -> None:
    """Delete the cluster group ``group_id`` of ``lab_id`` (absent is fine); while
    terminating instances still hold it, DestroyInProgress (retried)."""
    try:
        call(ec2, "delete_security_group", GroupId=group_id)
    except ClientError as exc:
        if error_code(exc) in GROUP_NOT_FOUND:
            return
        if error_code(exc) == "DependencyViolation":
            raise DestroyInProgress(
                f"the cluster security group of {lab_id} is still in use "
                "(DependencyViolation): its VMs' network interfaces are not released yet",
                lab_id=lab_id,
            ) from exc
        raise DestroyFailed(
            f"the cluster security group of {lab_id} cannot be deleted: "
            f"{error_code(exc)}: {error_message(exc)}",
            lab_id=lab_id,
        ) from exc


class Ec2Cluster:
    """The lab's shared security group and its cluster facts."""

    def __init__(self, config: AdsConfig, *, call: Call, ec2: Any, ssm: Any) -> None:
        self._config = config
        self._call = call
        self._ec2 = ec2
        self._ssm = ssm

    # -- the cluster security group -------------------------------------------------------

    def ensure_group(self, lab_id: str, plan: Mapping[str, Any]) -> str:
        """The lab's cluster group (made if missing), admitting the role's declared ports."""
        if not self._config.vpc_id:
            raise VmCreateFailed(
                "ADS_VPC_ID is empty; a lab of several VMs gets a security group of its "
                "own in the labs' VPC (CDK sets it)"
            )
        try:
            group_id = self.find_group(lab_id) or self._create_group(lab_id, plan)
            for permission in self_ingress(group_id, declared_ports(plan)):
                authorize_once(self._call, self._ec2, group_id, permission)
        except ClientError as exc:
            raise VmCreateFailed(
                f"the cluster security group of {lab_id} cannot be prepared: "
                f"{exc.operation_name}: {error_code(exc)}: {error_message(exc)}"
            ) from exc
        return group_id

    def find_group(self, lab_id: str) -> str | None:
        response = self._call(
            self._ec2,
            "describe_security_groups",
            Filters=[
                {"Name": "group-name", "Values": [cluster_group_name(lab_id)]},
                {"Name": "vpc-id", "Values": [self._config.vpc_id]},
            ],
        )
        groups = response.get("SecurityGroups", [])
        return str(groups[0]["GroupId"]) if groups else None

    def _create_group(self, lab_id: str, plan: Mapping[str, Any]) -> str:
        tags = [
            *tag_list(dict(plan.get("cost_tags") or {}), lab_id),
            {"Key": MANAGED_TAG, "Value": "true"},
            {"Key": CLUSTER_TAG, "Value": "true"},
        ]
        try:
            response = self._call(
                self._ec2,
                "create_security_group",
                GroupName=cluster_group_name(lab_id),
                Description=f"ADS lab {lab_id}: its VMs reach each other on their roles' ports",
                VpcId=self._config.vpc_id,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
            )
        except ClientError as exc:
            # Another VM's create made it first: it exists, find it.
            if error_code(exc) != "InvalidGroup.Duplicate":
                raise
            found = self.find_group(lab_id)
            if found is None:
                # EC2 is eventually consistent: the group is not listed yet. Create VM's
                # retry (ProviderThrottled) finds it.
                raise ProviderThrottled(
                    f"the cluster security group of {lab_id} exists (InvalidGroup.Duplicate) "
                    "but is not listed yet; retrying",
                    operation="DescribeSecurityGroups",
                ) from exc
            return found
        return str(response["GroupId"])

    def release(self, lab_id: str) -> None:
        """Delete the lab's cluster group (absent is fine), once no instance wears it."""
        if not self._config.vpc_id:
            return
        group_id = self.find_group(lab_id)
        if group_id:
            delete_group(self._call, self._ec2, group_id, lab_id)

    # -- the cluster facts ------------------------------------------------------------------

    def share_facts(self, lab_id: str, vms: list[VmInfo], facts: Mapping[str, Any]) -> str:
        """One SendCommand writing the facts on every VM; its command id."""
        ids = [vm.vm_id for vm in vms]
        try:
            response = self._call(
                self._ssm,
                "send_command",
                InstanceIds=ids,
                DocumentName="AWS-RunShellScript",
                Comment=f"ADS cluster facts {lab_id}"[:100],
                Parameters={
                    "commands": [facts_script(facts)],
                    "executionTimeout": [str(FACTS_EXECUTION_S)],
                },
                TimeoutSeconds=FACTS_DELIVERY_S,
            )
        except ClientError as exc:
            raise InitFailed(
                f"SendCommand (cluster facts) to {', '.join(ids)} refused: "
                f"{error_code(exc)}: {error_message(exc)}"
            ) from exc
        return str(response["Command"]["CommandId"])

    def facts_status(self, vms: list[VmInfo], command_id: str) -> InitStatus:
        """Success once every invocation succeeded; failed names the first VM that did not."""
        pending: list[str] = []
        for vm in vms:
            name = str(vm.details.get("vm_name") or vm.vm_id)
            invocation = read_invocation(self._call, self._ssm, vm.vm_id, command_id)
            if invocation.progress is not None:
                pending.append(f"{name}: {invocation.progress}")
            elif invocation.status != "Success":
                return InitStatus(
                    state="failed",
                    exit_code=invocation.exit_code,
                    output_tail=invocation.output_tail,
                    detail=f"{name}: the cluster facts were not written ({invocation.detail})",
                )
        if pending:
            return InitStatus(state="in_progress", detail="; ".join(pending))
        return InitStatus(state="success", exit_code=0, detail="Success")
