"""Through the stack: the gateway's fan-out route and a book replica, open loop.

    python bench/bench_stack.py [--seconds 5] [--rates 25,50,100,200,400,700,1000]
                                [--no-tracing-toggle] [--require]

Needs the stack of ``make up``; without it the run is skipped (``--require``
makes that an error). Steps:

1. seed users (each with a token and the same three books on the shelf)
   through the public API (bench/stack_seed.py);
2. memory of every container, idle (``docker stats``);
3. closed loop (32 in flight): the most requests/s the gateway's
   ``GET /api/v1/users/{id}/shelf`` (user over HTTP + book over gRPC) and a book
   replica's own ``GET /books/{id}`` answer; their ratio;
4. open loop at each fixed rate (bench/loadgen: arrival times fixed in
   advance, latency from the intended send time): p50/p99/p99.9 for both; the
   highest rate meeting p99 < 50 ms with under 1 % failed; memory during the
   1,000 requests/s run;
5. overload: twice the best rate for 30 s, open loop, then the best rate again
   at once: the answers the gateway admitted (p99 < 100 ms), its refusals (503
   or 429 with ``Retry-After``, p99 < 5 ms), and whether the step after meets
   the p99 target (it recovered);
6. tracing off (bench/docker-compose.bench.yml recreates the kitcore
   services with ``OTEL_SDK_DISABLED=true``), the closed loop and one open-loop
   rate again, then tracing back on: the on/off ratio.

The load generator reaches containers by their address on the stack's network
(no port publishing, no docker-proxy); where this machine cannot route to it,
the generator runs in a container on that network instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import harness
import requests
from compose_stack import PYTHON_SERVICES, Stack, cpu_delta, reachable
from stack_seed import Seed, seed

P99_TARGET_MS = 50.0
RATE_TARGET = 1000
MEMORY_TARGET_BYTES = 1 << 30
MAX_FAILED = 0.01
IN_FLIGHT = 32
OVERLOAD_SECONDS = 30.0
OVERLOAD_FACTOR = 2
ADMITTED_P99_TARGET_MS = 100.0
REFUSAL_P99_TARGET_MS = 5.0
REFUSALS = ("status 503", "status 429")
BENCH_OVERRIDE = Path(__file__).with_name("docker-compose.bench.yml")
DEGRADED = '"degraded":true'


class Load:
    """Runs bench/loadgen against the stack: on this machine, or in the stack's network."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        gateway_ip = stack.address("gateway")
        self.on_host = reachable(gateway_ip, 8080)
        if self.on_host:
            self.gateway = f"http://{gateway_ip}:8080"
            self.book = f"http://{stack.address('book-1')}:8080"
        else:
            self.gateway, self.book = "http://gateway:8080", "http://book-1:8080"

    def run(self, args: list[str]) -> dict[str, Any]:
        """loadgen ``args`` (target files live in build/bench); its JSON result."""
        if self.on_host:
            return harness.run_loadgen(args, "0-1")
        args = [a.replace(str(harness.BUILD), "/bench") for a in args]
        argv = ["docker", "run", "--rm", "--network", self.stack.network("gateway"),
                "-v", f"{harness.BUILD}:/bench:ro", "--entrypoint", "/bench/loadgen",
                self.stack.image("gateway"), *args]
        out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300)
        return json.loads(out.stdout)

    def closed(self, targets: Path, seconds: float) -> dict[str, Any]:
        """Closed loop, IN_FLIGHT requests in flight."""
        return _brief(self.run(["http", "-rate", "0", "-connections", str(IN_FLIGHT),
                                "-duration", f"{seconds}s", "-url-file", str(targets),
                                "-bad-body", DEGRADED]))

    def open(self, targets: Path, rate: float, seconds: float) -> dict[str, Any]:
        """Open loop at ``rate`` requests/s."""
        return _brief(self.run(["http", "-rate", str(rate), "-duration", f"{seconds}s",
                                "-connections", "256", "-timeout", "5s", "-grace", "10s",
                                "-url-file", str(targets), "-bad-body", DEGRADED]))


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    """The loadgen result, rounded, with the failed fraction and whether the target is met."""
    sent = max(1, result["sent"])
    failed = (sent - result["ok"]) / sent
    latency = {k: round(v, 2) for k, v in result["latency_ms"].items()}
    return {
        "rate": result.get("target_rate"),
        "sent": result["sent"],
        "ok": result["ok"],
        "errors": result["errors"],
        "failed_fraction": round(failed, 4),
        "throughput_rps": round(result["throughput_rps"], 1),
        "latency_ms": latency,
        "latency_by_outcome_ms": result.get("latency_by_outcome_ms", {}),
        "meets_p99_target": latency.get("p99", 1e9) < P99_TARGET_MS and failed < MAX_FAILED,
    }


