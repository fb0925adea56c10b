"""The per-VM entries of a cluster lab's record (``vms.<name>``), written in place.

A cluster's VMs are created, initialised and checked concurrently by the Map states of
DeployLab, so each step writes only its own VM's entry: a nested SET on
``vms.<name>.<field>`` that leaves the other entries (and the lab's status) alone. The
entry must exist (the request wrote every entry PENDING): a write for a VM the lab does
not have is refused with :class:`ClusterVmNotFound`, never creates one.

DESTROYED is an entry's last status. When one VM's step fails, Step Functions stops the
Map's other iterations, but a Lambda invocation already running finishes and writes its
result, possibly after Destroy VM marked the entries DESTROYED. A write that would set
another status is therefore made on condition that the entry is not DESTROYED, and is
refused with :class:`VmEntryDestroyed` otherwise, so a late step cannot bring a destroyed
VM back to RUNNING in the record.

The same late Create VM may create its VM after Destroy VM looked for it: both sides write
on condition, so one of them learns of the other. Create VM records the new VM on
condition the entry is not DESTROYED (refused: it destroys that VM itself), and Destroy VM
marks an entry it found no VM for DESTROYED on condition it still has none (``vm_less``;
refused with :class:`VmEntryChanged`: it destroys again).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

from ads.cluster_model import ENTRY_FIELDS, VmStatus
from ads.lab_record import iso, utc_now
from ads.labs_table import to_dynamo
from ads.providers.base import StepError


class ClusterVmNotFound(StepError):
    """The lab has no VM of that name (or no such lab): nothing was written."""


class VmEntryDestroyed(StepError):
    """The entry is DESTROYED already: a late step's status was not written."""


class VmEntryChanged(StepError):
    """An entry read without a VM has one now: a late Create VM recorded it."""


class VmEntries:
    """Writes of the ``vms`` entries of lab records (``table``: a boto3 Table resource)."""

    def __init__(self, table: Any, clock: Callable[[], datetime] = utc_now) -> None:
        self._table = table
        self._clock = clock

    def update_vm(self, lab_id: str, vm_name: str, **fields: Any) -> None:
        """SET ``vms.<vm_name>.<field> = value`` for each of ``fields`` (and the entry's
        and the lab's ``updated_at``), on condition the entry exists."""
        self.update_vms(lab_id, {vm_name: fields})

    def update_vms(
        self,
        lab_id: str,
        changes: Mapping[str, Mapping[str, Any]],
        *,
        vm_less: Collection[str] = (),
    ) -> None:
        """:meth:`update_vm` for several entries in one write (all or none); the entries
        named in ``vm_less`` must still have no ``vm_id``."""
        from botocore.exceptions import ClientError

        if not changes:
            return
        now = iso(self._clock())
        names: dict[str, str] = {"#vms": "vms", "#lab_updated": "updated_at"}
        values: dict[str, Any] = {":now": now}
        sets = ["#lab_updated = :now"]
        conditions = []
        for i, (vm_name, fields) in enumerate(changes.items()):
            unknown = set(fields) - ENTRY_FIELDS - {"updated_at"}
            if unknown:
                raise ValueError(
                    f"vms.{vm_name}: found fields {sorted(unknown)}; allowed: {sorted(ENTRY_FIELDS)}"
                )
            names[f"#n{i}"] = vm_name
            conditions.append(f"attribute_exists(#vms.#n{i})")
            if fields.get("status") not in (None, VmStatus.DESTROYED):
                names["#status"] = "status"
                values[":destroyed"] = VmStatus.DESTROYED.value
                conditions.append(f"#vms.#n{i}.#status <> :destroyed")
            if vm_name in vm_less:
                names["#vm_id"] = "vm_id"
                values[":no_vm"] = None
                conditions.append(
                    f"(attribute_not_exists(#vms.#n{i}.#vm_id) OR #vms.#n{i}.#vm_id = :no_vm)"
                )
            for j, (field, value) in enumerate(sorted({**fields, "updated_at": now}.items())):
                names[f"#f{i}_{j}"] = field
                values[f":v{i}_{j}"] = value
                sets.append(f"#vms.#n{i}.#f{i}_{j} = :v{i}_{j}")
        try:
            self._table.update_item(
                Key={"lab_id": lab_id},
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_dynamo(values),
                ReturnValues="NONE",
                # The item as it was, in the refusal: which condition failed, with no
                # second read (and no race with it).
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise _refusal(lab_id, changes, exc.response.get("Item"), vm_less) from None


def _refusal(
    lab_id: str,
    changes: Mapping[str, Mapping[str, Any]],
    item: Mapping[str, Any] | None,
    vm_less: Collection[str] = (),
) -> StepError:
    """Why DynamoDB refused the write, from the item it returned (low-level attribute
    values): a named entry the lab does not have, one that has a VM now, or one that is
    DESTROYED already."""
    entries = ((item or {}).get("vms") or {}).get("M") or {}
    missing = [name for name in changes if name not in entries]
    if item is None or missing:
        return ClusterVmNotFound(
            f"lab {lab_id} has no VM named {', '.join(missing or list(changes))}: vms.<name> "
            "must exist (the request writes every VM of the lab's cluster PENDING)",
            lab_id=lab_id,
            vm_names=missing or list(changes),
        )
    created = [
        name for name in vm_less if ((entries[name].get("M") or {}).get("vm_id") or {}).get("S")
    ]
    if created:
        return VmEntryChanged(
            f"lab {lab_id}: VM {', '.join(created)} got an instance while being destroyed "
            "(a Create VM that ended late)",
            lab_id=lab_id,
            vm_names=created,
        )
    destroyed = [
        name
        for name in changes
        if ((entries[name].get("M") or {}).get("status") or {}).get("S") == VmStatus.DESTROYED
    ]
    names = destroyed or list(changes)
    return VmEntryDestroyed(
        f"lab {lab_id}: VM {', '.join(names)} is DESTROYED already; a step that ended after "
        "Destroy VM does not change its status",
        lab_id=lab_id,
        vm_names=names,
    )
