"""The per-VM entries of a cluster lab's record (``vms.<name>``), written in place.

A cluster's VMs are created, initialised and checked concurrently by the Map states of
DeployLab, so each step writes only its own VM's entry: a nested SET on
``vms.<name>.<field>`` that leaves the other entries (and the lab's status) alone. The
entry must exist (the request wrote every entry PENDING): a write for a VM the lab does
not have is refused with :class:`ClusterVmNotFound`, never creates one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ads.cluster_model import ENTRY_FIELDS
from ads.lab_record import iso, utc_now
from ads.labs_table import to_dynamo
from ads.providers.base import StepError


class ClusterVmNotFound(StepError):
    """The lab has no VM of that name (or no such lab): nothing was written."""


class VmEntries:
    """Writes of the ``vms`` entries of lab records (``table``: a boto3 Table resource)."""

    def __init__(self, table: Any, clock: Callable[[], datetime] = utc_now) -> None:
        self._table = table
        self._clock = clock

    def update_vm(self, lab_id: str, vm_name: str, **fields: Any) -> None:
        """SET ``vms.<vm_name>.<field> = value`` for each of ``fields`` (and the entry's
        and the lab's ``updated_at``), on condition the entry exists."""
        self.update_vms(lab_id, {vm_name: fields})

    def update_vms(self, lab_id: str, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """:meth:`update_vm` for several entries in one write (all or none)."""
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
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise ClusterVmNotFound(
                f"lab {lab_id} has no VM named {', '.join(changes)}: vms.<name> must exist "
                "(the request writes every VM of the lab's cluster PENDING)",
                lab_id=lab_id,
                vm_names=list(changes),
            ) from None
