"""Transport cost: kitcore against the bare frameworks, and Go kit against net/http.

    python bench/bench_transport.py [--seconds 3] [--rounds 5] [--out FILE]

One run starts every server below in its own process pinned to one CPU, the
load generator pinned to the other, and measures them in turn, in rounds (the
order rotates each round, so drift in the machine's load hits every server
alike). Every server answers the same lookup (bench/catalogue.py):

HTTP, ``GET /books/book-042``, closed loop with wrk (1 thread, 32 connections):
  flask-granian, kitcore-http-granian, kitcore-http-shipped, kitcore-http-traced
  (kitcore.app's default server: granian's WSGI worker in a thread, 8 blocking
  threads), flask, kitcore-http (waitress, 8 threads),
  flask-granian-process (granian's own process worker, 8 blocking threads),
  flask-gunicorn, kitcore-http-gunicorn (gunicorn gthread, 1 worker, 8 threads),
  net/http, gokit (Go, bench/gokit).
gRPC, ``BookService.GetBook``, closed loop with bench/loadgen (32 in flight):
  grpc-bare, grpc-aio, kitcore-grpc, kitcore-grpc-shipped, kitcore-grpc-traced
  (grpcio, 16 threads; grpc.aio on its event loop).
"shipped": tracing with the default sampler; "traced": every request sampled.

For each server: throughput, p50/p99 latency and the server's CPU time per
request (median over rounds). For each comparison: the throughput ratio of
every round's pair, and their median; the cost is 1 - ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
from catalogue import BOOK_ID

from kitcore.testing.process import free_port
from protos import book_pb2

SERVER_CPU = "1"
"""Every server runs on this CPU, alone (as far as this benchmark goes)."""

LOAD_CPU = "0"
"""The load generator and the trace sink run on this one."""

CONNECTIONS = 32
"""wrk connections, and gRPC calls in flight."""

GET_BOOK = "/kitcore.book.v1.BookService/GetBook"


@dataclass(frozen=True)
class Server:
    """One server under test: its name, transport, and how to start it on a port."""

    name: str
    transport: str  # "http" or "grpc"
    argv: list[str]


@dataclass(frozen=True)
class Comparison:
    """A subject measured against a baseline, with the issue's target when there is one."""

    label: str
    subject: str
    baseline: str
    max_cost: float | None  # the target: most throughput the subject may lose


COMPARISONS = [
    Comparison("kitcore HTTP (server chain) vs bare Flask, both on granian (kitcore's default)",
               "kitcore-http-granian", "flask-granian", 0.10),
    Comparison("kitcore HTTP (server chain) vs bare Flask, both on waitress",
               "kitcore-http", "flask", 0.10),
    Comparison("kitcore gRPC (server chain) vs bare grpcio", "kitcore-grpc", "grpc-bare", 0.10),
    Comparison("kitcore HTTP, tracing as shipped vs off", "kitcore-http-shipped",
               "kitcore-http-granian", 0.10),
    Comparison("kitcore gRPC, tracing as shipped vs off", "kitcore-grpc-shipped",
               "kitcore-grpc", 0.10),
    Comparison("kitcore HTTP, tracing on (all sampled) vs off", "kitcore-http-traced",
               "kitcore-http-granian", 0.35),
    Comparison("kitcore gRPC, tracing on (all sampled) vs off", "kitcore-grpc-traced",
               "kitcore-grpc", 0.35),
    Comparison("Go kit (same chain) vs bare net/http", "gokit", "net/http", None),
    Comparison("kitcore HTTP (server chain) vs bare Flask, both on gunicorn",
               "kitcore-http-gunicorn", "flask-gunicorn", 0.10),
    Comparison("server: bare Flask on granian vs on waitress", "flask-granian", "flask", None),
    Comparison("server: granian's worker in a thread (kitcore) vs in its own process",
               "flask-granian", "flask-granian-process", None),
    Comparison("server: bare Flask on gunicorn vs on waitress", "flask-gunicorn", "flask", None),
    Comparison("server: kitcore HTTP on granian vs on waitress", "kitcore-http-granian",
               "kitcore-http", None),
    Comparison("server: kitcore HTTP on gunicorn vs on waitress", "kitcore-http-gunicorn",
               "kitcore-http", None),
    Comparison("server: bare grpc.aio vs bare sync grpcio", "grpc-aio", "grpc-bare", None),
]
"""What the report compares."""


