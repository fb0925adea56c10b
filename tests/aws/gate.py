"""When the tests/aws tier may use a real AWS account, and why not otherwise.

Three things must hold, checked in this order so that nothing contacts AWS before the
last one: the run opted in (``make test-aws`` sets ADS_AWS_TESTS=1, so ``make test``
never deploys, whatever credentials the developer has), ADS_AWS_ACCOUNT names the account
to deploy to, and boto3 finds credentials (a profile, variables, SSO...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

OPT_IN = "ADS_AWS_TESTS"
ACCOUNT = "ADS_AWS_ACCOUNT"
HOW = "make test-aws AWS_PROFILE=<profile> ADS_AWS_ACCOUNT=<12-digit account id>"


def skip_reason(env: Mapping[str, str], session: Callable[[], Any]) -> str | None:
    """Why the tier is skipped, or None when it may run. ``session`` builds the boto3
    session and is only called once the first two conditions hold."""
    if env.get(OPT_IN) != "1":
        return f"the tests/aws tier deploys to a real AWS account and runs only through {HOW}"
    account = env.get(ACCOUNT, "").strip()
    if not account:
        return f"{ACCOUNT} is not set: name the account to deploy to ({HOW})"
    if not (account.isdigit() and len(account) == 12):
        return f"{ACCOUNT}: found {account!r}; allowed: a 12-digit AWS account id"
    if session().get_credentials() is None:
        return "no AWS credentials are configured (set AWS_PROFILE or sign in with aws sso login)"
    return None
