"""Where the CLI finds the ADS API: ``--endpoint``, ``ADS_ENDPOINT``, the config file, or
a running local control plane, and which region and profile sign for it."""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ads.cli import exit_codes
from ads.cli.api_error import ApiError

DEFAULT_REGION = "us-east-1"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

_API_GATEWAY_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")

CONFIGURE_HINT = (
    "configure the ADS endpoint in one of three ways: pass --endpoint URL, set ADS_ENDPOINT, "
    'or write {"endpoint": "URL"} to ~/.config/ads/config.json (or the file named by '
    "ADS_CONFIG); `ads local up` starts a local control plane that is found without any of these"
)


@dataclass(frozen=True)
class ClientSettings:
    endpoint: str
    endpoint_source: str
    region: str
    profile: str | None = None


def config_file_path(env: Mapping[str, str]) -> Path:
    if env.get("ADS_CONFIG"):
        return Path(env["ADS_CONFIG"]).expanduser()
    return Path(env.get("HOME") or Path.home()) / ".config" / "ads" / "config.json"


def local_control_plane_file(env: Mapping[str, str]) -> Path:
    home = env.get("ADS_HOME") or str(Path(env.get("HOME") or Path.home()) / ".ads")
    return Path(home).expanduser() / "local" / "control-plane.json"


def local_api_credentials(env: Mapping[str, str], *, admin: bool = False) -> Any:
    """The local control plane's user credential (botocore form), or None without one;
    ``admin``: its admin credential (admin operations such as ``ads sweep``)."""
    import botocore.credentials

    from ads.local.api_auth import credentials_file, read_credentials

    found = read_credentials(credentials_file(local_control_plane_file(env).parent))
    if found is None:
        return None
    credential = found.admin if admin else found.user
    return botocore.credentials.ReadOnlyCredentials(
        credential.access_key_id, credential.secret_access_key, None
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
