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
        from botocore.exceptions import ClientError

        lab_id = str(item["lab_id"])
        conditions = []
        values: dict[str, Any] = {
            ":one": 1,
            # Floats here: to_dynamo reads them back as the same Decimal digits.
            ":hourly": float(hourly),
            ":now": self._now(),
            ":owner": owner,
        }
        if limits.max_labs is not None:
            conditions.append("(attribute_not_exists(labs) OR labs < :max_labs)")
            values[":max_labs"] = limits.max_labs
        if limits.max_hourly_usd is not None:
            conditions.append("(attribute_not_exists(hourly_usd) OR hourly_usd <= :room)")
            values[":room"] = float(limits.max_hourly_usd - hourly)
        update: dict[str, Any] = {
            "TableName": self._table.name,
            "Key": usage_key(owner),
            "UpdateExpression": "SET updated_at = :now, quota_owner = :owner "
            "ADD labs :one, hourly_usd :hourly, held :ids",
            "ExpressionAttributeValues": {**to_dynamo(values), ":ids": {lab_id}},
        }
        if conditions:
            update["ConditionExpression"] = " AND ".join(conditions)
        put = {
            "TableName": self._table.name,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(lab_id)",
        }
        # The resource's client serialises plain values (Decimal, set) as the Table does.
        client = self._table.meta.client
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                client.transact_write_items(TransactItems=[{"Put": put}, {"Update": update}])
                return
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = _reasons(exc)
                self._refusal(exc, reasons, lab_id, owner, limits, hourly)
            logger.info("quota transaction cancelled", lab_id=lab_id, reasons=reasons)
            self._sleep(0.05 * attempt)
        raise QuotaBusyError(
            f"concurrent requests of {owner} kept colliding while lab {lab_id} was counted "
            "against the quotas; nothing was created, retry in a moment",
            lab_id=lab_id,
        )

    def _refusal(
        self,
        exc: Exception,
        reasons: list[str],
        lab_id: str,
        owner: str,
        limits: QuotaLimits,
        hourly: Decimal,
    ) -> None:
        """Raise what a cancelled transaction means, or return when it is worth another
        try (a conflict with a concurrent transaction, or a lab released meanwhile)."""
        if reasons[:1] == ["ConditionalCheckFailed"]:
            raise IllegalTransitionError(lab_id, "existing", "REQUESTED", []) from exc
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            error = exceeded(owner, limits, self.usage(owner), hourly)
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
