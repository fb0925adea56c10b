"""What a handler builds once per container: its clients, built on first use, once.

``functools.lru_cache`` computes outside any lock: when many threads miss at once (the
local control plane runs handlers on many threads, and a burst of requests reaches a
cold handler together) each builds its own value, so one burst built N sets of boto3
clients, each from boto3's default session, which is not thread-safe either. A value
here is built by one thread while the others asking for the same key wait for it.
(cachetools' locks guard the cache, not the computation, and it is not a dependency.)
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable
from typing import Generic, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class BuiltOnce(Generic[P, T]):
    """``factory`` called once per distinct arguments, the answer kept (the newest
    ``maxsize`` of them: a local plane started again brings a new configuration)."""

    def __init__(self, factory: Callable[P, T], maxsize: int) -> None:
        self._factory = factory
        self._maxsize = maxsize
        self._values: dict[Hashable, T] = {}
        self._lock = threading.Lock()
        functools.update_wrapper(self, factory)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        key = (args, tuple(sorted(kwargs.items())))
        try:
            return self._values[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._values:
                value = self._factory(*args, **kwargs)
                while len(self._values) >= self._maxsize:
                    del self._values[next(iter(self._values))]
                self._values[key] = value
            return self._values[key]

    def cache_clear(self) -> None:
        with self._lock:
            self._values.clear()


def built_once(maxsize: int = 4) -> Callable[[Callable[P, T]], BuiltOnce[P, T]]:
    """Decorator: the function's answer for given arguments is built once, thread-safely."""

    def wrap(factory: Callable[P, T]) -> BuiltOnce[P, T]:
        return BuiltOnce(factory, maxsize)

    return wrap


class LazyParts:
    """Parts of an object built on first use, each once, under one lock (a handler
    builds only the clients its logic reads)."""

    def __init__(self) -> None:
        self._parts: dict[str, object] = {}
        self._parts_lock = threading.RLock()

    def _part(self, name: str, build: Callable[[], T]) -> T:
        try:
            return self._parts[name]  # type: ignore[return-value]
        except KeyError:
            pass
        with self._parts_lock:
            if name not in self._parts:
                self._parts[name] = build()
            return self._parts[name]  # type: ignore[return-value]
