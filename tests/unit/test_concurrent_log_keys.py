"""Log keys under concurrency: the local control plane runs many handlers at once in one
process, so a lab's or a request's ids must stay on its own thread's lines.

Each test holds two invocations at a barrier between setting their keys and logging, the
interleaving that made one invocation's lines carry the other's keys with the Logger's
shared ``append_keys`` / ``set_correlation_id`` / ``inject_lambda_context``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import BaseModel

from ads import steps
from ads.observability import logger
from functions.step_handler import step_handler
from functions.step_input import StepInput


class Context:
    function_name = "ads-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:ads-test"
    memory_limit_in_mb = 256
    aws_request_id = "req-1"
    log_group_name = "/aws/lambda/ads-test"
    log_stream_name = "2030/01/01/[$LATEST]0"


class Done(BaseModel):
    lab_id: str


def _both_at_once(run: Callable[[str], object]) -> None:
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, ["lab-a", "lab-b"]))


def test_given_two_concurrent_steps_when_both_log_then_each_line_carries_its_own_lab_id(
    log_lines: Callable[[], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(steps, "dependencies_for", lambda config: None)
    gate = threading.Barrier(2, timeout=10)

    def logic(request: StepInput, deps: Any) -> Done:
        gate.wait()  # both have appended their keys
        logger.info("working", expected=request.lab_id)
        gate.wait()
        return Done(lab_id=request.lab_id)

    def context_of(lab: str) -> Context:
        context = Context()
        context.aws_request_id = f"req-{lab}"
        context.function_name = f"ads-step-of-{lab}"
        return context

    handler = step_handler(logic)
    _both_at_once(
        lambda lab: handler({"lab_id": lab, "execution_id": f"exec-{lab}"}, context_of(lab))
    )
    logger.info("after the steps")
    lines = log_lines()
    working = [line for line in lines if line["message"] == "working"]
    assert len(working) == 2
    for line in working:
        assert line["lab_id"] == line["expected"], line
        assert line["correlation_id"] == f"exec-{line['expected']}", line
        # the Lambda context's keys too (inject_lambda_context shared them)
        assert line["function_request_id"] == f"req-{line['expected']}", line
        assert line["function_name"] == f"ads-step-of-{line['expected']}", line
    assert not {"lab_id", "function_request_id", "function_name"} & set(lines[-1])


def test_given_two_concurrent_api_requests_when_both_log_then_each_line_carries_its_own_request_id_and_none_leaks(
    log_lines: Callable[[], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.api import handler as api

    gate = threading.Barrier(2, timeout=10)

    def resolve(event: dict[str, Any], context: Any) -> dict[str, Any]:
        gate.wait()
        logger.info("resolving", expected=event["requestContext"]["requestId"])
        gate.wait()
        return {"statusCode": 200, "body": "{}"}

    monkeypatch.setattr(api.api_input, "checked_event", lambda event: event)
    monkeypatch.setattr(api.app, "resolve", resolve)

    def request(lab: str) -> object:
        return api.handler({"requestContext": {"requestId": f"req-{lab}"}}, Context())

    _both_at_once(request)
    logger.info("after the requests")
    lines = log_lines()
    resolving = [line for line in lines if line["message"] == "resolving"]
    assert len(resolving) == 2
    for line in resolving:
        assert line["correlation_id"] == line["expected"], line
    assert "correlation_id" not in lines[-1]


def test_given_two_concurrent_lab_timers_when_both_log_then_each_line_carries_its_own_lab_id(
    log_lines: Callable[[], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.lab_timer import handler as lab_timer

    gate = threading.Barrier(2, timeout=10)

    class Answer(BaseModel):
        lab_id: str

    def run_timer(ctx: Any, request: Any, publisher: Any, schedules: Any) -> Answer:
        gate.wait()
        logger.info("firing", expected=request.lab_id)
        gate.wait()
        return Answer(lab_id=request.lab_id)

    monkeypatch.setattr(lab_timer, "_dependencies", lambda config: (None, None, None))
    monkeypatch.setattr(lab_timer, "run_timer", run_timer)
    _both_at_once(lambda lab: lab_timer.handler({"lab_id": lab, "action": "expire"}, Context()))
    firing = [line for line in log_lines() if line["message"] == "firing"]
    assert len(firing) == 2
    for line in firing:
        assert line["lab_id"] == line["expected"], line
