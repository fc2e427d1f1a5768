"""Retry decisions: after a failed attempt, wait which delay step, or give up with which message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryLater:
    """Retry number `retry_count` after `delay_ms`, at `next_retry_at`."""

    retry_count: int
    delay_ms: int
    next_retry_at: datetime


@dataclass(frozen=True)
class GiveUp:
    """The task fails for good with this person-readable message."""

    message: str


@dataclass(frozen=True)
class RetryPolicy:
    """Delay steps in ms (the same tuple that built the delay queues); retry n waits step n."""

    delays_ms: tuple[int, ...]

    def delay_ms(self, retry_number: int) -> int:
        """The wait before retry `retry_number` (1-based); the last step repeats past the end."""
        if retry_number < 1:
            raise ValueError("retry numbers start at 1")
        return self.delays_ms[min(retry_number, len(self.delays_ms)) - 1]

    def decide(
        self,
        *,
        retry_count: int,
        max_retries: int,
        retryable: bool,
        message: str,
        now: datetime,
        at_least_ms: int = 0,
    ) -> RetryLater | GiveUp:
        """What to do after a failure of a task that has already been retried `retry_count` times.

        `at_least_ms` (a backend's Retry-After): the wait is the first step at least that long and
        at least the retry's own step; past the longest step, the longest. Only configured steps
        can be waited: each is a delay queue with a fixed TTL (RabbitMQ expires head-first).
        """
        if not retryable:
            return GiveUp(message)
        if retry_count >= max_retries:
            return GiveUp(exhausted_message(message, retry_count))
        number = retry_count + 1
        delay = self.delay_ms(number)
        if at_least_ms > delay:
            delay = next((step for step in sorted(self.delays_ms) if step >= at_least_ms), max(self.delays_ms))
        return RetryLater(number, delay, now + timedelta(milliseconds=delay))


def exhausted_message(message: str, retries: int) -> str:
    """What a person reads when every retry failed."""
    tries = "retry" if retries == 1 else "retries"
    if retries == 0:
        return message
    return f"{message.rstrip('.')}. Gave up after {retries} {tries}."
