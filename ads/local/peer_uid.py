"""Who is on the other end of a loopback TCP connection, as the kernel says.

The local API listens on 127.0.0.1, so every client is a process of this machine, and the
kernel's socket table names the uid that owns the client's end of each connection: the
uid of the process that created that socket. That is a fact the client cannot forge
(unlike a header), so the local API uses it as the requester's identity for what is read
with the requester's rights (:mod:`ads.providers.local_sources`).

Asked of the kernel for that one socket through netlink (:mod:`ads.local.sock_diag`),
or where that cannot be done read from ``/proc/net/tcp`` and ``/proc/net/tcp6``, rather
than through psutil: psutil's
``net_connections`` reports a socket's pid (found by scanning every process's open
files, which needs root and races with the process exiting), not the socket's owner,
which is the column this needs.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

from ads.local import sock_diag

PROC_NET = Path("/proc/net")
_TABLES = ("tcp", "tcp6")

Address = tuple[str, int]


def _decode_address(text: str) -> Address:
    # The kernel prints each 32-bit word of the address in host byte order, the port as
    # a plain hex number: "0100007F:1F90" is 127.0.0.1:8080 on a little-endian machine.
    host_hex, _, port_hex = text.partition(":")
    words = [int(host_hex[i : i + 8], 16) for i in range(0, len(host_hex), 8)]
    raw = b"".join(struct.pack("=I", word) for word in words)
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    address = ipaddress.ip_address(socket.inet_ntop(family, raw))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address), int(port_hex, 16)


def _normal(address: Address) -> Address:
    host = ipaddress.ip_address(address[0])
    if isinstance(host, ipaddress.IPv6Address) and host.ipv4_mapped:
        host = host.ipv4_mapped
    return str(host), int(address[1])


def socket_owners(lines: Iterable[str]) -> Iterable[tuple[Address, Address, int]]:
    """``(local address, remote address, uid)`` of each socket in a /proc/net/tcp table."""
    for line in lines:
        fields = line.split()
        # sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
        if len(fields) < 8 or not fields[0].endswith(":") or not fields[7].isdigit():
            continue
        try:
            yield _decode_address(fields[1]), _decode_address(fields[2]), int(fields[7])
        except ValueError:
            continue


def peer_uid(client: Address, server: Address, proc_net: Path = PROC_NET) -> int | None:
    """The uid owning the client's end of the connection ``client`` -> ``server``, or None
    when this machine's socket table has no such connection (a client elsewhere, one
    already gone, or no /proc)."""
    wanted = (_normal(client), _normal(server))
    if proc_net == PROC_NET:
        try:
            # One socket looked up by the kernel, not its whole table printed and read.
            return sock_diag.socket_uid(*wanted)
        except (OSError, ValueError):
            pass  # no sock_diag here: the table in /proc says the same
    for table in _TABLES:
        try:
            lines = (proc_net / table).read_text().splitlines()
        except OSError:
            continue
        for local, remote, uid in socket_owners(lines[1:]):
            if (local, remote) == wanted:
                return uid
    return None
