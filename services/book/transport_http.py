"""The book service over HTTP: JSON routes on Flask, served from the endpoint Set.

    GET   /books/<id>                        -> {"book": {...}}
    GET   /books?author=&page=&page_size=    -> {"items": [...], "next_page": int|null}
    POST  /books {title, author, year, stock} -> 201 {"book": {...}}
    PATCH /books/<id>/stock {delta}          -> {"book": {...}}

A book is ``{id, title, author, year, stock}``. Every response, errors too,
names the instance that answered in ``X-Served-By`` (kitcore writes it from
the instance id given to :func:`make_http_app`); errors are kitcore's JSON
error body.
"""

from __future__ import annotations

from typing import Any

import flask

from book.endpoints import SERVICE, Set
from book.service import (
    AUTHOR_MAX,
    PAGE_MAX,
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    Book,
    CreateBookRequest,
    GetBookRequest,
    ListBooksRequest,
    UpdateStockRequest,
)
from kitcore.transport import http

MAX_BODY_BYTES = 16 * 1024  # a book is a few hundred bytes


def make_http_app(endpoints: Set, instance_id: str) -> flask.Flask:
    """A Flask app serving the book endpoints, each answer naming ``instance_id`` in
    ``X-Served-By``; main adds health, metrics and admin routes."""
    app = http.new_app(SERVICE, max_body_bytes=MAX_BODY_BYTES, served_by=instance_id)
    http.route(app, "/books/<book_id>", ["GET"], endpoints.get_book, decode_get_book,
               encode_book, name="get_book")
    http.route(app, "/books", ["GET"], endpoints.list_books, decode_list_books,
               name="list_books")
    http.route(app, "/books", ["POST"], endpoints.create_book, decode_create_book,
               encode_created, name="create_book")
    http.route(app, "/books/<book_id>/stock", ["PATCH"], endpoints.update_stock,
               decode_update_stock, encode_book, name="update_stock")
    return app


def decode_get_book(request: flask.Request, path: dict[str, Any]) -> GetBookRequest:
    """``GET /books/<id>``."""
    return GetBookRequest(path["book_id"])


def decode_list_books(request: flask.Request, path: dict[str, Any]) -> ListBooksRequest:
    """``GET /books?author=&page=&page_size=``."""
    return ListBooksRequest(
        author=http.query_str(request, "author", max_len=AUTHOR_MAX, default=""),
        page=http.query_int(request, "page", min_value=1, max_value=PAGE_MAX, default=1),
        page_size=http.query_int(request, "page_size", min_value=1, max_value=PAGE_SIZE_MAX,
                                 default=PAGE_SIZE_DEFAULT),
    )


def decode_create_book(request: flask.Request, path: dict[str, Any]) -> CreateBookRequest:
    """``POST /books {title, author, year, stock}``; stock may be left out (0)."""
    body = http.json_body(request, allowed={"title", "author", "year", "stock"})
    return CreateBookRequest(body.get("title"), body.get("author"), body.get("year"),
                             body.get("stock", 0))


def decode_update_stock(request: flask.Request, path: dict[str, Any]) -> UpdateStockRequest:
    """``PATCH /books/<id>/stock {delta}``."""
    body = http.json_body(request, allowed={"delta"})
    return UpdateStockRequest(path["book_id"], body.get("delta"))


def encode_book(book: Book) -> flask.Response:
    """``{"book": {...}}``."""
    return http.encode_json({"book": book})


def encode_created(book: Book) -> flask.Response:
    """201 with the new book."""
    return http.encode_json({"book": book}, 201)
