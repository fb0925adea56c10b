"""The ADS REST API (API Gateway REST, AWS_IAM auth, Lambda proxy integration).

Routes are thin: they read the caller's IAM identity from the request context, hand the
validated body to :mod:`ads.deployments` and return its answer. Every error a user can
cause becomes a 4xx with ``{error, message, problems?}``; only a fault of ADS itself is
a 500, and even then without a traceback.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query

from ads import api_input, deployments, power
from ads.api_models import (
    DeploymentAccepted,
    DeploymentRequest,
    DestroyAccepted,
    ErrorBody,
    LabHistory,
    LabPage,
    LabView,
    PlanRequest,
    field_problems,
)
from ads.config import AdsConfig, get_config
from ads.errors import AdsError, FieldProblem, InvalidInputError
from ads.lab.lab_id import MAX_LAB_ID_LENGTH
from ads.lab.plan import DeploymentPlan
from ads.lab_metrics import LabMetric
from ads.observability import count, logger, publish_metrics, tracer
from ads.power import PowerAccepted
from ads.providers.local_sources import REQUESTER_UID_KEY

API_TITLE = "ADS - Auto Deployment Service"
API_VERSION = "1.0"

app = APIGatewayRestResolver(enable_validation=True)

# Read once at cold start; the clients are built on first use so that importing this
# module needs no AWS (tests and the local control plane import it freely).
_config: AdsConfig = get_config()
_context: deployments.DeploymentContext | None = None


_context_lock = threading.Lock()


def deployment_context() -> deployments.DeploymentContext:
    global _context
    config = get_config()
    # reset_config() (tests, the local control plane) yields a new config: rebuild.
    context = _context
    if context is None or context.config is not config:
        # boto3's default session is not thread-safe: concurrent requests (the local
        # plane serves them in parallel) must not build clients from it at once.
        with _context_lock:
            if _context is None or _context.config is not config:
                _context = deployments.DeploymentContext.from_config(config)
            context = _context
    return context


def _caller() -> str:
    identity = app.current_event.request_context.identity
    return identity.user_arn or identity.caller or identity.user or ""


def _requester_uid() -> int | None:
    """The OS uid the local API's kernel saw send the request (local sources are read
    with its rights); API Gateway with IAM authorization asserts none."""
    authorizer = app.current_event.raw_event.get("requestContext", {}).get("authorizer") or {}
    value = str(authorizer.get(REQUESTER_UID_KEY) or "")
    return int(value) if value.isdigit() else None


def _requested_by() -> str:
    """``cli`` when the ads command sent the request; otherwise ``api``."""
    client = app.current_event.get_header_value("X-Ads-Client", default_value="") or ""
    agent = app.current_event.get_header_value("User-Agent", default_value="") or ""
    if client.strip().lower() == "cli" or agent.lower().startswith(("ads-cli", "ads/")):
        return "cli"
    return "api"


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _errors(*codes: int) -> dict[int, Any]:
    meaning = {
        400: "invalid input: the problems say which field, what was found, what is allowed",
        403: "the request carries no caller identity",
        404: "no such lab (or not yours)",
        409: "illegal state change (destroying a lab twice); for POST /labs also an "
        "Idempotency-Key still in progress or already used for a different request",
        502: "Step Functions refused the request; nothing was left half-created",
        413: f"the request body is over {api_input.MAX_BODY_BYTES} bytes",
        503: "Step Functions is unavailable or not configured; retry later",
    }
    return {
        code: {
            "description": meaning[code],
            "content": {"application/json": {"model": ErrorBody}},
        }
        for code in codes
    }


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="a repeat by the same caller with the same key returns the same lab",
    ),
]
# Longer ids are refused as input (400) rather than looked up and echoed back.
LabId = Annotated[str, Path(description="the lab id ADS generated", max_length=MAX_LAB_ID_LENGTH)]


@app.post(
    "/labs",
    summary="Request a deployment",
    responses={
        202: {
            "description": "the lab is recorded and DeployLab started",
            "content": {"application/json": {"model": DeploymentAccepted}},
        },
        **_errors(400, 403, 409, 413, 502, 503),
    },
)
def post_labs(
    request: Annotated[DeploymentRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[DeploymentAccepted]:
    body = deployments.request_deployment(
        deployment_context(),
        request,
        caller=_caller(),
        requested_by=_requested_by(),
        idempotency_key=idempotency_key,
        requester_uid=_requester_uid(),
    )
    return _json(202, body)


@app.post(
    "/plans",
    summary="Plan a deployment (dry run, nothing is created)",
    responses={
        200: {"description": "the deployment plan, as `ads plan` shows it"},
        **_errors(400, 413),
    },
)
def post_plans(request: Annotated[PlanRequest, Body()]) -> DeploymentPlan:
    plan = deployments.request_plan(request.labspec, request.options, get_config())
    return DeploymentPlan.model_validate(plan)


@app.get(
    "/labs",
    summary="List the caller's labs (an admin sees all), newest first",
    responses={
        200: {
            "description": "one page of labs",
            "content": {"application/json": {"model": LabPage}},
        },
        **_errors(400, 403),
    },
)
def get_labs(
    status: Annotated[
        str | None, Query(description="comma-separated statuses, e.g. READY,FAILED")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=deployments.MAX_PAGE)] = 20,
    next_token: Annotated[
        str | None, Query(description="the next_token of the previous page")
    ] = None,
) -> LabPage:
    page = deployments.list_labs(
        deployment_context(), caller=_caller(), status=status, limit=limit, next_token=next_token
    )
    return LabPage.model_validate(page)


@app.get(
    "/labs/<lab_id>",
    summary="Show a lab: plan, endpoint, status history, cause",
    responses={
        200: {"description": "the lab", "content": {"application/json": {"model": LabView}}},
        **_errors(400, 403, 404),
    },
)
def get_lab(lab_id: LabId) -> LabView:
    return LabView.model_validate(
        deployments.get_lab(deployment_context(), lab_id, caller=_caller())
    )


@app.get(
    "/labs/<lab_id>/history",
    summary="Status changes and the workflow executions, summarised",
    responses={
        200: {"description": "the history", "content": {"application/json": {"model": LabHistory}}},
        **_errors(400, 403, 404, 502, 503),
    },
)
def get_lab_history(lab_id: LabId) -> LabHistory:
    return LabHistory.model_validate(
        deployments.lab_history(deployment_context(), lab_id, caller=_caller())
    )


@app.delete(
    "/labs/<lab_id>",
    summary="Destroy a lab",
    responses={
        202: {
            "description": "the lab is DESTROYING and DestroyLab started",
            "content": {"application/json": {"model": DestroyAccepted}},
        },
        **_errors(400, 403, 404, 409, 502, 503),
    },
)
def delete_lab(lab_id: LabId) -> Response[DestroyAccepted]:
    body = deployments.request_destroy(deployment_context(), lab_id, caller=_caller())
    return _json(202, body)


def _power_route(operation: str, status: str, summary: str) -> Any:
    return app.post(
        f"/labs/<lab_id>/{operation}",
        summary=summary,
        responses={
            202: {
                "description": f"the lab is {status} and PowerLab started",
                "content": {"application/json": {"model": PowerAccepted}},
            },
            **_errors(400, 403, 404, 409, 502, 503),
        },
    )


@_power_route("stop", "STOPPING", "Stop a READY lab's VM (STOPPING, then STOPPED)")
def post_lab_stop(lab_id: LabId) -> Response[PowerAccepted]:
    return _json(202, power.request_power(deployment_context(), lab_id, "stop", caller=_caller()))


@_power_route("start", "STARTING", "Start a STOPPED lab's VM (STARTING, then READY)")
def post_lab_start(lab_id: LabId) -> Response[PowerAccepted]:
    return _json(202, power.request_power(deployment_context(), lab_id, "start", caller=_caller()))


@_power_route("restart", "RESTARTING", "Reboot a READY lab's VM and check it (RESTARTING)")
def post_lab_restart(lab_id: LabId) -> Response[PowerAccepted]:
    body = power.request_power(deployment_context(), lab_id, "restart", caller=_caller())
    return _json(202, body)


# -- errors -------------------------------------------------------------------------


@app.exception_handler(RequestValidationError)
def _invalid_request(exc: RequestValidationError) -> Response:
    problems = [
        FieldProblem(p.path, p.found, p.allowed) for p in field_problems(list(exc.errors()))
    ]
    error = InvalidInputError(problems, subject="request")
    logger.info("invalid request", problems=[p.to_dict() for p in problems])
    return _json(error.http_status, error.to_dict())


@app.exception_handler(AdsError)
def _ads_error(exc: AdsError) -> Response:
    if exc.http_status >= 500:
        logger.error("request failed", error=exc.code, cause=exc.message)
        count(LabMetric.API_FAULTS)
    return _json(exc.http_status, exc.to_dict())


@app.not_found
def _no_route(_: NotFoundError) -> Response:
    event = app.current_event
    return _json(
        404,
        {
            "error": "route_not_found",
            "message": f"no route {event.http_method} {event.path}; see the API's OpenAPI document",
        },
    )


@app.exception_handler(Exception)
def _unexpected(_exc: Exception) -> Response:
    logger.exception("unexpected error")
    count(LabMetric.API_FAULTS)
    request_id = app.current_event.request_context.request_id
    return _json(
        500,
        {
            "error": "internal_error",
            "message": f"ADS failed to handle the request (request id {request_id}); "
            "the operators can find it in the logs",
        },
    )


# -- entry point --------------------------------------------------------------------


def _json_content_type(value: Any) -> bool:
    first = value[0] if isinstance(value, list) and value else value
    media = str(first or "").split(";")[0].strip().lower()
    return not media or media == "application/json" or media.endswith("+json")


def with_json_body(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its body declared as JSON, whatever Content-Type the client sent.

    Every body this API takes is JSON. ``curl -d`` declares form data unless told
    otherwise, and the resolver would read such a body as form fields (or fail on a type
    it does not know) instead of answering with the JSON problems a person can act on.
    """
    if not event.get("body"):
        return event
    event = dict(event)
    for name, value in (
        ("headers", "application/json"),
        ("multiValueHeaders", ["application/json"]),
    ):
        headers = event.get(name) or {}
        declared = [k for k in headers if k.lower() == "content-type"]
        if declared and not all(_json_content_type(headers[k]) for k in declared):
            event[name] = {k: v for k, v in headers.items() if k not in declared}
            event[name]["Content-Type"] = value
    return event


