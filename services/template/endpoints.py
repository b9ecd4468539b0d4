"""The template service's endpoints: one per method, and the middlewares each one runs through.

:func:`new_set` is the one place that says what wraps a call, outermost
first; the transports serve the :class:`Set` it returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kitcore import log, metrics
from kitcore.endpoint import Context, Endpoint, Middleware, chain, deadline_middleware
from template.service import CreateItemRequest, GetItemRequest, Item, TemplateService

SERVICE = "template"


@dataclass(frozen=True)
class Set:
    """One endpoint per :class:`TemplateService` method."""

    get_item: Endpoint
    create_item: Endpoint


def new_set(service: TemplateService, timeout: float) -> Set:
    """The service's endpoints, each wrapped in its middlewares (outermost first)."""
    logger = logging.getLogger(SERVICE)

    def middlewares(name: str) -> Middleware:
        return chain(
            metrics.metrics_middleware(SERVICE, name),  # count and time every call, failed ones too
            log.logging_middleware(logger, name),  # one JSON line per call
            deadline_middleware(timeout),  # a call without a deadline gets `timeout` seconds
        )

    return Set(
        get_item=middlewares("get_item")(make_get_item_endpoint(service)),
        create_item=middlewares("create_item")(make_create_item_endpoint(service)),
    )


def make_get_item_endpoint(service: TemplateService) -> Endpoint:
    """An endpoint that serves :meth:`TemplateService.get_item`."""

    def get_item(ctx: Context, request: GetItemRequest) -> Item:
        return service.get_item(request)

    return get_item


def make_create_item_endpoint(service: TemplateService) -> Endpoint:
    """An endpoint that serves :meth:`TemplateService.create_item`."""

    def create_item(ctx: Context, request: CreateItemRequest) -> Item:
        return service.create_item(request)

    return create_item
