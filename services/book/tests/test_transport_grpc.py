"""The book gRPC service through a real in-process grpcio server on a free port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest
from book.store import BookStore

from kitcore.app import App
from kitcore.endpoint import Context
from kitcore.errors import FailedPrecondition
from kitcore.transport.grpc import ClientEndpoint, record_served_by
from protos import book_pb2, book_pb2_grpc

DUNE = book_pb2.CreateBookRequest(title="Dune", author="Frank Herbert", year=1965, stock=3)


@pytest.fixture
def channel(served: App) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(served.config.grpc_address) as channel:
        yield channel


@pytest.fixture
def stub(channel: grpc.Channel) -> book_pb2_grpc.BookServiceStub:
    return book_pb2_grpc.BookServiceStub(channel)


def _status(call, request) -> tuple[grpc.StatusCode, str, dict]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=5)
    error = caught.value
    return error.code(), error.details(), dict(error.trailing_metadata())


def test_create_then_get(stub: book_pb2_grpc.BookServiceStub) -> None:
    created, call = stub.CreateBook.with_call(DUNE, timeout=5)
    assert uuid.UUID(created.book.id)
    assert dict(call.trailing_metadata())["x-served-by"] == "book-test"
    got = stub.GetBook(book_pb2.GetBookRequest(id=created.book.id), timeout=5)
    assert got.book == created.book and got.book.stock == 3


def test_get_books_keeps_the_order_asked_and_leaves_out_unknown_ids(
    stub: book_pb2_grpc.BookServiceStub,
) -> None:
    first = stub.CreateBook(DUNE, timeout=5).book
    second = stub.CreateBook(book_pb2.CreateBookRequest(title="B", author="A", year=1),
                             timeout=5).book
    ids = [second.id, str(uuid.uuid4()), first.id]
    reply, call = stub.GetBooks.with_call(book_pb2.GetBooksRequest(ids=ids), timeout=5)
    assert [book.id for book in reply.items] == [second.id, first.id]
    assert dict(call.trailing_metadata())["x-served-by"] == "book-test"


def test_list_reads_zero_page_and_size_as_defaults(stub: book_pb2_grpc.BookServiceStub) -> None:
    for i in range(3):
        stub.CreateBook(book_pb2.CreateBookRequest(title=f"T{i}", author="A", year=1), timeout=5)
    everything = stub.ListBooks(book_pb2.ListBooksRequest(), timeout=5)
    assert len(everything.items) == 3 and everything.next_page == 0
    first = stub.ListBooks(book_pb2.ListBooksRequest(page_size=2), timeout=5)
    assert [b.title for b in first.items] == ["T0", "T1"] and first.next_page == 2


def test_stock_below_zero_is_failed_precondition(stub: book_pb2_grpc.BookServiceStub) -> None:
    book = stub.CreateBook(DUNE, timeout=5).book
    code, details, trailing = _status(
        stub.UpdateStock, book_pb2.UpdateStockRequest(id=book.id, delta=-4)
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "only 3 in stock" in details
    assert trailing["kit-error-code"] == "failed_precondition"
    assert trailing["x-served-by"] == "book-test"  # errors name the instance too
    assert stub.GetBook(book_pb2.GetBookRequest(id=book.id), timeout=5).book.stock == 3


@pytest.mark.parametrize(
    ("method", "request_", "code", "message"),
    [
        ("GetBook", book_pb2.GetBookRequest(id=str(uuid.uuid4())), "NOT_FOUND", "no book"),
        ("GetBook", book_pb2.GetBookRequest(), "INVALID_ARGUMENT", "id: required"),
        ("GetBook", book_pb2.GetBookRequest(id="nope"), "INVALID_ARGUMENT", "must be a UUID"),
        ("UpdateStock", book_pb2.UpdateStockRequest(id=str(uuid.uuid4()), delta=1),
         "NOT_FOUND", "no book"),
        ("UpdateStock", book_pb2.UpdateStockRequest(id=str(uuid.uuid4())),
         "INVALID_ARGUMENT", "delta: must not be zero"),
        ("CreateBook", book_pb2.CreateBookRequest(author="A", year=1), "INVALID_ARGUMENT",
         "title: must not be empty"),
        ("CreateBook", book_pb2.CreateBookRequest(title="\x01\x1b[31m", author="A", year=1),
         "INVALID_ARGUMENT", "title: must not contain control characters"),
        ("CreateBook", book_pb2.CreateBookRequest(title="T", author="A\x00B", year=1),
         "INVALID_ARGUMENT", "author: must not contain control characters"),
        ("ListBooks", book_pb2.ListBooksRequest(author="\x1b[2J"), "INVALID_ARGUMENT",
         "author: must not contain control characters"),
        ("CreateBook", book_pb2.CreateBookRequest(title="T", author="A", year=3000),
         "INVALID_ARGUMENT", "year: must be between"),
        ("CreateBook", book_pb2.CreateBookRequest(title="T", author="A", year=1, stock=-1),
         "INVALID_ARGUMENT", "stock: must be between"),
        ("ListBooks", book_pb2.ListBooksRequest(page_size=101), "INVALID_ARGUMENT",
         "page_size: must be between"),
        ("GetBooks", book_pb2.GetBooksRequest(ids=["nope"]), "INVALID_ARGUMENT",
         "must be a UUID"),
    ],
)
def test_bad_requests_get_the_status_of_their_kind(
    stub: book_pb2_grpc.BookServiceStub, store: BookStore, method: str, request_, code: str,
    message: str,
) -> None:
    status, details, _ = _status(getattr(stub, method), request_)
    assert status.name == code and message in details
    assert store.page("", offset=0, limit=10) == []


def test_bytes_that_are_no_message_are_invalid_argument(channel: grpc.Channel) -> None:
    raw = channel.unary_unary("/kitcore.book.v1.BookService/CreateBook")
    status, _, _ = _status(raw, b"\xff\xff\xff garbage")
    assert status == grpc.StatusCode.INVALID_ARGUMENT


def test_a_client_endpoint_gets_back_the_same_error_kind_and_who_answered(
    stub: book_pb2_grpc.BookServiceStub,
) -> None:
    book = stub.CreateBook(DUNE, timeout=5).book
    update_stock = ClientEndpoint(stub.UpdateStock, lambda req: req, lambda reply: reply)
    ctx, served_by = record_served_by(Context().with_timeout(5))
    assert update_stock(ctx, book_pb2.UpdateStockRequest(id=book.id, delta=-1)).book.stock == 2
    with pytest.raises(FailedPrecondition, match="only 2 in stock"):
        update_stock(ctx, book_pb2.UpdateStockRequest(id=book.id, delta=-3))
    assert served_by == ["book-test", "book-test"]
