"""Who may call the local API: credentials made at each start, verified on every request.

At start the daemon writes ``$ADS_HOME/local/api-credentials.json`` (0600, in a 0700
directory) with two fresh credentials:

* ``user``: the local principal (``LOCAL_PRINCIPAL``). The CLI signs with it; a request
  made with it acts as that principal and nobody else (``X-Ads-Principal`` is refused).
* ``admin``: may act as any principal by naming it in ``X-Ads-Principal`` (tests,
  benchmarks and operators of a shared server use this to act for several owners).

Holding a credential is being able to read that file: the uid that runs ADS. A lab runs
as another uid and cannot read ``$ADS_HOME``, so it cannot call the API at all, even
though the API listens on the loopback address the lab shares.

A request proves it holds a credential in one of two ways:

* ``Authorization: AWS4-HMAC-SHA256 ...``: SigV4 for ``execute-api`` with the
  credential's access key, as API Gateway's AWS_IAM authorizer expects, so the CLI signs
  local and real requests alike. The signature is recomputed with botocore's signer
  over the headers it names; one that cannot be verified is refused, never ignored.
* ``Authorization: Bearer <bearer_token>``: for curl and scripts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ads.local.private_files import write_private

LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_PRINCIPAL = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:user/local"
# The principal the admin credential acts as for admin operations (``ads sweep``): the
# local plane lists it in ADS_ADMIN_PRINCIPALS, so only the admin credential is an admin.
LOCAL_ADMIN_PRINCIPAL = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:user/local-admin"
CREDENTIALS_FILE_NAME = "api-credentials.json"
SERVICE = "execute-api"
ALGORITHM = "AWS4-HMAC-SHA256"
# SigV4 signatures are accepted for 15 minutes either side of the signing time, as AWS does.
MAX_CLOCK_SKEW_S = 15 * 60
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
_ACCESS_KEY_PREFIX = "ADSLOCAL"


class AuthFailure(Exception):
    """The request may not be served: ``status`` 401 (no valid credential) or 403."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


@dataclass(frozen=True)
class LocalCredential:
    principal: str
    admin: bool
    access_key_id: str
    secret_access_key: str
    bearer_token: str

    def to_json(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "admin": self.admin,
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            "bearer_token": self.bearer_token,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LocalCredential:
        return cls(
            principal=str(data["principal"]),
            admin=bool(data["admin"]),
            access_key_id=str(data["access_key_id"]),
            secret_access_key=str(data["secret_access_key"]),
            bearer_token=str(data["bearer_token"]),
        )

    @classmethod
    def generate(cls, principal: str, *, admin: bool) -> LocalCredential:
        return cls(
            principal=principal,
            admin=admin,
            access_key_id=_ACCESS_KEY_PREFIX + secrets.token_hex(6).upper(),
            secret_access_key=secrets.token_urlsafe(30),
            bearer_token=secrets.token_urlsafe(32),
        )


@dataclass(frozen=True)
class LocalCredentials:
    user: LocalCredential
    admin: LocalCredential

    def all(self) -> tuple[LocalCredential, ...]:
        return (self.user, self.admin)

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user.to_json(), "admin": self.admin.to_json()}


def credentials_file(state_dir: Path) -> Path:
    """Where the credentials of the plane whose state is in ``state_dir`` are kept."""
    return Path(state_dir) / CREDENTIALS_FILE_NAME


def create_credentials(state_dir: Path) -> LocalCredentials:
    """New credentials for this start, written owner-only; earlier ones stop working."""
    credentials = LocalCredentials(
        user=LocalCredential.generate(LOCAL_PRINCIPAL, admin=False),
        admin=LocalCredential.generate(LOCAL_PRINCIPAL, admin=True),
    )
    text = json.dumps(credentials.to_json(), indent=2) + "\n"
    write_private(credentials_file(state_dir), text.encode())
    return credentials


def read_credentials(path: Path) -> LocalCredentials | None:
    """The credentials in ``path``, or None when it is absent, unreadable or damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LocalCredentials(
            user=LocalCredential.from_json(data["user"]),
            admin=LocalCredential.from_json(data["admin"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the principal of its credential and whether it is the admin."""

    principal: str
    admin: bool


