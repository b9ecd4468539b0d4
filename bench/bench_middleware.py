"""Per-call cost of each kitcore middleware, and of a full server chain.

Every row wraps the same bare endpoint and is timed in this one process with
``timeit`` (best of several repeats), then reported in microseconds per call,
as microseconds added to the bare call, and as a ratio to the bare call.

    .venv/bin/python bench/bench_middleware.py [--repeat 5]

Span rows put one server span around the call, as kitcore's transports do per
request (:mod:`kitcore.spans`): "off" is tracing off (no SDK provider);
"as shipped" uses the default sampler (parent-based, 10 new traces/s: in a
tight loop nearly every call unsampled); "all sampled" records every span. The
SDK rows export through a BatchSpanProcessor to memory, so export cost off the
request path is excluded. OpenTelemetry's ``start_as_current_span`` is there
for comparison. Log rows: a success outside a sampled trace logs at DEBUG
(nothing written at INFO); a sampled success is written directly when
kitcore's handler is the only one, else through a LogRecord. The Redis row
runs only where ``redis-server`` is installed. A second table times a whole
request through the bare and the kitcore Flask app called as WSGI (no server):
what kitcore adds per request without the server's share and its noise.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import logging
import os
import platform
import sys
import time
import timeit
from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kitcore import auth, circuitbreaker, errors, faults, log, metrics, ratelimit, spans
from kitcore.endpoint import Context, Endpoint, Middleware, chain, deadline_middleware
from kitcore.sampling import parent_based_rate_limited
from kitcore.throttle import Throttle

SECRET = "bench-secret-long-enough-for-hs256-signing"


def bare(ctx: Context, request: Any) -> Any:
    """The endpoint every row wraps: does nothing."""
    return request


def span_middleware(tracer: trace.Tracer | None, name: str) -> Middleware:
    """One kitcore server span per call (``tracer`` None: tracing off), as a transport
    adds per request, attributes included."""

    def attributes() -> dict[str, Any]:
        return {"rpc.system": "grpc", "rpc.service": "bench", "rpc.method": name,
                "rpc.grpc.status_code": 0}

    def wrap(next_endpoint: Endpoint) -> Endpoint:
        def endpoint(ctx: Context, request: Any) -> Any:
            span = spans.start(name, None, None, tracer)
            if span is None:
                return next_endpoint(ctx, request)
            try:
                return next_endpoint(ctx, request)
            finally:
                span.finish(None, attributes, False)

        return endpoint

    return wrap


def otel_span_middleware(tracer: trace.Tracer, name: str) -> Middleware:
    """One span per call through OpenTelemetry's ``start_as_current_span``."""

    def wrap(next_endpoint: Endpoint) -> Endpoint:
        def endpoint(ctx: Context, request: Any) -> Any:
            with tracer.start_as_current_span(name, kind=trace.SpanKind.SERVER):
                return next_endpoint(ctx, request)

        return endpoint

    return wrap


def direct_logger() -> logging.Logger:
    """A logger whose lines reach only kitcore's own root handler (on /dev/null), as
    in a service: the middleware writes its lines without a LogRecord."""
    log.setup("bench", "INFO")
    assert log._handler is not None
    log._handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 (lives for the run)
    logging.getLogger().handlers = [log._handler]
    return logging.getLogger("bench_direct")  # not under "bench", which stops propagation


def sampled(tracer: trace.Tracer, endpoint: Endpoint) -> Endpoint:
    """Call ``endpoint`` inside a sampled span made once, outside the timing."""
    with tracer.start_as_current_span("outer") as span:
        context = trace.set_span_in_context(span)

    def call(ctx: Context, request: Any) -> Any:
        token = otel_context.attach(context)
        try:
            return endpoint(ctx, request)
        finally:
            otel_context.detach(token)

    return call


def rejecting(endpoint: Endpoint) -> Endpoint:
    """Call an endpoint that always raises RateLimited and swallow the error."""

    def call(ctx: Context, request: Any) -> Any:
        try:
            return endpoint(ctx, request)
        except errors.RateLimited:
            return None

    return call


def down(ctx: Context, request: Any) -> Any:
    """A backend that refuses every call (its answer, fast)."""
    raise errors.Unavailable("down")


