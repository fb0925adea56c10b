"""Validation of what a request brings: its body, headers, query and path parameters.

The api handler's resolver runs without Powertools' request validation (which would load
pydantic's OpenAPI machinery and every model at cold start); each route asks here for
exactly the inputs it takes, validated with the models :mod:`functions.api.openapi`
documents. A problem becomes an :class:`InvalidInputError` (400) naming the field, what
was found and what is allowed, as Powertools' validation reported it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ads.api_models import field_problems
from ads.errors import FieldProblem, InvalidInputError
from ads.lab.lab_id import MAX_LAB_ID_LENGTH
from ads.lab_queries import MAX_PAGE
from ads.observability import logger

Model = TypeVar("Model", bound=BaseModel)

IDEMPOTENCY_HEADER = "Idempotency-Key"


class LabPath(BaseModel):
    # Longer ids are refused as input (400) rather than looked up and echoed back.
    lab_id: str = Field(max_length=MAX_LAB_ID_LENGTH)


class LabListQuery(BaseModel):
    status: str | None = None
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)
    next_token: str | None = None


class CostQuery(BaseModel):
    owner: str | None = Field(default=None, min_length=1, max_length=2048)
    since: str | None = Field(default=None, min_length=1, max_length=64)
    limit: int = Field(default=100, ge=1, le=100)
    next_token: str | None = None


class IdempotencyHeader(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    key: str | None = Field(default=None, alias=IDEMPOTENCY_HEADER, min_length=1, max_length=128)


def _refused(errors: Sequence[Mapping[str, Any]]) -> InvalidInputError:
    problems = [FieldProblem(p.path, p.found, p.allowed) for p in field_problems(errors)]
    logger.info("invalid request", problems=[p.to_dict() for p in problems])
    return InvalidInputError(problems, subject="request")


def _validated(model: type[Model], data: Any) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _refused(exc.errors()) from None


def body(event: Any, model: type[Model]) -> Model:
    """The JSON body as ``model`` (a missing body is a missing field ``body``)."""
    raw = event.decoded_body
    if not raw:
        raise _refused([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _refused(
            [{"type": "json_invalid", "loc": ("body", exc.pos), "ctx": {"error": exc.msg}}]
        ) from None
    return _validated(model, data)


def idempotency_key(event: Any) -> str | None:
    value = event.get_header_value(IDEMPOTENCY_HEADER, case_sensitive=False)
    return _validated(IdempotencyHeader, {} if value is None else {IDEMPOTENCY_HEADER: value}).key


def lab_id(value: str) -> str:
    return _validated(LabPath, {"lab_id": value}).lab_id


@lru_cache(maxsize=1)
def _query_names() -> tuple[str, ...]:
    return tuple(LabListQuery.model_fields)


def lab_list_query(event: Any) -> LabListQuery:
    """The query of GET /labs; a parameter given twice is refused, not picked from."""
    return _validated(LabListQuery, _query(event, _query_names()))


def cost_query(event: Any) -> CostQuery:
    """The query of GET /costs; a parameter given twice is refused, not picked from."""
    return _validated(CostQuery, _query(event, tuple(CostQuery.model_fields)))


def logs_query(event: Any) -> Any:
    """The query of GET /labs/{lab_id}/logs (an ads.lab_logs.LogsQuery)."""
    from ads.lab_logs import LogsQuery

    return _validated(LogsQuery, _query(event, tuple(LogsQuery.model_fields)))


def _query(event: Any, names: tuple[str, ...]) -> dict[str, Any]:
    multi = event.multi_value_query_string_parameters or {}
    single = event.query_string_parameters or {}
    data: dict[str, Any] = {}
    for name in names:
        values = multi.get(name)
        if values is not None:
            data[name] = values[0] if len(values) == 1 else values
        elif name in single:
            data[name] = single[name]
    return data


class CohortPath(BaseModel):
    cohort_id: str = Field(max_length=MAX_LAB_ID_LENGTH)


class CohortListQuery(BaseModel):
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)
    next_token: str | None = None


def cohort_id(value: str) -> str:
    return _validated(CohortPath, {"cohort_id": value}).cohort_id


def cohort_list_query(event: Any) -> CohortListQuery:
    """The query of GET /cohorts; a parameter given twice is refused, not picked from."""
    return _validated(CohortListQuery, _query(event, tuple(CohortListQuery.model_fields)))
