"""DynamoDB's TTL on the local plane: items whose ``expires_at`` has passed are deleted
while the plane runs, as DynamoDB deletes them on AWS (moto keeps them forever).

DynamoDB deletes an expired item within days, not at the second; ADS never relies on
the deletion (an idempotency key checks its own expiry), so a run every
``ADS_LOCAL_TTL_INTERVAL_S`` (an hour) emulates it well enough and keeps a plane that
serves a course for months from holding every destroyed lab's record past its 90 days.
Each deletion is a DeleteItem through the plane's client, so the records file forgets
the item too; it is conditional on the TTL still being past, so an item written again
in between (a key taken over) stays.
"""

from __future__ import annotations

from typing import Any

from ads.labs_table import TTL_ATTRIBUTE
from ads.local.record_store import KEY_ATTRIBUTE

_PAST = "#ttl < :now"


def expire_items(client: Any, table_name: str, now: float) -> int:
    """Delete the items of ``table_name`` whose TTL is before ``now`` (epoch seconds);
    returns how many went."""
    from botocore.exceptions import ClientError

    names = {"#ttl": TTL_ATTRIBUTE, "#key": KEY_ATTRIBUTE}
    values = {":now": {"N": str(int(now))}}
    expired: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(
        TableName=table_name,
        ProjectionExpression="#key",
        FilterExpression=_PAST,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    ):
        expired.extend(page.get("Items", []))
    deleted = 0
    for key in expired:
        try:
            client.delete_item(
                TableName=table_name,
                Key={KEY_ATTRIBUTE: key[KEY_ATTRIBUTE]},
                ConditionExpression=_PAST,
                ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues=values,
            )
            deleted += 1
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
    return deleted
