"""SQLAlchemy Core helpers every service store uses.

:func:`connect` makes the engine for a ``DATABASE_URL``: PostgreSQL in the
stack (``postgresql+psycopg://...``), a SQLite file when a service runs alone,
SQLite in memory in tests. :class:`Store` is the base of a service's store: it
holds the engine, creates the store's tables at start (also when replicas
start at the same time on one database), pings the database for readiness and
waits for it at start; :meth:`Store.open` does all of that at once. The
tables and the queries stay in the service's own ``store.py``.
"""

from __future__ import annotations

import time
from typing import ClassVar, Self

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.pool import StaticPool

_IN_MEMORY = ("sqlite://", "sqlite:///:memory:")
_SCHEMA_ATTEMPTS = 3
_WAIT_INTERVAL = 0.5  # seconds between pings while the database starts

DATABASE_WAIT = 30.0
"""Seconds :meth:`Store.open` waits for the database (PostgreSQL may start with the stack)."""


def connect(url: str) -> sa.Engine:
    """An engine for ``url``; ``sqlite://`` (in memory) is one database shared by all threads."""
    if url in _IN_MEMORY:
        return sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    # A pooled connection is tested before use, so a database restart costs no failed request.
    return sa.create_engine(url, pool_pre_ping=True)


class Store:
    """The base of a service's store: its engine and the tables it owns.

    A subclass sets :attr:`schema` to the ``MetaData`` its tables belong to and
    adds its own queries on :attr:`engine`.
    """

    schema: ClassVar[sa.MetaData]
    """The store's tables, created by :meth:`create_schema`."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, wait: float = DATABASE_WAIT) -> Self:
        """The store on ``url``, once the database answers (within ``wait`` s), tables made."""
        store = cls(connect(url))
        store.wait_until_up(wait)
        store.create_schema()
        return store

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
        with self.engine.connect() as conn:
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
