"""Where accounts and shelves live: two SQL tables through SQLAlchemy Core.

PostgreSQL in the stack (``DATABASE_URL=postgresql+psycopg://...``), a SQLite
file when the service runs alone. The database keeps emails unique, so two
sign-ups racing for one email cannot both win. Every write is committed before
the method returns. The engine, creating the tables at start and the readiness
ping are :mod:`kitcore.sql`'s; the tables and their queries are here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from kitcore import sql
from user.service import User

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("email", sa.String(254), nullable=False, unique=True),  # stored lower-cased
    sa.Column("password_hash", sa.String(255), nullable=False),
)

shelf_books = sa.Table(
    "shelf_books",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("book_id", sa.String(36), primary_key=True),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
)


class UserStore(sql.Store):
    """Reads and writes accounts and shelves; the rules live in the service."""

    schema = metadata  # the tables above: created at start by create_schema()

    def add(self, user: User, password_hash: str) -> bool:
        """Insert an account; False if its email is taken."""
        row = {"id": user.id, "name": user.name, "email": user.email,
               "password_hash": password_hash}
        try:
            with self.engine.begin() as conn:
                conn.execute(users.insert().values(**row))
        except IntegrityError:
            return False
        return True

    def get(self, user_id: str) -> User | None:
        """The account with this id, or None."""
        with self.reading() as conn:
            row = conn.execute(_select_user().where(users.c.id == user_id)).first()
        return User(row.id, row.name, row.email) if row else None

    def find_by_email(self, email: str) -> tuple[User, str] | None:
        """The account with this (lower-case) email and its password hash, or None."""
        query = _select_user().add_columns(users.c.password_hash).where(users.c.email == email)
        with self.reading() as conn:
            row = conn.execute(query).first()
        return (User(row.id, row.name, row.email), row.password_hash) if row else None

    def shelf(self, user_id: str) -> list[str] | None:
        """The book ids on the user's shelf, oldest first; None for an unknown user."""
        with self.reading() as conn:
            rows = conn.execute(_SHELF, {"user_id": user_id}).all()
        if not rows:
            return None
        return [row.book_id for row in rows if row.book_id is not None]

    def add_to_shelf(self, user_id: str, book_id: str) -> list[str] | None:
        """Put a book on the shelf unless it is there; the shelf after, None for an unknown user."""
        row = {"user_id": user_id, "book_id": book_id, "added_at": datetime.now(UTC)}
        try:
            with self.engine.begin() as conn:
                if conn.execute(_select_user().where(users.c.id == user_id)).first() is None:
                    return None
                conn.execute(shelf_books.insert().values(**row))
        except IntegrityError:
            pass  # already on the shelf: adding twice is adding once
        return self.shelf(user_id)


# The shelf read, built once (the hot path): the user's row joined to their
# shelf; an empty shelf is one row with no book, an unknown user no row at all.
_SHELF = (
    sa.select(users.c.id, shelf_books.c.book_id)
    .select_from(users.outerjoin(shelf_books, shelf_books.c.user_id == users.c.id))
    .where(users.c.id == sa.bindparam("user_id"))
    .order_by(shelf_books.c.added_at, shelf_books.c.book_id)
)


def _select_user() -> sa.Select:
    return sa.select(users.c.id, users.c.name, users.c.email)
