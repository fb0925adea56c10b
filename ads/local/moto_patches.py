"""The changes the local plane makes to moto and botocore while it runs (process-wide).

* moto's Lambda ``invoke`` is routed to the in-process handlers of the running plane.
* moto's Step Functions retrier sleeps ``time_scale`` times the ASL's intervals.
* Every AWS call a handler makes is counted for the lab it works for, and every write
  to the labs table is persisted by the plane's record store (when it has one).

:func:`install` returns the undo actions; the plane runs them when it stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ads.local.record_store import WRITE_OPERATIONS, keys_written
from ads.local.usage import scope

if TYPE_CHECKING:
    from ads.local.runtime import LocalControlPlane


class ScaledTime:
    """Stands in for the ``time`` module inside moto's retrier: retry waits are scaled."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) * self.scale)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _dispatching_invoke(
    original: Callable[..., Any], active: Callable[[], LocalControlPlane | None]
) -> Callable[..., Any]:
    def invoke(
        backend: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> Any:
        plane = active()
        name = function_name.split(":function:")[-1].split(":")[0]
        handler = plane.handler_named(name) if plane is not None else None
        if plane is None or handler is None:
            return original(backend, function_name, qualifier, body, headers, response_headers)
        return plane.lambdas.invoke_in_process(handler, body, response_headers)

    return invoke


def _observed_api_call(
    original: Callable[..., Any], active: Callable[[], LocalControlPlane | None]
) -> Callable[..., Any]:
    def _make_api_call(client: Any, operation_name: str, api_params: Any) -> Any:
        if scope.internal:
            return original(client, operation_name, api_params)
        service = client.meta.service_model.service_name
        if scope.ledger is not None and scope.lab_id is not None:
            scope.ledger.add_api_call(scope.lab_id, service, operation_name)
        result = original(client, operation_name, api_params)
        plane = active()
        store = plane.record_store if plane is not None else None
        if store is not None and service == "dynamodb" and operation_name in WRITE_OPERATIONS:
            keys = keys_written(store.table_name, operation_name, api_params)
            if keys:
                store.capture(keys)
        return result

    return _make_api_call


def install(plane: LocalControlPlane, active: Callable[[], LocalControlPlane | None]) -> list:
    """Patch moto and botocore for ``plane``; returns the undo actions, in install order."""
    import botocore.client
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    undo: list[Callable[[], None]] = []
    original_invoke = LambdaSimpleBackend.invoke
    LambdaSimpleBackend.invoke = _dispatching_invoke(original_invoke, active)
    undo.append(lambda: setattr(LambdaSimpleBackend, "invoke", original_invoke))

    original_time = retrier_decl.time
    retrier_decl.time = ScaledTime(plane.time_scale)
    undo.append(lambda: setattr(retrier_decl, "time", original_time))

    original_call = botocore.client.BaseClient._make_api_call
    botocore.client.BaseClient._make_api_call = _observed_api_call(original_call, active)
    undo.append(lambda: setattr(botocore.client.BaseClient, "_make_api_call", original_call))
    return undo