def write_targets(load: Load, data: Seed) -> tuple[Path, Path]:
    """Target files: every account's shelf (with its token), and every book on book-1."""
    harness.BUILD.mkdir(parents=True, exist_ok=True)
    gateway = harness.BUILD / "stack-gateway-targets.tsv"
    gateway.write_text("".join(
        f"{load.gateway}/api/v1/users/{a.user_id}/shelf\tAuthorization: Bearer {a.token}\n"
        for a in data.accounts))
    direct = harness.BUILD / "stack-direct-targets.tsv"
    direct.write_text("".join(f"{load.book}/books/{b}\n" for b in data.book_ids))
    return gateway, direct


def ladder(load: Load, targets: Path, rates: list[int], seconds: float,
           during: dict[int, Any] | None = None,
           keep: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """Open loop at each rate, upwards; after the first miss only the target rate (and
    the rates in ``keep``) run."""
    steps = []
    missed = False
    for rate in sorted(set(rates)):
        if missed and rate != RATE_TARGET and rate not in keep:
            continue
        sampler = _Sampler(during[rate]) if during and rate in during else None
        step = load.open(targets, rate, seconds)
        if sampler:
            step["memory_bytes"] = sampler.result()
        steps.append(step)
        print(f"  open loop {rate:>5}/s: p50 {step['latency_ms'].get('p50')} "
              f"p99 {step['latency_ms'].get('p99')} p99.9 {step['latency_ms'].get('p99.9')} ms,"
              f" failed {step['failed_fraction']:.1%}", flush=True)
        missed = missed or not step["meets_p99_target"]
        settle(load)
    return steps


def settle(load: Load, timeout: float = 30.0) -> None:
    """Wait until the gateway and book-1 answer /healthz quickly: queues left by an
    overloaded step are drained before the next one starts."""
    if not load.on_host:
        time.sleep(5)
        return
    deadline = time.monotonic() + timeout
    for base in (load.gateway, load.book):
        while time.monotonic() < deadline:
            began = time.monotonic()
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{base}/healthz", timeout=5)
            if time.monotonic() - began < 0.05:
                break
            time.sleep(0.5)


class _Sampler:
    """Calls ``fn`` once, a few seconds into a run, in a thread."""

    def __init__(self, fn: Any, delay: float = 3.0) -> None:
        self._value: Any = None
        self._thread = threading.Thread(target=self._run, args=(fn, delay), daemon=True)
        self._thread.start()

    def _run(self, fn: Any, delay: float) -> None:
        time.sleep(delay)
        self._value = fn()

    def result(self) -> Any:
        self._thread.join(60)
        return self._value


def overload(load: Load, targets: Path, rate: int, seconds: float) -> dict[str, Any]:
    """Twice ``rate`` for OVERLOAD_SECONDS, then ``rate`` again at once: what the gateway
    admitted, how fast it refused the rest, and whether it recovered."""
    print(f"overload: {OVERLOAD_FACTOR * rate}/s for {OVERLOAD_SECONDS:.0f} s, "
          f"then {rate}/s ...", flush=True)
    over = load.open(targets, OVERLOAD_FACTOR * rate, OVERLOAD_SECONDS)
    after = load.open(targets, rate, seconds)
    by_outcome = over["latency_by_outcome_ms"]
    admitted = by_outcome.get("ok", {})
    refusals = {k: v for k, v in by_outcome.items() if k in REFUSALS}
    other = {k: n for k, n in over["errors"].items() if k not in REFUSALS}
    verdict = {
        "admitted_rps": round(over["ok"] / OVERLOAD_SECONDS, 1),
        "admitted_p99_ms": admitted.get("p99"),
        "refused": sum(over["errors"].get(k, 0) for k in REFUSALS),
        "refusal_p99_ms": max((v["p99"] for v in refusals.values()), default=None),
        "other_failures": other,
        "recovered": after["meets_p99_target"],
    }
    verdict["met"] = bool(
        admitted and admitted["p99"] < ADMITTED_P99_TARGET_MS and not other
        and (not refusals or verdict["refusal_p99_ms"] < REFUSAL_P99_TARGET_MS)
        and after["meets_p99_target"])
    print(f"  admitted {verdict['admitted_rps']}/s p99 {verdict['admitted_p99_ms']} ms; "
          f"refused {verdict['refused']} p99 {verdict['refusal_p99_ms']} ms; "
          f"other {other}; after: p99 {after['latency_ms'].get('p99')} ms", flush=True)
    return {"offered_rate": OVERLOAD_FACTOR * rate, "during": over, "after": after,
            "verdict": verdict}


def best_rate(steps: list[dict[str, Any]]) -> int | None:
    """The highest rate whose step met the p99 target (None if none did)."""
    rates = [s["rate"] for s in steps if s["meets_p99_target"]]
    return int(max(rates)) if rates else None


def idle_cpu_cores(stack: Stack, seconds: float = 6.0) -> dict[str, float]:
    """CPU cores each container keeps busy while no request comes (healthchecks, scrapes,
    keep-alives), over ``seconds``, and their total."""
    before = stack.cpu_seconds()
    time.sleep(seconds)
    used = cpu_delta(before, stack.cpu_seconds())
    cores = {name: round(s / seconds, 3) for name, s in sorted(used.items())}
    cores["total"] = round(sum(used.values()) / seconds, 3)
    return cores


def closed_with_cpu(stack: Stack, load: Load, targets: Path, seconds: float,
                    idle: dict[str, float]) -> dict[str, Any]:
    """A closed-loop run plus the stack's CPU milliseconds per answered request, per
    container, above what the container burns idle (``idle``: cores, from idle_cpu_cores)."""
    before, began = stack.cpu_seconds(), time.monotonic()
    result = load.closed(targets, seconds)
    used = cpu_delta(before, stack.cpu_seconds())
    elapsed = time.monotonic() - began
    answered = max(1, result["ok"])
    extra = {name: max(0.0, s - idle.get(name, 0.0) * elapsed) for name, s in used.items()}
    per = {name: round(s * 1000 / answered, 2) for name, s in sorted(extra.items())}
    per["total"] = round(sum(extra.values()) * 1000 / answered, 2)
    result["stack_cpu_ms_per_request"] = per
    return result


def between(steps: list[dict[str, Any]]) -> int | None:
    """A rate halfway between the best passing rate and the first miss above it (or None)."""
    best = best_rate(steps) or 0
    above = [s["rate"] for s in steps if s["rate"] > best and not s["meets_p99_target"]]
    if not above or min(above) - best < 100:
        return None
    return int(round((best + min(above)) / 2, -1))


def memory_summary(usage: dict[str, int]) -> dict[str, Any]:
    """Total and per-container memory in MiB, and whether the total is under 1 GiB."""
    total = sum(usage.values())
    return {"total_mib": round(total / 2**20, 1),
            "by_container_mib": {k: round(v / 2**20, 1) for k, v in sorted(usage.items())},
            "under_1_gib": total < MEMORY_TARGET_BYTES}


def wait_serving(api: str, data: Seed, timeout: float = 120) -> None:
    """Block until the gateway serves a full (not degraded) shelf again."""
    account = data.accounts[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = requests.get(f"{api}/api/v1/users/{account.user_id}/shelf", timeout=3,
                             headers={"Authorization": f"Bearer {account.token}"})
            if r.status_code == 200 and not r.json()["degraded"]:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise TimeoutError("the gateway did not serve full shelves again")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole stack benchmark; {"skipped": why} when no stack runs."""
    stack = Stack()
    if not stack.healthy("gateway"):
        return {"skipped": "no healthy stack (run `make up` first)"}
    started = time.time()
    api = f"http://127.0.0.1:{args.gateway_port}"
    print("seeding users and shelves through the gateway ...", flush=True)
    data = seed(api, users=args.users, books=3, cache=harness.BUILD / "stack-seed.json")
    load = Load(stack)
    gw_targets, direct_targets = write_targets(load, data)
    machine = harness.machine()
    load.closed(gw_targets, 2)  # warm up both paths
    load.closed(direct_targets, 2)
    idle = stack.memory()
    idle_cpu = idle_cpu_cores(stack)
    probe = stack.healthcheck("gateway")
    print("closed loop ...", flush=True)
    closed = {"gateway": closed_with_cpu(stack, load, gw_targets, args.seconds, idle_cpu),
              "direct": closed_with_cpu(stack, load, direct_targets, args.seconds, idle_cpu)}
    print(f"  gateway {closed['gateway']['throughput_rps']}/s, "
          f"direct {closed['direct']['throughput_rps']}/s", flush=True)
    print("open loop, gateway shelf route ...", flush=True)
    gateway_steps = ladder(load, gw_targets, args.rates, args.seconds,
                           during={RATE_TARGET: stack.memory})
    middle = between(gateway_steps)
    if middle:  # one more step halfway between the best rate and the first miss
        gateway_steps = sorted(gateway_steps + ladder(load, gw_targets, [middle], args.seconds),
                               key=lambda step: step["rate"])
    print("open loop, book-1 direct ...", flush=True)
    common = best_rate(gateway_steps) or gateway_steps[0]["rate"]
    direct_steps = ladder(load, direct_targets, [*args.rates, common], args.seconds,
                          keep=(common,))
    settle(load)
    over = overload(load, gw_targets, common, args.seconds)
    settle(load)
    result: dict[str, Any] = {
        "machine_before": machine,
        "load_generator": "on this machine, to container addresses" if load.on_host
        else "in a container on the stack's network",
        "settings": {"seconds_per_step": args.seconds, "rates": args.rates,
                     "users": len(data.accounts), "books_per_shelf": len(data.book_ids),
                     "closed_loop_in_flight": IN_FLIGHT, "p99_target_ms": P99_TARGET_MS,
                     "max_failed_fraction": MAX_FAILED},
        "memory_idle": memory_summary(idle),
        "cpu_idle_cores": idle_cpu,
        "healthcheck_probe": probe,
        "closed_loop": closed,
        "gateway_open_loop": gateway_steps,
        "direct_open_loop": direct_steps,
        "overload": over,
    }
    under_load = next((s.get("memory_bytes") for s in gateway_steps
                       if s["rate"] == RATE_TARGET and s.get("memory_bytes")), None)
    if under_load:
        result["memory_under_target_load"] = memory_summary(under_load)
    for step in gateway_steps:
        step.pop("memory_bytes", None)
    result["summary"] = summarize(result)
    if not args.no_tracing_toggle:
        result["tracing_off"] = tracing_off(stack, load, api, data, gw_targets, args,
                                            result["summary"]["common_rate"])
    if "closed_loop" in result.get("tracing_off", {}):
        on, off = closed["gateway"]["throughput_rps"], result["tracing_off"]["closed_loop"][
            "throughput_rps"]
        result["summary"]["tracing_on_over_off_throughput"] = round(on / off, 3)
        result["summary"]["tracing_cost"] = round(1 - on / off, 3)
        result["summary"]["tracing_target_met"] = (1 - on / off) <= 0.10
    result["wall_s"] = round(time.time() - started, 1)
    return result


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """The headline figures and whether each target is met."""
    gw, direct = result["gateway_open_loop"], result["direct_open_loop"]
    at_target = next((s for s in gw if s["rate"] == RATE_TARGET), None)
    # The rate both paths were measured at, for the latency ratio: the gateway's
    # best rate, or its lowest when it met the target at none.
    common = best_rate(gw) or gw[0]["rate"]
    g = next(s for s in gw if s["rate"] == common)
    d = next((s for s in direct if s["rate"] == common), None)
    closed = result["closed_loop"]
    summary: dict[str, Any] = {
        "gateway_best_rate_meeting_p99": best_rate(gw),
        "direct_best_rate_meeting_p99": best_rate(direct),
        "gateway_at_target_rate": at_target,
        "target_rate_met": bool(at_target and at_target["meets_p99_target"]),
        "closed_loop_gateway_over_direct_throughput": round(
            closed["gateway"]["throughput_rps"] / closed["direct"]["throughput_rps"], 3),
        "common_rate": common,
        "memory_idle_mib": result["memory_idle"]["total_mib"],
        "memory_target_met_idle": result["memory_idle"]["under_1_gib"],
        "overload": result["overload"]["verdict"],
    }
    if d:
        summary["gateway_over_direct_latency_at_common_rate"] = {
            q: round(g["latency_ms"][q] / max(1e-6, d["latency_ms"][q]), 2)
            for q in ("p50", "p99", "p99.9")}
    if "memory_under_target_load" in result:
        summary["memory_under_load_mib"] = result["memory_under_target_load"]["total_mib"]
        summary["memory_target_met_under_load"] = result["memory_under_target_load"][
            "under_1_gib"]
    return summary


def tracing_off(stack: Stack, load: Load, api: str, data: Seed, targets: Path,
                args: argparse.Namespace, rate: int) -> dict[str, Any]:
    """Recreate the kitcore services with tracing off, measure, and put tracing back.

    Tracing is put back whatever happens, unless the stack itself went away
    meanwhile (then nothing is started again); a failure is returned as
    ``{"error": ...}`` so the rest of the run is still reported.
    """
    print("tracing off: recreating the kitcore services ...", flush=True)
    began = time.monotonic()
    try:
        stack.recreate(PYTHON_SERVICES, files=(BENCH_OVERRIDE,))
        for service in PYTHON_SERVICES:
            if stack.environment(service).get("OTEL_SDK_DISABLED") != "true":
                raise RuntimeError(f"{service} still traces: {BENCH_OVERRIDE.name} not applied")
        wait_serving(api, data)
        ready_s = round(time.monotonic() - began, 1)
        load = Load(stack)  # new containers may have new addresses
        gw_targets, _ = write_targets(load, data)
        load.closed(gw_targets, 2)
        closed = closed_with_cpu(stack, load, gw_targets, args.seconds, idle_cpu_cores(stack))
        step = load.open(gw_targets, rate, args.seconds)
        memory = memory_summary(stack.memory())
        print(f"  closed loop {closed['throughput_rps']}/s; open loop {rate}/s: "
              f"p99 {step['latency_ms'].get('p99')} ms", flush=True)
        result = {"closed_loop": closed, "open_loop": step, "memory_idle_after": memory,
                  "recreate_until_serving_s": ready_s}
    except Exception as exc:  # report what was measured, and why this part was not
        print(f"  tracing-off run failed: {exc}", flush=True)
        result = {"error": str(exc)[:500]}
    finally:
        if stack.container("etcd"):
            print("tracing back on ...", flush=True)
            stack.recreate(PYTHON_SERVICES)
            wait_serving(api, data)
        else:
            print("the stack went away meanwhile: nothing restarted", flush=True)
    return result


def main() -> None:
    """Run and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per step")
    parser.add_argument("--rates", type=lambda s: [int(r) for r in s.split(",")],
                        default=[25, 50, 100, 200, 400, 700, 1000])
    parser.add_argument("--users", type=int, default=120,
                        help="accounts the load spreads over (the gateway limits each)")
    parser.add_argument("--gateway-port", type=int, default=8080)
    parser.add_argument("--no-tracing-toggle", action="store_true",
                        help="skip the tracing-off run (it recreates the kitcore services)")
    parser.add_argument("--require", action="store_true", help="fail when no stack runs")
    parser.add_argument("--out", type=Path, default=harness.BUILD / "results" / "stack.json")
    args = parser.parse_args()
    result = run(args)
    if "skipped" in result and args.require:
        sys.exit(result["skipped"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result.get("summary", result), indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
