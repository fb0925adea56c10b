"""The health watch's recovery through the real ActionLab: hello-web deployed by the
real DeployLab and agent, its checks failing while its agent still answers (the probe
stands in for a lab whose page broke), so the watch makes it DEGRADED and runs the
labspec's start action (DEGRADED -> ACTING -> READY); the next check finds it healthy
and says Lab Recovered."""

from __future__ import annotations

from pathlib import Path

from ads.health_watch import HealthWatch, Probe, WatchPolicy, probe_lab
from ads.lab_record import LabRecord, LabStatus
from ads.steps import dependencies_for
from ads.watch_recovery import destroy_unhealthy, start_recovery

from .conftest import WorkflowDriver, hello_web_labspec

POLICY = WatchPolicy(
    failures=2,
    deadline_s=600,
    recovery="start",
    on_deadline="fail",
    probe_timeout_s=2,
    concurrency=2,
)
BROKEN = Probe(healthy=False, answered=True, reason="GET /health answered 503")


class Published:
    def __init__(self, publisher) -> None:
        self._publisher = publisher
        self.detail_types: list[str] = []

    def publish(self, record: LabRecord, detail_type: str | None = None, extra=None) -> bool:
        self.detail_types.append(detail_type or record.status.value)
        return self._publisher.publish(record, detail_type, extra)


def _watch(driver: WorkflowDriver, publisher: Published, probe) -> HealthWatch:
    ctx = driver.ctx
    return HealthWatch(
        ctx.repository,
        publisher,  # type: ignore[arg-type]
        POLICY,
        start_recovery=lambda record, found: start_recovery(ctx, record, found, POLICY),
        destroy=lambda record, cause: destroy_unhealthy(ctx, record, cause),
        probe=probe,
    )


def test_given_a_ready_lab_failing_its_checks_when_watched_then_degraded_started_again_and_recovered(
    driver: WorkflowDriver, hello_web_repo: Path
):
    deployed = driver.deploy(hello_web_labspec(), source=hello_web_repo)
    assert deployed.record.status == LabStatus.READY, deployed.record.cause
    lab_id = deployed.lab_id
    publisher = Published(dependencies_for(driver.plane.config).publisher)
    try:
        failing = _watch(driver, publisher, lambda record, timeout: BROKEN)
        assert failing.run(time_budget_s=30).counted == [lab_id]
        report = failing.run(time_budget_s=30)
        assert report.degraded == [lab_id] and report.recovering == [lab_id]

        record = driver.ctx.repository.require(lab_id)
        assert record.health["recovery"] == "start"
        assert record.status == LabStatus.ACTING
        done = driver._finish(lab_id, record.health["recovery_execution_arn"])
        assert done.record.status == LabStatus.READY, done.record.cause
        assert done.record.action_runs[-1]["name"] == "start"
        assert done.record.action_runs[-1]["succeeded"] is True

        healthy = _watch(driver, publisher, probe_lab).run(time_budget_s=30)
        assert healthy.recovered == [lab_id]
        record = driver.ctx.repository.require(lab_id)
        assert record.status == LabStatus.READY and record.health is None
        assert [s.status for s in record.status_history][-3:] == [
            LabStatus.DEGRADED,
            LabStatus.ACTING,
            LabStatus.READY,
        ]
        assert publisher.detail_types == ["Lab Degraded", "Lab Recovered"]
    finally:
        driver.destroy(lab_id)
