"""The changes the local plane makes to moto and botocore while it runs (process-wide).

* moto's Lambda ``invoke`` is routed to the in-process handlers of the running plane.
* moto's Step Functions retrier sleeps ``time_scale`` times the ASL's intervals.
* Every AWS call a handler makes is counted for the lab it works for, and every write
  to the labs table is persisted by the plane's record store (when it has one).
* moto's execution worker parses a state machine's definition once, not per execution;
  its interpreter parses each JSONPath once and shares one boto3 client per service
  (:mod:`ads.local.moto_sfn_eval`).
* A cancelled DynamoDB transaction is rolled back item by item instead of from a copy of
  every table it names (:mod:`ads.local.moto_transactions`).
* moto keeps no list of every model object it made (:mod:`ads.local.moto_tracking`).
* ``SendTaskFailure`` keeps its ``cause``: moto's response drops it, and a failed
  install's output is what Await Init's failure carries.

:func:`install` returns the undo actions; the plane runs them when it stops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ads.local import (
    moto_dynamo_reads,
    moto_item_size,
    moto_sfn_eval,
    moto_sfn_integration,
    moto_tracking,
    moto_transactions,
)
from ads.local.patching import patch
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


class ParsedDefinitions:
    """Stands in for ``AmazonStateLanguageParser`` inside moto's execution worker.

    The worker parses the ASL (ANTLR, pure Python) at the start of every execution: about
    55 ms of CPU for DeployLab, more than the API request that started it. The parsed
    program is evaluated against a per-execution environment (retry counters and the
    like live in the environment's heap, keyed by each component's ``heap_key``), so
    executions of one definition can share it. ``heap_key`` is assigned lazily on first
    use, which two executions could race on: every key is assigned here, before sharing.
    """

    def __init__(self, parser: Any, max_definitions: int = 32) -> None:
        self._parser = parser
        self._max = max_definitions
        self._programs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def parse(self, definition: str) -> Any:
        with self._lock:
            parsed = self._programs.get(definition)
            if parsed is None:
                parsed = self._parser.parse(definition)
                _assign_heap_keys(parsed[0])
                if len(self._programs) >= self._max:
                    self._programs.clear()
                self._programs[definition] = parsed
            return parsed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


def _assign_heap_keys(program: Any) -> None:
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    pending = [program]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, EvalComponent):
            _ = node.heap_key
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list | tuple | set | frozenset):
            pending.extend(node)
        elif hasattr(node, "__dict__") and type(node).__module__.startswith("moto."):
            pending.extend(vars(node).values())


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


def _send_task_failure_with_cause(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


def install(plane: LocalControlPlane, active: Callable[[], LocalControlPlane | None]) -> list:
    """Patch moto and botocore for ``plane``; returns the undo actions, in install order."""
    import botocore.client
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.backend import execution_worker

    undo: list[Callable[[], None]] = [
        patch(
            LambdaSimpleBackend, "invoke", _dispatching_invoke(LambdaSimpleBackend.invoke, active)
        ),
        patch(
            execution_worker,
            "AmazonStateLanguageParser",
            ParsedDefinitions(execution_worker.AmazonStateLanguageParser),
        ),
        patch(retrier_decl, "time", ScaledTime(plane.time_scale)),
        moto_transactions.install(),
        # Every model object moto made stayed alive (its dashboard's tracking): not here.
        moto_tracking.install(),
    ]

    from moto.stepfunctions.responses import StepFunctionResponse

    undo.append(patch(StepFunctionResponse, "send_task_failure", _send_task_failure_with_cause))
    # DeployCohort starts DeployLab through states:startExecution.sync:2.
    undo.append(moto_sfn_integration.install())
    undo.append(moto_sfn_eval.install())
    # moto's item size check, in one walk of the item rather than its square...
    undo.append(moto_item_size.install())
    # ...and its projections and answers at the cost of what they carry.
    undo.append(moto_dynamo_reads.install())

    client = botocore.client.BaseClient
    undo.append(patch(client, "_make_api_call", _observed_api_call(client._make_api_call, active)))
    return undo
