"""The local plane's schedule for the health watch: runs on its interval, one at a time,
survives a failing run, and stops."""

from __future__ import annotations

import threading
import time

import pytest

from ads.local.watch_timer import WatchTimer


def test_given_a_timer_when_its_interval_passes_then_the_handler_runs_with_a_scheduled_event():
    events: list[dict] = []
    ran = threading.Event()

    def invoke(event: dict) -> None:
        events.append(event)
        if len(events) >= 2:
            ran.set()

    timer = WatchTimer(invoke, 0.02).start()
    try:
        assert ran.wait(5)
    finally:
        timer.stop()
    assert events[0]["detail-type"] == "Scheduled Event"


def test_given_a_failing_run_when_the_timer_ticks_again_then_it_runs_again_and_reports_the_error():
    errors: list[str] = []
    calls: list[int] = []
    again = threading.Event()

    def invoke(_event: dict) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("table unavailable")
        again.set()

    timer = WatchTimer(invoke, 0.02, on_error=errors.append).start()
    try:
        assert again.wait(5)
    finally:
        timer.stop()
    assert "table unavailable" in errors[0]


def test_given_a_stopped_timer_when_time_passes_then_nothing_runs():
    calls: list[int] = []
    timer = WatchTimer(lambda _event: calls.append(1), 0.05).start()
    timer.stop()
    time.sleep(0.15)

    assert calls == []


def test_given_no_interval_when_built_then_refused():
    with pytest.raises(ValueError, match="interval_s"):
        WatchTimer(lambda _event: None, 0)
