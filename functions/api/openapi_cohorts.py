"""The cohort routes of the OpenAPI document (``/cohorts``), declared on the same resolver
as the lab routes in :mod:`functions.api.openapi`, which imports this module."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from ads.cohort_model import (
    CohortOperation,
    CohortPage,
    CohortPlan,
    CohortRenewal,
    CohortRequest,
    CohortView,
)
from ads.lab.lab_id import MAX_LAB_ID_LENGTH
from ads.lab_queries import MAX_PAGE
from functions.api.openapi import SERVED_BY_HANDLER, IdempotencyKey, _errors, declared

CohortId = Annotated[
    str, Path(description="the cohort id ADS generated", max_length=MAX_LAB_ID_LENGTH)
]


@declared.post(
    "/cohorts",
    summary="Request a lab for every member of a class (or, with dry_run, its plan)",
    responses={
        200: {
            "description": "dry_run: the cohort's plan, total hourly cost and quota fit",
            "content": {"application/json": {"model": CohortPlan}},
        },
        202: {
            "description": "the members' labs are recorded and DeployCohort started; a "
            "repeat with the same Idempotency-Key adds only the members without a lab",
            "content": {"application/json": {"model": CohortView}},
        },
        **_errors(400, 403, 409, 413, 429, 502, 503),
    },
)
def post_cohorts(
    request: Annotated[CohortRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> Response[CohortView]:
    """Declared for the document; :mod:`functions.api.handler` serves it."""
    raise NotImplementedError(SERVED_BY_HANDLER)


@declared.get(
    "/cohorts",
    summary="List the caller's cohorts (an admin sees all), newest first",
    responses={
        200: {
            "description": "one page of cohorts",
            "content": {"application/json": {"model": CohortPage}},
        },
        **_errors(400, 403),
    },
)
def get_cohorts(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    next_token: Annotated[
        str | None, Query(description="the next_token of the previous page")
    ] = None,
) -> CohortPage:
    """Declared for the document; :mod:`functions.api.handler` serves it."""
    raise NotImplementedError(SERVED_BY_HANDLER)


@declared.get(
    "/cohorts/<cohort_id>",
    summary="Show a cohort: each member and the status of their lab",
    responses={
        200: {"description": "the cohort", "content": {"application/json": {"model": CohortView}}},
        **_errors(400, 403, 404),
    },
)
def get_cohort(cohort_id: CohortId) -> CohortView:
    """Declared for the document; :mod:`functions.api.handler` serves it."""
    raise NotImplementedError(SERVED_BY_HANDLER)


@declared.post(
    "/cohorts/<cohort_id>/lease",
    summary="Renew the lease of every member's lab",
    responses={
        200: {
            "description": "each member's outcome (a lab that cannot be renewed says why)",
            "content": {"application/json": {"model": CohortOperation}},
        },
        **_errors(400, 403, 404),
    },
)
def post_cohort_lease(
    cohort_id: CohortId, request: Annotated[CohortRenewal, Body()]
) -> CohortOperation:
    """Declared for the document; :mod:`functions.api.handler` serves it."""
    raise NotImplementedError(SERVED_BY_HANDLER)


@declared.delete(
    "/cohorts/<cohort_id>",
    summary="Destroy every member's lab",
    responses={
        202: {
            "description": "each member's lab is DESTROYING (or says why not)",
            "content": {"application/json": {"model": CohortOperation}},
        },
        **_errors(400, 403, 404, 502, 503),
    },
)
def delete_cohort(cohort_id: CohortId) -> Response[CohortOperation]:
    """Declared for the document; :mod:`functions.api.handler` serves it."""
    raise NotImplementedError(SERVED_BY_HANDLER)
