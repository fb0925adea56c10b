"""Outcome metrics: each outcome counts once, a failure also under its step, in EMF."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ads.lab_metrics import NAMESPACE, SERVICE, STEP_DIMENSION, LabMetric
from ads.lab_record import LabRecord, LabStatus, StatusChange
from ads.observability import metrics, publish_metrics
from ads.outcome_metrics import count_outcome

CREATED = "2030-01-01T10:00:00.000Z"


def _record(status: LabStatus, **fields: Any) -> LabRecord:
    history = [StatusChange(status=LabStatus.REQUESTED, at=CREATED)]
    if status != LabStatus.REQUESTED:
        history.append(StatusChange(status=status, at=fields.pop("at", "2030-01-01T10:04:30.000Z")))
    return LabRecord(
        lab_id="lab-1",
        owner="arn:aws:iam::123456789012:user/u",
        status=status,
        created_at=CREATED,
        updated_at=history[-1].at,
        status_history=history,
        **fields,
    )


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch, capsys):
    """Runs ``count_outcome`` as a handler would and returns the EMF blobs it printed."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()

    def run(before: LabRecord, after: LabRecord, **kwargs: Any) -> list[dict[str, Any]]:
        publish_metrics(lambda event, context: count_outcome(before, after, **kwargs))({}, None)
        blobs = []
        for line in capsys.readouterr().out.splitlines():
            blob = json.loads(line)
            (directive,) = blob["_aws"]["CloudWatchMetrics"]
            assert directive["Namespace"] == NAMESPACE
            blobs.append(blob)
        return blobs

    return run


def _names(blobs: list[dict[str, Any]]) -> list[str]:
    return sorted(m["Name"] for b in blobs for m in b["_aws"]["CloudWatchMetrics"][0]["Metrics"])


def test_given_a_lab_that_became_ready_when_counted_then_ready_and_time_to_ready_are_published(
    emitted,
) -> None:
    blobs = emitted(_record(LabStatus.HEALTH_CHECKING), _record(LabStatus.READY))

    (blob,) = blobs
    assert _names(blobs) == [LabMetric.LABS_READY, LabMetric.TIME_TO_READY]
    assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert blob["service"] == SERVICE
    assert blob[LabMetric.TIME_TO_READY] == [270.0]


def test_given_mark_ready_run_twice_when_counted_then_the_second_run_counts_nothing(
    emitted,
) -> None:
    ready = _record(LabStatus.READY)
    assert emitted(ready, ready) == []


def test_given_a_failed_deployment_when_counted_then_labs_failed_is_published_in_total_and_by_step(
    emitted,
) -> None:
    after = _record(LabStatus.FAILED, failed_step="Check Health", cause="Check Health failed: x")
    blobs = emitted(_record(LabStatus.HEALTH_CHECKING), after)

    by_dimensions = {tuple(b["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]): b for b in blobs}
    assert set(by_dimensions) == {("service",), (STEP_DIMENSION, "service")}
    assert by_dimensions[(STEP_DIMENSION, "service")][STEP_DIMENSION] == "Check Health"
    assert _names(blobs) == [LabMetric.LABS_FAILED] * 2


def test_given_a_failed_deployment_whose_vm_survived_when_counted_then_a_cleanup_failure_is_published(
    emitted,
) -> None:
    after = _record(LabStatus.FAILED, failed_step="Create VM", cause="...")
    blobs = emitted(_record(LabStatus.PROVISIONING), after, vm_left=True)

    assert LabMetric.VM_CLEANUPS_FAILED in _names(blobs)


def test_given_a_destroy_failure_recorded_twice_when_counted_then_it_counts_once(emitted) -> None:
    before = _record(LabStatus.DESTROYING)
    failed = _record(LabStatus.DESTROYING, failed_step="Destroy VM", cause="Destroy VM failed: x")

    first = emitted(before, failed)
    again = emitted(failed, failed)

    assert _names(first) == [LabMetric.DESTROYS_FAILED] * 2
    assert again == []


def test_given_metrics_disabled_when_a_handler_counts_then_nothing_is_printed_or_kept(
    monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    handler = publish_metrics(
        lambda event, context: count_outcome(
            _record(LabStatus.DESTROYING), _record(LabStatus.DESTROYED)
        )
    )
    handler({}, None)

    assert capsys.readouterr().out == ""
    assert metrics.metric_set == {}
