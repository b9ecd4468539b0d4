"""Write the benchmark report from one run's results.

    python bench/report.py [--results build/bench/results] [--out bench/report]

Reads what the benchmarks of the run wrote (``transport.json``,
``middleware.txt``, ``stack.json``, ``profile.json``; any may be missing) and
writes ``results.json`` (all figures), ``REPORT.md`` (tables, targets met or
not) and ``latency.png`` (the latency plot).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import harness
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

_ROW = re.compile(r"^(?P<label>\S.*?)\s+(?P<us>[\d.]+)\s+(?P<added>-?[\d.]+)\s+(?P<x>[\d.]+)$")
PYTHON_CONTAINERS = ("book-1", "book-2", "user", "gateway", "gateway-2")
HTTP_ORDER = ["flask-granian", "kitcore-http-granian", "flask", "kitcore-http",
              "kitcore-http-shipped", "kitcore-http-traced", "flask-granian-process",
              "flask-gunicorn", "kitcore-http-gunicorn", "net/http", "gokit"]
GRPC_ORDER = ["grpc-bare", "grpc-aio", "kitcore-grpc", "kitcore-grpc-shipped",
              "kitcore-grpc-traced"]


def load_results(folder: Path) -> dict[str, Any]:
    """Every result the run left in ``folder``."""
    results: dict[str, Any] = {}
    for name in ("transport", "stack", "profile"):
        path = folder / f"{name}.json"
        if path.exists():
            results[name] = json.loads(path.read_text())
    text = folder / "middleware.txt"
    if text.exists():
        results["middleware"] = parse_middleware(text.read_text())
    clients = folder / "clients.txt"
    if clients.exists():
        results["clients"] = clients.read_text()
    return results


def parse_middleware(text: str) -> dict[str, Any]:
    """bench_middleware.py's table as rows of label, us/call, added us, x bare."""
    lines = text.splitlines()
    rows = []
    for line in lines:
        match = _ROW.match(line.strip())
        if match:
            rows.append({"label": match["label"], "us_per_call": float(match["us"]),
                         "added_us": float(match["added"]), "x_bare": float(match["x"])})
    return {"title": lines[0] if lines else "", "rows": rows}


# --- targets ------------------------------------------------------------------------


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target the project sets, the figure measured, and whether it is met."""
    rows = []
    for c in results.get("transport", {}).get("comparisons", []):
        if c["target_max_cost"] is not None:
            rows.append({"target": f"{c['label']}: at most {c['target_max_cost']:.0%} of "
                                   "throughput",
                         "figure": f"{c['throughput_cost']:.0%} of throughput lost "
                                   f"(ratio {c['throughput_ratio']:.2f}; CPU per request "
                                   f"x{c['cpu_per_request_ratio']:.2f})",
                         "met": c["target_met"]})
    summary = results.get("stack", {}).get("summary")
    if summary:
        if "tracing_cost" in summary:
            rows.append({"target": "tracing on as the stack ships it (through the stack): "
                                   "at most 10 %",
                         "figure": f"{summary['tracing_cost']:.0%} of the gateway's "
                                   f"closed-loop throughput",
                         "met": summary["tracing_target_met"]})
        at = summary.get("gateway_at_target_rate")
        if at:
            rows.append({"target": "gateway shelf route: 1,000 req/s at p99 < 50 ms, open loop",
                         "figure": f"at 1,000/s offered: p99 {at['latency_ms'].get('p99')} ms, "
                                   f"{at['failed_fraction']:.1%} failed, "
                                   f"{at['throughput_rps']:.0f}/s answered; best rate meeting "
                                   f"it: {summary['gateway_best_rate_meeting_p99'] or 'none'}",
                         "met": summary["target_rate_met"]})
        rows.append({"target": "whole stack idle under 1 GiB",
                     "figure": f"{summary['memory_idle_mib']:.0f} MiB",
                     "met": summary["memory_target_met_idle"]})
        if "memory_under_load_mib" in summary:
            rows.append({"target": "whole stack under that load under 1 GiB",
                         "figure": f"{summary['memory_under_load_mib']:.0f} MiB",
                         "met": summary["memory_target_met_under_load"]})
    return rows


# --- markdown -----------------------------------------------------------------------


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _yes(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**missed**")


def markdown(results: dict[str, Any]) -> str:
    """REPORT.md."""
    parts = ["# Benchmark report", "",
             "Written by `make bench` (scripts/bench.sh) from one run; every ratio compares "
             "figures measured in that same run. Raw figures: `results.json`; plot: "
             "`latency.png`.", ""]
    parts += _machine_md(results)
    parts += ["## Targets", "",
              _table(["target", "measured", "verdict"],
                     [[t["target"], t["figure"], _yes(t["met"])] for t in results["targets"]]),
              ""]
    parts += _explain_md(results)
    if "transport" in results:
        parts += _transport_md(results["transport"])
    if "middleware" in results:
        parts += _middleware_md(results["middleware"])
    if "clients" in results:
        parts += ["## Client cost per call (bench/bench_clients.py)", "",
                  results["clients"].strip(), ""]
    stack = results.get("stack")
    if stack and "skipped" not in stack:
        parts += _stack_md(stack)
        if "overload" in stack:
            parts += _overload_md(stack["overload"])
    elif stack:
        parts += ["## Through the stack", "", f"Skipped: {stack['skipped']}.", ""]
    if "profile" in results:
        summary = results.get("transport", {}).get("summary", {})
        parts += _profile_md(results["profile"],
                             {n: v["cpu_us_per_request"] for n, v in summary.items()})
    return "\n".join(parts) + "\n"


def _share(results: dict[str, Any], server: str, *packages: str) -> float:
    """Own-time % of ``packages`` in ``server``'s profile (0 when not profiled)."""
    shares = results.get("profile", {}).get("profiles", {}).get(server, {}).get(
        "own_pct_by_package", {})
    return round(sum(shares.get(p, 0.0) for p in packages), 1)


