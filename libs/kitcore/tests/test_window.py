"""RollingCounts: counts of the last window only, to the precision of one slice."""

from __future__ import annotations

import pytest

from kitcore.window import RollingCounts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_counts_within_the_window_and_forgets_older_ones() -> None:
    clock = Clock()
    counts = RollingCounts(("a", "b"), window=10.0, buckets=10, clock=clock)
    counts.add("a")
    counts.add("b", 3)
    clock.now += 5
    counts.add("a")
    assert counts.totals() == {"a": 2, "b": 3}
    clock.now += 5.5  # the first slice is now older than the window
    assert counts.totals() == {"a": 1, "b": 0}
    clock.now += 100  # long idle: every slot is stale, even the ones reused
    assert counts.totals() == {"a": 0, "b": 0}
    counts.add("b")
    assert counts.totals() == {"a": 0, "b": 1}


def test_an_unknown_name_or_an_empty_window_is_refused() -> None:
    counts = RollingCounts(("a",))
    with pytest.raises(KeyError):
        counts.add("z")
    with pytest.raises(ValueError):
        RollingCounts(("a",), window=0)
