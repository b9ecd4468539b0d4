"""The book service over gRPC (``kitcore.book.v1.BookService``), served from the endpoint Set.

Each method is a :class:`kitcore.transport.grpc.Handler`: decode the message,
call the endpoint, encode the reply. Errors become the status of their kind
(NOT_FOUND, FAILED_PRECONDITION, INVALID_ARGUMENT ...). In proto3 a missing
field reads as its zero value: page 0 means 1, page_size 0 the default.
kitcore's server names the instance that answered in the trailing metadata
``x-served-by``, so no reply message does.
"""

from __future__ import annotations

import grpc

from book.endpoints import Set
from book.service import (
    PAGE_SIZE_DEFAULT,
    Book,
    BooksReply,
    CreateBookRequest,
    GetBookRequest,
    GetBooksRequest,
    ListBooksRequest,
    UpdateStockRequest,
)
from kitcore.transport.grpc import Handler
from protos import book_pb2, book_pb2_grpc


class BookServicer(book_pb2_grpc.BookServiceServicer):
    """The generated servicer, one Handler per method."""

    def __init__(self, endpoints: Set) -> None:
        self.GetBook = Handler(endpoints.get_book, decode_get_book, encode_book_reply,
                               name="GetBook")
        self.GetBooks = Handler(endpoints.get_books, decode_get_books, encode_books_reply,
                                name="GetBooks")
        self.ListBooks = Handler(endpoints.list_books, decode_list_books, encode_books_reply,
                                 name="ListBooks")
        self.CreateBook = Handler(endpoints.create_book, decode_create_book, encode_book_reply,
                                  name="CreateBook")
        self.UpdateStock = Handler(endpoints.update_stock, decode_update_stock,
                                   encode_book_reply, name="UpdateStock")


def add_to_server(server: grpc.Server, endpoints: Set) -> None:
    """Serve the book endpoints on ``server``."""
    book_pb2_grpc.add_BookServiceServicer_to_server(BookServicer(endpoints), server)


def decode_get_book(msg: book_pb2.GetBookRequest) -> GetBookRequest:
    """The endpoint request of a GetBook call."""
    return GetBookRequest(msg.id)


def decode_get_books(msg: book_pb2.GetBooksRequest) -> GetBooksRequest:
    """The endpoint request of a GetBooks call."""
    return GetBooksRequest(list(msg.ids))


def decode_list_books(msg: book_pb2.ListBooksRequest) -> ListBooksRequest:
    """The endpoint request of a ListBooks call (page 0: the first, page_size 0: the default)."""
    return ListBooksRequest(msg.author, msg.page or 1, msg.page_size or PAGE_SIZE_DEFAULT)


def decode_create_book(msg: book_pb2.CreateBookRequest) -> CreateBookRequest:
    """The endpoint request of a CreateBook call."""
    return CreateBookRequest(msg.title, msg.author, msg.year, msg.stock)


def decode_update_stock(msg: book_pb2.UpdateStockRequest) -> UpdateStockRequest:
    """The endpoint request of an UpdateStock call."""
    return UpdateStockRequest(msg.id, msg.delta)


def encode_book_reply(book: Book) -> book_pb2.BookReply:
    """The BookReply message of an endpoint's book."""
    return book_pb2.BookReply(book=_book(book))


def encode_books_reply(reply: BooksReply) -> book_pb2.BooksReply:
    """The BooksReply message of an endpoint reply; next_page 0 means none."""
    return book_pb2.BooksReply(items=[_book(book) for book in reply.items],
                               next_page=reply.next_page or 0)


def _book(book: Book) -> book_pb2.Book:
    return book_pb2.Book(id=book.id, title=book.title, author=book.author, year=book.year,
                         stock=book.stock)
