"""The local control plane's timers: what EventBridge rules and Scheduler fire on AWS.

Four timers, each started by the daemon once recovery has run and stopped with the
plane: the health watch (``ADS_WATCH_INTERVAL_S``), the sweep (``ADS_SWEEP_INTERVAL_S``,
applied) and the labs' EventBridge Scheduler schedules (leases, working hours), each
running its handler through the plane's in-process Lambda dispatch; and DynamoDB's TTL
(``ADS_LOCAL_TTL_INTERVAL_S``, :mod:`ads.local.table_ttl`), which is no Lambda's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ads.local.plane_resources import SCHEDULE_GROUP

if TYPE_CHECKING:
    from ads.local.runtime import LocalControlPlane


class PlaneTimers:
    """The health watch, sweep and lab schedule timers of one local control plane."""

    def __init__(self, plane: LocalControlPlane):
        self._plane = plane
        # The health watch's timer (ads.local.watch_timer), once start_health_watch ran.
        self._watch_timer: Any = None
        # The labs' schedules' timer (ads.local.schedule_timer), once start_lab_schedules ran.
        self._schedule_timer: Any = None
        # The sweep's timer (ads.local.watch_timer.WatchTimer), once start_sweep ran.
        self._sweep_timer: Any = None
        # DynamoDB's TTL (a WatchTimer over ads.local.table_ttl), once start_ttl ran.
        self._ttl_timer: Any = None

    def start_health_watch(self) -> bool:
        """Run the health watch's handler every ``ADS_WATCH_INTERVAL_S`` (unless
        ``ADS_WATCH_ENABLED`` is false)."""
        from ads.local.watch_timer import RUN_TIMEOUT_S, WATCH_HANDLER, WatchTimer

        plane = self._plane
        if not plane.started or self._watch_timer is not None or not plane.config.watch_enabled:
            return False
        self._watch_timer = WatchTimer(
            lambda event: plane.lambdas.invoke_scheduled(WATCH_HANDLER, event, RUN_TIMEOUT_S),
            plane.config.watch_interval_s,
            on_error=_report_watch_error,
        ).start()
        return True

    def start_sweep(self) -> bool:
        """Run the sweep (applied) every ``ADS_SWEEP_INTERVAL_S`` unless ADS_SWEEP_ENABLED
        is false."""
        from ads.local.watch_timer import RUN_TIMEOUT_S, WatchTimer

        plane = self._plane
        if not plane.started or self._sweep_timer is not None or not plane.config.sweep_enabled:
            return False
        self._sweep_timer = WatchTimer(
            lambda event: plane.lambdas.invoke_scheduled(
                "sweep", {**event, "apply": True}, RUN_TIMEOUT_S
            ),
            plane.config.sweep_interval_s,
            on_error=_report_sweep_error,
            name="ads-sweep",
        ).start()
        return True

    def start_ttl(self) -> bool:
        """Delete the labs table's expired items every ``ADS_LOCAL_TTL_INTERVAL_S``."""
        import time

        from ads.local.runtime import TABLE_NAME
        from ads.local.table_ttl import expire_items
        from ads.local.watch_timer import WatchTimer

        plane = self._plane
        if not plane.started or self._ttl_timer is not None:
            return False
        client = plane.client("dynamodb")
        self._ttl_timer = WatchTimer(
            lambda _event: expire_items(client, TABLE_NAME, time.time()),
            plane.config.local_ttl_interval_s,
            on_error=_report_ttl_error,
            name="ads-ttl",
        ).start()
        return True

    def start_lab_schedules(self, clock: Callable[[], Any] | None = None) -> bool:
        """Fire the labs' EventBridge Scheduler schedules when due (leases, working
        hours). ``clock``: tests move time."""
        from ads.lab_record import utc_now
        from ads.local.schedule_timer import RUN_TIMEOUT_S, TIMER_HANDLER, ScheduleTimer

        plane = self._plane
        if not plane.started or self._schedule_timer is not None:
            return False
        from ads.lab_schedules import schedules_for
        from ads.leases import restore_schedules

        schedules = schedules_for(plane.config)
        if schedules is not None:
            # Records restored from the records file come back without their schedules.
            restore_schedules(plane.repository(), schedules)
        self._schedule_timer = ScheduleTimer(
            plane.client("scheduler"),
            SCHEDULE_GROUP,
            lambda event: plane.lambdas.invoke_scheduled(TIMER_HANDLER, event, RUN_TIMEOUT_S),
            clock=clock or utc_now,
            on_error=_report_schedule_error,
        ).start()
        return True

    def stop(self) -> None:
        """Stop every timer that was started (each may be started again afterwards)."""
        if self._watch_timer is not None:
            self._watch_timer.stop()
            self._watch_timer = None
        if self._schedule_timer is not None:
            self._schedule_timer.stop()
            self._schedule_timer = None
        if self._sweep_timer is not None:
            self._sweep_timer.stop()
            self._sweep_timer = None
        if self._ttl_timer is not None:
            self._ttl_timer.stop()
            self._ttl_timer = None


def _report_schedule_error(text: str) -> None:
    sys.stderr.write(f"ads-local: a lab schedule failed: {text}")


def _report_sweep_error(text: str) -> None:
    sys.stderr.write(f"ads-local: the sweep failed: {text}")


def _report_ttl_error(text: str) -> None:
    sys.stderr.write(f"ads-local: deleting expired items failed: {text}")


def _report_watch_error(text: str) -> None:
    sys.stderr.write(f"ads-local: the health watch failed: {text}")
