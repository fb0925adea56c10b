"""One place that builds the Powertools Logger, Tracer and Metrics.

Settings come from the standard ``POWERTOOLS_*`` variables. The Tracer is only built
when tracing is enabled and the X-Ray SDK is importable: importing it dominates cold
start, and the local control plane has no X-Ray daemon.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "ads")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ADS")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


class _NoTracer:
    """Stands in for Tracer where tracing is off: same decorators, no work."""

    def capture_lambda_handler(self, func: Any = None, **_: Any) -> Any:
        return func if func is not None else (lambda f: f)

    def capture_method(self, func: Any = None, **_: Any) -> Any:
        return func if func is not None else (lambda f: f)

    def put_annotation(self, *_: Any, **__: Any) -> None:
        return None


@lru_cache(maxsize=1)
def get_tracer() -> Any:
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true"):
        return _NoTracer()
    try:
        import aws_xray_sdk  # noqa: F401
    except ImportError:
        return _NoTracer()
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


tracer = get_tracer()