def _total(results: dict[str, Any], server: str, function: str) -> float:
    """Total-time % (with callees) of the kitcore function named ``function`` in a profile."""
    top = results.get("profile", {}).get("profiles", {}).get(server, {}).get(
        "top_kitcore_total", [])
    return next((r["total_pct"] for r in top if r["function"].startswith(function)), 0.0)


def _where_added(results: dict[str, Any]) -> list[str]:
    """How much of kitcore's added CPU per request the middlewares explain, and the rest."""
    summary = results.get("transport", {}).get("summary", {})
    rows = {r["label"]: r["added_us"] for r in results.get("middleware", {}).get("rows", [])}
    chain = [v for k, v in rows.items()
             if k.startswith(("deadline_middleware", "faults", "log, success, unsampled",
                              "metrics middleware"))]
    whole = rows.get("request through Flask, kitcore app")
    lead = []
    if whole is not None:
        lead = [f"Without a server (a whole request through the Flask app called as WSGI, "
                f"bench_middleware.py's second table), kitcore's app adds {whole:.0f} us of "
                "CPU per request to bare Flask's; that is the figure kitcore controls, free "
                "of the server's share and of the machine's load.", ""]
    if "kitcore-http" not in summary or "flask" not in summary or len(chain) != 4:
        return lead
    added = summary["kitcore-http"]["cpu_us_per_request"] - summary["flask"]["cpu_us_per_request"]
    shares = results.get("profile", {}).get("profiles", {})
    web = ("waitress", "werkzeug", "flask")

    def web_us(server: str) -> float:
        pct = sum(shares.get(server, {}).get("own_pct_by_package", {}).get(k, 0.0) for k in web)
        return pct * summary[server]["cpu_us_per_request"] / 100

    text = (f"Of the {added:.0f} us of CPU kitcore HTTP adds per request, the four middlewares "
            f"of the chain account for about {sum(chain):.0f} us (bench_middleware.py: log, "
            "metrics, faults, deadline, each alone in a loop). The rest is the transport "
            "adapter and the extra web-framework work it causes")
    if "kitcore-http" in shares and "flask" in shares:
        text += (f": waitress + werkzeug + flask take about {web_us('kitcore-http'):.0f} us per "
                 f"request under kitcore against {web_us('flask'):.0f} us bare (the routes "
                 "kitcore.app adds to the URL map, the X-Served-By header), plus GIL hand-offs "
                 "between waitress's 8 threads")
    return [text + ".", ""]


