"""The error a client raises when it refuses a call itself, to spare a backend.

:class:`Overloaded` is raised by the client-side throttle
(:mod:`kitcore.throttle`) and the bulkhead (:mod:`kitcore.bulkhead`). The call
never left (it is a :class:`~kitcore.errors.NotSent`, UNAVAILABLE on the wire,
503 over HTTP), and :func:`kitcore.sd.retry` never retries it: the refusal is
the client's own judgement that the backend has no room now, which another try
a few milliseconds later would only contradict.
"""

from __future__ import annotations

from kitcore import errors


class Overloaded(errors.NotSent):
    """Refused by the caller itself (throttled, or over its bulkhead); never sent."""


def is_overloaded(error: BaseException) -> bool:
    """True when the caller refused the call itself (see :class:`Overloaded`)."""
    return isinstance(error, Overloaded)
