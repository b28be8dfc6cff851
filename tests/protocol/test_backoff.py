"""Reconnect policy: exact delay sequences with a fixed random source."""

from __future__ import annotations

import itertools
import math

import pytest

from flowview.protocol.backoff import Backoff, BackoffPolicy, parse_retry_after


def fixed(value: float) -> Backoff:
    return Backoff(rng=lambda: value)


def cycle(*values: float) -> Backoff:
    it = itertools.cycle(values)
    return Backoff(rng=lambda: next(it))


def test_transport_errors_full_jitter_doubling_to_cap() -> None:
    b = fixed(0.5)
    delays = [b.after_transport_error() for _ in range(8)]
    # Full Jitter: rng * min(30, 1 * 2**n)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]


def test_transport_full_jitter_spans_zero_to_step() -> None:
    b = cycle(0.0, 0.999)
    assert b.after_transport_error() == 0.0
    assert b.after_transport_error() == pytest.approx(1.998)


def test_break_after_new_events_is_immediate_then_backs_off() -> None:
    b = fixed(0.5)
    assert b.after_break(delivered_new=True) == 0.0
    # Connections that bring nothing new use the transport schedule.
    assert b.after_break(delivered_new=False) == 0.5
    assert b.after_break(delivered_new=False) == 1.0
    # Progress again: immediate, but the failure counter is not reset by that alone.
    assert b.after_break(delivered_new=True) == 0.0
    assert b.after_break(delivered_new=False) == 2.0


def test_sse_retry_is_base_delay_and_clamped() -> None:
    b = fixed(0.0)
    b.set_retry_ms(2500)
    assert b.after_break(delivered_new=True) == 2.5
    assert b.after_break(delivered_new=False) == 2.5  # floor for the jittered schedule
    b.set_retry_ms(0)
    assert b.retry_base == 0.5
    b.set_retry_ms(99_999_999_999)
    assert b.retry_base == 300.0
    b.set_retry_ms(None)  # absent retry: keeps the previous value
    assert b.retry_base == 300.0


def test_http_errors_exponential_from_5s_to_320_with_equal_jitter() -> None:
    b = fixed(1.0)  # upper edge of the jitter range: the plain exponential schedule
    assert [b.after_status(503) for _ in range(9)] == [5, 10, 20, 40, 80, 160, 320, 320, 320]
    b = fixed(0.0)  # lower edge: half of each step
    assert [b.after_status(500) for _ in range(3)] == [2.5, 5.0, 10.0]


@pytest.mark.parametrize("status", [408, 409, 500, 502, 404, 302, 200])
def test_unexpected_status_never_under_one_second(status: int) -> None:
    policy = BackoffPolicy(http_base=0.1)
    b = Backoff(policy, rng=lambda: 0.0)
    assert b.after_status(status) == 1.0


def test_retry_after_is_a_floor_then_schedule_continues() -> None:
    b = fixed(0.5)
    assert b.after_status(503, retry_after=7.0) == 7.0  # schedule said 3.75
    assert b.after_status(503, retry_after=1.0) == 7.5  # schedule wins over a small floor
    assert b.after_status(503, retry_after=None) == 15.0


def test_429_without_retry_after_starts_at_a_minute() -> None:
    b = fixed(1.0)
    assert [b.after_status(429) for _ in range(3)] == [60.0, 120.0, 240.0]
    # With Retry-After: max(Retry-After, HTTP schedule of 5 s).
    assert fixed(1.0).after_status(429, retry_after=7.0) == 7.0
    assert fixed(1.0).after_status(429, retry_after=2.0) == 5.0


def test_hostile_retry_after_is_capped() -> None:
    b = fixed(0.0)
    assert b.after_status(503, retry_after=10**9) == 3600.0
    assert b.after_status(503, retry_after=math.nan) == 5.0
    assert b.after_status(503, retry_after=-5) == 10.0


def test_reset_only_after_sixty_seconds_healthy() -> None:
    b = fixed(1.0)
    for _ in range(3):
        b.after_status(503)
        b.after_transport_error()
    b.on_live(100.0)
    assert b.on_end(159.9) is False
    assert b.after_status(503) == 40.0  # not reset: a short-lived connection
    b.on_live(200.0)
    assert b.on_end(260.0) is True
    assert b.after_status(503) == 5.0
    assert b.after_transport_error() == 1.0
    assert b.on_end(500.0) is False  # no live connection recorded


def test_maybe_reset_while_connected() -> None:
    b = fixed(1.0)
    b.after_transport_error()
    b.on_live(0.0)
    assert not b.maybe_reset(59.0)
    assert b.maybe_reset(60.0)
    assert b.after_transport_error() == 1.0


def test_no_overflow_at_high_attempt_counts() -> None:
    b = fixed(1.0)
    b.transport_attempts = 10_000
    b.http_attempts = 10**9
    b.rate_attempts = 5000
    assert b.after_transport_error() == 30.0
    assert b.after_status(500) == 320.0
    assert b.after_status(429) == 960.0


def test_parse_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("-1") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("9" * 5000) == 999_999_999_999.0  # no int() blow-up
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    later = "Wed, 21 Oct 2015 07:28:07 GMT"
    # Measured against the response's own Date header: the local clock is irrelevant.
    assert parse_retry_after(later, date=date, now=0.0) == 7.0
    assert parse_retry_after(later, date=date, now=10**12) == 7.0
    # Without a Date header, against `now` (epoch seconds).
    assert parse_retry_after(later, now=1445412480.0) == 7.0
    assert parse_retry_after(date, date=later) == 0.0  # in the past: no wait
    assert parse_retry_after(later) is None  # no reference at all
    assert parse_retry_after("Wed, 99 Foo 2015 07:28:07 GMT", now=0.0) is None
