"""Run a server binary as a child process for the length of a test.

:class:`ServerProcess` starts a command, waits until its port accepts
connections, and stops it (SIGTERM, then SIGKILL) or kills it on demand.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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
