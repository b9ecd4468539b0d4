"""A service middleware: the catalogue's stock, watched in business terms.

Endpoint middlewares (metrics, logging, deadlines, faults) see every call as a
request and a reply, whatever the method. A service middleware wraps the
service interface itself, like Go kit's addsvc ``LoggingMiddleware``: it has
the typed requests and replies, so it can speak of books and stock.
:class:`StockWatch` is a :class:`~book.service.BookService` around another; it
passes every call through and logs one warning when a stock change leaves a
book with fewer than ``low`` copies.
"""

from __future__ import annotations

import logging

from book.service import (
    Book,
    BookService,
    BooksReply,
    CreateBookRequest,
    GetBookRequest,
    GetBooksRequest,
    ListBooksRequest,
    UpdateStockRequest,
)

LOW_STOCK = 5
"""Fewer copies than this after a change is worth a warning."""


class StockWatch:
    """A BookService that logs "stock went below ``low``" for the books that do."""

    def __init__(self, next_service: BookService, logger: logging.Logger,
                 low: int = LOW_STOCK) -> None:
        self._next = next_service
        self._logger = logger
        self._low = low

    def get_book(self, request: GetBookRequest) -> Book:
        """Passed through."""
        return self._next.get_book(request)

    def get_books(self, request: GetBooksRequest) -> BooksReply:
        """Passed through."""
        return self._next.get_books(request)

    def list_books(self, request: ListBooksRequest) -> BooksReply:
        """Passed through."""
        return self._next.list_books(request)

    def create_book(self, request: CreateBookRequest) -> Book:
        """Passed through."""
        return self._next.create_book(request)

    def update_stock(self, request: UpdateStockRequest) -> Book:
        """Passed through; a warning when the stock drops below ``low``."""
        book = self._next.update_stock(request)
        before = book.stock - int(request.delta)  # the delta was valid: the change happened
        if book.stock < self._low <= before:
            fields = {"book_id": book.id, "title": book.title, "stock": book.stock}
            self._logger.warning("stock went below %d", self._low, extra={"fields": fields})
        return book
