"""The gateway's own logic, with no network: in-memory backends behind the two interfaces."""

from __future__ import annotations

import pytest
from gateway.service import Book, BookNotFound, GatewayService, Served, Shelf

from kitcore import errors
from kitcore.endpoint import Context

CTX = Context.background()
DUNE = Book("b-1", "Dune", "Frank Herbert", 1965, 3)
EMMA = Book("b-2", "Emma", "Jane Austen", 1815, 1)


class MemoryUsers:
    """A user backend that keeps shelves in a dict (only the shelf methods are used)."""

    def __init__(self) -> None:
        self.shelves: dict[str, list[str]] = {}

    def get_shelf(self, ctx: Context, user_id: str) -> Served[Shelf]:
        return Served(Shelf(user_id, list(self.shelves.get(user_id, []))), "user-1")

    def add_to_shelf(self, ctx: Context, user_id: str, book_id: str) -> Served[Shelf]:
        shelf = self.shelves.setdefault(user_id, [])
        if book_id not in shelf:
            shelf.append(book_id)
        return self.get_shelf(ctx, user_id)


class MemoryBooks:
    """A book backend over a dict of books; ``failure`` makes every call raise it."""

    def __init__(self, *books: Book) -> None:
        self.books = {book.id: book for book in books}
        self.failure: errors.KitError | None = None

    def get_book(self, ctx: Context, book_id: str) -> Served[Book]:
        self._maybe_fail()
        if book_id not in self.books:
            raise errors.NotFound(f"no book {book_id}")
        return Served(self.books[book_id], "book-2")

    def get_books(self, ctx: Context, book_ids: list[str]) -> Served[list[Book]]:
        self._maybe_fail()
        return Served([self.books[i] for i in book_ids if i in self.books], "book-2")

    def _maybe_fail(self) -> None:
        if self.failure is not None:
            raise self.failure


@pytest.fixture
def users() -> MemoryUsers:
    return MemoryUsers()


@pytest.fixture
def books() -> MemoryBooks:
    return MemoryBooks(DUNE, EMMA)


@pytest.fixture
def svc(users: MemoryUsers, books: MemoryBooks) -> GatewayService:
    return GatewayService(users, books)  # type: ignore[arg-type]


def test_adding_a_book_checks_it_exists_first(svc, users):
    update = svc.add_to_shelf(CTX, "u-1", "b-1")
    assert update.book_ids == ["b-1"]
    assert (update.user_served_by, update.book_served_by) == ("user-1", "book-2")
    with pytest.raises(BookNotFound, match="book b-404 does not exist"):
        svc.add_to_shelf(CTX, "u-1", "b-404")
    assert users.shelves["u-1"] == ["b-1"]  # the unknown book was never added


def test_adding_a_book_while_book_is_down_adds_nothing(svc, users, books):
    books.failure = errors.Unavailable("no instances of book")
    with pytest.raises(errors.Unavailable):
        svc.add_to_shelf(CTX, "u-1", "b-1")
    assert users.shelves == {}


def test_a_shelf_comes_with_its_books_in_shelf_order(svc, users):
    users.shelves["u-1"] = ["b-2", "b-gone", "b-1"]
    view = svc.get_shelf(CTX, "u-1")
    assert view.book_ids == ["b-2", "b-gone", "b-1"]
    assert view.books == [EMMA, DUNE]  # ids book no longer knows are left out
    assert not view.degraded
    assert (view.user_served_by, view.book_served_by) == ("user-1", "book-2")


@pytest.mark.parametrize("failure", [
    errors.Unavailable("circuit open for book/book-1"),
    errors.DeadlineExceeded("no answer"),
    errors.Internal("boom"),
])
def test_a_shelf_degrades_to_its_ids_when_book_fails(svc, users, books, failure):
    users.shelves["u-1"] = ["b-1"]
    books.failure = failure
    view = svc.get_shelf(CTX, "u-1")
    assert view.degraded
    assert view.book_ids == ["b-1"]
    assert view.books == []
    assert (view.user_served_by, view.book_served_by) == ("user-1", None)


def test_a_client_error_from_book_is_not_hidden_by_degrading(svc, users, books):
    users.shelves["u-1"] = ["b-1"]
    books.failure = errors.InvalidArgument("ids: too many")
    with pytest.raises(errors.InvalidArgument):
        svc.get_shelf(CTX, "u-1")


def test_an_empty_shelf_still_asks_book(svc, users):
    view = svc.get_shelf(CTX, "u-9")
    assert (view.book_ids, view.books, view.degraded) == ([], [], False)
    assert view.book_served_by == "book-2"
