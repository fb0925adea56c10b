"""The sweep on demand: ``GET /sweep`` reports what it would do, ``POST /sweep`` applies.

An admin operation (``ADS_ADMIN_PRINCIPALS``, the rule of
:func:`ads.deployment_context.is_admin`): anyone else is answered 403 and nothing runs.
On AWS the api Lambda invokes the ``sweep`` Lambda (``ADS_SWEEP_FUNCTION_NAME``), which
holds the sweep's grants; without one (the local plane) the sweep runs in the api itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ads.config import AdsConfig
from ads.deployment_context import DeploymentContext, is_admin, require_caller
from ads.errors import AdsError
from ads.sweep_model import SweepReport

SweepRunner = Callable[[bool], dict[str, Any]]


class AdminOnlyError(AdsError):
    code = "admin_only"
    http_status = 403

    def __init__(self, caller: str, what: str) -> None:
        super().__init__(
            f"{what} is an admin operation; {caller} is not one of ADS_ADMIN_PRINCIPALS",
            caller=caller,
        )


class SweepUnavailableError(AdsError):
    code = "sweep_unavailable"
    http_status = 502


def request_sweep(
    ctx: DeploymentContext, *, caller: str, apply: bool, run: SweepRunner | None = None
) -> dict[str, Any]:
    """The sweep's report (applied or not) for an admin ``caller``."""
    require_caller(caller)
    if not is_admin(caller, ctx.config):
        raise AdminOnlyError(caller, "POST /sweep" if apply else "GET /sweep")
    report = (run or sweep_runner(ctx.config))(apply)
    return SweepReport.model_validate(report).model_dump(mode="json")


def sweep_runner(config: AdsConfig) -> SweepRunner:
    if not config.sweep_function_name:
        from ads.sweep_wiring import sweep_for

        return lambda apply: sweep_for(config).run(apply=apply).model_dump(mode="json")
    return lambda apply: invoke_sweep_function(config, apply)


def invoke_sweep_function(config: AdsConfig, apply: bool, client: Any = None) -> dict[str, Any]:
    """Invoke the sweep Lambda and wait for its report."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = client or boto3.client("lambda", region_name=config.region)
    try:
        response = client.invoke(
            FunctionName=config.sweep_function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps({"apply": apply}).encode(),
        )
    except (ClientError, BotoCoreError) as exc:
        raise SweepUnavailableError(f"the sweep function could not be invoked: {exc}") from exc
    payload = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        message = payload.get("errorMessage") if isinstance(payload, dict) else payload
        raise SweepUnavailableError(f"the sweep function failed: {message}")
    return dict(payload)
