"""The book service: the catalogue's interface, its requests and replies, its errors and rules.

This module is business logic only: no web framework, no gRPC, no tracing.
Its methods return domain values (a :class:`Book`, a :class:`BooksReply`);
which instance served a call is the transports' to say (``X-Served-By``,
``x-served-by``), not the catalogue's.
:class:`Catalogue` checks every field with :mod:`kitcore.validate` (the same
text, number and id rules whatever the transport) and keeps the rules (stock
never below zero, pages of bounded size); the store below it only reads and
writes rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from kitcore import validate
from kitcore.errors import FailedPrecondition, InvalidArgument, NotFound

TITLE_MAX = 200
AUTHOR_MAX = 100
YEAR_MIN, YEAR_MAX = -3000, 2100  # negative years are BC
STOCK_MAX = 1_000_000_000
DELTA_MAX = 1_000_000  # one stock change moves at most a million copies either way
PAGE_MAX = 1_000_000
PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX = 20, 100
IDS_MAX = 1000  # ids in one GetBooks call


@dataclass(frozen=True)
class Book:
    """One book of the catalogue."""

    id: str
    title: str
    author: str
    year: int
    stock: int


@dataclass(frozen=True)
class GetBookRequest:
    """Ask for one book by id."""

    id: Any


@dataclass(frozen=True)
class GetBooksRequest:
    """Ask for several books by id; unknown ids are left out of the reply."""

    ids: Any


@dataclass(frozen=True)
class ListBooksRequest:
    """Ask for one page of the catalogue, optionally of one author only."""

    author: Any = ""
    page: Any = 1
    page_size: Any = PAGE_SIZE_DEFAULT


@dataclass(frozen=True)
class CreateBookRequest:
    """Add a book to the catalogue."""

    title: Any
    author: Any
    year: Any
    stock: Any = 0


@dataclass(frozen=True)
class UpdateStockRequest:
    """Change a book's stock by ``delta`` copies (negative: copies leave)."""

    id: Any
    delta: Any


@dataclass(frozen=True)
class BooksReply:
    """Several books; ``next_page`` is None on the last page."""

    items: list[Book] = field(default_factory=list)
    next_page: int | None = None


class BookNotFound(NotFound):
    """No book has the id asked for."""


class OutOfStock(FailedPrecondition):
    """The stock change would take the stock below zero."""


class BookService(Protocol):
    """The catalogue, as every transport and client sees it."""

    def get_book(self, request: GetBookRequest) -> Book:
        """One book by id; BookNotFound if there is none."""
        ...

    def get_books(self, request: GetBooksRequest) -> BooksReply:
        """Several books by id, in the order asked, unknown ids left out."""
        ...

    def list_books(self, request: ListBooksRequest) -> BooksReply:
        """One page of books ordered by title, optionally by one author."""
        ...

    def create_book(self, request: CreateBookRequest) -> Book:
        """Add a book; it gets a new id."""
        ...

    def update_stock(self, request: UpdateStockRequest) -> Book:
        """Change the stock; OutOfStock if it would go below zero."""
        ...


class BookRepository(Protocol):
    """Where the catalogue keeps its books (``book.store.BookStore`` over SQL)."""

    def get(self, book_id: str) -> Book | None:
        """The book with this id, or None."""
        ...

    def get_many(self, ids: list[str]) -> list[Book]:
        """The books among ``ids`` that exist, in no particular order."""
        ...

    def page(self, author: str, *, offset: int, limit: int) -> list[Book]:
        """Books ordered by title (then id), by ``author`` if given (any letter case)."""
        ...

    def add(self, book: Book) -> None:
        """Insert a new book."""
        ...

    def change_stock(self, book_id: str, delta: int) -> Book | None:
        """Add ``delta`` to the stock unless it would go below zero; None if nothing changed."""
        ...


class Catalogue:
    """The plain implementation of :class:`BookService` over a :class:`BookRepository`."""

    def __init__(self, store: BookRepository) -> None:
        self._store = store

    def get_book(self, request: GetBookRequest) -> Book:
        """One book by id; BookNotFound if there is none."""
        book_id = validate.uuid(request.id, "id")
        book = self._store.get(book_id)
        if book is None:
            raise BookNotFound(f"no book with id {book_id}")
        return book

    def get_books(self, request: GetBooksRequest) -> BooksReply:
        """Several books by id, in the order asked, unknown ids left out."""
        if not isinstance(request.ids, list | tuple):
            raise InvalidArgument("ids: must be a list of book ids")
        if len(request.ids) > IDS_MAX:
            raise InvalidArgument(f"ids: at most {IDS_MAX} per call")
        ids = [validate.uuid(book_id, "ids") for book_id in request.ids]
        found = {book.id: book for book in self._store.get_many(ids)}
        return BooksReply([found[i] for i in ids if i in found])

    def list_books(self, request: ListBooksRequest) -> BooksReply:
        """One page of books ordered by title, optionally by one author."""
        author = validate.text(request.author, "author", max_len=AUTHOR_MAX, required=False)
        page = validate.integer(request.page, "page", low=1, high=PAGE_MAX)
        size = validate.integer(request.page_size, "page_size", low=1, high=PAGE_SIZE_MAX)
        # Ask for one row more than a page: if it comes, there is a next page.
        rows = self._store.page(author, offset=(page - 1) * size, limit=size + 1)
        next_page = page + 1 if len(rows) > size else None
        return BooksReply(rows[:size], next_page)

    def create_book(self, request: CreateBookRequest) -> Book:
        """Add a book; it gets a new id."""
        book = Book(
            id=str(uuid.uuid4()),
            title=validate.text(request.title, "title", max_len=TITLE_MAX),
            author=validate.text(request.author, "author", max_len=AUTHOR_MAX),
            year=validate.integer(request.year, "year", low=YEAR_MIN, high=YEAR_MAX),
            stock=validate.integer(request.stock, "stock", low=0, high=STOCK_MAX),
        )
        self._store.add(book)
        return book

    def update_stock(self, request: UpdateStockRequest) -> Book:
        """Change the stock; OutOfStock if it would go below zero."""
        book_id = validate.uuid(request.id, "id")
        delta = validate.integer(request.delta, "delta", low=-DELTA_MAX, high=DELTA_MAX)
        if delta == 0:
            raise InvalidArgument("delta: must not be zero")
        book = self._store.change_stock(book_id, delta)
        if book is not None:
            return book
        current = self._store.get(book_id)
        if current is None:
            raise BookNotFound(f"no book with id {book_id}")
        raise OutOfStock(f"only {current.stock} in stock, cannot take {-delta}")

