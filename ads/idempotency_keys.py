"""Idempotency keys of deployment requests, kept in the labs table.

A key (scoped to its owner) is bound to the first lab created with it, for
:data:`IDEMPOTENCY_RETENTION`; a repeat of the request gets that lab instead of a new
one. The items live under the ``idempotency#`` key prefix with a TTL and no ``owner``,
so the owner indexes never list them (see :mod:`ads.labs_table`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ads.lab_record import utc_now
from ads.labs_table import IDEMPOTENCY_PREFIX, TTL_ATTRIBUTE

IDEMPOTENCY_RETENTION = timedelta(hours=24)


class IdempotencyKeys:
    """Key claims in the labs table. ``table`` is a boto3 DynamoDB Table resource."""

    def __init__(self, table: Any, clock: Callable[[], datetime] = utc_now) -> None:
        self._table = table
        self._clock = clock

    @staticmethod
    def _item_key(owner: str, key: str) -> str:
        digest = hashlib.sha256(f"{owner}\n{key}".encode()).hexdigest()
        return f"{IDEMPOTENCY_PREFIX}{digest}"

    def claim(self, owner: str, key: str, lab_id: str) -> str | None:
        """Bind ``key`` (scoped to ``owner``) to ``lab_id``.

        Returns None when this call made the binding, or the lab id an earlier request
        with the same key already created.
        """
        from botocore.exceptions import ClientError

        item_key = self._item_key(owner, key)
        now = self._clock()
        try:
            self._table.put_item(
                Item={
                    "lab_id": item_key,
                    "target_lab_id": lab_id,
                    TTL_ATTRIBUTE: int((now + IDEMPOTENCY_RETENTION).timestamp()),
                },
                # TTL deletion lags: an expired key may be taken over.
                ConditionExpression="attribute_not_exists(lab_id) OR #ttl < :now",
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": int(now.timestamp())},
            )
            return None
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        item = self._table.get_item(Key={"lab_id": item_key}, ConsistentRead=True).get("Item") or {}
        return str(item.get("target_lab_id")) if item.get("target_lab_id") else None

    def release(self, owner: str, key: str) -> None:
        """Forget a key whose request failed before anything was created."""
        self._table.delete_item(Key={"lab_id": self._item_key(owner, key)})
