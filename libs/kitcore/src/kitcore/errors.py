"""Error kinds shared by every service and transport, and their wire mapping.

A service raises a subclass of :class:`KitError` (or one of its own domain
errors that subclasses one). Each transport turns it into the wire form of
its kind through :data:`TABLE`, and each client turns the wire form back into
the same kind, so an error raised in a backend reaches the caller's code as
the same class of error, over HTTP or gRPC.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass


class Kind(enum.Enum):
    """The kinds of error kitcore knows, named by their JSON ``code``."""

    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    FAILED_PRECONDITION = "failed_precondition"
    UNAUTHENTICATED = "unauthenticated"
    PERMISSION_DENIED = "permission_denied"
    RATE_LIMITED = "rate_limited"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNAVAILABLE = "unavailable"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    INTERNAL = "internal"


@dataclass(frozen=True)
class WireForm:
    """How a kind is written on each transport: an HTTP status and a gRPC code name."""

    http_status: int
    grpc_code: str


TABLE: dict[Kind, WireForm] = {
    Kind.INVALID_ARGUMENT: WireForm(400, "INVALID_ARGUMENT"),
    Kind.NOT_FOUND: WireForm(404, "NOT_FOUND"),
    Kind.ALREADY_EXISTS: WireForm(409, "ALREADY_EXISTS"),
    Kind.FAILED_PRECONDITION: WireForm(409, "FAILED_PRECONDITION"),
    Kind.UNAUTHENTICATED: WireForm(401, "UNAUTHENTICATED"),
    Kind.PERMISSION_DENIED: WireForm(403, "PERMISSION_DENIED"),
    Kind.RATE_LIMITED: WireForm(429, "RESOURCE_EXHAUSTED"),
    Kind.PAYLOAD_TOO_LARGE: WireForm(413, "INVALID_ARGUMENT"),
    Kind.UNSUPPORTED_MEDIA_TYPE: WireForm(415, "INVALID_ARGUMENT"),
    Kind.METHOD_NOT_ALLOWED: WireForm(405, "UNIMPLEMENTED"),
    Kind.UNAVAILABLE: WireForm(503, "UNAVAILABLE"),
    Kind.DEADLINE_EXCEEDED: WireForm(504, "DEADLINE_EXCEEDED"),
    Kind.INTERNAL: WireForm(500, "INTERNAL"),
}
"""The one table from error kind to HTTP status and gRPC status code."""


class KitError(Exception):
    """An error of a known kind. Subclass the kind classes below, not this one.

    ``retry_after`` (seconds) tells a client when trying again makes sense;
    the HTTP transport writes it as ``Retry-After``. ``headers`` are extra
    response headers (HTTP) or trailing metadata (gRPC) that describe the
    error, such as the ``RateLimit-*`` headers of a rejected call.
    """

    kind: Kind = Kind.INTERNAL

    def __init__(
        self,
        message: str = "",
        *,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.kind.value.replace("_", " "))
        self.message = str(self.args[0])
        self.retry_after = retry_after
        self.headers: Mapping[str, str] = dict(headers or {})

    @property
    def wire(self) -> WireForm:
        """The wire form of this error's kind."""
        return TABLE[self.kind]


class InvalidArgument(KitError):
    """The request is malformed or a field is invalid."""

    kind = Kind.INVALID_ARGUMENT


class NotFound(KitError):
    """The thing asked for does not exist."""

    kind = Kind.NOT_FOUND


class AlreadyExists(KitError):
    """The thing to create exists already."""

    kind = Kind.ALREADY_EXISTS


class FailedPrecondition(KitError):
    """The request is well formed but the current state forbids it."""

    kind = Kind.FAILED_PRECONDITION


class Unauthenticated(KitError):
    """Credentials are missing, malformed, expired or wrongly signed."""

    kind = Kind.UNAUTHENTICATED


class PermissionDenied(KitError):
    """The caller is known but may not do this."""

    kind = Kind.PERMISSION_DENIED


class RateLimited(KitError):
    """The caller is over its budget; try again after ``retry_after``."""

    kind = Kind.RATE_LIMITED


class PayloadTooLarge(KitError):
    """The request body is larger than the server accepts."""

    kind = Kind.PAYLOAD_TOO_LARGE


