"""HTTP transport of the ADS API client: signed requests through the standard library,
repeated while a failure is transient when the request is safe to repeat, and every
failure turned into an :class:`ApiError` a person can act on.

The standard library does the HTTP so that the client works unchanged against API
Gateway and against the local control plane.
"""

from __future__ import annotations

import http.client
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from ads import __version__
from ads.cli import exit_codes
from ads.cli.api_error import QUOTA_ERRORS, ApiError, exit_code_for_status
from ads.cli.endpoint import ClientSettings
from ads.cli.retries import RetryPolicy, call_with_retries
from ads.cli.signing import load_credentials, signed_headers
from ads.errors import FieldProblem

DEFAULT_HTTP_TIMEOUT_S = 30.0


class ApiTransport:
    """Signed JSON requests to one ADS endpoint; each returns the decoded answer."""

    def __init__(
        self,
        settings: ClientSettings,
        credentials: Any = None,
        *,
        timeout_s: float | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self._credentials = credentials
        self.timeout_s = DEFAULT_HTTP_TIMEOUT_S if timeout_s is None else timeout_s
        self.retry_policy = retry_policy or RetryPolicy()

    @property
    def credentials(self) -> Any:
        if self._credentials is None:
            self._credentials = load_credentials(self.settings)
        return self._credentials

    def url_for(self, path: str, query: Mapping[str, str] | None = None) -> str:
        url = self.settings.endpoint + path
        if query:
            url += "?" + urllib.parse.urlencode(sorted(query.items()), quote_via=urllib.parse.quote)
        return url

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded answer; a request that is safe to repeat is retried while the
        failure is transient (no answer in time, 429/502/503/504, a key in flight)."""
        names = {name.lower() for name in headers or {}}
        repeatable = method in ("GET", "HEAD", "DELETE") or "idempotency-key" in names

        def attempt() -> Any:
            return self._request_once(method, path, body=body, query=query, headers=headers)

        if not repeatable:
            return attempt()
        return call_with_retries(
            attempt,
            lambda exc: isinstance(exc, ApiError) and exc.transient,
            policy=self.retry_policy,
            on_retry=self._report_retry,
        )

    def _report_retry(self, exc: Exception, attempt: int, wait_s: float) -> None:
        reason = exc.message if isinstance(exc, ApiError) else str(exc)
        print(
            f"ads: {reason}; retrying in {wait_s:.1f}s "
            f"(attempt {attempt} of {self.retry_policy.attempts})",
            file=sys.stderr,
            flush=True,
        )

    def _request_once(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        url = self.url_for(path, query)
        data = json.dumps(body).encode("utf-8") if body is not None else None
        base_headers = {"Accept": "application/json", "User-Agent": f"ads-cli/{__version__}"}
        if data is not None:
            base_headers["Content-Type"] = "application/json"
        base_headers.update(headers or {})
        final_headers = signed_headers(
            method, url, data, base_headers, self.credentials, self.settings.region
        )
        request = urllib.request.Request(url, data=data, method=method, headers=final_headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return _decode(response.read(), response.status)
        except urllib.error.HTTPError as exc:
            raise self._error_from_response(exc.code, exc.read()) from None
        except urllib.error.URLError as exc:
            raise self._unreachable(exc.reason) from None
        except (OSError, http.client.HTTPException) as exc:
            # Timeouts while reading, resets and truncated answers all mean the same to a
            # user: the endpoint did not answer properly.
            raise self._unreachable(exc) from None

    def _unreachable(self, reason: Any) -> ApiError:
        failure = _failure_kind(reason)
        if failure == "timeout":
            # It answered the connection, so it runs: it is busy, not absent.
            return ApiError(
                f"the ADS endpoint {self.settings.endpoint} (from "
                f"{self.settings.endpoint_source}) gave no answer within {self.timeout_s:g}s; "
                "it is running but busy or slow",
                exit_code=exit_codes.UNREACHABLE,
                failure=failure,
            )
        if isinstance(reason, OSError) and reason.strerror:
            reason = reason.strerror
        message = (
            f"cannot reach the ADS endpoint {self.settings.endpoint} "
            f"(from {self.settings.endpoint_source}): {reason}"
        )
        local = self.settings.endpoint_source.startswith("local control plane")
        if local and failure == "refused":
            message += "; the local control plane is not running: start it with `ads local up`"
        else:
            message += "; check the URL and your network"
        return ApiError(message, exit_code=exit_codes.UNREACHABLE, failure=failure)

    def _error_from_response(self, status: int, raw: bytes) -> ApiError:
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        message = ""
        problems: list[FieldProblem] = []
        if isinstance(body, dict):
            # API Gateway's own refusals use "message" (or "Message"), ours add "error".
            message = str(body.get("message") or body.get("Message") or body.get("error") or "")
            for item in body.get("problems") or []:
                if isinstance(item, dict):
                    problems.append(
                        FieldProblem(
                            path=str(item.get("path", "")),
                            found=str(item.get("found", "")),
                            allowed=str(item.get("allowed", "")),
                        )
                    )
        if not message:
            text = raw.decode("utf-8", "replace").strip().splitlines()
            message = text[0][:200] if text else "no details"
        error = body.get("error") if isinstance(body, dict) else None
        if error in QUOTA_ERRORS:
            pass  # the API's message names the quota, the use and the limit
        elif status in (401, 403):
            message = (
                f"the ADS endpoint refused the request ({status}): {message}; check that your "
                f"AWS credentials are valid and allowed to call {self.settings.endpoint} "
                f"(signing region {self.settings.region})"
            )
        elif status >= 500:
            message = f"the ADS API failed ({status}): {message}"
        return ApiError(
            message,
            exit_code=exit_code_for_status(status, error),
            http_status=status,
            problems=problems,
            body=body,
        )


def _failure_kind(reason: Any) -> str:
    if isinstance(reason, TimeoutError | http.client.RemoteDisconnected):
        # A server that closes without answering is one that gave up on the request.
        return "timeout" if isinstance(reason, TimeoutError) else "reset"
    if isinstance(reason, ConnectionRefusedError):
        return "refused"
    if isinstance(reason, ConnectionError | http.client.HTTPException):
        return "reset"
    return "other"


def _decode(raw: bytes, status: int) -> Any:
    if not raw:
        return {}
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(
            f"the ADS endpoint answered {status} with something that is not JSON: "
            f"{raw[:120]!r}; is the endpoint URL the ADS API?",
            exit_code=exit_codes.FAILED,
        ) from None
