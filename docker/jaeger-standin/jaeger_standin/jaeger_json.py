"""Jaeger's query-API JSON: traces with ``spans`` and ``processes``, and envelopes."""

from __future__ import annotations

from typing import Any

from jaeger_standin.otlp import Process, Span


def trace_json(spans: list[Span]) -> dict[str, Any]:
    """One trace as Jaeger answers it: processes numbered p1, p2, ... by first use."""
    process_ids: dict[Process, str] = {}
    for span in spans:
        process_ids.setdefault(span.process, f"p{len(process_ids) + 1}")
    return {
        "traceID": spans[0].trace_id,
        "spans": [_span_json(span, process_ids[span.process]) for span in spans],
        "processes": {pid: process.as_json() for process, pid in process_ids.items()},
        "warnings": None,
    }


def envelope(data: Any) -> dict[str, Any]:
    """A successful answer: ``{"data", "total", "limit", "offset", "errors"}``."""
    total = len(data) if isinstance(data, list) else 0
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": None}


def error_envelope(status: int, message: str) -> dict[str, Any]:
    """A failed answer in Jaeger's shape: ``data`` null, one entry in ``errors``."""
    return {"data": None, "total": 0, "limit": 0, "offset": 0,
            "errors": [{"code": status, "msg": message}]}


def _span_json(span: Span, process_id: str) -> dict[str, Any]:
    return {
        "traceID": span.trace_id,
        "spanID": span.span_id,
        "flags": 1,
        "operationName": span.operation,
        "references": span.references,
        "startTime": span.start_us,
        "duration": span.duration_us,
        "tags": span.tags,
        "logs": span.logs,
        "processID": process_id,
        "warnings": None,
    }
