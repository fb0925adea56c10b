"""moto's Step Functions interpreter without its per-state set-up costs, for the local plane.

Two costs were paid at every state of every execution, and they competed for the one
interpreter with the API requests of a burst (a profile of 50 concurrent POSTs put them
at about a fifth of the plane's CPU):

* **JSONPath parsed per evaluation.** ``extract_json`` (every ``InputPath``,
  ``Parameters`` binding like ``"lab_id.$": "$.lab_id"``, ``OutputPath``) and
  ``ResultPath`` call ``jsonpath_ng``'s ``parse``, which builds a new PLY parser (its
  LALR tables read anew) for each path. A parsed path is immutable (its nodes set their
  attributes in ``__init__`` only; ``find`` and ``update_or_create`` change the data,
  never the expression), so one parse per path string serves every execution and thread.
* **A boto3 client per task.** ``boto_client_for`` builds a new client for each Lambda
  invoke (and each service integration call), about as costly as the invoke itself.
  Its clients differ only by service and region (fixed credentials, no retries, no
  parameter validation, the same timeouts), and a botocore client may be shared by
  threads, so one client per service, region and endpoint serves every task. The
  clients are dropped when the plane stops (the next start is a new emulation).

The answers are the same: the same expressions find the same values, the same client
configuration sends the same calls.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from typing import Any

from ads.local.patching import patch, undo_all

_PATH_CACHE_SIZE = 1024


def cached_parse(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` remembered per path string (thread-safe: lru_cache holds its own lock)."""
    return functools.lru_cache(maxsize=_PATH_CACHE_SIZE)(parse)


class SharedClients:
    """``boto_client_for`` with one client per (region, service, endpoint)."""

    def __init__(self, build: Callable[..., Any], intercepting: Callable[[], bool]) -> None:
        self._build = build
        self._intercepting = intercepting
        self._clients: dict[tuple[str, str, bool], Any] = {}
        self._lock = threading.Lock()

    def __call__(
        self,
        region: str,
        service: str,
        state_credentials: Any = None,  # noqa: ARG002 - moto's signature
    ) -> Any:
        # moto's builder ignores state_credentials (fixed credentials); the endpoint
        # depends on whether boto calls are intercepted, so that is part of the key.
        key = (region, service, self._intercepting())
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._build(region=region, service=service)
                self._clients[key] = client
            return client

    def clear(self) -> None:
        with self._lock:
            self._clients.clear()


def _task_modules() -> list[Any]:
    """moto's modules that imported ``boto_client_for`` by name (loaded here first)."""
    import importlib

    base = "moto.stepfunctions.parser.asl.component.state.exec.state_task"
    for name in (
        f"{base}.lambda_eval_utils",
        f"{base}.service.state_task_service_sfn",
        f"{base}.service.state_task_service_events",
        f"{base}.service.state_task_service_dynamodb",
        f"{base}.service.state_task_service_sqs",
        f"{base}.service.state_task_service_sns",
    ):
        importlib.import_module(name)
    return [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("moto.stepfunctions.parser.") and hasattr(module, "boto_client_for")
    ]


def install() -> Callable[[], None]:
    """Patch moto's interpreter (process-wide); returns the undo action."""
    from moto.core.models import botocore_stubber
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import boto_client, json_path

    undo: list[Callable[[], None]] = []
    for module in (json_path, result_path):
        undo.append(patch(module, "parse", cached_parse(module.parse)))

    original_builder = boto_client.boto_client_for
    shared = SharedClients(original_builder, lambda: bool(botocore_stubber.enabled))
    for module in _task_modules():
        if module.boto_client_for is original_builder:
            undo.append(patch(module, "boto_client_for", shared))
    undo.append(shared.clear)
    return undo_all(undo)
