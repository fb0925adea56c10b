"""Which attributes of a lab record each reader reads (DynamoDB ProjectionExpression).

A lab item carries its labspec, plan, status history, action runs and revisions: a few
hundred values. Every value read is serialised by DynamoDB (and by moto on the local
plane, which spent most of its CPU doing so), sent, parsed by botocore, turned into
Decimals by boto3, and validated by pydantic. A reader that needs a dozen of them asks
for those. The sets are derived from the models, so a field added to the record or to
a view is read without anyone remembering to list it here.

A projected read answers a partial :class:`~ads.lab_record.LabRecord`: the attributes
not read hold their defaults. Hand one only to code that reads what was projected.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ads.api_models import LabSummary
from ads.lab_record import LabRecord
from ads.labs_table import table_schema


def _record_fields() -> frozenset[str]:
    return frozenset(LabRecord.model_fields)


def _key_attributes() -> frozenset[str]:
    """The table's and indexes' keys: a listing's next_token is made of them."""
    return frozenset(a["AttributeName"] for a in table_schema("labs")["AttributeDefinitions"])


def _required_fields() -> frozenset[str]:
    return frozenset(name for name, info in LabRecord.model_fields.items() if info.is_required())


def attributes_except(*left_out: str) -> tuple[str, ...]:
    """Every attribute of a lab record but ``left_out``."""
    unknown = set(left_out) - _record_fields()
    if unknown:
        raise ValueError(f"not lab record fields: {sorted(unknown)}")
    return tuple(sorted(_record_fields() - set(left_out)))


# What the API never shows of one lab (LabRecord.public_view leaves these out).
NOT_IN_VIEW = ("labspec", "expires_at", "init_command_id", "quota_hold")
# GET /labs/{lab_id}: the public view, its cost (from the plan) and accrued cost (from
# the status history); the labspec, the bulkiest attribute, is not read.
LAB_VIEW = attributes_except(*NOT_IN_VIEW)
# GET /labs, ads list: the summary's own fields, the keys a next_token is made of (the
# owner among them, which decides who may see a lab) and the record's required fields.
LAB_SUMMARY = tuple(
    sorted(
        (frozenset(LabSummary.model_fields) & _record_fields())
        | (_key_attributes() & _record_fields())
        | _required_fields()
    )
)
# Wait Until Running, Check Health and Destroy VM: the VM, its plan and source, the
# revision bookkeeping; never the labspec, the status history or the action runs.
STEP_READ = attributes_except("labspec", "status_history", "action_runs")


def projection(attributes: Iterable[str]) -> dict[str, Any]:
    """GetItem / Query / Scan arguments that read only ``attributes``.

    Every name goes through a placeholder (``status``, ``owner`` and ``source`` are
    DynamoDB reserved words); ``#p`` names cannot meet the ``#n`` ones boto3 makes
    for a condition built with ``boto3.dynamodb.conditions``, which it merges in.
    """
    names = {f"#p{i}": name for i, name in enumerate(attributes)}
    if not names:
        raise ValueError("a projection of no attribute")
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
