"""How the workflow steps read and move a lab record: a deployment stops once a destroy
has begun, and a forward move that loses to a concurrent destroy says so."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ads.errors import IllegalTransitionError
from ads.lab_record import LabRecord, LabStatus
from ads.providers.access import access_hooks
from ads.providers.base import ComputeProvider, LabBeingDestroyed, VmInfo, VmNotRunning
from ads.records import LabRepository

DESTROY_STATES = (LabStatus.DESTROYING, LabStatus.DESTROYED)


def deploying(
    repository: LabRepository, lab_id: str, attributes: Iterable[str] | None = None
) -> LabRecord:
    """The lab a deploy step works on (only ``attributes`` of it, when given)."""
    reader = repository.projected(attributes) if attributes else repository
    record = reader.require(lab_id)
    if record.status in DESTROY_STATES:
        raise LabBeingDestroyed(
            f"lab {lab_id} is {record.status.value}: the deployment stops here",
            lab_id=lab_id,
            status=record.status.value,
        )
    return record


def advance(
    repository: LabRepository, lab_id: str, status: LabStatus, note: str = "", **fields: Any
) -> LabRecord:
    """A forward transition that reports a concurrent destroy as such."""
    with _stops_on_destroy(lab_id):
        return repository.transition(lab_id, status, note=note, **fields)


def move(
    repository: LabRepository, lab_id: str, status: LabStatus, note: str = "", **fields: Any
) -> None:
    """:func:`advance` for a step that does not need the record back (the write answers
    nothing: ReturnValues NONE)."""
    with _stops_on_destroy(lab_id):
        repository.move(lab_id, status, note=note, **fields)


@contextmanager
def _stops_on_destroy(lab_id: str) -> Iterator[None]:
    try:
        yield
    except IllegalTransitionError as exc:
        if exc.current in {s.value for s in DESTROY_STATES}:
            raise LabBeingDestroyed(
                f"lab {lab_id} is {exc.current}: the deployment stops here", lab_id=lab_id
            ) from exc
        raise


def vm_of(record: LabRecord) -> VmInfo:
    if not record.vm_id or record.agent_port is None:
        raise VmNotRunning(
            f"lab {record.lab_id} has no VM recorded (vm_id={record.vm_id!r}); create_vm must run first",
            lab_id=record.lab_id,
        )
    return VmInfo(
        vm_id=record.vm_id,
        provider=record.provider,
        private_ip=record.private_ip,
        agent_port=record.agent_port,
        details=record.vm_details,
    )


def open_access(record: LabRecord, provider: ComputeProvider | None) -> dict[str, Any]:
    """Open the lab's access (idempotent; a provider without access hooks has none to
    open): the record fields it gives, ``app_url`` when the lab has a URL."""
    hooks = access_hooks(provider)
    if hooks is None or not record.vm_id or record.agent_port is None:
        return {}
    url = hooks.open_lab_access(record.lab_id, vm_of(record), record.plan)
    return {"app_url": url} if url else {}
