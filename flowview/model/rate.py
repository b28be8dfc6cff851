"""A sliding per-minute counter of new lines (the status bar's "msg/min").

Counts are kept per whole second of the injected clock, so a replay of 100,000 lines costs
at most 61 buckets, not a timestamp per line.  Pure logic: the caller passes `now`.
"""

from __future__ import annotations

import logging
from collections import deque

log = logging.getLogger(__name__)

__all__ = ["RateCounter"]


class RateCounter:
    """How many things were added during the last `window` seconds (to the second)."""

    def __init__(self, window: float = 60.0) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.window = window
        self._buckets: deque[list[int]] = deque()  # [second, count], oldest first
        self._total = 0

    def add(self, now: float, count: int = 1) -> None:
        """Count `count` things at time `now` (seconds; must not go backwards)."""
        if count <= 0:
            return
        second = int(now)
        buckets = self._buckets
        if buckets and buckets[-1][0] == second:
            buckets[-1][1] += count
        else:
            buckets.append([second, count])
        self._total += count
        self._expire(now)

    def total(self, now: float) -> int:
        """What was added in the last `window` seconds before `now`."""
        self._expire(now)
        return self._total

    def _expire(self, now: float) -> None:
        buckets = self._buckets
        while buckets and now - buckets[0][0] > self.window:
            self._total -= buckets.popleft()[1]
