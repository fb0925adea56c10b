"""Powertools' REST resolver with its request state per thread, for the local plane.

On AWS one Lambda execution environment handles one event at a time, and Powertools'
resolver relies on it: ``resolve`` stores the event in a class attribute
(``BaseRouter.current_event``, and ``lambda_context`` beside it), and the route found,
its arguments and the middleware frames live in one dict and one list of the resolver
(``context``, ``processed_stack_frames``). The ``api`` handler and its middlewares read
all of them while they answer. The local plane answers many requests at once in one
process, each in a thread of the HTTP server: without this module one request would be
validated and served with another's body, headers, path and caller.

:func:`install` gives every REST resolver (``ApiGatewayResolver`` and its subclasses)
these four attributes per thread: a data descriptor on the class shadows the class
attribute and the instance's dict, and ``resolve`` sets the thread's event before it
runs Powertools' own ``resolve`` and forgets it after. What that ``resolve`` still
writes to ``BaseRouter``'s class attribute no resolver reads any more.

Only the local plane installs it; on Lambda the handler runs unchanged.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from ads.local.patching import patch, undo_all

# The resolver's attributes that hold the request being resolved, with what a thread
# that has not resolved anything yet finds (None: the attribute is not set).
_PER_REQUEST: dict[str, Callable[[], Any] | None] = {
    "current_event": None,
    "lambda_context": None,
    "context": dict,
    "processed_stack_frames": list,
}
# Those Powertools keeps on the resolver itself (the others on ``BaseRouter``).
_INSTANCE_ATTRIBUTES = frozenset({"context", "processed_stack_frames"})
_INSTALLED_MARK = "_ads_per_thread_state"


class _ThreadState(threading.local):
    def __init__(self) -> None:
        # (id of the resolver, attribute) -> value, for this thread only.
        self.values: dict[tuple[int, str], Any] = {}


_state = _ThreadState()


class PerThreadAttribute:
    """A resolver attribute whose value belongs to the thread that set it."""

    def __init__(self, name: str, default: Callable[[], Any] | None) -> None:
        self.name = name
        self.default = default

    def __get__(self, resolver: Any, owner: type | None = None) -> Any:
        if resolver is None:
            return self
        key = (id(resolver), self.name)
        values = _state.values
        if key not in values:
            if self.default is None:
                raise AttributeError(f"{self.name}: no request is being resolved in this thread")
            values[key] = self.default()
        return values[key]

    def __set__(self, resolver: Any, value: Any) -> None:
        _state.values[(id(resolver), self.name)] = value
        if self.name in _INSTANCE_ATTRIBUTES:
            # Kept where Powertools keeps it too, so that a resolver built while this is
            # installed (the api handler's, imported by the plane) still works once it is
            # undone; no thread reads it meanwhile.
            resolver.__dict__[self.name] = value

    def __delete__(self, resolver: Any) -> None:
        _state.values.pop((id(resolver), self.name), None)


def _forget(resolver: Any) -> None:
    for name in _PER_REQUEST:
        _state.values.pop((id(resolver), name), None)


def _begin(resolver: Any, event: Any, context: Any) -> None:
    from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

    raw = event.raw_event if isinstance(event, BaseProxyEvent) else event
    resolver.current_event = resolver._to_proxy_event(raw)
    resolver.lambda_context = context


def _per_thread_resolve(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def resolve(self: Any, event: Any, context: Any) -> Any:
        _begin(self, event, context)
        try:
            return original(self, event, context)
        finally:
            _forget(self)

    return resolve


def _per_thread_resolve_async(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def resolve_async(self: Any, event: Any, context: Any) -> Any:
        _begin(self, event, context)
        try:
            return await original(self, event, context)
        finally:
            _forget(self)

    return resolve_async


def install() -> Callable[[], None]:
    """Give REST resolvers per-thread request state (process-wide); returns the undo action.

    Installing again while installed changes nothing (and its undo neither).
    """
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

    if ApiGatewayResolver.__dict__.get(_INSTALLED_MARK):
        return lambda: None
    resolve, resolve_async = ApiGatewayResolver.resolve, ApiGatewayResolver.resolve_async
    return undo_all(
        [
            *(
                patch(ApiGatewayResolver, name, PerThreadAttribute(name, default))
                for name, default in _PER_REQUEST.items()
            ),
            patch(ApiGatewayResolver, "resolve", _per_thread_resolve(resolve)),
            patch(ApiGatewayResolver, "resolve_async", _per_thread_resolve_async(resolve_async)),
            patch(ApiGatewayResolver, _INSTALLED_MARK, True),
        ]
    )
