"""Run a server binary as a child process for the length of a test.

:class:`ServerProcess` starts a command, waits until its port accepts
connections, and stops it (SIGTERM, then SIGKILL) or kills it on demand.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing uses right now on ``host`` nor on every address.

    Chosen at random below the kernel's ephemeral range, and never twice in one
    process: a port the kernel hands out for ``bind(0)`` is also what it gives
    the next outgoing connection as its source port, so between this call and
    the server's bind a client socket could take it (seen: a gRPC server's
    "address already in use" in a suite full of connections).
    """
    low, high = _below_ephemeral()
    for _ in range(500):
        port = random.randint(low, high)
        if port not in _handed_out and _bindable(host, port) and _bindable("0.0.0.0", port):
            _handed_out.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # no room below: the kernel's
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _below_ephemeral() -> tuple[int, int]:
    """The ports this machine never uses as source ports: up to 12,768 below its
    ephemeral range (Linux's default 32768-60999 gives 20000-32767)."""
    try:
        first = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first = 32768
    return max(1024, first - 12768), max(1024, first - 1)


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    """Block until ``host:port`` accepts a TCP connection, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def find_binary(name: str, *candidates: str) -> str:
    """The path of a server binary: on PATH, or at one of ``candidates``."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in candidates:
        for path in sorted(Path("/").glob(candidate.lstrip("/")), reverse=True):
            if os.access(path, os.X_OK):
                return str(path)
    raise FileNotFoundError(f"{name} not found; run `make system-deps`")


class ServerProcess:
    """A server started from ``argv`` that listens on ``host:port``.

    Subclasses build ``argv`` for one kind of server. ``data_dir`` is a
    temporary folder kept across :meth:`stop` / :meth:`start`, so a restart
    keeps the server's data, and removed by :meth:`close`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"{type(self).__name__.lower()}-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = self.data_dir / "server.log"

    def argv(self) -> Sequence[str]:
        """The command line that starts the server."""
        raise NotImplementedError

    def prepare(self) -> None:
        """One-time set-up before the first start (override as needed)."""

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20.0) -> ServerProcess:
        """Start the server and wait until its port answers."""
        if self.running:
            return self
        if not (self.data_dir / ".prepared").exists():
            self.prepare()
            (self.data_dir / ".prepared").touch()
        with open(self._log, "ab") as log:
            self._proc = subprocess.Popen(
                list(self.argv()), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            wait_for_port(self.host, self.port, timeout)
        except TimeoutError as exc:
            self.kill()
            raise TimeoutError(f"{exc}\n--- log ---\n{self.log_tail()}") from exc
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM), killing after ``timeout`` seconds."""
        if not self.running:
            return
        assert self._proc is not None
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it keeps its socket and answers nothing."""
        if self.running:
            assert self._proc is not None
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT)."""
        if self.running:
            assert self._proc is not None
            self._proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop the server and remove its data."""
        self.resume()
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the server wrote."""
        if not self._log.exists():
            return ""
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
