"""The local HTTP front: every refusal is a JSON error (404, 405, 413, 414, a malformed
request line), and requests run in parallel. (The real handler's 4xx for bad bodies,
behind ``ads local up``: test_local_api_bad_input.py.)"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ads.local.api_auth import (
    LOCAL_PRINCIPAL,
    LocalCredential,
    LocalCredentials,
    RequestAuthenticator,
)
from ads.local.http_api import LocalApiServer

CREDENTIALS = LocalCredentials(
    user=LocalCredential.generate(LOCAL_PRINCIPAL, admin=False),
    admin=LocalCredential.generate(LOCAL_PRINCIPAL, admin=True),
)
AS_USER = {"Authorization": f"Bearer {CREDENTIALS.user.bearer_token}"}
OK = {
    "statusCode": 200,
    "headers": {"Content-Type": "application/json"},
    "body": json.dumps({"labs": [], "next_token": None}),
    "isBase64Encoded": False,
}


@pytest.fixture
def server():
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        events.append(event)
        return OK

    with LocalApiServer(
        handler, 0, authenticator=RequestAuthenticator(CREDENTIALS), max_body_bytes=4096
    ) as srv:
        srv.events = events  # type: ignore[attr-defined]
        yield srv


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], Any]:
    """Send bytes as they are (http.client would refuse some of them) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request)
        response = http.client.HTTPResponse(conn)
        response.begin()
        body = response.read()
    return response.status, dict(response.getheaders()), json.loads(body)


def _request(
    endpoint: str, method: str, path: str, body: bytes | None = None, headers=None
) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        endpoint + path, data=body, method=method, headers=dict(headers or AS_USER)
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def test_given_a_100000_character_lab_id_when_requested_then_414_as_json(server):
    target = "/labs/" + "a" * 100_000

    status, headers, body = _raw(server.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())

    assert status == 414
    assert headers["Content-Type"] == "application/json"
    assert body["error"] == "uri_too_long"
    assert "64" in body["message"]
    assert server.events == []


def test_given_a_method_a_route_does_not_declare_when_requested_then_405_with_allow(server):
    status, headers, body = _request(server.endpoint, "PUT", "/labs", b"{}")

    assert status == 405
    assert headers["Allow"] == "GET, POST"
    assert body["error"] == "method_not_allowed"
    assert "PUT" in body["message"]
    assert server.events == []


def test_given_a_method_http_does_not_know_when_requested_then_405_as_json(server):
    status, headers, body = _raw(server.port, b"BREW /labs HTTP/1.1\r\nHost: x\r\n\r\n")

    assert status == 405
    assert headers["Content-Type"] == "application/json"
    assert "BREW" in body["message"]


def test_given_a_malformed_request_line_when_sent_then_400_as_json(server):
    status, headers, body = _raw(server.port, b"GET /labs HTTP/9z\r\n\r\n")

    assert status == 400
    assert headers["Content-Type"] == "application/json"
    assert body["error"] == "invalid_request"


def test_given_a_body_over_the_limit_and_an_unknown_path_when_sent_then_both_answers_are_json(
    server,
):
    too_big = _request(server.endpoint, "POST", "/labs", b"x" * 5000)
    unknown = _request(server.endpoint, "GET", "/nope")

    assert (too_big[0], too_big[1]["Content-Type"], too_big[2]["error"]) == (
        413,
        "application/json",
        "payload_too_large",
    )
    assert (unknown[0], unknown[1]["Content-Type"], unknown[2]["error"]) == (
        404,
        "application/json",
        "route_not_found",
    )


def test_given_concurrent_requests_when_served_then_handlers_run_at_the_same_time():
    # Five handlers must all be inside at once to pass the barrier; one request at a time
    # (a lock around the handler) would break it and answer 502.
    barrier = threading.Barrier(5, timeout=5)

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        barrier.wait()
        return OK

    with (
        LocalApiServer(handler, 0, authenticator=RequestAuthenticator(CREDENTIALS)) as srv,
        ThreadPoolExecutor(max_workers=5) as pool,
    ):
        statuses = list(pool.map(lambda _: _request(srv.endpoint, "GET", "/labs")[0], range(5)))

    assert statuses == [200] * 5
