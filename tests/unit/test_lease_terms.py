"""Lease terms and working hours, pure: durations, the maximum and the minimum, 'none'
for admins only, the warning's time, and the working-hours strings with their cron."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ads.errors import InvalidInputError
from ads.lease_terms import LeasePolicy, LeaseRefusedError, describe, lease_for, parse_duration
from ads.working_hours import cron_matches, parse_working_hours

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
POLICY = LeasePolicy(default="8h", maximum="2d", warning="15m", minimum_s=60)


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("2m", timedelta(minutes=2)),
        (" 90s ", timedelta(seconds=90)),
    ],
)
def test_given_a_duration_when_parsed_then_its_length(text, delta):
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["", "4", "h", "0h", "4w", "-1h", "1.5h", "4 hours"])
def test_given_a_bad_duration_when_parsed_then_400_naming_the_field(text):
    with pytest.raises(InvalidInputError) as raised:
        parse_duration(text, "lease")
    assert raised.value.problems[0].path == "lease"


def test_given_a_lease_when_granted_then_it_ends_after_it_and_is_warned_before():
    lease = lease_for("4h", admin=False, policy=POLICY, now=NOW)

    assert lease.expires_at == NOW + timedelta(hours=4)
    assert lease.warn_at == NOW + timedelta(hours=4) - timedelta(minutes=15)


def test_given_a_lease_shorter_than_twice_the_lead_when_granted_then_warned_half_way():
    lease = lease_for("2m", admin=False, policy=POLICY, now=NOW)

    assert lease.warn_at == NOW + timedelta(minutes=1)


def test_given_no_lease_asked_when_granted_then_the_default():
    assert lease_for(None, admin=False, policy=POLICY, now=NOW).requested == "8h"


def test_given_beyond_the_maximum_when_asked_then_refused_naming_it():
    with pytest.raises(LeaseRefusedError) as raised:
        lease_for("3d", admin=True, policy=POLICY, now=NOW)
    assert "2d" in raised.value.message and raised.value.http_status == 403


def test_given_none_when_a_user_asks_then_refused_and_when_an_admin_asks_then_never_expires():
    with pytest.raises(LeaseRefusedError):
        lease_for("none", admin=False, policy=POLICY, now=NOW)
    lease = lease_for("none", admin=True, policy=POLICY, now=NOW)
    assert lease.expires_at is None and lease.warn_at is None


def test_given_below_the_minimum_when_asked_then_400_naming_the_bounds():
    with pytest.raises(InvalidInputError) as raised:
        lease_for("30s", admin=False, policy=POLICY, now=NOW)
    assert "at least 1m" in raised.value.problems[0].allowed


def test_given_durations_when_described_then_the_shortest_exact_form():
    assert [describe(timedelta(seconds=s)) for s in (60, 5400, 7200, 172800, 61)] == [
        "1m",
        "90m",
        "2h",
        "2d",
        "61s",
    ]


def test_given_working_hours_when_parsed_then_days_hours_zone_and_cron():
    hours = parse_working_hours("Mon-Fri 08:00-20:00 Asia/Kolkata")

    assert hours.days == ("MON", "TUE", "WED", "THU", "FRI")
    assert hours.cron("start") == "cron(0 8 ? * MON,TUE,WED,THU,FRI *)"
    assert hours.cron("stop") == "cron(0 20 ? * MON,TUE,WED,THU,FRI *)"
    assert parse_working_hours("sat,Mon 09:30-17:15 UTC").days == ("MON", "SAT")


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "Mon-Fri 08:00-20:00",
        "Fri-Mon 08:00-20:00 UTC",
        "Mon-Fri 8:00-20:00 UTC",
        "Mon-Fri 08:00-24:00 UTC",
        "Mon-Fri 20:00-08:00 UTC",
        "Mon-Fri 08:00 UTC",
        "Mon-Fri 08:00-20:00 Nowhere/Town",
        "Xyz 08:00-20:00 UTC",
    ],
)
def test_given_bad_working_hours_when_parsed_then_400_naming_schedule(spec):
    with pytest.raises(InvalidInputError) as raised:
        parse_working_hours(spec)
    assert raised.value.problems[0].path == "schedule"


def test_given_a_cron_when_matched_then_in_its_time_zone():
    # 02:30 UTC on Monday is 08:00 in Asia/Kolkata.
    moment = datetime(2026, 11, 30, 2, 30, tzinfo=UTC)
    assert cron_matches("cron(0 8 ? * MON *)", "Asia/Kolkata", moment)
    assert not cron_matches("cron(0 8 ? * MON *)", "UTC", moment)
    assert not cron_matches("rate(5 minutes)", "UTC", moment)
