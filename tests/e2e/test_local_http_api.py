"""The local API server: real HTTP on 127.0.0.1 in front of a recording fake of the api handler.

These run in milliseconds and pin the event shape the api handler relies on; the
end-to-end tests in this folder then run the real handler behind the same server.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest

from ads.local.api_auth import (
    LOCAL_PRINCIPAL,
    LocalCredential,
    LocalCredentials,
    RequestAuthenticator,
)
from ads.local.http_api import MAX_BODY_BYTES, LocalApiServer, build_proxy_event

CREDENTIALS = LocalCredentials(
    user=LocalCredential.generate(LOCAL_PRINCIPAL, admin=False),
    admin=LocalCredential.generate(LOCAL_PRINCIPAL, admin=True),
)
AUTH = RequestAuthenticator(CREDENTIALS)
AS_USER = {"Authorization": f"Bearer {CREDENTIALS.user.bearer_token}"}
AS_ADMIN = {"Authorization": f"Bearer {CREDENTIALS.admin.bearer_token}"}


class RecordingHandler:
    """Answers like the api Lambda would and keeps every event it was given."""

    def __init__(self, response: dict[str, Any] | None = None, error: Exception | None = None):
        self.events: list[dict[str, Any]] = []
        self.response = response or {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"labs": [], "next_token": None}),
            "isBase64Encoded": False,
        }
        self.error = error

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        if self.error:
            raise self.error
        return self.response


@pytest.fixture
def handler():
    return RecordingHandler()


@pytest.fixture
def server(handler):
    with LocalApiServer(handler, 0, authenticator=AUTH, max_body_bytes=4096) as srv:
        yield srv


def _call(url: str, method: str = "GET", body: bytes | None = None, headers=None):
    # Every call holds the user's credential unless it says otherwise.
    headers = {**AS_USER, **(headers or {})}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_given_a_lab_path_when_requested_then_the_event_names_the_resource_and_path_parameters(
    server, handler
):
    status, _, _ = _call(f"{server.endpoint}/labs/hello-web-01abc/history?x=1")
    assert status == 200
    event = handler.events[-1]
    assert event["resource"] == "/labs/{lab_id}/history"
    assert event["path"] == "/labs/hello-web-01abc/history"
    assert event["pathParameters"] == {"lab_id": "hello-web-01abc"}
    assert event["httpMethod"] == "GET"
    assert event["requestContext"]["resourcePath"] == "/labs/{lab_id}/history"
    assert event["requestContext"]["stage"] == "local"
    assert event["requestContext"]["httpMethod"] == "GET"
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


def test_given_no_principal_header_when_requested_then_the_caller_is_the_local_user(
    server, handler
):
    _call(f"{server.endpoint}/labs")
    identity = handler.events[-1]["requestContext"]["identity"]
    assert identity["userArn"] == LOCAL_PRINCIPAL == "arn:aws:iam::123456789012:user/local"
    assert identity["sourceIp"] == "127.0.0.1"
    assert handler.events[-1]["requestContext"]["accountId"] == "123456789012"


def test_given_a_principal_header_when_requested_then_the_caller_is_that_principal(server, handler):
    alice = "arn:aws:iam::210987654321:user/alice"
    _call(f"{server.endpoint}/labs", headers={**AS_ADMIN, "X-Ads-Principal": alice})
    context = handler.events[-1]["requestContext"]
    assert context["identity"]["userArn"] == alice
    assert context["identity"]["caller"] == "alice"
    assert context["accountId"] == "210987654321"


def test_given_a_principal_header_that_is_not_an_arn_when_requested_then_400_names_the_header(
    server, handler
):
    status, _, body = _call(
        f"{server.endpoint}/labs", headers={**AS_ADMIN, "X-Ads-Principal": "alice"}
    )
    assert status == 400
    assert "X-Ads-Principal" in json.loads(body)["message"]
    assert handler.events == []


def test_given_repeated_query_keys_when_requested_then_single_and_multi_value_maps_are_filled():
    event = build_proxy_event("GET", "/labs?status=READY&status=FAILED&limit=5", [], None)
    assert event["queryStringParameters"] == {"status": "FAILED", "limit": "5"}
    assert event["multiValueQueryStringParameters"] == {
        "status": ["READY", "FAILED"],
        "limit": ["5"],
    }


def test_given_repeated_headers_when_converted_then_multi_value_headers_keep_every_value():
    event = build_proxy_event(
        "GET", "/labs", [("Accept", "a/b"), ("X-Trace", "1"), ("X-Trace", "2")], None
    )
    assert event["headers"]["X-Trace"] == "2"
    assert event["multiValueHeaders"]["X-Trace"] == ["1", "2"]


def test_given_an_encoded_lab_id_when_converted_then_the_path_parameter_is_decoded():
    event = build_proxy_event("DELETE", "/labs/a%20b/", [], None)
    assert event["resource"] == "/labs/{lab_id}"
    assert event["pathParameters"] == {"lab_id": "a b"}


def test_given_a_json_body_when_posted_then_the_event_carries_it_as_text(server, handler):
    body = json.dumps({"labspec": {"template": "1.0"}}).encode()
    _call(f"{server.endpoint}/labs", "POST", body, headers={"Content-Type": "application/json"})
    event = handler.events[-1]
    assert event["resource"] == "/labs"
    assert event["httpMethod"] == "POST"
    assert json.loads(event["body"]) == {"labspec": {"template": "1.0"}}
    assert event["isBase64Encoded"] is False
    assert event["headers"]["Content-Type"] == "application/json"


def test_given_a_binary_body_when_posted_then_the_event_carries_it_base64_encoded():
    event = build_proxy_event("POST", "/plans", [], b"\xff\xfe\x00")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe\x00"


def test_given_a_body_over_the_limit_when_posted_then_413_and_the_handler_is_not_called(
    server, handler
):
    status, _, body = _call(f"{server.endpoint}/labs", "POST", b"x" * 5000)
    assert status == 413
    assert "at most 4096 bytes" in json.loads(body)["message"]
    assert handler.events == []
    assert MAX_BODY_BYTES >= 1024 * 1024


def test_given_an_unknown_path_when_requested_then_404_lists_the_routes(server, handler):
    status, _, body = _call(f"{server.endpoint}/nope")
    assert status == 404
    assert "/labs/{lab_id}/history" in json.loads(body)["message"]
    assert handler.events == []


def test_given_a_handler_answer_when_written_back_then_status_headers_and_body_are_kept():
    answer = {
        "statusCode": 202,
        "headers": {"Content-Type": "application/json", "X-Extra": "1"},
        "multiValueHeaders": {"Set-Thing": ["a", "b"]},
        "body": json.dumps({"lab_id": "x"}),
        "isBase64Encoded": False,
    }
    with LocalApiServer(RecordingHandler(answer), 0, authenticator=AUTH) as srv:
        status, headers, body = _call(f"{srv.endpoint}/labs", "POST", b"{}")
    assert status == 202
    assert headers["X-Extra"] == "1"
    assert json.loads(body) == {"lab_id": "x"}


def test_given_a_base64_answer_when_written_back_then_the_client_gets_the_raw_bytes():
    answer = {
        "statusCode": 200,
        "body": base64.b64encode(b"\x00\x01").decode(),
        "isBase64Encoded": True,
    }
    with LocalApiServer(RecordingHandler(answer), 0, authenticator=AUTH) as srv:
        _, _, body = _call(f"{srv.endpoint}/plans", "POST", b"{}")
    assert body == b"\x00\x01"


def test_given_a_handler_that_raises_when_requested_then_502_without_a_traceback():
    with LocalApiServer(RecordingHandler(error=RuntimeError("boom")), 0, authenticator=AUTH) as srv:
        status, _, body = _call(f"{srv.endpoint}/labs")
    assert status == 502
    assert "Traceback" not in body.decode()
    assert json.loads(body)["error"] == "internal_error"


def test_given_a_non_loopback_host_when_the_server_is_built_then_it_refuses():
    with pytest.raises(ValueError, match="loopback"):
        LocalApiServer(RecordingHandler(), 0, authenticator=AUTH, host="0.0.0.0")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_given_plain_curl_when_it_posts_then_the_handler_gets_the_body_and_curl_the_answer(
    server, handler
):
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-H",
            f"Authorization: {AS_USER['Authorization']}",
            "-d",
            '{"labspec": {}}',
            f"{server.endpoint}/plans",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert json.loads(result.stdout) == {"labs": [], "next_token": None}
    assert handler.events[-1]["resource"] == "/plans"
    assert json.loads(handler.events[-1]["body"]) == {"labspec": {}}