def servers(otlp: str) -> list[Server]:
    """Every server of the run (ports are filled in at start)."""
    python = [sys.executable, str(Path(__file__).with_name("transport_servers.py"))]
    gokit = str(harness.BUILD / "gokitbench")
    return [
        Server("flask-granian", "http", [*python, "flask-granian", "{port}"]),
        Server("kitcore-http-granian", "http", [*python, "kitcore-http-granian", "{port}"]),
        Server("flask", "http", [*python, "flask", "{port}"]),
        Server("kitcore-http", "http", [*python, "kitcore-http", "{port}"]),
        Server("kitcore-http-shipped", "http",
               [*python, "kitcore-http-shipped", "{port}", "--otlp", otlp]),
        Server("kitcore-http-traced", "http",
               [*python, "kitcore-http-traced", "{port}", "--otlp", otlp]),
        Server("flask-granian-process", "http", [*python, "flask-granian-process", "{port}"]),
        Server("flask-gunicorn", "http", [*python, "flask-gunicorn", "{port}"]),
        Server("kitcore-http-gunicorn", "http", [*python, "kitcore-http-gunicorn", "{port}"]),
        Server("net/http", "http", [gokit, "-mode", "bare", "-addr", "127.0.0.1:{port}"]),
        Server("gokit", "http", [gokit, "-mode", "gokit", "-addr", "127.0.0.1:{port}"]),
        Server("grpc-bare", "grpc", [*python, "grpc-bare", "{port}"]),
        Server("grpc-aio", "grpc", [*python, "grpc-aio", "{port}"]),
        Server("kitcore-grpc", "grpc", [*python, "kitcore-grpc", "{port}"]),
        Server("kitcore-grpc-shipped", "grpc",
               [*python, "kitcore-grpc-shipped", "{port}", "--otlp", otlp]),
        Server("kitcore-grpc-traced", "grpc",
               [*python, "kitcore-grpc-traced", "{port}", "--otlp", otlp]),
    ]


def load(server: Server, port: int, seconds: float) -> dict[str, Any]:
    """One closed-loop measurement of ``server`` on ``port``."""
    if server.transport == "http":
        url = f"http://127.0.0.1:{port}/books/{BOOK_ID}"
        return harness.run_wrk(url, seconds, CONNECTIONS, LOAD_CPU)
    body = book_pb2.GetBookRequest(id=BOOK_ID).SerializeToString().hex()
    result = harness.run_loadgen(
        ["grpc", "-target", f"127.0.0.1:{port}", "-method", GET_BOOK, "-body-hex", body,
         "-concurrency", str(CONNECTIONS), "-connections", "2", "-duration", f"{seconds}s"],
        LOAD_CPU)
    return {
        "requests": result["ok"],
        "errors": result["errors"],
        "duration_s": round(result["duration_s"], 3),
        "throughput_rps": round(result["throughput_rps"], 1),
        "latency_ms": {k: round(v, 3) for k, v in result["latency_ms"].items()},
    }


def measure(server: Server, process: harness.PinnedServer, seconds: float) -> dict[str, Any]:
    """One measurement plus the server's CPU time per request."""
    before = harness.cpu_seconds(process.pid)
    result = load(server, process.port, seconds)
    used = harness.cpu_seconds(process.pid) - before
    result["cpu_us_per_request"] = round(used / max(1, result["requests"]) * 1e6, 1)
    return result


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Median over rounds of throughput, p50, p99 and CPU per request, per server."""
    return {
        name: {
            "throughput_rps": statistics.median(r["throughput_rps"] for r in rounds),
            "p50_ms": statistics.median(r["latency_ms"]["p50"] for r in rounds),
            "p99_ms": statistics.median(r["latency_ms"]["p99"] for r in rounds),
            "cpu_us_per_request": statistics.median(r["cpu_us_per_request"] for r in rounds),
            "errors": sum(sum(r["errors"].values()) for r in rounds),
        }
        for name, rounds in runs.items()
    }


def compare(runs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each comparison's per-round throughput ratios, their median, cost and target."""
    out = []
    for c in COMPARISONS:
        if c.subject not in runs or c.baseline not in runs:
            continue
        pairs = zip(runs[c.subject], runs[c.baseline], strict=True)
        ratios = [s["throughput_rps"] / b["throughput_rps"] for s, b in pairs]
        cpu = [s["cpu_us_per_request"] / b["cpu_us_per_request"]
               for s, b in zip(runs[c.subject], runs[c.baseline], strict=True)]
        ratio = statistics.median(ratios)
        out.append({
            "label": c.label,
            "subject": c.subject,
            "baseline": c.baseline,
            "throughput_ratio": round(ratio, 3),
            "throughput_ratios_by_round": [round(r, 3) for r in ratios],
            "throughput_cost": round(1 - ratio, 3),
            "cpu_per_request_ratio": round(statistics.median(cpu), 3),
            "target_max_cost": c.max_cost,
            "target_met": None if c.max_cost is None else (1 - ratio) <= c.max_cost,
        })
    return out


