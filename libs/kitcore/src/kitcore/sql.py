"""SQLAlchemy Core helpers every service store uses.

:func:`connect` makes the engine for a ``DATABASE_URL``: PostgreSQL in the
stack (``postgresql+psycopg://...``), a SQLite file when a service runs alone,
SQLite in memory in tests. :class:`Store` is the base of a service's store: it
holds the engine, creates the store's tables at start (also when replicas
start at the same time on one database), pings the database for readiness and
waits for it at start; :meth:`Store.open` does all of that at once. The
tables and the queries stay in the service's own ``store.py``.

A database that is down is not a bug: :func:`map_error` is the one place that
turns the drivers' well-known failures (connection refused or reset, server
shutting down, pool exhausted, serialization failure, deadlock) into
:class:`DatabaseUnavailable` (UNAVAILABLE / 503 with ``Retry-After``, naming
whose database it is). The engine :func:`connect` makes raises it in place of
the driver's error, so every query of every store answers it without code of
its own; any other exception stays what it is (a 500: a bug).

Reads go through :meth:`Store.reading`: a pooled connection in autocommit, so
a SELECT is one round trip, with no BEGIN before it and no ROLLBACK after.
Writes use ``engine.begin()`` as usual.

A pooled connection the database has closed (a restart) is never handed out:
at checkout, a connection whose socket the server has closed is replaced at
the cost of one ``poll()``; one idle for longer than :data:`IDLE_PING` is also
pinged (a peer that vanished without closing). So the first request after the
database returns succeeds, with no ping round trip on every request
(``pool_pre_ping`` costs one per checkout).
"""

from __future__ import annotations

import select
import sqlite3
import sys
import time
from typing import Any, ClassVar, Self

import sqlalchemy as sa
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from kitcore import errors

IDLE_PING = 10.0
"""Seconds a pooled connection may sit idle before it is pinged at checkout."""

_IN_MEMORY = ("sqlite://", "sqlite:///:memory:")
_CHECKED_IN = "kitcore_checked_in"  # connection record info: when it went back to the pool
_SCHEMA_ATTEMPTS = 3
_WAIT_INTERVAL = 0.5  # seconds between pings while the database starts

DATABASE_WAIT = 30.0
"""Seconds :meth:`Store.open` waits for the database (PostgreSQL may start with the stack)."""

RETRY_AFTER = 2.0
"""Seconds a client is told to wait (``Retry-After``) when the database is unavailable."""

CONNECT_TIMEOUT = 3
"""Seconds a new PostgreSQL connection may take (libpq waits for ever by default)."""

POOL_TIMEOUT = 5.0
"""Seconds a request waits for a free pooled connection (SQLAlchemy's default is 30)."""

_SQLITE_TRANSIENT = ("database is locked", "unable to open database file", "disk i/o error")
"""sqlite3.OperationalError also means a bad query; only these messages are outages."""


class DatabaseUnavailable(errors.Unavailable):
    """The database could not be reached or could not complete the call; retry later."""


def map_error(error: BaseException, owner: str = "the service") -> errors.KitError | None:
    """The error a driver's failure means for the caller, or None if it is not a known one.

    ``owner`` names whose database it is in the message (``"book"`` gives
    ``"book's database is unavailable"``). Connection refused, reset or
    closed, a server shutting down, a pool with no free connection, a
    serialization failure or a deadlock are UNAVAILABLE (the transaction did
    not commit, so a retry is safe); anything else is None and stays a bug.
    """
    reason = _outage(error)
    if reason is None:
        return None
    whose = "the database" if owner == "the service" else f"{owner}'s database"
    return DatabaseUnavailable(f"{whose} is unavailable ({reason})", retry_after=RETRY_AFTER)


def _outage(error: BaseException) -> str | None:
    """A short reason if ``error`` is a known outage of the database, else None."""
    if isinstance(error, PoolTimeout):
        return "no free connection"
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return "connection lost"
        error = error.orig
    psycopg = sys.modules.get("psycopg")  # loaded by SQLAlchemy when a URL names it
    if psycopg is not None:
        if isinstance(error, psycopg.errors.SerializationFailure | psycopg.errors.DeadlockDetected):
            return "transaction conflict, retry"
        if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
            return type(error).__name__
    if isinstance(error, sqlite3.OperationalError) and str(error).lower() in _SQLITE_TRANSIENT:
        return str(error)
    return None


