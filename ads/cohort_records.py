"""Cohort records in the labs table: the only module that reads and writes cohort items.

A cohort's item has the key ``cohort#<cohort_id>`` and no ``owner`` attribute (its owner
is ``cohort_owner``), so the lab listings and indexes never see it. Every write after the
first is conditional on the ``version`` read, so two retries of one request cannot both
add the same members. Its labs are ordinary lab records, read here in batches.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from ads.cohort_model import COHORT_PREFIX, CohortRecord
from ads.errors import AdsError, FieldProblem, InvalidInputError
from ads.lab_record import LabRecord, iso, utc_now
from ads.labs_table import from_dynamo, to_dynamo

# BatchGetItem reads at most 100 keys (and 16 MB) per call.
BATCH_GET_KEYS = 100
# What a cohort's view and operations read of each member's lab: never the labspec or
# the plan, which would make 100 records far more than one call's 16 MB.
MEMBER_LAB_ATTRIBUTES = (
    "lab_id",
    "owner",
    "created_at",
    "updated_at",
    "status",
    "endpoint",
    "app_url",
    "failed_step",
    "cause",
    "cohort_id",
    "assignee",
)
UNPROCESSED_ATTEMPTS = 5


class CohortReadError(AdsError):
    """DynamoDB kept some lab records of a cohort unread (503: retry)."""

    code = "store_busy"
    http_status = 503


class CohortChangedError(AdsError):
    """Another request changed the cohort between this one's read and write (409)."""

    code = "request_in_progress"
    http_status = 409


def cohort_key(cohort_id: str) -> dict[str, str]:
    return {"lab_id": f"{COHORT_PREFIX}{cohort_id}"}


class CohortStore:
    """Data access for cohort items. ``table`` is a boto3 DynamoDB Table resource."""

    def __init__(
        self,
        table: Any,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._clock = clock
        self._sleep = sleep

    def now(self) -> str:
        return iso(self._clock())

    def get(self, cohort_id: str) -> CohortRecord | None:
        item = self._table.get_item(Key=cohort_key(cohort_id), ConsistentRead=True).get("Item")
        return CohortRecord.model_validate(from_dynamo(item)) if item else None

    def save(self, record: CohortRecord, *, expected_version: int | None) -> CohortRecord:
        """Write the cohort: a new one (``expected_version`` None) or the next version of
        the one read at ``expected_version``; :class:`CohortChangedError` otherwise."""
        from botocore.exceptions import ClientError

        saved = record.model_copy(
            update={
                "updated_at": self.now(),
                "version": 1 if expected_version is None else expected_version + 1,
            }
        )
        item = to_dynamo(
            {**cohort_key(record.cohort_id), **saved.model_dump(mode="json", exclude_none=True)}
        )
        if expected_version is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(lab_id)"}
        else:
            condition = {
                "ConditionExpression": "version = :seen",
                "ExpressionAttributeValues": {":seen": expected_version},
            }
        try:
            self._table.put_item(Item=item, **condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise CohortChangedError(
                f"cohort {record.cohort_id!r} was changed by another request at the same "
                "time; nothing was added by this one, retry in a moment",
                cohort_id=record.cohort_id,
            ) from exc
        return saved

    def list(
        self, owner: str | None, *, limit: int, next_token: str | None
    ) -> tuple[list[CohortRecord], str | None]:
        """The cohorts of ``owner`` (every cohort for None), newest first, one page at a
        time. A scan of the table filtered to cohort items: cohorts are few next to labs."""
        from boto3.dynamodb.conditions import Attr

        condition = Attr("lab_id").begins_with(COHORT_PREFIX)
        if owner is not None:
            condition = condition & Attr("cohort_owner").eq(owner)
        request: dict[str, Any] = {"FilterExpression": condition}
        found: list[CohortRecord] = []
        while True:
            response = self._table.scan(**request)
            found.extend(
                CohortRecord.model_validate(from_dynamo(i)) for i in response.get("Items", [])
            )
            if not response.get("LastEvaluatedKey"):
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        found.sort(key=lambda c: (c.created_at, c.cohort_id), reverse=True)
        start = _offset(next_token)
        page = found[start : start + limit]
        more = start + limit < len(found)
        return page, _token(start + limit) if more else None

    def labs(self, lab_ids: Iterable[str]) -> dict[str, LabRecord]:
        """The lab records of ``lab_ids`` that exist, by id (BatchGetItem, 100 keys a call,
        unprocessed keys asked again), each partial: only :data:`MEMBER_LAB_ATTRIBUTES`."""
        from ads.record_projection import projection

        wanted = list(dict.fromkeys(i for i in lab_ids if i))
        found: dict[str, LabRecord] = {}
        client = self._table.meta.client
        for start in range(0, len(wanted), BATCH_GET_KEYS):
            keys: list[dict[str, Any]] = [
                {"lab_id": i} for i in wanted[start : start + BATCH_GET_KEYS]
            ]
            for attempt in range(UNPROCESSED_ATTEMPTS + 1):
                response = client.batch_get_item(
                    RequestItems={
                        self._table.name: {
                            "Keys": keys,
                            "ConsistentRead": True,
                            **projection(MEMBER_LAB_ATTRIBUTES),
                        }
                    }
                )
                for item in response.get("Responses", {}).get(self._table.name, []):
                    record = LabRecord.model_validate(from_dynamo(item))
                    found[record.lab_id] = record
                keys = response.get("UnprocessedKeys", {}).get(self._table.name, {}).get("Keys", [])
                if not keys:
                    break
                self._sleep(0.05 * 2**attempt)
            if keys:
                raise CohortReadError(
                    f"DynamoDB left {len(keys)} lab records unread after retries; try again"
                )
        return found


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not text.startswith("o") or not text[1:].isdigit():
            raise ValueError(text)
        return int(text[1:])
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            FieldProblem(
                "next_token", repr(token[:40]), "a next_token from a previous page of cohorts"
            ),
            subject="query",
        ) from exc
