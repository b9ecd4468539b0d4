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
        now = time.monotonic()
        with self._lock:
            self._tokens = min(self._depth, self._tokens + (now - self._last) * self.per_second)
            self._last = now
            if self._tokens < 1.0:
                return False
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


def parent_based_rate_limited(per_second: float = DEFAULT_PER_SECOND) -> Sampler:
    """Follow the caller's decision; at the edge, :class:`RateLimited` decides."""
    return ParentBased(RateLimited(per_second))
