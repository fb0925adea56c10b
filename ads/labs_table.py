"""The labs table itself: its keys and indexes, its TTL, and how values are stored in it.

The CDK storage construct declares the same shape for AWS; the local control plane and
the tests create the table from :func:`table_schema`. Lab records (:mod:`ads.records`)
and idempotency keys (:mod:`ads.idempotency_keys`) share the table: key items carry the
``idempotency#`` prefix and no ``owner``, so the owner indexes never list them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

OWNER_INDEX = "owner-index"
# A role and its sessions share a group (see ads.identity); a session lists through it.
OWNER_GROUP_INDEX = "owner-group-index"
# Labs by status: the health watch reads the READY and DEGRADED ones without a scan.
STATUS_INDEX = "status-index"
# Labs by the member they are assigned to (a cohort's labs): a member lists theirs.
ASSIGNEE_INDEX = "assignee-index"
# ... and by the member's group: a role's session lists the labs assigned to the role.
ASSIGNEE_GROUP_INDEX = "assignee-group-index"
# Every index of the table: its name and partition key, all sorted by creation time and
# projecting whole items. The one list the local table and the CDK construct derive from.
INDEX_SORT_KEY = "created_at"
INDEXES: tuple[tuple[str, str], ...] = (
    (OWNER_INDEX, "owner"),
    (OWNER_GROUP_INDEX, "owner_group"),
    (STATUS_INDEX, "status"),
    (ASSIGNEE_INDEX, "assignee"),
    (ASSIGNEE_GROUP_INDEX, "assignee_group"),
)
TTL_ATTRIBUTE = "expires_at"
# How long an ended item stays (its TTL): a DESTROYED lab's record, a removed image's item,
# so that the cost report still shows what they cost.
ENDED_RETENTION = timedelta(days=90)
IDEMPOTENCY_PREFIX = "idempotency#"
# The task tokens of waiting workflow steps (ads.step_waits): no owner either.
WAIT_PREFIX = "wait#"


def to_dynamo(value: Any) -> Any:
    """``value`` as the boto3 resource layer stores it (numbers as Decimal)."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def from_dynamo(value: Any) -> Any:
    """An item read through the resource layer as plain JSON values (Decimal -> int/float)."""
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def table_schema(table_name: str) -> dict[str, Any]:
    """The labs table as CreateTable arguments: the same shape the CDK storage construct
    declares (the key and :data:`INDEXES`). The local control plane and the tests create
    it from here."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("lab_id", *(key for _, key in INDEXES), INDEX_SORT_KEY)
        ],
        "KeySchema": [{"AttributeName": "lab_id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": key, "KeyType": "HASH"},
                    {"AttributeName": INDEX_SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, key in INDEXES
        ],
    }


def create_table(dynamodb_client: Any, table_name: str) -> None:
    """Create the labs table (with its TTL) if it does not exist yet."""
    existing = dynamodb_client.list_tables().get("TableNames", [])
    if table_name in existing:
        return
    dynamodb_client.create_table(**table_schema(table_name))
    dynamodb_client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
