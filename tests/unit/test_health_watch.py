"""The health watch's decisions and bookkeeping, over an in-memory labs table.

The fake repository applies the lifecycle's conditions as DynamoDB's conditional writes
do (a move not allowed from the current status, a field write in another status), so a
transition made between the watch's read and its write wins as it would on AWS.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ads.errors import IllegalTransitionError
from ads.health_watch import HealthState, HealthWatch, Probe, WatchPolicy, decide
from ads.lab_record import ALLOWED_FROM, LabRecord, LabStatus, StatusChange

LAB = "hello-web-0001"
POLICY = WatchPolicy(
    failures=3,
    deadline_s=600,
    recovery="restart",
    on_deadline="fail",
    probe_timeout_s=1,
    concurrency=4,
)
DOWN = Probe(healthy=False, answered=False, reason="GET http://127.0.0.1:9/health did not answer")
UP = Probe(healthy=True, answered=True)


class FakeRepository:
    def __init__(self, *records: LabRecord) -> None:
        self.records = {r.lab_id: r for r in records}
        self.writes = 0
        # Called before each write: a test moves the lab meanwhile (a concurrent destroy).
        self.before_write: Any = None

    def labs_in_status(self, *statuses: LabStatus) -> Iterator[LabRecord]:
        return iter([r for r in self.records.values() if r.status in statuses])

    def _race(self) -> None:
        if self.before_write is not None:
            hook, self.before_write = self.before_write, None
            hook(self)

    def transition(self, lab_id: str, to: LabStatus, *, note: str = "", **fields: Any):
        self._race()
        record = self.records[lab_id]
        if record.status != to and record.status not in ALLOWED_FROM[to]:
            raise IllegalTransitionError(lab_id, record.status.value, to.value, [])
        history = list(record.status_history)
        if record.status != to:
            history.append(StatusChange(status=to, at="t", note=note))
        self.writes += 1
        self.records[lab_id] = record.model_copy(
            update={**fields, "status": to, "status_history": history}
        )
        return self.records[lab_id]

    def update_fields(self, lab_id: str, *, only_if_status=None, **fields: Any):
        self._race()
        record = self.records[lab_id]
        if only_if_status and record.status not in only_if_status:
            raise IllegalTransitionError(lab_id, record.status.value, "updated", [])
        self.writes += 1
        self.records[lab_id] = record.model_copy(update=fields)
        return self.records[lab_id]

    def store_fields(self, lab_id: str, *, only_if_status=None, **fields: Any) -> None:
        self.update_fields(lab_id, only_if_status=only_if_status, **fields)


class FakePublisher:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def publish(self, record: LabRecord, detail_type: str | None = None, extra=None) -> bool:
        self.events.append((detail_type or record.status.value, record.status.value, extra or {}))
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def ready_lab(**fields: Any) -> LabRecord:
    return LabRecord(
        lab_id=LAB,
        owner="arn:aws:iam::111122223333:user/alice",
        status=LabStatus.READY,
        created_at="2026-12-01T10:00:00.000Z",
        updated_at="2026-12-01T10:00:00.000Z",
        endpoint="http://127.0.0.1:9",
        plan={"actions": {"start": ["./start.sh"]}},
        **fields,
    )


class Harness:
    def __init__(self, record: LabRecord, policy: WatchPolicy = POLICY) -> None:
        self.repository = FakeRepository(record)
        self.publisher = FakePublisher()
        self.clock = Clock()
        self.probe = DOWN
        self.recoveries: list[str] = []
        self.destroyed: list[str] = []
        self.watch = HealthWatch(
            self.repository,  # type: ignore[arg-type]
            self.publisher,  # type: ignore[arg-type]
            policy,
            start_recovery=self._recover,
            destroy=lambda record, cause: self.destroyed.append(cause),
            probe=lambda record, timeout: self.probe,
            clock=self.clock,
        )

    def _recover(self, record: LabRecord, probe: Probe) -> HealthState:
        self.recoveries.append(record.lab_id)
        health = HealthState.model_validate(record.health or {})
        return health.model_copy(
            update={"recovery": "restart", "recovery_execution_arn": "arn:exec"}
        )

    def run(self, times: int = 1):
        report = None
        for _ in range(times):
            report = self.watch.run(time_budget_s=30)
            self.clock.now += 60
        return report

    @property
    def lab(self) -> LabRecord:
        return self.repository.records[LAB]

    def detail_types(self) -> list[str]:
        return [event[0] for event in self.publisher.events]


def test_given_a_healthy_ready_lab_when_watched_then_nothing_is_written_or_published():
    harness = Harness(ready_lab())
    harness.probe = UP

    report = harness.run(times=3)

    assert report.checked == 1 and report.healthy == 1
    assert harness.repository.writes == 0
    assert harness.publisher.events == []


def test_given_k_minus_one_failures_when_watched_then_they_are_counted_and_the_lab_stays_ready():
    harness = Harness(ready_lab())

    harness.run(times=2)

    assert harness.lab.status == LabStatus.READY
    assert harness.lab.health["failures"] == 2
    assert "did not answer" in harness.lab.health["last_failure"]
    assert harness.publisher.events == []


def test_given_a_counted_failure_when_the_lab_answers_again_then_the_count_is_reset():
    harness = Harness(ready_lab())
    harness.run(times=2)
    harness.probe = UP

    report = harness.run()

    assert report.reset == [LAB]
    assert harness.lab.health is None and harness.lab.status == LabStatus.READY


def test_given_k_failures_in_a_row_when_watched_then_degraded_with_its_cause_an_event_and_a_recovery():
    harness = Harness(ready_lab())

    report = harness.run(times=3)

    assert harness.lab.status == LabStatus.DEGRADED
    assert report.degraded == [LAB] and report.recovering == [LAB]
    assert harness.lab.cause.startswith("health check failed 3 time(s) in a row: GET")
    assert harness.detail_types() == ["Lab Degraded"]
    assert harness.publisher.events[0][2]["health"]["failures"] == 3
    assert harness.recoveries == [LAB]
    assert harness.lab.health["recovery"] == "restart"
    assert harness.lab.health["degraded_at"]


def test_given_a_degraded_lab_when_it_answers_again_then_ready_with_lab_recovered():
    harness = Harness(ready_lab())
    harness.run(times=3)
    harness.probe = UP

    report = harness.run()

    assert report.recovered == [LAB]
    assert harness.lab.status == LabStatus.READY
    assert harness.lab.health is None and harness.lab.cause is None
    assert harness.detail_types() == ["Lab Degraded", "Lab Recovered"]
    assert harness.publisher.events[1][2]["health"]["recovery"] == "restart"


def test_given_a_degraded_lab_still_unhealthy_within_the_deadline_then_no_write_and_one_recovery():
    harness = Harness(ready_lab())
    harness.run(times=3)
    writes = harness.repository.writes

    harness.run(times=5)

    assert harness.lab.status == LabStatus.DEGRADED
    assert harness.repository.writes == writes
    assert harness.recoveries == [LAB]


def test_given_a_degraded_lab_unhealthy_past_the_deadline_then_failed_with_lab_failed():
    harness = Harness(ready_lab())
    harness.run(times=3)
    harness.clock.now += POLICY.deadline_s

    report = harness.run()

    assert report.failed == [LAB] and report.destroying == []
    assert harness.lab.status == LabStatus.FAILED
    assert harness.lab.failed_step == "Health Watch"
    assert "past the health watch's deadline of 600s" in harness.lab.cause
    assert harness.detail_types() == ["Lab Degraded", "FAILED"]
    assert harness.destroyed == []


def test_given_the_destroy_policy_when_the_deadline_passes_then_the_lab_is_destroyed_with_the_cause():
    policy = WatchPolicy(**{**POLICY.__dict__, "on_deadline": "destroy"})
    harness = Harness(ready_lab(), policy)
    harness.run(times=3)
    harness.clock.now += policy.deadline_s

    report = harness.run()

    assert report.destroying == [LAB]
    assert len(harness.destroyed) == 1 and "deadline" in harness.destroyed[0]


def test_given_the_recovery_policy_none_when_degraded_then_no_recovery_is_started():
    policy = WatchPolicy(**{**POLICY.__dict__, "recovery": "none"})
    harness = Harness(ready_lab(), policy)

    report = harness.run(times=3)

    assert report.degraded == [LAB] and report.recovering == []
    assert harness.recoveries == []


def test_given_a_recovery_that_returned_the_lab_ready_but_unhealthy_then_degraded_again_at_once():
    harness = Harness(ready_lab())
    harness.run(times=3)
    first = harness.lab.health["degraded_at"]
    # The recovery's workflow ends READY (as ActionLab or PowerLab would).
    harness.repository.records[LAB] = harness.lab.model_copy(update={"status": LabStatus.READY})

    report = harness.run()

    assert report.degraded == [LAB]
    assert harness.lab.status == LabStatus.DEGRADED
    assert harness.lab.health["degraded_at"] == first
    assert harness.recoveries == [LAB]


def test_given_a_recovery_that_returned_the_lab_ready_and_healthy_then_lab_recovered():
    harness = Harness(ready_lab())
    harness.run(times=3)
    harness.repository.records[LAB] = harness.lab.model_copy(update={"status": LabStatus.READY})
    harness.probe = UP

    report = harness.run()

    assert report.recovered == [LAB]
    assert harness.lab.health is None
    assert harness.detail_types()[-1] == "Lab Recovered"


def test_given_a_destroy_between_the_probe_and_the_write_when_degrading_then_the_destroy_wins():
    harness = Harness(ready_lab(health={"failures": 2, "last_failure": "x"}))

    def destroy(repository: FakeRepository) -> None:
        repository.records[LAB] = repository.records[LAB].model_copy(
            update={"status": LabStatus.DESTROYING}
        )

    harness.repository.before_write = destroy

    report = harness.run()

    assert report.conflicts == [LAB]
    assert harness.lab.status == LabStatus.DESTROYING
    assert harness.publisher.events == [] and harness.recoveries == []


def test_given_probes_that_outlast_the_budget_when_watched_then_the_lab_is_reported_not_checked():
    harness = Harness(ready_lab())
    released = threading.Event()
    harness.watch._probe = lambda record, timeout: released.wait(5) and DOWN  # type: ignore[method-assign]

    try:
        report = harness.watch.run(time_budget_s=0)
    finally:
        released.set()

    assert report.not_checked == [LAB] and report.checked == 0
    assert harness.repository.writes == 0


@pytest.mark.parametrize(
    ("status", "health", "probe", "verdict"),
    [
        (LabStatus.READY, None, UP, "unchanged"),
        (LabStatus.READY, {"failures": 1}, UP, "reset"),
        (LabStatus.READY, None, DOWN, "counted"),
        (LabStatus.READY, {"failures": 2}, DOWN, "degraded"),
        (LabStatus.DEGRADED, {"failures": 3, "degraded_epoch": 0.0}, UP, "recovered"),
        (LabStatus.DEGRADED, {"failures": 3, "degraded_epoch": 0.0}, DOWN, "failed"),
        (LabStatus.DEGRADED, {"failures": 3, "degraded_epoch": 999.0}, DOWN, "unchanged"),
    ],
)
def test_given_a_status_health_and_probe_when_decided_then_the_verdict(
    status, health, probe, verdict
):
    record = ready_lab(health=health).model_copy(update={"status": status})

    assert decide(record, probe, 1000.0, POLICY).verdict == verdict


@pytest.mark.parametrize(
    ("recovery", "probe", "actions", "wanted"),
    [
        ("start", Probe(healthy=False, answered=True, reason="answered 503"), True, "start"),
        ("start", DOWN, True, "restart"),
        ("start", Probe(healthy=False, answered=True, reason="answered 503"), False, "restart"),
        ("restart", Probe(healthy=False, answered=True, reason="answered 503"), True, "restart"),
        ("none", DOWN, True, None),
    ],
)
def test_given_a_recovery_policy_when_a_lab_degrades_then_the_recovery_chosen(
    recovery, probe, actions, wanted
):
    from ads.watch_recovery import recovery_for

    policy = WatchPolicy(**{**POLICY.__dict__, "recovery": recovery})
    record = ready_lab() if actions else ready_lab().model_copy(update={"plan": {}})

    assert recovery_for(record, probe, policy) == wanted


@pytest.mark.parametrize(
    ("answer", "healthy", "answered"),
    [
        ((200, '{"status": "ok", "lab_id": "hello-web-0001"}'), True, True),
        ((200, "not json"), True, True),
        ((200, '{"lab_id": "another-lab"}'), False, False),
        ((503, "starting"), False, True),
        ((None, "connection refused"), False, False),
    ],
)
def test_given_an_agent_answer_when_probed_then_healthy_only_for_a_200_naming_this_lab(
    monkeypatch, answer, healthy, answered
):
    from ads import health_watch

    monkeypatch.setattr(health_watch, "probe_health", lambda url, timeout: answer)

    probe = health_watch.probe_lab(ready_lab(), 1.0)

    assert (probe.healthy, probe.answered) == (healthy, answered)
    assert healthy or probe.reason.startswith("GET http://127.0.0.1:9/health")


def test_given_a_lab_of_several_vms_when_probed_then_every_vm_is_asked_and_the_first_unhealthy_is_named(
    monkeypatch,
):
    from ads import health_watch

    answers = {
        "http://127.0.0.1:11/health": (200, f'{{"lab_id": "{LAB}"}}'),
        "http://127.0.0.1:12/health": (None, "connection refused"),
        "http://127.0.0.1:13/health": (200, f'{{"lab_id": "{LAB}"}}'),
    }
    asked: list[str] = []

    def probe(url: str, timeout: float) -> tuple[int | None, str]:
        asked.append(url)
        return answers[url]

    monkeypatch.setattr(health_watch, "probe_health", probe)
    vms = {
        name: {"name": name, "endpoint": f"http://127.0.0.1:{port}"}
        for name, port in (("db-1", 11), ("web-1", 12), ("web-2", 13))
    }

    down = health_watch.probe_lab(ready_lab(vms=vms), 1.0)
    answers["http://127.0.0.1:12/health"] = (200, f'{{"lab_id": "{LAB}"}}')
    up = health_watch.probe_lab(ready_lab(vms=vms), 1.0)

    assert (down.healthy, down.answered) == (False, False)
    assert down.reason.startswith("VM web-1: GET http://127.0.0.1:12/health did not answer")
    assert up.healthy and asked[-3:] == [f"http://127.0.0.1:{p}/health" for p in (11, 12, 13)]
