"""The health watch: READY labs checked on a schedule, DEGRADED after K failed checks.

Every run (the ``watch_labs`` Lambda on an EventBridge schedule on AWS, the local plane's
timer locally) lists the READY and DEGRADED labs through the status index, asks each
agent's ``/health`` (a bounded number at once, each with the health timeout, the whole
run within its time budget) and decides, lab by lab (:func:`decide`):

* READY and healthy: nothing is written, unless failures were counted (they are reset)
  or the lab is back from a recovery (``Lab Recovered``);
* READY and unhealthy: the failure is counted; the K-th in a row makes it DEGRADED with
  the cause and a ``Lab Degraded`` event, and the recovery is started (the labspec's
  ``start`` action through ActionLab, or a restart through PowerLab; see
  :mod:`ads.watch_recovery`). A lab a recovery returned to READY that still fails is
  DEGRADED again at once (its deadline still counts from the first time);
* DEGRADED and healthy: READY with ``Lab Recovered``;
* DEGRADED and unhealthy past the deadline: FAILED with the cause and ``Lab Failed``
  (and, by the ``destroy`` policy, DestroyLab runs).

Writes happen only on a change (a healthy lab costs a read, not a write), and every
write is conditional on the status the decision was made in: a transition made meanwhile
(a destroy, an action, a power operation) wins, and the watch leaves that lab alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ads.config import AdsConfig, WatchDeadlinePolicy, WatchRecovery
from ads.errors import IllegalTransitionError, LabNotFoundError
from ads.health_probe import probe_health
from ads.lab_record import LabRecord, LabStatus, iso
from ads.lifecycle_events import EVENTS, LifecyclePublisher
from ads.observability import logger
from ads.records import LabRepository

WATCHED = (LabStatus.READY, LabStatus.DEGRADED)
FAILED_STEP = "Health Watch"
REASON_LIMIT = 300
# Kept back from the run's budget for the writes after the last probe.
WRITE_MARGIN_S = 5.0

Verdict = Literal["unchanged", "reset", "counted", "degraded", "recovered", "failed"]


class HealthState(BaseModel):
    """The record's ``health``: what the watch counted and did."""

    model_config = ConfigDict(extra="ignore")

    failures: int = 0
    last_failure: str = ""
    # Set when the lab first became DEGRADED; the deadline counts from here.
    degraded_at: str | None = None
    degraded_epoch: float | None = None
    # The recovery started for this degradation (start | restart), its execution, its error.
    recovery: str | None = None
    recovery_execution_arn: str | None = None
    recovery_error: str | None = None


@dataclass(frozen=True)
class WatchPolicy:
    failures: int
    deadline_s: float
    recovery: WatchRecovery
    on_deadline: WatchDeadlinePolicy
    probe_timeout_s: float
    concurrency: int

    @classmethod
    def from_config(cls, config: AdsConfig) -> WatchPolicy:
        return cls(
            failures=config.watch_failures,
            deadline_s=float(config.watch_deadline_s),
            recovery=config.watch_recovery,
            on_deadline=config.watch_on_deadline,
            probe_timeout_s=config.health_timeout_s,
            concurrency=config.watch_concurrency,
        )


@dataclass(frozen=True)
class Probe:
    healthy: bool
    # Whether anything answered at all (an agent that answers may run a start action).
    answered: bool
    reason: str = ""


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    health: HealthState | None


class WatchReport(BaseModel):
    """What one run of the watch found and did, by lab id."""

    model_config = ConfigDict(extra="forbid")

    checked: int = 0
    healthy: int = 0
    unhealthy: int = 0
    not_checked: list[str] = Field(default_factory=list)
    reset: list[str] = Field(default_factory=list)
    counted: list[str] = Field(default_factory=list)
    degraded: list[str] = Field(default_factory=list)
    recovering: list[str] = Field(default_factory=list)
    recovered: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    destroying: list[str] = Field(default_factory=list)
    # Another transition won the conditional write: the watch left the lab alone.
    conflicts: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


