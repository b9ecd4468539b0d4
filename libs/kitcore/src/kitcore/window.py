"""Counts over a sliding time window, for the client-side resilience middlewares.

:class:`RollingCounts` keeps a few named counters (``requests``, ``accepts``,
``retries`` ...) in ``buckets`` slices of ``window`` seconds each; a slice
older than the window is dropped as time moves on, so :meth:`RollingCounts.totals`
is what happened in the last ``window`` seconds (to the precision of one
slice). Adding is O(1) under one lock, reading is O(buckets).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RollingCounts:
    """Named counters over the last ``window`` seconds, kept in ``buckets`` slices."""

    def __init__(
        self,
        names: tuple[str, ...],
        *,
        window: float = 10.0,
        buckets: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window <= 0 or buckets < 1:
            raise ValueError("window must be positive and buckets at least 1")
        self.names = names
        self.window = window
        self._width = window / buckets
        self._slices = [[0] * len(names) for _ in range(buckets)]
        self._stamps = [-1] * buckets  # which slice number each slot holds
        self._index = {name: i for i, name in enumerate(names)}
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, name: str, count: int = 1) -> None:
        """Count ``count`` more of ``name`` now."""
        position = self._index[name]
        with self._lock:
            self._current()[position] += count

    def totals(self) -> dict[str, int]:
        """Each counter summed over the window."""
        with self._lock:
            now_slice = self._slice_number()
            sums = [0] * len(self.names)
            for stamp, counts in zip(self._stamps, self._slices, strict=True):
                if now_slice - stamp < len(self._slices):
                    for i, count in enumerate(counts):
                        sums[i] += count
        return dict(zip(self.names, sums, strict=True))

    def _slice_number(self) -> int:
        return int(self._clock() // self._width)

    def _current(self) -> list[int]:
        number = self._slice_number()
        slot = number % len(self._slices)
        if self._stamps[slot] != number:
            self._stamps[slot] = number
            self._slices[slot] = [0] * len(self.names)
        return self._slices[slot]
