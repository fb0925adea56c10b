"""What a lab has cost so far, from its status history (time given, never waited for)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ads.lab.accrual import accrued, billed_hours, parse_time

PLAN = {
    "hourly_cost_usd": 0.0104,
    "storage_monthly_cost_usd": 0.64,
    "root_volume_gib": 8,
    "region": "us-east-1",
}
NOW = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def _at(hour: float) -> str:
    minutes = int(hour * 60)
    return f"2026-11-01T{minutes // 60:02d}:{minutes % 60:02d}:00.000Z"


def test_given_a_lab_running_then_stopped_then_started_when_accrued_then_stopped_time_costs_storage_only():
    history = [
        ("REQUESTED", _at(0)),
        ("PROVISIONING", _at(1)),
        ("READY", _at(2)),
        ("STOPPING", _at(5)),
        ("STOPPED", _at(5.5)),
        ("STARTING", _at(9.5)),
        ("HEALTH_CHECKING", _at(10)),
        ("READY", _at(10.5)),
        ("DESTROYING", _at(12)),
        ("DESTROYED", _at(12.5)),
    ]

    cost = accrued(PLAN, history, NOW)

    # PROVISIONING 1 -> STOPPED 5.5 (4.5 h), STARTING 9.5 -> DESTROYED 12.5 (3 h)
    assert cost.hours_running == 7.5
    assert cost.hours_stopped == 4.0
    assert cost.compute_usd == round(7.5 * 0.0104, 4)
    assert cost.storage_usd == round(11.5 * 0.64 / 730, 4)
    assert cost.total_usd == round(cost.compute_usd + cost.storage_usd, 4)


def test_given_a_ready_lab_when_accrued_then_it_runs_up_to_now():
    history = [("REQUESTED", _at(0)), ("PROVISIONING", _at(0)), ("READY", _at(1))]

    running, stopped = billed_hours(history, NOW)

    assert (running, stopped) == (24.0, 0.0)


def test_given_a_since_when_accrued_then_only_the_window_counts():
    history = [
        ("PROVISIONING", _at(0)),
        ("READY", _at(1)),
        ("STOPPING", _at(10)),
        ("STOPPED", _at(10)),
    ]

    running, stopped = billed_hours(history, NOW, since=parse_time("2026-11-01T08:00:00Z"))

    assert running == pytest.approx(2.0)
    assert stopped == pytest.approx(14.0)


def test_given_a_destroy_of_a_stopped_or_failed_lab_when_accrued_then_destroying_keeps_the_earlier_billing():
    stopped_then_destroyed = [
        ("PROVISIONING", _at(0)),
        ("READY", _at(0)),
        ("STOPPING", _at(1)),
        ("STOPPED", _at(1)),
        ("DESTROYING", _at(2)),
        ("DESTROYED", _at(3)),
    ]
    failed_then_destroyed = [
        ("PROVISIONING", _at(0)),
        ("FAILED", _at(1)),
        ("DESTROYING", _at(5)),
        ("DESTROYED", _at(6)),
    ]

    assert billed_hours(stopped_then_destroyed, NOW) == (1.0, 2.0)
    assert billed_hours(failed_then_destroyed, NOW) == (1.0, 0.0)


def test_given_a_requested_lab_or_an_unpriced_plan_when_accrued_then_no_cost_or_none():
    assert accrued(PLAN, [("REQUESTED", _at(0))], NOW).total_usd == 0.0
    unpriced = accrued({"hourly_cost_usd": None}, [("READY", _at(0))], NOW)
    assert unpriced.hours_running == 24.0
    assert unpriced.compute_usd is None and unpriced.total_usd is None


def test_given_dates_and_offsets_when_parsed_then_utc():
    assert parse_time("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_time("2026-11-01T05:30:00+05:30") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_time("last tuesday")