def _explain_md(results: dict[str, Any]) -> list[str]:
    """Where the remaining tax goes (from this run's profiles), and what would close
    the targets that are missed."""
    missed = [t for t in results["targets"] if t["met"] is False]
    lines = ["## Where kitcore's remaining cost goes", ""]
    if "profile" in results:
        cpu = results.get("transport", {}).get("summary", {})

        def us(server: str, *packages: str) -> str:
            pct = _share(results, server, *packages)
            per_request = cpu.get(server, {}).get("cpu_us_per_request", 0)
            return f"{pct} % (~{pct * per_request / 100:.0f} us)"

        web = ("waitress", "werkzeug", "flask")
        lines += [
            "From the py-spy profiles below (own time, share of the samples of a server under "
            "load, and that share of its CPU per request):", "",
            f"- kitcore HTTP: kitcore's own code {us('kitcore-http', 'kitcore')}, "
            f"prometheus_client {us('kitcore-http', 'prometheus_client')}, opentelemetry "
            f"{us('kitcore-http', 'opentelemetry')}, logging "
            f"{us('kitcore-http', 'stdlib: logging')}, json {us('kitcore-http', 'stdlib: json')};"
            f" waitress + werkzeug + flask {us('kitcore-http', *web)} against "
            f"{us('flask', *web)} in bare Flask.",
            f"- kitcore gRPC: kitcore {us('kitcore-grpc', 'kitcore')}, prometheus_client "
            f"{us('kitcore-grpc', 'prometheus_client')}, opentelemetry "
            f"{us('kitcore-grpc', 'opentelemetry')}; grpc {us('kitcore-grpc', 'grpc')} against "
            f"{us('grpc-bare', 'grpc')} bare.",
            "- tracing as shipped (HTTP): opentelemetry "
            f"{us('kitcore-http-shipped', 'opentelemetry')}; all sampled: "
            f"{us('kitcore-http-traced', 'opentelemetry')} (span objects, "
            "attributes, and the batch exporter encoding spans to protobuf in the same process, "
            "under the same GIL).", ""]
    lines += _where_added(results)
    if missed:
        lines += [
            "What would close the missed targets:", "",
            "- The server chain: one waitress or grpcio process has about 150-300 us of CPU per "
            "request on this machine, so 10 % is 15-30 us for everything kitcore adds. Left: "
            "the metrics (three prometheus_client locks per call: in-flight gauge, counter, "
            "histogram), the Flask response object, the extra WSGI wrapper, the chain's own "
            "frames. A faster server (granian) lowers the bare cost too, so the ratio does not "
            "improve by itself; only less Python per request does.",
            "- Tracing at 100 %: the SDK's span (ids, attributes, lock, processor queue) and "
            "the exporter's protobuf encoding in the same process; sample at the edge (the "
            "default) or export from a collector sidecar.",
            "- The gateway's 1,000 req/s: one request is three Python hops plus PostgreSQL and "
            "Redis on 2 shared cores, so the route's CPU per request bounds it." +
            _stack_bound(results), ""]
    return lines


def _stack_bound(results: dict[str, Any]) -> str:
    """The measured CPU bound of the gateway route, in a sentence (or "")."""
    stack = results.get("stack") or {}
    closed = stack.get("closed_loop", {})
    gw = closed.get("gateway", {}).get("stack_cpu_ms_per_request", {}).get("total")
    direct = closed.get("direct", {}).get("stack_cpu_ms_per_request", {}).get("total")
    idle = stack.get("cpu_idle_cores", {}).get("total")
    if not gw or idle is None:
        return ""
    bound = (2 - idle) * 1000 / gw
    probe = stack.get("healthcheck_probe", {})
    text = (f" Measured: the shelf route costs {gw} ms of CPU across the stack per request "
            f"(a book replica's own GET: {direct} ms), and the idle stack already keeps "
            f"{idle:.2f} cores busy, so 2 cores bound the route near {bound:.0f} req/s before "
            "any queueing.")
    if probe and probe.get("interval_s"):
        cores = len(PYTHON_CONTAINERS) * probe["cpu_s_per_probe"] / probe["interval_s"]
        text += (f" Of the idle load, the healthchecks take about {cores:.2f} cores: "
                 f"`{probe['command']}` costs {probe['cpu_s_per_probe']} s of CPU, every "
                 f"{probe['interval_s']:g} s, in each of the {len(PYTHON_CONTAINERS)} kitcore "
                 "containers.")
    return text


