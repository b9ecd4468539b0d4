"""The waterfall's layout: order, depth and placement of spans, without a server."""

from __future__ import annotations

from jaeger_standin.otlp import Process, Span
from jaeger_standin.waterfall import format_duration, layout

TRACE = "ab" * 16


def _span(span_id: str, start: int, duration: int, parent: str | None = None,
          service: str = "gateway", error: bool = False) -> Span:
    refs = [{"refType": "CHILD_OF", "traceID": TRACE, "spanID": parent}] if parent else []
    tags = [{"key": "error", "type": "bool", "value": True}] if error else []
    return Span(TRACE, span_id, f"op {span_id}", start, duration, Process(service),
                references=refs, tags=tags)


def test_children_follow_their_parent_in_start_order_one_level_deeper() -> None:
    spans = [_span("c2", 1_500, 100, "root"), _span("root", 1_000, 1_000),
             _span("g1", 1_200, 50, "c1", "book", error=True), _span("c1", 1_100, 300, "root")]
    view = layout(spans)
    assert [(r.span.span_id, r.depth) for r in view.rows] == [
        ("root", 0), ("c1", 1), ("g1", 2), ("c2", 1)]
    assert [r.error for r in view.rows] == [False, False, True, False]
    assert view.error_count == 1 and view.root.span_id == "root"
    assert (view.start_us, view.duration_us, view.services) == (1_000, 1_000, ["book", "gateway"])
    c1 = view.rows[1]
    assert (c1.offset_pct, c1.width_pct) == (10.0, 30.0)


def test_a_span_whose_parent_is_missing_is_drawn_as_a_root() -> None:
    view = layout([_span("late", 2_000, 10, "never-arrived"), _span("root", 1_000, 500)])
    assert [(r.span.span_id, r.depth) for r in view.rows] == [("root", 0), ("late", 0)]
    assert view.rows[1].offset_pct + view.rows[1].width_pct <= 100


def test_a_cycle_of_parents_loses_no_span() -> None:
    view = layout([_span("a", 1_000, 10, "b"), _span("b", 1_001, 10, "a")])
    assert sorted(r.span.span_id for r in view.rows) == ["a", "b"]


def test_durations_read_as_jaeger_writes_them() -> None:
    assert [format_duration(us) for us in (850, 12_345, 1_240_000)] == [
        "850µs", "12.35ms", "1.24s"]
