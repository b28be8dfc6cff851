"""RateCounter: a per-second sliding window (pure, no clock of its own)."""

from __future__ import annotations

import pytest

from flowview.model.rate import RateCounter


def test_counts_within_the_window() -> None:
    rate = RateCounter(60)
    rate.add(100.2)
    rate.add(100.7, 3)
    rate.add(130.0, 2)
    assert rate.total(130.5) == 6


def test_old_seconds_fall_out() -> None:
    rate = RateCounter(60)
    rate.add(100.0, 5)
    rate.add(150.0, 1)
    assert rate.total(160.0) == 6
    assert rate.total(160.5) == 1  # second 100 is now more than 60 s old
    assert rate.total(211.0) == 0


def test_one_bucket_per_second_whatever_the_count() -> None:
    rate = RateCounter(60)
    for i in range(10_000):
        rate.add(5.0 + i / 10_000)
    assert rate.total(5.9) == 10_000
    assert len(rate._buckets) == 1


def test_zero_and_negative_counts_are_ignored() -> None:
    rate = RateCounter(10)
    rate.add(1.0, 0)
    rate.add(1.0, -3)
    assert rate.total(1.0) == 0


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RateCounter(0)
