"""Bad input sent to a running ``ads local up`` over HTTP gets the api handler's 4xx.

(The file sorts before test_local_control_plane.py, whose last test takes the session's
plane down.)"""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.e2e.harness import auth_headers
from tests.e2e.test_local_http_errors import _raw, _request


def _labspec() -> dict[str, Any]:
    from tests.integration.api.events import labspec

    return labspec()


def _post(plane, body: bytes) -> tuple[int, dict[str, str], Any]:
    headers = {**auth_headers(plane.home), "Content-Type": "application/json"}
    return _request(plane.endpoint, "POST", "/plans", body, headers)


def test_given_a_body_that_is_not_utf8_when_posted_to_the_plane_then_400(local_plane):
    status, _, body = _post(local_plane, b'{"labspec": "\xff\xfe"}')

    assert status == 400
    assert "not UTF-8" in body["message"]


def test_given_json_nested_5000_levels_when_posted_to_the_plane_then_400_names_the_limit(
    local_plane,
):
    status, _, body = _post(local_plane, b'{"labspec": ' + b"[" * 5000 + b"]" * 5000 + b"}")

    assert status == 400
    assert "at most 64 levels" in body["message"]


def test_given_a_lone_surrogate_when_posted_to_the_plane_then_400_names_the_field(local_plane):
    text = json.dumps({"labspec": _labspec()}).replace('"name": "', '"name": "\\ud800', 1)

    status, _, body = _post(local_plane, text.encode())

    assert status == 400
    assert body["problems"][0]["path"] == "labspec.lab.description.name"


def test_given_a_next_token_of_another_shape_when_listing_on_the_plane_then_400(local_plane):
    token = base64.urlsafe_b64encode(b"[1, 2]").decode().rstrip("=")

    status, _, body = _request(
        local_plane.endpoint,
        "GET",
        f"/labs?next_token={token}",
        None,
        auth_headers(local_plane.home),
    )

    assert status == 400
    assert body["message"].startswith("invalid query: next_token: ")


def test_given_a_100000_character_lab_id_when_asked_of_the_plane_then_414_as_json(local_plane):
    port = int(local_plane.endpoint.rsplit(":", 1)[1])
    token = auth_headers(local_plane.home)["Authorization"]

    status, headers, _ = _raw(
        port,
        f"GET /labs/{'a' * 100_000} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n".encode(),
    )

    assert status == 414
    assert headers["Content-Type"] == "application/json"
