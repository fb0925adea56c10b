"""A cohort's lifecycle events (``Cohort Requested``, ``Cohort Deployed``,
``Cohort Destroyed`` in :data:`ads.lifecycle_events.EVENTS`): one per change of the
cohort as a whole, beside each member's lab's own events.

The detail names the cohort, its owner and course, and counts its members' labs by
status (``REFUSED`` for a member whose lab could not be written), so a subscriber knows
how the class went without reading every lab. Best-effort like every lifecycle event:
the cohort and lab records are the source of truth.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ads.cohort_model import CohortRecord
from ads.lifecycle_events import EVENTS, LifecyclePublisher
from ads.records import LabRepository

REFUSED = "REFUSED"


def member_counts(repository: LabRepository, cohort: CohortRecord) -> dict[str, int]:
    """The cohort's members by their lab's status now (a member without a lab: REFUSED
    when refused, else REQUESTED, its lab not written yet)."""
    labs = repository.cohorts.labs(m.lab_id for m in cohort.members if m.lab_id)
    counts: Counter[str] = Counter()
    for member in cohort.members:
        lab = labs.get(member.lab_id or "")
        if lab is not None:
            counts[lab.status.value] += 1
        else:
            counts[REFUSED if member.state == "refused" else "REQUESTED"] += 1
    return dict(sorted(counts.items()))


def cohort_detail(cohort: CohortRecord, counts: dict[str, int], **extra: Any) -> dict[str, Any]:
    return {
        "cohort_id": cohort.cohort_id,
        "owner": cohort.cohort_owner,
        "course": cohort.course,
        "lab_name": cohort.lab_name,
        "members": len(cohort.members),
        "counts": counts,
        **extra,
    }


def publish_cohort_event(
    publisher: LifecyclePublisher,
    repository: LabRepository,
    name: str,
    cohort: CohortRecord,
    **extra: Any,
) -> bool:
    """Put the cohort event ``name`` (a key of :data:`EVENTS` starting ``cohort_``)."""
    counts = member_counts(repository, cohort)
    return publisher.publish_detail(EVENTS[name], cohort_detail(cohort, counts, **extra))


def record_cohort_deployed(
    repository: LabRepository,
    publisher: LifecyclePublisher,
    cohort_id: str,
    execution_id: str | None = None,
) -> dict[str, Any]:
    """Record Cohort Deployed, DeployCohort's last step: every member's DeployLab of this
    round has ended; put ``Cohort Deployed`` with the members' labs by status."""
    cohort = repository.cohorts.get(cohort_id)
    if cohort is None:
        # Destroyed and gone meanwhile: nothing is left to announce.
        return {"cohort_id": cohort_id, "counts": {}, "event_published": False}
    counts = member_counts(repository, cohort)
    published = publisher.publish_detail(
        EVENTS["cohort_deployed"], cohort_detail(cohort, counts, execution_id=execution_id)
    )
    return {"cohort_id": cohort_id, "counts": counts, "event_published": published}
