"""The local stand-in for API Gateway: HTTP on 127.0.0.1 -> REST proxy events -> the api handler.

Each request becomes the event API Gateway's REST proxy integration would send (same
``resource`` templates, path parameters, multi-value query strings and headers, request
context with the caller's identity), so the ``api`` Lambda handler runs unchanged. The
answer of the handler is written back as the HTTP response.

Every request must prove it holds one of the credentials the plane wrote at start
(:mod:`ads.local.api_auth`): without one it gets 401. The caller is the principal of its
credential; only the admin credential may act as another principal by naming it in the
``X-Ads-Principal`` header. The server still binds only the loopback interface.

The credential says which principal acts; the kernel says which OS user is asking: the
uid owning the client's end of the connection (:mod:`ads.local.peer_uid`) goes to the
handler in ``requestContext.authorizer``, as an authorizer's assertion would, and local
sources are read with that uid's rights. A client cannot choose it.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from typing_extensions import override

from ads import api_routes
from ads.local.api_auth import (
    LOCAL_ACCOUNT_ID,
    LOCAL_PRINCIPAL,
    AuthFailure,
    Caller,
    RequestAuthenticator,
)
from ads.local.peer_uid import peer_uid
from ads.observability import logger as log
from ads.providers.local_sources import REQUESTER_UID_KEY

# Whom build_proxy_event takes the caller for when it is told nothing: the local user,
# who may not act as anyone else.
LOCAL_CALLER = Caller(LOCAL_PRINCIPAL, admin=False)
PRINCIPAL_HEADER = "X-Ads-Principal"
STAGE = "local"
LOOPBACK = "127.0.0.1"
# API Gateway accepts payloads up to 10 MB; a labspec request is a few KB, so 1 MiB is
# generous and keeps a stray upload from filling the daemon's memory.
MAX_BODY_BYTES = 1024 * 1024

# The routes the API Gateway REST API declares (its OpenAPI document), in the order they
# are matched, and the methods each resource declares; any other method is 405.
ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (resource, api_routes.resource_pattern(resource))
    for resource in api_routes.resources_in_order()
)
ROUTE_METHODS: dict[str, frozenset[str]] = api_routes.methods_by_resource()
_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::(\d{12}):\S+$")
# What http.server refuses before a request reaches _handle, named for a person.
_PROTOCOL_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "the request line or a header is malformed"),
    405: ("method_not_allowed", "the method is not one this API knows"),
    414: ("uri_too_long", "request target: longer than 65536 bytes; lab ids are at most 64"),
    431: ("headers_too_large", "request headers: too many or too long"),
    505: ("http_version_not_supported", "HTTP version: allowed HTTP/1.0 or HTTP/1.1"),
}

ApiInvoker = Callable[[dict[str, Any]], Mapping[str, Any]]


class PrincipalHeaderError(ValueError):
    """The X-Ads-Principal header is not an IAM ARN."""


def match_route(path: str) -> tuple[str, dict[str, str]] | None:
    """The API Gateway resource template for ``path`` and its (decoded) path parameters."""
    trimmed = path.rstrip("/") or "/"
    for resource, pattern in ROUTES:
        found = pattern.match(trimmed)
        if found:
            return resource, {k: unquote(v) for k, v in found.groupdict().items()}
    return None


def _multi(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    # API Gateway's single-value maps keep the last value of a repeated key.
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        single[key] = value
        multi.setdefault(key, []).append(value)
    return single, multi


def caller_from_headers(headers: list[tuple[str, str]], caller: Caller = LOCAL_CALLER) -> str:
    """The principal a request acts as: its credential's, or the one the admin names."""
    for name, value in headers:
        if name.lower() == PRINCIPAL_HEADER.lower():
            if not caller.admin:
                raise AuthFailure(
                    403,
                    "forbidden",
                    f"header {PRINCIPAL_HEADER}: acting as another principal is allowed only "
                    "with the local admin credential; this request's credential is "
                    f"{caller.principal}'s",
                )
            value = value.strip()
            if not _PRINCIPAL_ARN.match(value):
                raise PrincipalHeaderError(
                    f"header {PRINCIPAL_HEADER}: found {value[:80]!r}; allowed: an IAM ARN "
                    f"such as {LOCAL_PRINCIPAL}"
                )
            return value
    return caller.principal


