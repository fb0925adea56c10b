"""The owner of a loopback connection's client end, asked of the kernel by sock_diag."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from ads.local import peer_uid as peer_uid_module
from ads.local import sock_diag
from ads.local.peer_uid import peer_uid

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="starting a client as another uid")


def _from_proc(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    # The same lookup through the /proc table only (a table other than the default one
    # is read without asking netlink; /proc/self/net is this process's view of it).
    return peer_uid(client, server, proc_net=Path("/proc/self/net"))


@as_root
def test_given_a_client_of_another_uid_when_asked_then_sock_diag_and_proc_name_that_uid():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        client = subprocess.Popen(
            [
                SYSTEM_PYTHON,
                "-c",
                f"import socket,sys; s=socket.create_connection(('127.0.0.1',{port})); "
                "sys.stdin.read()",
            ],
            stdin=subprocess.PIPE,
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            cwd="/",
        )
        try:
            server.settimeout(20)
            accepted, address = server.accept()
            with accepted:
                ends = (address[:2], accepted.getsockname()[:2])
                assert sock_diag.socket_uid(*ends) == NOBODY
                assert _from_proc(*ends) == NOBODY
                assert peer_uid(*ends) == NOBODY
        finally:
            client.communicate(b"", timeout=20)


def test_given_no_such_connection_when_asked_then_the_kernel_says_none():
    with socket.create_server(("127.0.0.1", 0)) as server:
        assert sock_diag.socket_uid(("127.0.0.1", 1), server.getsockname()) is None


def test_given_an_ipv6_loopback_connection_when_asked_then_its_owner_is_this_uid():
    if not socket.has_ipv6:
        pytest.fail("this machine has no IPv6 loopback; the local API's tests expect one")
    with socket.create_server(("::1", 0), family=socket.AF_INET6) as server:
        client = socket.create_connection(server.getsockname()[:2])
        accepted, address = server.accept()
        with client, accepted:
            assert sock_diag.socket_uid(address[:2], accepted.getsockname()[:2]) == os.getuid()


def test_given_no_sock_diag_when_asked_then_the_proc_table_answers(monkeypatch):
    def unavailable(*_: object) -> int | None:
        raise OSError(93, "Protocol not supported")

    monkeypatch.setattr(peer_uid_module.sock_diag, "socket_uid", unavailable)
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, address = server.accept()
        with client, accepted:
            assert peer_uid(address, accepted.getsockname()) == os.getuid()


def test_given_the_kernels_answers_when_read_then_errors_are_told_from_no_socket():
    header = struct.Struct("=IHHII")
    no_socket = header.pack(36, sock_diag.NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -2) + b"\0" * 16
    refused = header.pack(36, sock_diag.NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -1) + b"\0" * 16
    found = (
        header.pack(88, sock_diag.SOCK_DIAG_BY_FAMILY, 0, 1, 0)
        + b"\0" * 64
        + struct.pack("=II", 1234, 99)
    )

    assert sock_diag.uid_in_answer(no_socket) is None
    assert sock_diag.uid_in_answer(found) == 1234
    with pytest.raises(OSError):
        sock_diag.uid_in_answer(refused)
    with pytest.raises(OSError):
        sock_diag.uid_in_answer(b"\0" * 4)
    with pytest.raises(ValueError, match="one family"):
        sock_diag.request(("127.0.0.1", 1), ("::1", 2), 1)
