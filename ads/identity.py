"""Who a caller is: IAM principal ARNs, and which labs a principal may call its own.

API Gateway hands the api Lambda the caller's ARN. A user is ``arn:aws:iam::<acct>:user/<n>``;
anyone working through a role (SSO, a pipeline, an instance) arrives as a *session* of it,
``arn:aws:sts::<acct>:assumed-role/<role>/<session>``, and the session name changes from
one pipeline run to the next. So a lab owned by a role (the CI role, or a pipeline role
named in a CI event's ``requested_by``) belongs to every session of that role, while a
lab requested by a session stays that session's own: two people sharing an SSO
permission set do not see each other's labs.

Labs are grouped for listing by :func:`owner_group`: a role and its sessions share one
group (the role's ARN without its path, which is how session ARNs name it).
"""

from __future__ import annotations

import re

_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.+$")
_ROLE = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/(?:.+/)?([^/]+)$")
_IAM_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:\S+$")


def is_iam_principal(value: str) -> bool:
    return bool(_IAM_PRINCIPAL.match(value or ""))


def _role_arn(partition: str, account: str, name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{name}"


def session_role(principal: str) -> str | None:
    """The role ARN of an assumed-role session, else None."""
    match = _ASSUMED_ROLE.match(principal or "")
    return _role_arn(*match.groups()) if match else None


def owner_group(principal: str) -> str:
    """The listing group of a principal: the role for a role or its sessions, else itself."""
    role = _ROLE.match(principal or "")
    if role:
        return _role_arn(*role.groups())
    return session_role(principal) or principal


def role_prefix(group: str) -> str | None:
    """The ARN prefix every ARN of the role ``group`` starts with (any path), else None."""
    role = _ROLE.match(group or "")
    if not role:
        return None
    partition, account, _ = role.groups()
    return f"arn:{partition}:iam::{account}:role/"


def principal_matches(caller: str, principal: str) -> bool:
    """Whether ``caller`` is ``principal``, or a session of the role ``principal``."""
    if caller == principal:
        return True
    session = _ASSUMED_ROLE.match(caller or "")
    role = _ROLE.match(principal or "")
    return bool(session and role and session.groups() == role.groups())
