"""The Lambda service of the local plane: workflow and API handlers run in this process.

moto's Lambda would need Docker; instead its ``invoke`` is routed here (see
:mod:`ads.local.moto_patches`) and the handler module ``functions.<name>.handler`` is
called with a Lambda-like context, as the Lambda runtime would. Errors come back in the
runtime's shape, so Step Functions' Retry and Catch see what they would see on AWS.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ads.asl_placeholders import STEP_FUNCTION_PLACEHOLDERS
from ads.local.invocation_gate import InvocationGate
from ads.local.usage import Invocation, UsageLedger, scope

ACCOUNT_ID = "123456789012"
# The workflow handlers and the ASL placeholder that names each one (the CDK workflow
# construct passes the same placeholders to definition_substitutions).
WORKFLOW_FUNCTIONS: dict[str, str] = STEP_FUNCTION_PLACEHOLDERS
FRONT_DOOR_FUNCTIONS = ("api", "ci_trigger")
# Handlers a schedule invokes (an EventBridge schedule on AWS, a timer locally).
SCHEDULED_FUNCTIONS = ("watch_labs", "lab_timer", "sweep")
# Handlers an EventBridge rule invokes with an AWS service's event (on AWS); locally the
# plane delivers the same events (ads.providers.local_command_events).
EVENT_FUNCTIONS = ("step_callback",)
# What a Lambda context reports locally; the benchmark prices invocations at this size.
LAMBDA_MEMORY_MB = 256


def function_name(handler: str) -> str:
    """The Lambda function name of a handler (``create_vm`` -> ``ads-create-vm``)."""
    return "ads-" + handler.replace("_", "-")


@dataclass
class LocalLambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = LAMBDA_MEMORY_MB
    timeout_s: float = 60.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_s - (time.monotonic() - self._started)
        return max(0, int(left * 1000))


class LambdaServiceFault(Exception):
    """Raised by an in-process handler (in tests) to make the Lambda *service* fail the
    invocation: Step Functions then sees ``Lambda.ServiceException`` and retries."""


def _no_durability_wait() -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


class HandlerDispatcher:
    """Loads the handlers, runs them with a context and counts every invocation.

    Every invocation passes ``gate`` (API requests at once and ahead of workflow steps,
    see :mod:`ads.local.invocation_gate`) and runs inside ``durability()``, which
    holds its answer back until the records it changed are on disk.
    """

    def __init__(
        self,
        region: str,
        ledger: UsageLedger,
        *,
        gate: InvocationGate | None = None,
        durability: Callable[[], contextlib.AbstractContextManager[None]] = _no_durability_wait,
    ) -> None:
        self.region = region
        self.ledger = ledger
        self.gate = gate or InvocationGate()
        self.durability = durability
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._overrides: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {}
        self._cold: set[str] = set()
        self._load_lock = threading.Lock()

    def _context(self, handler: str, timeout_s: float = 60.0) -> LocalLambdaContext:
        name = function_name(handler)
        return LocalLambdaContext(
            function_name=name,
            invoked_function_arn=f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}",
            timeout_s=timeout_s,
        )

    def override(
        self, handler: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
    ) -> None:
        allowed = (*WORKFLOW_FUNCTIONS, *FRONT_DOOR_FUNCTIONS, *EVENT_FUNCTIONS)
        if handler not in allowed:
            raise ValueError(f"handler: found {handler!r}; allowed: {sorted(allowed)}")
        self._overrides[handler] = wrap
        self._handlers.pop(handler, None)

    @staticmethod
    def handler_named(lambda_function_name: str) -> str | None:
        for handler in WORKFLOW_FUNCTIONS:
            if function_name(handler) == lambda_function_name:
                return handler
        return None

    def load(self, handler: str) -> Callable[..., Any]:
        with self._load_lock:
            if handler not in self._handlers:
                module = importlib.import_module(f"functions.{handler}.handler")
                fn = module.handler
                if handler in self._overrides:
                    fn = self._overrides[handler](fn)
                self._handlers[handler] = fn
            return self._handlers[handler]

    def _is_cold(self, handler: str) -> bool:
        with self._load_lock:
            cold = handler not in self._cold
            self._cold.add(handler)
            return cold

    def invoke_in_process(self, handler: str, body: Any, response_headers: dict[str, str]) -> bytes:
        """What moto's Lambda ``invoke`` answers: the payload, or the runtime's error."""
        from moto.core.exceptions import JsonRESTError

        raw = body.decode() if isinstance(body, bytes) else (body or "{}")
        try:
            event = json.loads(raw or "{}")
            # An import error is an init failure of the function: the invocation fails.
            fn = self.load(handler)
            # Held back while API requests wait (not counted in the invocation's duration).
            with self.gate.workflow():
                payload = self._run(handler, fn, event)
        except LambdaServiceFault as exc:
            error = JsonRESTError("ServiceException", str(exc) or "the Lambda service failed")
            error.code = 500
            raise error from exc
        except Exception as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            # Like the Lambda runtime: the handler's frames, not this dispatcher's.
            frames = traceback.format_list(
                [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__][-5:]
            )
            return json.dumps(
                {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "requestId": response_headers.get("x-amzn-RequestId", ""),
                    "stackTrace": frames,
                }
            ).encode()
        return json.dumps(payload).encode()

    def _run(
        self, handler: str, fn: Callable[..., Any], event: Any, lab_id: str | None = None
    ) -> Any:
        context = self._context(handler)
        if lab_id is None:
            lab_id = str(event.get("lab_id") or "") if isinstance(event, dict) else ""
        cold = self._is_cold(handler)
        started = time.perf_counter()
        error_type: str | None = None
        scope.ledger, scope.lab_id = self.ledger, lab_id or "-"
        try:
            with self.durability():
                return fn(event, context)
        except BaseException as exc:
            error_type = type(exc).__name__
            raise
        finally:
            scope.ledger, scope.lab_id = None, None
            self.ledger.add_invocation(
                Invocation(
                    function=handler,
                    lab_id=lab_id or "-",
                    duration_ms=(time.perf_counter() - started) * 1000,
                    error_type=error_type,
                    cold=cold,
                )
            )

    def invoke_scheduled(self, handler: str, event: dict[str, Any], timeout_s: float = 60.0) -> Any:
        """Call a scheduled handler as its schedule would, counted like a workflow step."""
        if handler not in SCHEDULED_FUNCTIONS:
            raise ValueError(f"handler: found {handler!r}; allowed: {list(SCHEDULED_FUNCTIONS)}")
        fn = self.load(handler)
        context = self._context(handler, timeout_s=timeout_s)
        cold = self._is_cold(handler)
        started = time.perf_counter()
        error_type: str | None = None
        with self.gate.workflow():
            scope.ledger, scope.lab_id = self.ledger, "-"
            try:
                with self.durability():
                    return fn(event, context)
            except BaseException as exc:
                error_type = type(exc).__name__
                raise
            finally:
                scope.ledger, scope.lab_id = None, None
                self.ledger.add_invocation(
                    Invocation(
                        function=handler,
                        lab_id="-",
                        duration_ms=(time.perf_counter() - started) * 1000,
                        error_type=error_type,
                        cold=cold,
                    )
                )

    def invoke_event(self, handler: str, event: dict[str, Any], lab_id: str = "-") -> Any:
        """Call an event rule's target with ``event``, counted for ``lab_id``."""
        if handler not in EVENT_FUNCTIONS:
            raise ValueError(f"handler: found {handler!r}; allowed: {list(EVENT_FUNCTIONS)}")
        fn = self.load(handler)
        with self.gate.workflow():
            return self._run(handler, fn, event, lab_id=lab_id)

    def invoke_api(self, event: dict[str, Any]) -> dict[str, Any]:
        """Call the REST API handler with an API Gateway proxy event.

        Its invocation and AWS calls are counted for the lab it answered about (the
        ``lab_id`` of its answer, else of the path), or for ``-`` when there is none.
        """
        fn = self.load("api")
        # Workflow steps are held back while the request runs, not while it waits for
        # the disk. Requests run at once: the resolver's state is per thread
        # (ads.local.resolver_state), moto's backends serialise their own calls.
        with self.durability(), self.gate.api():
            return self._answer_api(fn, event)

    def _answer_api(self, fn: Callable[..., Any], event: dict[str, Any]) -> dict[str, Any]:
        context = self._context("api", timeout_s=29.0)
        scratch = UsageLedger()
        cold = self._is_cold("api")
        started = time.perf_counter()
        response: dict[str, Any] = {}
        error_type: str | None = None
        scope.ledger, scope.lab_id = scratch, "-"
        try:
            response = fn(event, context)
            return response
        except BaseException as exc:
            error_type = type(exc).__name__
            raise
        finally:
            scope.ledger, scope.lab_id = None, None
            lab_id = _lab_id_of_api_call(event, response)
            for (service, operation), count in scratch.for_lab("-").api_calls.items():
                for _ in range(count):
                    self.ledger.add_api_call(lab_id, service, operation)
            self.ledger.add_invocation(
                Invocation(
                    function="api",
                    lab_id=lab_id,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    error_type=error_type,
                    cold=cold,
                )
            )


def _lab_id_of_api_call(event: dict[str, Any], response: dict[str, Any]) -> str:
    try:
        body = json.loads(response.get("body") or "{}")
        if isinstance(body, dict) and isinstance(body.get("lab_id"), str):
            return body["lab_id"]
    except (TypeError, ValueError, AttributeError):
        pass
    params = event.get("pathParameters") or {}
    if isinstance(params, dict) and isinstance(params.get("lab_id"), str):
        return params["lab_id"]
    match = re.match(r"^/labs/([a-z0-9-]+)", str(event.get("path") or ""))
    return match.group(1) if match else "-"
