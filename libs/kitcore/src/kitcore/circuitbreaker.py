"""Circuit breaker middleware on pybreaker.

A :class:`Breaker` counts consecutive failures of the endpoint it wraps. After
``fail_max`` of them it opens: calls fail at once with
:class:`kitcore.errors.NotSent` (an ``Unavailable`` that says the call never
left, so a retry elsewhere is safe) or get the ``fallback`` answer, without
reaching the endpoint. After ``reset_timeout`` seconds it lets one trial
call through (half-open) and refuses the others while that call runs, so a
burst of concurrent calls cannot all land on a backend that may still be
down (pybreaker alone lets every concurrent call through in half-open);
``success_threshold`` successful trials close it again, a failed one opens it
again. Client errors (:func:`kitcore.errors.is_client_error`) say
nothing about the health of the backend and never count.

Use one breaker per backend instance: in a discovery factory, build the
instance's client endpoint and wrap it with ``Breaker(f"{service}/{instance.id}")``,
closing the breaker with the endpoint. State changes are logged once each and
exported as the gauge ``kit_circuit_state{name}`` (0 closed, 1 half-open, 2 open).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import pybreaker
from prometheus_client import Gauge

from kitcore import errors
from kitcore.endpoint import Context, Endpoint, Middleware

Fallback = Callable[[Context, Any, errors.KitError], Any]
"""A degraded answer ``(ctx, request, error) -> response`` given while the circuit is open."""

STATE_GAUGE = Gauge(
    "kit_circuit_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.", ["name"]
)
"""The breaker state per breaker name."""

_STATE_VALUES = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}

_log = logging.getLogger(__name__)


class _StateListener(pybreaker.CircuitBreakerListener):
    """Logs each state change and mirrors it in the gauge."""

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        old = old_state.name if old_state is not None else None
        STATE_GAUGE.labels(cb.name).set(_STATE_VALUES[new_state.name])
        level = logging.WARNING if new_state.name == pybreaker.STATE_OPEN else logging.INFO
        fields = {"breaker": cb.name, "old_state": old, "new_state": new_state.name}
        _log.log(level, "circuit %s: %s -> %s", cb.name, old, new_state.name,
                 extra={"fields": fields})


class Breaker:
    """One circuit breaker (one backend, or one backend instance) as a middleware factory."""

    def __init__(
        self,
        name: str,
        *,
        fail_max: int = 5,
        reset_timeout: float = 10.0,
        success_threshold: int = 1,
        fallback: Fallback | None = None,
    ) -> None:
        self.name = name
        self.fallback = fallback
        self._cb = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            success_threshold=success_threshold,
            exclude=[errors.is_client_error],
            listeners=[_StateListener()],
            name=name,
            # The call that trips the breaker reports its own error, not "circuit open".
            throw_new_error_on_trip=False,
        )
        self._trial = threading.Lock()  # held by the one call a non-closed breaker lets through
        STATE_GAUGE.labels(name).set(0)

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"``."""
        return self._cb.current_state

    def middleware(self) -> Middleware:
        """The middleware that guards an endpoint with this breaker."""

        def wrap(next_endpoint: Endpoint) -> Endpoint:
            def endpoint(ctx: Context, request: Any) -> Any:
                trial = self._cb.current_state != pybreaker.STATE_CLOSED
                if trial and not self._trial.acquire(blocking=False):
                    return self._refuse(ctx, request, " (a trial call is running)")
                try:
                    # calling() holds pybreaker's lock only to check the state, not
                    # during the call (call() would serialise every request).
                    with self._cb.calling():
                        return next_endpoint(ctx, request)
                except pybreaker.CircuitBreakerError:
                    return self._refuse(ctx, request)
                finally:
                    if trial:
                        self._trial.release()

            return endpoint

        return wrap

    def _refuse(self, ctx: Context, request: Any, why: str = "") -> Any:
        """Answer a call the breaker does not let through: the fallback, or NotSent."""
        error = errors.NotSent(f"circuit open for {self.name}{why}")
        if self.fallback is None:
            raise error from None
        return self.fallback(ctx, request, error)

    def close(self) -> None:
        """Forget this breaker's gauge series (call when its backend instance goes away)."""
        with contextlib.suppress(KeyError):
            STATE_GAUGE.remove(self.name)


def breaker_middleware(
    name: str,
    *,
    fail_max: int = 5,
    reset_timeout: float = 10.0,
    success_threshold: int = 1,
    fallback: Fallback | None = None,
) -> Middleware:
    """A middleware guarding an endpoint with a new :class:`Breaker` called ``name``."""
    return Breaker(
        name,
        fail_max=fail_max,
        reset_timeout=reset_timeout,
        success_threshold=success_threshold,
        fallback=fallback,
    ).middleware()
