"""Ports for local labs: outside the kernel's ephemeral range, and never the same port
for two labs created at once."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from ads.providers import local_runtime_env
from ads.providers.base import VmCreateFailed
from ads.providers.local_runtime_env import LAB_PORT_RANGE, free_port, two_free_ports


@pytest.fixture(autouse=True)
def no_reservations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_runtime_env, "_reserved", {})


def test_given_the_kernels_ephemeral_range_when_ports_are_chosen_then_they_lie_below_it():
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32768

    ports = [free_port() for _ in range(20)]

    assert all(port in LAB_PORT_RANGE and port < low for port in ports)


def test_given_many_labs_created_at_once_when_each_asks_for_two_ports_then_no_port_is_shared():
    chosen: list[tuple[int, int]] = []
    start = threading.Barrier(40)

    def create() -> None:
        start.wait()
        chosen.append(two_free_ports())

    threads = [threading.Thread(target=create) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    ports = [port for pair in chosen for port in pair]
    assert len(ports) == 80
    assert len(set(ports)) == 80


def test_given_a_port_something_listens_on_when_ports_are_chosen_then_it_is_never_given(
    monkeypatch: pytest.MonkeyPatch,
):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            spare = probe.getsockname()[1]
        monkeypatch.setattr(local_runtime_env, "LAB_PORT_RANGE", [busy, spare])

        assert free_port() == spare
        with pytest.raises(VmCreateFailed, match="no free port"):
            free_port()
