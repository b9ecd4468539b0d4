"""A trace sink for the tracing-on benchmark: accepts OTLP/HTTP exports and drops them.

    python bench/otlp_sink.py PORT

Answers every ``POST /v1/traces`` with 200 and an empty (valid) protobuf
``ExportTraceServiceResponse``, so the traced server pays the whole export
(batching, protobuf encoding, the HTTP post) and the sink costs next to
nothing. On SIGTERM it prints ``{"requests": n, "bytes": n}``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_received = {"requests": 0, "bytes": 0}
_lock = threading.Lock()


class SinkHandler(BaseHTTPRequestHandler):
    """Reads the export body and answers 200."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        """Count and drop one export."""
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with _lock:
            _received["requests"] += 1
            _received["bytes"] += len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """No access log."""


def main(port: int) -> None:
    """Serve until SIGTERM, then print what was received."""
    server = ThreadingHTTPServer(("127.0.0.1", port), SinkHandler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda signum, frame: threading.Thread(
        target=server.shutdown).start())
    server.serve_forever()
    print(json.dumps(_received), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