def throttled_down() -> Endpoint:
    """A throttle in front of a backend that is down, after 2,000 calls taught it so:
    most calls are refused locally, the rest reach the backend and fail fast. The
    caller sees each call's error and moves on."""
    endpoint = Throttle("bench-down", seed=1).middleware()(down)

    def call(ctx: Context, request: Any) -> Any:
        try:
            return endpoint(ctx, request)
        except errors.KitError:
            return None

    for _ in range(2000):
        call(Context.background(), None)
    return call


def rotating_key(keys: int) -> ratelimit.KeyFunc:
    """Spread calls over ``keys`` budgets so a fast loop never runs out of one."""
    cycle = itertools.cycle([f"client-{i}" for i in range(keys)])
    return lambda ctx, request: next(cycle)


def quiet_logger() -> logging.Logger:
    """A logger writing kitcore's JSON lines to /dev/null (formatting is still paid)."""
    logger = logging.getLogger("bench")
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 (lives for the run)
    handler.setFormatter(log.JSONFormatter("bench"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


@contextlib.contextmanager
def redis_url() -> Iterator[str | None]:
    """A throw-away redis-server's URL, or None where it is not installed."""
    try:
        from kitcore.testing.redis import RedisServer

        server = RedisServer().start()
    except (FileNotFoundError, TimeoutError):
        yield None
        return
    try:
        yield server.url
    finally:
        server.close()


def rows(redis: str | None, memory: InMemorySpanExporter) -> list[tuple[str, Endpoint, Context]]:
    """(label, endpoint, ctx) for every measurement."""
    plain = Context.background()
    verifier = auth.JWTVerifier(secret=SECRET)
    bearer = plain.with_metadata(
        {"authorization": "Bearer " + auth.JWTIssuer(SECRET, ttl=3600).issue("user-1")}
    )
    admit = ratelimit.Limiter("1000/second", name="bench-admit")
    refuse = ratelimit.Limiter("1/hour", name="bench-refuse")
    every = _tracer(sampling.ALWAYS_ON, memory)
    shipped = _tracer(parent_based_rate_limited(), memory)
    logger = quiet_logger()
    direct = direct_logger()
    default_chain = chain(  # what the services wrap each endpoint in
        metrics.metrics_middleware("bench", "get_book"),
        log.logging_middleware(direct, "get_book"),
        faults.fault_middleware(faults.FaultSettings()),
        deadline_middleware(5.0),
    )
    server_chain = chain(
        log.logging_middleware(direct, "get_book"),
        metrics.metrics_middleware("bench", "get_book"),
        deadline_middleware(5.0),
        ratelimit.erroring_limit_middleware(ratelimit.Limiter("1000/second", name="bench-chain"),
                           key=rotating_key(1000)),
        auth.jwt_middleware(verifier),
        faults.fault_middleware(faults.FaultSettings()),
    )
    table: list[tuple[str, Endpoint, Context]] = [
        ("bare function", bare, plain),
        ("deadline_middleware", deadline_middleware(5.0)(bare), plain),
        ("circuit breaker (closed)", circuitbreaker.breaker_middleware("bench")(bare), plain),
        ("rate limit erroring, memory, admitted",
         ratelimit.erroring_limit_middleware(admit, key=rotating_key(1000))(bare), plain),
        ("rate limit erroring, memory, rejected",
         rejecting(ratelimit.erroring_limit_middleware(refuse)(bare)), plain),
        ("adaptive throttle, backend answering", Throttle("bench-up").middleware()(bare), plain),
        ("adaptive throttle, backend down", throttled_down(), plain),
    ]
    if redis:
        limiter = ratelimit.Limiter("1000000/hour", redis, name="bench-redis")
        redis_limited = ratelimit.erroring_limit_middleware(limiter, key=rotating_key(1000))
        table.append(("rate limit erroring, redis, admitted", redis_limited(bare), plain))
    table += [
        ("jwt verify (HS256)", auth.jwt_middleware(verifier)(bare), bearer),
        ("faults (error 0, latency 0)",
         faults.fault_middleware(faults.FaultSettings())(bare), plain),
        ("server span, tracing off", span_middleware(None, "get_book")(bare), plain),
        ("server span, as shipped (unsampled)", span_middleware(shipped, "get_book")(bare),
         plain),
        ("server span, all sampled", span_middleware(every, "get_book")(bare), plain),
        ("otel start_as_current_span, sampled", otel_span_middleware(every, "get_book")(bare),
         plain),
        ("log, success, unsampled (DEBUG: no line)",
         log.logging_middleware(direct, "get_book")(bare), plain),
        ("log, sampled success, line written directly",
         sampled(every, log.logging_middleware(direct, "get_book")(bare)), plain),
        ("log, sampled success, through a LogRecord",
         sampled(every, log.logging_middleware(logger, "get_book")(bare)), plain),
        ("metrics middleware", metrics.metrics_middleware("bench", "get_book")(bare), plain),
        ("default chain (metrics, log, faults, deadline)", default_chain(bare), plain),
        ("default chain + span, as shipped",
         chain(span_middleware(shipped, "s"), default_chain)(bare), plain),
        ("default chain + span, all sampled",
         chain(span_middleware(every, "s"), default_chain)(bare), plain),
        ("full chain + jwt + rate limit, tracing off",
         chain(span_middleware(None, "s"), server_chain)(bare), bearer),
        ("full chain + jwt + rate limit, all sampled",
         chain(span_middleware(every, "s"), server_chain)(bare), bearer),
    ]
    return table


def _tracer(sampler: sampling.Sampler, memory: InMemorySpanExporter) -> trace.Tracer:
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(memory, max_queue_size=1 << 16))
    return provider.get_tracer("bench")


def wsgi_requests(rounds: int) -> list[tuple[str, float]]:
    """Microseconds of CPU per ``GET /books/<id>`` through a whole Flask app called as
    WSGI (no server, no socket): bare Flask and kitcore's app (tracing off), interleaved
    in short runs, best run of each kept. What kitcore adds per request, without the
    server's share and its noise."""
    import transport_servers  # the apps bench_transport serves

    apps = [("request through Flask, bare app", transport_servers.bare_flask_app().wsgi_app),
            ("request through Flask, kitcore app",
             transport_servers.kitcore_http_app_served_elsewhere().wsgi_app)]
    assert log._handler is not None
    log._handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 (lives for the run)
    logging.getLogger().handlers = [log._handler]
    best = [float("inf")] * len(apps)
    for _ in range(rounds):
        for i, (_, app) in enumerate(apps):
            started = time.process_time()
            for _ in range(500):
                body = app(_environ(), lambda status, headers, exc=None: None)
                b"".join(body)
                body.close()
            best[i] = min(best[i], (time.process_time() - started) / 500 * 1e6)
    return [(label, micros) for (label, _), micros in zip(apps, best, strict=True)]


def _environ() -> dict[str, Any]:
    return {"REQUEST_METHOD": "GET", "PATH_INFO": "/books/book-042", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
            "HTTP_HOST": "127.0.0.1:8080", "HTTP_USER_AGENT": "wrk", "HTTP_ACCEPT": "*/*"}


def measure(endpoint: Endpoint, ctx: Context, repeat: int, after: Callable[[], None]) -> float:
    """Best microseconds per call over ``10 * repeat`` timed runs of about 20 ms each
    (many short runs: the best one is the one the machine's other work left alone)."""
    timer = timeit.Timer(lambda: endpoint(ctx, "req"))
    number, _ = timer.autorange()
    number = max(1, number // 10)
    best = float("inf")
    for _ in range(10 * repeat):
        best = min(best, timer.timeit(number) / number)
        after()
    return best * 1e6


def main() -> None:
    """Measure every row and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5,
                        help="tens of timed runs per row (best kept)")
    args = parser.parse_args()
    logging.getLogger("kitcore").setLevel(logging.ERROR)
    memory = InMemorySpanExporter()
    with redis_url() as redis:
        results = [
            (label, measure(endpoint, ctx, args.repeat, memory.clear))
            for label, endpoint, ctx in rows(redis, memory)
        ]
    base = results[0][1]
    print(f"kitcore middleware cost per call (Python {platform.python_version()}, "
          f"{platform.machine()}, best of {args.repeat})\n")
    print(f"{'middleware':<48} {'us/call':>9} {'added us':>9} {'x bare':>8}")
    print("-" * 77)
    for label, micros in results:
        print(f"{label:<48} {micros:>9.3f} {micros - base:>9.3f} {micros / base:>8.1f}")
    requests = wsgi_requests(rounds=10 * args.repeat)
    print(f"\na whole request through Flask as WSGI, no server (CPU, best of "
          f"{10 * args.repeat} interleaved runs; added and x: against the bare app)\n")
    for label, micros in requests:
        base = requests[0][1]
        print(f"{label:<48} {micros:>9.3f} {micros - base:>9.3f} {micros / base:>8.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
