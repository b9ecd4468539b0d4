"""kitcore.testing.process.free_port: ports no outgoing connection can take meanwhile."""

from __future__ import annotations

import socket
from pathlib import Path

from kitcore.testing import process
from kitcore.testing.process import free_port


def _ephemeral_start() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_ports_are_below_the_ephemeral_range_and_never_repeat():
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= port < _ephemeral_start() for port in ports)


def test_the_port_binds_on_every_address():
    port = free_port()
    with socket.socket() as server:
        server.bind(("0.0.0.0", port))
        server.listen()


def test_a_port_something_listens_on_is_passed_over(monkeypatch):
    with socket.socket() as taken:
        held = _listen_below_the_ephemeral_range(taken)
        candidates = iter([held, *range(20_000, 32_768)])
        monkeypatch.setattr(process.random, "randint", lambda low, high: next(candidates))
        assert free_port() != held


def _listen_below_the_ephemeral_range(sock: socket.socket) -> int:
    for port in range(20_000, 32_768):
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            continue
        sock.listen()
        return port
    raise AssertionError("no free port below the ephemeral range")
