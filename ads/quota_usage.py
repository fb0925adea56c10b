"""What each owner holds against the quotas, counted in the labs table.

One usage item per owner (key ``quota#<owner>``, no ``owner`` attribute, so the owner
indexes and the admin listing never see it) holds ``labs`` (how many), ``hourly_usd``
(their prices summed) and ``held`` (their lab ids). A lab is recorded and counted in one
TransactWriteItems: the record's Put (``attribute_not_exists(lab_id)``) and the usage
item's Update with a ConditionExpression that the limits still hold, so concurrent
requests can never overshoot a quota. DynamoDB cancels the whole transaction when the
condition fails (``TransactionCanceledException`` with a ``ConditionalCheckFailed``
reason for that item) or when another transaction touches the item at the same moment
(``TransactionConflict``: tried again a few times).

A lab is released once, when it becomes DESTROYED or FAILED: the Update is conditional on
``contains(held, :lab_id)``, so a retried step (or a second path to the same end) does
not count it down twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ads.errors import AdsError, IllegalTransitionError
from ads.labs_table import to_dynamo
from ads.observability import logger
from ads.quotas import QuotaLimits, Usage, exceeded

USAGE_PREFIX = "quota#"
CONFLICT_ATTEMPTS = 4
# DynamoDB's limit on the items of one TransactWriteItems.
MAX_TRANSACTION_ITEMS = 100


class QuotaBusyError(AdsError):
    """Concurrent requests of one owner kept colliding on the usage item (503: retry)."""

    code = "quota_busy"
    http_status = 503


def usage_key(owner: str) -> dict[str, str]:
    return {"lab_id": f"{USAGE_PREFIX}{owner}"}


def _reasons(exc: Any) -> list[str]:
    """The cancellation reason code of each transaction item, in order."""
    reasons = exc.response.get("CancellationReasons") or []
    return [str(r.get("Code") or "None") for r in reasons]


class QuotaUsage:
    """Data access for the usage items. ``table`` is a boto3 DynamoDB Table resource."""

    def __init__(
        self, table: Any, clock_iso: Callable[[], str], sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._table = table
        self._now = clock_iso
        self._sleep = sleep

    def usage(self, owner: str) -> Usage:
        item = self._table.get_item(Key=usage_key(owner), ConsistentRead=True).get("Item") or {}
        return Usage(
            labs=int(item.get("labs") or 0), hourly_usd=Decimal(item.get("hourly_usd") or 0)
        )

    def create_counted(
        self, item: dict[str, Any], owner: str, hourly: Decimal, limits: QuotaLimits
    ) -> None:
        """Put the lab record ``item`` and count it for ``owner`` in one transaction.

        Raises :class:`~ads.quotas.QuotaExceededError` when a limit would be passed,
        :class:`IllegalTransitionError` when the record exists already.
        """
        self.create_counted_many([item], owner, hourly, limits)

    def create_counted_many(
        self, items: list[dict[str, Any]], owner: str, hourly: Decimal, limits: QuotaLimits
    ) -> None:
        """Put the lab records ``items`` (``hourly`` each) and count them all for ``owner``
        in one transaction: all are recorded, or none. A transaction holds at most
        :data:`MAX_TRANSACTION_ITEMS` items, the usage item's Update among them (a cohort
        larger than that is written in several, see :mod:`ads.cohorts`)."""
        from botocore.exceptions import ClientError

        if not 1 <= len(items) < MAX_TRANSACTION_ITEMS:
            raise ValueError(f"1 to {MAX_TRANSACTION_ITEMS - 1} records per transaction")
        lab_ids = [str(item["lab_id"]) for item in items]
        count = len(items)
        conditions = []
        values: dict[str, Any] = {
            ":count": count,
            # Floats here: to_dynamo reads them back as the same Decimal digits.
            ":hourly": float(hourly * count),
            ":now": self._now(),
            ":owner": owner,
        }
        if limits.max_labs is not None:
            conditions.append("(attribute_not_exists(labs) OR labs <= :room_labs)")
            values[":room_labs"] = limits.max_labs - count
        if limits.max_hourly_usd is not None:
            conditions.append("(attribute_not_exists(hourly_usd) OR hourly_usd <= :room)")
            values[":room"] = float(limits.max_hourly_usd - hourly * count)
        update: dict[str, Any] = {
            "TableName": self._table.name,
            "Key": usage_key(owner),
            "UpdateExpression": "SET updated_at = :now, quota_owner = :owner "
            "ADD labs :count, hourly_usd :hourly, held :ids",
            "ExpressionAttributeValues": {**to_dynamo(values), ":ids": set(lab_ids)},
        }
        if conditions:
            update["ConditionExpression"] = " AND ".join(conditions)
        puts = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(lab_id)",
                }
            }
            for item in items
        ]
        # The resource's client serialises plain values (Decimal, set) as the Table does.
        client = self._table.meta.client
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                client.transact_write_items(TransactItems=[*puts, {"Update": update}])
                return
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = _reasons(exc)
                self._refusal(exc, reasons, lab_ids, owner, limits, hourly)
            logger.info("quota transaction cancelled", lab_ids=lab_ids[:5], reasons=reasons[-1:])
            self._sleep(0.05 * attempt)
        raise QuotaBusyError(
            f"concurrent requests of {owner} kept colliding while lab {lab_ids[0]} was counted "
            "against the quotas; nothing was created, retry in a moment",
            lab_id=lab_ids[0],
        )

    def _refusal(
        self,
        exc: Exception,
        reasons: list[str],
        lab_ids: list[str],
        owner: str,
        limits: QuotaLimits,
        hourly: Decimal,
    ) -> None:
        """Raise what a cancelled transaction means, or return when it is worth another
        try (a conflict with a concurrent transaction, or a lab released meanwhile).
        ``reasons`` are the Puts' (one per lab, in order) and the usage Update's, last."""
        for lab_id, reason in zip(lab_ids, reasons, strict=False):
            if reason == "ConditionalCheckFailed":
                raise IllegalTransitionError(lab_id, "existing", "REQUESTED", []) from exc
        if len(reasons) > len(lab_ids) and reasons[len(lab_ids)] == "ConditionalCheckFailed":
            error = exceeded(owner, limits, self.usage(owner), hourly, len(lab_ids))
            if error is not None:
                raise error from None
            return
        if "TransactionConflict" not in reasons:
            raise exc

    def release(self, owner: str, lab_id: str, hourly: Decimal) -> bool:
        """Count the lab down once; False when it was released already (or never held)."""
        from botocore.exceptions import ClientError

        try:
            self._table.update_item(
                Key=usage_key(owner),
                UpdateExpression="SET updated_at = :now ADD labs :minus, hourly_usd :neg "
                "DELETE held :ids",
                ConditionExpression="contains(held, :id)",
                ExpressionAttributeValues={
                    ":now": self._now(),
                    ":minus": -1,
                    ":neg": -hourly,
                    ":ids": {lab_id},
                    ":id": lab_id,
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        logger.info("quota released", lab_id=lab_id, owner=owner)
        return True
