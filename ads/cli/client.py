"""HTTP client of the ADS REST API, used by `ads deploy/list/show/history/destroy`.

It finds the endpoint (flag, environment, config file, a running local control plane),
signs every request with SigV4 for ``execute-api`` through botocore's standard
credential chain, and turns every failure into an :class:`ApiError` that carries the
exit code scripts rely on. The standard library does the HTTP so that the client works
unchanged against API Gateway and against the local control plane.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ads import __version__
from ads.cli import exit_codes
from ads.cli.exit_codes import CommandError
from ads.cli.retries import RetryPolicy, call_with_retries, is_transient
from ads.errors import FieldProblem

SERVICE = "execute-api"
DEFAULT_REGION = "us-east-1"
DEFAULT_HTTP_TIMEOUT_S = 30.0
# A local control plane writes fresh credentials to $ADS_HOME/local/api-credentials.json
# at each start and verifies every signature with them; the CLI signs local requests
# with that file's user credential. These fixed ones only sign for a local endpoint
# that has no such file (a plane of another ADS_HOME refuses them).
LOCAL_ACCESS_KEY = "ADSLOCAL"
LOCAL_SECRET_KEY = "ads-local-secret-key-not-a-real-credential"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

_API_GATEWAY_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")

CONFIGURE_HINT = (
    "configure the ADS endpoint in one of three ways: pass --endpoint URL, set ADS_ENDPOINT, "
    'or write {"endpoint": "URL"} to ~/.config/ads/config.json (or the file named by '
    "ADS_CONFIG); `ads local up` starts a local control plane that is found without any of these"
)


class ApiError(CommandError):
    """A failed call to the ADS API (or no way to make one): HTTP status and answer kept."""

    code = "api_error"

    def __init__(
        self,
        message: str,
        *,
        exit_code: int,
        http_status: int | None = None,
        problems: list[FieldProblem] | None = None,
        body: Any = None,
        failure: str | None = None,
    ) -> None:
        super().__init__(message, exit_code=exit_code, problems=problems)
        self.status = http_status
        self.body = body
        # Without an answer: "timeout", "reset" or "refused" (nothing listens).
        self.failure = failure

    @property
    def transient(self) -> bool:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return is_transient(self.status, error, self.failure)


def exit_code_for_status(status: int) -> int:
    if status == 400:
        return exit_codes.INVALID_INPUT
    if status == 404:
        return exit_codes.NOT_FOUND
    if status == 409:
        return exit_codes.CONFLICT
    if status in (401, 403):
        return exit_codes.UNREACHABLE
    return exit_codes.FAILED


# --- where the endpoint comes from ---------------------------------------------------


@dataclass(frozen=True)
class ClientSettings:
    endpoint: str
    endpoint_source: str
    region: str
    profile: str | None = None


@dataclass
class _ConfigFile:
    path: Path
    values: dict[str, Any] = field(default_factory=dict)


def config_file_path(env: Mapping[str, str]) -> Path:
    if env.get("ADS_CONFIG"):
        return Path(env["ADS_CONFIG"]).expanduser()
    return Path(env.get("HOME") or Path.home()) / ".config" / "ads" / "config.json"


def local_control_plane_file(env: Mapping[str, str]) -> Path:
    home = env.get("ADS_HOME") or str(Path(env.get("HOME") or Path.home()) / ".ads")
    return Path(home).expanduser() / "local" / "control-plane.json"


def local_api_credentials(env: Mapping[str, str]) -> Any:
    """The local control plane's user credential (botocore form), or None without one."""
    import botocore.credentials

    from ads.local.api_auth import credentials_file, read_credentials

    found = read_credentials(credentials_file(local_control_plane_file(env).parent))
    if found is None:
        return None
    return botocore.credentials.ReadOnlyCredentials(
        found.user.access_key_id, found.user.secret_access_key, None
    )


