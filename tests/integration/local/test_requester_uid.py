"""The local API learns which OS user is calling from the kernel's socket table, and the
api handler gets it as an authorizer's assertion that no request header can change."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from ads.local.api_auth import (
    LOCAL_PRINCIPAL,
    LocalCredential,
    LocalCredentials,
    RequestAuthenticator,
)
from ads.local.http_api import LocalApiServer
from ads.local.peer_uid import peer_uid, socket_owners
from ads.providers.local_sources import REQUESTER_UID_KEY

CREDENTIALS = LocalCredentials(
    user=LocalCredential.generate(LOCAL_PRINCIPAL, admin=False),
    admin=LocalCredential.generate(LOCAL_PRINCIPAL, admin=True),
)
# No account has these uids on a test machine: the kernel, not /etc/passwd, names them.
CLIENT_UID = 61_871
# The client must run as that uid, which cannot enter the repository's virtualenv.
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="starting a client as another uid")

CLIENT = textwrap.dedent(
    """
    import json, sys, urllib.request
    url, token = sys.argv[1], sys.argv[2]
    request = urllib.request.Request(
        url, headers={"Authorization": "Bearer " + token, "X-Ads-Requester-Uid": "0"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        print(answer.status)
    """
)


class RecordingHandler:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "body": json.dumps({"labs": []}), "isBase64Encoded": False}


def _call_as(uid: int | None, url: str) -> subprocess.CompletedProcess:
    token = CREDENTIALS.user.bearer_token
    return subprocess.run(
        [SYSTEM_PYTHON, "-c", CLIENT, url, token],
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
        user=uid,
        group=uid,
        extra_groups=[] if uid is not None else None,
    )


def test_given_a_loopback_connection_when_looked_up_then_its_client_end_is_owned_by_this_uid():
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, address = server.accept()
        with client, accepted:
            assert peer_uid(address, accepted.getsockname()) == os.getuid()
            # The server's own end answers as the server, the reverse direction as no one.
            assert peer_uid(accepted.getsockname(), address) == os.getuid()
            assert peer_uid(("127.0.0.1", 1), accepted.getsockname()) is None


def test_given_a_kernel_socket_table_when_parsed_then_addresses_and_owners_are_read():
    # The layout /proc/net/tcp and tcp6 have on a little-endian machine.
    local = "0100007F:A3F2" if sys.byteorder == "little" else "7F000001:A3F2"
    mapped = (
        "0000000000000000FFFF00000100007F:1F90"
        if sys.byteorder == "little"
        else "00000000000000000000FFFF7F000001:1F90"
    )
    lines = [
        f"   0: {local} {local[:-4]}1F90 01 00000000:00000000 00:00000000 00000000  1000 0 123",
        f"   1: {mapped} {mapped[:-4]}A3F2 01 00000000:00000000 00:00000000 00000000  33 0 9",
        "garbage line",
    ]

    owners = list(socket_owners(lines))

    assert owners == [
        (("127.0.0.1", 0xA3F2), ("127.0.0.1", 8080), 1000),
        (("127.0.0.1", 8080), ("127.0.0.1", 0xA3F2), 33),
    ]


@as_root
def test_given_a_client_of_another_uid_when_it_calls_the_local_api_then_the_handler_is_told_that_uid():
    handler = RecordingHandler()
    with LocalApiServer(handler, 0, authenticator=RequestAuthenticator(CREDENTIALS)) as server:
        result = _call_as(CLIENT_UID, f"{server.endpoint}/labs")

    assert result.returncode == 0, result.stderr
    authorizer = handler.events[-1]["requestContext"]["authorizer"]
    # The header the client sent to claim root is only a header.
    assert authorizer[REQUESTER_UID_KEY] == str(CLIENT_UID)
    assert authorizer["principalId"] == LOCAL_PRINCIPAL


def test_given_a_client_of_this_uid_when_it_calls_the_local_api_then_the_handler_is_told_this_uid():
    handler = RecordingHandler()
    with LocalApiServer(handler, 0, authenticator=RequestAuthenticator(CREDENTIALS)) as server:
        result = _call_as(None, f"{server.endpoint}/labs")

    assert result.returncode == 0, result.stderr
    authorizer = handler.events[-1]["requestContext"]["authorizer"]
    assert authorizer[REQUESTER_UID_KEY] == str(os.getuid())
