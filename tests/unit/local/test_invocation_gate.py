"""The local plane's order of invocations: API requests at once and first."""

from __future__ import annotations

import threading
import time

import pytest

from ads.local.invocation_gate import InvocationGate


def test_given_api_invocations_at_once_when_they_run_then_they_overlap():
    # Each waits inside its block until all are inside: one at a time would never get there.
    gate = InvocationGate()
    inside = threading.Barrier(8, timeout=5)
    demand: list[int] = []

    def request() -> None:
        with gate.api():
            inside.wait()
            demand.append(gate.api_demand)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(demand) == 8
    assert max(demand) == 8
    assert gate.api_demand == 0


def test_given_an_api_request_running_when_a_workflow_step_starts_then_it_waits_for_the_request():
    gate = InvocationGate(max_yield_s=5.0)
    order: list[str] = []
    inside = threading.Event()
    leave = threading.Event()

    def request() -> None:
        with gate.api():
            inside.set()
            leave.wait(5)
            order.append("api done")

    def step() -> None:
        with gate.workflow():
            order.append("step started")

    api = threading.Thread(target=request)
    api.start()
    inside.wait(5)
    workflow = threading.Thread(target=step)
    workflow.start()
    time.sleep(0.1)
    assert order == []  # still held back
    leave.set()
    api.join()
    workflow.join(5)

    assert order == ["api done", "step started"]


def test_given_api_requests_that_never_stop_when_a_step_waits_then_it_runs_after_max_yield():
    gate = InvocationGate(max_yield_s=0.2)
    leave = threading.Event()

    def request() -> None:
        with gate.api():
            leave.wait(5)

    api = threading.Thread(target=request)
    api.start()
    while gate.api_demand == 0:
        time.sleep(0.01)
    started = time.monotonic()
    with gate.workflow():
        waited = time.monotonic() - started
    leave.set()
    api.join()

    assert 0.15 <= waited < 2.0


def test_given_a_negative_yield_when_the_gate_is_made_then_the_error_names_the_field():
    with pytest.raises(ValueError, match=r"max_yield_s: found -1"):
        InvocationGate(max_yield_s=-1)


def test_given_the_state_machines_when_a_step_yields_to_the_api_then_its_task_timeout_outlasts_the_wait():
    # The wait before a Lambda task runs counts against the task's TimeoutSeconds.
    import json
    from pathlib import Path

    from ads.local.invocation_gate import DEFAULT_MAX_YIELD_S

    timeouts = []
    for path in (Path(__file__).resolve().parents[3] / "statemachine").glob("*.asl.json"):
        pending = [json.loads(path.read_text())]
        while pending:
            node = pending.pop()
            if isinstance(node, dict):
                if node.get("Type") == "Task" and "TimeoutSeconds" in node:
                    timeouts.append(node["TimeoutSeconds"])
                pending.extend(node.values())
            elif isinstance(node, list):
                pending.extend(node)
    assert timeouts
    assert min(timeouts) >= 4 * DEFAULT_MAX_YIELD_S
