"""A throwaway PostgreSQL server for tests: initdb into a temp dir, serve on a free port.

:class:`PostgresServer` runs the distribution's ``initdb`` and ``postgres``
binaries (PostgreSQL 15 on Debian: /usr/lib/postgresql/15/bin), with trust
authentication for the superuser ``postgres``, TCP on a free loopback port and
the unix socket inside the temp dir, so nothing clashes with other servers.

PostgreSQL refuses to run as root ("initdb: error: cannot be run as root").
When the tests run as root (containers, CI), both binaries run as the
unprivileged ``postgres`` user the Debian package creates (``nobody`` if there
is none), through ``setpriv``, which switches user and then execs the binary
itself; so the process this class starts and signals *is* the postmaster, and
a SIGKILL really kills it. The temp dir is chowned to that user.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from collections.abc import Sequence

from kitcore.testing.process import ServerProcess, find_binary

_BIN_DIRS = ("/usr/lib/postgresql/*/bin/{name}", "/usr/local/pgsql/bin/{name}")
_SUPERUSER = "postgres"


def postgres_binary(name: str) -> str:
    """The path of a PostgreSQL binary (``initdb``, ``postgres``, ``psql``, ...)."""
    return find_binary(name, *(pattern.format(name=name) for pattern in _BIN_DIRS))


def _run_as_user() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as: None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


class PostgresServer(ServerProcess):
    """A PostgreSQL server in a temp dir, on a free loopback port."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        super().__init__(host, port)
        self.pgdata = self.data_dir / "pgdata"
        self._user = _run_as_user()

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3 driver) for ``database`` on this server."""
        return f"postgresql+psycopg://{_SUPERUSER}@{self.host}:{self.port}/{database}"

    def prepare(self) -> None:
        """Create the cluster with initdb (trust auth, UTF-8, C locale)."""
        if self._user is not None:
            os.chown(self.data_dir, self._user.pw_uid, self._user.pw_gid)
        argv = [
            postgres_binary("initdb"), "-D", str(self.pgdata), "-U", _SUPERUSER,
            "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync",
        ]
        subprocess.run(self._as_user(argv), check=True, capture_output=True)

    def argv(self) -> Sequence[str]:
        """The postgres command line; fsync off, because test data need not survive a crash
        of the machine (a crash of the server is still survived: the WAL is written)."""
        return self._as_user([
            postgres_binary("postgres"), "-D", str(self.pgdata), "-p", str(self.port),
            "-c", f"listen_addresses={self.host}",
            "-c", f"unix_socket_directories={self.data_dir}",
            "-c", "fsync=off",
            "-c", "max_connections=50",
        ])

    def start(self, timeout: float = 30.0) -> PostgresServer:
        """Start the server and wait until it accepts queries, not only connections."""
        super().start(timeout)
        deadline = time.monotonic() + timeout
        while self._psql("SELECT 1").returncode != 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"postgres not ready\n--- log ---\n{self.log_tail()}")
            time.sleep(0.1)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop with a "fast" shutdown (SIGINT): open sessions are ended, not waited for."""
        if not self.running:
            return
        assert self._proc is not None
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def create_database(self, name: str) -> str:
        """Create a database and return its URL (see :meth:`url`)."""
        result = self._psql(f'CREATE DATABASE "{name}"')
        if result.returncode != 0:
            raise RuntimeError(f"CREATE DATABASE {name} failed: {result.stderr.strip()}")
        return self.url(name)

    def _psql(self, sql: str) -> subprocess.CompletedProcess[str]:
        argv = [
            postgres_binary("psql"), "-h", self.host, "-p", str(self.port), "-U", _SUPERUSER,
            "-d", "postgres", "-X", "-q", "-c", sql,
        ]
        return subprocess.run(argv, capture_output=True, text=True)

    def _as_user(self, argv: list[str]) -> list[str]:
        if self._user is None:
            return argv
        user = self._user
        switch = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
        return [*switch, *argv]
