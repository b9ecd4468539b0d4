"""retry: other instances after a failure, only retryable errors, within the deadline."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from kitcore import errors
from kitcore.endpoint import Context, Endpoint
from kitcore.sd import (
    Endpointer,
    Instance,
    Random,
    RoundRobin,
    StaticInstancer,
    record_instances,
    retry,
)


def book(name: str) -> Instance:
    return Instance(name, "book", f"{name}:8080", None, "1", {})


class Backends:
    """Endpoints per instance id that fail, hang or answer as told; counts calls."""

    def __init__(self, behaviour: dict[str, str]) -> None:
        self.behaviour = behaviour
        self.calls: Counter[str] = Counter()
        self.remaining: list[float | None] = []

    def factory(self, instance: Instance) -> tuple[Endpoint, Any]:
        def endpoint(ctx: Context, request: Any) -> str:
            self.calls[instance.id] += 1
            self.remaining.append(ctx.remaining())
            what = self.behaviour.get(instance.id, "ok")
            if what == "down":
                raise errors.Unavailable(f"{instance.id} refused the connection")
            if what == "missing":
                raise errors.NotFound("no such book")
            if what == "hang":  # a well-behaved client gives up at the deadline
                time.sleep(max(0.0, ctx.remaining() or 10))
                raise errors.DeadlineExceeded(f"{instance.id} timed out")
            return instance.id

        return endpoint, lambda: None

    def balancer(self, kind: type = RoundRobin) -> Any:
        instances = [book(name) for name in sorted(self.behaviour)]
        return kind(Endpointer(StaticInstancer(instances), self.factory))


def test_skips_a_dead_instance_and_succeeds() -> None:
    backends = Backends({"b1": "down", "b2": "ok", "b3": "ok"})
    call = retry(backends.balancer(), attempts=3, backoff=0.001)
    for _ in range(30):
        ctx, tried = record_instances(Context().with_timeout(2))
        assert call(ctx, None) in {"b2", "b3"}
        assert [instance.id for instance in tried][:-1] in ([], ["b1"])
    assert backends.calls["b1"] > 0, "round robin does reach the dead instance"
    assert backends.calls["b2"] + backends.calls["b3"] == 30


def test_random_balancer_does_not_pick_the_failed_instance_again() -> None:
    backends = Backends({"b1": "down", "b2": "down", "b3": "ok"})
    call = retry(backends.balancer(Random), attempts=3, backoff=0.001)
    for _ in range(30):
        ctx, tried = record_instances(Context())
        assert call(ctx, None) == "b3"
        assert len({instance.id for instance in tried}) == len(tried), "no instance twice"


def test_gives_up_after_the_attempts_with_the_last_error() -> None:
    backends = Backends({"b1": "down", "b2": "down"})
    call = retry(backends.balancer(), attempts=4, backoff=0.001)
    with pytest.raises(errors.Unavailable, match="refused"):
        call(Context(), None)
    assert sum(backends.calls.values()) == 4


def test_non_retryable_errors_return_at_once() -> None:
    backends = Backends({"b1": "missing", "b2": "ok"})
    call = retry(backends.balancer(), attempts=3, backoff=0.001)
    with pytest.raises(errors.NotFound):
        call(Context(), None)
    assert sum(backends.calls.values()) == 1


def test_never_runs_past_the_deadline() -> None:
    backends = Backends({"b1": "down", "b2": "down"})
    call = retry(backends.balancer(), attempts=100, backoff=0.05, max_backoff=0.2)
    started = time.monotonic()
    with pytest.raises(errors.Unavailable):
        call(Context().with_timeout(0.5), None)
    assert time.monotonic() - started <= 0.5 + 0.05


def test_hanging_instances_stop_at_the_deadline() -> None:
    backends = Backends({"b1": "hang", "b2": "hang"})
    call = retry(backends.balancer(), attempts=5, per_try_timeout=0.2, idempotent=True)
    started = time.monotonic()
    with pytest.raises(errors.DeadlineExceeded):
        call(Context().with_timeout(0.5), None)
    assert time.monotonic() - started <= 0.5 + 0.1
    assert all(left is not None and left <= 0.2 for left in backends.remaining)


def test_a_timed_out_try_is_retried_only_when_idempotent() -> None:
    backends = Backends({"b1": "hang", "b2": "ok"})
    once = retry(backends.balancer(), attempts=3, per_try_timeout=0.1)
    with pytest.raises(errors.DeadlineExceeded):
        once(Context().with_timeout(2), None)
    assert backends.calls["b2"] == 0
    safe = retry(backends.balancer(), attempts=3, per_try_timeout=0.1, idempotent=True)
    assert safe(Context().with_timeout(2), None) == "b2"


def test_an_expired_context_is_not_even_tried() -> None:
    backends = Backends({"b1": "ok"})
    call = retry(backends.balancer())
    with pytest.raises(errors.DeadlineExceeded):
        call(Context().with_timeout(0), None)
    assert not backends.calls


def test_retries_a_plain_endpoint_too() -> None:
    answers = [errors.Unavailable("busy"), "done"]

    def flaky(ctx: Context, request: Any) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert retry(flaky, backoff=0.001)(Context(), None) == "done"
