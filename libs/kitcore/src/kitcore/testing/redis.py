"""A throw-away redis-server for tests: a free loopback port, no persistence, a temp dir."""

from __future__ import annotations

from collections.abc import Sequence

from kitcore.testing.process import ServerProcess, find_binary


class RedisServer(ServerProcess):
    """redis-server on a free port of 127.0.0.1 that writes nothing to disk."""

    def argv(self) -> Sequence[str]:
        """The redis-server command line."""
        return [
            find_binary("redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server"),
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--protected-mode", "no",
        ]

    @property
    def url(self) -> str:
        """``redis://host:port/0``."""
        return f"redis://{self.address}/0"