class RequestAuthenticator:
    """Checks a request's Authorization header against the plane's credentials."""

    def __init__(
        self,
        credentials: LocalCredentials,
        *,
        clock: Callable[[], float] = time.time,
        max_skew_s: float = MAX_CLOCK_SKEW_S,
        hint: str = "",
    ) -> None:
        self._by_access_key = {c.access_key_id: c for c in credentials.all()}
        self._by_token = {c.bearer_token: c for c in credentials.all()}
        self._clock = clock
        self._max_skew_s = max_skew_s
        self._hint = hint

    def authenticate(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes | None
    ) -> Caller:
        """The caller of a request, or :class:`AuthFailure` (401) when it proves nothing."""
        values = [v for k, v in headers if k.lower() == "authorization"]
        if not values:
            raise self._unauthorized("the request has no Authorization header")
        if len(values) > 1:
            raise self._unauthorized("the request has more than one Authorization header")
        authorization = values[0].strip()
        scheme = authorization.split(" ", 1)[0]
        if scheme.lower() == "bearer":
            return self._bearer(authorization[len(scheme) :].strip())
        if scheme == ALGORITHM:
            return self._sigv4(method, target, headers, body or b"", authorization)
        raise self._unauthorized(
            f"Authorization: found the scheme {scheme[:20]!r}; allowed: {ALGORITHM} or Bearer"
        )

    def _unauthorized(self, reason: str) -> AuthFailure:
        return AuthFailure(401, "unauthorized", reason + self._hint)

    def _bearer(self, token: str) -> Caller:
        for known, credential in self._by_token.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return Caller(credential.principal, credential.admin)
        raise self._unauthorized("the bearer token is not one of this control plane's")

    def _sigv4(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        authorization: str,
    ) -> Caller:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import ReadOnlyCredentials

        fields = _authorization_fields(authorization[len(ALGORITHM) :])
        scope = fields.get("Credential", "").split("/")
        signed = [h for h in fields.get("SignedHeaders", "").split(";") if h]
        signature = fields.get("Signature", "")
        if len(scope) != 5 or not signed or not signature:
            raise self._unauthorized(
                "Authorization: a SigV4 header needs Credential, SignedHeaders and Signature"
            )
        access_key, day, region, service, terminator = scope
        credential = self._by_access_key.get(access_key)
        if credential is None:
            raise self._unauthorized(f"the access key {access_key[:24]!r} is not known here")
        if service != SERVICE or terminator != "aws4_request":
            raise self._unauthorized(
                f"Credential scope: found {service}/{terminator}; allowed: {SERVICE}/aws4_request"
            )
        by_name = _header_map(headers)
        amz_date = by_name.get("x-amz-date", "")
        self._check_time(amz_date, day)
        if "host" not in signed or "x-amz-date" not in signed:
            raise self._unauthorized("SignedHeaders: host and x-amz-date must be signed")
        missing = [h for h in signed if h not in by_name]
        if missing:
            raise self._unauthorized(f"SignedHeaders names absent headers: {', '.join(missing)}")
        content_hash = by_name.get("x-amz-content-sha256")
        if content_hash is not None and content_hash != hashlib.sha256(body).hexdigest():
            raise self._unauthorized("X-Amz-Content-SHA256 does not match the body")
        request = AWSRequest(
            method=method.upper(),
            url=f"http://{by_name['host']}{target}",
            data=body,
            headers={name: by_name[name] for name in signed},
        )
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(
            ReadOnlyCredentials(credential.access_key_id, credential.secret_access_key, None),
            SERVICE,
            region,
        )
        # botocore leaves some headers out of a signature; a request naming one of them
        # was not signed by botocore's rules and cannot be checked by them.
        if signer.signed_headers(signer.headers_to_sign(request)) != ";".join(signed):
            raise self._unauthorized("SignedHeaders: found headers SigV4 does not sign")
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise self._unauthorized(
                "the request signature does not match the one calculated for this request"
            )
        return Caller(credential.principal, credential.admin)

    def _check_time(self, amz_date: str, day: str) -> None:
        if not _AMZ_DATE.match(amz_date):
            raise self._unauthorized(
                f"X-Amz-Date: found {amz_date[:20]!r}; allowed: a time such as 20260101T120000Z"
            )
        if amz_date[:8] != day:
            raise self._unauthorized("the Credential scope's date is not the X-Amz-Date's")
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        skew = abs(self._clock() - signed_at)
        if skew > self._max_skew_s:
            raise self._unauthorized(
                f"the signature was made {skew:.0f}s away from this machine's clock; "
                f"allowed: at most {self._max_skew_s:.0f}s"
            )


def _authorization_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def _header_map(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    # SigV4's canonical form joins repeated headers with commas and trims their values.
    joined: dict[str, list[str]] = {}
    for name, value in headers:
        joined.setdefault(name.lower(), []).append(" ".join(value.split()))
    return {name: ",".join(values) for name, values in joined.items()}
