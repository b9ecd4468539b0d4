"""The template service: its interface, its requests and replies, its errors and rules.

This module is business logic only: no web framework, no gRPC, no tracing.
:class:`Items` checks every field with :mod:`kitcore.validate` (the same text
and id rules whatever the transport); the store below it only reads and writes rows.
Its methods return domain values (an :class:`Item`); which instance served a
call is the transports' to say (``X-Served-By``, ``x-served-by``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from kitcore import validate
from kitcore.errors import NotFound

NAME_MAX = 100


@dataclass(frozen=True)
class Item:
    """One item: an id (a UUID) and a name."""

    id: str
    name: str


@dataclass(frozen=True)
class GetItemRequest:
    """Ask for one item by id."""

    id: Any


@dataclass(frozen=True)
class CreateItemRequest:
    """Add an item with this name."""

    name: Any


class ItemNotFound(NotFound):
    """No item has the id asked for."""


class TemplateService(Protocol):
    """The template service, as every transport and client sees it."""

    def get_item(self, request: GetItemRequest) -> Item:
        """One item by id; ItemNotFound if there is none."""
        ...

    def create_item(self, request: CreateItemRequest) -> Item:
        """Add an item; it gets a new id."""
        ...


class ItemRepository(Protocol):
    """Where the items are kept (``template.store.ItemStore`` over SQL)."""

    def get(self, item_id: str) -> Item | None:
        """The item with this id, or None."""
        ...

    def add(self, item: Item) -> None:
        """Insert a new item."""
        ...


class Items:
    """The plain implementation of :class:`TemplateService` over an :class:`ItemRepository`."""

    def __init__(self, store: ItemRepository) -> None:
        self._store = store

    def get_item(self, request: GetItemRequest) -> Item:
        """One item by id; ItemNotFound if there is none."""
        item_id = validate.uuid(request.id, "id")
        item = self._store.get(item_id)
        if item is None:
            raise ItemNotFound(f"no item with id {item_id}")
        return item

    def create_item(self, request: CreateItemRequest) -> Item:
        """Add an item; it gets a new id."""
        name = validate.text(request.name, "name", max_len=NAME_MAX)
        item = Item(id=str(uuid.uuid4()), name=name)
        self._store.add(item)
        return item

