"""SQLAlchemy Core helpers every service store uses.

:func:`connect` makes the engine for a ``DATABASE_URL``: PostgreSQL in the
stack (``postgresql+psycopg://...``), a SQLite file when a service runs alone,
SQLite in memory in tests. :class:`Store` is the base of a service's store: it
holds the engine, creates the store's tables at start (also when replicas
start at the same time on one database), pings the database for readiness and
waits for it at start. The tables and the queries stay in the service's own
``store.py``.

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
import time
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.exc import DisconnectionError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

IDLE_PING = 10.0
"""Seconds a pooled connection may sit idle before it is pinged at checkout."""

_IN_MEMORY = ("sqlite://", "sqlite:///:memory:")
_CHECKED_IN = "kitcore_checked_in"  # connection record info: when it went back to the pool
_SCHEMA_ATTEMPTS = 3
_WAIT_INTERVAL = 0.5  # seconds between pings while the database starts


def connect(url: str) -> sa.Engine:
    """An engine for ``url``; ``sqlite://`` (in memory) is one database shared by all threads."""
    if url in _IN_MEMORY:
        return sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    engine = sa.create_engine(url)
    # A pooled connection is checked before use, so a database restart costs no failed request.
    _check_pooled_connections(engine)
    return engine


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
            except OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(_WAIT_INTERVAL)
