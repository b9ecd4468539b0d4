"""``python -m kitcore.probe URL``: exit 0 when URL answers 200 within 2 s, else 1.

The Docker HEALTHCHECK of every service image (minimal images have no curl).
It imports the standard library only: a probe runs every few seconds in every
container, and importing Flask and grpcio each time would cost ~0.3 s of CPU
per probe instead of ~0.05 s.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

TIMEOUT = 2.0
"""Seconds the URL has to answer."""


def main(argv: Sequence[str]) -> int:
    """Exit status for ``python -m kitcore.probe URL``: 0 when URL answers 200 in time."""
    if len(argv) != 1:
        print("usage: python -m kitcore.probe URL", file=sys.stderr)
        return 2
    try:
        with urllib.request.urlopen(argv[0], timeout=TIMEOUT) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
