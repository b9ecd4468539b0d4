"""The error a client raises when it refuses a call itself, to spare a backend.

:class:`Overloaded` is raised by the client-side throttle
(:mod:`kitcore.throttle`) and the bulkhead (:mod:`kitcore.bulkhead`). The call
never left (it is a :class:`~kitcore.errors.NotSent`, UNAVAILABLE on the wire,
503 over HTTP), and :func:`kitcore.sd.retry` never retries it: the refusal is
the client's own judgement that the backend has no room now, which another try
a few milliseconds later would only contradict. It says when to try again
(``Retry-After``, 1 s unless given), as every other refusal for load does.
"""

from __future__ import annotations

from collections.abc import Mapping

from kitcore import errors

RETRY_AFTER = 1.0
"""Seconds a refused caller is told to wait (``Retry-After``) unless the raiser says."""


class Overloaded(errors.NotSent):
    """Refused by the caller itself (throttled, or over its bulkhead); never sent."""

    def __init__(self, message: str = "", *, retry_after: float | None = RETRY_AFTER,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message, retry_after=retry_after, headers=headers)


def is_overloaded(error: BaseException) -> bool:
    """True when the caller refused the call itself (see :class:`Overloaded`)."""
    return isinstance(error, Overloaded)