def _refused(exc: AdsError) -> dict[str, Any]:
    """A proxy response for a request refused before the resolver saw it."""
    logger.info("request refused", error=exc.code, cause=exc.message)
    return {
        "statusCode": exc.http_status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "multiValueHeaders": {"Content-Type": [content_types.APPLICATION_JSON]},
        "body": json.dumps(exc.to_dict()),
        "isBase64Encoded": False,
    }


@tracer.capture_lambda_handler
@publish_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_id = (event.get("requestContext") or {}).get("requestId")
    if request_id:
        logger.set_correlation_id(request_id)
    try:
        # Bodies that would break the resolver (too deep, not UTF-8...) never reach it.
        event = api_input.checked_event(event)
    except AdsError as exc:
        return _refused(exc)
    return app.resolve(with_json_body(event), context)


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document, as generated from the routes and models above."""
    document = json.loads(
        app.get_openapi_json_schema(
            title=API_TITLE,
            version=API_VERSION,
            description="Request, inspect and destroy labs. Every request is signed with "
            "SigV4 (API Gateway AWS_IAM authorization); the caller's IAM identity owns "
            "the labs it requests.",
        )
    )
    # Request validation errors leave this API as 400 with field problems (see
    # _invalid_request), not as the resolver's default 422 shape.
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    for operations in document["paths"].values():
        for operation in operations.values():
            responses = operation["responses"]
            responses["500"] = {
                "description": "a fault of ADS itself (never a user's mistake); no details",
                "content": {"application/json": {"schema": error_body}},
            }
            if responses.pop("422", None) is not None:
                responses.setdefault(
                    "400",
                    {
                        "description": "invalid input",
                        "content": {"application/json": {"schema": error_body}},
                    },
                )
    text = json.dumps(document["paths"])
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        if f'/{unused}"' not in text:
            document["components"]["schemas"].pop(unused, None)
    document["components"].setdefault("securitySchemes", {})["sigv4"] = {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "x-amazon-apigateway-authtype": "awsSigv4",
    }
    document["security"] = [{"sigv4": []}]
    return document


if __name__ == "__main__":
    # Regenerate the committed document: python -m functions.api.handler > functions/api/openapi.json
    print(json.dumps(openapi_document(), indent=2, sort_keys=True))