def probe_lab(record: LabRecord, timeout_s: float) -> Probe:
    """GET the lab's agent /health: healthy on 200 from an agent naming this lab. A lab of
    several VMs is healthy when every VM's agent is; the first that is not is named."""
    if not record.vms:
        return _probe_agent(record.lab_id, record.endpoint, timeout_s)
    for name, entry in record.vms.items():
        probe = _probe_agent(record.lab_id, entry.get("endpoint"), timeout_s)
        if not probe.healthy:
            return replace(probe, reason=f"VM {name}: {probe.reason}")
    return Probe(healthy=True, answered=True)


def _probe_agent(lab_id: str, endpoint: str | None, timeout_s: float) -> Probe:
    if not endpoint:
        return Probe(healthy=False, answered=False, reason="no endpoint recorded")
    url = endpoint.rstrip("/") + "/health"
    code, body = probe_health(url, timeout_s)
    if code is None:
        return Probe(healthy=False, answered=False, reason=f"GET {url} did not answer: {body}")
    if code != 200:
        return Probe(healthy=False, answered=True, reason=f"GET {url} answered {code}")
    try:
        named = json.loads(body).get("lab_id")
    except (ValueError, AttributeError):
        named = None
    if named is not None and named != lab_id:
        # The port now belongs to another lab's agent: this lab's agent is gone.
        return Probe(healthy=False, answered=False, reason=f"GET {url} answered for {named}")
    return Probe(healthy=True, answered=True)


def decide(record: LabRecord, probe: Probe, now_epoch: float, policy: WatchPolicy) -> Decision:
    """What the watch does about ``record`` after ``probe`` (pure: no I/O)."""
    health = HealthState.model_validate(record.health or {})
    if probe.healthy:
        if health.degraded_at or record.status == LabStatus.DEGRADED:
            return Decision("recovered", None)
        return Decision("reset", None) if health.failures else Decision("unchanged", health)
    counted = health.model_copy(
        update={"failures": health.failures + 1, "last_failure": probe.reason[:REASON_LIMIT]}
    )
    if record.status == LabStatus.DEGRADED:
        past = health.degraded_epoch is not None and (
            now_epoch - health.degraded_epoch >= policy.deadline_s
        )
        # Still unhealthy within the deadline: nothing changed that is worth a write.
        return Decision("failed", counted) if past else Decision("unchanged", health)
    if counted.failures >= policy.failures or health.degraded_at:
        return Decision("degraded", counted)
    return Decision("counted", counted)


RecoveryStarter = Callable[[LabRecord, Probe], HealthState]
Destroyer = Callable[[LabRecord, str], None]


