"""The routes of the OpenAPI document that act on one lab after its deploy: power
(stop, start, restart), its lease, its actions, its logs and its redeploy, declared on
the same resolver as the other lab routes in :mod:`functions.api.openapi`, which imports
this module."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from ads.api_models import LeaseRenewal, LeaseRenewed
from ads.lab_actions import ActionAccepted, LabActions
from ads.lab_logs import MAX_PAGE_BYTES, NAME_PATTERN, LabLogs
from ads.lab_updates import RedeployAccepted, RedeployRequest
from ads.power import PowerAccepted
from functions.api.openapi import SERVED_BY_HANDLER, LabId, _errors, declared


def _power_route(operation: str, status: str, summary: str) -> Any:
    return declared.post(
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
    """Declared for the document; :mod:`functions.api.handler` serves it."""
    raise NotImplementedError(SERVED_BY_HANDLER)


@_power_route("start", "STARTING", "Start a STOPPED lab's VM (STARTING, then READY)")
def post_lab_start(lab_id: LabId) -> Response[PowerAccepted]:
    """Declared for the document; :mod:`functions.api.handler` serves it."""
    raise NotImplementedError(SERVED_BY_HANDLER)


@_power_route("restart", "RESTARTING", "Reboot a READY lab's VM and check it (RESTARTING)")
def post_lab_restart(lab_id: LabId) -> Response[PowerAccepted]:
    """Declared for the document; :mod:`functions.api.handler` serves it."""
    raise NotImplementedError(SERVED_BY_HANDLER)


@declared.post(
    "/labs/<lab_id>/lease",
    summary="Renew a lab's lease: the duration counts from now, within the maximum",
    responses={
        200: {
            "description": "the new lease (its schedules moved)",
            "content": {"application/json": {"model": LeaseRenewed}},
        },
        **_errors(400, 403, 404, 409, 503),
    },
)
def post_lab_lease(lab_id: LabId, request: Annotated[LeaseRenewal, Body()]) -> LeaseRenewed:
    """Declared for the document; :mod:`functions.api.handler` serves it."""
    raise NotImplementedError(SERVED_BY_HANDLER)


ActionName = Annotated[
    str,
    Path(
        description="one of the lab's actions (its labspec's lab_actions)",
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
    ),
]


@declared.post(
    "/labs/<lab_id>/actions/<name>",
    summary="Run one of a READY lab's actions on its VM (ACTING, then READY)",
    responses={
        202: {
            "description": "the lab is ACTING and ActionLab started",
            "content": {"application/json": {"model": ActionAccepted}},
        },
        **_errors(400, 403, 404, 409, 502, 503),
    },
)
def post_lab_action(lab_id: LabId, name: ActionName) -> Response[ActionAccepted]:
    """Declared for the document; :mod:`functions.api.handler` serves it."""
    raise NotImplementedError(SERVED_BY_HANDLER)


@declared.get(
    "/labs/<lab_id>/actions",
    summary="A lab's defined actions, the one running and its recent runs",
    responses={
        200: {
            "description": "the defined actions and the recent runs, newest first",
            "content": {"application/json": {"model": LabActions}},
        },
        **_errors(400, 403, 404),
    },
)
def get_lab_actions(lab_id: LabId) -> LabActions:
    """Declared for the document; :mod:`functions.api.handler` serves it."""
    raise NotImplementedError(SERVED_BY_HANDLER)


@declared.get(
    "/labs/<lab_id>/logs",
    summary="The output of a lab's deploy steps (all, or one) or of an action's newest run",
    responses={
        200: {
            "description": "one page of the run's output, whole lines, and its exit codes",
            "content": {"application/json": {"model": LabLogs}},
        },
        **_errors(400, 403, 404, 409, 503),
    },
)
def get_lab_logs(
    lab_id: LabId,
    step: Annotated[
        str | None,
        Query(max_length=64, pattern=NAME_PATTERN, description="one deploy step (default: all)"),
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=64, pattern=NAME_PATTERN, description="an action's newest run"),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_BYTES, description="bytes of output at most")
    ] = MAX_PAGE_BYTES,
    next_token: Annotated[
        str | None, Query(max_length=64, description="the next_token of the previous page")
    ] = None,
) -> LabLogs:
    """Declared for the document; :mod:`functions.api.handler` serves it."""
    raise NotImplementedError(SERVED_BY_HANDLER)


@declared.post(
    "/labs/<lab_id>/redeploy",
    summary="Update a READY lab in place to another ref of its git source (UPDATING, then READY)",
    responses={
        202: {
            "description": "the lab is UPDATING and RedeployLab started",
            "content": {"application/json": {"model": RedeployAccepted}},
        },
        **_errors(400, 403, 404, 409, 413, 502, 503),
    },
)
def post_lab_redeploy(
    lab_id: LabId, request: Annotated[RedeployRequest, Body()]
) -> Response[RedeployAccepted]:
    """Declared for the document; :mod:`functions.api.handler` serves it."""
    raise NotImplementedError(SERVED_BY_HANDLER)
