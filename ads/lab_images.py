"""Lab images: a lab's initialised VM kept after its first healthy deploy, so that a later
deploy of the same key starts from it and runs only the steps each VM needs.

The key of an image is the lab's labspec (canonical JSON), its source revision (the
commit, ``none`` for a lab without sources), its base image (the OS image parameter and
architecture), the provider and the owner. The owner is in the key on purpose: an image
is taken from a running lab its owner could log into and change, so it is never handed
to another owner's lab.

Images are items of the labs table under the ``image#`` key prefix. They carry no
``owner`` and no ``status`` attribute (``image_owner``, ``image_state``), so the owner
and status indexes never list them and the lab listings skip them, as they skip the
idempotency keys. One item per key: the key says everything the image holds, and a
lookup at Create VM is one GetItem. Another table would have cost its own IAM grants,
its own local setup and a second client per step for no query the prefix cannot answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ads.lab_record import LabRecord, iso, utc_now
from ads.labs_table import ENDED_RETENTION, TTL_ATTRIBUTE, from_dynamo, to_dynamo

IMAGE_PREFIX = "image#"
IMAGE_ID_PREFIX = "img-"
KEY_HEX = 32
# "removed": the image and its snapshots are gone; the item stays (its TTL, as a
# DESTROYED lab's record) only so the cost report still counts what it cost until then.
ImageStateName = Literal["creating", "pending", "available", "failed", "deleting", "removed"]
_SHA = re.compile(r"^[0-9a-f]{40}$")
# The deploy steps a VM started from an image still runs: the rest is in the image.
PER_VM_STEPS = ("init", "start")
# A claim still "creating" after this long was left by a step that died (its task times
# out long before): the key may be claimed again, the image removed.
STALE_CLAIM = timedelta(minutes=30)
# The labspec's opt-in (an ADS extension): lab.build_requirements.platform.reuse_image.
LABSPEC_OPT_IN = ("lab", "build_requirements", "platform", "reuse_image")


class ImageView(BaseModel):
    """An image as GET /images shows it (its owner and admins)."""

    model_config = ConfigDict(extra="ignore")

    image_id: str
    image_state: ImageStateName
    image_owner: str
    provider: str
    source_lab_id: str
    lab_name: str = ""
    revision: str
    base_image: str
    # The AMI id (ec2) or the snapshot file (local), once the provider made it.
    provider_image_id: str | None = None
    snapshot_ids: list[str] = Field(default_factory=list)
    size_bytes: int | None = None
    storage_monthly_cost_usd: float | None = None
    cost_tags: dict[str, str] = Field(default_factory=dict)
    created_at: str
    available_at: str | None = None
    last_used_at: str | None = None
    used_by: list[str] = Field(default_factory=list)
    failure: str | None = None


class LabImage(ImageView):
    """One kept image, as its item stores it: the view plus the bookkeeping."""

    image_key: str
    updated_at: str
    removed_at: str | None = None

    def public_view(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def base_image_of(plan: Mapping[str, Any]) -> str:
    image = (plan.get("image") or {}).get("ssm_parameter") or ""
    return f"{image}#{plan.get('arch') or ''}"


def lookup_revision(record: LabRecord) -> str | None:
    """The revision a deploy is known to build before it runs: ``none`` without sources,
    the commit a git ref names when the ref is a full commit id; None otherwise (a branch
    or a tag moves, an archive is known only once fetched), and no image is looked up."""
    source = record.source or {}
    if not source:
        return "none"
    ref = str(source.get("ref") or "")
    if source.get("git") and _SHA.fullmatch(ref):
        return ref
    return None


def kept_revision(record: LabRecord) -> str | None:
    """The revision a READY lab was built from, as its agent reported it."""
    source = record.source or {}
    if not source:
        return "none"
    if source.get("git") and record.revision and _SHA.fullmatch(record.revision):
        return record.revision
    return None


def image_key(record: LabRecord, revision: str, provider: str) -> str:
    document = {
        "labspec": record.labspec,
        "revision": revision,
        "base_image": base_image_of(record.plan),
        "provider": provider,
        "owner": record.owner,
    }
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()[:KEY_HEX]


def image_id_of(key: str) -> str:
    return f"{IMAGE_ID_PREFIX}{key}"


def key_of(image_id: str) -> str | None:
    """The key an image id names, or None when ``image_id`` is not one."""
    key = image_id.removeprefix(IMAGE_ID_PREFIX)
    if image_id.startswith(IMAGE_ID_PREFIX) and re.fullmatch(rf"[0-9a-f]{{{KEY_HEX}}}", key):
        return key
    return None


def reuse_enabled(record: LabRecord) -> bool:
    """Whether the lab asked for images: the request's ``reuse_image`` (kept in its plan)
    or the labspec's opt-in."""
    if record.plan.get("reuse_image") is True:
        return True
    node: Any = record.labspec
    for part in LABSPEC_OPT_IN:
        node = node.get(part) if isinstance(node, dict) else None
    return node is True


def per_vm_plan(plan: Mapping[str, Any]) -> dict[str, Any]:
    """``plan`` with the commands of every step but the per-VM ones left out: what the
    agent runs on a VM started from an image (the step names stay, in order)."""
    steps = [
        {
            **step,
            "commands": list(step.get("commands") or []) if step["name"] in PER_VM_STEPS else [],
        }
        for step in plan.get("steps") or []
    ]
    return {**plan, "steps": steps}


