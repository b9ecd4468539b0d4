"""Where the items live: one SQL table through SQLAlchemy Core.

PostgreSQL in the stack (``DATABASE_URL=postgresql+psycopg://...``), a SQLite
file when the service runs alone. The table is named after the service, so
services that share one database never touch each other's rows. Every write
is committed before the method returns, so an acknowledged write survives a
restart.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.pool import StaticPool

from template.service import NAME_MAX, Item

metadata = sa.MetaData()

items = sa.Table(
    "template_items",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(NAME_MAX), nullable=False),
)


def connect(url: str) -> sa.Engine:
    """An engine for ``url``; ``sqlite://`` (in memory) is one database shared by all threads."""
    if url in ("sqlite://", "sqlite:///:memory:"):
        return sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    return sa.create_engine(url, pool_pre_ping=True)


class ItemStore:
    """Reads and writes items; the rules live in the service above it."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create_schema(self) -> None:
        """Create the table if it is missing; safe when replicas start at the same time."""
        for attempt in range(3):
            try:
                metadata.create_all(self.engine)
                return
            except (IntegrityError, ProgrammingError):
                # Another replica created the table between our check and our CREATE;
                # the next create_all sees it and does nothing.
                if attempt == 2:
                    raise

    def ping(self) -> None:
        """Raise if the database does not answer (for readiness)."""
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
                time.sleep(0.5)

    def get(self, item_id: str) -> Item | None:
        """The item with this id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(items).where(items.c.id == item_id)).first()
        return Item(row.id, row.name) if row else None

    def add(self, item: Item) -> None:
        """Insert a new item."""
        with self.engine.begin() as conn:
            conn.execute(items.insert().values(**asdict(item)))
