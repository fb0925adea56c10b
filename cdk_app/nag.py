"""Acknowledging cdk-nag findings, always with the reason next to the construct."""

from __future__ import annotations

import re

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct | None, finding: str, reason: str) -> None:
    """Acknowledge one finding (``RuleId`` or ``RuleId[FindingId]``) on ``scope``.

    ``scope`` may be None because CDK types a function's ``role`` as optional; a
    finding acknowledged on nothing is a mistake, so it fails synth.
    """
    if not reason.strip():
        raise ValueError(f"acknowledging {finding} needs a reason")
    if scope is None:
        raise ValueError(f"acknowledging {finding} needs a construct; found None")
    Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))


def nag_text(scope: IConstruct, value: str) -> str:
    """Render a string holding tokens the way cdk-nag prints it in a finding id.

    Findings name each wildcard resource, e.g. ``Resource::<LabsTable1234.Arn>/index/*``;
    acknowledging one finding (cdk-nag 3 has no prefix matching) needs the same text.
    """
    return _render(Stack.of(scope).resolve(value))


def _render(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return f"<{logical_id}.{attribute}>"
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(_render(part) for part in parts)
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            return re.sub(r"\$\{([^}]+)\}", r"<\1>", value["Fn::Sub"])
    raise ValueError(f"cdk-nag finding text: cannot render {value!r}")


def managed_policy_finding(scope: IConstruct, policy_name: str) -> str:
    """The IAM4 finding id for an AWS-managed policy attached to a role."""
    from aws_cdk import aws_iam as iam

    arn = iam.ManagedPolicy.from_aws_managed_policy_name(policy_name).managed_policy_arn
    return f"AwsSolutions-IAM4[Policy::{nag_text(scope, arn)}]"