def run(seconds: float, rounds: int, warmup: float, only: set[str],
        names: set[str] | None = None) -> dict[str, Any]:
    """Start the servers, warm each up, measure them round after round, stop them."""
    sink_port = free_port()
    sink = harness.PinnedServer(
        [sys.executable, str(Path(__file__).with_name("otlp_sink.py")), str(sink_port)],
        sink_port, LOAD_CPU)
    chosen = [s for s in servers(f"http://127.0.0.1:{sink_port}/v1/traces")
              if s.transport in only and (not names or s.name in names)]
    processes: dict[str, harness.PinnedServer] = {}
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in chosen}
    started = time.time()
    load_before = harness.machine()
    busy_before = harness.cpu_busy()
    try:
        sink.start()
        for server in chosen:
            port = free_port()
            argv = [arg.replace("{port}", str(port)) for arg in server.argv]
            processes[server.name] = harness.PinnedServer(argv, port, SERVER_CPU).start()
        for server in chosen:
            load(server, processes[server.name].port, warmup)
        for round_no in range(rounds):
            shift = round_no % len(chosen)
            for server in chosen[shift:] + chosen[:shift]:
                result = measure(server, processes[server.name], seconds)
                runs[server.name].append(result)
                print(f"round {round_no + 1} {server.name:<22} "
                      f"{result['throughput_rps']:>9.0f} rps  p50 {result['latency_ms']['p50']:.2f}"
                      f" p99 {result['latency_ms']['p99']:.2f} ms  "
                      f"{result['cpu_us_per_request']:.0f} us CPU/req", flush=True)
    finally:
        for process in processes.values():
            process.close()
        sink.stop()
        exported = _sink_counts(sink)
        sink.close()
    busy = harness.busy_fractions(busy_before, harness.cpu_busy())
    return {
        "settings": {
            "seconds_per_measurement": seconds, "rounds": rounds, "warmup_s": warmup,
            "connections_or_in_flight": CONNECTIONS, "server_cpu": SERVER_CPU,
            "load_cpu": LOAD_CPU, "waitress_threads": 8, "grpc_threads": 16,
            "granian": "WSGI, 1 worker (a thread in kitcore; a process in "
                       "flask-granian-process), 8 blocking threads",
            "gunicorn": "gthread, 1 worker, 8 threads",
            "http_load": "wrk -t1 -c32 (closed loop)",
            "grpc_load": "bench/loadgen grpc, 32 in flight on 2 connections (closed loop)",
        },
        "machine_before": load_before,
        "cpu_busy_during_run": busy,
        "wall_s": round(time.time() - started, 1),
        "trace_sink_received": exported,
        "runs": runs,
        "summary": summarize(runs),
        "comparisons": compare(runs),
    }


def _sink_counts(sink: harness.PinnedServer) -> dict[str, int]:
    """What the OTLP sink printed on stop: export requests and bytes received."""
    for line in reversed(sink.log_tail(5).splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


def main() -> None:
    """Run and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds per server")
    parser.add_argument("--only", choices=["http", "grpc"], action="append",
                        help="one transport only (repeatable)")
    parser.add_argument("--servers", default="",
                        help="comma-separated server names to run (default: all)")
    parser.add_argument("--out", type=Path, default=harness.BUILD / "results" / "transport.json")
    args = parser.parse_args()
    names = {name for name in args.servers.split(",") if name}
    result = run(args.seconds, args.rounds, args.warmup, set(args.only or ["http", "grpc"]),
                 names)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for c in result["comparisons"]:
        print(f"{c['label']}: ratio {c['throughput_ratio']} (cost {c['throughput_cost']:.0%}), "
              f"CPU/req x{c['cpu_per_request_ratio']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
