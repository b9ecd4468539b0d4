"""What the graceful-stop tests share: a call left running in a thread, and a
port that refuses connections."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any


def in_background(call: Callable[[], Any], results: dict, name: str) -> threading.Thread:
    """Run ``call`` in a thread; its result (or exception) lands in ``results[name]``."""

    def run() -> None:
        try:
            results[name] = call()
        except Exception as exc:  # reported by the asserting test
            results[name] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def refused(port: int) -> bool:
    """True if a connection to 127.0.0.1:``port`` is refused."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True