class UnsupportedMediaType(KitError):
    """The request body is not in a media type the server reads."""

    kind = Kind.UNSUPPORTED_MEDIA_TYPE


class MethodNotAllowed(KitError):
    """The route exists but not for this method."""

    kind = Kind.METHOD_NOT_ALLOWED


class Unavailable(KitError):
    """A dependency is down, broken open or unreachable; safe to retry."""

    kind = Kind.UNAVAILABLE


class NotSent(Unavailable):
    """The call never left the client (connection refused, closed channel, open
    circuit), so trying it on another instance is safe even for a write that is
    not idempotent. On the wire it is plain UNAVAILABLE."""


class DeadlineExceeded(KitError):
    """The call ran out of time."""

    kind = Kind.DEADLINE_EXCEEDED


class Internal(KitError):
    """An unexpected failure; the message is safe to show, details are logged."""

    kind = Kind.INTERNAL


_BY_KIND: dict[Kind, type[KitError]] = {
    cls.kind: cls
    for cls in (
        InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, Unauthenticated,
        PermissionDenied, RateLimited, PayloadTooLarge, UnsupportedMediaType,
        MethodNotAllowed, Unavailable, DeadlineExceeded, Internal,
    )
}

_BY_CODE: dict[str, Kind] = {kind.value: kind for kind in Kind}

_BY_HTTP: dict[int, Kind] = {}
_BY_GRPC: dict[str, Kind] = {}
for _kind, _form in TABLE.items():
    _BY_HTTP.setdefault(_form.http_status, _kind)
    _BY_GRPC.setdefault(_form.grpc_code, _kind)


def error_class(kind: Kind) -> type[KitError]:
    """The exception class for a kind."""
    return _BY_KIND[kind]


def from_code(
    code: str,
    message: str = "",
    *,
    retry_after: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> KitError:
    """Rebuild an error from its JSON ``code`` (unknown codes become INTERNAL)."""
    kind = _BY_CODE.get(code, Kind.INTERNAL)
    return _BY_KIND[kind](message, retry_after=retry_after, headers=headers)


def from_http_status(status: int, message: str = "") -> KitError:
    """Rebuild an error from an HTTP status when the body names no code."""
    kind = _BY_HTTP.get(status)
    if kind is None:
        kind = Kind.INVALID_ARGUMENT if 400 <= status < 500 else Kind.INTERNAL
    return _BY_KIND[kind](message)


def from_grpc_code(code_name: str, message: str = "") -> KitError:
    """Rebuild an error from a gRPC status code name (``"NOT_FOUND"``)."""
    kind = _BY_GRPC.get(code_name, Kind.INTERNAL)
    if code_name == "CANCELLED":
        kind = Kind.UNAVAILABLE
    return _BY_KIND[kind](message)


def is_retryable(error: BaseException) -> bool:
    """True for errors a retry may cure: the dependency was unavailable."""
    return isinstance(error, Unavailable)


def was_not_sent(error: BaseException) -> bool:
    """True when the call certainly never reached a server (see :class:`NotSent`)."""
    return isinstance(error, NotSent)


def is_client_error(error: BaseException) -> bool:
    """True for errors caused by the request itself, which say nothing about
    the health of the server (they never trip a circuit breaker)."""
    return isinstance(error, KitError) and 400 <= error.wire.http_status < 500


Translator = Callable[[BaseException], "KitError | None"]
"""Names the kind of a foreign exception it knows (a driver's), or returns None."""

_TRANSLATORS: list[Translator] = []


def add_translator(translator: Translator) -> None:
    """Let the transports ask ``translator`` about exceptions that are not KitErrors
    (:mod:`kitcore.sql` adds its :func:`~kitcore.sql.map_error`)."""
    if translator not in _TRANSLATORS:
        _TRANSLATORS.append(translator)


def translate(error: BaseException) -> KitError:
    """The KitError a transport answers for ``error``: itself, a translator's, or INTERNAL."""
    if isinstance(error, KitError):
        return error
    for translator in _TRANSLATORS:
        known = translator(error)
        if known is not None:
            return known
    return Internal("internal error")
