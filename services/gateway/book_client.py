"""The book service over gRPC, as the gateway's :class:`~gateway.service.BookBackend`.

:func:`book_methods` builds, for one book instance, one kitcore gRPC client
endpoint per method on a channel to ``instance.grpc``. :class:`BookClient`
sends each gateway call through a :class:`~gateway.clients.Backend`
(balanced round robin, broken per instance, retried where that is safe).
The small encoders and decoders come last.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.clients import Backend, Call, Closer
from gateway.service import Book, BookReply, BooksReply
from kitcore.endpoint import Context, Endpoint
from kitcore.sd import Instance
from kitcore.transport.grpc import ClientEndpoint, new_channel
from protos import book_pb2, book_pb2_grpc


def book_methods(
    instance: Instance, *, timeout: float = 5.0
) -> tuple[Mapping[str, Endpoint], Closer]:
    """The client endpoints of one book instance, sharing one channel."""
    channel = new_channel(instance.grpc or "")
    stub = book_pb2_grpc.BookServiceStub(channel)
    methods = {
        "GetBook": ClientEndpoint(stub.GetBook, _same, _decode_book, timeout=timeout),
        "GetBooks": ClientEndpoint(stub.GetBooks, _same, _decode_books, timeout=timeout),
        "ListBooks": ClientEndpoint(stub.ListBooks, _same, _decode_books, timeout=timeout),
        "CreateBook": ClientEndpoint(stub.CreateBook, _same, _decode_book, timeout=timeout),
        "UpdateStock": ClientEndpoint(stub.UpdateStock, _same, _decode_book, timeout=timeout),
    }
    return methods, channel.close


class BookClient:
    """The book service through a :class:`~gateway.clients.Backend`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def get_book(self, ctx: Context, book_id: str) -> BookReply:
        """One book by id."""
        return self.backend.safe(ctx, Call("GetBook", book_pb2.GetBookRequest(id=book_id)))

    def get_books(self, ctx: Context, book_ids: list[str]) -> BooksReply:
        """Several books by id, in the order asked; unknown ids are left out."""
        return self.backend.safe(ctx, Call("GetBooks", book_pb2.GetBooksRequest(ids=book_ids)))

    def list_books(self, ctx: Context, author: str, page: int, page_size: int) -> BooksReply:
        """A page of books, optionally by one author."""
        request = book_pb2.ListBooksRequest(author=author, page=page, page_size=page_size)
        return self.backend.safe(ctx, Call("ListBooks", request))

    def create_book(
        self, ctx: Context, title: str, author: str, year: int, stock: int
    ) -> BookReply:
        """Add a book (not idempotent: a retry could add it twice)."""
        request = book_pb2.CreateBookRequest(title=title, author=author, year=year, stock=stock)
        return self.backend.once(ctx, Call("CreateBook", request))

    def update_stock(self, ctx: Context, book_id: str, delta: int) -> BookReply:
        """Change a book's stock by delta (not idempotent: a retry could apply it twice)."""
        request = book_pb2.UpdateStockRequest(id=book_id, delta=delta)
        return self.backend.once(ctx, Call("UpdateStock", request))


def _same(message: Any) -> Any:
    """The request is already the message to send."""
    return message


def _decode_book(reply: book_pb2.BookReply) -> BookReply:
    return BookReply(_book(reply.book), reply.served_by)


def _decode_books(reply: book_pb2.BooksReply) -> BooksReply:
    return BooksReply([_book(book) for book in reply.items], reply.next_page or None,
                      reply.served_by)


def _book(message: book_pb2.Book) -> Book:
    return Book(
        id=message.id, title=message.title, author=message.author,
        year=message.year, stock=message.stock,
    )
