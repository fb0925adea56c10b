"""Who runs first in the local plane: API requests ahead of workflow steps.

**API requests at once.** On AWS each Lambda execution environment handles one event at
a time, and concurrent requests run in environments of their own. The local plane runs
them in parallel threads of one process, so what the ``api`` handler keeps per request
must be per thread: Powertools' REST resolver keeps the event being resolved in
class-level state (``BaseRouter.current_event``) and the route arguments in one shared
dict, which :mod:`ads.local.resolver_state` makes per thread; moto's backends take one
call at a time (:mod:`ads.local.moto_serial`). Nothing here holds one request back for
another.

**API first.** Requests, workflow steps and the Step Functions interpreter share one
Python interpreter. Fifty POSTs answered together would otherwise share it with the
steps of the labs accepted a moment earlier, and each POST would wait for them all. A
workflow invocation therefore waits while API requests are running, for at most
``max_yield_s`` at a time so that steady API traffic cannot starve the workflows. The
bound is long enough for a burst of a hundred requests to be answered before the steps
of its labs start their builds (with 2 s, the builds of the first labs took the CPU
from the last requests of such a burst), and well inside the shortest Lambda task
timeout of the state machines (60 s), which the wait counts against.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

DEFAULT_MAX_YIELD_S = 10.0


class InvocationGate:
    """Admits API invocations at once, ahead of workflow invocations."""

    def __init__(self, max_yield_s: float = DEFAULT_MAX_YIELD_S) -> None:
        if max_yield_s < 0:
            raise ValueError(f"max_yield_s: found {max_yield_s}; allowed: 0 or more")
        self.max_yield_s = max_yield_s
        self._cond = threading.Condition()
        self._api_demand = 0  # API invocations running

    @contextlib.contextmanager
    def api(self) -> Iterator[None]:
        """The block runs at once, with workflow invocations held back meanwhile."""
        with self._cond:
            self._api_demand += 1
        try:
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
