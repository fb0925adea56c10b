"""Small queries over a synthesized CloudFormation template (plain dicts)."""

from __future__ import annotations

import json
from typing import Any

ADS_FUNCTIONS = (
    "create_vm",
    "wait_running",
    "init_vm",
    "health_check",
    "destroy_vm",
    "record_status",
    "power_vm",
    "run_action",
    "redeploy_vm",
    "api",
    "ci_trigger",
    "watch_labs",
    "sweep",
    "lab_timer",
    "keep_image",
    "record_cohort",
    "step_callback",
)


def of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def event_rule(template: dict[str, Any], source: str) -> dict[str, Any]:
    """The one EventBridge rule whose pattern matches events from `source`."""
    (rule,) = [
        r
        for r in of_type(template, "AWS::Events::Rule").values()
        if source in r["Properties"].get("EventPattern", {}).get("source", [])
    ]
    return rule


def ads_functions(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """ADS Lambdas by design name -> (logical id, properties), found by their handler."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for logical_id, resource in of_type(template, "AWS::Lambda::Function").items():
        handler = resource["Properties"].get("Handler", "")
        if handler.startswith("functions.") and handler.endswith(".handler.handler"):
            found[handler.split(".")[1]] = (logical_id, resource["Properties"])
    return found


def role_of(function_properties: dict[str, Any]) -> str:
    return function_properties["Role"]["Fn::GetAtt"][0]


def statements_of_role(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to a role."""
    statements: list[dict[str, Any]] = []
    for resource in of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role_logical_id} in resource["Properties"].get("Roles", []):
            statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    role = template["Resources"][role_logical_id]["Properties"]
    for policy in role.get("Policies", []):
        statements.extend(policy["PolicyDocument"]["Statement"])
    return statements


def statements_of_function(template: dict[str, Any], name: str) -> list[dict[str, Any]]:
    _, properties = ads_functions(template)[name]
    return statements_of_role(template, role_of(properties))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_of(statement: dict[str, Any]) -> list[str]:
    return as_list(statement["Action"])


def resources_of(statement: dict[str, Any]) -> list[Any]:
    return as_list(statement.get("Resource", []))


def statements_with_action(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in statements if s["Effect"] == "Allow" and action in actions_of(s)]


def text(value: Any) -> str:
    """A resource value flattened to text, so intrinsic functions can be searched."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