class HealthWatch:
    """One run of the watch over the labs of ``repository``."""

    def __init__(
        self,
        repository: LabRepository,
        publisher: LifecyclePublisher,
        policy: WatchPolicy,
        *,
        start_recovery: RecoveryStarter,
        destroy: Destroyer,
        probe: Callable[[LabRecord, float], Probe] = probe_lab,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repository = repository
        self._publisher = publisher
        self._policy = policy
        self._start_recovery = start_recovery
        self._destroy = destroy
        self._probe = probe
        self._clock = clock
        self._monotonic = monotonic

    def run(self, time_budget_s: float) -> WatchReport:
        """Check every watched lab within ``time_budget_s`` seconds; the report."""
        ends = self._monotonic() + max(0.0, time_budget_s - WRITE_MARGIN_S)
        report = WatchReport()
        records = list(self._repository.labs_in_status(*WATCHED))
        probes = self._probe_all(records, ends)
        for record in records:
            probe = probes.get(record.lab_id)
            if probe is None:
                report.not_checked.append(record.lab_id)
                continue
            report.checked += 1
            if probe.healthy:
                report.healthy += 1
            else:
                report.unhealthy += 1
            try:
                self._apply(record, probe, report)
            except (IllegalTransitionError, LabNotFoundError):
                report.conflicts.append(record.lab_id)
            except Exception as exc:  # one lab's trouble must not stop the others' checks
                logger.exception("health watch failed on a lab", lab_id=record.lab_id)
                report.errors.append(f"{record.lab_id}: {type(exc).__name__}: {exc}")
        logger.info(
            "health watch ran", **report.model_dump(include={"checked", "healthy", "unhealthy"})
        )
        return report

    def _probe_all(self, records: list[LabRecord], ends: float) -> dict[str, Probe]:
        if not records:
            return {}
        timeout = self._policy.probe_timeout_s
        pool = ThreadPoolExecutor(max_workers=min(self._policy.concurrency, len(records)))
        try:
            futures = {pool.submit(self._probe, r, timeout): r.lab_id for r in records}
            done, _ = wait(futures, timeout=max(0.0, ends - self._monotonic()))
        finally:
            # Probes still queued are dropped; a running one ends within its own timeout.
            pool.shutdown(wait=False, cancel_futures=True)
        return {futures[f]: f.result() for f in done if f.exception() is None}

    def _apply(self, record: LabRecord, probe: Probe, report: WatchReport) -> None:
        decision = decide(record, probe, self._clock(), self._policy)
        lab_id = record.lab_id
        if decision.verdict == "unchanged":
            return
        if decision.verdict in ("reset", "counted"):
            health = decision.health.model_dump(mode="json") if decision.health else None
            self._repository.store_fields(lab_id, only_if_status=[record.status], health=health)
            getattr(report, decision.verdict).append(lab_id)
            return
        if decision.verdict == "recovered":
            self._recovered(record, report)
            return
        assert decision.health is not None
        if decision.verdict == "degraded":
            self._degraded(record, decision.health, probe, report)
            return
        self._failed(record, decision.health, report)

    def _recovered(self, record: LabRecord, report: WatchReport) -> None:
        before = HealthState.model_validate(record.health or {})
        note = "healthy again: recovered"
        if record.status == LabStatus.DEGRADED:
            done = self._repository.transition(
                record.lab_id, LabStatus.READY, note=note, health=None, cause=None
            )
        else:
            # Back to READY through its recovery: the watch saw it healthy and says so.
            done = self._repository.update_fields(
                record.lab_id, only_if_status=[LabStatus.READY], health=None, cause=None
            )
        self._publisher.publish(done, EVENTS["recovered"], {"health": _event_health(before)})
        report.recovered.append(record.lab_id)

    def _degraded(
        self, record: LabRecord, health: HealthState, probe: Probe, report: WatchReport
    ) -> None:
        now = self._clock()
        if health.degraded_epoch is None:
            health = health.model_copy(update={"degraded_epoch": now, "degraded_at": _iso(now)})
        cause = f"health check failed {health.failures} time(s) in a row: {health.last_failure}"
        done = self._repository.transition(
            record.lab_id,
            LabStatus.DEGRADED,
            note=cause[:200],
            cause=cause,
            health=health.model_dump(mode="json"),
        )
        self._publisher.publish(done, EVENTS["degraded"], {"health": _event_health(health)})
        report.degraded.append(record.lab_id)
        if health.recovery is not None or self._policy.recovery == "none":
            return
        started = self._start_recovery(done, probe)
        self._repository.store_fields(record.lab_id, health=started.model_dump(mode="json"))
        if started.recovery_execution_arn:
            report.recovering.append(record.lab_id)

    def _failed(self, record: LabRecord, health: HealthState, report: WatchReport) -> None:
        unhealthy_s = int(self._clock() - (health.degraded_epoch or self._clock()))
        cause = (
            f"unhealthy for {unhealthy_s}s, past the health watch's deadline of "
            f"{int(self._policy.deadline_s)}s: {health.last_failure}"
        )
        done = self._repository.transition(
            record.lab_id,
            LabStatus.FAILED,
            note=cause[:200],
            failed_step=FAILED_STEP,
            cause=cause,
            health=health.model_dump(mode="json"),
        )
        self._publisher.publish(done, extra={"health": _event_health(health)})
        report.failed.append(record.lab_id)
        if self._policy.on_deadline == "destroy":
            self._destroy(done, cause)
            report.destroying.append(record.lab_id)


def _event_health(health: HealthState) -> dict[str, Any]:
    return health.model_dump(
        mode="json", include={"failures", "last_failure", "degraded_at", "recovery"}
    )


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return iso(datetime.fromtimestamp(epoch, UTC))
