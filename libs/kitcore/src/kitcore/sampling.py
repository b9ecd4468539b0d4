"""A rate-limited trace sampler: up to N new traces per second, then none.

Sampling by ratio drops most of the requests a person makes by hand; always
sampling costs every request a recorded, exported span. :class:`RateLimited`
samples every new trace while fewer than ``per_second`` arrived in the last
second (a token bucket, one second deep), so traffic typed in a terminal is
always traced and a load test is traced a few times a second. Behind
:class:`opentelemetry.sdk.trace.sampling.ParentBased` it decides only at the
edge; every later hop follows the caller's decision, so a trace is whole or
absent. :mod:`kitcore.tracing` makes ``parentbased_ratelimited`` (10 traces/s
per process) the default.

:class:`ParentBasedRateLimited` is that pair, and can also tell in advance that
a request will not be sampled (:meth:`ParentBasedRateLimited.drops`): its
caller did not sample it, or no token is left at the edge. kitcore's server
spans (:mod:`kitcore.spans`) then make the unsampled span themselves, without
the SDK's span-building path, which is most of what tracing costs a request
that is not traced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

DEFAULT_PER_SECOND = 10.0
"""New traces per second per process that the default sampler keeps."""


class RateLimited(Sampler):
    """Samples a new trace while the bucket (``per_second`` tokens, refilled each second)
    holds a token; drops it otherwise."""

    def __init__(self, per_second: float) -> None:
        if per_second < 0:
            raise ValueError(f"traces per second must be >= 0, got {per_second}")
        self.per_second = per_second
        self._depth = max(per_second, 1.0) if per_second else 0.0
        self._tokens = self._depth
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """Use one token if there is one (True: sample)."""
        return self._refill(use=True)

    def has_token(self) -> bool:
        """True if a token is there now (:meth:`take` would sample); none is used."""
        return self._refill(use=False)

    def _refill(self, *, use: bool) -> bool:
        now = time.monotonic()
        with self._lock:
            self._tokens = min(self._depth, self._tokens + (now - self._last) * self.per_second)
            self._last = now
            if self._tokens < 1.0:
                return False
            if use:
                self._tokens -= 1.0
            return True

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """RECORD_AND_SAMPLE while tokens last, DROP after (opentelemetry Sampler)."""
        state = get_current_span(parent_context).get_span_context().trace_state
        if self.take():
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)
        return SamplingResult(Decision.DROP, None, state)

    def get_description(self) -> str:
        """The sampler's name and rate."""
        return f"RateLimited{{{self.per_second:g}/s}}"


class ParentBasedRateLimited(ParentBased):
    """Follow the caller's decision; at the edge, :class:`RateLimited` decides."""

    def __init__(self, per_second: float = DEFAULT_PER_SECOND) -> None:
        self.edge = RateLimited(per_second)
        super().__init__(self.edge)

    def drops(self, caller_sampled: bool | None) -> bool:
        """True if a server span is certain not to be sampled: its caller's trace is
        not sampled (``caller_sampled`` False), or it starts a trace (None) while
        the edge has no token left. False means: ask :meth:`should_sample`."""
        if caller_sampled is None:
            return not self.edge.has_token()
        return not caller_sampled


def parent_based_rate_limited(per_second: float = DEFAULT_PER_SECOND) -> Sampler:
    """Follow the caller's decision; at the edge, :class:`RateLimited` decides."""
    return ParentBasedRateLimited(per_second)