def _machine_md(results: dict[str, Any]) -> list[str]:
    transport = results.get("transport", {})
    m = transport.get("machine_before") or results.get("stack", {}).get("machine_before")
    if not m:
        return []
    lines = ["## Machine", "",
             f"{m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Linux "
             f"{m['kernel']}, Python {m['python']}, {m['go']}, {m['wrk']}. The load "
             "generator runs on the same machine. Load average at the start: "
             f"{', '.join(str(v) for v in m['loadavg'])}; busiest processes then: "
             f"{'; '.join(m['top_processes'][:4])}.", ""]
    if transport:
        busy = transport.get("cpu_busy_during_run", [])
        s = transport["settings"]
        lines += [f"Transport runs: every server pinned to CPU {s['server_cpu']}, the load "
                  f"generator (and the trace sink) to CPU {s['load_cpu']}; {s['rounds']} rounds"
                  f" of {s['seconds_per_measurement']} s per server, order rotating each round; "
                  f"CPU busy during the run: {', '.join(f'{b:.0%}' for b in busy)} "
                  "(this benchmark's own processes included).", ""]
    return lines


def _transport_md(t: dict[str, Any]) -> list[str]:
    s = t["settings"]
    rows = []
    for name in HTTP_ORDER + GRPC_ORDER:
        if name in t["summary"]:
            v = t["summary"][name]
            rows.append([name, "HTTP" if name in HTTP_ORDER else "gRPC",
                         f"{v['throughput_rps']:,.0f}", f"{v['p50_ms']:.2f}",
                         f"{v['p99_ms']:.2f}", f"{v['cpu_us_per_request']:.0f}", v["errors"]])
    comps = [[c["label"], f"{c['throughput_ratio']:.2f}", f"{c['throughput_cost']:.0%}",
              ", ".join(f"{r:.2f}" for r in c["throughput_ratios_by_round"]),
              f"{c['cpu_per_request_ratio']:.2f}",
              "-" if c["target_max_cost"] is None else f"<= {c['target_max_cost']:.0%}",
              _yes(c["target_met"])] for c in t["comparisons"]]
    added = _added_cpu(t["summary"])
    return [
        "## Transport cost (closed loop, one CPU per server)", "",
        f"HTTP: {s['http_load']}, `GET /books/book-042`. gRPC: {s['grpc_load']}, "
        "`BookService.GetBook`. Python servers on granian (kitcore.app's default: its WSGI "
        "worker in a thread of the service, 8 blocking threads; flask-granian-process: its "
        "own process worker), waitress (8 threads), gunicorn (gthread, 1 worker, 8 threads) "
        "or grpcio (16 threads; grpc.aio for comparison); kitcore's endpoint has the book "
        "service's chain (metrics, log, faults off, deadline) and runs under kitcore.app on "
        "granian or waitress (on gunicorn, with the routes kitcore.app adds). "
        "Successful calls outside a sampled trace write no log line (DEBUG). "
        "\"shipped\": tracing with the default sampler (parent-based, 10 new traces/s); "
        "\"traced\": every request sampled, spans exported over OTLP to a sink. Go kit's "
        "endpoint has the same chain (Prometheus, JSON log line, deadline). Medians over the "
        "rounds.", "",
        _table(["server", "transport", "req/s", "p50 ms", "p99 ms", "CPU us/req", "errors"],
               rows), "",
        _table(["comparison", "throughput ratio", "cost", "by round", "CPU/req ratio",
                "target", "verdict"], comps), "",
        "The CPU-per-request ratio is the server's own CPU time per answered request; it "
        "moves far less than throughput when other work shares the machine.", "",
        f"CPU each framework adds per request over its bare baseline: {added}.", ""]


