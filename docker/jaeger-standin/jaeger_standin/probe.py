"""Health probe for the container: exit 0 when the query server answers.

Usage: ``python -m jaeger_standin.probe [URL]`` (default http://127.0.0.1:16686/).
"""

from __future__ import annotations

import sys
import urllib.request

DEFAULT_URL = "http://127.0.0.1:16686/"


def main(argv: list[str]) -> int:
    """Return 0 when the URL answers 200 within two seconds, else 1."""
    url = argv[1] if len(argv) > 1 else DEFAULT_URL
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
