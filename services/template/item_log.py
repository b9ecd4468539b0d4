"""A service middleware: what happened to the items, logged in business terms.

Endpoint middlewares (metrics, logging, deadlines, faults) see every call as a
request and a reply, whatever the method; a service middleware wraps the
service interface itself and has its typed requests and replies, so its log
line can say "item created" with the item's name. Replace it with the events
your service's readers care about.
"""

from __future__ import annotations

import logging

from template.service import CreateItemRequest, GetItemRequest, Item, TemplateService


class ItemLog:
    """A TemplateService that logs each item created, then passes every call on."""

    def __init__(self, next_service: TemplateService, logger: logging.Logger) -> None:
        self._next = next_service
        self._logger = logger

    def get_item(self, request: GetItemRequest) -> Item:
        """Passed through."""
        return self._next.get_item(request)

    def create_item(self, request: CreateItemRequest) -> Item:
        """Passed through; one line "item created" with its id and name."""
        item = self._next.create_item(request)
        self._logger.info("item created", extra={"fields": {"item_id": item.id, "name": item.name}})
        return item
