"""The cohort routes of the REST API (``/cohorts``), registered on the api handler's
resolver (:mod:`functions.api.handler` imports this module). Thin, like every route:
validate the input, call :mod:`ads.cohorts` or :mod:`ads.cohort_queries`, answer."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from functions.api.handler import _caller, _json, _requested_by, _requester_uid, app
from functions.api.handler import deployment_context as _context


@app.post("/cohorts")
def post_cohorts() -> Response:
    from ads import cohorts
    from ads.cohort_model import CohortRequest
    from functions.api import request_input

    request = request_input.body(app.current_event, CohortRequest)
    status, body = cohorts.request_cohort(
        _context(),
        request,
        caller=_caller(),
        requested_by=_requested_by(),
        idempotency_key=request_input.idempotency_key(app.current_event),
        requester_uid=_requester_uid(),
    )
    return _json(status, body)


@app.get("/cohorts")
def get_cohorts() -> Response:
    from ads import cohort_queries
    from functions.api import request_input

    query = request_input.cohort_list_query(app.current_event)
    page = cohort_queries.list_cohorts(
        _context(), caller=_caller(), limit=query.limit, next_token=query.next_token
    )
    return _json(200, page)


@app.get("/cohorts/<cohort_id>")
def get_cohort(cohort_id: str) -> Response:
    from ads import cohort_queries
    from functions.api import request_input

    cohort_id = request_input.cohort_id(cohort_id)
    return _json(200, cohort_queries.get_cohort(_context(), cohort_id, caller=_caller()))


@app.post("/cohorts/<cohort_id>/lease")
def post_cohort_lease(cohort_id: str) -> Response:
    from ads import cohort_queries
    from ads.cohort_model import CohortRenewal
    from functions.api import request_input

    cohort_id = request_input.cohort_id(cohort_id)
    request = request_input.body(app.current_event, CohortRenewal)
    body = cohort_queries.renew_cohort(_context(), cohort_id, request.duration, caller=_caller())
    return _json(200, body)


@app.delete("/cohorts/<cohort_id>")
def delete_cohort(cohort_id: str) -> Response:
    from ads import cohort_queries
    from functions.api import request_input

    cohort_id = request_input.cohort_id(cohort_id)
    return _json(202, cohort_queries.destroy_cohort(_context(), cohort_id, caller=_caller()))
