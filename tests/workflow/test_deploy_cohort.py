"""DeployCohort on the local control plane: the real ASL (statemachine/deploy_cohort.asl.json)
runs the real DeployLab for each member (states:startExecution.sync:2), so each member's
lab is an ordinary lab; a member's failure fails that member's lab only."""

from __future__ import annotations

import json
from typing import Any

from ads.api_models import LabSource
from ads.cohort_model import CohortMember, CohortRequest
from ads.cohort_queries import destroy_cohort, get_cohort
from ads.cohorts import request_cohort
from ads.lab_record import LabStatus
from ads.local.runtime import LocalControlPlane
from ads.providers.local_processes import processes_under
from tests.workflow.conftest import CALLER, EXECUTION_TIMEOUT_S, hello_web_labspec

MEMBERS = [f"arn:aws:iam::123456789012:user/student-{n}" for n in range(1, 4)]


def _request(source: Any, members: list[str]) -> CohortRequest:
    return CohortRequest(
        labspec=hello_web_labspec(),
        source=LabSource(git=str(source)),
        members=[CohortMember(principal=m, name=f"Student {i}") for i, m in enumerate(members)],
        course="CS101",
    )


def _fail_init_for(plane: LocalControlPlane, lab_ids: set[str]) -> None:
    def wrap(real: Any) -> Any:
        def handler(event: dict[str, Any], context: Any) -> Any:
            if event.get("lab_id") in lab_ids:
                raise RuntimeError("the lab's install failed (injected)")
            return real(event, context)

        return handler

    plane.override_handler("init_vm", wrap)


def _destroy_all(plane: LocalControlPlane, cohort_id: str) -> None:
    answer = destroy_cohort(plane.deployment_context(), cohort_id, caller=CALLER)
    repository = plane.repository()
    for member in answer["members"]:
        record = repository.require(member["lab_id"])
        if record.destroy_execution_arn:
            plane.wait_for_execution(record.destroy_execution_arn, EXECUTION_TIMEOUT_S)
    assert processes_under(plane.state_dir) == []


def test_given_three_members_one_failing_when_the_cohort_deploys_then_the_others_are_ready_and_the_failed_one_has_no_vm(
    plane: LocalControlPlane, hello_web_repo: Any
) -> None:
    ctx = plane.deployment_context()
    status, view = request_cohort(ctx, _request(hello_web_repo, MEMBERS), caller=CALLER)
    assert status == 202 and [m["principal"] for m in view["members"]] == MEMBERS
    labs = {m["principal"]: m["lab_id"] for m in view["members"]}
    _fail_init_for(plane, {labs[MEMBERS[1]]})

    execution = plane.wait_for_execution(view["execution_arns"][0], EXECUTION_TIMEOUT_S)

    assert execution["status"] == "SUCCEEDED"
    repository = plane.repository()
    records = {p: repository.require(lab_id) for p, lab_id in labs.items()}
    assert records[MEMBERS[0]].status == LabStatus.READY
    assert records[MEMBERS[2]].status == LabStatus.READY
    failed = records[MEMBERS[1]]
    assert failed.status == LabStatus.FAILED and "injected" in (failed.cause or "")
    assert failed.failed_step == "Initialise VM"
    assert not (plane.labs_root / failed.lab_id).exists()
    for principal, record in records.items():
        assert record.assignee == principal and record.owner == CALLER
        assert record.cohort_id == view["cohort_id"] and record.course == "CS101"
        # The member's DeployLab is the one a single lab gets, named by the lab id.
        assert record.execution_arn and record.execution_arn.endswith(f":DeployLab:{record.lab_id}")
    shown = get_cohort(ctx, view["cohort_id"], caller=CALLER)
    assert shown["counts"] == {"READY": 2, "FAILED": 1}
    # Its last step put Cohort Deployed on the plane's lifecycle bus, with the same counts.
    assert plane.states_entered(execution["executionArn"])[-2:] == [
        "Record Cohort Deployed",
        "Cohort Deployed",
    ]
    recorded = json.loads(execution["output"])["recorded"]
    assert recorded == {"counts": {"FAILED": 1, "READY": 2}, "event_published": True}
    assert {m["principal"]: m["status"] for m in shown["members"]}[MEMBERS[1]] == "FAILED"
    _destroy_all(plane, view["cohort_id"])


def test_given_a_cohort_when_the_same_request_comes_again_with_one_more_member_then_only_that_member_is_added_and_a_rerun_round_meets_its_labs(
    plane: LocalControlPlane, hello_web_repo: Any
) -> None:
    ctx = plane.deployment_context()
    _, first = request_cohort(
        ctx, _request(hello_web_repo, MEMBERS[:2]), caller=CALLER, idempotency_key="class-1"
    )
    plane.wait_for_execution(first["execution_arns"][0], EXECUTION_TIMEOUT_S)

    _, second = request_cohort(
        ctx, _request(hello_web_repo, MEMBERS), caller=CALLER, idempotency_key="class-1"
    )

    assert second["cohort_id"] == first["cohort_id"] and second["idempotent_replay"] is True
    assert second["added"] == [MEMBERS[2]]
    assert len(second["execution_arns"]) == 2
    before = {m["principal"]: m["lab_id"] for m in first["members"]}
    after = {m["principal"]: m["lab_id"] for m in second["members"]}
    assert {p: after[p] for p in before} == before
    plane.wait_for_execution(second["execution_arns"][1], EXECUTION_TIMEOUT_S)
    shown = get_cohort(ctx, first["cohort_id"], caller=CALLER)
    assert shown["counts"] == {"READY": 3}

    # The first round again (Step Functions redriving it, an operator re-running it): its
    # members' DeployLab have ended, so StartExecution answers ExecutionAlreadyExists.
    rerun_members = [
        {**member, "input": {"lab_id": member["lab_id"]}} for member in first["members"][:1]
    ]
    again = ctx.stepfunctions.start_execution(
        stateMachineArn=plane.cohort_state_machine_arn,
        name=f"{first['cohort_id']}-again",
        input=json.dumps({"cohort_id": first["cohort_id"], "members": rerun_members}),
    )
    rerun = plane.wait_for_execution(again["executionArn"], EXECUTION_TIMEOUT_S)

    assert rerun["status"] == "SUCCEEDED"
    assert "Lab Already Deployed" in plane.states_entered(again["executionArn"])
    assert plane.repository().require(before[MEMBERS[0]]).status == LabStatus.READY
    _destroy_all(plane, first["cohort_id"])
