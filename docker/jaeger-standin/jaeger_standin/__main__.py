"""Run the Jaeger stand-in: ``python -m jaeger_standin``.

Settings (environment): STANDIN_OTLP_PORT (4318), STANDIN_QUERY_PORT (16686),
STANDIN_MAX_TRACES (5000), STANDIN_MAX_SPANS (50000 in all),
STANDIN_MAX_SPANS_PER_TRACE (2000).
Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from dataclasses import dataclass

from jaeger_standin.server import OtlpHandler, QueryHandler, StoreServer
from jaeger_standin.store import TraceStore


@dataclass(frozen=True)
class Settings:
    """Ports and bounds, read once from the environment."""

    otlp_port: int = 4318
    query_port: int = 16686
    max_traces: int = 5000
    max_spans: int = 50_000
    max_spans_per_trace: int = 2000

    @classmethod
    def from_env(cls) -> Settings:
        """Read the STANDIN_* variables, falling back to the defaults."""
        def get(name: str, default: int) -> int:
            return int(os.environ.get(name, default))

        return cls(
            otlp_port=get("STANDIN_OTLP_PORT", cls.otlp_port),
            query_port=get("STANDIN_QUERY_PORT", cls.query_port),
            max_traces=get("STANDIN_MAX_TRACES", cls.max_traces),
            max_spans=get("STANDIN_MAX_SPANS", cls.max_spans),
            max_spans_per_trace=get("STANDIN_MAX_SPANS_PER_TRACE", cls.max_spans_per_trace),
        )


def main() -> None:
    """Serve both ports until SIGTERM."""
    settings = Settings.from_env()
    store = TraceStore(settings.max_traces, settings.max_spans, settings.max_spans_per_trace)
    servers = [
        StoreServer(("0.0.0.0", settings.otlp_port), OtlpHandler, store),
        StoreServer(("0.0.0.0", settings.query_port), QueryHandler, store),
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"Jaeger stand-in (not Jaeger): OTLP/HTTP on :{settings.otlp_port}, "
          f"trace view and query API on :{settings.query_port}, up to {settings.max_traces} traces "
          f"and {settings.max_spans} spans",
          flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
