"""The gateway's endpoints: one per public operation, and their middlewares.

Each ``make_<operation>_endpoint`` adapts one :class:`~gateway.service.GatewayService`
method to the :data:`~kitcore.endpoint.Endpoint` shape, taking one of the
request dataclasses below. :func:`new_set` wraps every endpoint in its
middlewares in one block, top to bottom, so the policy of each route (who may
call it, how often, for how long) reads in one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gateway.service import GatewayService
from kitcore import auth, concurrency, log, metrics, ratelimit
from kitcore.endpoint import Context, Endpoint, Middleware, chain, deadline_middleware
from kitcore.errors import PermissionDenied
from kitcore.ratelimit import Limiter

SERVICE = "gateway"
"""The service label of the gateway's metrics."""

SLOW_BY_DESIGN = frozenset({"sign_up", "login"})
"""Operations that hash a password: their latency says nothing about overload."""


@dataclass(frozen=True)
class SignUpRequest:
    """Create an account."""

    name: str
    email: str
    password: str


@dataclass(frozen=True)
class LoginRequest:
    """Trade an email and password for a token."""

    email: str
    password: str


@dataclass(frozen=True)
class GetUserRequest:
    """Read one user."""

    user_id: str


@dataclass(frozen=True)
class ListBooksRequest:
    """Read a page of books ("" author: every author)."""

    author: str
    page: int
    page_size: int


@dataclass(frozen=True)
class GetBookRequest:
    """Read one book."""

    book_id: str


@dataclass(frozen=True)
class CreateBookRequest:
    """Add a book to the catalogue."""

    title: str
    author: str
    year: int
    stock: int


@dataclass(frozen=True)
class UpdateStockRequest:
    """Change a book's stock by a non-zero delta."""

    book_id: str
    delta: int


@dataclass(frozen=True)
class AddToShelfRequest:
    """Put a book on a user's shelf."""

    user_id: str
    book_id: str


@dataclass(frozen=True)
class GetShelfRequest:
    """Read a user's shelf with its books."""

    user_id: str


@dataclass(frozen=True)
class Set:
    """One endpoint per public operation of the gateway."""

    sign_up: Endpoint
    login: Endpoint
    get_user: Endpoint
    list_books: Endpoint
    get_book: Endpoint
    create_book: Endpoint
    update_stock: Endpoint
    add_to_shelf: Endpoint
    get_shelf: Endpoint


@dataclass(frozen=True)
class Policy:
    """What the middlewares need: token verifier, rate limiter, default deadline, logger,
    and the concurrency limit shared by every route (None: no limit)."""

    verifier: auth.JWTVerifier
    limiter: Limiter
    request_timeout: float
    logger: logging.Logger
    concurrency: concurrency.ConcurrencyLimiter | None = None


def new_set(svc: GatewayService, policy: Policy) -> Set:
    """The gateway's endpoints, each wrapped in its middlewares."""

    def public(name: str) -> Middleware:
        # Anyone may call; the budget is the caller's address.
        return chain(*_observed(name, policy), _limited(policy))

    def bearer(name: str) -> Middleware:
        # A valid token is required; the budget is the token's subject.
        return chain(*_observed(name, policy), auth.jwt_middleware(policy.verifier),
                     _limited(policy))

    def bearer_self(name: str) -> Middleware:
        # As bearer, and the token must be the very user named in the path.
        return chain(bearer(name), only_self)

    return Set(
        sign_up=public("sign_up")(make_sign_up_endpoint(svc)),
        login=public("login")(make_login_endpoint(svc)),
        get_user=bearer_self("get_user")(make_get_user_endpoint(svc)),
        list_books=public("list_books")(make_list_books_endpoint(svc)),
        get_book=public("get_book")(make_get_book_endpoint(svc)),
        create_book=bearer("create_book")(make_create_book_endpoint(svc)),
        update_stock=bearer("update_stock")(make_update_stock_endpoint(svc)),
        add_to_shelf=bearer_self("add_to_shelf")(make_add_to_shelf_endpoint(svc)),
        get_shelf=bearer_self("get_shelf")(make_get_shelf_endpoint(svc)),
    )


