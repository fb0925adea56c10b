"""Ingress rules of the security groups ADS makes (a lab's access group, a cluster's
group), added so that a retried step adds nothing twice."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ads.providers.ssm_commands import Call
from ads.providers.throttling import error_code


def authorize_once(call: Call, ec2: Any, group_id: str, permission: dict[str, Any]) -> None:
    """Add ``permission`` to the group; a rule it already has is success. One call per
    rule: AWS refuses a whole request when one of its rules already exists."""
    try:
        call(ec2, "authorize_security_group_ingress", GroupId=group_id, IpPermissions=[permission])
    except ClientError as exc:
        if error_code(exc) != "InvalidPermission.Duplicate":
            raise