def build_proxy_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
    *,
    source_ip: str = LOOPBACK,
    request_id: str | None = None,
    now: float | None = None,
    caller: Caller = LOCAL_CALLER,
    requester_uid: int | None = None,
) -> dict[str, Any] | None:
    """The REST proxy event for one request, or None when no route matches.

    ``target`` is the request target as sent (path and query string); ``requester_uid``
    the OS uid the kernel says sent it, when known.
    """
    parts = urlsplit(target)
    path = parts.path or "/"
    route = match_route(path)
    if route is None:
        return None
    resource, path_parameters = route
    query, multi_query = _multi(parse_qsl(parts.query, keep_blank_values=True))
    single_headers, multi_headers = _multi(headers)
    principal = caller_from_headers(headers, caller)
    account_id = principal.split(":")[4] or LOCAL_ACCOUNT_ID
    request_id = request_id or str(uuid.uuid4())
    now = time.time() if now is None else now
    encoded_body: str | None = None
    is_base64 = False
    if body:
        try:
            encoded_body = body.decode("utf-8")
        except UnicodeDecodeError:
            encoded_body = base64.b64encode(body).decode("ascii")
            is_base64 = True
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method.upper(),
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "body": encoded_body,
        "isBase64Encoded": is_base64,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource,
            "httpMethod": method.upper(),
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "accountId": account_id,
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "domainName": single_headers.get("Host", f"{LOOPBACK}"),
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "authorizer": None
            if requester_uid is None
            else {"principalId": principal, REQUESTER_UID_KEY: str(requester_uid)},
            "identity": {
                "userArn": principal,
                "caller": principal.rsplit("/", 1)[-1],
                "user": principal.rsplit("/", 1)[-1],
                "accountId": account_id,
                "accessKey": None,
                "sourceIp": source_ip,
                "userAgent": single_headers.get("User-Agent", ""),
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "principalOrgId": None,
            },
        },
    }


def _problem(
    status: int, error: str, message: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps({"error": error, "message": message}),
        "isBase64Encoded": False,
    }


