"""Starting a cohort's round against Step Functions' real answers (botocore Stubber): a
retried start that meets its own execution, and a start refused."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ads.cohort_model import CohortRecord
from ads.cohorts import _start_round
from ads.config import AdsConfig
from ads.deployment_context import DeploymentContext
from ads.executions import WorkflowUnavailableError
from ads.lab_record import LabRecord, LabStatus

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:ads-deploy-cohort"
OWNER = "arn:aws:iam::123456789012:user/teacher"


class RecordedTransitions:
    def __init__(self) -> None:
        self.calls: list[tuple[str, LabStatus, dict[str, Any]]] = []

    def transition(self, lab_id: str, to: LabStatus, **fields: Any) -> None:
        self.calls.append((lab_id, to, fields))


def _cohort() -> CohortRecord:
    now = "2026-12-02T00:00:00.000Z"
    return CohortRecord(
        cohort_id="hello-web-cohort-01m8t337acjd3r2rd286z4kvf2",
        cohort_owner=OWNER,
        created_at=now,
        updated_at=now,
    )


def _labs() -> list[LabRecord]:
    now = "2026-12-02T00:00:00.000Z"
    return [
        LabRecord(
            lab_id=f"hello-web-01m8t337afgjkrh58ty12ppex{n}",
            owner=OWNER,
            created_at=now,
            updated_at=now,
            assignee=f"arn:aws:iam::123456789012:user/s{n}",
        )
        for n in range(2)
    ]


def _context(client: Any, repository: Any = None) -> DeploymentContext:
    return DeploymentContext(
        repository=repository,
        stepfunctions=client,
        config=AdsConfig(cohort_state_machine_arn=MACHINE),
    )


def test_given_the_rounds_execution_exists_when_its_start_is_retried_then_it_is_that_round():
    client = boto3.client("stepfunctions", region_name="us-east-1")
    expected = {"stateMachineArn": MACHINE, "name": f"{_cohort().cohort_id}-2", "input": ANY}
    with Stubber(client) as stub:
        stub.add_client_error(
            "start_execution",
            service_error_code="ExecutionAlreadyExists",
            service_message="Execution Already Exists",
            expected_params=expected,
        )
        arn = _start_round(_context(client), _cohort(), _labs(), 2)

    assert arn == MACHINE.replace(":stateMachine:", ":execution:") + f":{_cohort().cohort_id}-2"


def test_given_a_round_when_started_then_its_input_names_each_new_members_lab():
    client = boto3.client("stepfunctions", region_name="us-east-1")
    labs = _labs()
    with Stubber(client) as stub:
        stub.add_response(
            "start_execution",
            {"executionArn": f"{MACHINE}:x", "startDate": "2026-12-02T00:00:00Z"},
            {
                "stateMachineArn": MACHINE,
                "name": f"{_cohort().cohort_id}-1",
                "input": json.dumps(
                    {
                        "cohort_id": _cohort().cohort_id,
                        "members": [
                            {
                                "lab_id": r.lab_id,
                                "principal": r.assignee,
                                "input": {"lab_id": r.lab_id},
                            }
                            for r in labs
                        ],
                    }
                ),
            },
        )
        assert _start_round(_context(client), _cohort(), labs, 1) == f"{MACHINE}:x"


def test_given_step_functions_refuses_the_start_then_the_rounds_labs_are_failed_with_why():
    client = boto3.client("stepfunctions", region_name="us-east-1")
    repository = RecordedTransitions()
    with Stubber(client) as stub:
        stub.add_client_error(
            "start_execution",
            service_error_code="AccessDeniedException",
            service_message="not authorized to perform: states:StartExecution",
            http_status_code=400,
        )
        with pytest.raises(WorkflowUnavailableError) as refused:
            _start_round(_context(client, repository), _cohort(), _labs(), 1)

    assert "AccessDeniedException" in refused.value.message
    assert [(c[0], c[1]) for c in repository.calls] == [
        (lab.lab_id, LabStatus.FAILED) for lab in _labs()
    ]
    assert all("AccessDeniedException" in c[2]["cause"] for c in repository.calls)
