"""The gateway's own logic, written against two small backend interfaces.

Most gateway calls pass straight through to one backend. Two do more:
putting a book on a shelf first checks with the book backend that the book
exists, and reading a shelf composes the user backend's list of book ids with
the book backend's books. When the book backend cannot answer, the shelf is
still returned, degraded to its ids (see :meth:`GatewayService.get_shelf`).

Nothing here knows about HTTP, gRPC or discovery: the backends are any objects
with the methods of :class:`UserBackend` and :class:`BookBackend` (in the
running gateway, balanced and retried remote endpoints; see ``clients.py``).
Each answers a :class:`Served`: its value, and the instance that answered,
which the public API names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from kitcore import errors
from kitcore.endpoint import Context

T = TypeVar("T")
"""What a backend answered: a user, a book, a page of books ..."""


@dataclass(frozen=True)
class User:
    """An account, as the user backend shows it (never its password)."""

    id: str
    name: str
    email: str


@dataclass(frozen=True)
class Book:
    """A catalogue entry, as the book backend shows it."""

    id: str
    title: str
    author: str
    year: int
    stock: int


@dataclass(frozen=True)
class Token:
    """A signed access token, valid for ``expires_in`` seconds."""

    access_token: str
    token_type: str
    expires_in: int


@dataclass(frozen=True)
class Shelf:
    """The ids of the books on a user's shelf, in the order they were put there."""

    user_id: str
    book_ids: list[str]


@dataclass(frozen=True)
class BookPage:
    """A page of books; ``next_page`` is None on the last page."""

    items: list[Book]
    next_page: int | None


@dataclass(frozen=True)
class Served(Generic[T]):
    """A backend's answer and the instance that gave it, as discovery names it."""

    value: T
    served_by: str


@dataclass(frozen=True)
class ShelfUpdate:
    """A shelf after a book was put on it, with the instances of both backends."""

    user_id: str
    book_ids: list[str]
    user_served_by: str
    book_served_by: str


@dataclass(frozen=True)
class ShelfView:
    """A shelf with its books; ``degraded`` when the books could not be read."""

    user_id: str
    book_ids: list[str]
    books: list[Book]
    degraded: bool
    user_served_by: str
    book_served_by: str | None


class BookNotFound(errors.NotFound):
    """The book to put on a shelf does not exist."""


class UserBackend(Protocol):
    """What the gateway needs from the user service."""

    def create_user(
        self, ctx: Context, name: str, email: str, password: str
    ) -> Served[User]:
        """Sign a user up."""

    def get_user(self, ctx: Context, user_id: str) -> Served[User]:
        """One user by id."""

    def login(self, ctx: Context, email: str, password: str) -> Served[Token]:
        """Check a password and get a signed token."""

    def get_shelf(self, ctx: Context, user_id: str) -> Served[Shelf]:
        """The ids of the books on a user's shelf."""

    def add_to_shelf(self, ctx: Context, user_id: str, book_id: str) -> Served[Shelf]:
        """Put a book on a user's shelf (idempotent)."""


class BookBackend(Protocol):
    """What the gateway needs from the book service."""

    def get_book(self, ctx: Context, book_id: str) -> Served[Book]:
        """One book by id."""

    def get_books(self, ctx: Context, book_ids: list[str]) -> Served[list[Book]]:
        """Several books by id, in the order asked; unknown ids are left out."""

    def list_books(
        self, ctx: Context, author: str, page: int, page_size: int
    ) -> Served[BookPage]:
        """A page of books, optionally by one author ("" for every author)."""

    def create_book(
        self, ctx: Context, title: str, author: str, year: int, stock: int
    ) -> Served[Book]:
        """Add a book to the catalogue."""

    def update_stock(self, ctx: Context, book_id: str, delta: int) -> Served[Book]:
        """Change a book's stock by delta (never below zero)."""


DEGRADING_ERRORS = (errors.Unavailable, errors.DeadlineExceeded, errors.Internal)
"""Book backend failures that degrade a shelf read to its ids instead of failing it."""


class GatewayService:
    """The public API's operations over a user backend and a book backend."""

    def __init__(self, users: UserBackend, books: BookBackend) -> None:
        self.users = users
        self.books = books

    def sign_up(self, ctx: Context, name: str, email: str, password: str) -> Served[User]:
        """Create an account."""
        return self.users.create_user(ctx, name, email, password)

    def login(self, ctx: Context, email: str, password: str) -> Served[Token]:
        """Trade an email and password for a token."""
        return self.users.login(ctx, email, password)

    def get_user(self, ctx: Context, user_id: str) -> Served[User]:
        """One user."""
        return self.users.get_user(ctx, user_id)

    def list_books(
        self, ctx: Context, author: str, page: int, page_size: int
    ) -> Served[BookPage]:
        """A page of books."""
        return self.books.list_books(ctx, author, page, page_size)

    def get_book(self, ctx: Context, book_id: str) -> Served[Book]:
        """One book."""
        return self.books.get_book(ctx, book_id)

    def create_book(
        self, ctx: Context, title: str, author: str, year: int, stock: int
    ) -> Served[Book]:
        """Add a book."""
        return self.books.create_book(ctx, title, author, year, stock)

    def update_stock(self, ctx: Context, book_id: str, delta: int) -> Served[Book]:
        """Change a book's stock."""
        return self.books.update_stock(ctx, book_id, delta)

    def add_to_shelf(self, ctx: Context, user_id: str, book_id: str) -> ShelfUpdate:
        """Put an existing book on a user's shelf; :class:`BookNotFound` if there is none."""
        try:
            checked = self.books.get_book(ctx, book_id)
        except errors.NotFound as error:
            raise BookNotFound(f"book {book_id} does not exist", headers=error.headers) from None
        shelf = self.users.add_to_shelf(ctx, user_id, book_id)
        return ShelfUpdate(shelf.value.user_id, shelf.value.book_ids, shelf.served_by,
                           checked.served_by)

    def get_shelf(self, ctx: Context, user_id: str) -> ShelfView:
        """A user's shelf with its books, read from both backends in one call.

        The user backend is needed (its errors pass through). If the book
        backend is unavailable, broken open, out of time or failing, the shelf
        is returned degraded: its ids, no books, ``degraded=True``.
        """
        served = self.users.get_shelf(ctx, user_id)
        shelf = served.value
        try:
            found = self.books.get_books(ctx, shelf.book_ids)
        except DEGRADING_ERRORS:
            return ShelfView(shelf.user_id, shelf.book_ids, [], True, served.served_by, None)
        return ShelfView(
            shelf.user_id, shelf.book_ids, found.value, False, served.served_by, found.served_by
        )
