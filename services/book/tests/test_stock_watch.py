"""StockWatch, a service middleware: one warning when a book's stock drops below 5."""

from __future__ import annotations

import logging

import pytest
from book.service import (
    Catalogue,
    CreateBookRequest,
    GetBookRequest,
    OutOfStock,
    UpdateStockRequest,
)
from book.stock_watch import StockWatch

LOGGER = "book.test.stock"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


def test_a_stock_falling_below_five_is_logged_once(catalogue: Catalogue,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    watched = StockWatch(catalogue, logging.getLogger(LOGGER))
    book = watched.create_book(CreateBookRequest("Dune", "Frank Herbert", 1965, 7))
    caplog.set_level(logging.WARNING, logger=LOGGER)

    assert watched.update_stock(UpdateStockRequest(book.id, -2)).stock == 5
    assert _warnings(caplog) == []
    assert watched.update_stock(UpdateStockRequest(book.id, -1)).stock == 4
    [warning] = _warnings(caplog)
    assert warning.getMessage() == "stock went below 5"
    assert warning.fields == {"book_id": book.id, "title": "Dune", "stock": 4}

    watched.update_stock(UpdateStockRequest(book.id, -1))  # still below: no new warning
    watched.update_stock(UpdateStockRequest(book.id, 10))  # back up: none either
    assert len(_warnings(caplog)) == 1


def test_a_refused_change_passes_the_error_through(catalogue: Catalogue,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    watched = StockWatch(catalogue, logging.getLogger(LOGGER))
    book = watched.create_book(CreateBookRequest("Emma", "Jane Austen", 1815, 1))
    caplog.set_level(logging.WARNING, logger=LOGGER)
    with pytest.raises(OutOfStock):
        watched.update_stock(UpdateStockRequest(book.id, -2))
    assert _warnings(caplog) == []
    assert watched.get_book(GetBookRequest(book.id)).stock == 1
