"""Retry schedule: one delay step per retry, the last step repeats, and clear messages at the end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mediacraft.scheduler.retry_policy import GiveUp, RetryLater, RetryPolicy
from mediacraft.shared.clock import FakeClock

POLICY = RetryPolicy((60_000, 300_000, 900_000))


def test_each_retry_waits_its_step_from_now() -> None:
    clock = FakeClock()
    for count, delay in ((0, 60_000), (1, 300_000), (2, 900_000)):
        decision = POLICY.decide(
            retry_count=count, max_retries=3, retryable=True, message="Backend down", now=clock.now()
        )
        assert decision == RetryLater(count + 1, delay, clock.now() + timedelta(milliseconds=delay))


def test_after_max_retries_the_task_gives_up_saying_how_often_it_tried() -> None:
    decision = POLICY.decide(
        retry_count=3, max_retries=3, retryable=True, message="Backend down.", now=FakeClock().now()
    )
    assert decision == GiveUp("Backend down. Gave up after 3 retries.")


def test_a_non_retryable_failure_gives_up_at_once_with_the_workers_message() -> None:
    decision = POLICY.decide(
        retry_count=0, max_retries=3, retryable=False, message="The file is not a video", now=FakeClock().now()
    )
    assert decision == GiveUp("The file is not a video")


def test_more_retries_than_steps_repeat_the_last_step() -> None:
    assert POLICY.delay_ms(5) == 900_000
    with pytest.raises(ValueError):
        POLICY.delay_ms(0)


def test_no_retries_allowed_fails_the_first_failure() -> None:
    decision = POLICY.decide(
        retry_count=0,
        max_retries=0,
        retryable=True,
        message="Storage timed out",
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert decision == GiveUp("Storage timed out")


@pytest.mark.parametrize(
    ("retry_count", "retry_after_ms", "delay"),
    [
        (0, 30_000, 60_000),  # shorter than the step: the step
        (0, 61_000, 300_000),  # the first step at least that long
        (0, 300_000, 300_000),
        (1, 1_000, 300_000),  # never shorter than the retry's own step
        (0, 3_600_000, 900_000),  # past the longest step: the longest (only configured steps exist)
    ],
)
def test_a_backends_retry_after_waits_the_first_step_at_least_that_long(
    retry_count: int, retry_after_ms: int, delay: int
) -> None:
    now = FakeClock().now()
    decision = POLICY.decide(
        retry_count=retry_count, max_retries=3, retryable=True, message="Busy", now=now, at_least_ms=retry_after_ms
    )
    assert decision == RetryLater(retry_count + 1, delay, now + timedelta(milliseconds=delay))
