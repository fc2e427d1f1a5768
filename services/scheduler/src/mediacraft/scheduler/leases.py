"""Lease arithmetic: how long a running attempt stays alive without news from its worker.

A dispatched job may wait in its pool's queue until a worker is free (a pool with fewer workers
than its quota), so until the first news from a worker the attempt has a longer start timeout;
from then on, heartbeats and progress keep it alive, and the run-time limit counts from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mediacraft.shared.tasks import TaskType

WORKER_LOST = "worker_lost"
WORKER_NOT_STARTED = "worker_not_started"
TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class LeasePolicy:
    """A lease lasts `lease_seconds` past the latest news, and never past the type's run limit."""

    lease_seconds: float = 60.0
    max_run_seconds: float = 30 * 60.0
    max_run_per_type: Mapping[TaskType, float] = field(default_factory=dict)
    start_timeout_seconds: float = 10 * 60.0

    def max_run(self, task_type: TaskType) -> float:
        """The longest an attempt of this type may run, in seconds."""
        return self.max_run_per_type.get(task_type, self.max_run_seconds)

    def deadline(self, started_at: datetime, task_type: TaskType) -> datetime:
        """When an attempt started at `started_at` has run too long, heartbeats or not."""
        return started_at + timedelta(seconds=self.max_run(task_type))

    def at_dispatch(self, now: datetime) -> datetime:
        """The first lease: how long the job may wait for a worker to take it."""
        return now + timedelta(seconds=self.start_timeout_seconds)

    def extend(self, now: datetime, started_at: datetime, task_type: TaskType) -> datetime:
        """The lease after news from the worker at `now`."""
        return min(now + timedelta(seconds=self.lease_seconds), self.deadline(started_at, task_type))

    def after_takeover(
        self, stored: datetime | None, now: datetime, started_at: datetime, task_type: TaskType
    ) -> datetime:
        """A new active scheduler cannot know what news its predecessor got: one lease of grace."""
        fresh = self.extend(now, started_at, task_type)
        return fresh if stored is None else max(stored, fresh)

    @staticmethod
    def lapsed(lease_expires_at: datetime, now: datetime) -> bool:
        """True once the lease is over."""
        return now >= lease_expires_at

    def lapse_code(
        self, now: datetime, started_at: datetime, task_type: TaskType, *, worker_started: bool = True
    ) -> str:
        """Why a lapsed attempt is abandoned: no worker took it, it ran too long, or its worker went silent."""
        if not worker_started:
            return WORKER_NOT_STARTED
        return TIMED_OUT if now >= self.deadline(started_at, task_type) else WORKER_LOST

    def store_lags(self, stored: datetime | None, current: datetime) -> bool:
        """Whether the lease in the store is far enough behind to be worth a write."""
        if stored is None:
            return True
        return (current - stored).total_seconds() >= self.lease_seconds / 2


def lapse_message(code: str, task_type: TaskType, policy: LeasePolicy) -> str:
    """What a person reads about an abandoned attempt."""
    if code == TIMED_OUT:
        return f"The task ran longer than the limit of {_duration(policy.max_run(task_type))}."
    if code == WORKER_NOT_STARTED:
        return f"No worker took the task within {_duration(policy.start_timeout_seconds)}."
    return "The worker running the task stopped responding."


def _duration(seconds: float) -> str:
    if seconds < 120:
        return "1 second" if seconds == 1 else f"{seconds:g} seconds"
    minutes = round(seconds / 60, 1)
    return "1 minute" if minutes == 1 else f"{minutes:g} minutes"
