"""The ADS REST API (API Gateway REST, AWS_IAM auth, Lambda proxy integration).

Routes are thin: they read the caller's IAM identity from the request context, validate
the inputs they take (:mod:`functions.api.request_input`, with the models the OpenAPI
document of :mod:`functions.api.openapi` names), hand them to :mod:`ads.deployments` or
:mod:`ads.power` and return the answer, validated as well. Every error a user can cause
becomes a 4xx with ``{error, message, problems?}``; only a fault of ADS itself is a 500,
and even then without a traceback.

A cold start imports only the resolver, the tracer and the configuration: what a route
needs (the lab domain, the models, boto3 and the tracer's botocore patch) loads with the
first request that needs it, and a warm request finds it loaded.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from ads import api_input
from ads.config import AdsConfig, get_config
from ads.errors import AdsError
from ads.lab_metrics import LabMetric
from ads.observability import count, logger, publish_metrics, trace_aws_calls, tracer
from ads.providers.local_sources import REQUESTER_UID_KEY

if TYPE_CHECKING:
    from ads.deployment_context import DeploymentContext

app = APIGatewayRestResolver()

# Read once at cold start; the clients are built on first use so that importing this
# module needs no AWS (tests and the local control plane import it freely).
_config: AdsConfig = get_config()
_context: DeploymentContext | None = None


_context_lock = threading.Lock()


def deployment_context() -> DeploymentContext:
    global _context
    config = get_config()
    # reset_config() (tests, the local control plane) yields a new config: rebuild.
    context = _context
    if context is None or context.config is not config:
        # boto3's default session is not thread-safe: concurrent requests (the local
        # plane serves them in parallel) must not build clients from it at once.
        with _context_lock:
            if _context is None or _context.config is not config:
                from ads.deployment_context import DeploymentContext

                # Before the first client: every AWS call of the API is a subsegment.
                trace_aws_calls()
                _context = DeploymentContext.from_config(config)
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


# -- routes (declared with their inputs and answers in functions.api.openapi) ----------


@app.post("/labs")
def post_labs() -> Response:
    from ads import deployments
    from ads.api_models import DeploymentRequest
    from functions.api import request_input

    request = request_input.body(app.current_event, DeploymentRequest)
    key = request_input.idempotency_key(app.current_event)
    body = deployments.request_deployment(
        deployment_context(),
        request,
        caller=_caller(),
        requested_by=_requested_by(),
        idempotency_key=key,
        requester_uid=_requester_uid(),
    )
    return _json(202, body)


@app.post("/plans")
def post_plans() -> Response:
    from ads import deployments
    from ads.api_models import PlanRequest
    from ads.lab.plan import DeploymentPlan
    from functions.api import request_input

    request = request_input.body(app.current_event, PlanRequest)
    plan = deployments.request_plan(request.labspec, request.options, get_config())
    answer = DeploymentPlan.model_validate(plan).model_dump(mode="json", by_alias=True)
    from ads.plan_quota import plan_quota

    # Whether the caller's quotas leave room for it now (None when none applies to them).
    fit = plan_quota(deployment_context(), plan, _caller())
    if fit is not None:
        answer["quota"] = fit
    return _json(200, answer)


@app.get("/labs")
def get_labs() -> Response:
    from ads import deployments
    from ads.api_models import LabPage
    from functions.api import request_input

    query = request_input.lab_list_query(app.current_event)
    page = deployments.list_labs(
        deployment_context(),
        caller=_caller(),
        status=query.status,
        limit=query.limit,
        next_token=query.next_token,
    )
    return _json(200, LabPage.model_validate(page).model_dump(mode="json", by_alias=True))


@app.get("/labs/<lab_id>")
def get_lab(lab_id: str) -> Response:
    from ads import deployments
    from ads.api_models import LabView
    from functions.api import request_input

    lab_id = request_input.lab_id(lab_id)
    lab = deployments.get_lab(deployment_context(), lab_id, caller=_caller())
    return _json(200, LabView.model_validate(lab).model_dump(mode="json", by_alias=True))


@app.get("/labs/<lab_id>/history")
def get_lab_history(lab_id: str) -> Response:
    from ads import deployments
    from ads.api_models import LabHistory
    from functions.api import request_input

    lab_id = request_input.lab_id(lab_id)
    history = deployments.lab_history(deployment_context(), lab_id, caller=_caller())
    return _json(200, LabHistory.model_validate(history).model_dump(mode="json", by_alias=True))


@app.delete("/labs/<lab_id>")
def delete_lab(lab_id: str) -> Response:
    from ads import deployments
    from functions.api import request_input

    lab_id = request_input.lab_id(lab_id)
    body = deployments.request_destroy(deployment_context(), lab_id, caller=_caller())
    return _json(202, body)


def _power(lab_id: str, operation: str) -> Response:
    from ads import power
    from functions.api import request_input

    lab_id = request_input.lab_id(lab_id)
    body = power.request_power(deployment_context(), lab_id, operation, caller=_caller())
    return _json(202, body)


@app.post("/labs/<lab_id>/stop")
def post_lab_stop(lab_id: str) -> Response:
    return _power(lab_id, "stop")


@app.post("/labs/<lab_id>/start")
def post_lab_start(lab_id: str) -> Response:
    return _power(lab_id, "start")


@app.post("/labs/<lab_id>/restart")
def post_lab_restart(lab_id: str) -> Response:
    return _power(lab_id, "restart")


@app.post("/labs/<lab_id>/lease")
def post_lab_lease(lab_id: str) -> Response:
    from ads import leases
    from ads.api_models import LeaseRenewal, LeaseRenewed
    from functions.api import request_input

    lab_id = request_input.lab_id(lab_id)
    request = request_input.body(app.current_event, LeaseRenewal)
    body = leases.renew_lease(deployment_context(), lab_id, request.duration, caller=_caller())
    return _json(200, LeaseRenewed.model_validate(body).model_dump(mode="json"))


@app.post("/labs/<lab_id>/actions/<name>")
def post_lab_action(lab_id: str, name: str) -> Response:
    from ads import lab_actions
    from functions.api import request_input

    lab_id = request_input.lab_id(lab_id)
    body = lab_actions.request_action(deployment_context(), lab_id, name, caller=_caller())
    return _json(202, body)


@app.post("/labs/<lab_id>/redeploy")
def post_lab_redeploy(lab_id: str) -> Response:
    from ads import lab_updates
    from functions.api import request_input

    lab_id = request_input.lab_id(lab_id)
    request = request_input.body(app.current_event, lab_updates.RedeployRequest)
    body = lab_updates.request_update(deployment_context(), lab_id, request, caller=_caller())
    return _json(202, body)


@app.get("/labs/<lab_id>/actions")
def get_lab_actions(lab_id: str) -> Response:
    from ads import lab_actions
    from functions.api import request_input

    lab_id = request_input.lab_id(lab_id)
    return _json(200, lab_actions.list_actions(deployment_context(), lab_id, caller=_caller()))


@app.get("/labs/<lab_id>/logs")
def get_lab_logs(lab_id: str) -> Response:
    from ads import lab_logs
    from functions.api import request_input

    lab_id = request_input.lab_id(lab_id)
    query = request_input.logs_query(app.current_event)
    body = lab_logs.read_lab_logs(deployment_context(), lab_id, query, caller=_caller())
    return _json(200, body)


@app.get("/costs")
def get_costs() -> Response:
    from ads import cost_report
    from functions.api import request_input

    query = request_input.cost_query(app.current_event)
    report = cost_report.cost_report(
        deployment_context(),
        caller=_caller(),
        owner=query.owner,
        since=query.since,
        limit=query.limit,
        next_token=query.next_token,
    )
    return _json(200, cost_report.CostReport.model_validate(report).model_dump(mode="json"))


@app.get("/images")
def get_images() -> Response:
    from ads import image_requests

    return _json(200, image_requests.list_images(deployment_context(), caller=_caller()))


@app.delete("/images/<image_id>")
def delete_image(image_id: str) -> Response:
    from ads import image_requests

    body = image_requests.remove_image(deployment_context(), image_id, caller=_caller())
    return _json(200, body)


@app.get("/sweep")
def get_sweep() -> Response:
    from ads import sweep_requests

    return _json(
        200, sweep_requests.request_sweep(deployment_context(), caller=_caller(), apply=False)
    )


@app.post("/sweep")
def post_sweep() -> Response:
    from ads import sweep_requests

    return _json(
        200, sweep_requests.request_sweep(deployment_context(), caller=_caller(), apply=True)
    )


# -- errors -------------------------------------------------------------------------


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
    # Per thread, and gone when the request ends: the local control plane answers several
    # requests at once in one process, and no line may carry another request's id
    # (set_correlation_id would write the Logger's shared keys).
    logger.thread_safe_clear_keys()
    if request_id:
        logger.thread_safe_append_keys(correlation_id=request_id)
    try:
        try:
            # Bodies that would break the resolver (too deep, not UTF-8...) never reach it.
            event = api_input.checked_event(event)
        except AdsError as exc:
            return _refused(exc)
        return app.resolve(event, context)
    finally:
        logger.thread_safe_clear_keys()


# The cohort routes (/cohorts) register on the same resolver; they import this module.
from functions.api import cohort_routes as _cohort_routes  # noqa: E402, F401
