"""Where the items live: one SQL table through SQLAlchemy Core.

PostgreSQL in the stack (``DATABASE_URL=postgresql+psycopg://...``), a SQLite
file when the service runs alone. The table is named after the service, so
services that share one database never touch each other's rows. Every write
is committed before the method returns, so an acknowledged write survives a
restart. The engine, creating the table at start and the readiness ping are
:mod:`kitcore.sql`'s; the table and its queries are here.
"""

from __future__ import annotations

from dataclasses import asdict

import sqlalchemy as sa

from kitcore import sql
from template.service import NAME_MAX, Item

metadata = sa.MetaData()

items = sa.Table(
    "template_items",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(NAME_MAX), nullable=False),
)


class ItemStore(sql.Store):
    """Reads and writes items; the rules live in the service above it."""

    schema = metadata  # the tables above: created at start by create_schema()

    def get(self, item_id: str) -> Item | None:
        """The item with this id, or None."""
        with self.reading() as conn:
            row = conn.execute(sa.select(items).where(items.c.id == item_id)).first()
        return Item(row.id, row.name) if row else None

    def add(self, item: Item) -> None:
        """Insert a new item."""
        with self.engine.begin() as conn:
            conn.execute(items.insert().values(**asdict(item)))
