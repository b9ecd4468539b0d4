"""The trace view's HTML pages: the search (``/``, ``/search``) and one trace (``/trace/{id}``).

Server-rendered; every value that came with a span is escaped. The look and
the little behaviour (open a span named in the URL's fragment, expand or
collapse all, reload the form when the service changes) live in
``static/view.css`` and ``static/view.js``, so the pages need no inline script.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

from jaeger_standin.otlp import Span
from jaeger_standin.waterfall import Row, Waterfall, format_duration

LOOKBACKS = [("5m", "Last 5 minutes"), ("15m", "Last 15 minutes"), ("1h", "Last hour"),
             ("6h", "Last 6 hours"), ("1d", "Last day"), ("2d", "Last 2 days")]
"""The lookback choices of the search form (value, label)."""

DEFAULT_LOOKBACK = "1h"
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class SearchForm:
    """What the search form shows selected; ``service`` empty means every service."""

    service: str = ""
    operation: str = ""
    lookback: str = DEFAULT_LOOKBACK
    limit: int = DEFAULT_LIMIT


def search_page(form: SearchForm, services: list[str], operations: list[str],
                traces: list[Waterfall]) -> bytes:
    """The search form and the traces found, newest first."""
    body = [_search_form(form, services, operations), f"<h2>{_found(len(traces))}</h2>"]
    if traces:
        body.append('<table class="traces"><thead><tr><th>Started</th><th>Trace</th>'
                    "<th>Services</th><th>Spans</th><th>Errors</th><th>Duration</th>"
                    "</tr></thead><tbody>")
        body += [_trace_line(t) for t in traces]
        body.append("</tbody></table>")
    elif not services:
        body.append("<p>No spans have arrived yet. Send a request through the stack, "
                    "then search again.</p>")
    return _page("Search", "".join(body))


def trace_page(view: Waterfall) -> bytes:
    """One trace as a waterfall; each span opens to show its attributes."""
    root = view.root
    header = (
        f'<h1><span class="svc" style="{_colour(root.process.service_name)}">'
        f"{escape(root.process.service_name)}</span> {escape(root.operation)}</h1>"
        f'<p class="summary">Trace <code>{escape(view.trace_id)}</code> · started '
        f"{_clock(view.start_us)} · duration {format_duration(view.duration_us)} · "
        f"{len(view.rows)} spans · services: {escape(', '.join(view.services))} · "
        f"{_errors(view.error_count)} · "
        f'<a href="/api/traces/{quote(view.trace_id)}">JSON</a></p>'
        '<p class="tools"><button type="button" id="expand">Expand all</button> '
        '<button type="button" id="collapse">Collapse all</button></p>'
    )
    ticks = "".join(f'<span style="left:{pct}%">{format_duration(view.duration_us * pct // 100)}'
                    "</span>" for pct in (0, 25, 50, 75))
    rows = "".join(_span_row(row) for row in view.rows)
    waterfall = (f'<div class="waterfall"><div class="ruler"><div class="name">Service · '
                 f'operation</div><div class="ticks">{ticks}</div></div>{rows}</div>')
    return _page(f"Trace {view.trace_id[:7]}", header + waterfall)


def not_found_page(trace_id: str, max_traces: int) -> bytes:
    """What ``/trace/{id}`` shows for a trace the store does not hold."""
    body = (f"<h1>Trace not found</h1><p>No spans of trace <code>{escape(trace_id)}</code> "
            f"have arrived. Spans are exported in batches (a few seconds); this stand-in "
            f"keeps only the newest {max_traces} traces, in memory.</p>"
            '<p><a href="/search">Search the traces</a></p>')
    return _page("Trace not found", body)


def _page(title: str, body: str) -> bytes:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · trace view</title>"
        '<link rel="stylesheet" href="/static/view.css">'
        '<script src="/static/view.js" defer></script></head><body>'
        '<header><a href="/search" class="home">kitcore traces</a>'
        '<span class="note">Jaeger stand-in: traces in memory, not Jaeger</span></header>'
        f"<main>{body}</main></body></html>"
    ).encode()


def _search_form(form: SearchForm, services: list[str], operations: list[str]) -> str:
    service_options = _options([("", "All services")] + [(s, s) for s in services],
                               form.service)
    operation_options = _options([("", "All operations")] + [(o, o) for o in operations],
                                 form.operation)
    lookback_options = _options(LOOKBACKS, form.lookback)
    return (
        '<form class="search" action="/search" method="get">'
        f'<label>Service <select name="service" id="service">{service_options}</select></label>'
        f'<label>Operation <select name="operation">{operation_options}</select></label>'
        f'<label>Lookback <select name="lookback">{lookback_options}</select></label>'
        f'<label>Limit <input type="number" name="limit" min="1" max="1000" '
        f'value="{form.limit}"></label>'
        '<button type="submit">Find traces</button></form>'
    )


def _options(choices: list[tuple[str, str]], selected: str) -> str:
    return "".join(
        f'<option value="{escape(value)}"{" selected" if value == selected else ""}>'
        f"{escape(label)}</option>" for value, label in choices)


def _trace_line(view: Waterfall) -> str:
    root = view.root
    href = f"/trace/{quote(view.trace_id)}"
    services = " ".join(
        f'<span class="svc" style="{_colour(s)}">{escape(s)}</span>' for s in view.services)
    error_class = ' class="error"' if view.error_count else ""
    return (
        f"<tr{error_class}><td>{_clock(view.start_us)}</td>"
        f'<td><a href="{href}">{escape(root.process.service_name)}: '
        f"{escape(root.operation)}</a><br><code>{escape(view.trace_id)}</code></td>"
        f"<td>{services}</td><td>{len(view.rows)}</td><td>{view.error_count}</td>"
        f"<td>{format_duration(view.duration_us)}</td></tr>"
    )


def _span_row(row: Row) -> str:
    span = row.span
    error = ' error' if row.error else ""
    mark = '<span class="mark" title="error">!</span>' if row.error else ""
    return (
        f'<details class="span{error}" id="{escape(span.span_id)}" '
        f'data-service="{escape(span.process.service_name)}" data-depth="{row.depth}">'
        f'<summary><span class="name" style="padding-left:{row.depth * 1.1:.1f}em">{mark}'
        f'<span class="svc" style="{_colour(span.process.service_name)}">'
        f"{escape(span.process.service_name)}</span> "
        f'<span class="op">{escape(span.operation)}</span></span>'
        f'<span class="lane"><span class="bar" style="left:{row.offset_pct}%;'
        f'width:{row.width_pct}%;{_colour(span.process.service_name, "background")}">'
        f"</span>{_took(row)}</span></summary>"
        f'<div class="detail">{_span_detail(span)}</div></details>'
    )


def _took(row: Row) -> str:
    """The duration beside its bar: after it, or where the lane ends, inside a
    wide bar's right end or before a narrow one."""
    end = row.offset_pct + row.width_pct
    if end <= 85:
        place, where = f"left:{end}%", ""
    elif row.width_pct >= 12:
        place, where = f"right:{100 - end:.3f}%", " inside"
    else:
        place, where = f"right:{100 - row.offset_pct:.3f}%", " before"
    return (f'<span class="took{where}" style="{place}">'
            f"{format_duration(row.span.duration_us)}</span>")


