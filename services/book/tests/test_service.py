"""The catalogue's rules, with no network: SQLite in memory under the service."""

from __future__ import annotations

import uuid

import pytest
from book.service import (
    BookNotFound,
    Catalogue,
    CreateBookRequest,
    GetBookRequest,
    GetBooksRequest,
    ListBooksRequest,
    OutOfStock,
    UpdateStockRequest,
)
from book.store import BookStore

from kitcore.errors import InvalidArgument


def _create(catalogue: Catalogue, title: str = "Dune", author: str = "Frank Herbert",
            year: int = 1965, stock: int = 3):
    return catalogue.create_book(CreateBookRequest(title, author, year, stock))


def test_create_then_get_returns_the_same_book(catalogue: Catalogue) -> None:
    created = _create(catalogue, title="  Dune  ")
    got = catalogue.get_book(GetBookRequest(created.id))
    assert got == created
    assert got.title == "Dune"  # surrounding spaces dropped
    assert uuid.UUID(created.id)


def test_get_unknown_book_is_not_found(catalogue: Catalogue) -> None:
    with pytest.raises(BookNotFound):
        catalogue.get_book(GetBookRequest(str(uuid.uuid4())))


@pytest.mark.parametrize("bad_id", [None, "", 7, "not-a-uuid", ["x"]])
def test_get_with_a_malformed_id_is_invalid(catalogue: Catalogue, bad_id: object) -> None:
    with pytest.raises(InvalidArgument, match="id"):
        catalogue.get_book(GetBookRequest(bad_id))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", None, "title: required"),
        ("title", "   ", "title: must not be empty"),
        ("title", "x" * 201, "title: longer than 200"),
        ("title", 12, "title: must be a string"),
        ("author", None, "author: required"),
        ("author", "y" * 101, "author: longer than 100"),
        ("title", "\x01\x1b[31m", "title: must not contain control characters"),
        ("title", "Dune\n", "title: must not contain control characters"),
        ("author", "Frank\x00Herbert", "author: must not contain control characters"),
        ("author", "Frank\x7f", "author: must not contain control characters"),
        ("title", "Dune\ud800", "title: not valid Unicode text"),
        ("year", None, "year: required"),
        ("year", "1965", "year: must be an integer"),
        ("year", 1965.0, "must be an integer"),
        ("year", True, "must be an integer"),
        ("year", 2101, "year: must be between -3000 and 2100"),
        ("year", -3001, "between"),
        ("stock", -1, "stock: must be between 0"),
        ("stock", 10**12, "stock: must be between"),
        ("stock", None, "stock: required"),
    ],
)
def test_create_rejects_each_bad_field_and_writes_nothing(
    catalogue: Catalogue, store: BookStore, field: str, value: object, message: str
) -> None:
    fields = {"title": "Dune", "author": "Frank Herbert", "year": 1965, "stock": 3}
    fields[field] = value
    with pytest.raises(InvalidArgument, match=message):
        catalogue.create_book(CreateBookRequest(**fields))
    assert store.page("", offset=0, limit=10) == []


def test_stock_moves_both_ways(catalogue: Catalogue) -> None:
    book = _create(catalogue, stock=3)
    assert catalogue.update_stock(UpdateStockRequest(book.id, 4)).stock == 7
    assert catalogue.update_stock(UpdateStockRequest(book.id, -7)).stock == 0


def test_stock_never_goes_below_zero(catalogue: Catalogue) -> None:
    book = _create(catalogue, stock=2)
    with pytest.raises(OutOfStock, match="only 2 in stock"):
        catalogue.update_stock(UpdateStockRequest(book.id, -3))
    assert catalogue.get_book(GetBookRequest(book.id)).stock == 2


@pytest.mark.parametrize(
    ("delta", "message"),
    [(0, "delta: must not be zero"), (None, "delta: required"), ("1", "must be an integer"),
     (1.5, "must be an integer"), (1_000_001, "between"), (-1_000_001, "between")],
)
def test_update_stock_rejects_a_bad_delta(catalogue: Catalogue, delta: object,
                                          message: str) -> None:
    book = _create(catalogue, stock=2)
    with pytest.raises(InvalidArgument, match=message):
        catalogue.update_stock(UpdateStockRequest(book.id, delta))
    assert catalogue.get_book(GetBookRequest(book.id)).stock == 2


def test_update_stock_of_unknown_book_is_not_found(catalogue: Catalogue) -> None:
    with pytest.raises(BookNotFound):
        catalogue.update_stock(UpdateStockRequest(str(uuid.uuid4()), 1))


def test_list_pages_through_everything_once(catalogue: Catalogue) -> None:
    created = {_create(catalogue, title=f"Book {i:02}").id for i in range(7)}
    seen, page = [], 1
    while page is not None:
        reply = catalogue.list_books(ListBooksRequest(page=page, page_size=3))
        assert len(reply.items) <= 3
        seen += [book.id for book in reply.items]
        page = reply.next_page
    assert len(seen) == 7 and set(seen) == created
    assert catalogue.list_books(ListBooksRequest(page=4, page_size=3)).items == []


def test_list_filters_by_author_in_any_letter_case(catalogue: Catalogue) -> None:
    _create(catalogue, author="Frank Herbert")
    _create(catalogue, title="Kindred", author="Octavia E. Butler")
    reply = catalogue.list_books(ListBooksRequest(author="octavia e. butler"))
    assert [book.title for book in reply.items] == ["Kindred"]
    assert reply.next_page is None


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ListBooksRequest(page=0), "page: must be between 1"),
        (ListBooksRequest(page="2"), "page: must be an integer"),
        (ListBooksRequest(page_size=0), "page_size: must be between 1 and 100"),
        (ListBooksRequest(page_size=101), "page_size: must be between 1 and 100"),
        (ListBooksRequest(author=3), "author"),
    ],
)
def test_list_rejects_bad_paging(catalogue: Catalogue, request_: ListBooksRequest,
                                 message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        catalogue.list_books(request_)


def test_get_books_keeps_the_order_asked_and_leaves_out_unknown_ids(
    catalogue: Catalogue,
) -> None:
    first, second = _create(catalogue, title="A"), _create(catalogue, title="B")
    unknown = str(uuid.uuid4())
    reply = catalogue.get_books(GetBooksRequest([second.id, unknown, first.id]))
    assert [book.id for book in reply.items] == [second.id, first.id]
    assert catalogue.get_books(GetBooksRequest([])).items == []


@pytest.mark.parametrize("ids", ["abc", None, ["not-a-uuid"], [str(uuid.uuid4())] * 1001])
def test_get_books_rejects_bad_ids(catalogue: Catalogue, ids: object) -> None:
    with pytest.raises(InvalidArgument):
        catalogue.get_books(GetBooksRequest(ids))
