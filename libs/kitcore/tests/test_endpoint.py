"""kitcore.endpoint: chain order, Context, deadlines, errors through middlewares."""

from __future__ import annotations

import time

import pytest

from kitcore import errors
from kitcore.endpoint import Context, chain, deadline_middleware


def recorder(name: str, trace: list[str]):
    """A middleware that notes entry and exit in ``trace``."""

    def middleware(next_endpoint):
        def endpoint(ctx, request):
            trace.append(f"{name} in")
            try:
                return next_endpoint(ctx, request)
            finally:
                trace.append(f"{name} out")

        return endpoint

    return middleware


def test_chain_runs_middlewares_in_reading_order():
    trace: list[str] = []

    def endpoint(ctx, request):
        trace.append("endpoint")
        return request * 2

    wrapped = chain(recorder("a", trace), recorder("b", trace), recorder("c", trace))(endpoint)
    assert wrapped(Context.background(), 21) == 42
    assert trace == ["a in", "b in", "c in", "endpoint", "c out", "b out", "a out"]


def test_chain_of_one():
    trace: list[str] = []
    wrapped = chain(recorder("only", trace))(lambda ctx, r: r)
    assert wrapped(Context.background(), "x") == "x"
    assert trace == ["only in", "only out"]


def test_errors_pass_through_middlewares_unchanged():
    trace: list[str] = []

    class BookNotFound(errors.NotFound):
        pass

    def endpoint(ctx, request):
        raise BookNotFound("book 7 not found", retry_after=None)

    wrapped = chain(recorder("a", trace), recorder("b", trace))(endpoint)
    with pytest.raises(BookNotFound, match="book 7 not found") as caught:
        wrapped(Context.background(), None)
    assert caught.value.kind is errors.Kind.NOT_FOUND
    assert trace == ["a in", "b in", "b out", "a out"]


def test_context_is_immutable_and_merges():
    base = Context.background()
    ctx = base.with_metadata({"Authorization": "Bearer t"}).with_value("user", "u1")
    ctx = ctx.with_metadata({"X-Other": "1"})
    assert base.metadata == {} and base.values == {}
    assert dict(ctx.metadata) == {"authorization": "Bearer t", "x-other": "1"}
    assert ctx.value("user") == "u1"
    assert ctx.value("missing", "default") == "default"
    with pytest.raises(AttributeError):
        ctx.deadline = 1.0  # type: ignore[misc]


def test_deadlines_only_shrink():
    ctx = Context.background()
    assert ctx.remaining() is None and not ctx.expired()
    short = ctx.with_timeout(1.0)
    assert short.with_timeout(10.0).deadline == short.deadline
    assert short.with_deadline(time.monotonic() + 10).deadline == short.deadline
    assert short.with_deadline(None).deadline == short.deadline
    shorter = short.with_timeout(0.1)
    assert shorter.deadline < short.deadline
    assert 0 < shorter.remaining() <= 0.1


def test_expired_context_raises_deadline_exceeded():
    ctx = Context.background().with_timeout(0.01)
    time.sleep(0.02)
    assert ctx.expired()
    with pytest.raises(errors.DeadlineExceeded):
        ctx.check_deadline()


def test_deadline_middleware_gives_a_default_deadline():
    seen = []
    wrapped = deadline_middleware(2.0)(lambda ctx, r: seen.append(ctx.remaining()))
    wrapped(Context.background(), None)
    assert 1.5 < seen[0] <= 2.0
    wrapped(Context.background().with_timeout(0.5), None)
    assert seen[1] <= 0.5


def test_deadline_middleware_refuses_expired_calls():
    calls = []
    wrapped = deadline_middleware(2.0)(lambda ctx, r: calls.append(r))
    expired = Context.background().with_timeout(-0.001)
    with pytest.raises(errors.DeadlineExceeded):
        wrapped(expired, "x")
    assert calls == []


def test_deadline_seen_by_an_inner_middleware_expires_in_time():
    def slow(ctx, request):
        time.sleep(0.05)
        ctx.check_deadline()
        return "done"

    wrapped = chain(deadline_middleware(0.01))(slow)
    with pytest.raises(errors.DeadlineExceeded):
        wrapped(Context.background(), None)
    assert chain(deadline_middleware(5))(slow)(Context.background(), None) == "done"