class LabImages:
    """The image items of the labs table. ``table`` is a boto3 DynamoDB Table resource."""

    def __init__(self, table: Any, clock: Callable[[], datetime] = utc_now) -> None:
        self._table = table
        self._clock = clock

    def _now(self) -> str:
        return iso(self._clock())

    @staticmethod
    def _item_key(key: str) -> dict[str, str]:
        return {"lab_id": f"{IMAGE_PREFIX}{key}"}

    def get(self, key: str) -> LabImage | None:
        """The key's image; None when there is none or it was removed."""
        item = self._table.get_item(Key=self._item_key(key), ConsistentRead=True).get("Item")
        image = LabImage.model_validate(from_dynamo(item)) if item else None
        return None if image is None or image.image_state == "removed" else image

    def get_by_id(self, image_id: str) -> LabImage | None:
        key = key_of(image_id)
        return self.get(key) if key else None

    def stale(self, image: LabImage) -> bool:
        """Whether ``image`` is a claim left "creating" by a step that died."""
        return image.image_state == "creating" and image.updated_at < iso(
            self._clock() - STALE_CLAIM
        )

    def claim(self, image: LabImage) -> bool:
        """Store ``image`` as the key's image unless one exists that did not fail (or is a
        stale claim); False when another lab's image holds the key (creating, pending or
        available)."""
        from botocore.exceptions import ClientError

        item = {**self._item_key(image.image_key), **to_dynamo(image.model_dump(mode="json"))}
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression="attribute_not_exists(lab_id) OR image_state IN (:failed, "
                ":removed) OR (image_state = :creating AND updated_at < :stale)",
                ExpressionAttributeValues={
                    ":failed": "failed",
                    ":removed": "removed",
                    ":creating": "creating",
                    ":stale": iso(self._clock() - STALE_CLAIM),
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def update(self, key: str, **fields: Any) -> None:
        fields["updated_at"] = self._now()
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": to_dynamo(value) for i, value in enumerate(fields.values())}
        assignments = ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        self._table.update_item(
            Key=self._item_key(key),
            UpdateExpression=f"SET {assignments}",
            ConditionExpression="attribute_exists(lab_id)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def mark_used(self, key: str, lab_id: str) -> bool:
        """Remember that ``lab_id`` starts from the image (the newest 20 labs kept), before
        it is launched: False when the image is no longer available (the sweep took it for
        removal meanwhile), and the lab builds as usual."""
        from botocore.exceptions import ClientError

        image = self.get(key)
        if image is None or image.image_state != "available":
            return False
        used_by = [*(i for i in image.used_by if i != lab_id), lab_id][-20:]
        try:
            self._table.update_item(
                Key=self._item_key(key),
                UpdateExpression="SET last_used_at = :now, used_by = :used, updated_at = :now",
                ConditionExpression="image_state = :available",
                ExpressionAttributeValues={
                    ":now": self._now(),
                    ":used": used_by,
                    ":available": "available",
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def take_for_removal(self, image: LabImage) -> bool:
        """Mark ``image`` ``deleting`` unless a deploy used it (or it changed) since it was
        read: the sweep's removal and a deploy starting from the image exclude each other
        (:meth:`mark_used` refuses an image that is not available)."""
        from botocore.exceptions import ClientError

        values: dict[str, Any] = {
            ":deleting": "deleting",
            ":now": self._now(),
            ":seen": image.updated_at,
        }
        try:
            self._table.update_item(
                Key=self._item_key(image.image_key),
                UpdateExpression="SET image_state = :deleting, updated_at = :now",
                ConditionExpression="updated_at = :seen",
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def forget(self, key: str) -> None:
        """The key's image is gone (its AMI and snapshots removed): its item says so until
        its TTL ends, for the cost report; a new image of the key may be claimed at once."""
        now = self._clock()
        self._table.update_item(
            Key=self._item_key(key),
            UpdateExpression="SET image_state = :removed, removed_at = :now, updated_at = :now, "
            "#ttl = :expires",
            ConditionExpression="attribute_exists(lab_id)",
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":removed": "removed",
                ":now": iso(now),
                ":expires": int((now + ENDED_RETENTION).timestamp()),
            },
        )

    def list(self, owner: str | None = None, *, removed: bool = False) -> list[LabImage]:
        """Every image (``owner``: only that owner's; ``removed``: the removed ones too),
        newest first. A scan filtered on the key prefix: images are few, one per lab key."""
        from boto3.dynamodb.conditions import Attr

        condition = Attr("lab_id").begins_with(IMAGE_PREFIX)
        if owner is not None:
            condition = condition & Attr("image_owner").eq(owner)
        if not removed:
            condition = condition & Attr("image_state").ne("removed")
        request: dict[str, Any] = {"FilterExpression": condition}
        images: list[LabImage] = []
        while True:
            response = self._table.scan(**request)
            images += [LabImage.model_validate(from_dynamo(i)) for i in response.get("Items", [])]
            if not response.get("LastEvaluatedKey"):
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return sorted(images, key=lambda image: image.created_at, reverse=True)
