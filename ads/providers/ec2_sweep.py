"""The sweep's view of EC2: ADS's instances, the per-lab security groups and ALB routes.

Instances are found by their ``ads:managed=true`` tag (DescribeInstances, every page) in
the states that still hold or cost something (pending, running, stopping, stopped); the
``ads:lab-id`` tag links each to its record. Termination goes in batches; EC2 refuses a
whole batch when one id is unknown or in the wrong state (``InvalidInstanceID.NotFound``,
``IncorrectInstanceState``), so a refused batch is retried one instance at a time and
each refusal is reported against its own instance. An instance the answer does not list
as terminating is reported too.

Per-lab resources (:mod:`ads.providers.ec2_access`): the lab's own security group (tagged
``ads:managed`` and the lab id), and with a load balancer the lab's target group (named
from the lab id, tagged) and its host rule. Removing them is the Destroy VM step's own
code (``Ec2LabAccess.close`` and ``release``). A lab of several VMs' cluster security group
(tagged ``ads:cluster`` too, :mod:`ads.providers.ec2_cluster`) is deleted by its id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ads.config import LAB_ID_TAG, MANAGED_TAG
from ads.providers.ec2_access import Ec2LabAccess
from ads.providers.ec2_cluster import delete_group, is_cluster_group
from ads.providers.throttling import call, error_code, error_message
from ads.sweep_model import LabResource, ManagedVm

LIVE_STATES = ("pending", "running", "stopping", "stopped")
# TerminateInstances accepts up to 1000 ids; small batches keep one refusal cheap.
TERMINATE_BATCH = 50
# DescribeTags (elbv2) takes at most 20 resource ARNs.
TAGS_BATCH = 20
TARGET_GROUP_PREFIX = "ads-"
_ACCESS_OF_KIND = {"security-group": "public", "target-group": "load-balancer"}


def _tag(tags: Iterable[Mapping[str, Any]] | None, key: str) -> str | None:
    for tag in tags or []:
        if tag.get("Key") == key:
            return str(tag.get("Value") or "") or None
    return None


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


class Ec2SweepInventory:
    """ADS's EC2 instances and per-lab resources, for :class:`ads.sweep.Sweep`."""

    def __init__(
        self, *, ec2: Any, access: Ec2LabAccess, elbv2: Any = None, load_balancer: bool = False
    ) -> None:
        self._ec2 = ec2
        self._access = access
        # Target groups are looked at only where labs are reached through the shared ALB.
        self._elbv2: Any = elbv2 if load_balancer else None
        self._cluster_groups: set[str] = set()

    # -- instances -----------------------------------------------------------------------

    def managed_vms(self) -> Iterator[ManagedVm]:
        pages = self._ec2.get_paginator("describe_instances").paginate(
            Filters=[
                {"Name": f"tag:{MANAGED_TAG}", "Values": ["true"]},
                {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
            ]
        )
        for page in pages:
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    yield ManagedVm(
                        kind="instance",
                        vm_id=str(instance["InstanceId"]),
                        lab_id=_tag(instance.get("Tags"), LAB_ID_TAG),
                        launched_at=_moment(instance.get("LaunchTime")),
                        state=str((instance.get("State") or {}).get("Name") or ""),
                    )

    def terminate(self, vms: list[ManagedVm]) -> dict[str, str | None]:
        ids = [vm.vm_id for vm in vms]
        outcome: dict[str, str | None] = {}
        for start in range(0, len(ids), TERMINATE_BATCH):
            batch = ids[start : start + TERMINATE_BATCH]
            try:
                outcome.update(self._terminate(batch))
            except ClientError:
                # One bad id refuses the batch: each alone says which one it was.
                for instance_id in batch:
                    outcome.update(self._terminate_one(instance_id))
        return outcome

    def _terminate(self, ids: list[str]) -> dict[str, str | None]:
        response = call(self._ec2, "terminate_instances", InstanceIds=ids)
        going = {str(i["InstanceId"]) for i in response.get("TerminatingInstances", [])}
        return {
            i: None if i in going else "TerminateInstances did not list it as terminating"
            for i in ids
        }

    def _terminate_one(self, instance_id: str) -> dict[str, str | None]:
        try:
            return self._terminate([instance_id])
        except ClientError as exc:
            if error_code(exc) == "InvalidInstanceID.NotFound":
                return {instance_id: None}  # gone already
            return {instance_id: f"{error_code(exc)}: {error_message(exc)}"}

    # -- per-lab resources -----------------------------------------------------------------

    def lab_resources(self, live_lab_ids: set[str]) -> Iterator[LabResource]:
        del live_lab_ids  # every resource is weighed against its own record
        yield from self._security_groups()
        if self._elbv2 is not None:
            yield from self._target_groups()

    def _security_groups(self) -> Iterator[LabResource]:
        pages = self._ec2.get_paginator("describe_security_groups").paginate(
            Filters=[{"Name": f"tag:{MANAGED_TAG}", "Values": ["true"]}]
        )
        for page in pages:
            for group in page.get("SecurityGroups", []):
                if is_cluster_group(group):
                    self._cluster_groups.add(str(group["GroupId"]))
                yield LabResource(
                    kind="security-group",
                    resource=str(group["GroupId"]),
                    lab_id=_tag(group.get("Tags"), LAB_ID_TAG),
                )

    def _target_groups(self) -> Iterator[LabResource]:
        arns: list[str] = []
        for page in self._elbv2.get_paginator("describe_target_groups").paginate():
            for group in page.get("TargetGroups", []):
                if str(group.get("TargetGroupName", "")).startswith(TARGET_GROUP_PREFIX):
                    arns.append(str(group["TargetGroupArn"]))
        for start in range(0, len(arns), TAGS_BATCH):
            described = call(
                self._elbv2, "describe_tags", ResourceArns=arns[start : start + TAGS_BATCH]
            )
            for entry in described.get("TagDescriptions", []):
                tags = entry.get("Tags")
                if _tag(tags, MANAGED_TAG) != "true":
                    continue  # a target group of someone else's that shares the prefix
                yield LabResource(
                    kind="target-group",
                    resource=str(entry["ResourceArn"]),
                    lab_id=_tag(tags, LAB_ID_TAG),
                )

    def remove(self, resource: LabResource) -> None:
        """Destroy VM's own removal: the route and target group, or the security group."""
        if not resource.lab_id:
            raise ValueError(f"{resource.kind} {resource.resource} names no lab; left alone")
        plan = {"access": _ACCESS_OF_KIND[resource.kind]}
        if resource.resource in self._cluster_groups:
            delete_group(call, self._ec2, resource.resource, resource.lab_id)
        elif resource.kind == "target-group":
            self._access.close(resource.lab_id, plan)
        else:
            self._access.release(resource.lab_id, plan)
