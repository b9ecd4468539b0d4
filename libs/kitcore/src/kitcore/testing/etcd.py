"""A single-member etcd server for tests, on free loopback ports.

:class:`EtcdServer` runs Debian's ``/usr/bin/etcd`` with its client and peer
URLs on free ports of 127.0.0.1 and its data in the server's temporary folder,
so :meth:`~kitcore.testing.process.ServerProcess.stop` followed by
:meth:`~kitcore.testing.process.ServerProcess.start` restarts the same member
with the same keys and leases, as a real etcd restart would.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from kitcore.testing.process import ServerProcess, find_binary, free_port


class EtcdServer(ServerProcess):
    """An etcd 3.4+ member for one test run (``address`` is its client ``host:port``)."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        super().__init__(host, port)
        self.peer_port = free_port(host)
        self.binary = find_binary("etcd", "/usr/bin/etcd", "/usr/local/bin/etcd")

    @property
    def client_url(self) -> str:
        """The client URL, ``http://host:port``."""
        return f"http://{self.address}"

    def argv(self) -> Sequence[str]:
        """etcd's command line: one member named ``test``, quiet logs, fast election."""
        peer_url = f"http://{self.host}:{self.peer_port}"
        return [
            self.binary,
            "--name", "test",
            "--data-dir", str(self.data_dir / "member"),
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"test={peer_url}",
            "--logger", "zap",
            "--log-level", "warn",
            # A lone member elects itself after one election timeout: keep it short
            # so that starts and restarts in tests take a fraction of a second.
            "--heartbeat-interval", "20",
            "--election-timeout", "200",
        ]

    def start(self, timeout: float = 20.0) -> EtcdServer:
        """Start etcd and wait until it reports itself healthy."""
        super().start(timeout)
        self._wait_healthy(timeout)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.client_url}/health", timeout=1) as reply:
                    if json.load(reply).get("health") == "true":
                        return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"etcd not healthy after {timeout}s\n{self.log_tail()}")
