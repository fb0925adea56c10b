"""Credentials and SigV4 signing of ADS API requests (service ``execute-api``).

botocore's standard credential chain signs for API Gateway; a local endpoint is signed
with the local control plane's own credential.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ads.cli import exit_codes
from ads.cli.api_error import ApiError
from ads.cli.endpoint import ClientSettings, is_local_endpoint, local_api_credentials

SERVICE = "execute-api"
# A local control plane writes fresh credentials to $ADS_HOME/local/api-credentials.json
# at each start and verifies every signature with them; the CLI signs local requests
# with that file's user credential. These fixed ones only sign for a local endpoint
# that has no such file (a plane of another ADS_HOME refuses them).
LOCAL_ACCESS_KEY = "ADSLOCAL"
LOCAL_SECRET_KEY = "ads-local-secret-key-not-a-real-credential"


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
