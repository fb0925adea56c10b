"""The one way the CLI writes a deployment plan for a person.

``ads plan`` prints the whole plan; ``ads deploy``, ``ads show`` and the demo print its
summary (:func:`plan_lines`) inside their answers. Both take the plan as JSON (the API's
answer, or ``DeploymentPlan.model_dump(mode="json")``) and share every phrase, so the OS,
architecture, instance and cost read the same wherever a plan is shown. Missing fields
(an older or newer API) are tolerated.
"""

from __future__ import annotations

from typing import Any

from ads.cli.cluster_render import plan_vm_lines, plan_vm_summary
from ads.lab.cost import lab_cost
from ads.lab.os_catalogue import normalise_arch

HOURS_PER_MONTH = 730
UNKNOWN = "?"


def _size(mib: int) -> str:
    return f"{mib // 1024} GiB" if mib % 1024 == 0 else f"{mib} MiB"


def os_phrase(plan: dict[str, Any]) -> str:
    os_info = plan.get("os") or {}
    text = f"{os_info.get('family', UNKNOWN)} {os_info.get('version', UNKNOWN)}"
    if os_info.get("lts"):
        text += " LTS"
    if os_info.get("eol"):
        text += f" (supported until {os_info['eol']})"
    if os_info.get("substituted"):
        requested = (
            f"{os_info.get('requested_family', UNKNOWN)} "
            f"{os_info.get('requested_version') or '(no version)'}"
        )
        text += f", substituted for {requested} by OS policy {os_info.get('policy', UNKNOWN)}"
    return text


def _arch_changed(requested: str, planned: str) -> bool:
    try:
        normalised, substituted = normalise_arch(requested)
    except ValueError:
        return True
    return substituted or normalised != planned


def arch_phrase(plan: dict[str, Any]) -> str | None:
    arch, requested = plan.get("arch"), plan.get("requested_arch")
    if arch and requested and _arch_changed(str(requested), str(arch)):
        return f"{arch} (labspec asks for {requested})"
    return arch


def instance_phrase(plan: dict[str, Any]) -> str:
    text = str(plan.get("instance_type") or UNKNOWN)
    size = []
    if plan.get("vcpus"):
        size.append(f"{plan['vcpus']} vCPUs")
    if plan.get("memory_mib"):
        size.append(_size(int(plan["memory_mib"])))
    if size:
        wanted = (
            f"labspec asks for at least {_size(int(plan['requested_memory_mib']))}"
            if plan.get("requested_memory_mib") is not None
            else "no memory requirement"
        )
        text += f" ({', '.join(size)}; {wanted})"
    if plan.get("fallback_instance_types"):
        text += f"; fallbacks {', '.join(plan['fallback_instance_types'])}"
    return text


def cost_phrase(plan: dict[str, Any]) -> str:
    region, source = plan.get("region", UNKNOWN), plan.get("price_source", "bundled prices")
    hourly = plan.get("hourly_cost_usd")
    if hourly is None:
        return f"unknown in {region} ({source})"
    monthly = float(hourly) * HOURS_PER_MONTH
    return (
        f"${float(hourly):.4f} per hour in {region}, about ${monthly:.2f} per month running "
        f"all the time ({source})"
    )


def _fields(pairs: list[tuple[str, Any]]) -> list[str]:
    pairs = [(k, v) for k, v in pairs if v not in (None, "", [], {})]
    width = max((len(k) for k, _ in pairs), default=0)
    return [f"{(k + ':').ljust(width + 1)} {v}" for k, v in pairs]


def plan_lines(plan: dict[str, Any] | None, status: str | None = None) -> list[str]:
    """The plan's summary inside another answer: OS, architecture, instance, cost (a
    lab's ``status`` decides what is billed: a STOPPED lab pays for storage only)."""
    if not isinstance(plan, dict) or not plan:
        return []
    cost = lab_cost(plan, status).summary if status == "STOPPED" else cost_phrase(plan)
    return _fields(
        [
            ("OS", os_phrase(plan)),
            ("Arch", arch_phrase(plan)),
            ("Instance", instance_phrase(plan)),
            ("VMs", plan_vm_summary(plan)),
            ("Cost", cost),
        ]
    )


def render_plan(plan: dict[str, Any]) -> str:
    """The whole plan, as ``ads plan`` shows it."""
    image = (plan.get("image") or {}).get("ssm_parameter", UNKNOWN)
    lines = [
        f"Lab:          {plan.get('lab_name', UNKNOWN)} ({plan.get('lab_slug', UNKNOWN)})",
        f"OS:           {os_phrase(plan)}",
        f"Architecture: {arch_phrase(plan) or UNKNOWN}",
        f"Image:        SSM parameter {image}",
        f"Instance:     {instance_phrase(plan)}",
        f"Root volume:  {plan.get('root_volume_gib', UNKNOWN)} GiB",
        f"Cost:         {cost_phrase(plan)}",
    ]
    vm_lines = plan_vm_lines(plan)
    if vm_lines:
        # The lab's own sections around; each VM runs its role's (ads plan --json shows them).
        lines.append(f"VMs:          {plan_vm_summary(plan)}")
        lines.append("  in bootstrap order; the cost above is their total:")
        lines.extend(f"  {line}" for line in vm_lines)
    lines.append("Deploy steps:")
    for number, step in enumerate(plan.get("steps") or [], start=1):
        commands = step.get("commands") or []
        count = len(commands)
        lines.append(f"  {number}. {step.get('name')} ({count} command{'' if count == 1 else 's'})")
        lines.extend(f"       $ {command}" for command in commands)
    actions = [
        f"{name} ({len(cmds)})" for name, cmds in (plan.get("actions") or {}).items() if cmds
    ]
    lines.append(f"Lab actions:  {', '.join(actions) or 'none with commands'}")
    probe = plan.get("health_probe")
    if probe:
        port = probe.get("port") or "the lab port"
        lines.append(
            f"Health probe: GET {probe.get('path')} on {port}, expecting {probe.get('expect_status')}"
        )
    if plan.get("warnings"):
        lines.append("Warnings:")
        lines.extend(f"  - {warning}" for warning in plan["warnings"])
    return "\n".join(lines)
