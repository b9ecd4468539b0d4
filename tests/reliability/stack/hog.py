"""An opt-in CPU hog beside the stack: ``CHAOS_CPU_HOG=2`` runs two busy-looping
processes while the chaos test runs, so it is checked on a starved machine as
CI machines often are. Each process also stops by itself after
:data:`LIMIT` seconds, so a crashed test run never leaves one spinning.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

VARIABLE = "CHAOS_CPU_HOG"
"""How many busy-looping processes to run (unset or 0: none)."""

LIMIT = 1200.0
"""Seconds after which a hog process ends by itself."""

_LOOP = "import time\nend = time.monotonic() + float(__import__('sys').argv[1])\n" \
        "while time.monotonic() < end:\n    pass\n"


def wanted() -> int:
    """The number of hog processes ``CHAOS_CPU_HOG`` asks for."""
    value = os.environ.get(VARIABLE, "").strip() or "0"
    if not value.isdigit():
        raise ValueError(f"{VARIABLE} must be a whole number of processes, got {value!r}")
    return int(value)


@contextmanager
def cpu_hog(processes: int, limit: float = LIMIT) -> Iterator[list[int]]:
    """Run ``processes`` busy loops for the duration of the block (their pids)."""
    hogs = [subprocess.Popen([sys.executable, "-c", _LOOP, str(limit)])
            for _ in range(processes)]
    try:
        yield [hog.pid for hog in hogs]
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
