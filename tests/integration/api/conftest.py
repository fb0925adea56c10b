"""The api handler in-process against moto: the labs table and both state machines.

With moto's default configuration Step Functions records executions but does not run
them, so a lab stays where the API left it and each test sees exactly what the API did.
Every answer is checked against the committed OpenAPI document.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from moto import mock_aws

from ads.asl_placeholders import (
    PARTITION_PLACEHOLDER,
    STEP_FUNCTION_PLACEHOLDERS,
    fill_placeholders,
)
from ads.config import reset_config
from ads.labs_table import create_table
from ads.records import LabRepository
from tests.integration.api.events import ADMIN_ROLE

REPO = Path(__file__).resolve().parents[3]
OPENAPI = json.loads((REPO / "functions" / "api" / "openapi.json").read_text())
REGION = "us-east-1"
TABLE = "ads-labs-test"


@dataclass
class FakeLambdaContext:
    function_name: str = "ads-api"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:ads-api"
    aws_request_id: str = "c0ffee00-0000-4000-8000-000000000001"


@dataclass
class ControlPlane:
    sfn: Any
    repo: LabRepository
    deploy_arn: str
    destroy_arn: str
    cohort_arn: str = ""

    def executions(self, state_machine_arn: str) -> list[dict[str, Any]]:
        return self.sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]


def _definition(name: str) -> str:
    """The real ASL when it is there (placeholders filled as CDK does), else a stand-in."""
    path = REPO / "statemachine" / f"{name}.asl.json"
    if not path.exists():
        return json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    arns = {
        placeholder: f"arn:aws:lambda:{REGION}:123456789012:function:ads-{step}"
        for step, placeholder in STEP_FUNCTION_PLACEHOLDERS.items()
    }
    return fill_placeholders(path.read_text(), {PARTITION_PLACEHOLDER: "aws", **arns})


@pytest.fixture
def control_plane(monkeypatch) -> Iterator[ControlPlane]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "ADS_TABLE_NAME": TABLE,
        "ADS_PROVIDER": "ec2",
        "ADS_ADMIN_PRINCIPALS": ADMIN_ROLE,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        role = "arn:aws:iam::123456789012:role/ads-workflow"
        deploy = sfn.create_state_machine(
            name="ads-DeployLab", definition=_definition("deploy_lab"), roleArn=role
        )["stateMachineArn"]
        destroy = sfn.create_state_machine(
            name="ads-DestroyLab", definition=_definition("destroy_lab"), roleArn=role
        )["stateMachineArn"]
        # moto records DeployCohort's executions without running them: a stand-in will do.
        cohort = sfn.create_state_machine(
            name="ads-DeployCohort", definition=_definition("no_such_workflow"), roleArn=role
        )["stateMachineArn"]
        monkeypatch.setenv("ADS_DEPLOY_STATE_MACHINE_ARN", deploy)
        monkeypatch.setenv("ADS_DESTROY_STATE_MACHINE_ARN", destroy)
        monkeypatch.setenv("ADS_COHORT_STATE_MACHINE_ARN", cohort)
        reset_config()
        yield ControlPlane(
            sfn, LabRepository.from_name(TABLE, REGION), deploy, destroy, cohort_arn=cohort
        )
    reset_config()


def _openapi_schema(event: dict[str, Any], status: int) -> dict[str, Any] | None:
    """The documented schema of this answer; None for a route the API does not have."""
    operation = OPENAPI["paths"].get(event["resource"], {}).get(event["httpMethod"].lower())
    if operation is None:
        return None
    documented = operation["responses"].get(str(status))
    assert documented, f"{event['httpMethod']} {event['resource']} answered {status}, undocumented"
    return documented["content"]["application/json"]["schema"]


def check_against_openapi(event: dict[str, Any], response: dict[str, Any]) -> None:
    schema = _openapi_schema(event, response["statusCode"])
    body = json.loads(response["body"])
    if schema is None:
        assert response["statusCode"] == 404 and body["error"] == "route_not_found"
        return
    jsonschema.validate(body, {**schema, "components": OPENAPI["components"]})


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, Any]


@pytest.fixture
def call_api(control_plane) -> Callable[[dict[str, Any]], Answer]:
    from functions.api.handler import handler

    def call(event: dict[str, Any]) -> Answer:
        response = handler(event, FakeLambdaContext())
        check_against_openapi(event, response)
        return Answer(
            response["statusCode"],
            json.loads(response["body"]),
            response.get("multiValueHeaders") or response.get("headers") or {},
        )

    return call
