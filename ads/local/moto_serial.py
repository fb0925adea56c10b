"""One moto backend call at a time: moto's backends are plain dicts, not built for threads.

The local plane serves API requests in parallel and moto runs every Step Functions
execution in a thread of its own, so calls reach moto's backends concurrently. Two
writes to one DynamoDB item at once (the API storing ``destroy_execution_arn`` while
DestroyLab's Mark Destroyed step updates the status) made moto serialise an item whose
attributes another thread was adding to: ``RuntimeError: dictionary changed size during
iteration``, a failed workflow step, a lab left DESTROYING.

Each backend call is short (microseconds to milliseconds), so holding one lock across
them costs little. Lambda ``Invoke`` is the exception: it runs a whole workflow handler
in-process (provider work, seconds), and that handler's own AWS calls take the lock one
by one. The lock is re-entrant because such nested calls happen on the same thread.

The record store (:mod:`ads.local.record_store`) takes the same lock to read an item it
persists straight from the emulated table, so no write can slip in between.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ads.local.patching import patch

# moto's names for the Lambda service (its response classes use "awslambda").
UNSERIALISED_SERVICES = frozenset({"awslambda", "lambda"})

_backend_lock = threading.RLock()


def backend_lock() -> threading.RLock:
    """The lock every serialised moto backend call holds (re-entrant)."""
    return _backend_lock


def _serialised(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def call_action(response: Any) -> Any:
        if getattr(response, "service_name", None) in UNSERIALISED_SERVICES:
            return original(response)
        with _backend_lock:
            return original(response)

    call_action.__wrapped__ = original  # type: ignore[attr-defined]
    return call_action


def install() -> Callable[[], None]:
    """Serialise moto's backend calls (process-wide); returns the undo action."""
    from moto.core.responses import BaseResponse

    return patch(BaseResponse, "call_action", _serialised(BaseResponse.call_action))
