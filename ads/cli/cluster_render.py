"""How the CLI shows a lab of several VMs: the plan's VMs (``ads plan``) and each VM's
status in a lab's record (``ads show``). A lab of one VM has neither, and shows as always.
"""

from __future__ import annotations

from typing import Any

UNKNOWN = "?"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    return [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in [headers, *rows]
    ]


def _hourly(value: Any) -> str:
    return UNKNOWN if value is None else f"${float(value):.4f}"


def cluster_vms(plan: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The plan's VMs in bootstrap order; none for a lab of one VM (or a malformed plan)."""
    cluster = (plan or {}).get("cluster") if isinstance(plan, dict) else None
    vms = cluster.get("vms") if isinstance(cluster, dict) else None
    return [vm for vm in vms if isinstance(vm, dict)] if isinstance(vms, list) else []


def plan_vm_lines(plan: dict[str, Any]) -> list[str]:
    """A row per VM of the plan (name, role, instance type, hourly price, what it waits
    for) and the lab's total per hour; nothing for a lab of one VM."""
    vms = cluster_vms(plan)
    if not vms:
        return []
    rows = [
        [
            str(vm.get("name", UNKNOWN)),
            str(vm.get("role", UNKNOWN)),
            str((vm.get("plan") or {}).get("instance_type") or UNKNOWN),
            _hourly((vm.get("plan") or {}).get("hourly_cost_usd")),
            ", ".join(vm.get("after") or []) or "-",
        ]
        for vm in vms
    ]
    lines = _table(["VM", "ROLE", "INSTANCE", "HOURLY", "AFTER"], rows)
    total = plan.get("hourly_cost_usd")
    lines.append(f"Total: {_hourly(total)} per hour for {len(vms)} VMs")
    return lines


def plan_vm_summary(plan: dict[str, Any] | None) -> str | None:
    """One line naming the VMs (a plan's summary inside another answer)."""
    vms = cluster_vms(plan)
    if not vms:
        return None
    names = ", ".join(
        f"{vm.get('name', UNKNOWN)} ({(vm.get('plan') or {}).get('instance_type') or UNKNOWN})"
        for vm in vms
    )
    return f"{len(vms)}: {names}"


def record_vm_lines(vms: Any) -> list[str]:
    """A row per VM of a lab's record: name, role, status, instance, address, and the
    step and cause of a failed VM; nothing when the record has no VMs."""
    if not isinstance(vms, dict) or not vms:
        return []
    rows = []
    for name, entry in vms.items():
        entry = entry if isinstance(entry, dict) else {}
        address = entry.get("private_ip") or "-"
        if entry.get("private_ip") and entry.get("agent_port"):
            address = f"{entry['private_ip']}:{entry['agent_port']}"
        failure = ": ".join(
            str(part) for part in (entry.get("failed_step"), entry.get("cause")) if part
        )
        rows.append(
            [
                str(entry.get("name") or name),
                str(entry.get("role") or UNKNOWN),
                str(entry.get("status") or UNKNOWN),
                str(entry.get("vm_id") or "-"),
                str(address),
                failure.splitlines()[0] if failure else "",
            ]
        )
    return _table(["VM", "ROLE", "STATUS", "INSTANCE", "AGENT", "FAILURE"], rows)
