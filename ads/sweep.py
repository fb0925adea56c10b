"""The sweep: nothing ADS made runs on without a live lab, and no lab stays stuck.

Run on a schedule (the ``sweep`` Lambda on AWS, the local plane's timer) and on demand
(``GET /sweep`` reports, ``POST /sweep`` applies; admins only). Each run:

1. lists the VMs tagged ``ads:managed`` (the provider's :class:`SweepInventory`) and marks
   for termination those whose lab record is missing, DESTROYED or FAILED. A VM younger
   than ``ADS_SWEEP_GRACE_S`` is kept whatever its record says: a lab being created has
   its instance before its record names it (Create VM keeps ``launch_attempted_at``);
2. lists the per-lab resources (security groups, load balancer target groups and rules,
   stray sandbox processes) and removes those whose lab is gone;
3. settles the records stuck in a transitional status whose execution no longer runs
   (:mod:`ads.sweep_records`);
4. asks the leases to re-create a missing expiry schedule (:mod:`ads.sweep_leases`);
5. removes ADS's lab images no deploy used for ``ADS_IMAGE_UNUSED_DAYS``
   (:mod:`ads.sweep_images`).

Every action is logged and published (``Orphan Terminated``, ``Lab Swept``); the report
lists kind, resource, lab id, reason and outcome. A report-only run changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ads.lab_record import LabRecord, LabStatus, iso
from ads.lifecycle_events import EVENTS, LifecyclePublisher
from ads.observability import logger
from ads.records import LabRepository
from ads.sweep_images import UnusedImages
from ads.sweep_leases import LeaseScheduleHook, ensure_lease_schedule
from ads.sweep_model import LabResource, ManagedVm, SweepFinding, SweepInventory, SweepReport
from ads.sweep_records import StuckRecords

# A VM of a lab in one of these is ADS's own leftover.
GONE_STATUSES = (LabStatus.DESTROYED, LabStatus.FAILED)
_ACTIONS = {"instance": "terminate", "sandbox": "destroy", "process": "stop"}


class Sweep:
    """One sweep over ``inventory`` against the records of ``repository``."""

    def __init__(
        self,
        repository: LabRepository,
        inventory: SweepInventory,
        publisher: LifecyclePublisher,
        stuck: StuckRecords,
        *,
        grace_s: float,
        lease_hook: LeaseScheduleHook = ensure_lease_schedule,
        images: UnusedImages | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._repository = repository
        self._inventory = inventory
        self._publisher = publisher
        self._stuck = stuck
        self._grace_s = grace_s
        self._lease_hook = lease_hook
        self._images = images
        self._clock = clock
        self._records: dict[str, LabRecord | None] = {}

    def run(self, *, apply: bool) -> SweepReport:
        report = SweepReport(applied=apply, started_at=iso(self._clock()))
        self._records = {}
        for part, name in (
            (self._orphan_vms, "vms"),
            (self._orphan_resources, "resources"),
            (self._stuck_records, "records"),
            (self._leases, "leases"),
            (self._unused_images, "images"),
        ):
            try:
                part(report, apply)
            except Exception as exc:  # one part's trouble must not stop the others
                logger.exception("sweep part failed", part=name)
                report.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        logger.info(
            "sweep ran", applied=apply, findings=len(report.findings), errors=len(report.errors)
        )
        return report

    # -- what a lab id says -------------------------------------------------------------

    def _record(self, lab_id: str) -> LabRecord | None:
        if lab_id not in self._records:
            self._records[lab_id] = self._repository.get(lab_id)
        return self._records[lab_id]

    def _gone_reason(self, lab_id: str | None) -> str | None:
        """Why a resource of ``lab_id`` has no live lab, or None when its lab lives."""
        if not lab_id:
            return "it carries no ads:lab-id tag"
        record = self._record(lab_id)
        if record is None:
            return f"lab {lab_id} has no record"
        if record.status in GONE_STATUSES:
            return f"lab {lab_id} is {record.status.value}"
        return None

    def _young(self, vm: ManagedVm) -> bool:
        if vm.launched_at is None:
            return False
        return (self._clock() - vm.launched_at).total_seconds() < self._grace_s

    # -- 1. VMs ---------------------------------------------------------------------------

    def _orphan_vms(self, report: SweepReport, apply: bool) -> None:
        orphans: list[tuple[ManagedVm, SweepFinding]] = []
        for vm in self._inventory.managed_vms():
            if self._young(vm):
                report.kept_young.append(vm.vm_id)
                continue
            reason = self._gone_reason(vm.lab_id)
            if reason is None:
                report.kept += 1
                continue
            finding = report.add(
                SweepFinding(
                    kind=vm.kind,
                    resource=vm.vm_id,
                    lab_id=vm.lab_id,
                    reason=reason,
                    action=_ACTIONS.get(vm.kind, "remove"),
                )
            )
            orphans.append((vm, finding))
        if not apply or not orphans:
            return
        errors = self._inventory.terminate([vm for vm, _ in orphans])
        for vm, finding in orphans:
            self._settle(finding, errors.get(vm.vm_id))

    # -- 2. per-lab resources --------------------------------------------------------------

    def _orphan_resources(self, report: SweepReport, apply: bool) -> None:
        live = {
            lab_id for lab_id, r in self._records.items() if r and r.status not in GONE_STATUSES
        }
        for resource in self._inventory.lab_resources(live):
            reason = self._gone_reason(resource.lab_id)
            if reason is None:
                report.kept += 1
                continue
            finding = report.add(
                SweepFinding(
                    kind=resource.kind,
                    resource=resource.resource,
                    lab_id=resource.lab_id,
                    reason=reason,
                    action=_ACTIONS.get(resource.kind, "delete"),
                )
            )
            if apply:
                self._settle(finding, self._remove(resource))

    def _remove(self, resource: LabResource) -> str | None:
        try:
            self._inventory.remove(resource)
        except Exception as exc:  # reported; the next sweep tries again
            return f"{type(exc).__name__}: {exc}"
        return None

    def _settle(self, finding: SweepFinding, error: str | None) -> None:
        finding.outcome = "error" if error else "done"
        finding.error = error
        fields = finding.model_dump(include={"kind", "resource", "lab_id", "reason", "action"})
        if error:
            logger.warning("sweep could not remove an orphan", **fields, error=error)
            return
        logger.info("sweep removed an orphan", **fields)
        self._publisher.publish_detail(EVENTS["orphan_terminated"], fields)

    # -- 3. stuck records ------------------------------------------------------------------

    def _stuck_records(self, report: SweepReport, apply: bool) -> None:
        now = self._clock()
        for record in self._stuck.candidates():
            if _age_s(record, now) < self._grace_s:
                continue
            finding = self._stuck.examine(record)
            if finding is None:
                report.kept += 1
                continue
            report.add(finding)
            if apply:
                self._stuck.settle(record, finding)

    # -- 4. leases -------------------------------------------------------------------------

    def _leases(self, report: SweepReport, apply: bool) -> None:
        if self._lease_hook is ensure_lease_schedule:
            return  # no lab has a lease schedule yet (ads.sweep_leases): nothing to list
        for record in self._repository.labs_in_status(*LEASED_STATUSES):
            recreated = self._lease_hook(record, apply)
            if recreated is None:
                continue
            finding = report.add(
                SweepFinding(
                    kind="lease",
                    resource=recreated,
                    lab_id=record.lab_id,
                    reason=f"lab {record.lab_id}'s expiry schedule is missing",
                    action="re-create the schedule",
                    outcome="done" if apply else "planned",
                )
            )
            if apply:
                fields = finding.model_dump(include={"kind", "resource", "lab_id", "reason"})
                logger.info("sweep re-created a lease schedule", **fields)
                self._publisher.publish(record, EVENTS["swept"], {"sweep": fields})

    # -- 5. unused images ------------------------------------------------------------------

    def _unused_images(self, report: SweepReport, apply: bool) -> None:
        if self._images is None:
            return
        for image, finding in self._images.findings(self._clock()):
            report.add(finding)
            if not apply:
                continue
            error = self._images.remove(image)
            if error == "skipped":
                finding.outcome = "skipped"
                logger.info("sweep kept an image a deploy just used", image_id=image.image_id)
                continue
            self._settle(finding, error)


def _age_s(record: LabRecord, now: datetime) -> float:
    try:
        updated = datetime.fromisoformat(record.updated_at.replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (now - updated).total_seconds()


# The labs a lease may still end (the leases' schedules belong to these).
LEASED_STATUSES = tuple(s for s in LabStatus if s not in (*GONE_STATUSES, LabStatus.DESTROYING))
