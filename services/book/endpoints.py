"""The book service's endpoints: one per method, and the middlewares each one runs through.

:func:`new_set` is the one place that says what wraps a call, outermost
first; the transports serve the :class:`Set` it returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

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
from kitcore import faults, log, metrics
from kitcore.endpoint import Context, Endpoint, Middleware, chain, deadline_middleware

SERVICE = "book"


@dataclass(frozen=True)
class Set:
    """One endpoint per :class:`BookService` method."""

    get_book: Endpoint
    get_books: Endpoint
    list_books: Endpoint
    create_book: Endpoint
    update_stock: Endpoint


def new_set(service: BookService, fault_settings: faults.FaultSettings, timeout: float) -> Set:
    """The service's endpoints, each wrapped in its middlewares (outermost first)."""
    logger = logging.getLogger(SERVICE)

    def middlewares(name: str) -> Middleware:
        return chain(
            metrics.metrics_middleware(SERVICE, name),  # count and time every call, failed ones too
            log.logging_middleware(logger, name),  # one JSON line per call
            faults.fault_middleware(fault_settings),  # demo knobs: injected errors and latency
            deadline_middleware(timeout),  # a call without a deadline gets `timeout` seconds
        )

    return Set(
        get_book=middlewares("get_book")(make_get_book_endpoint(service)),
        get_books=middlewares("get_books")(make_get_books_endpoint(service)),
        list_books=middlewares("list_books")(make_list_books_endpoint(service)),
        create_book=middlewares("create_book")(make_create_book_endpoint(service)),
        update_stock=middlewares("update_stock")(make_update_stock_endpoint(service)),
    )


def make_get_book_endpoint(service: BookService) -> Endpoint:
    """An endpoint that serves :meth:`BookService.get_book`."""

    def get_book(ctx: Context, request: GetBookRequest) -> Book:
        return service.get_book(request)

    return get_book


def make_get_books_endpoint(service: BookService) -> Endpoint:
    """An endpoint that serves :meth:`BookService.get_books`."""

    def get_books(ctx: Context, request: GetBooksRequest) -> BooksReply:
        return service.get_books(request)

    return get_books


def make_list_books_endpoint(service: BookService) -> Endpoint:
    """An endpoint that serves :meth:`BookService.list_books`."""

    def list_books(ctx: Context, request: ListBooksRequest) -> BooksReply:
        return service.list_books(request)

    return list_books


def make_create_book_endpoint(service: BookService) -> Endpoint:
    """An endpoint that serves :meth:`BookService.create_book`."""

    def create_book(ctx: Context, request: CreateBookRequest) -> Book:
        return service.create_book(request)

    return create_book


def make_update_stock_endpoint(service: BookService) -> Endpoint:
    """An endpoint that serves :meth:`BookService.update_stock`."""

    def update_stock(ctx: Context, request: UpdateStockRequest) -> Book:
        return service.update_stock(request)

    return update_stock
