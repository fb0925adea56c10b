"""A lab of several VMs (``lab.roles``) through the api handler over moto: the plan's VMs
and total, the record's PENDING VM entries, DeployLab's input, the quota counting every
VM, and a cohort of such labs starting each member with the same input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ads.config import reset_config
from ads.lab.cluster import execution_input
from tests.integration.api.events import ALICE, labspec, load_event

STUDENTS = [f"arn:aws:iam::123456789012:user/student-{n}" for n in range(1, 3)]


def cluster_labspec() -> dict[str, Any]:
    spec = labspec()
    spec["lab"]["roles"] = {
        "db": {
            "ports": [5432],
            "runtime_requirements": {"platform": {"memory": {"min_required": "2gb"}}},
        },
        "web": {"count": 2, "after": ["db"]},
    }
    return spec


def _post(call_api: Any, route: str, body: dict[str, Any]) -> Any:
    sample = load_event(f"api/post_{route.strip('/')}")
    event = load_event(
        f"api/post_{route.strip('/')}", caller=ALICE, body={**json.loads(sample["body"]), **body}
    )
    event["headers"].pop("Idempotency-Key", None)
    event["multiValueHeaders"].pop("Idempotency-Key", None)
    return call_api(event)


def test_given_a_roles_labspec_when_planned_then_each_vm_and_the_total_are_shown(call_api):
    answer = _post(call_api, "/plans", {"labspec": cluster_labspec()})

    assert answer.status == 200, answer.body
    cluster = answer.body["cluster"]
    rows = [(vm["name"], vm["role"], vm["plan"]["instance_type"]) for vm in cluster["vms"]]
    assert rows == [
        ("db-1", "db", "t3.small"),
        ("web-1", "web", "t3.micro"),
        ("web-2", "web", "t3.micro"),
    ]
    assert cluster["waves"] == [["db-1"], ["web-1", "web-2"]]
    total = sum(vm["plan"]["hourly_cost_usd"] for vm in cluster["vms"])
    assert answer.body["hourly_cost_usd"] == cluster["hourly_cost_usd"] == pytest.approx(total)


def test_given_a_roles_labspec_when_posted_then_the_record_has_pending_vms_and_deploy_lab_gets_them(
    call_api, control_plane
):
    answer = _post(call_api, "/labs", {"labspec": cluster_labspec()})

    assert answer.status == 202, answer.body
    lab_id = answer.body["lab_id"]
    record = control_plane.repo.require(lab_id)
    assert record.vms == {
        "db-1": {"name": "db-1", "role": "db", "status": "PENDING"},
        "web-1": {"name": "web-1", "role": "web", "status": "PENDING"},
        "web-2": {"name": "web-2", "role": "web", "status": "PENDING"},
    }
    [execution] = control_plane.executions(control_plane.deploy_arn)
    described = control_plane.sfn.describe_execution(executionArn=execution["executionArn"])
    started = json.loads(described["input"])
    assert started == execution_input(lab_id, record.plan)
    assert [vm["vm_name"] for vm in started["cluster"]["vms"]] == ["db-1", "web-1", "web-2"]

    shown = call_api(load_event("api/get_lab", lab_id=lab_id, caller=ALICE))
    assert shown.status == 200
    assert shown.body["vms"]["web-2"]["role"] == "web"
    assert {vm["status"] for vm in shown.body["vms"].values()} == {"PENDING"}


def test_given_a_single_vm_labspec_when_posted_then_the_record_has_no_vms(call_api, control_plane):
    answer = _post(call_api, "/labs", {"labspec": labspec()})

    assert answer.status == 202
    assert control_plane.repo.require(answer.body["lab_id"]).vms == {}
    assert "cluster" not in answer.body["plan"]


def test_given_a_spend_limit_above_one_vm_but_below_the_cluster_then_the_lab_is_refused(
    call_api, control_plane, monkeypatch
):
    single = _post(call_api, "/plans", {"labspec": labspec()}).body["hourly_cost_usd"]
    monkeypatch.setenv("ADS_QUOTA_MAX_HOURLY_USD", str(round(single * 2, 4)))
    reset_config()

    answer = _post(call_api, "/labs", {"labspec": cluster_labspec()})

    assert answer.status == 429, answer.body
    assert answer.body["details"]["quota"] == "hourly_spend_per_owner"
    assert answer.body["details"]["requested"] > single * 2
    assert control_plane.repo.list_for_owner(ALICE)[0] == []


def test_given_a_cohort_of_a_roles_labspec_then_each_member_lab_has_vms_and_its_deploy_input(
    call_api, control_plane
):
    body = {"labspec": cluster_labspec(), "members": [{"principal": p} for p in STUDENTS]}
    answer = _post(call_api, "/cohorts", body)

    assert answer.status == 202, answer.body
    [execution] = control_plane.executions(control_plane.cohort_arn)
    started = control_plane.sfn.describe_execution(executionArn=execution["executionArn"])
    members = json.loads(started["input"])["members"]
    assert len(members) == 2
    for member in members:
        record = control_plane.repo.require(member["lab_id"])
        assert set(record.vms) == {"db-1", "web-1", "web-2"}
        assert member["input"] == execution_input(record.lab_id, record.plan)
        assert member["input"]["cluster"]["waves"][0] == {"vms": [{"vm_name": "db-1"}]}


def test_given_an_instance_type_policy_when_one_role_needs_another_type_then_403_names_it(
    call_api, control_plane, monkeypatch
):
    monkeypatch.setenv("ADS_QUOTA_INSTANCE_TYPES", '{"*": ["t3.micro"]}')
    reset_config()

    answer = _post(call_api, "/labs", {"labspec": cluster_labspec()})

    assert answer.status == 403, answer.body
    assert answer.body["error"] == "instance_type_not_allowed"
    assert answer.body["details"]["use"] == "t3.small"
    assert control_plane.repo.list_for_owner(ALICE)[0] == []


def test_given_an_instance_type_policy_that_fits_every_role_then_each_vm_keeps_allowed_fallbacks(
    call_api, control_plane, monkeypatch
):
    monkeypatch.setenv("ADS_QUOTA_INSTANCE_TYPES", '{"*": ["t3.micro", "t3.small"]}')
    reset_config()

    answer = _post(call_api, "/labs", {"labspec": cluster_labspec()})

    assert answer.status == 202, answer.body
    plan = control_plane.repo.require(answer.body["lab_id"]).plan
    for vm in plan["cluster"]["vms"]:
        assert set(vm["plan"]["fallback_instance_types"]) <= {"t3.micro", "t3.small"}


def test_given_a_roles_labspec_with_reuse_image_when_posted_then_400_and_nothing_is_created(
    call_api, control_plane
):
    answer = _post(call_api, "/labs", {"labspec": cluster_labspec(), "reuse_image": True})

    assert answer.status == 400, answer.body
    [problem] = answer.body["problems"]
    assert problem["path"] == "reuse_image" and "3 VMs" in problem["found"]
    assert "labs of one VM only" in problem["allowed"]
    assert control_plane.repo.list_for_owner(ALICE)[0] == []


def test_given_a_cohort_of_a_roles_labspec_with_reuse_image_then_400_and_nothing_is_created(
    call_api, control_plane
):
    body = {
        "labspec": cluster_labspec(),
        "members": [{"principal": p} for p in STUDENTS],
        "reuse_image": True,
    }
    answer = _post(call_api, "/cohorts", body)

    assert answer.status == 400, answer.body
    [problem] = answer.body["problems"]
    assert problem["path"] == "reuse_image" and "3 VMs" in problem["found"]
    assert control_plane.executions(control_plane.cohort_arn) == []
    assert control_plane.repo.list_for_owner(ALICE)[0] == []


def test_given_roles_whose_plans_would_overflow_the_lab_record_then_400_names_lab_roles(
    call_api, control_plane
):
    spec = cluster_labspec()
    platform = spec["lab"]["build_requirements"]["platform"]
    platform["build_steps"]["build"] = ["echo " + "x" * 15_000]
    spec["lab"]["roles"] = {"a": {"count": 10}, "b": {"count": 10}}

    planned = _post(call_api, "/plans", {"labspec": spec})
    posted = _post(call_api, "/labs", {"labspec": spec})

    for answer in (planned, posted):
        assert answer.status == 400, answer.body
        [problem] = answer.body["problems"]
        assert problem["path"] == "lab.roles"
        assert problem["found"].startswith("20 VMs whose plans and labspec take ")
        assert "fewer VMs, or shorter commands" in problem["allowed"]
    assert control_plane.repo.list_for_owner(ALICE)[0] == []
    # The same commands on one VM fit.
    del spec["lab"]["roles"]
    assert _post(call_api, "/plans", {"labspec": spec}).status == 200