def _added_cpu(summary: dict[str, Any]) -> str:
    """"kitcore HTTP +N us (x.xx)", ... for each subject over its baseline."""
    parts = []
    for label, subject, base in (("kitcore HTTP over Flask, granian", "kitcore-http-granian",
                                  "flask-granian"),
                                 ("kitcore HTTP over Flask, waitress", "kitcore-http", "flask"),
                                 ("kitcore gRPC over grpcio", "kitcore-grpc", "grpc-bare"),
                                 ("Go kit over net/http", "gokit", "net/http"),
                                 ("tracing as shipped, HTTP", "kitcore-http-shipped",
                                  "kitcore-http-granian"),
                                 ("tracing as shipped, gRPC", "kitcore-grpc-shipped",
                                  "kitcore-grpc"),
                                 ("tracing all sampled, HTTP", "kitcore-http-traced",
                                  "kitcore-http-granian"),
                                 ("tracing all sampled, gRPC", "kitcore-grpc-traced",
                                  "kitcore-grpc")):
        if subject in summary and base in summary:
            a, b = summary[subject]["cpu_us_per_request"], summary[base]["cpu_us_per_request"]
            parts.append(f"{label} +{a - b:.0f} us ({b:.0f} -> {a:.0f} us)")
    return "; ".join(parts)


def _middleware_md(m: dict[str, Any]) -> list[str]:
    rows = [[r["label"], f"{r['us_per_call']:.2f}", f"{r['added_us']:.2f}",
             f"{r['x_bare']:.2f}" if r["x_bare"] < 10 else f"{r['x_bare']:.0f}"]
            for r in m["rows"]]
    return ["## Middleware cost per call (bench/bench_middleware.py)", "", m["title"], "",
            _table(["middleware", "us/call", "added us", "x bare"], rows), ""]


def _step_row(label: str, s: dict[str, Any]) -> list[Any]:
    lat = s["latency_ms"]
    return [label, s["rate"], f"{s['throughput_rps']:.0f}", lat.get("p50"), lat.get("p99"),
            lat.get("p99.9"), f"{s['failed_fraction']:.1%}",
            "yes" if s["meets_p99_target"] else "no"]


