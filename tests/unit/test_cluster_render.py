"""The CLI's view of a lab of several VMs: the plan's VMs and total, each VM's status."""

from __future__ import annotations

from pathlib import Path

from ads.cli import render
from ads.cli.cluster_render import plan_vm_lines, record_vm_lines
from ads.cli.plan_render import plan_lines, render_plan
from ads.lab.plan import PlanOptions, plan_from_labspec_source

ROOT = Path(__file__).resolve().parents[2]
TWO_ROLES = ROOT / "events" / "labspecs" / "two-role-lab.labspec.json"
HELLO_WEB = ROOT / "events" / "labs" / "hello-web" / "scripts" / "labspec.json"


def _plan(path: Path) -> dict:
    return plan_from_labspec_source(path.read_bytes(), PlanOptions(), None).model_dump(mode="json")


def test_given_a_cluster_plan_when_rendered_then_each_vm_has_a_row_and_the_total_is_shown():
    plan = _plan(TWO_ROLES)

    text = render_plan(plan)

    rows = [line.split() for line in plan_vm_lines(plan)[1:-1]]
    assert [row[:3] for row in rows] == [
        ["db-1", "db", "t3.micro"],
        ["web-1", "web", "t3.micro"],
        ["web-2", "web", "t3.micro"],
    ]
    assert rows[1][-1] == "db"
    assert f"Total: ${plan['hourly_cost_usd']:.4f} per hour for 3 VMs" in text
    assert all(f"  {line}" in text for line in plan_vm_lines(plan))


def test_given_a_cluster_plan_when_summarised_then_the_summary_names_the_vms_as_ads_plan_does():
    plan = _plan(TWO_ROLES)

    summary = dict(line.split(":", 1) for line in plan_lines(plan))

    assert summary["VMs"].strip().startswith("3: db-1 (t3.micro), web-1")
    full = {line.split(":", 1)[1].strip() for line in render_plan(plan).splitlines() if ":" in line}
    assert all(value.strip() in full for value in summary.values())


def test_given_a_single_vm_plan_then_no_vm_lines_are_shown():
    plan = _plan(HELLO_WEB)

    assert plan_vm_lines(plan) == []
    assert "VMs" not in render_plan(plan)
    assert [line.split(":", 1)[0] for line in plan_lines(plan)] == [
        "OS",
        "Arch",
        "Instance",
        "Cost",
    ]


def test_given_a_record_with_vms_when_shown_then_each_vm_has_its_status_line():
    record = {
        "lab_id": "two-role-lab-1",
        "status": "FAILED",
        "vms": {
            "db-1": {
                "name": "db-1",
                "role": "db",
                "status": "HEALTHY",
                "vm_id": "i-0a",
                "private_ip": "10.0.1.5",
                "agent_port": 9089,
            },
            "web-1": {
                "name": "web-1",
                "role": "web",
                "status": "FAILED",
                "failed_step": "Initialise VM (web-1)",
                "cause": "web-1: build exited 2\nlog",
            },
        },
    }

    text = render.render_record(record)

    assert "VMs:" in text
    [db] = [line for line in text.splitlines() if line.strip().startswith("db-1")]
    assert db.split()[:5] == ["db-1", "db", "HEALTHY", "i-0a", "10.0.1.5:9089"]
    [web] = [line for line in text.splitlines() if line.strip().startswith("web-1")]
    assert web.split()[2] == "FAILED"
    assert web.endswith("Initialise VM (web-1): web-1: build exited 2")


def test_given_a_record_without_vms_when_shown_then_it_reads_as_before():
    assert record_vm_lines({}) == []
    assert "VMs:" not in render.render_record(
        {"lab_id": "hello-web-1", "status": "READY", "vms": {}}
    )


def test_given_a_cohort_plan_of_a_cluster_lab_then_it_names_each_labs_vms():
    from ads.cli.cohort_cmd import render_plan as render_cohort_plan

    plan = _plan(TWO_ROLES)
    cohort = {"members": 3, "plan": plan, "hourly_usd_per_lab": plan["hourly_cost_usd"]}

    text = render_cohort_plan(cohort)

    assert "each lab's VMs: 3: db-1 (t3.micro), web-1 (t3.micro), web-2 (t3.micro)" in text
    assert "VMs" not in render_cohort_plan({"members": 3, "plan": _plan(HELLO_WEB)})