def _read_json_object(path: Path, what: str) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ApiError(
            f"{what} {path}: cannot be read ({exc.strerror})", exit_code=exit_codes.INVALID_INPUT
        ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(
            f"{what} {path}: found invalid JSON (line {exc.lineno}: {exc.msg}); "
            'allowed: a JSON object such as {"endpoint": "https://..."}',
            exit_code=exit_codes.INVALID_INPUT,
        ) from None
    if not isinstance(value, dict):
        raise ApiError(
            f"{what} {path}: found a JSON {type(value).__name__}; allowed: a JSON object",
            exit_code=exit_codes.INVALID_INPUT,
        )
    return value


def _checked_endpoint(url: str, source: str) -> str:
    try:
        parsed = urllib.parse.urlsplit(url.strip())
        # .port raises for a port out of range or not a number; urlsplit for a broken [IPv6].
        usable = parsed.scheme in ("http", "https") and bool(parsed.hostname)
        usable = usable and (parsed.port is None or parsed.port > 0)
    except ValueError:
        usable = False
    if not usable:
        raise ApiError(
            f"endpoint from {source}: found {url!r}; allowed: an http:// or https:// URL "
            "such as https://abc123.execute-api.us-east-1.amazonaws.com/prod",
            exit_code=exit_codes.INVALID_INPUT,
        )
    return url.strip().rstrip("/")


def region_from_endpoint(endpoint: str) -> str | None:
    host = (urllib.parse.urlsplit(endpoint).hostname or "").lower()
    match = _API_GATEWAY_HOST.match(host)
    return match.group(1) if match else None


def is_local_endpoint(endpoint: str) -> bool:
    host = (urllib.parse.urlsplit(endpoint).hostname or "").lower()
    return host in LOCAL_HOSTS or host.startswith("127.")


def resolve_settings(
    *,
    endpoint: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ClientSettings:
    """Pick the endpoint, region and profile: flags, environment, config file, local plane."""
    env = os.environ if env is None else env
    config_path = config_file_path(env)
    config = _read_json_object(config_path, "config file") or {}

    if endpoint:
        url, source = endpoint, "--endpoint"
    elif env.get("ADS_ENDPOINT"):
        url, source = env["ADS_ENDPOINT"], "ADS_ENDPOINT"
    elif config.get("endpoint"):
        url, source = str(config["endpoint"]), f"config file {config_path}"
    else:
        plane_path = local_control_plane_file(env)
        plane = _read_json_object(plane_path, "local control plane file") or {}
        if not plane.get("endpoint"):
            raise ApiError(
                f"no ADS endpoint is configured; {CONFIGURE_HINT}", exit_code=exit_codes.UNREACHABLE
            )
        url, source = str(plane["endpoint"]), f"local control plane {plane_path}"
    url = _checked_endpoint(url, source)

    # API Gateway accepts only the region in its own host name, so that one wins; for
    # other hosts (custom domains, the local plane) the flag, then the config file decide.
    chosen_region = (
        region_from_endpoint(url)
        or region
        or (str(config["region"]) if config.get("region") else None)
        or env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )
    chosen_profile = profile or (str(config["profile"]) if config.get("profile") else None)
    return ClientSettings(
        endpoint=url, endpoint_source=source, region=chosen_region, profile=chosen_profile
    )


# --- credentials and signing ----------------------------------------------------------


def load_credentials(settings: ClientSettings, env: Mapping[str, str] | None = None) -> Any:
    """The local plane's credential for a local endpoint, else botocore's chain."""
    import botocore.credentials
    import botocore.exceptions
    import botocore.session

    env = os.environ if env is None else env
    if is_local_endpoint(settings.endpoint):
        # AWS credentials in the environment mean nothing to the local plane.
        local = local_api_credentials(env)
        if local is not None:
            return local

    try:
        session = botocore.session.Session(profile=settings.profile)
        credentials = session.get_credentials()
    except botocore.exceptions.ProfileNotFound:
        raise ApiError(
            f"AWS profile: found {settings.profile!r}, which is not in your AWS config; "
            "allowed: a profile from ~/.aws/config or ~/.aws/credentials",
            exit_code=exit_codes.UNREACHABLE,
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise ApiError(
            f"cannot load AWS credentials: {exc}", exit_code=exit_codes.UNREACHABLE
        ) from None
    if credentials is not None:
        return credentials.get_frozen_credentials()
    if is_local_endpoint(settings.endpoint):
        return botocore.credentials.ReadOnlyCredentials(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, None)
    raise ApiError(
        f"no AWS credentials found to sign requests to {settings.endpoint}; set AWS_PROFILE "
        '(or --profile, or "profile" in the ADS config file), or AWS_ACCESS_KEY_ID and '
        "AWS_SECRET_ACCESS_KEY, or run where an IAM role is available",
        exit_code=exit_codes.UNREACHABLE,
    )


def signed_headers(
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    credentials: Any,
    region: str,
) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers))
    SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return dict(request.headers.items())


# --- the client -----------------------------------------------------------------------


class AdsApiClient:
    """One method per API route; each returns the decoded JSON answer or raises ApiError."""

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

    @classmethod
    def from_args(cls, args: Any) -> AdsApiClient:
        settings = resolve_settings(
            endpoint=getattr(args, "endpoint", None),
            region=getattr(args, "region", None),
            profile=getattr(args, "profile", None),
        )
        return cls(settings)

    def without_retries(self) -> AdsApiClient:
        """The same client making each request once (for loops that tolerate failures)."""
        return AdsApiClient(
            self.settings,
            self._credentials,
            timeout_s=self.timeout_s,
            retry_policy=RetryPolicy(attempts=1),
        )

    @property
    def credentials(self) -> Any:
        if self._credentials is None:
            self._credentials = load_credentials(self.settings)
        return self._credentials

    # routes

    def create_lab(self, body: dict[str, Any], idempotency_key: str | None = None) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.request("POST", "/labs", body=body, headers=headers)

    def list_labs(
        self,
        statuses: list[str] | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> Any:
        query: dict[str, str] = {}
        if statuses:
            query["status"] = ",".join(statuses)
        if limit is not None:
            query["limit"] = str(limit)
        if next_token:
            query["next_token"] = next_token
        return self.request("GET", "/labs", query=query)

    def get_lab(self, lab_id: str) -> Any:
        return self.request("GET", f"/labs/{_quote(lab_id)}")

    def get_history(self, lab_id: str) -> Any:
        return self.request("GET", f"/labs/{_quote(lab_id)}/history")

    def destroy_lab(self, lab_id: str) -> Any:
        return self.request("DELETE", f"/labs/{_quote(lab_id)}")

    # transport

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
        if status in (401, 403):
            message = (
                f"the ADS endpoint refused the request ({status}): {message}; check that your "
                f"AWS credentials are valid and allowed to call {self.settings.endpoint} "
                f"(signing region {self.settings.region})"
            )
        elif status >= 500:
            message = f"the ADS API failed ({status}): {message}"
        return ApiError(
            message,
            exit_code=exit_code_for_status(status),
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


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


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