def _span_detail(span: Span) -> str:
    facts = [("span id", span.span_id), ("start", _clock(span.start_us, fraction=True)),
             ("duration", format_duration(span.duration_us))]
    parts = [_table("Span", [(k, "string", v) for k, v in facts]),
             _table("Attributes", [(t["key"], t["type"], t["value"]) for t in span.tags]),
             _table("Process", [("service.name", "string", span.process.service_name),
                                *span.process.tags])]
    for log in span.logs:
        fields = [(f["key"], f["type"], f["value"]) for f in log["fields"]]
        parts.append(_table(f"Event at {_clock(log['timestamp'], fraction=True)}", fields))
    return "".join(parts)


def _table(title: str, rows: list[tuple[str, str, Any]]) -> str:
    if not rows:
        return ""
    cells = "".join(f"<tr><th>{escape(str(key))}</th><td>{escape(_text(value))}</td></tr>"
                    for key, _, value in rows)
    return f'<table class="tags"><caption>{escape(title)}</caption>{cells}</table>'


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _colour(service: str, prop: str = "color") -> str:
    """A stable colour per service name, so a service looks the same on every page."""
    hue = sum(ord(c) * (i + 7) for i, c in enumerate(service)) * 47 % 360
    return f"{prop}:hsl({hue},60%,{38 if prop == 'color' else 55}%)"


def _clock(micros: int, *, fraction: bool = False) -> str:
    """A UTC wall-clock time from microseconds since the epoch."""
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(micros // 1_000_000))
    return text + (f".{micros % 1_000_000:06d}" if fraction else "") + " UTC"


def _found(count: int) -> str:
    return f"{count} trace{'s' if count != 1 else ''} found"


def _errors(count: int) -> str:
    if not count:
        return "no errors"
    return f'<span class="error-text">{count} error{"s" if count != 1 else ""}</span>'

