"""Powertools' REST resolver with per-thread request state (the local plane's patch)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver

from ads.local import resolver_state


def _event(caller: str, body: dict[str, Any], path: str = "/held") -> dict[str, Any]:
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "body": json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {
            "requestId": caller,
            "identity": {"userArn": caller},
            "resourcePath": path,
            "httpMethod": "POST",
            "stage": "local",
        },
    }


@pytest.fixture
def installed() -> Iterator[None]:
    undo = resolver_state.install()
    try:
        yield
    finally:
        undo()


def _held_resolver() -> tuple[APIGatewayRestResolver, threading.Event, threading.Event]:
    """A resolver whose /held route waits until ``release`` before it reads its event."""
    app = APIGatewayRestResolver()
    inside, release = threading.Event(), threading.Event()

    @app.post("/held")
    def held() -> dict[str, Any]:
        inside.set()
        assert release.wait(10)
        event = app.current_event
        return {
            "caller": event.request_context.identity.user_arn,
            "body": event.json_body,
            "route": app.context.get("_path"),
        }

    @app.post("/quick")
    def quick() -> dict[str, Any]:
        return {"caller": app.current_event.request_context.identity.user_arn}

    return app, inside, release


def _resolve_while_held(app: APIGatewayRestResolver, inside: Any, release: Any) -> tuple[Any, Any]:
    held: dict[str, Any] = {}

    def first() -> None:
        held["answer"] = app.resolve(_event("arn:aws:iam::1:user/a", {"n": "a"}), None)

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    # A second request is resolved from start to end while the first is in its route.
    quick = app.resolve(_event("arn:aws:iam::1:user/b", {"n": "b"}, "/quick"), None)
    release.set()
    thread.join(10)
    return json.loads(held["answer"]["body"]), json.loads(quick["body"])


def test_given_a_request_held_in_its_route_when_another_is_resolved_then_each_reads_its_own(
    installed: None,
):
    app, inside, release = _held_resolver()

    held, quick = _resolve_while_held(app, inside, release)

    assert held == {"caller": "arn:aws:iam::1:user/a", "body": {"n": "a"}, "route": "/held"}
    assert quick == {"caller": "arn:aws:iam::1:user/b"}


def test_given_powertools_unpatched_when_requests_overlap_then_one_reads_the_others_event():
    # What the patch is for: without it the held request reads the second one's event.
    app, inside, release = _held_resolver()

    held, _ = _resolve_while_held(app, inside, release)

    assert held["caller"] == "arn:aws:iam::1:user/b"


def test_given_a_resolved_request_when_it_is_over_then_its_thread_keeps_nothing_of_it(
    installed: None,
):
    app, _, release = _held_resolver()
    release.set()
    app.resolve(_event("arn:aws:iam::1:user/a", {"n": "a"}), None)

    with pytest.raises(AttributeError, match="no request is being resolved"):
        _ = app.current_event
    assert app.context == {}


def test_given_a_resolver_built_while_installed_when_undone_then_it_still_resolves():
    undo = resolver_state.install()
    try:
        again = resolver_state.install()  # a second plane in the process: no second layer
        app, _, release = _held_resolver()
        release.set()
        again()
        assert app.resolve(_event("arn:aws:iam::1:user/a", {"n": "a"}), None)["statusCode"] == 200
    finally:
        undo()

    answer = app.resolve(_event("arn:aws:iam::1:user/c", {"n": "c"}), None)

    assert json.loads(answer["body"])["caller"] == "arn:aws:iam::1:user/c"
    assert "current_event" not in vars(ApiGatewayResolver)
