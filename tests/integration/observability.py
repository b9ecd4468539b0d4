"""Read what the stack says about itself: /metrics text, the Prometheus HTTP API
and the Jaeger query API (``/api/traces/{id}``), as plain data for assertions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

TIMEOUT = 5.0
"""Seconds any one read may take."""


@dataclass(frozen=True)
class Sample:
    """One metric sample: name, labels, value."""

    name: str
    labels: Mapping[str, str]
    value: float


def scrape(url: str) -> list[Sample]:
    """Every sample of a Prometheus text endpoint such as the gateway's /metrics."""
    reply = requests.get(url, timeout=TIMEOUT)
    reply.raise_for_status()
    return parse_samples(reply.text)


def parse_samples(text: str) -> list[Sample]:
    """Every sample of a Prometheus text exposition."""
    return [
        Sample(s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def circuit_states(samples: list[Sample]) -> dict[str, float]:
    """``kit_circuit_state`` by breaker name (0 closed, 1 half-open, 2 open)."""
    return {s.labels["name"]: s.value for s in samples if s.name == "kit_circuit_state"}


def prometheus_targets(base_url: str) -> list[dict[str, Any]]:
    """Prometheus's active scrape targets (``/api/v1/targets``)."""
    reply = requests.get(f"{base_url}/api/v1/targets", params={"state": "active"},
                         timeout=TIMEOUT)
    reply.raise_for_status()
    return list(reply.json()["data"]["activeTargets"])


def prometheus_query(base_url: str, promql: str) -> list[dict[str, Any]]:
    """The result vector of an instant query (``/api/v1/query``)."""
    reply = requests.get(f"{base_url}/api/v1/query", params={"query": promql}, timeout=TIMEOUT)
    reply.raise_for_status()
    body = reply.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


@dataclass(frozen=True)
class Span:
    """One span of a Jaeger trace, with its service and parent span id."""

    span_id: str
    trace_id: str
    service: str
    operation: str
    parent_id: str | None
    tags: Mapping[str, Any]


def jaeger_trace(base_url: str, trace_id: str) -> list[Span]:
    """The spans of one trace from the Jaeger query API; AssertionError if not there (yet)."""
    reply = requests.get(f"{base_url}/api/traces/{trace_id}", timeout=TIMEOUT)
    assert reply.status_code == 200, f"trace {trace_id}: HTTP {reply.status_code}"
    data = reply.json().get("data") or []
    assert data, f"trace {trace_id} not found yet"
    assert len(data) == 1, f"trace {trace_id} came back as {len(data)} traces"
    trace = data[0]
    processes = trace.get("processes") or {}
    return [_span(raw, processes) for raw in trace["spans"]]


def _span(raw: Mapping[str, Any], processes: Mapping[str, Any]) -> Span:
    process = raw.get("process") or processes.get(raw.get("processID"), {})
    parents = [ref["spanID"] for ref in raw.get("references") or []
               if ref.get("refType") == "CHILD_OF"]
    tags = {tag["key"]: tag.get("value") for tag in raw.get("tags") or []}
    return Span(
        span_id=raw["spanID"],
        trace_id=raw["traceID"],
        service=process.get("serviceName", ""),
        operation=raw.get("operationName", ""),
        parent_id=parents[0] if parents else None,
        tags=tags,
    )
