"""Render the figures of docs/benchmarks.md from the committed report.

    python bench/docs_figures.py            # rewrite the figures in docs/benchmarks.md
    python bench/docs_figures.py --check    # exit 1 if the page differs from results.json

The page's figures (machine, transport table, stack table, targets) sit
between two markers and are never typed by hand: ``make bench`` rewrites them
after it writes ``bench/report/``, and ``tests/docs`` checks that the
committed page is what this renders from ``bench/report/results.json``.
Formatting helpers and the targets come from ``report.py``, so the page and
REPORT.md cannot disagree.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import report

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "report" / "results.json"
PAGE = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- figures:begin (rendered by bench/docs_figures.py from bench/report/results.json) -->"
END = "<!-- figures:end -->"

TRANSPORT_ROWS = (
    ("flask", "bare Flask on waitress", None),
    ("kitcore-http", "kitcore HTTP endpoint (metrics, log, faults, deadline)", "flask"),
    ("flask-granian", "bare Flask on granian", "flask"),
    ("kitcore-http-granian", "kitcore HTTP endpoint on granian", "flask-granian"),
    ("kitcore-http-shipped", "kitcore HTTP on granian, tracing as shipped (10 new traces/s)",
     "kitcore-http-granian"),
    ("kitcore-http-traced", "kitcore HTTP on granian, tracing on, every request sampled",
     "kitcore-http-granian"),
    ("flask-granian-process", "bare Flask on granian's own process worker", "flask-granian"),
    ("flask-gunicorn", "bare Flask on gunicorn", "flask"),
    ("kitcore-http-gunicorn", "kitcore HTTP endpoint on gunicorn", "flask-gunicorn"),
    ("grpc-bare", "bare grpcio", None),
    ("grpc-aio", "bare grpc.aio", "grpc-bare"),
    ("kitcore-grpc", "kitcore gRPC endpoint (same chain)", "grpc-bare"),
    ("kitcore-grpc-shipped", "kitcore gRPC, tracing as shipped", "kitcore-grpc"),
    ("kitcore-grpc-traced", "kitcore gRPC, tracing on, every request sampled", "kitcore-grpc"),
    ("net/http", "bare net/http (Go)", None),
    ("gokit", "Go kit 0.10 (Prometheus, JSON log, deadline)", "net/http"),
)
CHAIN_MIDDLEWARES = ("log, success, unsampled", "metrics middleware", "deadline_middleware",
                     "faults")


def load(path: Path = RESULTS) -> dict[str, Any]:
    """The committed run's results."""
    return json.loads(path.read_text(encoding="utf-8"))


def render(results: dict[str, Any]) -> str:
    """The block between the markers, markers included."""
    parts = [BEGIN, "", *_machine(results), *_transport(results), *_stack(results),
             *_targets(results), "![Latency against offered rate, and transport throughput]"
             "(../bench/report/latency.png)", "", END]
    return "\n".join(parts)


def update(page: str, results: dict[str, Any]) -> str:
    """``page`` with its figures block replaced by :func:`render`."""
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no {BEGIN!r} ... {END!r} block")
    return page[:start] + render(results) + page[end + len(END):]


def _machine(results: dict[str, Any]) -> list[str]:
    t = results.get("transport", {})
    m = t.get("machine_before") or results.get("stack", {}).get("machine_before")
    if not m:
        return []
    return [f"The committed run: {m['cpus']} vCPUs ({m['cpu_model']}), {m['memory_gib']} GiB, "
            f"Linux {m['kernel'].split('-')[0]}, Python {m['python']}, "
            f"{m['go'].replace('go version ', '').split(' ')[0]}, {m['wrk']}; the load "
            f"generator on the same machine; load average {m['loadavg'][0]} at the start "
            f"({m['time']}).", ""]


def _transport(results: dict[str, Any]) -> list[str]:
    t = results.get("transport")
    if not t:
        return []
    summary = t["summary"]
    comparisons = {(c["subject"], c["baseline"]): c for c in t["comparisons"]}
    in_flight = t["settings"]["connections_or_in_flight"]
    rows = []
    for name, label, base in TRANSPORT_ROWS:
        if name not in summary:
            continue
        v = summary[name]
        rows.append([label, f"{v['throughput_rps']:,.0f}",
                     f"{v['p50_ms']:.1f} / {v['p99_ms']:.1f}",
                     f"{v['cpu_us_per_request']:.0f}", _against(comparisons, name, base)])
    header = [f"transport (closed loop, {in_flight} in flight)", "req/s", "p50 / p99 ms",
              "CPU us/req", "throughput against its baseline"]
    lines = [report._table(header, rows), ""]
    added = report._added_cpu(summary)
    if added:
        lines += [f"CPU each chain adds per request over its bare baseline: {added}.", ""]
    chain = _chain_middlewares(results)
    if chain:
        lines += [f"Of that, the middlewares of the book chain cost, each alone in a loop "
                  f"(bench/bench_middleware.py): {chain}; the rest is the transport adapter "
                  "and the framework work it causes, which the profiles in the report break "
                  "down.", ""]
    return lines


