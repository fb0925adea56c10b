"""End to end: who may call the local control plane's API, and who may read its files.

Runs against the session's control plane (`ads local up` in its own ADS_HOME) with plain
HTTP, as curl or a process inside a lab would.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.credentials import ReadOnlyCredentials

from ads.cli.signing import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, signed_headers
from ads.local.api_auth import credentials_file, read_credentials
from ads.local.daemon import local_dir
from tests.e2e.harness import REPO_ROOT, auth_headers

pytestmark = pytest.mark.e2e

OTHER_OWNER = "arn:aws:iam::123456789012:user/another-owner"
FAILING_BUILD = REPO_ROOT / "events/labspecs/failing-build.labspec.json"


def call(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def _credentials(home: Path):
    found = read_credentials(credentials_file(local_dir(home)))
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/labs", None),
        ("POST", "/labs", b'{"labspec": {}}'),
        ("DELETE", "/labs/hello-web-01abc", None),
        ("GET", "/labs/hello-web-01abc/history", None),
        ("POST", "/plans", b"{}"),
        ("GET", "/no-such-route", None),
    ],
)
def test_given_no_credential_when_a_route_is_called_then_401_in_json(
    local_plane, method, path, body
):
    status, headers, text = call(method, local_plane.endpoint + path, body)

    assert status == 401, text
    assert headers["Content-Type"] == "application/json"
    assert json.loads(text)["error"] == "unauthorized"
    assert "WWW-Authenticate" in headers


def test_given_a_principal_header_without_any_credential_when_labs_are_listed_then_401(
    local_plane,
):
    status, _, text = call(
        "GET", f"{local_plane.endpoint}/labs", headers={"X-Ads-Principal": OTHER_OWNER}
    )
    assert status == 401, text


def test_given_a_sigv4_header_that_cannot_be_verified_when_sent_then_it_is_refused_not_ignored(
    local_plane,
):
    url = f"{local_plane.endpoint}/labs"
    user = _credentials(local_plane.home).user
    fixed = ReadOnlyCredentials(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, None)
    wrong_secret = ReadOnlyCredentials(user.access_key_id, "not-the-secret", None)
    for credentials in (fixed, wrong_secret):
        headers = signed_headers("GET", url, None, {}, credentials, "us-east-1")
        status, _, text = call("GET", url, headers=headers)
        assert status == 401, text
    # Signed properly, then the body swapped: the payload hash no longer matches.
    right = ReadOnlyCredentials(user.access_key_id, user.secret_access_key, None)
    headers = signed_headers("POST", f"{local_plane.endpoint}/plans", b"{}", {}, right, "us-east-1")
    status, _, text = call("POST", f"{local_plane.endpoint}/plans", b'{"x":1}', headers)
    assert status == 401, text
    assert "signature does not match" in json.loads(text)["message"]


def test_given_the_users_own_sigv4_credential_when_it_lists_labs_then_200(local_plane):
    url = f"{local_plane.endpoint}/labs?limit=5"
    user = _credentials(local_plane.home).user
    credentials = ReadOnlyCredentials(user.access_key_id, user.secret_access_key, None)
    headers = signed_headers("GET", url, None, {"Accept": "application/json"}, credentials, "x")
    status, _, text = call("GET", url, headers=headers)
    assert status == 200, text


def test_given_the_user_credential_when_it_names_another_owner_then_that_owners_lab_is_out_of_reach(
    local_plane,
):
    endpoint = local_plane.endpoint
    as_other = {**auth_headers(local_plane.home, admin=True), "X-Ads-Principal": OTHER_OWNER}
    body = json.dumps({"labspec": json.loads(FAILING_BUILD.read_text()), "options": {}}).encode()
    status, _, text = call("POST", f"{endpoint}/labs", body, as_other)
    assert status == 202, text
    lab_id = json.loads(text)["lab_id"]
    user = auth_headers(local_plane.home)
    pretending = {**user, "X-Ads-Principal": OTHER_OWNER}
    try:
        status, _, text = call("GET", f"{endpoint}/labs", headers=pretending)
        assert status == 403, text
        assert "admin credential" in json.loads(text)["message"]
        status, _, text = call("DELETE", f"{endpoint}/labs/{lab_id}", headers=pretending)
        assert status == 403, text
        # Without the header the user is itself, and the lab is not its own.
        status, _, text = call("GET", f"{endpoint}/labs", headers=user)
        assert lab_id not in {lab["lab_id"] for lab in json.loads(text)["labs"]}
        status, _, text = call("DELETE", f"{endpoint}/labs/{lab_id}", headers=user)
        assert status == 404, text
        status, _, text = call("GET", f"{endpoint}/labs/{lab_id}", headers=as_other)
        assert json.loads(text)["status"] not in ("DESTROYING", "DESTROYED"), text
    finally:
        call("DELETE", f"{endpoint}/labs/{lab_id}", headers=as_other)


def test_given_a_running_plane_when_its_state_directory_is_inspected_then_it_is_owner_only(
    local_plane,
):
    state_dir = local_dir(local_plane.home)
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state_dir.iterdir() if p.is_file()}
    for expected in ("control-plane.json", "control-plane.log", "api-credentials.json"):
        assert expected in files, sorted(files)
    assert any(name.startswith("records.sqlite3") for name in files), sorted(files)
    assert {name: mode for name, mode in files.items() if mode != 0o600} == {}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as another uid")
def test_given_a_process_of_another_uid_when_it_tries_the_credentials_and_the_api_then_both_refuse(
    local_plane,
):
    nobody = pwd.getpwnam("nobody")
    probe = (
        "import sys, urllib.request, urllib.error\n"
        "try:\n"
        "    open(sys.argv[1]).read()\n"
        "    print('read')\n"
        "except PermissionError:\n"
        "    print('denied')\n"
        "try:\n"
        "    urllib.request.urlopen(sys.argv[2], timeout=10)\n"
        "    print('200')\n"
        "except urllib.error.HTTPError as exc:\n"
        "    print(exc.code)\n"
    )
    result = subprocess.run(
        [
            "/usr/bin/python3",
            "-c",
            probe,
            str(credentials_file(local_dir(local_plane.home))),
            f"{local_plane.endpoint}/labs",
        ],
        user=nobody.pw_uid,
        group=nobody.pw_gid,
        extra_groups=[],
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.split() == ["denied", "401"], result.stderr
