"""Token buckets: burst, refill, isolation between keys, bounded memory."""

from __future__ import annotations

import pytest

from mediacraft.gateway.ratelimit import RateLimiter, retry_after


class Time:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_burst_is_allowed_then_refused_with_the_wait() -> None:
    now = Time()
    limiter = RateLimiter(rate=2.0, burst=3, now=now)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)


def test_tokens_refill_with_time_up_to_the_burst() -> None:
    now = Time()
    limiter = RateLimiter(rate=1.0, burst=2, now=now)
    limiter.acquire("a"), limiter.acquire("a")
    now.t += 1.0
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    now.t += 100.0
    assert [limiter.acquire("a") for _ in range(3)][:2] == [0.0, 0.0]


def test_keys_do_not_share_buckets() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, now=Time())
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("b") == 0.0
    assert limiter.acquire("a") > 0


def test_a_refused_request_takes_nothing() -> None:
    now = Time()
    limiter = RateLimiter(rate=1.0, burst=1, now=now)
    limiter.acquire("a")
    for _ in range(10):
        assert limiter.acquire("a") > 0
    now.t += 1.0
    assert limiter.acquire("a") == 0.0


def test_memory_is_bounded_by_forgetting_the_least_recent_keys() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, now=Time(), max_keys=100)
    for i in range(1000):
        limiter.acquire(f"k{i}")
    assert len(limiter) == 100


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert retry_after(0.01) == "1"
    assert retry_after(2.2) == "3"
