"""The local plane's EventBridge Scheduler: fires the labs' schedules when they are due.

moto stores the schedules the API and the workflows create (``ads.lab_schedules``) but
never runs them. This timer does, in the plane's process: each tick it lists the ADS
group's schedules, and invokes the target of each one that is due through the same
dispatcher as every other handler, with the schedule's input. Like Scheduler, a one-time
``at(...)`` schedule fires once and is deleted after (ActionAfterCompletion DELETE); a
``cron(...)`` schedule fires in each minute it names, in its time zone (the forms
:mod:`ads.working_hours` writes). The clock is injectable: tests move time instead of
waiting for it.

A listing's summaries carry no expression, so each schedule's details are read with
GetSchedule, once per version: a schedule is read again when its creation or last
modification date in the listing changed (a renewal updates it), not at every tick: with
fifty labs, a hundred GetSchedule calls through moto each second otherwise.
"""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ads.lab_record import utc_now
from ads.lab_schedules import parse_at
from ads.working_hours import cron_matches

TIMER_HANDLER = "lab_timer"
RUN_TIMEOUT_S = 60.0
DEFAULT_TICK_S = 1.0


class ScheduleTimer:
    """Fires the due schedules of ``group`` (a boto3 ``scheduler`` client's view)."""

    def __init__(
        self,
        scheduler: Any,
        group: str,
        invoke: Callable[[dict[str, Any]], Any],
        *,
        tick_s: float = DEFAULT_TICK_S,
        clock: Callable[[], datetime] = utc_now,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._scheduler = scheduler
        self._group = group
        self._invoke = invoke
        self._tick = tick_s
        self._clock = clock
        self._on_error = on_error or (lambda _text: None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last = clock()
        self.fired: list[str] = []
        # name -> (its (CreationDate, LastModificationDate) when read, GetSchedule's answer)
        self._details: dict[str, tuple[tuple[Any, Any], dict[str, Any]]] = {}

    def start(self) -> ScheduleTimer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="ads-schedules", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = RUN_TIMEOUT_S) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self.run_due()
            except Exception:  # the next tick tries again; the plane keeps serving
                self._on_error(traceback.format_exc())

    def _schedules(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {"GroupName": self._group, "State": "ENABLED"}
        while True:
            page = self._scheduler.list_schedules(**request)
            found.extend(page.get("Schedules", []))
            if not page.get("NextToken"):
                return found
            request["NextToken"] = page["NextToken"]

    def _details_of(self, summary: dict[str, Any]) -> dict[str, Any]:
        name = summary["Name"]
        version = (summary.get("CreationDate"), summary.get("LastModificationDate"))
        known = self._details.get(name)
        if known is not None and None not in version and known[0] == version:
            return known[1]
        schedule = self._scheduler.get_schedule(Name=name, GroupName=self._group)
        self._details[name] = (version, schedule)
        return schedule

    def _due(self, schedule: dict[str, Any], since: datetime, now: datetime) -> bool:
        expression = schedule["ScheduleExpression"]
        moment = parse_at(expression)
        if moment is not None:
            return moment <= now
        # Each minute boundary in (since, now]: a tick never skips or repeats a minute.
        minute = since.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while minute <= now:
            if cron_matches(expression, schedule.get("ScheduleExpressionTimezone", "UTC"), minute):
                return True
            minute += timedelta(minutes=1)
        return False

    def run_due(self) -> list[str]:
        """Fire every schedule due since the last run; the names fired."""
        since, now = self._last, self._clock()
        self._last = now
        fired = []
        summaries = self._schedules()
        listed = {summary["Name"] for summary in summaries}
        for name in [name for name in self._details if name not in listed]:
            del self._details[name]
        for summary in summaries:
            name = summary["Name"]
            schedule = self._details_of(summary)
            if not self._due(schedule, since, now):
                continue
            if schedule.get("ActionAfterCompletion") == "DELETE":
                # Deleted before its target runs: a renewal made while it runs is kept.
                self._scheduler.delete_schedule(Name=name, GroupName=self._group)
                self._details.pop(name, None)
            try:
                self._invoke(json.loads(schedule["Target"].get("Input") or "{}"))
            except Exception:  # Scheduler would retry; here the next lab's schedule goes on
                self._on_error(traceback.format_exc())
            fired.append(name)
        self.fired.extend(fired)
        return fired
