"""One place that builds the Powertools Logger, Tracer and Metrics.

Settings come from the standard ``POWERTOOLS_*`` variables. The Tracer (the X-Ray SDK)
is built on first use of ``tracer``, and only by the handlers that trace with it
(:data:`ads.tracing.SDK_TRACED_FUNCTIONS`): importing the SDK is the largest part of a
cold start, and a handler that never names ``tracer`` never loads it. With tracing
disabled, or without the SDK (the local control plane has no X-Ray daemon), ``tracer``
is a stand-in with the same decorators. botocore is patched by :func:`trace_aws_calls`,
not when the Tracer is built, so that a cold start does not import botocore for the patch.

Metrics leave as CloudWatch embedded metric format (EMF) lines on stdout, which Lambda
ships to CloudWatch Logs and CloudWatch turns into metrics; no PutMetricData call, no
permission. The names are those of :mod:`ads.lab_metrics`; a handler decorated with
:func:`publish_metrics` flushes what its invocation counted when it ends, raised or not.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from ads import lab_metrics
from ads.lab_metrics import LabMetric

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", lab_metrics.SERVICE)
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", lab_metrics.NAMESPACE)

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# Most invocations count nothing (a poll that raises VmNotReady); Powertools warns about
# every such flush, which would put a line of noise in each of their logs.
warnings.filterwarnings("ignore", message="No application metrics to publish")

Handler = TypeVar("Handler", bound=Callable[..., Any])


def publish_metrics(handler: Handler) -> Handler:
    """Flush the metrics the invocation counted when it ends, raised or not."""
    flushing = metrics.log_metrics(handler)

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        try:
            return flushing(event, context)
        finally:
            # With POWERTOOLS_METRICS_DISABLED (the local control plane) Powertools keeps
            # the metrics instead of printing them: drop them, the next invocation starts
            # clean.
            metrics.clear_metrics()

    return run  # type: ignore[return-value]


_cold_start = [True]
_cold_start_lock = threading.Lock()


def _is_cold_start() -> bool:
    """True for the first invocation in this process (Powertools' rule: not with
    provisioned concurrency, whose environments are initialised ahead of any request)."""
    with _cold_start_lock:
        first, _cold_start[0] = _cold_start[0], False
    return first and os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency"


def lambda_context_keys(handler: Handler) -> Handler:
    """Powertools' ``inject_lambda_context(clear_state=True)`` with the context's keys
    (``cold_start``, ``function_name``, ``function_request_id``...) kept per thread and
    cleared when the invocation ends. ``inject_lambda_context`` writes them to the Logger's
    shared keys: the local control plane runs several handlers at once in one process, and
    a line would carry another invocation's function and request id."""
    from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        logger.thread_safe_clear_keys()
        keys = build_lambda_context_model(context).__dict__
        logger.thread_safe_append_keys(cold_start=_is_cold_start(), **keys)
        try:
            return handler(event, context)
        finally:
            logger.thread_safe_clear_keys()

    return run  # type: ignore[return-value]


def count(metric: LabMetric, *, step: str | None = None) -> None:
    """Count one ``metric``; with ``step``, also under the ``Step`` dimension."""
    metrics.add_metric(name=metric.value, unit=MetricUnit.Count, value=1)
    if step:
        # Its own EMF blob: the dimension must not spread to the invocation's other metrics.
        per_step = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
        per_step.add_dimension(name=lab_metrics.STEP_DIMENSION, value=step)
        per_step.add_metric(name=metric.value, unit=MetricUnit.Count, value=1)
        per_step.flush_metrics()


def record_seconds(metric: LabMetric, seconds: float) -> None:
    metrics.add_metric(name=metric.value, unit=MetricUnit.Seconds, value=max(seconds, 0.0))


class _NoTracer:
    """Stands in for Tracer where tracing is off: same decorators, no work."""

    def capture_lambda_handler(self, func: Any = None, **_: Any) -> Any:
        return func if func is not None else (lambda f: f)

    def capture_method(self, func: Any = None, **_: Any) -> Any:
        return func if func is not None else (lambda f: f)

    def put_annotation(self, *_: Any, **__: Any) -> None:
        return None


# ADS reaches AWS only through botocore; patching the SDK's other libraries (requests,
# httplib, sqlite3...) would import them for nothing.
TRACED_LIBRARIES = ("botocore",)


@lru_cache(maxsize=1)
def get_tracer() -> Any:
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true"):
        return _NoTracer()
    try:
        import aws_xray_sdk  # noqa: F401
    except ImportError:
        return _NoTracer()
    from aws_lambda_powertools import Tracer

    # Patching botocore imports it, which costs nearly as much as boto3 itself: the patch
    # waits for trace_aws_calls(), called where the first AWS client is about to be built.
    return Tracer(service=SERVICE, auto_patch=False)


@lru_cache(maxsize=1)
def trace_aws_calls() -> None:
    """Record every AWS call as an X-Ray subsegment, from the next client built on.

    A traced handler calls it before it builds its first client (the first request that
    needs AWS imports botocore anyway); a client built earlier would not be traced.
    """
    tracer = get_tracer()
    if not isinstance(tracer, _NoTracer):
        tracer.patch(modules=TRACED_LIBRARIES)


def __getattr__(name: str) -> Any:
    # `from ads.observability import tracer` builds the Tracer; nothing else does.
    if name == "tracer":
        return get_tracer()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
