"""Whether a user may submit one more task, and the sentences a person reads while a task waits (pure).

Busy systems queue, they never reject; the only refusal is the optional cap on how many tasks one
user may have waiting (queued or retrying). The gateway counts the user's tasks in the store and
asks `check_counts`; the scheduler words its queue messages with the same sentences, so a refusal
and a waiting task say the same thing about why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mediacraft.shared.error_texts import text
from mediacraft.shared.tasks import TaskStatus

TOO_MANY_WAITING = "too_many_waiting"

# the error table's sentences, so that the gateway can answer each in the reader's language
USER_BUSY_MESSAGE = text("user_busy")
SYSTEM_BUSY_MESSAGE = text("system_busy")
QUEUED_MESSAGE = text("queued")

WAITING_STATUSES = (TaskStatus.QUEUED, TaskStatus.RETRYING)
RUNNING_STATUSES = (TaskStatus.PROCESSING, TaskStatus.CANCELLING)


@dataclass(frozen=True)
class Refusal:
    """A submission refused with a stable code (HTTP 429) and a sentence for a person."""

    code: str
    message: str


def check_submission(*, waiting: int, running: int, max_waiting_per_user: int | None) -> Refusal | None:
    """None when a user with `waiting` queued/retrying and `running` tasks may submit one more."""
    if max_waiting_per_user is None or waiting < max_waiting_per_user:
        return None
    why = USER_BUSY_MESSAGE if running else SYSTEM_BUSY_MESSAGE
    return Refusal(
        TOO_MANY_WAITING,
        f"{why}. You already have {waiting} tasks waiting, the most allowed; submit more when some have started.",
    )


def check_counts(counts: Mapping[str, int], *, max_waiting_per_user: int | None) -> Refusal | None:
    """`check_submission` over a user's task counts by status value (the store's count_by_status)."""
    waiting = sum(counts.get(status.value, 0) for status in WAITING_STATUSES)
    running = sum(counts.get(status.value, 0) for status in RUNNING_STATUSES)
    return check_submission(waiting=waiting, running=running, max_waiting_per_user=max_waiting_per_user)
