"""The book service over gRPC, as the gateway's :class:`~gateway.service.BookBackend`.

:func:`book_endpoints` builds, for one book instance, one kitcore gRPC client
endpoint per method on a channel to ``instance.grpc``. :class:`BookClient`
makes each method one balanced, guarded and retried endpoint of a
:class:`~gateway.clients.Backend` (which says which instance answered), and
builds the request messages. The small decoders come last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.clients import Backend, Closer, as_is
from gateway.service import Book, BookPage, Served
from kitcore.endpoint import Context, Endpoint, Middleware
from kitcore.sd import Instance
from kitcore.transport.grpc import ClientEndpoint, new_channel
from protos import book_pb2, book_pb2_grpc


@dataclass(frozen=True)
class BookEndpoints:
    """The client endpoints of one book instance, one per remote method."""

    get_book: Endpoint
    get_books: Endpoint
    list_books: Endpoint
    create_book: Endpoint
    update_stock: Endpoint


def book_endpoints(
    instance: Instance, guard: Middleware, *, timeout: float = 5.0
) -> tuple[BookEndpoints, Closer]:
    """The client endpoints of one book instance on one channel, each wrapped by ``guard``."""
    channel = new_channel(instance.grpc or "")
    stub = book_pb2_grpc.BookServiceStub(channel)

    def method(stub_method: Callable[..., Any], decode: Callable[[Any], Any]) -> Endpoint:
        return guard(ClientEndpoint(stub_method, as_is, decode, timeout=timeout))

    endpoints = BookEndpoints(
        get_book=method(stub.GetBook, _decode_book),
        get_books=method(stub.GetBooks, _decode_books),
        list_books=method(stub.ListBooks, _decode_page),
        create_book=method(stub.CreateBook, _decode_book),
        update_stock=method(stub.UpdateStock, _decode_book),
    )
    return endpoints, channel.close


class BookClient:
    """The book service: one client endpoint per method of :class:`BookEndpoints`."""

    def __init__(self, backend: Backend[BookEndpoints]) -> None:
        self._get_book = backend.safe(lambda book: book.get_book)
        self._get_books = backend.hedged(lambda book: book.get_books)  # the shelf's lookup
        self._list_books = backend.safe(lambda book: book.list_books)
        self._create_book = backend.once(lambda book: book.create_book)  # not idempotent
        self._update_stock = backend.once(lambda book: book.update_stock)  # not idempotent

    def get_book(self, ctx: Context, book_id: str) -> Served[Book]:
        """One book by id."""
        return self._get_book(ctx, book_pb2.GetBookRequest(id=book_id))

    def get_books(self, ctx: Context, book_ids: list[str]) -> Served[list[Book]]:
        """Several books by id, in the order asked; unknown ids are left out."""
        return self._get_books(ctx, book_pb2.GetBooksRequest(ids=book_ids))

    def list_books(
        self, ctx: Context, author: str, page: int, page_size: int
    ) -> Served[BookPage]:
        """A page of books, optionally by one author."""
        request = book_pb2.ListBooksRequest(author=author, page=page, page_size=page_size)
        return self._list_books(ctx, request)

    def create_book(
        self, ctx: Context, title: str, author: str, year: int, stock: int
    ) -> Served[Book]:
        """Add a book (a retry could add it twice, so only unsent tries are retried)."""
        request = book_pb2.CreateBookRequest(title=title, author=author, year=year, stock=stock)
        return self._create_book(ctx, request)

    def update_stock(self, ctx: Context, book_id: str, delta: int) -> Served[Book]:
        """Change a book's stock by delta (a retry could apply it twice)."""
        return self._update_stock(ctx, book_pb2.UpdateStockRequest(id=book_id, delta=delta))


def _decode_book(reply: book_pb2.BookReply) -> Book:
    return _book(reply.book)


def _decode_books(reply: book_pb2.BooksReply) -> list[Book]:
    return [_book(book) for book in reply.items]


def _decode_page(reply: book_pb2.BooksReply) -> BookPage:
    return BookPage(_decode_books(reply), reply.next_page or None)


def _book(message: book_pb2.Book) -> Book:
    return Book(
        id=message.id, title=message.title, author=message.author,
        year=message.year, stock=message.stock,
    )