def _against(comparisons: dict[str, Any], name: str, base: str | None) -> str:
    c = comparisons.get((name, base))
    if base is None or c is None:
        return ""
    of = f" of {base}" if base.startswith("kitcore") else ""
    return f"{c['throughput_ratio']:.2f}{of} ({-c['throughput_cost']:+.0%})"  # -24%, or +85%


def _chain_middlewares(results: dict[str, Any]) -> str:
    rows = results.get("middleware", {}).get("rows", [])
    picked = [r for r in rows if r["label"].startswith(CHAIN_MIDDLEWARES)]
    return ", ".join(f"{r['label']} {r['added_us']:.1f} us" for r in picked)


def _stack(results: dict[str, Any]) -> list[str]:
    st = results.get("stack")
    if not st or "skipped" in st:
        return []
    closed, s = st["closed_loop"], st["summary"]
    gw_steps = {x["rate"]: x for x in st["gateway_open_loop"]}
    direct_steps = {x["rate"]: x for x in st["direct_open_loop"]}
    rate = s["common_rate"]
    rows = [["closed loop, 32 in flight", _closed(closed["gateway"]), _closed(closed["direct"])],
            [f"open loop {rate}/s: p50 / p99 / p99.9 ms", _open(gw_steps.get(rate)),
             _open(direct_steps.get(rate))],
            ["best rate with p99 < 50 ms", s["gateway_best_rate_meeting_p99"] or "none",
             s["direct_best_rate_meeting_p99"] or "none"],
            ["open loop 1,000/s", _overload(gw_steps.get(1000)), _overload(direct_steps.get(1000))],
            ["CPU across the stack per request",
             f"{closed['gateway']['stack_cpu_ms_per_request']['total']} ms",
             f"{closed['direct']['stack_cpu_ms_per_request']['total']} ms"]]
    lines = [f"Through the stack (`GET /api/v1/users/{{id}}/shelf`: gateway -> user over HTTP "
             f"+ book over gRPC, against `GET /books/{{id}}` on book-1 directly; "
             f"{st['settings']['users']} users):", "",
             report._table(["", "gateway shelf route", "book-1 direct"], rows), ""]
    ratios = s.get("gateway_over_direct_latency_at_common_rate") or {}
    lines += [f"Gateway over direct: {s['closed_loop_gateway_over_direct_throughput']}x the "
              f"throughput, {ratios.get('p50')}x the p50 and {ratios.get('p99')}x the p99 at "
              f"{rate}/s."]
    off = st.get("tracing_off", {}).get("closed_loop")
    if off:
        lines[-1] += (f" Tracing on / off: {closed['gateway']['throughput_rps']:.0f} / "
                      f"{off['throughput_rps']:.0f} req/s ({s['tracing_cost']:.0%} lost), "
                      f"{off['stack_cpu_ms_per_request']['total']} ms of stack CPU per request "
                      "off.")
    lines[-1] += (f" Memory (`docker stats`, every container): {s['memory_idle_mib']:.0f} MiB "
                  f"idle, {s.get('memory_under_load_mib', 0):.0f} MiB under the 1,000/s run.")
    return [*lines, ""]


def _closed(step: dict[str, Any]) -> str:
    return f"{step['throughput_rps']:.0f} req/s (p99 {step['latency_ms']['p99']:.0f} ms)"


def _open(step: dict[str, Any] | None) -> str:
    if not step:
        return "(not run)"
    lat = step["latency_ms"]
    return f"{lat['p50']} / {lat['p99']} / {lat['p99.9']}"


def _overload(step: dict[str, Any] | None) -> str:
    if not step:
        return "(not run)"
    failed = f", {step['failed_fraction']:.0%} failed" if step["failed_fraction"] else ""
    return (f"{step['throughput_rps']:.0f}/s answered{failed}, "
            f"p99 {step['latency_ms']['p99'] / 1000:.1f} s")


def _targets(results: dict[str, Any]) -> list[str]:
    rows = [[t["target"], t["figure"], report._yes(t["met"])] for t in results["targets"]]
    return ["Targets (not loosened):", "",
            report._table(["target", "measured", "verdict"], rows), ""]


def main() -> None:
    """Rewrite the page's figures, or with ``--check`` only compare them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    page = PAGE.read_text(encoding="utf-8")
    fresh = update(page, load())
    if args.check:
        sys.exit(0 if fresh == page else f"{PAGE} differs from {RESULTS}: run {__file__}")
    PAGE.write_text(fresh, encoding="utf-8")
    print(f"wrote the figures of {PAGE}")


if __name__ == "__main__":
    main()