errors.add_translator(map_error)  # what escapes the engine (a pool timeout) is mapped too


def connect(url: str, owner: str = "the service") -> sa.Engine:
    """An engine for ``url``; ``sqlite://`` (in memory) is one database shared by all threads.

    Its known failures are raised as :class:`DatabaseUnavailable` naming
    ``owner`` (see :func:`map_error`).
    """
    if url in _IN_MEMORY:
        engine = sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    elif url.startswith("postgresql"):
        engine = sa.create_engine(url, pool_timeout=POOL_TIMEOUT,
                                  connect_args={"connect_timeout": CONNECT_TIMEOUT})
    else:
        engine = sa.create_engine(url)
    # A pooled connection is checked before use, so a database restart costs no failed request.
    _check_pooled_connections(engine)
    sa.event.listen(engine, "handle_error", _translator(owner))
    return engine


def _translator(owner: str):  # noqa: ANN202 - SQLAlchemy's handle_error listener
    def translate(context: ExceptionContext) -> BaseException | None:
        if context.is_pre_ping:
            return None  # the pool reconnects by itself; nothing to tell the caller yet
        return map_error(context.sqlalchemy_exception or context.original_exception, owner)

    return translate


def _check_pooled_connections(engine: sa.Engine) -> None:
    """At checkout, refuse a pooled connection that is dead; the pool then opens a new one."""

    def on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN)
        if checked_in is None:
            return  # just opened
        if _closed_by_peer(dbapi_connection):
            raise DisconnectionError("the database closed this pooled connection")
        idle = time.monotonic() - checked_in
        if idle > IDLE_PING and not _answers_ping(engine, dbapi_connection):
            raise DisconnectionError("an idle pooled connection no longer answers")

    sa.event.listen(engine, "checkin", _note_checkin)
    sa.event.listen(engine, "checkout", on_checkout)


def _note_checkin(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _closed_by_peer(dbapi_connection: Any) -> bool:
    """True when the server has written to (or closed) an idle connection's socket.

    An idle PostgreSQL connection receives nothing unless the server ends it
    (a shutdown notice, then EOF), so a readable socket means a dead connection.
    """
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None:
        return False  # SQLite: no socket
    poller = select.poll()
    poller.register(fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _answers_ping(engine: sa.Engine, dbapi_connection: Any) -> bool:
    try:
        return engine.dialect.do_ping(dbapi_connection)
    except Exception:  # any DBAPI error: the connection is not usable
        return False


class Store:
    """The base of a service's store: its engine and the tables it owns.

    A subclass sets :attr:`schema` to the ``MetaData`` its tables belong to and
    adds its own queries on :attr:`engine`.
    """

    schema: ClassVar[sa.MetaData]
    """The store's tables, created by :meth:`create_schema`."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    @classmethod
    def open(cls, url: str, owner: str = "the service", wait: float = DATABASE_WAIT) -> Self:
        """The store on ``url`` (see :func:`connect`), once the database answers
        (within ``wait`` seconds), its tables made."""
        store = cls(connect(url, owner))
        store.wait_until_up(wait)
        store.create_schema()
        return store

    def reading(self) -> sa.Connection:
        """A pooled connection for reads (``with store.reading() as conn:``), in autocommit."""
        return self._autocommit.connect()

    def create_schema(self) -> None:
        """Create the tables that are missing; safe when replicas start at the same time."""
        for attempt in range(1, _SCHEMA_ATTEMPTS + 1):
            try:
                self.schema.create_all(self.engine)
                return
            except (IntegrityError, ProgrammingError):
                # Another replica created a table between our check and our CREATE;
                # the next create_all sees it and leaves it alone.
                if attempt == _SCHEMA_ATTEMPTS:
                    raise

    def ping(self) -> None:
        """Raise if the database does not answer (a readiness check)."""
        with self.reading() as conn:
            conn.execute(sa.text("SELECT 1"))

    def wait_until_up(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the database to answer (it may be starting too)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.ping()
            except (OperationalError, DatabaseUnavailable):
                if time.monotonic() > deadline:
                    raise
                time.sleep(_WAIT_INTERVAL)
