"""Where the catalogue lives: a SQL table through SQLAlchemy Core.

PostgreSQL in the stack (``DATABASE_URL=postgresql+psycopg://...``), a SQLite
file when the service runs alone. Every write is committed before the method
returns, so a write the service acknowledged survives a restart. The engine,
creating the table at start and the readiness ping are :mod:`kitcore.sql`'s;
the table and its queries are here.
"""

from __future__ import annotations

from dataclasses import asdict

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from book.service import Book
from kitcore import sql

metadata = sa.MetaData()

books = sa.Table(
    "books",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("stock", sa.BigInteger, nullable=False),
    sa.CheckConstraint("stock >= 0", name="books_stock_not_negative"),
)
sa.Index("books_by_author", sa.func.lower(books.c.author))

DEMO_BOOKS = [
    Book("00000000-0000-4000-8000-00000000b001", "The Left Hand of Darkness",
         "Ursula K. Le Guin", 1969, 5),
    Book("00000000-0000-4000-8000-00000000b002", "A Wizard of Earthsea",
         "Ursula K. Le Guin", 1968, 3),
    Book("00000000-0000-4000-8000-00000000b003", "Kindred", "Octavia E. Butler", 1979, 4),
    Book("00000000-0000-4000-8000-00000000b004", "Solaris", "Stanisław Lem", 1961, 2),
    Book("00000000-0000-4000-8000-00000000b005", "Invisible Cities", "Italo Calvino", 1972, 6),
    Book("00000000-0000-4000-8000-00000000b006", "The Dispossessed",
         "Ursula K. Le Guin", 1974, 1),
]
"""Books every fresh catalogue starts with; fixed ids, so replicas seed the same rows."""


class BookStore(sql.Store):
    """Reads and writes books; no rules beyond "stock never below zero"."""

    schema = metadata  # the tables above: created at start by create_schema()

    def seed(self, demo_books: list[Book] = DEMO_BOOKS) -> None:
        """Insert each demo book that is missing; never overwrite one (its stock moved on)."""
        for book in demo_books:
            try:
                with self.engine.begin() as conn:
                    if conn.execute(sa.select(books.c.id).where(books.c.id == book.id)).first():
                        continue
                    conn.execute(books.insert().values(**asdict(book)))
            except IntegrityError:
                pass  # a replica inserted it just now

    def get(self, book_id: str) -> Book | None:
        """The book with this id, or None."""
        with self.reading() as conn:
            row = conn.execute(sa.select(books).where(books.c.id == book_id)).first()
        return _book(row) if row else None

    def get_many(self, ids: list[str]) -> list[Book]:
        """The books among ``ids`` that exist, in no particular order."""
        if not ids:
            return []
        with self.reading() as conn:
            rows = conn.execute(_GET_MANY, {"ids": ids}).all()
        return [_book(row) for row in rows]

    def page(self, author: str, *, offset: int, limit: int) -> list[Book]:
        """Books ordered by title (then id), by ``author`` if given (any letter case)."""
        query = sa.select(books).order_by(books.c.title, books.c.id).offset(offset).limit(limit)
        if author:
            query = query.where(sa.func.lower(books.c.author) == sa.func.lower(author))
        with self.reading() as conn:
            return [_book(row) for row in conn.execute(query).all()]

    def add(self, book: Book) -> None:
        """Insert a new book."""
        with self.engine.begin() as conn:
            conn.execute(books.insert().values(**asdict(book)))

    def change_stock(self, book_id: str, delta: int) -> Book | None:
        """Add ``delta`` to the stock in one statement, only if the result stays >= 0.

        Returns the updated book, or None when no row changed (unknown id, or
        not enough stock). Two concurrent calls can never both take the last copy.
        """
        update = (
            books.update()
            .where(books.c.id == book_id, books.c.stock + delta >= 0)
            .values(stock=books.c.stock + delta)
            .returning(*books.c)
        )
        with self.engine.begin() as conn:
            row = conn.execute(update).first()
        return _book(row) if row else None


# The shelf's book read, built once (the hot path); the id list is expanded per call.
_GET_MANY = sa.select(books).where(books.c.id.in_(sa.bindparam("ids", expanding=True)))


def _book(row: sa.Row) -> Book:
    return Book(row.id, row.title, row.author, row.year, row.stock)
