"""The local plane's schedule: the health watch's handler every ``ADS_WATCH_INTERVAL_S``.

On AWS an EventBridge schedule invokes ``watch_labs``; locally this timer does, in the
plane's process, through the same dispatcher as every other handler (counted, and held
back while API requests wait). The agents it asks answer on 127.0.0.1. One run at a
time: a run that outlasts the interval delays the next instead of overlapping it, as
the watcher Lambda's reserved concurrency of 1 does on AWS.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

WATCH_HANDLER = "watch_labs"
# What a run may take locally (the watcher Lambda's timeout on AWS).
RUN_TIMEOUT_S = 60.0


class WatchTimer:
    """Calls ``invoke(event)`` every ``interval_s`` seconds on a daemon thread until stopped."""

    def __init__(
        self,
        invoke: Callable[[dict[str, Any]], Any],
        interval_s: float,
        *,
        on_error: Callable[[str], None] | None = None,
        name: str = "ads-health-watch",
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s: found {interval_s}; allowed: more than 0")
        self._invoke = invoke
        self._interval = interval_s
        self._on_error = on_error or (lambda _text: None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._name = name  # the thread's (the sweep's timer is one of these too)
        self.runs = 0

    def start(self) -> WatchTimer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = RUN_TIMEOUT_S) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._invoke({"source": "ads.local", "detail-type": "Scheduled Event"})
            except Exception:  # the next tick tries again; the plane keeps serving
                self._on_error(traceback.format_exc())
            self.runs += 1
