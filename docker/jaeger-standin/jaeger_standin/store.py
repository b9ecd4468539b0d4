"""The newest traces in memory, bounded in traces, in spans and in spans per trace."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from jaeger_standin.otlp import Span


@dataclass(frozen=True)
class TraceQuery:
    """What ``GET /api/traces`` asks for; times in microseconds since the epoch.
    An empty ``service`` (the trace view's "All services") matches every service."""

    service: str
    operation: str | None = None
    limit: int = 100
    start_us: int | None = None
    end_us: int | None = None
    tags: dict[str, str] = field(default_factory=dict)


class TraceStore:
    """Traces by ID; past ``max_traces`` traces or ``max_spans`` spans in all, the
    least recently written traces are dropped."""

    def __init__(self, max_traces: int = 5000, max_spans: int = 50_000,
                 max_spans_per_trace: int = 2000) -> None:
        self._lock = threading.Lock()
        self._traces: OrderedDict[str, list[Span]] = OrderedDict()
        self._operations: dict[str, set[str]] = {}
        self._span_count = 0
        self.max_traces = max_traces
        self._max_spans = max_spans
        self._max_spans_per_trace = max_spans_per_trace

    def add(self, spans: Iterable[Span]) -> None:
        """Store spans under their traces (extra spans past the per-trace cap are dropped)."""
        with self._lock:
            for span in spans:
                trace = self._traces.setdefault(span.trace_id, [])
                self._traces.move_to_end(span.trace_id)
                if len(trace) < self._max_spans_per_trace:
                    trace.append(span)
                    self._span_count += 1
                ops = self._operations.setdefault(span.process.service_name, set())
                ops.add(span.operation)
            while len(self._traces) > 1 and (len(self._traces) > self.max_traces
                                             or self._span_count > self._max_spans):
                _, dropped = self._traces.popitem(last=False)
                self._span_count -= len(dropped)

    def services(self) -> list[str]:
        """Every service that sent a span, sorted."""
        with self._lock:
            return sorted(self._operations)

    def operations(self, service: str) -> list[str]:
        """The span names seen for ``service``, sorted."""
        with self._lock:
            return sorted(self._operations.get(service, ()))

    def get(self, trace_id: str) -> list[Span] | None:
        """The spans of one trace (ID in hex, leading zeros optional), or None."""
        key = trace_id.strip().lower().rjust(32, "0")
        with self._lock:
            trace = self._traces.get(key)
            return list(trace) if trace is not None else None

    def find(self, query: TraceQuery) -> list[list[Span]]:
        """Traces with a span matching ``query``, newest first, at most ``query.limit``."""
        with self._lock:
            traces = [list(t) for t in self._traces.values()
                      if any(_matches(s, query) for s in t)]
        traces.sort(key=lambda t: min(s.start_us for s in t), reverse=True)
        return traces[: query.limit]


def _matches(span: Span, query: TraceQuery) -> bool:
    if query.service and span.process.service_name != query.service:
        return False
    if query.operation and span.operation != query.operation:
        return False
    if query.start_us is not None and span.start_us < query.start_us:
        return False
    if query.end_us is not None and span.start_us > query.end_us:
        return False
    tags = {t["key"]: t["value"] for t in span.tags}
    return all(str(tags.get(k)).lower() == str(v).lower() for k, v in query.tags.items())
