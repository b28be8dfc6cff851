"""Reconnect policy: how long to wait before the next streaming connection attempt.

Pure and deterministic given its random source, so tests assert exact delays.  The numbers
follow reliability-and-security.md §3:

* a stream that delivered new events and then broke reconnects at once (or after the
  server's SSE ``retry:``, clamped to [0.5 s, 300 s]);
* transport failures, and connections that delivered nothing new, back off with Full Jitter
  from 1 s doubling to a 30 s cap;
* unexpected HTTP statuses wait at least 1 s, exponential from 5 s doubling to 320 s with
  Equal Jitter (so a 5xx never retries in under half the step);
* 429 without Retry-After starts at 60 s and doubles; ``Retry-After`` (seconds or HTTP-date)
  is a floor on the computed delay;
* counters reset only after a connection stayed healthy for at least 60 s.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

__all__ = ["Backoff", "BackoffPolicy", "parse_retry_after"]

# 2.0 ** 1100 overflows a float; any exponent past this is far beyond every cap anyway.
_MAX_EXPONENT = 60


@dataclass(frozen=True)
class BackoffPolicy:
    transport_base: float = 1.0
    transport_cap: float = 30.0
    http_base: float = 5.0
    http_cap: float = 320.0
    rate_limit_base: float = 60.0
    rate_limit_cap: float = 960.0
    min_http_delay: float = 1.0  # "wait a few seconds" after an unexpected status, never < 1 s
    retry_floor: float = 0.5  # SSE `retry:` clamp (Gecko's floor)
    retry_cap: float = 300.0
    retry_after_cap: float = 3600.0  # a hostile Retry-After must not park us for days
    healthy_reset: float = 60.0  # seconds live before the counters reset


def _step(base: float, cap: float, attempt: int) -> float:
    return min(cap, base * 2.0 ** min(attempt, _MAX_EXPONENT))


def parse_retry_after(
    value: str | None, *, date: str | None = None, now: float | None = None
) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP-date), or None.

    An HTTP-date is measured against the response's own ``Date`` header when there is one, so
    a skewed or jumping local wall clock does not matter; otherwise against `now` (epoch s).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        # Long digit strings: int() is fine up to 4300 digits; clamp before it matters.
        return float(int(value[:12]))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None
    ref: float | None = None
    if date:
        try:
            ref_dt = email.utils.parsedate_to_datetime(date.strip())
            if ref_dt is not None and ref_dt.tzinfo is not None:
                ref = ref_dt.timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            ref = None
    if ref is None:
        ref = now
    if ref is None:
        return None
    return max(0.0, when.timestamp() - ref)


class Backoff:
    """Stateful reconnect schedule.  `rng()` returns a float in [0, 1)."""

    def __init__(
        self, policy: BackoffPolicy | None = None, rng: Callable[[], float] = random.random
    ) -> None:
        self.policy = policy or BackoffPolicy()
        self._rng = rng
        self.transport_attempts = 0
        self.http_attempts = 0
        self.rate_attempts = 0
        self.retry_base: float | None = None  # from SSE `retry:`, already clamped
        self._live_since: float | None = None

    # --------------------------------------------------------------- bookkeeping

    def reset(self) -> None:
        self.transport_attempts = 0
        self.http_attempts = 0
        self.rate_attempts = 0

    def set_retry_ms(self, ms: int | None) -> None:
        """Adopt the server's SSE ``retry:`` as the base reconnect delay (clamped)."""
        if ms is None:
            return
        p = self.policy
        self.retry_base = min(p.retry_cap, max(p.retry_floor, ms / 1000.0))

    def on_live(self, now: float) -> None:
        """A connection answered 200 with the right content type at monotonic time `now`."""
        self._live_since = now

    def on_end(self, now: float) -> bool:
        """The live connection ended at `now`; reset the counters if it was healthy long enough.

        Returns True when the counters were reset.
        """
        since, self._live_since = self._live_since, None
        if since is not None and now - since >= self.policy.healthy_reset:
            self.reset()
            return True
        return False

    def maybe_reset(self, now: float) -> bool:
        """Reset while still connected once the connection has been healthy long enough."""
        since = self._live_since
        if since is not None and now - since >= self.policy.healthy_reset:
            self.reset()
            return True
        return False

    # --------------------------------------------------------------- delays

    def _full_jitter(self, base: float, cap: float, attempt: int) -> float:
        return self._rng() * _step(base, cap, attempt)

    def _equal_jitter(self, base: float, cap: float, attempt: int) -> float:
        step = _step(base, cap, attempt)
        return step / 2.0 + self._rng() * step / 2.0

    def after_break(self, delivered_new: bool) -> float:
        """Delay after a live stream ended (error, incomplete body, clean EOF or stall)."""
        floor = self.retry_base or 0.0
        if delivered_new:
            # An established connection that made progress: reconnect at once.
            return floor
        return max(floor, self.after_transport_error())

    def after_transport_error(self) -> float:
        """Delay after a failed connection attempt (DNS, refused, reset, timeout)."""
        p = self.policy
        delay = self._full_jitter(p.transport_base, p.transport_cap, self.transport_attempts)
        self.transport_attempts += 1
        return max(self.retry_base or 0.0, delay)

    def after_status(self, status: int, retry_after: float | None = None) -> float:
        """Delay after an unexpected HTTP status (or a 200 that cannot be a stream)."""
        p = self.policy
        if retry_after is not None and (math.isnan(retry_after) or retry_after < 0):
            retry_after = None
        if status == 429 and retry_after is None:
            delay = self._equal_jitter(p.rate_limit_base, p.rate_limit_cap, self.rate_attempts)
            self.rate_attempts += 1
        else:
            delay = self._equal_jitter(p.http_base, p.http_cap, self.http_attempts)
            self.http_attempts += 1
        if retry_after is not None:
            delay = max(delay, min(retry_after, p.retry_after_cap))
        return max(p.min_http_delay, delay)