class _ApiRequestHandler(BaseHTTPRequestHandler):
    server: LocalApiServer
    protocol_version = "HTTP/1.1"
    server_version = "ads-local-api"

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _handle(self) -> None:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        response = self._respond_to(request_id)
        self._write(response, request_id)
        log.info(
            "request served",
            method=self.command,
            path=urlsplit(self.path).path,
            status=response.get("statusCode"),
            duration_ms=round((time.monotonic() - started) * 1000, 1),
            request_id=request_id,
        )

    def _respond_to(self, request_id: str) -> Mapping[str, Any]:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            return _problem(411, "length_required", "send the body with a Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            return _problem(400, "invalid_request", "Content-Length is not a number")
        if length < 0 or length > self.server.max_body_bytes:
            # The body is not read: drop the connection so it is not taken as the next request.
            self.close_connection = True
            return _problem(
                413,
                "payload_too_large",
                f"request body: found {length} bytes; allowed: at most "
                f"{self.server.max_body_bytes} bytes",
            )
        body = self.rfile.read(length) if length else None
        try:
            caller = self.server.authenticator.authenticate(
                self.command, self.path, list(self.headers.items()), body
            )
            event = build_proxy_event(
                self.command,
                self.path,
                list(self.headers.items()),
                body,
                source_ip=self.client_address[0],
                request_id=request_id,
                caller=caller,
                requester_uid=self._peer_uid(),
            )
        except AuthFailure as exc:
            challenge = (
                {"WWW-Authenticate": 'Bearer realm="ads-local"'} if exc.status == 401 else {}
            )
            return _problem(exc.status, exc.error, exc.message, challenge)
        except PrincipalHeaderError as exc:
            return _problem(400, "invalid_request", str(exc))
        if event is None:
            routes = ", ".join(resource for resource, _ in ROUTES)
            return _problem(
                404, "route_not_found", f"no route for {urlsplit(self.path).path}; routes: {routes}"
            )
        allowed = ROUTE_METHODS.get(event["resource"], frozenset())
        if event["httpMethod"] not in allowed:
            methods = ", ".join(sorted(allowed))
            return _problem(
                405,
                "method_not_allowed",
                f"method {event['httpMethod']} on {event['resource']}: not supported; "
                f"allowed: {methods}",
                {"Allow": methods},
            )
        try:
            # Requests run in parallel, as concurrent Lambda invocations do: the handler
            # keeps no per-request state, and moto's backends serialise their own calls
            # (ads.local.moto_serial).
            return self.server.invoke(event)
        except Exception:
            # API Gateway answers 502 when the integration itself breaks; the log keeps why.
            log.exception("the api handler raised", request_id=request_id)
            return _problem(502, "internal_error", f"the api handler failed (request {request_id})")

    def _peer_uid(self) -> int | None:
        try:
            server_end = self.connection.getsockname()
        except OSError:
            return None
        return peer_uid(self.client_address[:2], server_end[:2])

    def _write(self, response: Mapping[str, Any], request_id: str) -> None:
        status = int(response.get("statusCode") or 200)
        raw = response.get("body") or ""
        if response.get("isBase64Encoded"):
            payload = base64.b64decode(raw)
        else:
            payload = raw.encode("utf-8") if isinstance(raw, str) else json.dumps(raw).encode()
        headers: list[tuple[str, str]] = []
        multi = response.get("multiValueHeaders") or {}
        for name, values in multi.items():
            headers.extend((name, str(v)) for v in values)
        for name, value in (response.get("headers") or {}).items():
            if name not in multi:
                headers.append((name, str(value)))
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        self.send_response(status, reason)
        skip = {"content-length", "connection", "transfer-encoding"}
        for name, value in headers:
            if name.lower() not in skip:
                self.send_header(name, value)
        if not any(name.lower() == "content-type" for name, _ in headers) and payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Amzn-RequestId", request_id)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    @override
    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a 414 request line, an unknown method...) as JSON."""
        # An unknown method is 501 in http.server; for a client it is a method not allowed.
        status = 405 if code == HTTPStatus.NOT_IMPLEMENTED else code
        error, text = _PROTOCOL_ERRORS.get(status, ("invalid_request", message or "bad request"))
        if status == 405 and self.command:
            text = f"method {self.command[:20]!r}: not supported; allowed: DELETE, GET, POST"
        self.close_connection = True
        if not str(getattr(self, "request_version", "")).startswith("HTTP/1."):
            # An unparsable request line leaves HTTP/0.9, which has no status line or
            # headers: answer as HTTP/1.1 so the client can read the JSON error.
            self.request_version = self.protocol_version
        request_id = str(uuid.uuid4())
        self._write(_problem(status, error, text), request_id)
        log.info("request refused", status=status, error=error, request_id=request_id)

    @override
    def log_message(self, format: str, *args: Any) -> None:
        # Requests are logged once, with their outcome, by _handle.
        return


class LocalApiServer(ThreadingHTTPServer):
    """Serves the ADS API on 127.0.0.1 by calling ``invoke(event) -> proxy response``."""

    daemon_threads = True
    allow_reuse_address = True
    # Bursts of clients (a class starting its labs at once) must queue, not be refused:
    # the default backlog of 5 drops connections, which clients retry a second later.
    request_queue_size = 256

    def __init__(
        self,
        invoke: ApiInvoker,
        port: int = 0,
        *,
        authenticator: RequestAuthenticator,
        host: str = LOOPBACK,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if host not in (LOOPBACK, "localhost"):
            raise ValueError(
                f"host: found {host!r}; allowed: a loopback address (the local API is "
                "meant for this machine only)"
            )
        self.invoke = invoke
        self.authenticator = authenticator
        self.max_body_bytes = max_body_bytes
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _ApiRequestHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> LocalApiServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="ads-local-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.server_close()

    def __enter__(self) -> LocalApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
