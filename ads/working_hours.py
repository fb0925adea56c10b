"""Working hours: ``"Mon-Fri 08:00-20:00 Asia/Kolkata"`` -> a start and a stop a day.

Parsed and validated here (clear 400s naming what was found), turned into the two
EventBridge Scheduler cron expressions a lab's working hours need (start at the first
time, stop at the second, on the given days, in the given IANA time zone), and read back
by the local plane's timer, which runs the same schedules (:mod:`ads.local.schedule_timer`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ads.errors import FieldProblem, InvalidInputError

DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
ALLOWED = (
    "'<days> <HH:MM>-<HH:MM> <IANA time zone>', e.g. 'Mon-Fri 08:00-20:00 Asia/Kolkata'; "
    "days as a range (Mon-Fri) or a list (Mon,Wed,Fri), the start before the end"
)
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_CRON = re.compile(r"^cron\((\d{1,2}) (\d{1,2}) \? \* ([A-Z,]+) \*\)$")


@dataclass(frozen=True)
class WorkingHours:
    days: tuple[str, ...]  # MON..SUN, in week order
    start: str  # HH:MM
    end: str
    timezone: str
    spec: str

    def cron(self, which: str) -> str:
        """The cron expression that starts (``"start"``) or stops (``"stop"``) the lab."""
        hh, mm = (self.start if which == "start" else self.end).split(":")
        return f"cron({int(mm)} {int(hh)} ? * {','.join(self.days)} *)"

    def record_field(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "days": list(self.days),
            "start": self.start,
            "end": self.end,
            "timezone": self.timezone,
        }


def _problem(field: str, found: str, allowed: str = ALLOWED) -> InvalidInputError:
    return InvalidInputError(FieldProblem(field, found, allowed), subject="request")


def _day(text: str, field: str) -> int:
    key = text.strip().upper()[:3]
    if len(text.strip()) < 3 or key not in DAYS:
        raise _problem(field, f"day {text!r}", "Mon, Tue, Wed, Thu, Fri, Sat, Sun")
    return DAYS.index(key)


def _days(text: str, field: str) -> tuple[str, ...]:
    chosen: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            first, last = (_day(p, field) for p in part.split("-", 1))
            if last < first:
                raise _problem(field, f"day range {part!r}", "a range from Mon towards Sun")
            chosen.update(range(first, last + 1))
        else:
            chosen.add(_day(part, field))
    return tuple(DAYS[i] for i in sorted(chosen))


def parse_working_hours(spec: str, field: str = "schedule") -> WorkingHours:
    parts = (spec or "").split()
    if len(parts) != 3:
        raise _problem(field, repr(spec))
    days_text, hours_text, zone = parts
    days = _days(days_text, field)
    start, sep, end = hours_text.partition("-")
    for value in (start, end):
        if not _TIME.match(value):
            raise _problem(field, f"time {value!r}", "HH:MM on a 24-hour clock, e.g. 08:00")
    if not sep or start >= end:
        raise _problem(field, f"hours {hours_text!r}", "a start before the end, e.g. 08:00-20:00")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _problem(
            field, f"time zone {zone!r}", "an IANA time zone such as Asia/Kolkata or UTC"
        ) from None
    return WorkingHours(days=days, start=start, end=end, timezone=zone, spec=spec.strip())


def cron_matches(expression: str, timezone: str, moment: datetime) -> bool:
    """Whether one of this module's cron expressions fires in ``moment``'s minute (the
    local plane's timer asks; other expressions are not ours and never match)."""
    match = _CRON.match(expression)
    if not match:
        return False
    local = moment.astimezone(ZoneInfo(timezone or "UTC"))
    minute, hour, days = int(match.group(1)), int(match.group(2)), match.group(3).split(",")
    return local.minute == minute and local.hour == hour and DAYS[local.weekday()] in days
