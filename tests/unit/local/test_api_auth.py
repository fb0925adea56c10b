"""The local API's request authentication, without a server: SigV4 checked with botocore."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from ads.local.api_auth import (
    AuthFailure,
    LocalCredentials,
    RequestAuthenticator,
    create_credentials,
    credentials_file,
    read_credentials,
)

HOST = "127.0.0.1:8765"
URL = f"http://{HOST}/labs?limit=5"


@pytest.fixture
def credentials(tmp_path) -> LocalCredentials:
    return create_credentials(tmp_path)


def _signed(credential, *, url=URL, method="GET", body=b"", service="execute-api", when=None):
    request = AWSRequest(method=method, url=url, data=body, headers={"Accept": "a/b"})
    signer = SigV4Auth(
        ReadOnlyCredentials(credential.access_key_id, credential.secret_access_key, None),
        service,
        "us-east-1",
    )
    if when is None:
        signer.add_auth(request)
    else:
        # add_auth stamps the current time; sign as of `when` instead.
        request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
        request.headers["X-Amz-Date"] = request.context["timestamp"]
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical), request)
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, "
            f"SignedHeaders={signer.signed_headers(signer.headers_to_sign(request))}, "
            f"Signature={signature}"
        )
    headers = [("Host", HOST), *request.headers.items()]
    return method, "/labs?limit=5", headers, body


def test_given_new_credentials_when_written_then_the_file_is_0600_and_reads_back(tmp_path):
    made = create_credentials(tmp_path)
    path = credentials_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_credentials(path) == made
    assert made.user.access_key_id != made.admin.access_key_id
    assert not made.user.admin and made.admin.admin


def test_given_a_request_signed_with_the_user_key_when_checked_then_the_caller_is_the_user(
    credentials,
):
    caller = RequestAuthenticator(credentials).authenticate(*_signed(credentials.user))
    assert caller.principal == credentials.user.principal
    assert caller.admin is False


def test_given_the_admin_bearer_token_when_checked_then_the_caller_is_the_admin(credentials):
    headers = [("Authorization", f"Bearer {credentials.admin.bearer_token}")]
    assert RequestAuthenticator(credentials).authenticate("GET", "/labs", headers, None).admin


def test_given_credentials_of_an_earlier_start_when_used_then_401(tmp_path, credentials):
    earlier = credentials
    current = create_credentials(tmp_path)
    with pytest.raises(AuthFailure) as refused:
        RequestAuthenticator(current).authenticate(*_signed(earlier.user))
    assert refused.value.status == 401
    assert "not known here" in refused.value.message


def test_given_a_signature_made_20_minutes_ago_when_checked_then_401_names_the_allowed_skew(
    credentials,
):
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    old = datetime(2026, 1, 1, 11, 40, tzinfo=UTC)
    auth = RequestAuthenticator(credentials, clock=now.timestamp)
    with pytest.raises(AuthFailure, match="at most 900s"):
        auth.authenticate(*_signed(credentials.user, when=old))
    fresh = datetime(2026, 1, 1, 11, 55, tzinfo=UTC)
    assert auth.authenticate(*_signed(credentials.user, when=fresh)).principal


def test_given_a_signature_for_another_service_when_checked_then_401(credentials):
    with pytest.raises(AuthFailure, match="execute-api"):
        RequestAuthenticator(credentials).authenticate(*_signed(credentials.user, service="s3"))


def test_given_a_signed_request_to_another_path_when_checked_then_401(credentials):
    method, _, headers, body = _signed(credentials.user)
    with pytest.raises(AuthFailure, match="signature does not match"):
        RequestAuthenticator(credentials).authenticate(method, "/labs?limit=500", headers, body)


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic dXNlcjpwYXNz",
        "AWS4-HMAC-SHA256 garbage",
        "Bearer ",
        "AWS4-HMAC-SHA256 Credential=a/b/c/execute-api/aws4_request, SignedHeaders=, Signature=x",
    ],
)
def test_given_an_authorization_header_that_proves_nothing_when_checked_then_401(
    credentials, authorization
):
    with pytest.raises(AuthFailure) as refused:
        RequestAuthenticator(credentials).authenticate(
            "GET", "/labs", [("Authorization", authorization)], None
        )
    assert refused.value.status == 401
