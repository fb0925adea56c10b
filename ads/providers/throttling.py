"""Bounded exponential backoff with full jitter for throttled AWS calls.

Only throttling is retried here: any other client error is the caller's to handle, and
a call still throttled after the last attempt becomes :class:`ProviderThrottled`, which
the state machine retries with its own, longer backoff.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from ads.providers.base import ProviderThrottled

T = TypeVar("T")

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Message") or error.get("Code") or exc)


def is_throttling(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) in THROTTLING_CODES


@dataclass
class Backoff:
    """How to wait between attempts. ``sleep`` and ``rand`` are injectable for tests."""

    attempts: int = 5
    base_s: float = 0.2
    cap_s: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    rand: Callable[[], float] = field(default=random.random)

    def delay(self, attempt: int) -> float:
        # Full jitter: a uniform wait up to the exponential ceiling spreads retrying callers.
        return self.rand() * min(self.cap_s, self.base_s * (2**attempt))

    def call(self, operation: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        for attempt in range(self.attempts):
            try:
                return fn(*args, **kwargs)
            except ClientError as exc:
                if not is_throttling(exc):
                    raise
                if attempt == self.attempts - 1:
                    raise ProviderThrottled(
                        f"{operation} was throttled {self.attempts} times "
                        f"({error_code(exc)}: {error_message(exc)})",
                        operation=operation,
                    ) from exc
                self.sleep(self.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover
