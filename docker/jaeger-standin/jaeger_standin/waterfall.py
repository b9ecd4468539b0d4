"""One trace laid out as a waterfall: spans nested by parent, placed on the trace's timeline.

Pure data, no HTML: :func:`layout` orders the spans depth first (children by
start time), gives each its depth and its offset and width as percentages of
the trace's duration. A span whose parent is not in the trace (not yet
arrived, or dropped) is drawn as a root.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from jaeger_standin.otlp import Span


@dataclass(frozen=True)
class Row:
    """One span on the waterfall."""

    span: Span
    depth: int
    offset_pct: float
    width_pct: float
    error: bool


@dataclass(frozen=True)
class Waterfall:
    """A trace ready to draw: its rows in order and its summary."""

    trace_id: str
    rows: list[Row]
    start_us: int
    duration_us: int
    services: list[str]

    @property
    def root(self) -> Span:
        """The first root span: the trace's name is its service and operation."""
        return self.rows[0].span

    @property
    def error_count(self) -> int:
        """How many spans are marked as errors."""
        return sum(row.error for row in self.rows)


def is_error(span: Span) -> bool:
    """True when the span carries Jaeger's ``error`` tag (OTLP status ERROR)."""
    return any(t["key"] == "error" and t["value"] is True for t in span.tags)


def parent_id(span: Span) -> str | None:
    """The span id of the CHILD_OF reference within the same trace, or None."""
    for ref in span.references:
        if ref["refType"] == "CHILD_OF" and ref["traceID"] == span.trace_id:
            return ref["spanID"]
    return None


def layout(spans: list[Span]) -> Waterfall:
    """The waterfall of one non-empty trace."""
    start = min(s.start_us for s in spans)
    end = max(s.start_us + s.duration_us for s in spans)
    duration = max(end - start, 1)
    by_id = {s.span_id: s for s in spans}
    children: dict[str | None, list[Span]] = defaultdict(list)
    for span in spans:
        parent = parent_id(span)
        children[parent if parent in by_id else None].append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: (s.start_us, s.operation))

    rows: list[Row] = []
    seen: set[str] = set()
    stack = [(span, 0) for span in reversed(children[None])]
    while stack:
        span, depth = stack.pop()
        if span.span_id in seen:
            continue
        seen.add(span.span_id)
        rows.append(_row(span, depth, start, duration))
        stack.extend((child, depth + 1) for child in reversed(children[span.span_id]))
    # Spans only reachable through a cycle of parents: drawn as roots, not lost.
    rows += [_row(s, 0, start, duration) for s in spans if s.span_id not in seen]
    services = sorted({s.process.service_name for s in spans})
    return Waterfall(spans[0].trace_id, rows, start, end - start, services)


def _row(span: Span, depth: int, start: int, duration: int) -> Row:
    offset = (span.start_us - start) / duration * 100
    width = span.duration_us / duration * 100
    return Row(span, depth, round(offset, 3), round(min(width, 100 - offset), 3),
               is_error(span))


def format_duration(micros: int) -> str:
    """``850µs``, ``12.35ms``, ``1.24s``: as Jaeger writes durations."""
    if micros < 1000:
        return f"{micros}µs"
    if micros < 1_000_000:
        return f"{micros / 1000:.2f}ms"
    return f"{micros / 1_000_000:.2f}s"
