"""Lease terms: how long a lab may live, and when its owner is warned.

Pure rules, no AWS: a duration is written ``30m``, ``4h``, ``2d`` (``s`` for seconds is
accepted where the configuration's minimum allows it); ``none`` asks for no expiry,
which only admins may. The configuration gives the default, the maximum, the minimum
and the warning's lead time. A renewal counts from now and stays within the maximum.

The lease is not the record's ``expires_at``: that attribute is the DynamoDB TTL that
removes a DESTROYED record after its retention, and a live lab never carries it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ads.errors import AdsError, FieldProblem, InvalidInputError
from ads.lab_record import iso

NO_EXPIRY = "none"
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhd])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_ALLOWED = "a duration such as 30m, 4h or 2d (a number then s, m, h or d)"


class LeaseRefusedError(AdsError):
    """A lease the caller may not have: beyond the maximum, or no expiry for a non-admin."""

    code = "lease_refused"
    http_status = 403


def parse_duration(text: str, field: str = "lease") -> timedelta:
    """``"4h"`` -> 4 hours; anything else is a 400 naming ``field``."""
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise InvalidInputError(
            FieldProblem(field, repr(text), DURATION_ALLOWED), subject="request"
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2)])


def duration_seconds(text: str) -> int:
    """A configuration value's seconds (the config model validates with this)."""
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError(DURATION_ALLOWED)
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def describe(delta: timedelta) -> str:
    """4h, 2d, 90m: the shortest exact way to write a duration."""
    seconds = int(delta.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNIT_S[unit] == 0:
            return f"{seconds // _UNIT_S[unit]}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class LeasePolicy:
    """What the configuration allows (from :class:`ads.config.AdsConfig`)."""

    default: str
    maximum: str
    warning: str
    minimum_s: int

    @classmethod
    def from_config(cls, config: Any) -> LeasePolicy:
        return cls(
            default=config.lease_default,
            maximum=config.lease_max,
            warning=config.lease_warning,
            minimum_s=config.lease_min_s,
        )

    @property
    def max_delta(self) -> timedelta:
        return parse_duration(self.maximum, "ADS_LEASE_MAX")


@dataclass(frozen=True)
class Lease:
    """A lab's lease: ``expires_at`` None means it never expires (an admin's choice)."""

    requested: str
    expires_at: datetime | None
    warn_at: datetime | None

    def record_field(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "expires_at": iso(self.expires_at) if self.expires_at else None,
            "warn_at": iso(self.warn_at) if self.warn_at else None,
        }


def _warn_at(expires_at: datetime, duration: timedelta, warning: str) -> datetime:
    # A lease shorter than twice the lead time is warned at its half-way point.
    lead = min(parse_duration(warning, "ADS_LEASE_WARNING"), duration / 2)
    return expires_at - lead


def lease_for(
    requested: str | None, *, admin: bool, policy: LeasePolicy, now: datetime, field: str = "lease"
) -> Lease:
    """The lease a request gets: ``requested`` (or the default), checked against the policy."""
    text = (requested or policy.default).strip().lower()
    if text == NO_EXPIRY:
        if not admin:
            raise LeaseRefusedError(
                f"{field}: found 'none'; only admins may ask for a lab that never expires; "
                f"allowed: a duration up to the maximum of {policy.maximum}",
                maximum=policy.maximum,
            )
        return Lease(requested=NO_EXPIRY, expires_at=None, warn_at=None)
    duration = parse_duration(text, field)
    if duration.total_seconds() < policy.minimum_s:
        raise InvalidInputError(
            FieldProblem(
                field,
                repr(text),
                f"at least {describe(timedelta(seconds=policy.minimum_s))} "
                f"and at most {policy.maximum}",
            ),
            subject="request",
        )
    if duration > policy.max_delta:
        raise LeaseRefusedError(
            f"{field}: found {text!r}, beyond the maximum lease of {policy.maximum}; "
            f"allowed: a duration up to {policy.maximum}"
            + (" (admins may also ask for 'none')" if admin else ""),
            maximum=policy.maximum,
        )
    expires_at = now + duration
    return Lease(
        requested=text,
        expires_at=expires_at,
        warn_at=_warn_at(expires_at, duration, policy.warning),
    )