def _observed(name: str, policy: Policy) -> tuple[Middleware, ...]:
    """Metrics and one log line for every call, the overload refusal, then the deadline."""
    # Password hashing makes these slow by design: only their deadline misses cut the limit.
    slow_target = policy.request_timeout if name in SLOW_BY_DESIGN else None
    return (
        metrics.metrics_middleware(SERVICE, name),
        log.logging_middleware(policy.logger, name),
        # Past what the backends answer in time, refuse at once (503 + Retry-After)
        # before any token check, rate-limit round trip or backend call.
        concurrency.concurrency_limit_middleware(policy.concurrency, slow_target),
        # A request without X-Request-Timeout gets the configured deadline,
        # which every backend call below inherits.
        deadline_middleware(policy.request_timeout),
    )


def _limited(policy: Policy) -> Middleware:
    """Spend one unit of the caller's budget: the token's subject, else the address."""
    return ratelimit.erroring_limit_middleware(policy.limiter, ratelimit.by_subject)


def only_self(next_endpoint: Endpoint) -> Endpoint:
    """Let a call through only when the token's subject is the request's ``user_id``."""

    def endpoint(ctx: Context, request: Any) -> Any:
        claims = ctx.value(auth.CLAIMS) or {}
        if str(claims.get("sub", "")).lower() != request.user_id:
            raise PermissionDenied("the token is not for this user")
        return next_endpoint(ctx, request)

    return endpoint


def make_sign_up_endpoint(svc: GatewayService) -> Endpoint:
    """The sign-up endpoint."""

    def endpoint(ctx: Context, request: SignUpRequest) -> Any:
        return svc.sign_up(ctx, request.name, request.email, request.password)

    return endpoint


def make_login_endpoint(svc: GatewayService) -> Endpoint:
    """The login endpoint."""

    def endpoint(ctx: Context, request: LoginRequest) -> Any:
        return svc.login(ctx, request.email, request.password)

    return endpoint


def make_get_user_endpoint(svc: GatewayService) -> Endpoint:
    """The read-one-user endpoint."""

    def endpoint(ctx: Context, request: GetUserRequest) -> Any:
        return svc.get_user(ctx, request.user_id)

    return endpoint


def make_list_books_endpoint(svc: GatewayService) -> Endpoint:
    """The page-of-books endpoint."""

    def endpoint(ctx: Context, request: ListBooksRequest) -> Any:
        return svc.list_books(ctx, request.author, request.page, request.page_size)

    return endpoint


def make_get_book_endpoint(svc: GatewayService) -> Endpoint:
    """The read-one-book endpoint."""

    def endpoint(ctx: Context, request: GetBookRequest) -> Any:
        return svc.get_book(ctx, request.book_id)

    return endpoint


def make_create_book_endpoint(svc: GatewayService) -> Endpoint:
    """The add-a-book endpoint."""

    def endpoint(ctx: Context, request: CreateBookRequest) -> Any:
        return svc.create_book(ctx, request.title, request.author, request.year, request.stock)

    return endpoint


def make_update_stock_endpoint(svc: GatewayService) -> Endpoint:
    """The change-stock endpoint."""

    def endpoint(ctx: Context, request: UpdateStockRequest) -> Any:
        return svc.update_stock(ctx, request.book_id, request.delta)

    return endpoint


def make_add_to_shelf_endpoint(svc: GatewayService) -> Endpoint:
    """The put-a-book-on-a-shelf endpoint."""

    def endpoint(ctx: Context, request: AddToShelfRequest) -> Any:
        return svc.add_to_shelf(ctx, request.user_id, request.book_id)

    return endpoint


def make_get_shelf_endpoint(svc: GatewayService) -> Endpoint:
    """The shelf fan-out endpoint."""

    def endpoint(ctx: Context, request: GetShelfRequest) -> Any:
        return svc.get_shelf(ctx, request.user_id)

    return endpoint
