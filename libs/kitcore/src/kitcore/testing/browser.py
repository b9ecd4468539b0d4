"""Headless Chromium for tests of pages: the DOM after scripts ran, and a screenshot.

Debian's ``chromium`` package (``scripts/install-system-deps.sh`` installs it
for ``make test``). Each call starts a fresh browser with its own profile in a
temporary folder, so tests share nothing and leave nothing behind.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
"""Executable names tried, in order."""

TIMEOUT = 120.0
"""Seconds one browser run may take (a cold start on a busy machine is slow)."""


def find_chromium() -> str | None:
    """The path of a Chromium-like browser on PATH, or None."""
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def dump_dom(url: str, *, budget_ms: int = 5000) -> str:
    """The page's DOM as HTML once it loaded and its scripts ran (``--dump-dom``)."""
    return _run(url, "--dump-dom", f"--virtual-time-budget={budget_ms}").stdout


def screenshot(url: str, path: Path, *, width: int = 1400, height: int = 900) -> Path:
    """A PNG of the page at ``width`` x ``height`` written to ``path``."""
    _run(url, f"--screenshot={path}", f"--window-size={width},{height}",
         "--hide-scrollbars", "--virtual-time-budget=5000")
    if not path.is_file() or path.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot to {path}")
    return path


def _run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium on PATH (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="kit-chromium-") as profile:
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu",
                   "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                   f"--user-data-dir={profile}", *args, url]
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT,
                              check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done
