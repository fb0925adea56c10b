"""What any client may send the agent: every method, idle connections, too many of them."""

from __future__ import annotations

import contextlib
import json
import socket
import time

import pytest

from ads_agent.server import MAX_CONNECTIONS
from tests.integration.agent.conftest import http_call, wait_until
from tests.integration.agent.openapi_check import response_problems


def _raw_request(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        raw.sendall(request)
        chunks = []
        while True:
            chunk = raw.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _status_and_body(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize("method", ["PATCH", "OPTIONS", "TRACE", "PROPFIND", "FOO", "CONNECT"])
def test_given_the_old_execute_endpoint_when_called_with_an_unusual_method_then_410_not_501(
    sandbox, method
):
    marker = sandbox.root / "ran"
    agent = sandbox.start_agent()
    answer = _raw_request(
        agent.port, f"{method} /api/1.0/execute/touch%20{marker} HTTP/1.0\r\n\r\n".encode()
    )
    status, body = _status_and_body(answer)
    assert status == 410
    assert "control plane" in json.loads(body)["message"]
    assert not marker.exists()


def test_given_the_old_execute_endpoint_when_asked_with_head_then_410_without_a_body(sandbox):
    answer = sandbox.start_agent().get("/api/1.0/execute/uptime", method="HEAD")
    assert (answer.status, answer.body) == (410, b"")


@pytest.mark.parametrize("path", ["//api/1.0/execute/ls", "///api/1.0/execute"])
def test_given_an_execute_path_with_doubled_leading_slashes_when_called_then_it_is_still_410(
    sandbox, path
):
    answer = _raw_request(sandbox.start_agent().port, f"GET {path} HTTP/1.0\r\n\r\n".encode())
    assert _status_and_body(answer)[0] == 410


@pytest.mark.parametrize("method", ["PROPFIND", "FOO"])
def test_given_a_read_only_endpoint_when_called_with_an_unknown_method_then_405_allows_get(
    sandbox, method
):
    answer = _raw_request(sandbox.start_agent().port, f"{method} /health HTTP/1.0\r\n\r\n".encode())
    status, body = _status_and_body(answer)
    assert status == 405
    assert json.loads(body)["error"] == "method_not_allowed"
    assert b"\r\nAllow: GET\r\n" in answer


def test_given_error_answers_when_compared_with_the_openapi_document_then_each_conforms(
    sandbox, openapi_document
):
    agent = sandbox.start_agent()
    # (path called, path in the document, method sent, operation documenting it, status)
    cases = [
        ("/health", "/health", "GET", "get", 503),
        ("/api/1.0/test-lab", "/api/1.0/test-lab", "GET", "get", 503),
        ("/api/1.0/actions?limit=0", "/api/1.0/actions", "GET", "get", 400),
        ("/api/1.0/info", "/api/1.0/info", "POST", "get", 405),
    ] + [
        ("/api/1.0/execute/ls", "/api/1.0/execute/{command}", method.upper(), method, 410)
        for method in ("get", "post", "put", "delete", "patch")
    ]
    for concrete, documented, sent, operation, status in cases:
        answer = agent.get(concrete, method=sent)
        assert answer.status == status, (sent, concrete)
        body = answer.json() if answer.content_type == "application/json" else answer.body.decode()
        problems = response_problems(
            openapi_document, documented, operation, answer.status, answer.content_type, body
        )
        assert problems == [], (sent, concrete)


def test_given_a_client_that_stays_silent_when_the_request_timeout_passes_then_it_is_disconnected(
    sandbox,
):
    agent = sandbox.start_agent(extra_args=("--request-timeout", "1"))
    with socket.create_connection(("127.0.0.1", agent.port), timeout=10) as idle:
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        began = time.monotonic()
        assert http_call(agent.port, "/api/1.0/info").status == 200  # others are not held up
        assert idle.recv(1024) == b""
        assert 0.5 <= time.monotonic() - began < 5


def test_given_a_zero_request_timeout_when_serving_then_the_option_is_refused(sandbox):
    result = sandbox.agent_cli(
        "serve", "--state-dir", str(sandbox.state_dir), "--port", "0", "--request-timeout", "0"
    )
    assert result.returncode == 2
    assert "--request-timeout: found '0'" in result.stderr


def test_given_every_connection_slot_taken_when_another_client_calls_then_503_busy_until_one_frees(
    sandbox,
):
    log_file = sandbox.state_dir / "logs" / "agent.log"
    agent = sandbox.start_agent(log_file=log_file)
    idle: list[socket.socket] = []
    try:
        for _ in range(MAX_CONNECTIONS):
            idle.append(socket.create_connection(("127.0.0.1", agent.port), timeout=5))
        # The server accepts connections one by one: wait until all of them hold a slot.
        assert wait_until(lambda: _busy(agent), timeout=10)
        answer = agent.get("/api/1.0/info")
        assert answer.status == 503
        assert answer.json()["error"] == "busy"
        assert answer.headers["retry-after"] == "1"
    finally:
        for connection in idle:
            with contextlib.suppress(OSError):
                connection.close()
    assert wait_until(lambda: agent.get("/api/1.0/info").status == 200, timeout=10)
    refused = [
        json.loads(line)
        for line in log_file.read_text().splitlines()
        if '"connection_refused"' in line
    ]
    assert refused and refused[0]["limit"] == MAX_CONNECTIONS


def _busy(agent) -> bool:
    answer = agent.get("/api/1.0/info")
    return answer.status == 503 and answer.json().get("error") == "busy"