def _overload_md(over: dict[str, Any]) -> list[str]:
    """The overload step: what was admitted, how fast the rest was refused, the step after."""
    v, during, after = over["verdict"], over["during"], over["after"]
    outcomes = [[name, during["errors"].get(name, during["ok"] if name == "ok" else ""),
                 *(round(q[k], 1) for k in ("p50", "p99", "max"))]
                for name, q in sorted(during.get("latency_by_outcome_ms", {}).items())]
    return [
        "## Overload", "",
        f"Offered {over['offered_rate']}/s (twice the best rate) for 30 s, open loop, then "
        f"half that again at once. Admitted {v['admitted_rps']}/s at p99 "
        f"{_ms(v['admitted_p99_ms'])} ms (target < 100 ms); refused {v['refused']} at p99 "
        f"{_ms(v['refusal_p99_ms'])} ms (target < 5 ms, 503/429 with Retry-After); other "
        f"failures {v['other_failures'] or 'none'}; the step after: p99 "
        f"{after['latency_ms'].get('p99')} ms, {after['failed_fraction']:.1%} failed "
        f"(recovered: {_yes(v['recovered'])}). Verdict: {_yes(v['met'])}.", "",
        _table(["outcome", "count", "p50 ms", "p99 ms", "max ms"], outcomes), ""]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _stack_md(st: dict[str, Any]) -> list[str]:
    s, summary = st["summary"], st["summary"]
    closed = st["closed_loop"]
    header = ["path", "offered/s", "answered/s", "p50 ms", "p99 ms", "p99.9 ms", "failed",
              "p99 < 50 ms"]
    rows = [_step_row("gateway shelf", x) for x in st["gateway_open_loop"]]
    rows += [_step_row("book-1 direct", x) for x in st["direct_open_loop"]]
    if "closed_loop" in st.get("tracing_off", {}):
        rows.append(_step_row("gateway shelf, tracing off", st["tracing_off"]["open_loop"]))
    mem_rows = [[name, st["memory_idle"]["by_container_mib"][name],
                 st.get("memory_under_target_load", {}).get("by_container_mib", {}).get(name, "")]
                for name in st["memory_idle"]["by_container_mib"]]
    mem_rows.append(["**total**", st["memory_idle"]["total_mib"],
                     st.get("memory_under_target_load", {}).get("total_mib", "")])
    lines = [
        "## Through the stack", "",
        f"Load generator: bench/loadgen {st['load_generator']}; {st['settings']['users']} "
        f"users, {st['settings']['books_per_shelf']} books on each shelf; "
        f"{st['settings']['seconds_per_step']} s per step. Open loop: arrivals at a fixed rate, "
        "latency from the intended send time (no coordinated omission); a step fails the "
        "target with p99 >= 50 ms or >= 1 % failed (errors, timeouts, degraded shelves). After "
        "the first miss only the 1,000/s step runs, plus one gateway step halfway between its "
        "best rate and that miss, and the book replica at the rate the two are compared at.",
        "",
        _table(["closed loop (32 in flight)", "req/s", "p50 ms", "p99 ms", "failed"],
               [[k, f"{v['throughput_rps']:.0f}", v["latency_ms"].get("p50"),
                 v["latency_ms"].get("p99"), f"{v['failed_fraction']:.1%}"]
                for k, v in closed.items()]
               + ([["gateway, tracing off",
                    f"{st['tracing_off']['closed_loop']['throughput_rps']:.0f}",
                    st["tracing_off"]["closed_loop"]["latency_ms"].get("p50"),
                    st["tracing_off"]["closed_loop"]["latency_ms"].get("p99"),
                    f"{st['tracing_off']['closed_loop']['failed_fraction']:.1%}"]]
                  if "closed_loop" in st.get("tracing_off", {}) else [])), "",
        _table(header, rows), "",
        f"Gateway over direct: closed-loop throughput ratio "
        f"{s['closed_loop_gateway_over_direct_throughput']}; latency ratio at "
        f"{s['common_rate']}/s: {_ratios(s.get('gateway_over_direct_latency_at_common_rate'))}. "
        f"Best rate meeting p99 < 50 ms: gateway {s['gateway_best_rate_meeting_p99'] or 'none'}"
        f", direct {s['direct_best_rate_meeting_p99'] or 'none'}.", ""]
    if "error" in st.get("tracing_off", {}):
        lines += [f"The tracing-off run failed: {st['tracing_off']['error']}", ""]
    if "tracing_on_over_off_throughput" in summary:
        lines += [f"Tracing on / off (closed-loop gateway throughput): "
                  f"{summary['tracing_on_over_off_throughput']} (cost "
                  f"{summary['tracing_cost']:.0%}).", ""]
    idle = st.get("cpu_idle_cores")
    if idle:
        busiest = sorted(((v, k) for k, v in idle.items() if k != "total"), reverse=True)[:3]
        lines += [f"Idle, the stack keeps {idle['total']:.2f} of the 2 cores busy (cgroup CPU "
                  "over 6 s: healthcheck probes, Prometheus scrapes, lease keep-alives); "
                  f"busiest: {', '.join(f'{k} {v:.2f}' for v, k in busiest)}.", ""]
    runs = {k: v.get("stack_cpu_ms_per_request", {}) for k, v in closed.items()}
    if "closed_loop" in st.get("tracing_off", {}):
        runs["gateway, tracing off"] = st["tracing_off"]["closed_loop"].get(
            "stack_cpu_ms_per_request", {})
    names = sorted({n for per in runs.values() for n in per if n != "total"})
    if names:
        rows = [[n, *[per.get(n, "") for per in runs.values()]] for n in [*names, "total"]]
        lines += ["CPU the stack spends per answered request in the closed-loop runs, ms "
                  "(each container's cgroup CPU over the run, less what it burns idle, / "
                  "answered requests). With 2 cores there are 2,000 ms of CPU per second, "
                  "less the idle load above, so that over the total bounds the rate before "
                  "any queueing:", "",
                  _table(["container", *runs], rows), ""]
    lines += ["Memory (`docker stats`, MiB):", "",
              _table(["container", "idle", "under the 1,000/s run"], mem_rows), ""]
    return lines


def _ratios(ratios: dict[str, float] | None) -> str:
    return ", ".join(f"{q} x{r}" for q, r in (ratios or {}).items()) or "n/a"


def _pct_us(pct: float, cpu_us: float | None) -> str:
    return f"{pct}" if cpu_us is None else f"{pct} ({pct * cpu_us / 100:.0f})"


