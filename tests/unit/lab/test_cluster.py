"""The plan of a lab of several VMs: VMs in bootstrap order, totals, the execution input
and the cluster facts each VM is told."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ads.lab import pricing
from ads.lab.cluster import (
    ClusterPlan,
    cluster_facts,
    cluster_of,
    entry_vm,
    execution_input,
    vm_plan,
)
from ads.lab.labspec import parse_labspec
from ads.lab.plan import DeploymentPlan, make_plan
from tests.unit.lab.specs import TODAY, minimal_spec


def cluster_spec() -> dict[str, Any]:
    spec = minimal_spec()
    spec["lab"]["roles"] = {
        "db": {
            "ports": [5432],
            "runtime_requirements": {"platform": {"memory": {"min_required": "2gb"}}},
        },
        "web": {"count": 2, "after": ["db"]},
    }
    return spec


def planned(spec: dict[str, Any]) -> dict[str, Any]:
    return make_plan(parse_labspec(spec), today=TODAY).model_dump(mode="json")


def test_given_two_roles_when_planned_then_vms_come_wave_by_wave_with_their_role_plans():
    plan = planned(cluster_spec())
    cluster = cluster_of(plan)
    assert cluster is not None
    assert [vm.name for vm in cluster.vms] == ["db-1", "web-1", "web-2"]
    assert cluster.waves == [["db-1"], ["web-1", "web-2"]]
    db, web1, web2 = cluster.vms
    assert (db.role, db.index, db.after, db.ports) == ("db", 1, [], [5432])
    assert (web2.role, web2.index, web2.after, web2.ports) == ("web", 2, ["db"], [80])
    assert db.plan["memory_mib"] >= 2048 > web1.plan["memory_mib"]
    assert db.plan["lab_ports"] == [5432]
    assert "cluster" not in db.plan
    # Each role plan is a whole DeploymentPlan.
    DeploymentPlan.model_validate(web1.plan)


def test_given_two_roles_when_planned_then_the_top_level_costs_are_the_cluster_totals():
    plan = planned(cluster_spec())
    cluster = cluster_of(plan)
    assert cluster is not None
    hourly = [vm.plan["hourly_cost_usd"] for vm in cluster.vms]
    assert plan["hourly_cost_usd"] == cluster.hourly_cost_usd == pytest.approx(sum(hourly))
    storage = [vm.plan["storage_monthly_cost_usd"] for vm in cluster.vms]
    assert plan["storage_monthly_cost_usd"] == pytest.approx(sum(storage))
    assert plan["lab_ports"] == [5432, 80]
    # The rest of the top-level plan is the lab's own.
    single = planned(minimal_spec())
    assert plan["instance_type"] == single["instance_type"]
    assert plan["steps"] == single["steps"]


def test_given_a_vm_whose_price_is_unknown_then_the_cluster_total_is_unknown(monkeypatch):
    real_quote = pricing.quote

    def quote(instance_type: str, region: str) -> pricing.PriceQuote:
        answer = real_quote(instance_type, region)
        if instance_type.startswith("t3.small"):
            return dataclasses.replace(answer, hourly_cost_usd=None)
        return answer

    monkeypatch.setattr(pricing, "quote", quote)
    plan = planned(cluster_spec())
    assert plan["hourly_cost_usd"] is None


def test_given_a_stored_plan_when_read_back_then_the_cluster_round_trips():
    plan = planned(cluster_spec())
    again = DeploymentPlan.model_validate(plan).model_dump(mode="json")
    assert again == plan
    assert isinstance(cluster_of(plan), ClusterPlan)


def test_given_a_single_vm_plan_then_it_has_no_cluster_and_a_plain_execution_input():
    plan = planned(minimal_spec())
    assert cluster_of(plan) is None
    assert execution_input("small-lab-1", plan) == {"lab_id": "small-lab-1"}


def test_given_a_cluster_plan_then_the_execution_input_lists_vms_and_waves_as_objects():
    assert execution_input("lab-1", planned(cluster_spec())) == {
        "lab_id": "lab-1",
        "cluster": {
            "vms": [{"vm_name": "db-1"}, {"vm_name": "web-1"}, {"vm_name": "web-2"}],
            "waves": [
                {"vms": [{"vm_name": "db-1"}]},
                {"vms": [{"vm_name": "web-1"}, {"vm_name": "web-2"}]},
            ],
        },
    }


def test_given_a_vm_name_then_its_plan_is_found_and_an_unknown_one_is_named():
    plan = planned(cluster_spec())
    assert vm_plan(plan, "db-1")["lab_ports"] == [5432]
    with pytest.raises(ValueError, match="'web-3'"):
        vm_plan(plan, "web-3")
    with pytest.raises(ValueError, match="'db-1'"):
        vm_plan(planned(minimal_spec()), "db-1")


def test_given_a_stored_plan_with_request_keys_then_each_vm_plan_carries_them():
    plan = planned(cluster_spec())
    plan["cost_tags"] = {"ads:lab-id": "lab-1"}
    plan["reuse_image"] = True

    web = vm_plan(plan, "web-2")

    assert web["cost_tags"] == {"ads:lab-id": "lab-1"} and web["reuse_image"] is True
    assert web["instance_type"] == cluster_of(plan).vms[2].plan["instance_type"]


def test_given_a_cluster_then_the_entry_vm_is_the_first_of_the_last_wave():
    cluster = cluster_of(planned(cluster_spec()))
    assert cluster is not None
    assert entry_vm(cluster) == "web-1"


def test_given_recorded_vms_then_the_facts_give_addresses_and_actual_or_declared_ports():
    cluster = cluster_of(planned(cluster_spec()))
    assert cluster is not None
    vms = {
        "db-1": {"private_ip": "127.0.0.1", "vm_details": {"lab_ports": [41001]}},
        "web-1": {"private_ip": "10.0.0.5", "vm_details": {}},
        "web-2": {"private_ip": "10.0.0.6"},
    }
    assert cluster_facts("lab-1", cluster, vms) == {
        "lab_id": "lab-1",
        "vms": [
            {"name": "db-1", "role": "db", "address": "127.0.0.1", "ports": [41001]},
            {"name": "web-1", "role": "web", "address": "10.0.0.5", "ports": [80]},
            {"name": "web-2", "role": "web", "address": "10.0.0.6", "ports": [80]},
        ],
    }


def test_given_a_role_whose_plan_fails_then_the_problem_points_into_the_role():
    from ads.errors import LabspecError

    spec = minimal_spec()
    spec["lab"]["roles"] = {
        "big": {"runtime_requirements": {"platform": {"memory": {"min_required": "900gb"}}}}
    }
    with pytest.raises(LabspecError) as caught:
        make_plan(parse_labspec(spec), today=TODAY)
    assert all(p.path.startswith("lab.roles.big") for p in caught.value.problems)
