"""kitcore.errors: the table, and every kind round-tripping through its wire forms."""

from __future__ import annotations

import pytest

from kitcore import errors
from kitcore.errors import Kind

ALL_KINDS = list(Kind)


def test_table_covers_every_kind_with_an_error_status():
    assert set(errors.TABLE) == set(Kind)
    for kind, form in errors.TABLE.items():
        assert 400 <= form.http_status < 600, kind
        assert form.grpc_code.isupper(), kind


def test_expected_wire_forms():
    table = {k: (f.http_status, f.grpc_code) for k, f in errors.TABLE.items()}
    assert table[Kind.INVALID_ARGUMENT] == (400, "INVALID_ARGUMENT")
    assert table[Kind.NOT_FOUND] == (404, "NOT_FOUND")
    assert table[Kind.UNAUTHENTICATED] == (401, "UNAUTHENTICATED")
    assert table[Kind.PERMISSION_DENIED] == (403, "PERMISSION_DENIED")
    assert table[Kind.RATE_LIMITED] == (429, "RESOURCE_EXHAUSTED")
    assert table[Kind.UNAVAILABLE] == (503, "UNAVAILABLE")
    assert table[Kind.DEADLINE_EXCEEDED] == (504, "DEADLINE_EXCEEDED")
    assert table[Kind.INTERNAL] == (500, "INTERNAL")


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_code_round_trip_keeps_kind_message_and_retry_after(kind):
    original = errors.error_class(kind)("what happened", retry_after=3.0)
    rebuilt = errors.from_code(original.kind.value, original.message,
                               retry_after=original.retry_after)
    assert type(rebuilt) is type(original)
    assert (rebuilt.message, rebuilt.retry_after) == ("what happened", 3.0)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_http_status_round_trip_keeps_the_status(kind):
    status = errors.TABLE[kind].http_status
    rebuilt = errors.from_http_status(status, "m")
    assert rebuilt.wire.http_status == status
    assert rebuilt.message == "m"


@pytest.mark.parametrize(
    "kind",
    [k for k in ALL_KINDS if k not in (Kind.FAILED_PRECONDITION, Kind.PAYLOAD_TOO_LARGE,
                                       Kind.UNSUPPORTED_MEDIA_TYPE)],
)
def test_http_status_round_trip_keeps_the_kind_where_the_status_is_unique(kind):
    assert errors.from_http_status(errors.TABLE[kind].http_status).kind is kind


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_grpc_code_round_trip_keeps_the_code(kind):
    code = errors.TABLE[kind].grpc_code
    assert errors.from_grpc_code(code, "m").wire.grpc_code == code


def test_unknown_wire_values():
    assert isinstance(errors.from_code("no_such_code"), errors.Internal)
    assert isinstance(errors.from_http_status(418), errors.InvalidArgument)
    assert isinstance(errors.from_http_status(599), errors.Internal)
    assert isinstance(errors.from_grpc_code("DATA_LOSS"), errors.Internal)
    assert isinstance(errors.from_grpc_code("CANCELLED"), errors.Unavailable)


def test_domain_errors_subclass_a_kind():
    class BookNotFound(errors.NotFound):
        pass

    err = BookNotFound("book 7")
    assert err.kind is Kind.NOT_FOUND and err.wire.http_status == 404
    assert errors.is_client_error(err) and not errors.is_retryable(err)


def test_default_message_headers_and_classification():
    err = errors.RateLimited(retry_after=1.5, headers={"RateLimit-Limit": "5"})
    assert err.message == "rate limited"
    assert err.headers == {"RateLimit-Limit": "5"}
    assert errors.is_retryable(errors.Unavailable())
    assert not errors.is_client_error(errors.Unavailable())
    assert not errors.is_client_error(ValueError())
    assert not errors.is_retryable(errors.DeadlineExceeded())


def test_translate_maps_known_foreign_failures_and_leaves_bugs_internal():
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    import kitcore.sql  # noqa: F401 - adds its driver-error translator

    pool = errors.translate(PoolTimeout("QueuePool limit of size 5 overflow 10 reached"))
    assert isinstance(pool, errors.Unavailable) and pool.retry_after
    assert pool.message == "the database is unavailable (no free connection)"
    bug = errors.translate(ZeroDivisionError("division by zero"))
    assert type(bug) is errors.Internal and bug.message == "internal error"
    known = errors.NotFound("no such book")
    assert errors.translate(known) is known
