"""Lab records in DynamoDB: the only module that reads and writes lab items.

One item per lab, key ``lab_id`` (the record model is :mod:`ads.lab_record`, the
table's shape :mod:`ads.labs_table`). Status changes are conditional writes so that a
status never goes backwards, two destroys cannot race, and a retried workflow step
is harmless (moving to the status a lab already has only stores the new fields).
Idempotency keys of deployment requests share the table (:mod:`ads.idempotency_keys`).
The listings (pages of a caller's labs, every lab, the labs in a status) are
:mod:`ads.lab_listings`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from ads import identity
from ads.cluster_records import VmEntries
from ads.cohort_records import CohortStore
from ads.errors import IllegalTransitionError, LabNotFoundError
from ads.idempotency_keys import IdempotencyKeys
from ads.lab_images import LabImages
from ads.lab_listings import LabListings
from ads.lab_record import ALLOWED_FROM, LabRecord, LabStatus, StatusChange, iso, utc_now
from ads.labs_table import ENDED_RETENTION, IDEMPOTENCY_PREFIX, from_dynamo, to_dynamo
from ads.quota_usage import QuotaUsage
from ads.quotas import QuotaLimits

# A lab holds its quota share until it reaches one of these (ads.quota_usage).
QUOTA_RELEASED_AT = (LabStatus.DESTROYED, LabStatus.FAILED)
# How long a destroyed lab's record is kept before DynamoDB's TTL removes it.
DESTROYED_RETENTION = ENDED_RETENTION


def _record_of(response: dict[str, Any]) -> LabRecord | None:
    """The record an UpdateItem with ReturnValues ALL_NEW answered (None for NONE)."""
    attributes = response.get("Attributes")
    return LabRecord.model_validate(from_dynamo(attributes)) if attributes else None


class LabRepository(LabListings):
    """Data access for lab records. ``table`` is a boto3 DynamoDB Table resource."""

    def __init__(
        self,
        table: Any,
        clock: Callable[[], datetime] = utc_now,
        attributes: tuple[str, ...] | None = None,
    ) -> None:
        self._table = table
        self._clock = clock
        # Reads (get, require, listings) answer only these attributes (ads.record_projection).
        self._attributes = attributes

    def projected(self, attributes: Iterable[str]) -> LabRepository:
        """This repository, its reads answering only ``attributes``: partial records for
        a reader that needs no more (see :mod:`ads.record_projection`). Writes are the same."""
        return LabRepository(self._table, self._clock, tuple(attributes))

    @classmethod
    def from_name(cls, table_name: str, region: str, session: Any = None) -> LabRepository:
        import boto3

        from ads.providers.throttling import client_config

        resource = (session or boto3).resource(
            "dynamodb", region_name=region, config=client_config()
        )
        return cls(resource.Table(table_name))

    @property
    def idempotency_keys(self) -> IdempotencyKeys:
        """The idempotency keys of deployment requests, which share this table."""
        return IdempotencyKeys(self._table, self._clock)

    @property
    def images(self) -> LabImages:
        """The lab images (``image#`` items, :mod:`ads.lab_images`), which share this table."""
        return LabImages(self._table, self._clock)

    @property
    def cohorts(self) -> CohortStore:
        """The cohorts' items (ads.cohorts), which share this table."""
        return CohortStore(self._table, self._clock)

    @property
    def vm_entries(self) -> VmEntries:
        """The per-VM entries of cluster labs' records (ads.cluster_records)."""
        return VmEntries(self._table, self._clock)

    # -- creation and reads -------------------------------------------------

    def new_record(self, lab_id: str, owner: str, **fields: Any) -> LabRecord:
        now = iso(self._clock())
        if fields.get("assignee"):
            fields.setdefault("assignee_group", identity.owner_group(fields["assignee"]))
        return LabRecord(
            lab_id=lab_id,
            owner=owner,
            owner_group=identity.owner_group(owner),
            created_at=now,
            updated_at=now,
            status=LabStatus.REQUESTED,
            status_history=[StatusChange(status=LabStatus.REQUESTED, at=now, note="requested")],
            **fields,
        )

    @property
    def quota_usage(self) -> QuotaUsage:
        """What each owner holds against the quotas, counted in this table."""
        return QuotaUsage(self._table, lambda: iso(self._clock()))

    def create(self, record: LabRecord, limits: QuotaLimits | None = None) -> LabRecord:
        """Write a new record; with ``limits`` (and a ``quota_hold`` on the record) it is
        counted against its owner's quotas in the same transaction."""
        from botocore.exceptions import ClientError

        item = to_dynamo(record.model_dump(mode="json", exclude_none=True))
        if limits is not None and record.quota_hold:
            hold = record.quota_hold
            self.quota_usage.create_counted(
                item, str(hold["owner"]), Decimal(str(hold["hourly_usd"])), limits
            )
            return record
        try:
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(lab_id)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise IllegalTransitionError(record.lab_id, "existing", "REQUESTED", []) from exc
            raise
        return record

    def get(self, lab_id: str) -> LabRecord | None:
        if lab_id.startswith(IDEMPOTENCY_PREFIX):
            return None
        item = self._table.get_item(
            Key={"lab_id": lab_id}, ConsistentRead=True, **self._projection()
        ).get("Item")
        return LabRecord.model_validate(from_dynamo(item)) if item else None

    def require(self, lab_id: str) -> LabRecord:
        record = self.get(lab_id)
        if record is None:
            raise LabNotFoundError(lab_id)
        return record

    # -- updates ------------------------------------------------------------

    def transition(
        self, lab_id: str, to: LabStatus | str, *, note: str = "", **fields: Any
    ) -> LabRecord:
        """Move the lab to ``to`` (conditional) and store ``fields`` with it; a lab that
        ends (DESTROYED, FAILED) stops counting against its owner's quotas (once)."""
        record = self._transition(lab_id, to, note=note, **fields)
        assert record is not None  # ReturnValues ALL_NEW answers the item
        if record.status in QUOTA_RELEASED_AT and record.quota_hold:
            hold = record.quota_hold
            self.quota_usage.release(
                str(hold["owner"]), record.lab_id, Decimal(str(hold["hourly_usd"]))
            )
        return record

    def move(self, lab_id: str, to: LabStatus | str, *, note: str = "", **fields: Any) -> None:
        """:meth:`transition` for a caller that does not need the record back: the write
        answers nothing (ReturnValues NONE), so the item (labspec, plan, history) is
        neither sent back nor parsed. A move to DESTROYED or FAILED reads the quota hold
        it releases, so it is a :meth:`transition`."""
        if LabStatus(to) in QUOTA_RELEASED_AT:
            self.transition(lab_id, to, note=note, **fields)
            return
        self._transition(lab_id, to, note=note, return_values="NONE", **fields)

    def _transition(
        self,
        lab_id: str,
        to: LabStatus | str,
        *,
        note: str = "",
        return_values: str = "ALL_NEW",
        **fields: Any,
    ) -> LabRecord | None:
        """Move the lab to ``to`` (conditional) and store ``fields`` with it; the record
        as it is now, unless ``return_values`` is NONE.

        Moving to the status the lab already has stores the fields and adds no history
        entry, so a retried step is harmless. Any other move not allowed by the lifecycle
        raises :class:`IllegalTransitionError`; an unknown lab :class:`LabNotFoundError`.
        """
        from botocore.exceptions import ClientError

        to = LabStatus(to)
        now = iso(self._clock())
        if to == LabStatus.DESTROYED and "expires_at" not in fields:
            fields["expires_at"] = int((self._clock() + DESTROYED_RETENTION).timestamp())
        allowed = ALLOWED_FROM[to]
        names, values, sets = self._assignments(fields, now)
        names["#status"] = "status"
        values[":to"] = to.value
        if allowed:
            change = StatusChange(status=to, at=now, note=note).model_dump(mode="json")
            values_with_history = dict(values, **{":history": [change], ":empty": []})
            for i, status in enumerate(allowed):
                values_with_history[f":from{i}"] = status.value
            allowed_list = ", ".join(f":from{i}" for i in range(len(allowed)))
            try:
                response = self._table.update_item(
                    Key={"lab_id": lab_id},
                    UpdateExpression="SET "
                    + ", ".join(
                        [
                            *sets,
                            "#status = :to",
                            "status_history = list_append(if_not_exists(status_history, :empty), :history)",
                        ]
                    ),
                    ConditionExpression=f"attribute_exists(lab_id) AND #status IN ({allowed_list})",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=to_dynamo(values_with_history),
                    ReturnValues=return_values,
                )
                return _record_of(response)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        # Same status again (a retried step): store the fields only.
        try:
            response = self._table.update_item(
                Key={"lab_id": lab_id},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="attribute_exists(lab_id) AND #status = :to",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_dynamo(values),
                ReturnValues=return_values,
            )
            return _record_of(response)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        current = self.get(lab_id)
        if current is None:
            raise LabNotFoundError(lab_id)
        raise IllegalTransitionError(
            lab_id, current.status.value, to.value, [s.value for s in allowed]
        )

    def transition_if_unchanged(
        self, seen: LabRecord, to: LabStatus | str, *, note: str = "", **fields: Any
    ) -> LabRecord:
        """Move the lab to ``to`` only while it is still exactly as ``seen`` (same status,
        same ``updated_at``): any write made since, a live transition included, wins and
        this raises :class:`IllegalTransitionError`. The sweep settles stuck labs so."""
        from botocore.exceptions import ClientError

        to = LabStatus(to)
        if seen.status not in ALLOWED_FROM[to]:
            raise IllegalTransitionError(
                seen.lab_id, seen.status.value, to.value, [s.value for s in ALLOWED_FROM[to]]
            )
        now = iso(self._clock())
        if to == LabStatus.DESTROYED and "expires_at" not in fields:
            fields["expires_at"] = int((self._clock() + DESTROYED_RETENTION).timestamp())
        names, values, sets = self._assignments(fields, now)
        names.update({"#status": "status", "#seen_at": "updated_at"})
        change = StatusChange(status=to, at=now, note=note).model_dump(mode="json")
        values.update(
            {
                ":to": to.value,
                ":seen": seen.status.value,
                ":seen_at": seen.updated_at,
                ":history": [change],
                ":empty": [],
            }
        )
        history = "status_history = list_append(if_not_exists(status_history, :empty), :history)"
        try:
            response = self._table.update_item(
                Key={"lab_id": seen.lab_id},
                UpdateExpression="SET " + ", ".join([*sets, "#status = :to", history]),
                ConditionExpression="attribute_exists(lab_id) AND #status = :seen "
                "AND #seen_at = :seen_at",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_dynamo(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            current = self.get(seen.lab_id)
            raise IllegalTransitionError(
                seen.lab_id,
                current.status.value if current else None,
                to.value,
                [f"{seen.status.value} unchanged since {seen.updated_at}"],
            ) from exc
        record = LabRecord.model_validate(from_dynamo(response["Attributes"]))
        if record.status in QUOTA_RELEASED_AT and record.quota_hold:
            hold = record.quota_hold
            self.quota_usage.release(
                str(hold["owner"]), record.lab_id, Decimal(str(hold["hourly_usd"]))
            )
        return record

    def update_fields(
        self, lab_id: str, *, only_if_status: Iterable[LabStatus] | None = None, **fields: Any
    ) -> LabRecord:
        """Store fields without changing the status (optionally only in given statuses)."""
        attributes = self._update_fields(lab_id, only_if_status, fields, "ALL_NEW")
        return LabRecord.model_validate(from_dynamo(attributes))

    def store_fields(
        self, lab_id: str, *, only_if_status: Iterable[LabStatus] | None = None, **fields: Any
    ) -> None:
        """:meth:`update_fields` for a caller that does not need the record back: the
        write returns nothing, so the whole item (labspec, plan, history) is neither sent
        back nor parsed."""
        self._update_fields(lab_id, only_if_status, fields, "NONE")

    def _update_fields(
        self,
        lab_id: str,
        only_if_status: Iterable[LabStatus] | None,
        fields: dict[str, Any],
        return_values: str,
    ) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        names, values, sets = self._assignments(fields, iso(self._clock()))
        condition = "attribute_exists(lab_id)"
        statuses = [LabStatus(s) for s in only_if_status or []]
        if statuses:
            names["#status"] = "status"
            for i, status in enumerate(statuses):
                values[f":only{i}"] = status.value
            condition += f" AND #status IN ({', '.join(f':only{i}' for i in range(len(statuses)))})"
        try:
            response = self._table.update_item(
                Key={"lab_id": lab_id},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_dynamo(values),
                ReturnValues=return_values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            current = self.get(lab_id)
            if current is None:
                raise LabNotFoundError(lab_id) from exc
            raise IllegalTransitionError(
                lab_id, current.status.value, "updated", [s.value for s in statuses]
            ) from exc
        return response.get("Attributes") or {}

    @staticmethod
    def _assignments(fields: dict[str, Any], now: str) -> tuple[dict, dict, list[str]]:
        reserved = {"lab_id", "owner", "status", "status_history", "created_at"}
        bad = reserved.intersection(fields)
        if bad:
            raise ValueError(f"cannot set {sorted(bad)} through an update")
        fields = dict(fields, updated_at=now)
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        for i, (name, value) in enumerate(sorted(fields.items())):
            names[f"#f{i}"] = name
            values[f":v{i}"] = (
                value.model_dump(mode="json") if isinstance(value, BaseModel) else value
            )
            sets.append(f"#f{i} = :v{i}")
        return names, values, sets
