"""The plan of a lab of several VMs (``lab.roles``): which VMs, in which bootstrap order,
at what cost, and what each VM is told about the others.

A :class:`ClusterPlan` is kept in the lab's plan (``plan["cluster"]``); a lab of one VM
has none. Everything here is pure: the API, the workflow's steps and the providers read
the same plan through these functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from ads.cluster_model import VmStatus
from ads.errors import FieldProblem
from ads.lab.labspec_model import LabRole
from ads.lab.labspec_roles import role_waves, vm_names


class ClusterVmPlan(BaseModel):
    """One VM of a cluster lab."""

    model_config = ConfigDict(frozen=True)

    name: str  # "web-2"
    role: str  # "web"
    index: int  # 2 (1-based within the role)
    after: list[str]  # the roles this VM's role waits for
    ports: list[int]  # the role's declared ports
    # The role's whole DeploymentPlan (JSON, without a cluster of its own).
    plan: dict[str, Any]


class ClusterPlan(BaseModel):
    """The VMs in bootstrap order (wave by wave; role order, then index) and their totals."""

    vms: list[ClusterVmPlan]
    # VM names; a wave's roles depend only on roles of earlier waves.
    waves: list[list[str]]
    hourly_cost_usd: float | None
    storage_monthly_cost_usd: float | None


def _total(values: Sequence[float | None]) -> float | None:
    """The sum, or None when any part is unknown (an unpriced VM makes the total unknown)."""
    if any(value is None for value in values):
        return None
    # Rounded so that the sum of prices such as 0.0104 does not show float noise.
    return round(sum(value for value in values if value is not None), 6)


def build_cluster(
    roles: Sequence[LabRole], role_plans: Mapping[str, dict[str, Any]]
) -> ClusterPlan:
    """The cluster of ``roles``, each role's VMs deployed from ``role_plans[role]``."""
    by_name = {role.name: role for role in roles}
    vms: list[ClusterVmPlan] = []
    waves: list[list[str]] = []
    for wave in role_waves({role.name: role.after for role in roles}):
        names: list[str] = []
        for role_name in wave:
            role = by_name[role_name]
            for index, vm_name in enumerate(vm_names(role.name, role.count), start=1):
                vms.append(
                    ClusterVmPlan(
                        name=vm_name,
                        role=role.name,
                        index=index,
                        after=list(role.after),
                        ports=list(role.ports),
                        plan=role_plans[role.name],
                    )
                )
                names.append(vm_name)
        waves.append(names)
    return ClusterPlan(
        vms=vms,
        waves=waves,
        hourly_cost_usd=_total([vm.plan.get("hourly_cost_usd") for vm in vms]),
        storage_monthly_cost_usd=_total([vm.plan.get("storage_monthly_cost_usd") for vm in vms]),
    )


def record_size_problem(
    plan: Mapping[str, Any], labspec: Mapping[str, Any], limit: int
) -> FieldProblem | None:
    """Why a cluster's plan cannot be kept in its lab record, if it cannot: the record
    holds the labspec and every VM's plan, each repeating the commands."""
    cluster = plan.get("cluster")
    if not cluster:
        return None
    size = sum(
        len(json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode())
        for part in (plan, labspec)
    )
    if size <= limit:
        return None
    return FieldProblem(
        "lab.roles",
        f"{len(cluster['vms'])} VMs whose plans and labspec take {size} bytes",
        f"at most {limit} bytes together (a lab record keeps every VM's plan): "
        "fewer VMs, or shorter commands",
    )


def cluster_of(plan: Mapping[str, Any]) -> ClusterPlan | None:
    """The cluster of a stored plan; None for a lab of one VM."""
    cluster = plan.get("cluster")
    if not cluster:
        return None
    if isinstance(cluster, ClusterPlan):
        return cluster
    return ClusterPlan.model_validate(cluster)


# What the request adds to the lab's stored plan (ads.deployments, ads.cohorts) holds for
# every VM of the lab: its cost-allocation tags, whether to start from a lab image.
LAB_WIDE_KEYS = ("cost_tags", "reuse_image")


def vm_plan(plan: Mapping[str, Any], vm_name: str) -> dict[str, Any]:
    """The DeploymentPlan (JSON) of the VM ``vm_name``, with the lab-wide keys the request
    added to the lab's plan; ValueError naming the VM if the plan has no such VM."""
    cluster = cluster_of(plan)
    if cluster is None:
        raise ValueError(f"VM {vm_name!r}: the lab's plan has no cluster (a lab of one VM)")
    for vm in cluster.vms:
        if vm.name == vm_name:
            lab_wide = {key: plan[key] for key in LAB_WIDE_KEYS if key in plan}
            return {**vm.plan, **lab_wide}
    known = ", ".join(vm.name for vm in cluster.vms)
    raise ValueError(f"VM {vm_name!r} is not in the lab's cluster (its VMs: {known})")


def entry_vm(cluster: ClusterPlan) -> str:
    """The VM whose agent and application the lab's endpoint and app_url show: the
    first VM of the last wave (the front of the lab, which waits for the others)."""
    return cluster.waves[-1][0]


def execution_input(lab_id: str, plan: Mapping[str, Any]) -> dict[str, Any]:
    """The DeployLab execution input for the lab ``lab_id`` planned as ``plan``.

    Items are objects so that the workflow's Map states can add the lab id to each.
    """
    cluster = cluster_of(plan)
    if cluster is None:
        return {"lab_id": lab_id}
    return {
        "lab_id": lab_id,
        "cluster": {
            "vms": [{"vm_name": vm.name} for vm in cluster.vms],
            "waves": [{"vms": [{"vm_name": name} for name in wave]} for wave in cluster.waves],
        },
    }


def pending_vm_entries(plan: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The record's ``vms`` of a new lab: every VM of its cluster PENDING (so that the
    workflow's steps update an entry that exists); none for a lab of one VM."""
    cluster = cluster_of(plan)
    if cluster is None:
        return {}
    pending = VmStatus.PENDING.value
    return {vm.name: {"name": vm.name, "role": vm.role, "status": pending} for vm in cluster.vms}


def cluster_facts(
    lab_id: str, cluster: ClusterPlan, vms: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """What every VM of the lab is told about the others (the cluster facts file), from
    the record's per-VM entries ``vms``: each VM's address and ports, in bootstrap order.

    The ports are those the provider recorded (a local VM listens on a port of its own)
    or, where it recorded none, the role's declared ports.
    """
    facts = []
    for vm in cluster.vms:
        entry = vms.get(vm.name) or {}
        details = entry.get("vm_details") or {}
        actual = details.get("lab_ports") if isinstance(details, Mapping) else None
        facts.append(
            {
                "name": vm.name,
                "role": vm.role,
                "address": entry.get("private_ip"),
                "ports": list(actual) if actual else list(vm.ports),
            }
        )
    return {"lab_id": lab_id, "vms": facts}
