"""When and how often the CLI repeats a request the endpoint did not answer properly.

botocore's retry modes serve botocore clients; the CLI speaks plain HTTP (urllib) to
API Gateway or the local plane, so the same policy is applied here: capped exponential
backoff with full jitter, only for failures that a repeat can cure, and only for
requests that are safe to repeat (reads, destroys, and deploys that carry an
Idempotency-Key, which the CLI always sends).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

# Answers that mean "not now" rather than "no": throttling, a gateway or integration
# that failed or timed out, and (POST /labs) the same Idempotency-Key still in flight.
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
IN_PROGRESS_ERROR = "request_in_progress"
QUOTA_EXCEEDED_ERROR = "quota_exceeded"

# The wait between attempts, replaced by tests.
_sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_s: float = 1.0
    cap_s: float = 10.0

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        return rand() * min(self.cap_s, self.base_s * 2 ** (retry - 1))


def is_transient(status: int | None, error_code: str | None, failure: str | None) -> bool:
    """Whether a repeat may succeed: no answer in time or a reset connection (``failure``),
    or one of the "not now" answers. A refused connection is not: nothing listens."""
    if status is None:
        return failure in ("timeout", "reset")
    if status == 409:
        return error_code == IN_PROGRESS_ERROR
    if status == 429 and error_code == QUOTA_EXCEEDED_ERROR:
        return False  # a quota, not throttling: a repeat is refused the same way
    return status in RETRIED_STATUSES


def call_with_retries(
    attempt: Callable[[], T],
    should_retry: Callable[[Exception], bool],
    *,
    policy: RetryPolicy,
    on_retry: Callable[[Exception, int, float], None],
    sleep: Callable[[float], None] | None = None,
) -> T:
    """``attempt()`` until it returns, or raises something not worth a retry, or the
    policy's attempts are spent (the last error is raised)."""
    for number in range(1, policy.attempts + 1):
        try:
            return attempt()
        except Exception as exc:
            if number >= policy.attempts or not should_retry(exc):
                raise
            wait = policy.delay(number)
            on_retry(exc, number + 1, wait)
            (sleep or _sleep)(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")
