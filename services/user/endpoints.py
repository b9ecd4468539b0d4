"""The user service's endpoints: one per method, and the middlewares each one runs through.

:func:`new_set` is the one place that says what wraps a call, outermost
first; the transports serve the :class:`Set` it returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kitcore import faults, log, metrics
from kitcore.endpoint import Context, Endpoint, Middleware, chain, deadline_middleware
from user.service import (
    AddToShelfRequest,
    CreateUserRequest,
    GetShelfRequest,
    GetUserRequest,
    LoginReply,
    LoginRequest,
    ShelfReply,
    User,
    UserService,
)

SERVICE = "user"


@dataclass(frozen=True)
class Set:
    """One endpoint per :class:`UserService` method."""

    create_user: Endpoint
    get_user: Endpoint
    login: Endpoint
    get_shelf: Endpoint
    add_to_shelf: Endpoint


def new_set(service: UserService, fault_settings: faults.FaultSettings, timeout: float) -> Set:
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
        create_user=middlewares("create_user")(make_create_user_endpoint(service)),
        get_user=middlewares("get_user")(make_get_user_endpoint(service)),
        login=middlewares("login")(make_login_endpoint(service)),
        get_shelf=middlewares("get_shelf")(make_get_shelf_endpoint(service)),
        add_to_shelf=middlewares("add_to_shelf")(make_add_to_shelf_endpoint(service)),
    )


def make_create_user_endpoint(service: UserService) -> Endpoint:
    """An endpoint that serves :meth:`UserService.create_user`."""

    def create_user(ctx: Context, request: CreateUserRequest) -> User:
        return service.create_user(request)

    return create_user


def make_get_user_endpoint(service: UserService) -> Endpoint:
    """An endpoint that serves :meth:`UserService.get_user`."""

    def get_user(ctx: Context, request: GetUserRequest) -> User:
        return service.get_user(request)

    return get_user


def make_login_endpoint(service: UserService) -> Endpoint:
    """An endpoint that serves :meth:`UserService.login`."""

    def login(ctx: Context, request: LoginRequest) -> LoginReply:
        return service.login(request)

    return login


def make_get_shelf_endpoint(service: UserService) -> Endpoint:
    """An endpoint that serves :meth:`UserService.get_shelf`."""

    def get_shelf(ctx: Context, request: GetShelfRequest) -> ShelfReply:
        return service.get_shelf(request)

    return get_shelf


def make_add_to_shelf_endpoint(service: UserService) -> Endpoint:
    """An endpoint that serves :meth:`UserService.add_to_shelf`."""

    def add_to_shelf(ctx: Context, request: AddToShelfRequest) -> ShelfReply:
        return service.add_to_shelf(request)

    return add_to_shelf
