"""Throttled AWS calls: botocore retries them, the state machine retries what is left.

Two layers, no more. Every client ADS builds carries :data:`RETRIES` (botocore's
``standard`` retry mode: exponential backoff with full jitter, a retry quota shared by the
client's calls), so a throttle that clears within :data:`ATTEMPTS` attempts is never seen
here. What botocore gives up on arrives as a ``ClientError`` with a throttling code;
:func:`throttle_becomes_retry` turns only that into :class:`ProviderThrottled`, the name
the state machines retry with their own, longer backoff. Any other error is the caller's.

The throttling codes are botocore's own list (the one its retry modes classify with), so
what botocore retried as a throttle and what ADS calls a throttle cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ads.providers.base import ProviderThrottled

if TYPE_CHECKING:
    from botocore.config import Config

# Total attempts per call, the first included. Worst case botocore waits 1 + 2 + 4 s
# before giving up, which fits the 30 s step Lambdas several calls over.
ATTEMPTS = 4
RETRIES = {"mode": "standard", "total_max_attempts": ATTEMPTS}


@lru_cache(maxsize=1)
def throttling_codes() -> frozenset[str]:
    """The error codes botocore's retry modes treat as throttling."""
    # Imported here: the module pulls in most of botocore, which a handler that never
    # meets a throttle has no reason to load at import.
    from botocore.retries.standard import ThrottledRetryableChecker

    return frozenset(ThrottledRetryableChecker._THROTTLED_ERROR_CODES)


def client_config(extra: Config | None = None) -> Config:
    """The client configuration with :data:`RETRIES`, merged into ``extra`` (signature,
    addressing...) if given."""
    # Imported here: botocore.config pulls in most of botocore's HTTP stack, which is only
    # needed once a client is built.
    from botocore.config import Config

    retrying = Config(retries=dict(RETRIES))
    return extra.merge(retrying) if extra is not None else retrying


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return str(error.get("Message") or error.get("Code") or exc)


def is_throttling(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) in throttling_codes()


def attempts_made(exc: ClientError) -> int:
    """How many times botocore sent the request (1 when it did not retry)."""
    return 1 + int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts") or 0)


def as_throttled(exc: ClientError, operation: str) -> ProviderThrottled:
    return ProviderThrottled(
        f"{operation} was still throttled after {attempts_made(exc)} attempts "
        f"({error_code(exc)}: {error_message(exc)})",
        operation=operation,
    )


@contextmanager
def throttle_becomes_retry(operation: str) -> Iterator[None]:
    """Re-raise a throttle botocore gave up on as :class:`ProviderThrottled`."""
    try:
        yield
    except ClientError as exc:
        if is_throttling(exc):
            raise as_throttled(exc, operation) from exc
        raise


def call(client: Any, operation: str, **kwargs: Any) -> Any:
    """``client.<operation>(**kwargs)``, a final throttle raised as :class:`ProviderThrottled`."""
    with throttle_becomes_retry(operation):
        return getattr(client, operation)(**kwargs)
