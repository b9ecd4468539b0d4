"""The trace view: the search page, one trace as a waterfall, its assets, and the
same pages in a real browser (headless Chromium)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from opentelemetry.trace import SpanKind, Status, StatusCode
from standin_server import StandIn, provider

from kitcore.testing import browser

EVIL = "<script>alert('x')</script>"


def _shelf_trace(url: str) -> tuple[str, dict[str, str]]:
    """A shelf read as the stack makes it: gateway -> user over HTTP, gateway -> book
    over gRPC (failing); returns the trace id and the span ids by name."""
    gateway, user, book = (provider(name, url).get_tracer("test")
                           for name in ("gateway", "user", "book"))
    ids = {}
    with gateway.start_as_current_span("GET /api/v1/users/<id>/shelf",
                                       kind=SpanKind.SERVER) as root:
        root.set_attribute("http.target", f"/api/v1/users/1/shelf?q={EVIL}")
        ids["root"] = root
        with gateway.start_as_current_span("GET", kind=SpanKind.CLIENT) as hop:
            ids["user hop"] = hop
            with user.start_as_current_span("GET /users/<id>/shelf",
                                            kind=SpanKind.SERVER) as span:
                ids["user"] = span
        with gateway.start_as_current_span("/book.v1.BookService/BatchGetBooks",
                                           kind=SpanKind.CLIENT) as hop:
            ids["book hop"] = hop
            with book.start_as_current_span("/book.v1.BookService/BatchGetBooks",
                                            kind=SpanKind.SERVER) as span:
                span.set_attribute("rpc.system", "grpc")
                span.set_status(Status(StatusCode.ERROR, "database down"))
                ids["book"] = span
    trace_id = format(root.get_span_context().trace_id, "032x")
    return trace_id, {k: format(s.get_span_context().span_id, "016x") for k, s in ids.items()}


class _Spans(HTMLParser):
    """The ``<details class="span">`` rows of a page, in order, with their attributes."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.rows: list[dict[str, str | None]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "details" and "span" in (found.get("class") or "").split():
            self.rows.append(found)


def test_trace_page_nests_spans_by_parent_and_marks_errors(standin: StandIn) -> None:
    trace_id, ids = _shelf_trace(standin.otlp_url)
    status, headers, page = standin.page(f"/trace/{trace_id}")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'self'
    rows = [(r["id"], r["data-service"], r["data-depth"], "error" in r["class"])
            for r in _Spans(page).rows]
    assert rows == [
        (ids["root"], "gateway", "0", False),
        (ids["user hop"], "gateway", "1", False),
        (ids["user"], "user", "2", False),
        (ids["book hop"], "gateway", "1", False),
        (ids["book"], "book", "2", True),
    ]
    assert "GET /api/v1/users/&lt;id&gt;/shelf" in page
    assert "1 error" in page and "database down" in page  # the status, among the attributes
    assert f'href="/api/traces/{trace_id}"' in page


def test_span_values_are_escaped(standin: StandIn) -> None:
    trace_id, _ = _shelf_trace(standin.otlp_url)
    _, _, page = standin.page(f"/trace/{trace_id}")
    assert EVIL not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_unknown_trace_is_a_404_page(standin: StandIn) -> None:
    status, headers, page = standin.page("/trace/" + "ab" * 16)
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert "Trace not found" in page and "ab" * 16 in page


def test_search_lists_traces_newest_first_and_filters(standin: StandIn) -> None:
    first, _ = _shelf_trace(standin.otlp_url)
    second, _ = _shelf_trace(standin.otlp_url)
    status, _, page = standin.page("/search?service=book&lookback=15m&limit=20")
    assert status == 200
    assert page.index(f'href="/trace/{second}"') < page.index(f'href="/trace/{first}"')
    assert "2 traces found" in page
    assert '<option value="book" selected>' in page
    assert '<option value="15m" selected>' in page
    assert '<option value="/book.v1.BookService/BatchGetBooks">' in page  # book's operations

    _, _, page = standin.page("/search?service=book&limit=1")
    assert "1 trace found" in page and first not in page
    _, _, page = standin.page("/search?service=user&operation=nothing")
    assert "0 traces found" in page
    _, _, front = standin.page("/")
    assert "2 traces found" in front and '<option value="" selected>All services' in front


def test_search_on_an_empty_store_says_so(standin: StandIn) -> None:
    status, _, page = standin.page("/")
    assert status == 200 and "No spans have arrived yet" in page


@pytest.mark.parametrize("query", ["limit=x", "lookback=forever", "limit=-1"])
def test_bad_search_is_400(standin: StandIn, query: str) -> None:
    status, _ = standin.get(f"/search?{query}")
    assert status == 400


@pytest.mark.parametrize(("path", "kind"), [("/static/view.css", "text/css"),
                                            ("/static/view.js", "text/javascript")])
def test_assets_are_served(standin: StandIn, path: str, kind: str) -> None:
    status, headers, text = standin.page(path)
    assert status == 200 and headers["Content-Type"].startswith(kind) and text


def test_unknown_asset_is_404(standin: StandIn) -> None:
    assert standin.get("/static/../server.py")[0] == 404
    assert standin.get("/static/other.js")[0] == 404


needs_chromium = pytest.mark.skipif(browser.find_chromium() is None,
                                    reason="no chromium (scripts/install-system-deps.sh)")


@needs_chromium
def test_a_browser_draws_every_span_and_opens_the_one_in_the_url(
        standin: StandIn, tmp_path: Path) -> None:
    trace_id, ids = _shelf_trace(standin.otlp_url)
    url = standin.url(f"/trace/{trace_id}#{ids['book']}")
    rows = _Spans(browser.dump_dom(url)).rows
    assert [r["data-service"] for r in rows] == ["gateway", "gateway", "user", "gateway", "book"]
    # The page's script ran: the span named in the fragment is open, the others are not.
    assert [r["id"] for r in rows if "open" in r] == [ids["book"]]

    shot = browser.screenshot(url, tmp_path / "trace.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
