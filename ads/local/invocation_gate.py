"""Who runs when in the local plane: API requests one at a time and first, workflow steps after.

**One API invocation at a time.** On AWS each Lambda execution environment handles one
event at a time, and the ``api`` handler relies on it: Powertools' REST resolver keeps
the event being resolved in class-level state (``BaseRouter.current_event``) and the
route arguments in one shared dict, and its validation, the route and the response all
read them from there. Two requests resolved at once in one process read each other's
body, headers, path and caller: a POST ran with another request's Idempotency-Key (and
answered 409 ``request_in_progress`` for its own, unused key), and a request could act
with another caller's identity. The local plane is one such environment, so its API
invocations take turns, as a function with a reserved concurrency of 1 would.

**API first.** Requests, workflow steps and the Step Functions interpreter share one
Python interpreter. Fifty POSTs answered together would otherwise share it with the
steps of the labs accepted a moment earlier, and each POST would wait for them all. A
workflow invocation therefore waits while API requests are waiting or running, for at
most ``max_yield_s`` at a time so that steady API traffic cannot starve the workflows.
The bound is long enough for a burst of a hundred requests to be answered before the
steps of its labs start their builds (with 2 s, the builds of the first labs took the
CPU from the last requests of such a burst), and well inside the shortest Lambda task
timeout of the state machines (60 s), which the wait counts against.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

DEFAULT_MAX_YIELD_S = 10.0


class InvocationGate:
    """Admits API invocations one at a time, ahead of workflow invocations."""

    def __init__(self, max_yield_s: float = DEFAULT_MAX_YIELD_S) -> None:
        if max_yield_s < 0:
            raise ValueError(f"max_yield_s: found {max_yield_s}; allowed: 0 or more")
        self.max_yield_s = max_yield_s
        self._api_turn = threading.Lock()
        self._cond = threading.Condition()
        self._api_demand = 0  # API invocations waiting for their turn or running

    @contextlib.contextmanager
    def api(self) -> Iterator[None]:
        """The block runs alone among API invocations, with workflow invocations held back."""
        with self._cond:
            self._api_demand += 1
        try:
            with self._api_turn:
                yield
        finally:
            with self._cond:
                self._api_demand -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def workflow(self) -> Iterator[None]:
        """Enter once no API invocation is waiting or running (or ``max_yield_s`` passed)."""
        deadline = time.monotonic() + self.max_yield_s
        with self._cond:
            while self._api_demand:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        yield

    @property
    def api_demand(self) -> int:
        with self._cond:
            return self._api_demand
