"""How the CI trigger answers an event it cannot act on: ``{"accepted": false, ...}``
with the problems pointing into the event (``detail.<field>``, ``detail.labspec.<path>``
for the labspec's own), where the pipeline author has to fix them. Such an answer is
never raised, so Lambda does not retry an event that can never succeed; a failure of
ADS's own (5xx) is raised, and the asynchronous invocation is retried.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ads.api_models import field_problems
from ads.errors import AdsError, InvalidInputError
from ads.observability import logger

Detail = TypeVar("Detail", bound=BaseModel)


class EventRejected(Exception):
    """The event's detail cannot be acted on; ``answer`` is what the trigger returns."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(answer["message"])
        self.answer = answer


def rejected(problems: list[dict[str, str]], event_id: Any, message: str) -> dict[str, Any]:
    logger.warning("CI event rejected", event_id=event_id, problems=problems, reason=message)
    return {"accepted": False, "message": message, "problems": problems}


def parse_detail(model: type[Detail], detail: Any, event_id: Any) -> Detail:
    """``detail`` as ``model``, or :class:`EventRejected` naming each bad field."""
    try:
        return model.model_validate(detail)
    except ValidationError as exc:
        problems = [p.model_dump() for p in field_problems(exc.errors(), root="detail")]
        raise EventRejected(rejected(problems, event_id, "invalid detail")) from exc


def under_detail(path: str, *, labspec: bool) -> str:
    return f"detail.labspec.{path}" if labspec else f"detail.{path}"


def refusal(exc: AdsError, event_id: Any) -> dict[str, Any]:
    """The answer for a request ADS refused; its own failures (5xx) are raised again."""
    if isinstance(exc, InvalidInputError):
        labspec = exc.code == "invalid_labspec"
        problems = [
            dict(p.to_dict(), path=under_detail(p.path, labspec=labspec)) for p in exc.problems
        ]
        return rejected(problems, event_id, exc.message)
    if exc.http_status >= 500:
        raise exc
    return rejected([], event_id, exc.message)