def _profile_md(p: dict[str, Any], cpu_us: dict[str, float]) -> list[str]:
    profiles = p.get("profiles", {})
    names = list(profiles)
    packages: list[str] = []
    for prof in profiles.values():
        packages += [k for k, v in prof["own_pct_by_package"].items()
                     if v >= 2.0 and k not in packages]
    cpu = {n: cpu_us.get(n) for n in names}
    rows = [[k, *[_pct_us(profiles[n]["own_pct_by_package"].get(k, 0.0), cpu[n])
                  for n in names]] for k in packages]
    lines = ["## Profiles", "", p.get("note", ""), "",
             "Own time by package, % of samples (and, in brackets, that share of the "
             "server's CPU time per request in the transport run, in us: an estimate, as the "
             "samples count only Python work holding the GIL):", "",
             _table(["package", *names], rows), ""]
    for name in names:
        top = profiles[name].get("top_kitcore_total") or []
        if top:
            lines += [f"{name}: kitcore functions by total time (with what they call), % of "
                      "samples:", "",
                      _table(["function", "own %", "total %"],
                             [[f"`{r['function']}`", r["own_pct"], r["total_pct"]]
                              for r in top[:8]]), ""]
    seconds = re.search(r"(\d+) s", next(iter(profiles.values()))["how"]) if profiles else None
    lines += [f"How: `py-spy record --gil` at 500 Hz for {seconds[1] if seconds else '?'} s "
              "per server, under the transport runs' load (wrk -c32, or loadgen 32 in flight); "
              "only the thread holding the GIL is sampled, i.e. the Python work that limits a "
              "GIL-bound server.", ""]
    return lines


# --- plot ---------------------------------------------------------------------------


def plot(results: dict[str, Any], path: Path) -> None:
    """latency.png: transport p50/p99 per server, and stack latency against offered rate."""
    transport = results.get("transport")
    stack = results.get("stack")
    has_stack = bool(stack and "skipped" not in stack)
    panels = (1 if transport else 0) + (1 if has_stack else 0)
    if panels == 0:
        return
    fig, axes = plt.subplots(1, panels, figsize=(7 * panels, 4.8), squeeze=False)
    ax_iter = iter(axes[0])
    if transport:
        _plot_transport(next(ax_iter), transport)
    if has_stack:
        _plot_stack(next(ax_iter), stack)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_transport(ax: Any, t: dict[str, Any]) -> None:
    names = [n for n in HTTP_ORDER + GRPC_ORDER if n in t["summary"]]
    p50 = [t["summary"][n]["p50_ms"] for n in names]
    p99 = [t["summary"][n]["p99_ms"] for n in names]
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], p50, width=0.4, label="p50")
    ax.bar([i + 0.2 for i in x], p99, width=0.4, label="p99")
    for i, n in enumerate(names):
        ax.annotate(f"{t['summary'][n]['throughput_rps']:,.0f}/s", (i, p99[i]),
                    ha="center", va="bottom", fontsize=7)
    ax.set_xticks(list(x), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("latency, ms (closed loop, 32 in flight)")
    ax.set_title("Transport cost: latency per server (label: req/s)")
    ax.legend()


def _plot_stack(ax: Any, st: dict[str, Any]) -> None:
    for key, label, color in (("gateway_open_loop", "gateway shelf", "tab:red"),
                              ("direct_open_loop", "book-1 direct", "tab:blue")):
        steps = st[key]
        rates = [s["rate"] for s in steps]
        for q, style in (("p50", ":"), ("p99", "-"), ("p99.9", "--")):
            ax.plot(rates, [s["latency_ms"].get(q) for s in steps], style, marker="o",
                    color=color, label=f"{label} {q}")
    rates = sorted({s["rate"] for key in ("gateway_open_loop", "direct_open_loop")
                    for s in st[key]})
    ax.axhline(50, color="gray", linewidth=1)
    ax.annotate("p99 target 50 ms", (rates[0], 50), fontsize=7, va="bottom")
    ax.set_xscale("log")
    ax.set_xticks(rates, [str(r) for r in rates], fontsize=7)
    ax.minorticks_off()
    ax.set_yscale("log")
    ax.set_xlabel("offered rate, req/s (open loop)")
    ax.set_ylabel("latency from intended send, ms")
    ax.set_title("Through the stack: latency against offered rate")
    ax.legend(fontsize=7)


def main() -> None:
    """Read the run's results, write results.json, REPORT.md and latency.png."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=harness.BUILD / "results")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("report"))
    args = parser.parse_args()
    results = load_results(args.results)
    results["targets"] = targets(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "REPORT.md").write_text(markdown(results))
    plot(results, args.out / "latency.png")
    print(f"wrote {args.out}/results.json, REPORT.md, latency.png")


if __name__ == "__main__":
    main()
