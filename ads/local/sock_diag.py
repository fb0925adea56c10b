"""The owner of one TCP socket, asked of the kernel by its addresses (netlink sock_diag).

``/proc/net/tcp`` answers the same question for every socket of the machine at once: the
kernel walks its whole TCP table to print it, which took 7 ms of CPU and 20 ms or more
of wall time per read on a busy 2-core machine, and the local API read it for every
request. ``ss`` asks instead through the sock_diag netlink family with the connection's
four addresses, and the kernel looks that one socket up in its hash table.

No well-kept library answers this without a large dependency (psutil reports a
socket's pid, not its owner; pyroute2 is a netlink toolkit), so the two structures of
``linux/inet_diag.h`` are packed here. :func:`socket_uid` answers None when the kernel
has no such socket, and raises :class:`OSError` where the kernel cannot be asked (no
sock_diag), so that the caller can fall back to ``/proc``.
"""

from __future__ import annotations

import ipaddress
import itertools
import socket
import struct

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLMSG_ERROR = 2
NLM_F_REQUEST = 1
ALL_TCP_STATES = 0xFFFFFFFF
INET_DIAG_NOCOOKIE = 0xFFFFFFFF
_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr: len, type, flags, seq, pid
_MESSAGE_UID = struct.Struct("=I")
# struct inet_diag_msg: family, state, timer, retrans, the socket id (48 bytes), then
# expires, rqueue, wqueue and the uid.
_UID_OFFSET = 4 + 48 + 12
_sequence = itertools.count(1)


def _packed_address(host: str) -> tuple[int, bytes]:
    address = ipaddress.ip_address(host)
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    return family, address.packed.ljust(16, b"\0")


def request(local: tuple[str, int], remote: tuple[str, int], sequence: int) -> bytes:
    """The SOCK_DIAG_BY_FAMILY request for the TCP socket at ``local`` connected to ``remote``."""
    family, source = _packed_address(local[0])
    remote_family, destination = _packed_address(remote[0])
    if family != remote_family:
        raise ValueError(f"addresses: found {local[0]} and {remote[0]}; allowed: one family")
    body = (
        # struct inet_diag_req_v2: family, protocol, ext, pad, states, then inet_diag_sockid
        struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, ALL_TCP_STATES)
        + struct.pack("!HH", local[1], remote[1])
        + source
        + destination
        + struct.pack("=III", 0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE)
    )
    header = _HEADER.pack(_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, sequence, 0)
    return header + body


def uid_in_answer(answer: bytes) -> int | None:
    """The uid in the kernel's answer; None when it says there is no such socket."""
    if len(answer) < _HEADER.size:
        raise OSError("sock_diag: a short answer")
    _, kind, _, _, _ = _HEADER.unpack_from(answer)
    if kind == NLMSG_ERROR:
        (error,) = struct.unpack_from("=i", answer, _HEADER.size)
        if error in (0, -2):  # ENOENT: no socket with these addresses
            return None
        raise OSError(-error, "sock_diag refused the request")
    if kind != SOCK_DIAG_BY_FAMILY or len(answer) < _HEADER.size + _UID_OFFSET + 4:
        raise OSError(f"sock_diag: an answer of type {kind}")
    return int(_MESSAGE_UID.unpack_from(answer, _HEADER.size + _UID_OFFSET)[0])


def socket_uid(local: tuple[str, int], remote: tuple[str, int]) -> int | None:
    """The uid owning the TCP socket at ``local`` connected to ``remote`` (None: no such
    socket); :class:`OSError` when the kernel cannot be asked."""
    sequence = next(_sequence) & 0xFFFFFFFF
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as link:
        link.settimeout(2.0)
        link.sendto(request(local, remote, sequence), (0, 0))
        return uid_in_answer(link.recv(8192))
