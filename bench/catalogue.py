"""The work every transport benchmark server does: look a book up in a dict.

The same 100 books as ``bench/gokit/main.go`` (``book-000`` .. ``book-099``),
so the Python servers answer ``GET /books/<id>`` with the book service's body,
``{"book": {id, title, author, year, stock}}``, and name the instance outside
it, as the services do: ``X-Served-By: bench`` over HTTP, the trailing metadata
``x-served-by: bench`` over gRPC.
"""

from __future__ import annotations

from typing import Any

SERVED_BY = "bench"
"""The instance every benchmark server names (``X-Served-By``, ``x-served-by``)."""

BOOKS: dict[str, dict[str, Any]] = {
    f"book-{i:03d}": {
        "id": f"book-{i:03d}",
        "title": f"Title {i}",
        "author": f"Author {i % 10}",
        "year": 1900 + i,
        "stock": i,
    }
    for i in range(100)
}
"""The catalogue, by id."""

BOOK_ID = "book-042"
"""The id the load generators ask for."""


def book_reply(book_id: str) -> dict[str, Any] | None:
    """The reply body for ``book_id``, or None when there is no such book."""
    book = BOOKS.get(book_id)
    return None if book is None else {"book": book}
