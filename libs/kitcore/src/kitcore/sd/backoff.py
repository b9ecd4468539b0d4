"""Exponential backoff with jitter, shared by retry and the etcd loops."""

from __future__ import annotations

import random


def delay(attempt: int, *, base: float, cap: float, jitter: bool = True) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0).

    The wait doubles from ``base`` up to ``cap``; with ``jitter`` it is drawn
    from the upper half of that, so retrying callers spread out.
    """
    wait = min(cap, base * (2 ** min(attempt, 32)))
    if jitter:
        return random.uniform(wait / 2, wait)
    return wait
